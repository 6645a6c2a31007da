//! Helpers shared by the integration tests: run the generator into a temp dir, read files back.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::BTreeMap;
use std::path::Path;

use generator::{generate, Manifest, Output, Spec, Summary};

/// Runs `spec` into a fresh temporary directory.
pub async fn run(spec: &Spec) -> (tempfile::TempDir, Summary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = generate(spec, &Output::Dir(dir.path().to_path_buf()), None)
        .await
        .expect("generation succeeds");
    (dir, summary)
}

/// Every file of the directory's run, by name, decompressed when gzipped.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("part-") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("readable file");
        let bytes = if name.ends_with(".gz") {
            gunzip(&bytes)
        } else {
            bytes
        };
        files.insert(name, bytes);
    }
    files
}

/// The raw bytes of the directory's files, by name (no decompression).
pub fn raw_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|entry| {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).expect("readable file"))
        })
        .collect()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

pub fn manifest(dir: &Path) -> Manifest {
    let text = std::fs::read(dir.join("manifest.json")).expect("manifest.json exists");
    serde_json::from_slice(&text).expect("valid manifest")
}

/// All records of a CSV file, header first, parsed strictly (every record must have the same
/// number of fields).
pub fn records(bytes: &[u8]) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|record| record.expect("valid CSV record"))
        .collect()
}

/// A stable 64-bit FNV-1a checksum (std's hasher may change between Rust releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Parses `123.45` into cents, strictly.
pub fn cents(text: &str) -> Option<i64> {
    let (units, fraction) = text.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(units) || fraction.len() != 2 || !digits(fraction) {
        return None;
    }
    Some(units.parse::<i64>().ok()? * 100 + fraction.parse::<i64>().ok()?)
}

/// `TXN000042` -> 42.
pub fn id_number(text: &str) -> u64 {
    text.strip_prefix("TXN")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad transaction id {text}"))
}
