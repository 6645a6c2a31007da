//! The loader's runs as processes: the release `loader` binary (file, local S3, text format,
//! concurrency) and a `--baseline` binary. Each loader repetition gets a fresh database with
//! the full schema, so no run inherits another's data.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use standins::{LocalPostgres, TestDb};
use tokio_postgres::{Client, NoTls};

use crate::measure;

/// How long one object took inside the loader (claim to commit), from its `--json` line.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectTime {
    pub object: String,
    pub rows: u64,
    pub secs: f64,
}

/// One timed process.
#[derive(Clone, Debug)]
pub struct Timed {
    pub secs: f64,
    pub max_rss_kib: u64,
    pub objects: Vec<ObjectTime>,
    /// Share of the load's active backend samples that waited on a lock, in percent.
    pub lock_share: f64,
}

/// What every run needs: the server, the loader binary, the local S3 endpoint's settings.
pub struct Target {
    pub pg: &'static LocalPostgres,
    pub loader: PathBuf,
    /// `AWS_*` variables of the local S3 endpoint, when one runs.
    pub s3_env: Vec<(String, String)>,
}

/// A connection to `url` whose driver task runs on the current runtime.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A new database with the loader's schema (`loader::schema::init`, what `loader init` runs).
pub async fn fresh_db(pg: &LocalPostgres, prefix: &str) -> Result<TestDb> {
    let db = pg.create_database(prefix).await?;
    let mut client = db.connect().await?;
    loader::schema::init(&mut client)
        .await
        .context("applying the schema")?;
    Ok(db)
}

/// Flushes dirty buffers before a timed run, so no run pays for the previous one's writes.
/// Needs superuser (or pg_checkpoint); without it runs go on unflushed.
pub async fn checkpoint(pg: &LocalPostgres) -> bool {
    match connect(pg.admin_url()).await {
        Ok(admin) => admin.batch_execute("CHECKPOINT").await.is_ok(),
        Err(_) => false,
    }
}

/// `loader load --json ARGS SOURCES` into `db`; checks that every object loaded and the
/// rows add up to `rows`.
pub async fn loader(
    target: &Target,
    db: &TestDb,
    args: &[&str],
    sources: &[String],
    rows: u64,
) -> Result<Timed> {
    loader_with(target, &target.loader, db, args, sources, rows).await
}

/// [`loader`] with another loader binary (`--baseline`).
pub async fn loader_with(
    target: &Target,
    program: &Path,
    db: &TestDb,
    args: &[&str],
    sources: &[String],
    rows: u64,
) -> Result<Timed> {
    let mut cmd = Command::new(program);
    cmd.arg("load").arg("--json").args(args).args(sources);
    cmd.env("DATABASE_URL", db.url()).env("RUST_LOG", "warn");
    for var in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"] {
        cmd.env_remove(var);
    }
    if sources.iter().any(|s| s.starts_with("s3://")) {
        cmd.envs(target.s3_env.iter().cloned());
    }
    checkpoint(target.pg).await;
    let sampler = LockSampler::start(db).await?;
    let done = tokio::task::spawn_blocking(move || measure::run(&mut cmd)).await??;
    let lock_share = sampler.stop().await;
    let objects = parse_reports(&done.stdout)?;
    let loaded: u64 = objects.iter().map(|o| o.rows).sum();
    if loaded != rows {
        bail!("the loader loaded {loaded} rows, expected {rows}");
    }
    Ok(Timed {
        secs: done.secs,
        max_rss_kib: done.max_rss_kib,
        objects,
        lock_share,
    })
}

/// Samples the database's active backends every 0.1 s while a load runs:
/// the share of samples waiting on a lock (`wait_event_type = 'Lock'`) is
/// how much of the load's backend time went to waiting for other loads.
struct LockSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    counts: tokio::task::JoinHandle<(u64, u64)>,
}

impl LockSampler {
    async fn start(db: &TestDb) -> Result<LockSampler> {
        let client = db.connect().await?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let counts = tokio::spawn(async move {
            let (mut active, mut waiting) = (0u64, 0u64);
            loop {
                if let Ok(row) = client
                    .query_one(
                        "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
                         FROM pg_stat_activity
                         WHERE datname = current_database() AND state = 'active'
                           AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                {
                    active += row.get::<_, i64>(0) as u64;
                    waiting += row.get::<_, i64>(1) as u64;
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                }
            }
            (active, waiting)
        });
        Ok(LockSampler { stop, counts })
    }

    /// The share of active backend samples that waited on a lock, in percent.
    async fn stop(self) -> f64 {
        let _ = self.stop.send(());
        match self.counts.await {
            Ok((active, waiting)) if active > 0 => 100.0 * waiting as f64 / active as f64,
            _ => 0.0,
        }
    }
}

/// `PROGRAM init` on `db`: a loader binary sets up its own schema (its SQL is built in).
///
/// # Errors
/// The program fails.
pub async fn init_with(program: &Path, db: &TestDb) -> Result<()> {
    let mut cmd = Command::new(program);
    cmd.arg("init")
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || measure::run(&mut cmd))
        .await?
        .with_context(|| format!("{} init", program.display()))?;
    Ok(())
}

/// The loader's `--json` lines; any object not `loaded` is an error.
fn parse_reports(stdout: &str) -> Result<Vec<ObjectTime>> {
    let mut objects = Vec::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("loader output {line:?}"))?;
        if v["outcome"] != "loaded" {
            bail!("the loader did not load an object: {line}");
        }
        objects.push(ObjectTime {
            object: v["object"].as_str().unwrap_or_default().to_string(),
            rows: v["rows"].as_u64().unwrap_or(0),
            secs: v["seconds"].as_f64().unwrap_or(0.0),
        });
    }
    Ok(objects)
}

/// Uploads a file, streamed from disk.
pub async fn upload(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    file: &Path,
) -> Result<()> {
    let body = aws_sdk_s3::primitives::ByteStream::from_path(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .send()
        .await
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_loader_json_lines() {
        let out = "{\"object\":\"a.csv\",\"outcome\":\"loaded\",\"rows\":5,\"seconds\":0.5}\n\
                   {\"object\":\"b.csv\",\"outcome\":\"loaded\",\"rows\":7,\"seconds\":0.25}\n";
        let objects = parse_reports(out).expect("two loaded objects");
        assert_eq!(objects.len(), 2);
        assert_eq!((objects[1].rows, objects[1].secs), (7, 0.25));
        let failed = "{\"object\":\"c.csv\",\"outcome\":\"failed\"}\n";
        assert!(parse_reports(failed).is_err());
    }
}
