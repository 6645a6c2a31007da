//! Bad rows: an independent check of every line must find exactly the manifest's lines and
//! kinds, and the good lines must be the clean run's lines.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{files, run};
use generator::{BadKind, Date, Spec, COLUMNS};

/// Every defect found in one data line, by byte and CSV checks that share no code with the
/// generator.
fn defects(line: &[u8]) -> Vec<(BadKind, Option<&'static str>)> {
    let mut found = Vec::new();
    let fields: Vec<Vec<u8>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line)
        .byte_records()
        .next()
        .expect("one record")
        .expect("readable record")
        .iter()
        .map(<[u8]>::to_vec)
        .collect();
    if line.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
        // The quote opens Product_Name: the text before it has exactly nine commas.
        let open = line.iter().position(|&b| b == b'"').expect("a quote");
        let commas = line[..open].iter().filter(|&&b| b == b',').count();
        assert_eq!(commas, 9, "the open quote starts Product_Name");
        found.push((BadKind::UnterminatedQuote, Some(COLUMNS[9])));
        return found; // The rest of the line is one field; nothing else can be checked.
    }
    if fields.len() != 17 {
        found.push((BadKind::RaggedRow, None));
        return found;
    }
    for (i, field) in fields.iter().enumerate() {
        if std::str::from_utf8(field).is_err() {
            assert!(field.windows(2).any(|w| w == [0xFF, 0xFE]));
            found.push((BadKind::InvalidUtf8, Some(COLUMNS[i])));
        }
    }
    let text = |i: usize| String::from_utf8_lossy(&fields[i]).into_owned();
    if text(1).parse::<Date>().is_err() {
        found.push((BadKind::BadDate, Some(COLUMNS[1])));
    }
    if common::cents(&text(3)).is_none() {
        found.push((BadKind::BadNumber, Some(COLUMNS[3])));
    }
    match text(12).parse::<i64>() {
        Ok(q) if i16::try_from(q).is_err() => {
            found.push((BadKind::SmallintOverflow, Some(COLUMNS[12])));
        }
        Ok(q) => assert!((1..=10).contains(&q)),
        Err(_) => panic!("Quantity_Sold is not an integer"),
    }
    found
}

/// `(file, line) -> (kind, column)` for every bad line found.
type BadLines = BTreeMap<(String, u64), (BadKind, Option<String>)>;

fn check_files(files: &BTreeMap<String, Vec<u8>>) -> BadLines {
    let mut bad = BTreeMap::new();
    for (name, bytes) in files {
        let body = bytes.strip_suffix(b"\n").expect("ends with LF");
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        for (i, line) in lines.iter().enumerate().skip(1) {
            let found = defects(line);
            assert!(
                found.len() <= 1,
                "{name}:{} has several defects: {found:?}",
                i + 1
            );
            if let Some((kind, column)) = found.into_iter().next() {
                if kind == BadKind::UnterminatedQuote {
                    assert_eq!(
                        i + 1,
                        lines.len(),
                        "unterminated quote only on the last line"
                    );
                }
                bad.insert(
                    (name.clone(), i as u64 + 1),
                    (kind, column.map(String::from)),
                );
            }
        }
    }
    bad
}

fn spec() -> Spec {
    Spec {
        rows: 9_000,
        files: 3,
        dirty: 0.02,
        ..Spec::default()
    }
}

#[tokio::test]
async fn the_manifest_lists_exactly_the_bad_lines() {
    let (dir, summary) = run(&spec()).await;
    let found = check_files(&files(dir.path()));
    let manifest = common::manifest(dir.path());
    let listed: BadLines = manifest
        .bad_rows
        .iter()
        .map(|b| ((b.file.clone(), b.line), (b.kind, b.column.clone())))
        .collect();
    assert_eq!(
        listed.len(),
        manifest.bad_rows.len(),
        "no line listed twice"
    );
    assert_eq!(found, listed);

    // 2% of 3,000 rows per file, every kind present, one unterminated quote per file.
    assert_eq!(manifest.bad_rows.len(), 180);
    let kinds: BTreeSet<BadKind> = manifest.bad_rows.iter().map(|b| b.kind).collect();
    assert_eq!(kinds, BadKind::ALL.into_iter().collect());
    let unterminated = manifest
        .bad_rows
        .iter()
        .filter(|b| b.kind == BadKind::UnterminatedQuote)
        .count();
    assert_eq!(unterminated, 3);
    assert_eq!((manifest.seed, manifest.dirty), (42, 0.02));

    // Transaction ids in the manifest match the lines' ids, and bad rows are not counted.
    for bad in &manifest.bad_rows {
        let id: u64 = bad.transaction_id["TXN".len()..]
            .parse()
            .expect("id number");
        let file_index = bad.file[5..10].parse::<u32>().expect("file number") - 1;
        assert_eq!(id, spec().file_first_id(file_index) + bad.line - 2);
    }
    assert_eq!(summary.total.bad_rows, 180);
    assert_eq!(summary.total.rows, 9_000 - 180);
    for file in &summary.files {
        assert_eq!(file.figures.rows + file.figures.bad_rows, 3_000);
    }
}

#[tokio::test]
async fn good_lines_are_the_clean_runs_lines() {
    let (dirty_dir, _) = run(&spec()).await;
    let (clean_dir, _) = run(&Spec {
        dirty: 0.0,
        ..spec()
    })
    .await;
    let clean_manifest = common::manifest(clean_dir.path());
    assert!(clean_manifest.bad_rows.is_empty());
    let bad: BTreeSet<(String, u64)> = common::manifest(dirty_dir.path())
        .bad_rows
        .into_iter()
        .map(|b| (b.file, b.line))
        .collect();
    let (dirty, clean) = (files(dirty_dir.path()), files(clean_dir.path()));
    for (name, bytes) in &dirty {
        let clean_lines: Vec<&[u8]> = clean[name].split(|&b| b == b'\n').collect();
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if !bad.contains(&(name.clone(), i as u64 + 1)) {
                assert_eq!(line, clean_lines[i], "{name}:{}", i + 1);
            }
        }
    }
}

#[tokio::test]
async fn small_files_get_no_unterminated_quote_but_other_kinds() {
    let spec = Spec {
        rows: 500,
        dirty: 0.01,
        ..Spec::default()
    };
    let (dir, _) = run(&spec).await;
    let manifest = common::manifest(dir.path());
    let kinds: Vec<BadKind> = manifest.bad_rows.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BadKind::BadDate,
            BadKind::BadNumber,
            BadKind::SmallintOverflow,
            BadKind::RaggedRow,
            BadKind::InvalidUtf8
        ]
    );
    assert_eq!(check_files(&files(dir.path())).len(), 5);
}
