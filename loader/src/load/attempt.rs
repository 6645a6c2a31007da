//! One try of one object: the protocol's calls in order, in one
//! transaction. It returns what it learned (the object's identity, the
//! counts) and leaves retrying to `retry.rs`.

use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Transaction;

use super::stage::{stage, Staged};
use super::{LoadOptions, LoadReport, Loader, Outcome};
use crate::db::lock_timeout_setting;
use crate::error::{Error, Result};
use crate::ledger::{self, Claim, Completion, ObjectId};
use crate::source::{self, bare_etag, ByteCounter, Opened, S3Open, Source};

/// How an object's identity is learned, chosen once from its kind.
pub(super) enum Identity {
    /// S3: the ETag (from the event, or a HEAD) before any byte is read;
    /// the load claims it first, so a second delivery waits and skips.
    Known(ObjectId),
    /// A local file or stdin: the hash of its content, known once it has
    /// streamed; the load claims anonymously, then names the content.
    ByContent(ObjectId),
}

impl Identity {
    pub(super) fn id(&self) -> &ObjectId {
        match self {
            Identity::Known(id) | Identity::ByContent(id) => id,
        }
    }
}

/// What one try learned: the object's identity as far as it got (for the
/// failure record), and how it ended.
pub(super) struct Tried {
    pub id: Option<ObjectId>,
    pub result: Result<LoadReport>,
}

impl Tried {
    /// A try that ended before the object's identity was known.
    pub(super) fn before_identity(error: Error) -> Self {
        Tried {
            id: None,
            result: Err(error),
        }
    }
}

impl Loader {
    /// One try, the protocol's steps in order.
    pub(super) async fn attempt(&mut self, source: &Source, identity: Identity) -> Tried {
        let mut id = identity.id().clone();
        let result = self.claim_and_stage(source, identity, &mut id).await;
        Tried {
            id: Some(id),
            result,
        }
    }

    /// claim -> COPY -> [identify] -> rejects -> complete -> commit. A local
    /// source's identity becomes its content's once it has streamed.
    async fn claim_and_stage(
        &mut self,
        source: &Source,
        identity: Identity,
        named: &mut ObjectId,
    ) -> Result<LoadReport> {
        let started = Instant::now();
        let shown = source.to_string();
        self.check_schema().await?;
        let raw = ByteCounter::feeding(self.progress.as_ref());
        let Loader {
            db, s3, options, ..
        } = self;
        let client = db.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| Error::db(&shown, "beginning the transaction", e))?;
        pin(&tx, options.lock_timeout, &shown).await?;
        let load_id = match ledger::claim(&tx, identity.id(), &shown).await? {
            Claim::Claimed { load_id } => load_id,
            Claim::AlreadyLoaded { load_id } => {
                return Ok(LoadReport::empty(&shown, Outcome::Skipped, Some(load_id)));
            }
        };
        let Some(opened) = open(source, s3.as_ref(), identity.id(), raw, options).await? else {
            return Ok(LoadReport::empty(&shown, Outcome::Superseded, None));
        };
        let staged = stage(&tx, opened, options, load_id, &shown).await?;
        if let Identity::ByContent(id) = identity {
            *named = ObjectId {
                etag: Some(format!("xxh3-{:032x}", staged.streamed.content_hash)),
                ..id
            };
            let etag = named.etag.as_deref().unwrap_or_default();
            if let Claim::AlreadyLoaded { load_id } =
                ledger::identify(&tx, load_id, etag, &shown).await?
            {
                // Same content loaded before: roll everything back.
                drop(tx);
                return Ok(LoadReport::empty(&shown, Outcome::Skipped, Some(load_id)));
            }
        }
        let (rows, bytes) = (staged.streamed.summary.rows, staged.bytes);
        let done = complete(&tx, load_id, staged, started.elapsed(), &shown).await?;
        tx.commit()
            .await
            .map_err(|e| Error::db(&shown, "committing", e))?;
        Ok(loaded(
            shown,
            load_id,
            rows,
            bytes,
            &done,
            started.elapsed(),
        ))
    }

    /// Refuses a database whose schema is older than this loader, once.
    /// Applies the database's date bounds where they are stricter than
    /// the loader's own, so no row the database would refuse is sent.
    async fn check_schema(&mut self) -> Result<()> {
        if !self.schema_checked {
            let database = ledger::check_schema(self.db.client().await?).await?;
            let dates = &mut self.options.contract.dates;
            *dates = dates.narrowest(database);
            self.schema_checked = true;
        }
        Ok(())
    }

    /// The object's identity strategy; for S3 the ETag, from the event or
    /// a HEAD.
    pub(super) async fn identity(&self, source: &Source) -> Result<Identity> {
        let mut id = anonymous(source);
        let Source::S3 {
            bucket,
            key,
            etag,
            version_id,
            ..
        } = source
        else {
            return Ok(Identity::ByContent(id));
        };
        match etag {
            Some(etag) => {
                id.etag = Some(bare_etag(etag));
                id.version_id = version_id.clone();
            }
            None => {
                let client = s3_client(self.s3.as_ref())?;
                let shown = source.to_string();
                let head =
                    source::head_s3(client, bucket, key, version_id.as_deref(), &shown).await?;
                id.etag = Some(head.etag);
                id.version_id = head.version_id.or_else(|| version_id.clone());
            }
        }
        Ok(Identity::Known(id))
    }
}

fn s3_client(s3: Option<&aws_sdk_s3::Client>) -> Result<&aws_sdk_s3::Client> {
    s3.ok_or_else(|| Error::Config("S3 source given but no S3 client".into()))
}

/// The identity before anything is known: the ledger's name for the source.
pub(super) fn anonymous(source: &Source) -> ObjectId {
    let (bucket, key) = source.ledger_name();
    ObjectId {
        bucket,
        key,
        etag: None,
        version_id: None,
    }
}

/// Opens the source for reading, its raw bytes counted into `raw`; `None`
/// when the S3 object was replaced since its event (superseded).
async fn open(
    source: &Source,
    s3: Option<&aws_sdk_s3::Client>,
    id: &ObjectId,
    raw: ByteCounter,
    options: &LoadOptions,
) -> Result<Option<Opened>> {
    let Source::S3 {
        bucket,
        key,
        etag: pinned,
        size: event_size,
        ..
    } = source
    else {
        return source::open_local(source, raw, &options.read)
            .await
            .map(Some);
    };
    let shown = source.to_string();
    let etag = id.etag.as_deref().unwrap_or_default();
    let version = id.version_id.as_deref();
    let client = s3_client(s3)?;
    let opened = source::open_s3(
        client,
        bucket,
        key,
        etag,
        version,
        &shown,
        raw,
        &options.read,
    );
    match opened.await? {
        S3Open::Opened(mut opened) => {
            opened.size = opened.size.or(*event_size);
            Ok(Some(opened))
        }
        // An event's version was replaced since: that version is gone, and
        // the newer one loads on its own event.
        S3Open::Superseded if pinned.is_some() => Ok(None),
        // A source that names no version (`loader load s3://bucket/key`, a
        // prefix) means the object as it is: replaced between the HEAD and
        // the GET, it is looked at again by the next attempt.
        S3Open::Superseded => Err(Error::S3 {
            object: shown,
            operation: "GetObject",
            message: "the object was replaced between its HEAD and its GET".into(),
            status: Some(412),
            retryable: true,
        }),
    }
}

/// The load transaction's first statement. For this transaction only (SET
/// LOCAL, so it holds through a transaction-mode pooler too): names resolve
/// in pg_catalog alone, and no lock wait outlasts `lock_timeout`, also on
/// Citus's workers (which get a SET LOCAL statement, not a set_config
/// call, when told to; a placeholder setting elsewhere). SET takes no
/// parameters: the timeout is a number this code formats.
async fn pin(tx: &Transaction<'_>, lock_timeout: Duration, shown: &str) -> Result<()> {
    tx.batch_execute(&format!(
        "SET LOCAL search_path = pg_catalog, pg_temp; \
         SET LOCAL citus.propagate_set_commands = 'local'; \
         SET LOCAL lock_timeout = '{}'",
        lock_timeout_setting(lock_timeout)
    ))
    .await
    .map_err(|e| Error::db(shown, "setting search_path and lock_timeout", e))
}

/// Files the rejects and completes the ledger row; the ledger's counts
/// must be the encoder's.
async fn complete(
    tx: &Transaction<'_>,
    load_id: i64,
    staged: Staged,
    elapsed: Duration,
    shown: &str,
) -> Result<Completion> {
    let rows = staged.streamed.summary.rows;
    let rejected = staged.streamed.rejects.len();
    ledger::file_rejects(tx, load_id, staged.streamed.rejects, shown).await?;
    let done = ledger::complete(tx, load_id, staged.bytes, elapsed, shown).await?;
    if u64::try_from(done.rows).ok() != Some(rows)
        || u64::try_from(done.rejected).ok() != Some(rejected)
    {
        return Err(Error::Protocol {
            object: shown.to_string(),
            message: format!(
                "the ledger counted {} rows and {} rejects, the encoder sent {} and {}",
                done.rows, done.rejected, rows, rejected
            ),
        });
    }
    Ok(done)
}

/// The report of a committed load, logged.
fn loaded(
    shown: String,
    load_id: i64,
    rows: u64,
    bytes: u64,
    done: &Completion,
    elapsed: Duration,
) -> LoadReport {
    tracing::info!(
        object = %shown,
        load_id,
        rows = done.rows,
        rejected = done.rejected,
        duplicates = done.duplicates,
        bytes,
        seconds = elapsed.as_secs_f64(),
        "loaded"
    );
    LoadReport {
        object: shown,
        outcome: Outcome::Loaded,
        load_id: Some(load_id),
        rows,
        rejected: done.rejected as u64,
        duplicates: done.duplicates as u64,
        bytes,
        duration: elapsed,
        attempts: 1,
        contended: done.contended,
        etag: None,
        version_id: None,
    }
}
