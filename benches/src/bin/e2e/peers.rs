//! The loaders a user would pick instead, run as their users run them, on the same file and
//! server: `psql \copy`, pgloader, Sling, DuckDB's postgres extension and psycopg 3's COPY.
//! Each loads the raw rows into `staging_raw`, an untriggered copy of `staging_table` in a
//! fresh database; its rows are checked against the file's own figures before its time
//! counts. Then, for the "same job", the star-schema SQL its user would write
//! (`benches/peers/star.sql`) runs by psql on those rows, timed and checked in turn.
//!
//! `benches/peers/setup.sh` installs them; a peer that is not installed is skipped, and the
//! run says so. The Python peers and Sling come from the virtualenv the script makes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use standins::{LocalPostgres, TestDb};

use crate::check::{self, Fingerprint};
use crate::data::DataFile;
use crate::measure;
use crate::methods::{self, Timed};
use crate::report::Method;

/// The table every peer loads into.
pub const RAW_TABLE: &str = "staging_raw";

/// The 17 CSV columns, in the file's order.
pub fn csv_columns() -> String {
    loader::columns::COLUMNS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A peer loader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Psql,
    Duckdb,
    Psycopg,
    Sling,
    Pgloader,
}

impl Peer {
    pub const ALL: [Peer; 5] = [
        Peer::Psql,
        Peer::Duckdb,
        Peer::Psycopg,
        Peer::Sling,
        Peer::Pgloader,
    ];

    /// The method of its raw load.
    pub fn raw_method(self) -> Method {
        match self {
            Peer::Psql => Method::Ceiling,
            Peer::Duckdb => Method::Duckdb,
            Peer::Psycopg => Method::Psycopg,
            Peer::Sling => Method::Sling,
            Peer::Pgloader => Method::Pgloader,
        }
    }

    /// The method of its raw load followed by the star-schema SQL.
    pub fn star_method(self) -> Method {
        match self {
            Peer::Psql => Method::PsqlStar,
            Peer::Duckdb => Method::DuckdbStar,
            Peer::Psycopg => Method::PsycopgStar,
            Peer::Sling => Method::SlingStar,
            Peer::Pgloader => Method::PgloaderStar,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Peer::Psql => "psql \\copy",
            Peer::Duckdb => "DuckDB",
            Peer::Psycopg => "psycopg",
            Peer::Sling => "Sling",
            Peer::Pgloader => "pgloader",
        }
    }

    /// How it loads, for the table.
    pub fn how(self) -> &'static str {
        match self {
            Peer::Psql => "psql -c \"\\copy staging_raw (...) FROM 'f.csv' CSV HEADER\"",
            Peer::Duckdb => {
                "postgres extension: INSERT INTO pg.staging_raw SELECT * FROM read_csv(f, \
                 columns = the staging types) (COPY binary underneath)"
            }
            Peer::Psycopg => "cursor.copy(\"COPY staging_raw (...) FROM STDIN (FORMAT csv, HEADER)\"), 1 MiB writes",
            Peer::Sling => {
                "sling run --src-stream file://f.csv --mode truncate, SLING_DIRECT_INSERT=true, \
                 empty_as_null"
            }
            Peer::Pgloader => "LOAD CSV ... INTO postgresql://...?staging_raw, defaults",
        }
    }
}

/// An installed peer: how to start it and its version.
#[derive(Clone, Debug)]
pub struct PeerTool {
    pub peer: Peer,
    pub program: PathBuf,
    /// Arguments before the peer's own (the Python script).
    pub prefix: Vec<OsString>,
    pub version: String,
}

/// A peer as the report records it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    pub peer: Peer,
    pub name: String,
    pub version: String,
    pub how: String,
    pub program: String,
}

impl PeerTool {
    pub fn info(&self) -> PeerInfo {
        let mut program = self.program.display().to_string();
        for arg in &self.prefix {
            program.push(' ');
            program.push_str(&arg.to_string_lossy());
        }
        PeerInfo {
            peer: self.peer,
            name: self.peer.name().into(),
            version: self.version.clone(),
            how: self.peer.how().into(),
            program,
        }
    }
}

/// Finds the installed peers; returns them and a line for each one that is missing.
pub fn discover(scripts: &Path, venv: &Path) -> (Vec<PeerTool>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for peer in Peer::ALL {
        match find(peer, scripts, venv) {
            Ok(tool) => found.push(tool),
            Err(e) => missing.push(format!(
                "{}: not installed ({e:#}); `bash benches/peers/setup.sh` installs it",
                peer.name()
            )),
        }
    }
    (found, missing)
}

fn find(peer: Peer, scripts: &Path, venv: &Path) -> Result<PeerTool> {
    let python = venv.join("bin/python");
    let tool = |program: PathBuf, prefix: Vec<OsString>, version: String| PeerTool {
        peer,
        program,
        prefix,
        version,
    };
    match peer {
        Peer::Psql => {
            let psql = standins::psql_command("postgres://localhost")?;
            let program = PathBuf::from(psql.get_program());
            let version = first_line(Command::new(&program).arg("--version"))?;
            Ok(tool(program, Vec::new(), version))
        }
        Peer::Pgloader => {
            let program = on_path("pgloader").context("no pgloader on PATH")?;
            let reported = first_line(Command::new(&program).arg("--version"))?;
            let version = match first_line(Command::new("dpkg-query").args([
                "-W",
                "-f=${Version}",
                "pgloader",
            ])) {
                Ok(package) => format!("{package} (Debian package; it reports {reported})"),
                Err(_) => reported,
            };
            Ok(tool(program, Vec::new(), version))
        }
        Peer::Sling => {
            let program = sling_binary(venv)?;
            let version = first_line(Command::new(&program).arg("--version"))?;
            let version = version.trim_start_matches("Version:").trim().to_string();
            Ok(tool(program, Vec::new(), version))
        }
        Peer::Duckdb => {
            let script = scripts.join("duckdb_load.py");
            let version = first_line(Command::new(&python).args([
                "-c",
                "import duckdb; c = duckdb.connect(); c.execute('LOAD postgres'); \
                 print(duckdb.__version__, 'with its postgres extension')",
            ]))?;
            Ok(tool(python, vec![script.into()], version))
        }
        Peer::Psycopg => {
            let script = scripts.join("psycopg_load.py");
            let version = first_line(Command::new(&python).args([
                "-c",
                "import psycopg; print(psycopg.__version__, '(' + psycopg.pq.__impl__ + ' libpq wrapper)')",
            ]))?;
            Ok(tool(python, vec![script.into()], version))
        }
    }
}

/// The Sling binary the `sling-linux-amd64` wheel ships (its `sling` Python wrapper would
/// be a second process around it, and measured instead of it).
fn sling_binary(venv: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SLING_BINARY") {
        return Ok(path.into());
    }
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).with_context(|| format!("no {}", lib.display()))?;
    for entry in entries.flatten() {
        let candidate = entry
            .path()
            .join("site-packages/sling_linux_amd64/bin/sling-linux-amd64");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("no sling_linux_amd64 in {}", lib.display())
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The first line a command prints on stdout (or stderr), when it succeeds.
fn first_line(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// One repetition of a peer: its raw load and, when asked, the same job.
pub struct PeerRun {
    pub raw: Timed,
    pub star: Option<Result<Timed>>,
}

/// A fresh database with the loader's schema (the star schema's tables, empty) and an empty
/// untriggered `staging_raw`.
pub async fn raw_db(pg: &LocalPostgres, prefix: &str) -> Result<TestDb> {
    let db = methods::fresh_db(pg, prefix).await?;
    db.connect()
        .await?
        .batch_execute(&format!(
            "CREATE TABLE {RAW_TABLE} (LIKE staging_table INCLUDING DEFAULTS)"
        ))
        .await
        .context("creating staging_raw")?;
    Ok(db)
}

/// Runs `tool` once on `file` into a fresh database, then `star_sql` when given.
///
/// # Errors
/// The peer fails or its rows differ from `expected`; a failure of the star SQL is returned
/// in [`PeerRun::star`].
pub async fn run(
    pg: &'static LocalPostgres,
    tool: &PeerTool,
    file: &DataFile,
    expected: &Fingerprint,
    star_sql: Option<&Path>,
    work: &Path,
) -> Result<PeerRun> {
    let prefix = format!("e2e_{:?}", tool.peer).to_lowercase();
    let db = raw_db(pg, &prefix).await?;
    let mut cmd = command(tool, db.url(), &file.path, work)?;
    methods::checkpoint(pg).await;
    let done = tokio::task::spawn_blocking(move || measure::run(&mut cmd)).await??;
    let client = db.connect().await?;
    check::raw(&client, RAW_TABLE, expected)
        .await
        .with_context(|| format!("{} loaded wrong data", tool.peer.name()))?;
    let raw = Timed {
        secs: done.secs,
        max_rss_kib: done.max_rss_kib,
        objects: Vec::new(),
        lock_share: 0.0,
    };
    let star = match star_sql {
        Some(sql) => Some(
            async {
                let mut psql = standins::psql_command(db.url())?;
                psql.arg("-q").arg("-f").arg(sql);
                let done = tokio::task::spawn_blocking(move || measure::run(&mut psql)).await??;
                check::star(&client, &file.figures, expected)
                    .await
                    .context("the star-schema SQL built a wrong star schema")?;
                Ok::<_, anyhow::Error>(Timed {
                    secs: done.secs,
                    max_rss_kib: done.max_rss_kib,
                    objects: Vec::new(),
                    lock_share: 0.0,
                })
            }
            .await,
        ),
        None => None,
    };
    drop(client);
    db.cleanup().await?;
    Ok(PeerRun { raw, star })
}

/// The command that loads `file` into `staging_raw` of the database at `url`.
fn command(tool: &PeerTool, url: &str, file: &Path, work: &Path) -> Result<Command> {
    let path = file.display().to_string();
    if path.contains('\'') {
        bail!("{path}: a quote in the path cannot be given to the peers");
    }
    let mut cmd = Command::new(&tool.program);
    cmd.args(&tool.prefix);
    match tool.peer {
        Peer::Psql => {
            cmd = standins::psql_command(url)?;
            cmd.arg("-c").arg(format!(
                "\\copy {RAW_TABLE} ({}) FROM '{path}' CSV HEADER",
                csv_columns()
            ));
        }
        Peer::Duckdb | Peer::Psycopg => {
            cmd.arg(url).arg(file).arg(RAW_TABLE);
        }
        Peer::Sling => {
            let url = with_query(url, "sslmode=disable");
            cmd.args(["run", "--src-stream"])
                .arg(format!("file://{path}"))
                .args(["--src-options", "{empty_as_null: true}", "--tgt-conn"])
                .arg(url)
                .args(["--tgt-object"])
                .arg(format!("public.{RAW_TABLE}"))
                .args(["--mode", "truncate"])
                .env("SLING_DIRECT_INSERT", "true")
                // Without it Sling adds a column of its own to the table.
                .env("SLING_LOADED_AT_COLUMN", "false")
                .env("SLING_DISABLE_TELEMETRY", "true");
        }
        Peer::Pgloader => {
            std::fs::create_dir_all(work)?;
            let base = url.split('?').next().unwrap_or(url);
            let script = work.join("pgloader.load");
            std::fs::write(
                &script,
                format!(
                    "LOAD CSV\n  FROM '{path}'\n  INTO {base}?{RAW_TABLE}\n  ({})\n  WITH skip \
                     header = 1, fields optionally enclosed by '\"', fields escaped by \
                     double-quote, fields terminated by ',';\n",
                    csv_columns()
                ),
            )?;
            cmd.arg("--no-ssl-cert-verification")
                .arg("--logfile")
                .arg(work.join("pgloader.log"))
                .arg(&script);
        }
    }
    Ok(cmd)
}

/// `url` with `param` added to its query string, unless the URL sets that key already.
fn with_query(url: &str, param: &str) -> String {
    let key = param.split('=').next().unwrap_or(param);
    if url.contains(&format!("{key}=")) {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_a_query_parameter_once() {
        assert_eq!(
            with_query("postgres://h/db", "sslmode=disable"),
            "postgres://h/db?sslmode=disable"
        );
        assert_eq!(
            with_query("postgres://h/db?user=x", "sslmode=disable"),
            "postgres://h/db?user=x&sslmode=disable"
        );
        assert_eq!(
            with_query("postgres://h/db?sslmode=require", "sslmode=disable"),
            "postgres://h/db?sslmode=require"
        );
    }

    #[test]
    fn every_peer_has_two_methods() {
        for peer in Peer::ALL {
            assert_ne!(peer.raw_method(), peer.star_method());
        }
    }
}
