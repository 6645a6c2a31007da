//! Where the time of a full load goes: the loader's own steps run one at a time, each timed,
//! in one transaction as a load runs them. The COPY goes into an untriggered copy of
//! `staging_table`, which then stands in for the trigger's transition table `new_rows` in the
//! trigger's two statements (the dimensions, the facts), read from
//! `sql/db_transformation.sql` itself, so a change to the trigger shows up here without
//! touching this file. A plain table is not a transition table (it has statistics, it is read
//! through the buffer cache), so the split is indicative; the sum is close to a real load.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use loader::copy::{stream_into, CopySink};
use loader::ledger::{self, Claim, ObjectId};
use loader::{CopyFormat, EncodeOptions, Source};
use standins::LocalPostgres;

use crate::methods;

/// The schema holding the untriggered staging copy the COPY is timed into.
const STAND_IN_SCHEMA: &str = "breakdown";

/// One timed step.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub secs: f64,
}

/// One full load of `file`, step by step, into a fresh database.
///
/// # Errors
/// Any step fails, or the row count is not `rows`.
pub async fn run(pg: &LocalPostgres, file: &Path, rows: u64) -> Result<Vec<Step>> {
    let staging = format!("{STAND_IN_SCHEMA}.staging_table");
    let db = methods::fresh_db(pg, "e2e_breakdown").await?;
    let mut client = db.connect().await?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {STAND_IN_SCHEMA};
             CREATE TABLE {staging} (LIKE public.staging_table);"
        ))
        .await
        .context("creating the untriggered staging copy")?;
    methods::checkpoint(pg).await;

    let name = file.display().to_string();
    let mut steps = Vec::new();
    let mut clock = Instant::now();
    let lap = |steps: &mut Vec<Step>, clock: &mut Instant, name: &str| {
        steps.push(Step {
            name: name.to_string(),
            secs: clock.elapsed().as_secs_f64(),
        });
        *clock = Instant::now();
    };

    let tx = client.transaction().await?;
    let size = std::fs::metadata(file).map(|m| m.len()).ok();
    let work_mem = loader::load::work_mem_for("auto", size, false);
    tx.execute("SELECT set_config('work_mem', $1, true)", &[&work_mem])
        .await?;
    let mut id = ObjectId {
        bucket: "file".into(),
        key: name.clone(),
        etag: None,
        version_id: None,
    };
    let Claim::Claimed { load_id } = ledger::claim(&tx, &id, &name).await? else {
        bail!("the fresh database already had this load");
    };
    lap(&mut steps, &mut clock, "begin, work_mem, claim");

    let read = loader::ReadOptions::default();
    let opened = loader::source::open_local(
        &Source::File(file.to_path_buf()),
        loader::ByteCounter::default(),
        &read,
    )
    .await?;
    let mut sink = CopySink::start_into(&tx, &staging, CopyFormat::Binary, true, &name).await?;
    let options = EncodeOptions {
        format: CopyFormat::Binary,
        load_id: Some(load_id),
        ..EncodeOptions::default()
    };
    let streamed = stream_into(&mut sink, opened, options, &name).await?;
    let copied = sink.finish().await?;
    if copied != rows {
        bail!("COPY inserted {copied} rows, expected {rows}");
    }
    lap(
        &mut steps,
        &mut clock,
        "COPY binary into untriggered staging",
    );
    // Statistics, as a transition table's plan effectively has (not timed).
    tx.batch_execute(&format!("ANALYZE {staging}")).await?;
    clock = Instant::now();

    // The same rows into the real staging table: the statement trigger runs once, as for
    // the COPY (facts, then dimensions, then the ledger's counts).
    let moved = tx
        .execute(
            &format!("INSERT INTO public.staging_table SELECT * FROM {staging}"),
            &[],
        )
        .await
        .context("the trigger")?;
    if moved != rows {
        bail!("the trigger's statement inserted {moved} rows, expected {rows}");
    }
    lap(
        &mut steps,
        &mut clock,
        "INSERT ... SELECT into staging: the trigger (facts, dimensions)",
    );

    id.etag = Some(format!("xxh3-{:032x}", streamed.content_hash));
    let etag = id.etag.as_deref().unwrap_or_default();
    if let Claim::AlreadyLoaded { .. } = ledger::identify(&tx, load_id, etag, &name).await? {
        bail!("the fresh database already had this content");
    }
    ledger::complete(
        &tx,
        load_id,
        streamed.summary.bytes,
        std::time::Duration::ZERO,
        &name,
    )
    .await?;
    lap(&mut steps, &mut clock, "ledger: identify, complete");

    tx.commit().await?;
    lap(&mut steps, &mut clock, "COMMIT");
    drop(client);
    db.cleanup().await?;
    Ok(steps)
}
