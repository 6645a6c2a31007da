//! RFC 4180 quoting survives a round trip through the `csv` crate.

mod common;

use common::{files, records, run};
use generator::Spec;

#[tokio::test]
async fn every_row_has_17_fields_and_quoted_names_come_back_intact() {
    let (dir, _) = run(&Spec {
        rows: 20_000,
        ..Spec::default()
    })
    .await;
    let bytes = &files(dir.path())["part-00001.csv"];
    // `records` uses a strict reader: a row with another field count is an error.
    let rows = records(bytes);
    assert_eq!(rows.len(), 20_001);
    assert!(rows.iter().all(|r| r.len() == 17));

    let with_comma: Vec<&str> = rows[1..]
        .iter()
        .map(|r| &r[9])
        .filter(|n| n.contains(','))
        .collect();
    let with_quote: Vec<&str> = rows[1..]
        .iter()
        .map(|r| &r[9])
        .filter(|n| n.contains('"'))
        .collect();
    assert!(!with_comma.is_empty() && !with_quote.is_empty());
    // The raw text holds them quoted, with doubled inner quotes.
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    for name in with_comma.iter().chain(&with_quote).take(50) {
        let quoted = format!(",\"{}\",", name.replace('"', "\"\""));
        assert!(text.contains(&quoted), "{quoted} not found");
    }
    assert!(rows[1..].iter().any(|r| &r[10] == "Home & Kitchen"));
    // Nothing but product names is ever quoted.
    let quoted_lines = text.lines().filter(|l| l.contains('"')).count();
    let quoted_names = rows[1..]
        .iter()
        .filter(|r| r[9].contains([',', '"']))
        .count();
    assert_eq!(quoted_lines, quoted_names);
}
