//! The figures of a run: raw timings, their summaries, the design's targets, and the
//! printed table. Everything here is serialized into `e2e.json`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::legacy::FileLoad;
use crate::machine::Machine;
use crate::methods::ObjectTime;
use crate::peers::PeerInfo;
use crate::stats::Spread;

/// What was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// psql `\copy` CSV into an untriggered, unindexed staging copy.
    Ceiling,
    /// `loader load FILE` (COPY binary).
    File,
    /// `loader load s3://...` from the local S3 endpoint.
    S3,
    /// `loader load --format text FILE`.
    Text,
    /// `loader load FILE` of the small file (the scaling baseline).
    Small,
    /// `loader load -j C DIR` over several objects.
    Concurrent,
    /// `loader load DIR`: many objects one after the other into one database.
    Objects,
    /// `loader load FILE` of the ~1 GB object (peak memory).
    Big,
    /// psql `\copy` of the loader's own COPY BINARY rows into an untriggered staging copy.
    Floor,
    /// A second loader binary (`--baseline`), from a file, into its own schema.
    Baseline,
    /// The ceiling's rows, then `benches/peers/star.sql`: the same job as the loader.
    PsqlStar,
    /// DuckDB's postgres extension, raw rows.
    Duckdb,
    DuckdbStar,
    /// psycopg 3 `cursor.copy()`, raw rows.
    Psycopg,
    PsycopgStar,
    /// Sling, direct insert, raw rows.
    Sling,
    SlingStar,
    /// pgloader, raw rows.
    Pgloader,
    PgloaderStar,
}

impl Method {
    /// A raw load by another tool (psql included): rows into an untriggered table.
    pub fn is_raw_peer(self) -> bool {
        matches!(
            self,
            Method::Ceiling | Method::Duckdb | Method::Psycopg | Method::Sling | Method::Pgloader
        )
    }

    /// Another tool's raw load followed by the star-schema SQL: the loader's job.
    pub fn is_same_job(self) -> bool {
        matches!(
            self,
            Method::PsqlStar
                | Method::DuckdbStar
                | Method::PsycopgStar
                | Method::SlingStar
                | Method::PgloaderStar
        )
    }
}

/// One timed repetition.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub method: Method,
    pub rep: u32,
    pub rows: u64,
    pub bytes: u64,
    pub secs: f64,
    /// Peak RSS of the measured process (psql for the ceiling).
    pub max_rss_kib: u64,
    /// Per-object times from the loader's `--json` report.
    pub objects: Vec<ObjectTime>,
}

/// The repetitions of one method, summarized.
#[derive(Clone, Debug, Serialize)]
pub struct MethodSummary {
    pub method: Method,
    pub label: String,
    pub rows: u64,
    pub bytes: u64,
    pub secs: Spread,
    /// rows / secs of each repetition.
    pub rows_per_sec: Spread,
    /// Decimal MB of CSV per second, at the median time.
    pub mb_per_sec: f64,
    /// Median time over the ceiling's median time (same rows only).
    pub vs_ceiling: Option<f64>,
    /// Median time over the floor's median time (same rows only).
    pub vs_floor: Option<f64>,
    /// The largest peak RSS of its repetitions.
    pub max_rss_kib: u64,
}

impl MethodSummary {
    /// The summary of `runs` (all of one method); `None` when there are none.
    pub fn of(method: Method, label: String, runs: &[&Run]) -> Option<MethodSummary> {
        let first = runs.first()?;
        let secs: Vec<f64> = runs.iter().map(|r| r.secs).collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.rows as f64 / r.secs).collect();
        let secs = Spread::of(&secs)?;
        Some(MethodSummary {
            method,
            label,
            rows: first.rows,
            bytes: first.bytes,
            mb_per_sec: first.bytes as f64 / 1e6 / secs.median,
            rows_per_sec: Spread::of(&rates)?,
            secs,
            vs_ceiling: None,
            vs_floor: None,
            max_rss_kib: runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
        })
    }
}

/// Small file vs the main file, loaded alone into a fresh database.
#[derive(Clone, Debug, Serialize)]
pub struct Scaling {
    pub small_rows: u64,
    pub rows: u64,
    pub small_secs: f64,
    pub secs: f64,
    /// secs / small_secs.
    pub ratio: f64,
    /// rows / small_rows: the ratio of a perfectly linear load.
    pub linear: f64,
}

/// Objects loaded one after the other into one database.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectSeries {
    pub objects: u32,
    pub rows_per_object: u64,
    /// Seconds of object i (claim to commit, from the loader's report) over the repetitions.
    pub per_object_secs: Vec<Spread>,
    pub first_secs: f64,
    pub last_secs: f64,
    /// last / first.
    pub ratio: f64,
}

/// One step of the cost breakdown.
#[derive(Clone, Debug, Serialize)]
pub struct BreakdownStep {
    pub name: String,
    pub secs: Spread,
    /// Its median's share of the sum of the medians.
    pub share: f64,
}

/// A full load taken apart.
#[derive(Clone, Debug, Serialize)]
pub struct Breakdown {
    pub rows: u64,
    pub steps: Vec<BreakdownStep>,
    pub total_secs: f64,
}

/// The original design's row-by-row load.
#[derive(Clone, Debug, Serialize)]
pub struct Legacy {
    pub note: String,
    pub rows_per_file: u64,
    /// The same INSERTs without the trigger: the per-row commit's own cost.
    pub without_trigger: FileLoad,
    pub files: Vec<FileLoad>,
    pub first_rows_per_sec: f64,
    pub last_rows_per_sec: f64,
}

/// The encoder against bare csv-core, from the last criterion run, when there is one.
#[derive(Clone, Debug, Serialize)]
pub struct EncoderFigures {
    pub source: String,
    /// Median time per iteration (ns) of each bench of the `encode` group.
    pub csv_core_ns: f64,
    pub binary_ns: f64,
    pub text_ns: f64,
    /// csv_core_ns / binary_ns: the encoder's speed as a fraction of the bare parser's.
    pub binary_vs_csv_core: f64,
    pub text_vs_csv_core: f64,
}

impl EncoderFigures {
    /// Reads `<criterion>/encode/*/new/estimates.json`.
    pub fn read(criterion: &Path) -> Option<EncoderFigures> {
        let median = |name: &str| -> Option<f64> {
            let path = criterion
                .join("encode")
                .join(name)
                .join("new/estimates.json");
            let text = std::fs::read_to_string(path).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["median"]["point_estimate"].as_f64()
        };
        let csv_core_ns = median("csv_core_read_record")?;
        let binary_ns = median("encoder_binary")?;
        let text_ns = median("encoder_text")?;
        Some(EncoderFigures {
            source: criterion.join("encode").display().to_string(),
            csv_core_ns,
            binary_ns,
            text_ns,
            binary_vs_csv_core: csv_core_ns / binary_ns,
            text_vs_csv_core: csv_core_ns / text_ns,
        })
    }
}

/// One of the design's targets, checked.
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    pub name: String,
    pub target: String,
    pub measured: String,
    /// `None`: not measured in this run.
    pub ok: Option<bool>,
}

/// Everything `e2e.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub settings: serde_json::Value,
    pub total_secs: f64,
    pub load_average_at_end: String,
    /// Whether a CHECKPOINT preceded each timed run.
    pub checkpoints: bool,
    pub runs: Vec<Run>,
    pub methods: Vec<MethodSummary>,
    pub scaling: Option<Scaling>,
    pub objects: Option<ObjectSeries>,
    pub breakdown: Option<Breakdown>,
    pub legacy: Option<Legacy>,
    pub big: Option<Run>,
    pub encoder: Option<EncoderFigures>,
    /// The peers measured, with their versions.
    pub peers: Vec<PeerInfo>,
    /// The second loader binary measured as `baseline`, when one was.
    pub baseline: Option<String>,
    pub targets: Vec<TargetCheck>,
    pub skipped: Vec<String>,
    pub errors: Vec<String>,
}

impl Report {
    pub fn method(&self, method: Method) -> Option<&MethodSummary> {
        self.methods.iter().find(|m| m.method == method)
    }

    /// The design's targets against this run's figures.
    pub fn check_targets(&mut self) {
        let mut targets = Vec::new();
        targets.push(match &self.encoder {
            Some(e) => TargetCheck {
                name: "encoder vs bare csv-core (criterion)".into(),
                target: ">= 0.7x".into(),
                measured: format!(
                    "binary {:.2}x, text {:.2}x",
                    e.binary_vs_csv_core, e.text_vs_csv_core
                ),
                ok: Some(e.binary_vs_csv_core >= 0.7),
            },
            None => unmeasured(
                "encoder vs bare csv-core (criterion)",
                ">= 0.7x",
                "run `cargo bench -p benches --bench encode` first",
            ),
        });
        let s3 = self.method(Method::S3).and_then(|m| m.vs_ceiling);
        targets.push(match s3 {
            Some(x) => TargetCheck {
                name: "full load from local S3 vs psql \\copy ceiling".into(),
                target: "<= 2.0x (team: 1.5x)".into(),
                measured: format!("{x:.2}x{}", if x <= 1.5 { " (meets 1.5x)" } else { "" }),
                ok: Some(x <= 2.0),
            },
            None => unmeasured("full load from local S3 vs ceiling", "<= 2.0x", "skipped"),
        });
        targets.push(match &self.objects {
            Some(o) => TargetCheck {
                name: format!("object {} vs object 1, same database", o.objects),
                target: "<= 1.2x".into(),
                measured: format!(
                    "{:.2}x ({:.2} s vs {:.2} s)",
                    o.ratio, o.last_secs, o.first_secs
                ),
                ok: Some(o.ratio <= 1.2),
            },
            None => unmeasured("object 20 vs object 1", "<= 1.2x", "skipped"),
        });
        targets.push(match &self.scaling {
            Some(s) => TargetCheck {
                name: format!("{} rows vs {} rows", s.rows, s.small_rows),
                target: format!("<= {:.1}x", s.linear * 1.05),
                measured: format!("{:.2}x ({:.2} s vs {:.2} s)", s.ratio, s.secs, s.small_secs),
                ok: Some(s.ratio <= s.linear * 1.05),
            },
            None => unmeasured("N rows vs 100k rows", "<= 10.5x", "skipped"),
        });
        targets.extend(self.peer_targets());
        let mut rss: Vec<(String, u64, u64)> =
            [Method::Small, Method::File, Method::S3, Method::Text]
                .iter()
                .filter_map(|&m| self.method(m))
                .map(|m| (short_label(m.method), m.rows, m.max_rss_kib))
                .collect();
        if let Some(big) = &self.big {
            rss.push((short_label(Method::Big), big.rows, big.max_rss_kib));
        }
        rss.sort_by_key(|r| r.1);
        targets.push(if rss.is_empty() {
            unmeasured("loader peak RSS", "flat, < 64 MiB", "skipped")
        } else {
            let worst = rss.iter().map(|r| r.2).max().unwrap_or(0);
            TargetCheck {
                name: "loader peak RSS by object size".into(),
                target: "flat, < 64 MiB".into(),
                measured: rss
                    .iter()
                    .map(|(what, rows, kib)| {
                        format!("{what} {rows} rows: {:.1} MiB", *kib as f64 / 1024.0)
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                ok: Some(worst < 64 * 1024),
            }
        });
        self.targets = targets;
    }
}

impl Report {
    /// The loader (from a file) against the peers: faster than every peer's same job, within
    /// 2.0x of the fastest raw load, the least memory.
    fn peer_targets(&self) -> Vec<TargetCheck> {
        let Some(loader) = self.method(Method::File) else {
            return vec![unmeasured(
                "loader vs peers",
                "beats every same job",
                "the file load was skipped",
            )];
        };
        let same_rows = |m: &&MethodSummary| m.rows == loader.rows;
        let fastest = |pick: fn(Method) -> bool| {
            self.methods
                .iter()
                .filter(same_rows)
                .filter(|m| pick(m.method))
                .min_by(|a, b| a.secs.median.total_cmp(&b.secs.median))
        };
        let mut targets = Vec::new();
        targets.push(match fastest(Method::is_same_job) {
            Some(best) => TargetCheck {
                name: "full star schema vs every peer's same job".into(),
                target: "faster than the best".into(),
                measured: format!(
                    "{:.2} s vs {:.2} s ({}): {:.2}x faster",
                    loader.secs.median,
                    best.secs.median,
                    best.label,
                    best.secs.median / loader.secs.median
                ),
                ok: Some(loader.secs.median < best.secs.median),
            },
            None => unmeasured(
                "full star schema vs every peer's same job",
                "faster than the best",
                "no peer's same job ran",
            ),
        });
        targets.push(match fastest(Method::is_raw_peer) {
            Some(best) => {
                let x = loader.secs.median / best.secs.median;
                TargetCheck {
                    name: "full star schema vs the fastest raw load".into(),
                    target: "<= 2.0x".into(),
                    measured: format!(
                        "{x:.2}x ({:.2} s vs {:.2} s, {})",
                        loader.secs.median, best.secs.median, best.label
                    ),
                    ok: Some(x <= 2.0),
                }
            }
            None => unmeasured(
                "full star schema vs the fastest raw load",
                "<= 2.0x",
                "no raw load ran",
            ),
        });
        let peers: Vec<&MethodSummary> = self
            .methods
            .iter()
            .filter(same_rows)
            .filter(|m| m.method.is_raw_peer())
            .collect();
        targets.push(if peers.is_empty() {
            unmeasured("least peak RSS", "loader < every peer", "no peer ran")
        } else {
            let least = peers.iter().map(|m| m.max_rss_kib).min().unwrap_or(0);
            let mut measured = format!("loader {}", mib(loader.max_rss_kib));
            for m in &peers {
                let _ = write!(measured, "; {} {}", m.label, mib(m.max_rss_kib));
            }
            TargetCheck {
                name: "least peak RSS (client process)".into(),
                target: "loader < every peer".into(),
                measured,
                ok: Some(loader.max_rss_kib < least),
            }
        });
        targets
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The source of a single-object loader run, for the memory line.
fn short_label(method: Method) -> String {
    match method {
        Method::S3 => "S3",
        Method::Text => "file (text)",
        _ => "file",
    }
    .into()
}

fn unmeasured(name: &str, target: &str, why: &str) -> TargetCheck {
    TargetCheck {
        name: name.into(),
        target: target.into(),
        measured: format!("not measured: {why}"),
        ok: None,
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The report as text tables.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "\n{} | {} cores | {} | {} | load avg at start {}, at end {}",
        m.date, m.nproc, m.cpu_model, m.postgres, m.load_average_at_start, r.load_average_at_end
    );
    let _ = writeln!(
        s,
        "\n{:<50} {:>9} {:>16} {:>12} {:>8} {:>7} {:>7} {:>10}",
        "method", "rows", "seconds (range)", "rows/s", "MB/s", "x ceil", "x floor", "peak RSS"
    );
    let ratio = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
    for x in &r.methods {
        let _ = writeln!(
            s,
            "{:<50} {:>9} {:>16} {:>12} {:>8.1} {:>7} {:>7} {:>10}",
            x.label,
            x.rows,
            format!("{:.2} ({:.2}-{:.2})", x.secs.median, x.secs.min, x.secs.max),
            thousands(x.rows_per_sec.median),
            x.mb_per_sec,
            ratio(x.vs_ceiling),
            ratio(x.vs_floor),
            mib(x.max_rss_kib)
        );
    }
    let _ = writeln!(
        s,
        "(peak RSS: the measured client process; for a same job the larger of the raw \
         loader's and psql's)"
    );
    if !r.peers.is_empty() {
        let _ = writeln!(s, "\npeers:");
        for p in &r.peers {
            let _ = writeln!(s, "  {:<12} {:<44} {}", p.name, p.version, p.how);
        }
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(s, "{b}");
    }
    if let Some(sc) = &r.scaling {
        let _ = writeln!(
            s,
            "\nscaling: {} rows {:.2} s vs {} rows {:.2} s: {:.2}x time for {:.1}x rows",
            sc.rows, sc.secs, sc.small_rows, sc.small_secs, sc.ratio, sc.linear
        );
    }
    if let Some(o) = &r.objects {
        let per: Vec<String> = o
            .per_object_secs
            .iter()
            .map(|x| format!("{:.2}", x.median))
            .collect();
        let _ = writeln!(
            s,
            "\n{} objects of {} rows into one database (median s each): {}\n  object {} / object 1 = {:.2}x",
            o.objects,
            o.rows_per_object,
            per.join(" "),
            o.objects,
            o.ratio
        );
    }
    if let Some(b) = &r.breakdown {
        let _ = writeln!(s, "\ncost breakdown of one load of {} rows:", b.rows);
        for step in &b.steps {
            let _ = writeln!(
                s,
                "  {:<40} {:>7.3} s {:>5.1}%",
                step.name,
                step.secs.median,
                step.share * 100.0
            );
        }
        let _ = writeln!(s, "  {:<40} {:>7.3} s", "total", b.total_secs);
    }
    if let Some(l) = &r.legacy {
        let _ = writeln!(s, "\noriginal design ({}):", l.note);
        let _ = writeln!(
            s,
            "  without the trigger ({} rows, the per-row commit alone): {:.2} s, {:.0} rows/s",
            l.without_trigger.rows, l.without_trigger.secs, l.without_trigger.rows_per_sec
        );
        for f in &l.files {
            let _ = writeln!(
                s,
                "  file {} ({} rows timed, {} staged before them): {:.2} s, {:.0} rows/s",
                f.file, f.rows, f.staged_before, f.secs, f.rows_per_sec
            );
        }
    }
    if let Some(b) = &r.big {
        let _ = writeln!(
            s,
            "\nbig object: {} rows, {:.0} MB in {:.1} s, {} rows/s, peak RSS {:.1} MiB",
            b.rows,
            b.bytes as f64 / 1e6,
            b.secs,
            thousands(b.rows as f64 / b.secs),
            b.max_rss_kib as f64 / 1024.0
        );
    }
    let _ = writeln!(s, "\ntargets:");
    for t in &r.targets {
        let mark = match t.ok {
            Some(true) => "met   ",
            Some(false) => "MISSED",
            None => "n/a   ",
        };
        let _ = writeln!(s, "  {mark} {:<48} {:<20} {}", t.name, t.target, t.measured);
    }
    for skipped in &r.skipped {
        let _ = writeln!(s, "skipped: {skipped}");
    }
    for error in &r.errors {
        let _ = writeln!(s, "ERROR: {error}");
    }
    let _ = writeln!(s, "\ntotal {:.0} s", r.total_secs);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
