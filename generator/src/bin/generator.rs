//! `generator`: writes deterministic mock retail transaction CSVs to a directory or an S3
//! prefix, with `manifest.json` (bad rows) and `summary.json` (exact figures) beside them.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use generator::{generate, write_summary, Date, Output, Spec};
use indicatif::{ProgressBar, ProgressStyle};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Writes mock retail transaction CSVs (part-00001.csv, ...) plus manifest.json and
/// summary.json. The same arguments always produce byte-identical files.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Total data rows across all files (bad rows included, headers not).
    #[arg(long, default_value_t = Spec::DEFAULT.rows)]
    rows: u64,

    /// Number of files; rows are split evenly, the first files taking the remainder.
    #[arg(long, default_value_t = Spec::DEFAULT.files)]
    files: u32,

    /// Seed of every random choice.
    #[arg(long, default_value_t = Spec::DEFAULT.seed)]
    seed: u64,

    /// Output directory, or s3://bucket/prefix (AWS config from the environment;
    /// AWS_ENDPOINT_URL selects a local endpoint with path-style addressing).
    #[arg(long, default_value = "generated")]
    out: Output,

    /// Transaction id number of the first row (TXN000001 is 1); ids are contiguous across
    /// files, so runs with disjoint ranges can load into the same database.
    #[arg(long, default_value_t = Spec::DEFAULT.start_id)]
    start_id: u64,

    /// First transaction date (YYYY-MM-DD).
    #[arg(long, default_value_t = Spec::DEFAULT.start_date)]
    start_date: Date,

    /// Number of possible transaction dates from --start-date.
    #[arg(long, default_value_t = Spec::DEFAULT.days)]
    days: u32,

    /// Store ids are drawn from 1..=STORES (smallint).
    #[arg(long, default_value_t = Spec::DEFAULT.stores)]
    stores: u16,

    /// Product ids are drawn from 1..=PRODUCTS.
    #[arg(long, default_value_t = Spec::DEFAULT.products)]
    products: u32,

    /// Customer ids are drawn from 1..=CUSTOMERS (about 3% of rows are guests with no id).
    #[arg(long, default_value_t = Spec::DEFAULT.customers)]
    customers: u32,

    /// Fraction of rows (0.0..=1.0) whose store, product or customer attributes disagree with
    /// the id's usual ones.
    #[arg(long, default_value_t = Spec::DEFAULT.drift)]
    drift: f64,

    /// Fraction of rows (0.0..=1.0) replaced by bad rows, listed in manifest.json.
    #[arg(long, default_value_t = Spec::DEFAULT.dirty)]
    dirty: f64,

    /// Write gzip-compressed .csv.gz files.
    #[arg(long)]
    gzip: bool,

    /// Files written at the same time (0: one per core). Does not change the output.
    #[arg(long, default_value_t = Spec::DEFAULT.jobs)]
    jobs: usize,

    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

impl Args {
    fn spec(&self) -> Spec {
        Spec {
            rows: self.rows,
            files: self.files,
            seed: self.seed,
            start_id: self.start_id,
            start_date: self.start_date,
            days: self.days,
            stores: self.stores,
            products: self.products,
            customers: self.customers,
            drift: self.drift,
            dirty: self.dirty,
            gzip: self.gzip,
            jobs: self.jobs,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let spec = args.spec();
    let progress = (!args.quiet && std::io::stderr().is_terminal()).then(progress_bar);

    let started = Instant::now();
    let summary = generate(&spec, &args.out, progress.clone())
        .await
        .with_context(|| format!("generating into {}", args.out))?;
    let elapsed = started.elapsed();
    if let Some(progress) = progress {
        progress.finish_and_clear();
    }
    let written = write_summary(&args.out, &summary)
        .await
        .context("writing summary.json")?;

    if !args.quiet {
        let seconds = elapsed.as_secs_f64();
        // The files are written: a reader that went away (`| head`) costs
        // the summary lines, not the exit status.
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{summary}").and_then(|()| {
            writeln!(
                stdout,
                "{:.2} s, {:.0} MB/s of CSV; summary in {written}",
                seconds,
                summary.total.csv_bytes as f64 / 1e6 / seconds.max(1e-9)
            )
        });
    }
    Ok(())
}

fn progress_bar() -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} rows ({per_sec}, {eta} left)",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    ProgressBar::new(0).with_style(style)
}
