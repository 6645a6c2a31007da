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
use loader::{Db, LoadReport, LoadSettings, Loader, Outcome, Source};

use crate::cli::{self, DbArgs};
use crate::out::say;
use crate::progress::Progress;

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
    settings: LoadSettings,
    /// Objects loaded at once, each on its own connection.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
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
    let total = items.iter().map(|i| i.size).sum::<Option<u64>>();
    let count = items.len();
    let progress = Progress::new(total, &format!("{count} objects"));
    let started = Instant::now();
    let workers = Workers::start(&args, s3, items, progress.counter())?;
    let tally = report(&args, workers.results, &progress).await;
    for h in workers.handles {
        h.await.context("a load worker stopped abnormally")?;
    }
    progress.finish();
    if !args.json {
        say!("{}", tally.summary(count, started.elapsed()));
    }
    Ok(if tally.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One object's end: the source, its result and its wall time.
type Done = (Source, loader::Result<LoadReport>, Duration);

/// `-j` loaders, each on its own connection, taking objects from one queue.
struct Workers {
    handles: Vec<tokio::task::JoinHandle<()>>,
    results: tokio::sync::mpsc::UnboundedReceiver<Done>,
}

impl Workers {
    fn start(
        args: &LoadArgs,
        s3: Option<aws_sdk_s3::Client>,
        items: Vec<Item>,
        progress: &loader::ByteCounter,
    ) -> anyhow::Result<Self> {
        let config = args.db.config()?;
        let options = args.settings.options()?;
        let workers = usize::from(args.concurrency).min(items.len());
        let queue = Arc::new(Mutex::new(items.into_iter().collect::<VecDeque<_>>()));
        let (results_tx, results) = tokio::sync::mpsc::unbounded_channel();
        let mut handles = Vec::new();
        for _ in 0..workers {
            let db = Db::new(config.clone());
            let mut worker =
                Loader::new(db, s3.clone(), options.clone()).with_progress(progress.clone());
            let queue = queue.clone();
            let results = results_tx.clone();
            handles.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some(item) = next else { break };
                    let started = Instant::now();
                    let result = worker.load(&item.source).await;
                    if results
                        .send((item.source, result, started.elapsed()))
                        .is_err()
                    {
                        break;
                    }
                }
            }));
        }
        Ok(Workers { handles, results })
    }
}

/// Prints each object's line (and metrics) as it ends; the tally of all.
async fn report(
    args: &LoadArgs,
    mut results: tokio::sync::mpsc::UnboundedReceiver<Done>,
    progress: &Progress,
) -> Tally {
    let emf = (args.metrics == MetricsArg::Emf).then(|| Emf {
        namespace: args.metrics_namespace.clone(),
        function_name: args.metrics_function_name.clone(),
    });
    let mut tally = Tally::default();
    while let Some((source, result, elapsed)) = results.recv().await {
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
    tally
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
