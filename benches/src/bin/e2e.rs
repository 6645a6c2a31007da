//! End-to-end benchmark: the same generated data through every way of loading it, on the
//! same PostgreSQL server, side by side.
//!
//! ```text
//! cargo build --release -p loader --bin loader
//! cargo run --release -p benches --bin e2e -- --rows 1000000 [--reps 3] [--out DIR]
//! ```
//!
//! Measured, each `--reps` times (median and min-max), the repetitions of the methods
//! interleaved so a change in the machine's load hits them all alike:
//! - the ceiling: `psql \copy ... CSV HEADER` into an untriggered, unindexed copy of
//!   `staging_table`; the floor: `psql \copy` of the loader's own COPY BINARY rows (encoded
//!   once beforehand) into the same kind of table (`floor.rs`);
//! - the peers a user would pick instead (`peers.rs`: DuckDB, psycopg, Sling, pgloader, as
//!   `benches/peers/setup.sh` installs them; a missing one is skipped and said so), each
//!   checked against the file's figures, and each followed by the star-schema SQL its user
//!   would write (`benches/peers/star.sql`): the same job as the loader's;
//! - with `--baseline PATH`, a second loader binary (another commit's) from the same file;
//! - `loader load` (the release binary next to this one) from a file, from the local S3
//!   endpoint, and from a file with `--format text`, each into a fresh database with the full
//!   schema, so the star schema is built and committed;
//! - `loader load -j 4` over 8 objects; the small file (scaling); 20 objects one after the
//!   other into one database (does object 20 cost what object 1 did?);
//! - a cost breakdown of one load, step by step (`breakdown.rs`);
//! - the original row-by-row design, once and small only (`legacy.rs`): it is O(n²), so by
//!   default only 100 rows from the middle of each file are timed (`--legacy-sample 0` times
//!   every row, which takes many minutes);
//! - a ~1 GB object for the loader's peak memory, when the time budget allows.
//!
//! `--budget-secs` (default 570) keeps the run under 10 minutes: after the first round the
//! repetitions are cut when the rest would not fit, and the original design and the big
//! object are skipped when they would not; every cut is printed and recorded in the JSON.
//!
//! Peak RSS is the kernel's figure for each loader process. Results: a table on stdout and
//! `e2e.json` (every raw timing and the machine), `e2e.svg`, `e2e.txt` in `--out`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use serde::Serialize;
use standins::{LocalPostgres, LocalS3};

// The parts live in e2e/; a binary's root looks for modules next to itself.
#[path = "e2e/breakdown.rs"]
mod breakdown;
#[path = "e2e/chart.rs"]
mod chart;
#[path = "e2e/check.rs"]
mod check;
#[path = "e2e/data.rs"]
mod data;
#[path = "e2e/floor.rs"]
mod floor;
#[path = "e2e/legacy.rs"]
mod legacy;
#[path = "e2e/machine.rs"]
mod machine;
#[path = "e2e/measure.rs"]
mod measure;
#[path = "e2e/methods.rs"]
mod methods;
#[path = "e2e/peers.rs"]
mod peers;
#[path = "e2e/report.rs"]
mod report;
#[path = "e2e/stats.rs"]
mod stats;

use check::Fingerprint;
use data::DataSet;
use machine::Machine;
use methods::Target;
use peers::{Peer, PeerTool};
use report::{
    Breakdown, BreakdownStep, EncoderFigures, Legacy, Method, MethodSummary, ObjectSeries, Report,
    Run, Scaling,
};
use stats::Spread;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BUCKET: &str = "bench";
const S3_KEY: &str = "main/part-00001.csv";

/// The parts of a run, for `--skip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum Section {
    /// psql \copy: the ceiling (and its same job).
    Ceiling,
    /// psql \copy of the loader's own COPY BINARY rows.
    Floor,
    /// pgloader, Sling, DuckDB, psycopg (psql is `ceiling`).
    Peers,
    /// The star-schema SQL after each peer's raw load.
    SameJob,
    File,
    S3,
    Text,
    Small,
    Concurrent,
    Objects,
    Breakdown,
    Legacy,
    Big,
}

/// End-to-end load benchmark: psql \copy ceiling, COPY binary floor, the loader from file / S3
/// / text, the peers (DuckDB, psycopg, Sling, pgloader) raw and with the star-schema SQL, the
/// original row-by-row design, scaling, concurrency, peak memory, cost breakdown.
#[derive(Parser, Debug, Serialize)]
#[command(max_term_width = 100)]
struct Args {
    /// Rows of the main file: the N of every side-by-side comparison.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Repetitions of each measurement (median and min-max reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    reps: u32,
    /// Where e2e.json, e2e.svg and e2e.txt go [default: benches/results].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Where the generated data goes [default: bench-out/data].
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    /// The loader binary [default: `loader` next to this program, i.e. target/release].
    #[arg(long, value_name = "PATH")]
    loader: Option<PathBuf>,
    /// Rows of the small file the main one is compared with (scaling).
    #[arg(long, default_value_t = 100_000)]
    small_rows: u64,
    /// Objects loaded at once in the concurrency run.
    #[arg(long, default_value_t = 4)]
    concurrency: u16,
    /// Objects of the concurrency run; together they hold --rows rows.
    #[arg(long, default_value_t = 8)]
    concurrent_objects: u32,
    /// Objects loaded one after the other into one database.
    #[arg(long, default_value_t = 20)]
    objects: u32,
    /// Rows of each of those objects (disjoint transaction ids).
    #[arg(long, default_value_t = 50_000)]
    object_rows: u64,
    /// Files of the original design's run (loaded once, not --reps times: it is O(n²)).
    #[arg(long, default_value_t = 5)]
    legacy_files: u32,
    /// Rows per file of the original design's run.
    #[arg(long, default_value_t = 2_000)]
    legacy_rows: u64,
    /// Rows timed one by one from the middle of each file of the original design (the rest
    /// is fast-forwarded); 0 times every row, which takes many minutes at 5 x 2,000 rows.
    #[arg(long, default_value_t = 100)]
    legacy_sample: u64,
    /// Rows of the big object for peak memory (8,000,000 is ~1 GB); 0 skips it. Skipped too
    /// when it would not finish within --budget-secs.
    #[arg(long, default_value_t = 8_000_000)]
    big_rows: u64,
    /// Wall-time budget: the optional parts (original design, big object) are skipped when
    /// they would overrun it.
    #[arg(long, default_value_t = 570)]
    budget_secs: u64,
    /// Parts to leave out, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    skip: Vec<Section>,
    /// The peers' virtualenv (benches/peers/setup.sh makes it) [default: bench-out/peers/venv].
    #[arg(long, value_name = "DIR")]
    peers_venv: Option<PathBuf>,
    /// A second loader binary (e.g. built from the previous main) measured side by side as
    /// `baseline`: from the main file into databases its own `loader init` set up.
    #[arg(long, value_name = "PATH")]
    baseline: Option<PathBuf>,
    /// How the table names the baseline [default: its path].
    #[arg(long, value_name = "TEXT")]
    baseline_label: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The data every method loads.
struct Data {
    main: DataSet,
    small: DataSet,
    concurrent: DataSet,
    objects: DataSet,
}

/// A run in progress: what it measured so far.
struct Bench {
    args: Args,
    started: Instant,
    target: Target,
    data: Data,
    /// The installed peers, psql first.
    peers: Vec<PeerTool>,
    /// What the main file holds, read from it: every peer's rows are checked against it.
    expected: Fingerprint,
    /// The main file as the loader's COPY BINARY rows, for the floor.
    floor_rows: Option<PathBuf>,
    /// benches/peers: the star-schema SQL and the Python peers' scripts.
    peers_dir: PathBuf,
    work: PathBuf,
    runs: Vec<Run>,
    skipped: Vec<String>,
    errors: Vec<String>,
    failed: HashSet<Method>,
}

impl Bench {
    fn wants(&self, section: Section) -> bool {
        !self.args.skip.contains(&section)
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn say(&self, line: &str) {
        println!("[{:>4.0}s] {line}", self.elapsed());
    }

    fn record(&mut self, method: Method, rep: u32, result: Result<Run>) {
        match result {
            Ok(run) => {
                self.say(&format!(
                    "{method:?} rep {rep}: {:.2} s, {} rows/s, peak RSS {:.1} MiB",
                    run.secs,
                    report::thousands(run.rows as f64 / run.secs),
                    run.max_rss_kib as f64 / 1024.0
                ));
                self.runs.push(run);
            }
            Err(e) => {
                let message = format!("{method:?} rep {rep}: {e:#}");
                self.say(&format!("FAILED {message}"));
                self.errors.push(message);
                self.failed.insert(method);
            }
        }
    }

    /// One repetition of a peer: its raw load, and its same job unless skipped.
    async fn peer_one(&mut self, tool: &PeerTool, rep: u32) {
        let file = self.data.main.files[0].clone();
        let star = self
            .wants(Section::SameJob)
            .then(|| self.peers_dir.join("star.sql"));
        let (raw_method, star_method) = (tool.peer.raw_method(), tool.peer.star_method());
        let result = peers::run(
            self.target.pg,
            tool,
            &file,
            &self.expected,
            star.as_deref(),
            &self.work.join("peers"),
        )
        .await;
        let as_run = |method: Method, secs: f64, max_rss_kib: u64| Run {
            method,
            rep,
            rows: file.rows,
            bytes: file.bytes,
            secs,
            max_rss_kib,
            objects: Vec::new(),
        };
        match result {
            Ok(done) => {
                let raw = done.raw;
                self.record(
                    raw_method,
                    rep,
                    Ok(as_run(raw_method, raw.secs, raw.max_rss_kib)),
                );
                if let Some(star) = done.star {
                    let run = star.map(|s| {
                        as_run(
                            star_method,
                            raw.secs + s.secs,
                            raw.max_rss_kib.max(s.max_rss_kib),
                        )
                    });
                    self.record(star_method, rep, run);
                }
            }
            Err(e) => {
                self.record(raw_method, rep, Err(e));
                self.failed.insert(star_method);
            }
        }
    }

    /// One repetition of a loader method into a fresh database.
    async fn loader_run(
        &self,
        method: Method,
        rep: u32,
        set: &DataSet,
        flags: &[&str],
        sources: Vec<String>,
    ) -> Result<Run> {
        let prefix = format!("e2e_{method:?}").to_lowercase();
        let db = methods::fresh_db(self.target.pg, &prefix).await?;
        let timed = methods::loader(&self.target, &db, flags, &sources, set.rows()).await?;
        db.cleanup().await?;
        if matches!(method, Method::Concurrent | Method::Objects) {
            println!(
                "  {method:?}, repetition {rep}: lock waits {:.1}% of active backend time",
                timed.lock_share
            );
        }
        Ok(Run {
            method,
            rep,
            rows: set.rows(),
            bytes: set.bytes(),
            secs: timed.secs,
            max_rss_kib: timed.max_rss_kib,
            objects: timed.objects,
        })
    }

    async fn one(&self, method: Method, rep: u32) -> Result<Run> {
        let d = &self.data;
        let path = |set: &DataSet| set.files[0].path.display().to_string();
        let concurrency = self.args.concurrency.to_string();
        match method {
            Method::Floor => {
                let rows = self.floor_rows.as_ref().context("no encoded rows")?;
                let file = &d.main.files[0];
                let timed = floor::run(self.target.pg, rows, &self.expected).await?;
                Ok(Run {
                    method,
                    rep,
                    rows: file.rows,
                    bytes: file.bytes,
                    secs: timed.secs,
                    max_rss_kib: timed.max_rss_kib,
                    objects: Vec::new(),
                })
            }
            Method::Baseline => {
                let program = self.args.baseline.as_ref().context("no --baseline")?;
                let db = self.target.pg.create_database("e2e_baseline").await?;
                methods::init_with(program, &db).await?;
                let set = &d.main;
                let timed =
                    methods::loader_with(&self.target, program, &db, &[], &[path(set)], set.rows())
                        .await?;
                db.cleanup().await?;
                Ok(Run {
                    method,
                    rep,
                    rows: set.rows(),
                    bytes: set.bytes(),
                    secs: timed.secs,
                    max_rss_kib: timed.max_rss_kib,
                    objects: timed.objects,
                })
            }
            Method::File => {
                self.loader_run(method, rep, &d.main, &[], vec![path(&d.main)])
                    .await
            }
            Method::S3 => {
                let source = format!("s3://{BUCKET}/{S3_KEY}");
                self.loader_run(method, rep, &d.main, &[], vec![source])
                    .await
            }
            Method::Text => {
                let flags = ["--format", "text"];
                self.loader_run(method, rep, &d.main, &flags, vec![path(&d.main)])
                    .await
            }
            Method::Small => {
                self.loader_run(method, rep, &d.small, &[], vec![path(&d.small)])
                    .await
            }
            Method::Concurrent => {
                let dir = d.concurrent.dir.display().to_string();
                let flags = ["-j", concurrency.as_str()];
                self.loader_run(method, rep, &d.concurrent, &flags, vec![dir])
                    .await
            }
            Method::Objects => {
                let dir = d.objects.dir.display().to_string();
                self.loader_run(method, rep, &d.objects, &[], vec![dir])
                    .await
            }
            _ => bail!("{method:?} is not run by Bench::one"),
        }
    }

    /// Repetitions that fit in the budget, given the first round's time: the original
    /// design's run is kept in reserve, the big object gets what is left.
    fn affordable_reps(&mut self, round: f64) -> u32 {
        let wanted = self.args.reps;
        let per_row = self
            .runs
            .iter()
            .find(|r| r.method == Method::File)
            .map_or(round / 6.0 / self.data.main.rows() as f64, |r| {
                r.secs / r.rows as f64
            });
        let mut each = 0.0;
        if self.wants(Section::Objects) {
            each += 1.1 * per_row * self.data.objects.rows() as f64;
        }
        if self.wants(Section::Breakdown) {
            each += 1.1 * per_row * self.data.main.rows() as f64;
        }
        let reserve = if self.wants(Section::Legacy) {
            let args = &self.args;
            legacy::estimate_secs(args.legacy_files, args.legacy_rows, legacy_timing(args))
        } else {
            0.0
        };
        let left = self.args.budget_secs as f64 - self.elapsed() - reserve;
        let cost = |n: u32| f64::from(n - 1) * round + f64::from(n) * each;
        let mut reps = wanted;
        while reps > 1 && cost(reps) > left {
            reps -= 1;
        }
        if reps < wanted {
            let message = format!(
                "repetitions cut from {wanted} to {reps} to stay within --budget-secs {}: a \
                 round of the side-by-side methods took {round:.0} s",
                self.args.budget_secs
            );
            self.say(&message);
            self.skipped.push(message);
        }
        reps
    }

    fn label(&self, method: Method) -> String {
        match method {
            Method::Ceiling => "psql \\copy CSV, raw (the ceiling)".into(),
            Method::Floor => "psql \\copy of the loader's COPY binary rows (floor)".into(),
            Method::Baseline => format!(
                "baseline: {}",
                self.args.baseline_label.clone().unwrap_or_else(|| {
                    self.args
                        .baseline
                        .as_ref()
                        .map_or("?".into(), |p| p.display().to_string())
                })
            ),
            Method::PsqlStar => "psql \\copy + star.sql (same job)".into(),
            m @ (Method::Duckdb | Method::Psycopg | Method::Sling | Method::Pgloader) => {
                format!("{}, raw", self.peer_label(m))
            }
            m @ (Method::DuckdbStar
            | Method::PsycopgStar
            | Method::SlingStar
            | Method::PgloaderStar) => format!("{} + star.sql (same job)", self.peer_label(m)),
            Method::File => "loader, file, COPY binary".into(),
            Method::S3 => "loader, local S3, COPY binary".into(),
            Method::Text => "loader, file, COPY text".into(),
            Method::Small => format!("loader, file, {} rows", self.args.small_rows),
            Method::Concurrent => format!(
                "loader -j {}, {} files",
                self.args.concurrency, self.args.concurrent_objects
            ),
            Method::Objects => format!("loader, {} files in turn", self.args.objects),
            Method::Big => "loader, big file".into(),
        }
    }

    /// "DuckDB 1.5.5" for either of a peer's methods.
    fn peer_label(&self, method: Method) -> String {
        self.peers
            .iter()
            .find(|t| t.peer.raw_method() == method || t.peer.star_method() == method)
            .map_or(format!("{method:?}"), |t| {
                let version = t.version.split_whitespace().next().unwrap_or("");
                format!("{} {version}", t.peer.name())
            })
    }
}

async fn run(args: Args) -> Result<bool> {
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the benches crate sits in the workspace")?
        .to_path_buf();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("benches/results"));
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| root.join("bench-out/data"));
    let loader_bin = match &args.loader {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this program's directory")?
            .join("loader"),
    };
    if let Some(baseline) = &args.baseline {
        if !baseline.is_file() {
            bail!("--baseline {}: no such file", baseline.display());
        }
    }
    if !loader_bin.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p loader --bin loader` \
             (or pass --loader PATH)",
            loader_bin.display()
        );
    }
    let command = format!(
        "cargo run --release -p benches --bin e2e -- {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );

    let pg = LocalPostgres::shared()?;
    let admin = methods::connect(pg.admin_url()).await?;
    let version: String = admin.query_one("SELECT version()", &[]).await?.get(0);
    let checkpoints = methods::checkpoint(pg).await;
    drop(admin);
    let machine = Machine::describe(version);
    println!(
        "e2e: {} rows x {} reps on {} ({} cores, {}), {}; load average {}",
        args.rows,
        args.reps,
        pg.describe(),
        machine.nproc,
        machine.cpu_model,
        machine.postgres,
        machine.load_average_at_start
    );
    if !checkpoints {
        println!("note: CHECKPOINT refused (not superuser): runs are not flushed in between");
    }

    let t = Instant::now();
    let data = Data {
        main: data::write(&data::spec(args.rows, 1), &work.join("main"))?,
        small: data::write(&data::spec(args.small_rows, 1), &work.join("small"))?,
        concurrent: data::write(
            &data::spec(args.rows, args.concurrent_objects),
            &work.join("concurrent"),
        )?,
        objects: data::write(
            &data::spec(u64::from(args.objects) * args.object_rows, args.objects),
            &work.join("objects"),
        )?,
    };
    println!(
        "generated {:.0} MB of CSV into {} in {:.1} s",
        (data.main.bytes() + data.small.bytes() + data.concurrent.bytes() + data.objects.bytes())
            as f64
            / 1e6,
        work.display(),
        t.elapsed().as_secs_f64()
    );

    let s3 = if args.skip.contains(&Section::S3) {
        None
    } else {
        let s3 = LocalS3::builder().bucket(BUCKET).start()?;
        let client = standins::s3::client(&s3.endpoint());
        methods::upload(&client, BUCKET, S3_KEY, &data.main.files[0].path).await?;
        Some(s3)
    };
    let target = Target {
        pg,
        loader: loader_bin,
        s3_env: s3.as_ref().map(LocalS3::env_vars).unwrap_or_default(),
    };
    let peers_dir = root.join("benches/peers");
    let venv = args
        .peers_venv
        .clone()
        .unwrap_or_else(|| root.join("bench-out/peers/venv"));
    let mut skipped = Vec::new();
    let (mut tools, missing) = peers::discover(&peers_dir, &venv);
    tools.retain(|t| {
        (t.peer == Peer::Psql && !args.skip.contains(&Section::Ceiling))
            || (t.peer != Peer::Psql && !args.skip.contains(&Section::Peers))
    });
    for line in missing {
        println!("skipped: {line}");
        skipped.push(line);
    }
    for t in &tools {
        println!("peer: {} {}", t.peer.name(), t.version);
    }
    let expected = Fingerprint::of_csv(&data.main.files[0].path)?;
    let floor_rows = if args.skip.contains(&Section::Floor) {
        None
    } else {
        let out = work.join("main.pgcopy");
        let t = Instant::now();
        let rows = floor::encode(&data.main.files[0].path, &out)?;
        if rows != data.main.rows() {
            bail!("the encoder wrote {rows} rows of {}", data.main.rows());
        }
        println!(
            "encoded the main file as COPY binary rows in {:.1} s ({} bytes)",
            t.elapsed().as_secs_f64(),
            std::fs::metadata(&out).map_or(0, |m| m.len())
        );
        Some(out)
    };
    let mut bench = Bench {
        args,
        started,
        target,
        data,
        peers: tools,
        expected,
        floor_rows,
        peers_dir,
        work: work.clone(),
        runs: Vec::new(),
        skipped,
        errors: Vec::new(),
        failed: HashSet::new(),
    };

    // The side-by-side methods, repetitions interleaved: psql (the ceiling), the floor, the
    // loader's ways, the baseline, the other peers.
    let side_by_side = [
        (Method::Floor, Section::Floor),
        (Method::File, Section::File),
        (Method::S3, Section::S3),
        (Method::Text, Section::Text),
        (Method::Small, Section::Small),
        (Method::Concurrent, Section::Concurrent),
    ];
    let mut reps = bench.args.reps;
    let mut rep = 1;
    let tools = bench.peers.clone();
    while rep <= reps {
        let round = Instant::now();
        for tool in tools.iter().filter(|t| t.peer == Peer::Psql) {
            if !bench.failed.contains(&tool.peer.raw_method()) {
                bench.peer_one(tool, rep).await;
            }
        }
        for (method, section) in side_by_side {
            if bench.wants(section) && !bench.failed.contains(&method) {
                let result = bench.one(method, rep).await;
                bench.record(method, rep, result);
            }
        }
        if bench.args.baseline.is_some() && !bench.failed.contains(&Method::Baseline) {
            let result = bench.one(Method::Baseline, rep).await;
            bench.record(Method::Baseline, rep, result);
        }
        for tool in tools.iter().filter(|t| t.peer != Peer::Psql) {
            if !bench.failed.contains(&tool.peer.raw_method()) {
                bench.peer_one(tool, rep).await;
            }
        }
        if rep == 1 {
            reps = bench.affordable_reps(round.elapsed().as_secs_f64());
        }
        rep += 1;
    }

    if bench.wants(Section::Objects) {
        for rep in 1..=reps {
            if !bench.failed.contains(&Method::Objects) {
                let result = bench.one(Method::Objects, rep).await;
                bench.record(Method::Objects, rep, result);
            }
        }
    }

    let mut breakdown_runs = Vec::new();
    if bench.wants(Section::Breakdown) {
        let file = bench.data.main.files[0].clone();
        for rep in 1..=reps {
            match breakdown::run(pg, &file.path, file.rows).await {
                Ok(steps) => {
                    let total: f64 = steps.iter().map(|s| s.secs).sum();
                    bench.say(&format!("breakdown rep {rep}: {total:.2} s in all"));
                    breakdown_runs.push(steps);
                }
                Err(e) => {
                    bench.errors.push(format!("breakdown rep {rep}: {e:#}"));
                    break;
                }
            }
        }
    }

    let legacy = run_legacy(&mut bench).await;
    let big = run_big(&mut bench, &work).await;
    drop(s3);

    let mut report = summarize(
        &bench,
        machine,
        command,
        checkpoints,
        breakdown_runs,
        legacy,
        big,
    );
    report.encoder = EncoderFigures::read(&root.join("target/criterion"));
    report.check_targets();
    report.total_secs = bench.elapsed();
    let text = report::render_text(&report);
    print!("{text}");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(out_dir.join("e2e.json"), json + "\n")?;
    std::fs::write(out_dir.join("e2e.svg"), chart::render(&report))?;
    std::fs::write(out_dir.join("e2e.txt"), text)?;
    println!(
        "wrote e2e.json, e2e.svg, e2e.txt into {}",
        out_dir.display()
    );
    Ok(report.errors.is_empty())
}

/// The original design, once, when it fits in the budget: each row costs a scan of every
/// row before it, so the time grows with the square of the rows.
async fn run_legacy(bench: &mut Bench) -> Option<Legacy> {
    if !bench.wants(Section::Legacy) {
        return None;
    }
    let (files, per_file) = (bench.args.legacy_files, bench.args.legacy_rows);
    let timing = legacy_timing(&bench.args);
    let estimate = legacy::estimate_secs(files, per_file, timing);
    let left = bench.args.budget_secs as f64 - bench.elapsed();
    if estimate > left {
        bench.skipped.push(format!(
            "original design: ~{estimate:.0} s expected, {left:.0} s of the budget left"
        ));
        return None;
    }
    let how = match timing {
        legacy::Timing::Whole => "every row timed".to_string(),
        legacy::Timing::MidFile(n) => format!(
            "{n} rows from the middle of each file timed one by one, the rows before them \
             bulk-staged with the trigger off and normalized once"
        ),
    };
    bench.say(&format!(
        "original design: {files} files of {per_file} rows, {how} (O(n²): small sizes only)"
    ));
    match legacy::run(bench.target.pg, files, per_file, timing).await {
        Ok(legacy::LegacyLoads {
            without_trigger,
            files: loads,
        }) => {
            bench.say(&format!(
                "original design without its trigger: {:.0} rows/s",
                without_trigger.rows_per_sec
            ));
            for f in &loads {
                bench.say(&format!(
                    "original design file {}: {:.2} s, {:.0} rows/s",
                    f.file, f.secs, f.rows_per_sec
                ));
            }
            Some(Legacy {
                note: format!(
                    "{files} files x {per_file} rows, one autocommitted INSERT per row, a row \
                     trigger rescanning all of staging; {how}; run once, at this small size \
                     only: it is O(n²)"
                ),
                rows_per_file: per_file,
                without_trigger,
                first_rows_per_sec: loads.first().map_or(0.0, |f| f.rows_per_sec),
                last_rows_per_sec: loads.last().map_or(0.0, |f| f.rows_per_sec),
                files: loads,
            })
        }
        Err(e) => {
            bench.errors.push(format!("original design: {e:#}"));
            None
        }
    }
}

fn legacy_timing(args: &Args) -> legacy::Timing {
    if args.legacy_sample == 0 || args.legacy_sample >= args.legacy_rows {
        legacy::Timing::Whole
    } else {
        legacy::Timing::MidFile(args.legacy_sample)
    }
}

/// The big object for peak memory, once, when it fits in the budget.
async fn run_big(bench: &mut Bench, work: &Path) -> Option<Run> {
    let rows = bench.args.big_rows;
    if !bench.wants(Section::Big) {
        return None;
    }
    if rows == 0 {
        bench.skipped.push("big object: --big-rows 0".into());
        return None;
    }
    let per_row = bench
        .runs
        .iter()
        .filter(|r| r.method == Method::File)
        .map(|r| r.secs / r.rows as f64)
        .fold(f64::NAN, f64::min);
    let bytes_per_row = bench.data.main.bytes() as f64 / bench.data.main.rows().max(1) as f64;
    let estimate = if per_row.is_finite() {
        // Loading, plus writing the file at ~300 MB/s, plus a margin.
        1.25 * (per_row * rows as f64 + rows as f64 * bytes_per_row / 300e6)
    } else {
        f64::INFINITY
    };
    let left = bench.args.budget_secs as f64 - bench.elapsed();
    if estimate > left {
        bench.skipped.push(format!(
            "big object ({rows} rows, ~{:.0} MB): ~{estimate:.0} s expected, {left:.0} s of the budget left",
            rows as f64 * bytes_per_row / 1e6
        ));
        return None;
    }
    bench.say(&format!(
        "big object: {rows} rows, ~{estimate:.0} s expected"
    ));
    let dir = work.join("big");
    let result = async {
        let set = data::write(&data::spec(rows, 1), &dir)?;
        let path = set.files[0].path.display().to_string();
        bench
            .loader_run(Method::Big, 1, &set, &[], vec![path])
            .await
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(run) => {
            bench.say(&format!(
                "big object: {:.1} s, peak RSS {:.1} MiB",
                run.secs,
                run.max_rss_kib as f64 / 1024.0
            ));
            Some(run)
        }
        Err(e) => {
            bench.errors.push(format!("big object: {e:#}"));
            None
        }
    }
}

/// The runs turned into the report's summaries.
fn summarize(
    bench: &Bench,
    machine: Machine,
    command: String,
    checkpoints: bool,
    breakdown_runs: Vec<Vec<breakdown::Step>>,
    legacy: Option<Legacy>,
    big: Option<Run>,
) -> Report {
    let of = |method: Method| -> Vec<&Run> {
        bench.runs.iter().filter(|r| r.method == method).collect()
    };
    let mut summaries: Vec<MethodSummary> = [
        Method::Ceiling,
        Method::Floor,
        Method::File,
        Method::S3,
        Method::Text,
        Method::Concurrent,
        Method::Small,
        Method::Baseline,
        Method::Duckdb,
        Method::Psycopg,
        Method::Sling,
        Method::Pgloader,
        Method::PsqlStar,
        Method::DuckdbStar,
        Method::PsycopgStar,
        Method::SlingStar,
        Method::PgloaderStar,
    ]
    .into_iter()
    .filter_map(|m| MethodSummary::of(m, bench.label(m), &of(m)))
    .collect();
    let base = |method: Method| {
        summaries
            .iter()
            .find(|m| m.method == method)
            .map(|m| (m.rows, m.secs.median))
    };
    let (ceiling, floor) = (base(Method::Ceiling), base(Method::Floor));
    for s in &mut summaries {
        if let Some((_, secs)) = ceiling.filter(|c| c.0 == s.rows) {
            s.vs_ceiling = Some(s.secs.median / secs);
        }
        if let Some((_, secs)) = floor.filter(|c| c.0 == s.rows) {
            s.vs_floor = Some(s.secs.median / secs);
        }
    }

    let median = |m: Method| {
        summaries
            .iter()
            .find(|s| s.method == m)
            .map(|s| s.secs.median)
    };
    let scaling = match (median(Method::Small), median(Method::File)) {
        (Some(small_secs), Some(secs)) => Some(Scaling {
            small_rows: bench.data.small.rows(),
            rows: bench.data.main.rows(),
            small_secs,
            secs,
            ratio: secs / small_secs,
            linear: bench.data.main.rows() as f64 / bench.data.small.rows() as f64,
        }),
        _ => None,
    };

    let object_runs = of(Method::Objects);
    let objects = (!object_runs.is_empty()).then(|| {
        let n = bench.args.objects as usize;
        let per_object_secs: Vec<Spread> = (0..n)
            .filter_map(|i| {
                let secs: Vec<f64> = object_runs
                    .iter()
                    .filter_map(|r| {
                        let mut objects = r.objects.clone();
                        objects.sort_by(|a, b| a.object.cmp(&b.object));
                        objects.get(i).map(|o| o.secs)
                    })
                    .collect();
                Spread::of(&secs)
            })
            .collect();
        let first = per_object_secs.first().map_or(f64::NAN, |s| s.median);
        let last = per_object_secs.last().map_or(f64::NAN, |s| s.median);
        ObjectSeries {
            objects: bench.args.objects,
            rows_per_object: bench.args.object_rows,
            per_object_secs,
            first_secs: first,
            last_secs: last,
            ratio: last / first,
        }
    });

    let breakdown = breakdown_runs.first().map(|first| {
        let steps: Vec<(String, Spread)> = first
            .iter()
            .enumerate()
            .filter_map(|(i, step)| {
                let secs: Vec<f64> = breakdown_runs
                    .iter()
                    .filter_map(|run| run.get(i).map(|s| s.secs))
                    .collect();
                Spread::of(&secs).map(|s| (step.name.clone(), s))
            })
            .collect();
        let total: f64 = steps.iter().map(|(_, s)| s.median).sum();
        Breakdown {
            rows: bench.data.main.rows(),
            steps: steps
                .into_iter()
                .map(|(name, secs)| BreakdownStep {
                    share: secs.median / total,
                    name,
                    secs,
                })
                .collect(),
            total_secs: total,
        }
    });

    let mut skipped = bench.skipped.clone();
    for s in &bench.args.skip {
        skipped.push(format!("{s:?}: --skip"));
    }
    Report {
        machine,
        command,
        settings: serde_json::to_value(&bench.args).unwrap_or_default(),
        total_secs: 0.0,
        load_average_at_end: machine::load_average(),
        checkpoints,
        runs: bench.runs.clone(),
        methods: summaries,
        scaling,
        objects,
        breakdown,
        legacy,
        big,
        encoder: None,
        peers: bench.peers.iter().map(PeerTool::info).collect(),
        baseline: bench.args.baseline.as_ref().map(|p| {
            let label = bench.label(Method::Baseline);
            format!("{label} = {}", p.display())
        }),
        targets: Vec::new(),
        skipped,
        errors: bench.errors.clone(),
    }
}
