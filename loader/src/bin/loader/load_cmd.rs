//! `loader load`: expand the sources, load them on N connections, report.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_s3::types::EncodingType;
use clap::{Args, ValueEnum};

use loader::metrics::Emf;
use loader::outcome::ObjectOutcome;
use loader::{CopyFormat, Db, LoadOptions, LoadReport, Loader, Outcome, Source};

use crate::cli::{self, DbArgs};
use crate::input_args::InputArgs;
use crate::out::say;
use crate::progress::Progress;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// COPY BINARY (measured faster).
    Binary,
    /// COPY TEXT.
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsArg {
    /// No metrics.
    None,
    /// One CloudWatch Embedded Metric Format JSON line per object on stdout,
    /// as the Lambda prints (for the CloudWatch agent).
    Emf,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// What to load: a file, a directory (its .csv and .csv.gz files), `-`
    /// for stdin, s3://bucket/key, or s3://bucket/prefix/ (every object under
    /// the prefix: a backfill).
    // OsString: a file's name need not be UTF-8.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<OsString>,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    input: InputArgs,
    /// Objects loaded at once, each on its own connection.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Bad rows to set aside in load_rejects per object before failing it:
    /// a count (0: the first bad row fails the object) or a share of the
    /// object's rows, checked at its end (0.5%)
    #[arg(long, env = "MAX_REJECTS", default_value_t = loader::MaxRejects::NONE)]
    max_rejects: loader::MaxRejects,
    /// COPY format.
    #[arg(long, value_enum, default_value = "binary")]
    format: FormatArg,
    /// work_mem of each load's transaction (the trigger's transition table
    /// and aggregates), a PostgreSQL size such as 256MB, or `auto`: 3x the
    /// object's size (6x that for gzip), between 64MB and 1GB; 256MB when
    /// the size is unknown (stdin). It bounds the server's memory per load.
    #[arg(long, env = "WORK_MEM", default_value = "auto", value_parser = work_mem_arg)]
    work_mem: String,
    /// Tries per object on retryable errors (connection loss, deadlocks,
    /// S3 5xx), re-reading the object from its start each time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
    /// The longest one lock wait of a load may last (PostgreSQL's
    /// lock_timeout, set per load transaction): another load's claim on the
    /// same object, rows another session holds. Past it the object fails
    /// naming the sessions that hold the lock, and is retried.
    #[arg(long, env = "LOCK_TIMEOUT", default_value = "10s",
          value_parser = lock_timeout_arg)]
    lock_timeout: std::time::Duration,
    /// Name recorded in the ledger for stdin.
    #[arg(long, default_value = "-")]
    stdin_name: String,
    /// Key or file-name endings loaded from prefixes and directories.
    #[arg(long, value_delimiter = ',', default_value = ".csv,.csv.gz,.csv.zst")]
    suffixes: Vec<String>,
    /// One JSON object per line instead of text (for scripts).
    #[arg(long)]
    json: bool,
    /// Metrics per object on stdout, besides the report lines.
    #[arg(long, value_enum, default_value = "none")]
    metrics: MetricsArg,
    /// CloudWatch namespace of the metrics.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = loader::metrics::DEFAULT_NAMESPACE)]
    metrics_namespace: String,
    /// The metrics' FunctionName dimension.
    #[arg(long, env = "AWS_LAMBDA_FUNCTION_NAME", default_value = "loader")]
    metrics_function_name: String,
}

/// One object to load, with its size when known (for the progress bar).
struct Item {
    source: Source,
    size: Option<u64>,
}

pub async fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let needs_s3 = args.sources.iter().any(|s| s3_url(s).is_some());
    let s3 = if needs_s3 {
        Some(cli::s3_client().await)
    } else {
        None
    };
    let items = expand(&args, s3.as_ref()).await?;
    if items.is_empty() {
        anyhow::bail!("nothing to load: no objects matched {:?}", args.suffixes);
    }
    let stdin_count = items
        .iter()
        .filter(|i| matches!(i.source, Source::Stdin { .. }))
        .count();
    if stdin_count > 1 {
        anyhow::bail!("`-` (stdin) can be given once");
    }
    let config = args.db.config()?;
    let options = LoadOptions {
        format: match args.format {
            FormatArg::Binary => CopyFormat::Binary,
            FormatArg::Text => CopyFormat::Text,
        },
        max_rejects: args.max_rejects,
        work_mem: args.work_mem.clone(),
        max_attempts: args.attempts,
        lock_timeout: args.lock_timeout,
        contract: args.input.contract()?,
        read: args.input.read()?,
        ..LoadOptions::default()
    };
    let total = items.iter().map(|i| i.size).sum::<Option<u64>>();
    let count = items.len();
    let progress = Arc::new(Progress::new(total, &format!("{count} objects")));
    let queue = Arc::new(Mutex::new(items.into_iter().collect::<VecDeque<_>>()));
    let (results_tx, mut results_rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let workers = usize::from(args.concurrency).min(count);
    let mut handles = Vec::new();
    for _ in 0..workers {
        let mut worker = Loader::new(Db::new(config.clone()), s3.clone(), options.clone());
        let queue = queue.clone();
        let results = results_tx.clone();
        let counter = progress.counter().clone();
        handles.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(item) = next else { break };
                let started = Instant::now();
                let result = worker.load(&item.source, Some(&counter)).await;
                let sent = (item.source, result, started.elapsed());
                if results.send(sent).is_err() {
                    break;
                }
            }
        }));
    }
    drop(results_tx);

    let emf = (args.metrics == MetricsArg::Emf).then(|| Emf {
        namespace: args.metrics_namespace.clone(),
        function_name: args.metrics_function_name.clone(),
    });
    let mut tally = Tally::default();
    while let Some((source, result, elapsed)) = results_rx.recv().await {
        let line = match &result {
            Ok(report) => report_line(report, args.json),
            Err(e) => failure_line(&source.to_string(), e, args.json),
        };
        if let Some(emf) = &emf {
            emf.emit(&ObjectOutcome::of_load(&source, &result, elapsed));
        }
        tally.add(&result);
        progress.println(&line);
        progress.message(format!(
            "{} done, {} failed",
            tally.loaded + tally.skipped,
            tally.failed
        ));
    }
    for h in handles {
        h.await.context("a load worker stopped abnormally")?;
    }
    if let Ok(p) = Arc::try_unwrap(progress) {
        p.finish();
    }
    let elapsed = started.elapsed();
    if !args.json {
        say!("{}", tally.summary(count, elapsed));
    }
    Ok(if tally.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Default)]
struct Tally {
    loaded: usize,
    skipped: usize,
    failed: usize,
    rows: u64,
    rejected: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, result: &loader::Result<LoadReport>) {
        match result {
            Ok(r) if r.outcome == Outcome::Loaded => {
                self.loaded += 1;
                self.rows += r.rows;
                self.rejected += r.rejected;
                self.bytes += r.bytes;
            }
            Ok(_) => self.skipped += 1,
            Err(_) => self.failed += 1,
        }
    }

    fn summary(&self, count: usize, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        format!(
            "{count} objects: {} loaded, {} skipped, {} failed; {} rows ({} rejected), {:.1} MB in {:.2} s, {:.0} rows/s",
            self.loaded,
            self.skipped,
            self.failed,
            self.rows,
            self.rejected,
            self.bytes as f64 / 1e6,
            secs,
            if secs > 0.0 { self.rows as f64 / secs } else { 0.0 }
        )
    }
}

fn report_line(r: &LoadReport, json: bool) -> String {
    if json {
        return serde_json::json!({
            "object": r.object,
            "outcome": r.outcome.as_str(),
            "load_id": r.load_id,
            "rows": r.rows,
            "rejected": r.rejected,
            "duplicates": r.duplicates,
            "bytes": r.bytes,
            "seconds": r.duration.as_secs_f64(),
            "attempts": r.attempts,
            "contended_seconds": r.contended.as_secs_f64(),
        })
        .to_string();
    }
    match r.outcome {
        Outcome::Loaded => format!(
            "loaded      {}  rows={} rejected={} duplicates={} bytes={} {:.2}s {:.0} rows/s load_id={}",
            r.object,
            r.rows,
            r.rejected,
            r.duplicates,
            r.bytes,
            r.duration.as_secs_f64(),
            r.rows_per_sec(),
            r.load_id.unwrap_or_default()
        ),
        Outcome::Skipped => format!(
            "skipped     {}  already loaded (load_id={})",
            r.object,
            r.load_id.unwrap_or_default()
        ),
        Outcome::Superseded => format!(
            "superseded  {}  replaced since its event; the newer version loads on its own event",
            r.object
        ),
    }
}

fn failure_line(object: &str, e: &loader::Error, json: bool) -> String {
    if json {
        return serde_json::json!({
            "object": object,
            "outcome": "failed",
            "error": e.to_string(),
            "kind": e.kind(),
        })
        .to_string();
    }
    format!("FAILED      {object}  {e}")
}

/// Turns the command line's sources into objects, in the order given;
/// directories and prefixes in name order.
async fn expand(args: &LoadArgs, s3: Option<&aws_sdk_s3::Client>) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    for src in &args.sources {
        if src == "-" {
            items.push(Item {
                source: Source::Stdin {
                    name: args.stdin_name.clone(),
                },
                size: None,
            });
        } else if let Some(url) = s3_url(src) {
            let (bucket, key) = cli::split_s3_url(url)?;
            let client = s3.context("no S3 client")?;
            if key.is_empty() || key.ends_with('/') {
                list_prefix(client, &bucket, &key, &args.suffixes, &mut items).await?;
            } else {
                items.push(Item {
                    source: Source::s3(bucket, key),
                    size: None,
                });
            }
        } else {
            let path = PathBuf::from(src);
            let meta = std::fs::metadata(&path).with_context(|| Source::File(path.clone()))?;
            if meta.is_dir() {
                list_dir(&path, &args.suffixes, &mut items)?;
            } else {
                items.push(Item {
                    source: Source::File(path),
                    size: Some(meta.len()),
                });
            }
        }
    }
    Ok(items)
}

/// The argument as an `s3://` URL, if it is one.
fn s3_url(src: &OsStr) -> Option<&str> {
    src.to_str().filter(|s| s.starts_with("s3://"))
}

fn wanted(name: &str, suffixes: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    suffixes
        .iter()
        .any(|s| lower.ends_with(&s.to_ascii_lowercase()))
}

/// The directory's regular files whose names end in one of `suffixes`;
/// every other entry is named on stderr with why it was skipped.
fn list_dir(dir: &Path, suffixes: &[String], items: &mut Vec<Item>) -> anyhow::Result<()> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        // Not followed: a link may lead out of the directory, or to a file
        // that is loaded under another name as well.
        let kind = entry
            .file_type()
            .with_context(|| path.display().to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let why = if kind.is_symlink() {
            "a symbolic link (not followed; name it to load its target)"
        } else if kind.is_dir() {
            "a directory (not searched; name it to load it)"
        } else if !kind.is_file() {
            "not a regular file"
        } else if !wanted(&name, suffixes) {
            "its name does not end in one of --suffixes"
        } else {
            let meta = entry
                .metadata()
                .with_context(|| path.display().to_string())?;
            found.push((path, meta.len()));
            continue;
        };
        skipped.push((path, why));
    }
    skipped.sort();
    let mut stderr = std::io::stderr().lock();
    for (path, why) in skipped {
        // A closed stderr must not stop the load either.
        let _ = writeln!(stderr, "skipped     {}  {why}", path.display());
    }
    found.sort();
    items.extend(found.into_iter().map(|(path, size)| Item {
        source: Source::File(path),
        size: Some(size),
    }));
    Ok(())
}

async fn list_prefix(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    suffixes: &[String],
    items: &mut Vec<Item>,
) -> anyhow::Result<()> {
    // URL-encoded keys: a raw key holding a control character cannot cross
    // XML 1.0 (the whole page would fail to parse) and a carriage return in one
    // would come back as a line feed.
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .encoding_type(EncodingType::Url)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            loader::source::s3_error(&format!("s3://{bucket}/{prefix}"), "ListObjectsV2", e)
        })?;
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            // Encoded as in event notifications: `+` a space, `%XX` a byte.
            let key = if encoded {
                &loader::event::decode_key(key)
                    .map_err(|e| anyhow::anyhow!("listing s3://{bucket}/{prefix}: {e}"))?
            } else {
                key
            };
            if !wanted(key, suffixes) {
                // Named, as in a directory: a backfill should not leave
                // objects out without saying so.
                let shown = Source::s3(bucket, key);
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "skipped     {shown}  its name does not end in one of --suffixes"
                );
                continue;
            }
            let size = object.size().and_then(|n| u64::try_from(n).ok());
            items.push(Item {
                source: Source::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    // Not the listing's ETag: a backfill loads each object
                    // as it is when its turn comes (a HEAD then), not the
                    // version listed, which may have been replaced since.
                    etag: None,
                    version_id: None,
                    size,
                },
                size,
            });
        }
    }
    Ok(())
}

/// `--work-mem`, checked before any load (PostgreSQL would refuse it in
/// every object's transaction).
fn lock_timeout_arg(value: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_millis(1) || d > std::time::Duration::from_secs(24 * 3600) {
        return Err("a lock timeout is 1ms to 24h".into());
    }
    Ok(d)
}

fn work_mem_arg(value: &str) -> Result<String, String> {
    loader::load::checked_work_mem(value, "--work-mem").map_err(|e| e.to_string())
}
