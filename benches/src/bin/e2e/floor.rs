//! The true floor: what the server needs for the rows in the format the loader sends them.
//! The loader's own encoder turns the file into COPY BINARY rows once (with the `load_id`
//! column, as a load sends them), into a file; each repetition then times only
//! `psql \copy staging_raw (...) FROM 'rows.pgcopy' (FORMAT binary)` into an untriggered,
//! unindexed copy of `staging_table` in a fresh database. Beside the `\copy` CSV ceiling,
//! which makes the server parse CSV text, it is the lower bound a loader that sends binary
//! rows can approach.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use loader::{CopyFormat, EncodeOptions, Encoder};
use standins::LocalPostgres;

use crate::check::{self, Fingerprint};
use crate::measure;
use crate::methods::{self, Timed};
use crate::peers::{self, RAW_TABLE};

/// The `load_id` every encoded row carries.
const LOAD_ID: i64 = 1;

/// Encodes `csv` into `out` as COPY BINARY rows; returns the rows.
///
/// # Errors
/// The file cannot be read or written, or the encoder refuses a row.
pub fn encode(csv: &Path, out: &Path) -> Result<u64> {
    let mut input =
        std::fs::File::open(csv).with_context(|| format!("reading {}", csv.display()))?;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut encoder = Encoder::new(EncodeOptions {
        format: CopyFormat::Binary,
        load_id: Some(LOAD_ID),
        ..EncodeOptions::default()
    });
    let mut chunk = vec![0; 256 * 1024];
    let mut rows = BytesMut::with_capacity(512 * 1024);
    loop {
        let n = input.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        encoder
            .encode(&chunk[..n], &mut rows)
            .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
        writer.write_all(&rows)?;
        rows.clear();
    }
    let summary = encoder
        .finish(&mut rows)
        .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
    writer.write_all(&rows)?;
    writer.flush()?;
    Ok(summary.rows)
}

/// One timed `\copy ... (FORMAT binary)` of `rows_file` into a fresh database's
/// `staging_raw`, whose contents are then checked against `expected`.
///
/// # Errors
/// psql fails, or the table does not hold the file's rows.
pub async fn run(
    pg: &'static LocalPostgres,
    rows_file: &Path,
    expected: &Fingerprint,
) -> Result<Timed> {
    let path = rows_file.display().to_string();
    if path.contains('\'') {
        bail!("{path}: a quote in the path cannot be given to psql \\copy");
    }
    let db = peers::raw_db(pg, "e2e_floor").await?;
    let mut cmd = standins::psql_command(db.url())?;
    cmd.arg("-c").arg(format!(
        "\\copy {RAW_TABLE} ({}, load_id) FROM '{path}' WITH (FORMAT binary)",
        peers::csv_columns()
    ));
    methods::checkpoint(pg).await;
    let done = tokio::task::spawn_blocking(move || measure::run(&mut cmd)).await??;
    let client = db.connect().await?;
    check::raw(&client, RAW_TABLE, expected).await?;
    drop(client);
    db.cleanup().await?;
    Ok(Timed {
        secs: done.secs,
        max_rss_kib: done.max_rss_kib,
        objects: Vec::new(),
        lock_share: 0.0,
    })
}
