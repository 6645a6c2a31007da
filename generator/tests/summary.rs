//! The summary's figures equal what the files hold, recomputed independently.

mod common;

use std::collections::BTreeSet;

use common::{files, id_number, records, run};
use generator::{Figures, Spec};

/// Figures of the good rows of some files (bad lines dropped by line number).
fn recompute<'a>(
    files: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
    bad: &BTreeSet<(String, u64)>,
) -> Figures {
    let mut figures = Figures::default();
    let (mut stores, mut products, mut customers, mut dates) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for (name, bytes) in files {
        figures.csv_bytes += bytes.len() as u64;
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate().skip(1) {
            if line.is_empty() {
                continue;
            }
            if bad.contains(&(name.clone(), i as u64 + 1)) {
                figures.bad_rows += 1;
                continue;
            }
            let mut with_lf = line.to_vec();
            with_lf.push(b'\n');
            let record = &records(&with_lf)[0];
            figures.rows += 1;
            figures.total_amount_cents += common::cents(&record[3]).expect("amount");
            let id = id_number(&record[0]);
            figures.min_transaction_id = Some(figures.min_transaction_id.map_or(id, |m| m.min(id)));
            figures.max_transaction_id = Some(figures.max_transaction_id.map_or(id, |m| m.max(id)));
            stores.insert(record[5].to_string());
            products.insert(record[8].to_string());
            if !record[13].is_empty() {
                customers.insert(record[13].to_string());
            }
            dates.insert(record[1].to_string());
        }
    }
    figures.bytes = figures.csv_bytes;
    figures.distinct_stores = stores.len() as u64;
    figures.distinct_products = products.len() as u64;
    figures.distinct_customers = customers.len() as u64;
    figures.distinct_dates = dates.len() as u64;
    figures
}

#[tokio::test]
async fn figures_match_the_files_per_file_and_overall() {
    let spec = Spec {
        rows: 40_000,
        files: 3,
        customers: 20_000,
        drift: 0.02,
        dirty: 0.005,
        start_id: 77,
        ..Spec::default()
    };
    let (dir, summary) = run(&spec).await;
    let files = files(dir.path());
    let bad: BTreeSet<(String, u64)> = common::manifest(dir.path())
        .bad_rows
        .into_iter()
        .map(|b| (b.file, b.line))
        .collect();
    assert!(!bad.is_empty());

    assert_eq!(summary.files.len(), 3);
    for file in &summary.files {
        let one = recompute([(&file.file, &files[&file.file])], &bad);
        assert_eq!(file.figures, one, "{}", file.file);
        assert_eq!(
            file.figures.bytes,
            std::fs::metadata(dir.path().join(&file.file))
                .expect("file")
                .len()
        );
    }
    assert_eq!(summary.total, recompute(&files, &bad));
    assert_eq!(summary.spec, spec);
    assert_eq!(summary.output, dir.path().display().to_string());
    // Distinct totals are a union, not a sum.
    let summed: u64 = summary
        .files
        .iter()
        .map(|f| f.figures.distinct_customers)
        .sum();
    assert!(summary.total.distinct_customers < summed);
}

#[tokio::test]
async fn summary_json_round_trips() {
    let (dir, summary) = run(&Spec {
        rows: 100,
        ..Spec::default()
    })
    .await;
    let out = generator::Output::Dir(dir.path().to_path_buf());
    let written = generator::write_summary(&out, &summary)
        .await
        .expect("written");
    assert_eq!(
        written,
        dir.path().join("summary.json").display().to_string()
    );
    let text = std::fs::read_to_string(&written).expect("summary.json");
    let back: generator::Summary = serde_json::from_str(&text).expect("valid summary");
    assert_eq!(back, summary);
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for field in [
        "rows",
        "bad_rows",
        "bytes",
        "csv_bytes",
        "total_amount_cents",
        "min_transaction_id",
        "max_transaction_id",
        "distinct_stores",
        "distinct_products",
        "distinct_customers",
        "distinct_dates",
    ] {
        assert!(json["total"].get(field).is_some(), "total.{field}");
        assert!(json["files"][0].get(field).is_some(), "files[0].{field}");
    }
    assert_eq!(json["files"][0]["file"], "part-00001.csv");
}
