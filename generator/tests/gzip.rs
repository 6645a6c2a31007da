//! `.csv.gz` output decompresses to exactly the plain output.

mod common;

use common::{files, gunzip, raw_files, run};
use generator::Spec;

#[tokio::test]
async fn gzip_output_decompresses_to_the_plain_bytes() {
    let plain_spec = Spec {
        rows: 50_000,
        files: 2,
        dirty: 0.001,
        ..Spec::default()
    };
    let gzip_spec = Spec {
        gzip: true,
        ..plain_spec.clone()
    };
    let (plain, plain_summary) = run(&plain_spec).await;
    let (gz, gz_summary) = run(&gzip_spec).await;

    let plain_files = files(plain.path());
    let raw = raw_files(gz.path());
    for (name, bytes) in &plain_files {
        let gz_name = format!("{name}.gz");
        let compressed = &raw[&gz_name];
        assert_eq!(&gunzip(compressed), bytes, "{gz_name}");
        assert!(
            compressed.len() < bytes.len() / 2,
            "{gz_name} is compressed"
        );
    }
    for (p, g) in plain_summary.files.iter().zip(&gz_summary.files) {
        assert_eq!(g.file, format!("{}.gz", p.file));
        assert_eq!(g.figures.csv_bytes, p.figures.csv_bytes);
        assert_eq!(g.figures.bytes, raw[&g.file].len() as u64);
        assert_eq!(p.figures.bytes, p.figures.csv_bytes);
        assert_eq!(g.figures.rows, p.figures.rows);
        assert_eq!(g.figures.total_amount_cents, p.figures.total_amount_cents);
    }
    let manifest = common::manifest(gz.path());
    // 0.1% of 50,000 rows are planted bad: the manifest must name them.
    assert!(manifest.bad_rows.len() >= 10, "{}", manifest.bad_rows.len());
    for bad in &manifest.bad_rows {
        assert!(bad.file.ends_with(".csv.gz"), "{}", bad.file);
    }
}
