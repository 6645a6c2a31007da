//! Loads against a real PostgreSQL and a real S3 API endpoint: every source
//! gives the same star schema, a second load commits nothing, bad rows fail
//! the object (or are set aside with --max-rejects) and nothing partial is
//! ever committed.

mod support;

use std::io::Write;
use std::process::Stdio;

use generator::Spec;
use loader::{Outcome, Source};
use support::*;

fn spec(rows: u64, files: u32, seed: u64) -> Spec {
    Spec {
        rows,
        files,
        seed,
        drift: 0.05,
        ..Spec::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_gives_the_same_star_schema_and_a_second_load_skips() {
    let spec = spec(30_000, 3, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let files: Vec<_> = generated_paths(dir.path(), &summary);
    let (s3, client) = local_s3("lake");
    for f in &files {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        put(
            &client,
            "lake",
            &format!("in/{name}"),
            std::fs::read(f).expect("read"),
        )
        .await;
    }

    let mut dumps = Vec::new();
    for how in ["files", "directory", "stdin", "s3 keys", "s3 prefix"] {
        let (db, pg) = fresh_db("sources").await;
        let args: Vec<String> = match how {
            "files" => files.iter().map(|f| f.display().to_string()).collect(),
            "directory" => vec![dir.path().display().to_string()],
            "stdin" => vec!["-".into()],
            "s3 keys" => summary
                .files
                .iter()
                .map(|f| format!("s3://lake/in/{}", f.file))
                .collect(),
            _ => vec!["s3://lake/in/".into()],
        };
        for round in 0..2 {
            let mut cmd = loader_cmd(&db, Some(&s3));
            cmd.arg("load")
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let output = if how == "stdin" {
                cmd.stdin(Stdio::piped());
                let mut child = cmd.spawn().expect("spawn loader");
                let mut stdin = child.stdin.take().expect("stdin");
                for f in &files {
                    // Three files' rows through one stdin: skip the later headers.
                    let text = std::fs::read_to_string(f).expect("read");
                    let body = if f == &files[0] {
                        text.as_str()
                    } else {
                        text.split_once('\n').expect("header").1
                    };
                    stdin.write_all(body.as_bytes()).expect("write stdin");
                }
                drop(stdin);
                child.wait_with_output().expect("loader output")
            } else {
                cmd.output().expect("run loader")
            };
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{how}: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let expected_objects = if how == "stdin" { 1 } else { files.len() };
            let word = if round == 0 { "loaded " } else { "skipped " };
            assert_eq!(
                stdout.lines().filter(|l| l.starts_with(word)).count(),
                expected_objects,
                "{how} round {round}: {stdout}"
            );
        }
        let total = &summary.total;
        assert_eq!(
            count(&pg, "SELECT count(*) FROM facts").await,
            total.rows as i64,
            "{how}"
        );
        assert_eq!(
            count(&pg, "SELECT count(*) FROM staging_table").await,
            total.rows as i64
        );
        let cents = count(&pg, "SELECT (sum(total_amount) * 100)::bigint FROM facts").await;
        assert_eq!(cents, total.total_amount_cents, "{how}");
        let stores = count(&pg, "SELECT count(*) FROM dim_stores").await;
        assert_eq!(stores, total.distinct_stores as i64);
        let products = count(&pg, "SELECT count(*) FROM dim_products").await;
        assert_eq!(products, total.distinct_products as i64);
        let customers = count(&pg, "SELECT count(*) FROM dim_customers").await;
        assert_eq!(customers, total.distinct_customers as i64);
        let dates = count(&pg, "SELECT count(*) FROM dim_dates").await;
        assert_eq!(dates, total.distinct_dates as i64);
        let loaded = count(
            &pg,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'",
        )
        .await;
        assert_eq!(loaded, if how == "stdin" { 1 } else { 3 });
        assert_verified(&pg).await;
        let verify = loader_cmd(&db, None)
            .arg("verify")
            .output()
            .expect("verify");
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stdout)
        );
        dumps.push((how, star_dump(&pg).await));
    }
    for (how, dump) in &dumps[1..] {
        assert!(dump == &dumps[0].1, "{how} differs from {}", dumps[0].0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_objects_load_like_plain_ones() {
    let plain_spec = spec(5_000, 1, 11);
    let (s3, client) = local_s3("lake");
    put(&client, "lake", "a.csv", file_bytes(&plain_spec, 0)).await;
    put(
        &client,
        "lake",
        "b.csv.gz",
        gzip(&file_bytes(&plain_spec, 0)),
    )
    .await;
    let (db_a, pg_a) = fresh_db("gzip").await;
    let (db_b, pg_b) = fresh_db("gzip").await;
    let mut la = lib_loader(&db_a, Some(client.clone()), test_options());
    let mut lb = lib_loader(&db_b, Some(client.clone()), test_options());
    let ra = la.load(&Source::s3("lake", "a.csv")).await.expect("plain");
    let rb = lb
        .load(&Source::s3("lake", "b.csv.gz"))
        .await
        .expect("gzip");
    assert_eq!((ra.rows, rb.rows), (5_000, 5_000));
    assert!(rb.bytes < ra.bytes, "gzip counted in compressed bytes");
    assert_eq!(star_dump(&pg_a).await, star_dump(&pg_b).await);
    drop(s3);
}

/// The same rows with their transaction ids in no order (as UUIDs or hashes
/// would come) take the trigger's other way of inserting the facts, in key
/// order: the star schema and the ledger must be exactly those of the rows in
/// order. (A batch that repeats an id takes the third way, which sorts every
/// batch alike: the concurrency and dimension tests cover it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_in_no_order_give_the_star_schema_of_the_same_rows_in_order() {
    let text = String::from_utf8(file_bytes(&spec(30_000, 1, 23), 0)).expect("utf-8");
    let (header, body) = text.split_once('\n').expect("header");
    let in_order: Vec<&str> = body.lines().collect();
    let n = in_order.len();
    assert_ne!(n % 7919, 0, "the stride must visit every row");
    let shuffled: Vec<&str> = (0..n).map(|i| in_order[i * 7919 % n]).collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let mut dumps = Vec::new();
    for (name, lines) in [("in-order.csv", &in_order), ("shuffled.csv", &shuffled)] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{header}\n{}\n", lines.join("\n"))).expect("write");
        let (db, pg) = fresh_db("shuffled").await;
        let mut loader = lib_loader(&db, None, test_options());
        let report = loader.load(&Source::File(path)).await.expect(name);
        assert_eq!(report.outcome, Outcome::Loaded, "{name}");
        assert_eq!((report.rows, report.duplicates), (n as u64, 0), "{name}");
        // The first 10,000 staged rows decide the way: the shuffled object's
        // must go down often enough to take the sorted one.
        let descents = count(
            &pg,
            "SELECT count(*) FILTER (WHERE s.transaction_id < s.previous)
             FROM (SELECT f.transaction_id, lag(f.transaction_id) OVER () AS previous
                   FROM (SELECT transaction_id FROM staging_table LIMIT 10000) f) s",
        )
        .await;
        assert_eq!(descents > 100, name == "shuffled.csv", "{name}: {descents}");
        assert_eq!(
            count(&pg, "SELECT facts_inserted FROM load_ledger").await,
            n as i64,
            "{name}"
        );
        // Finished when it finished, not when its transaction began.
        assert_eq!(
            count(
                &pg,
                "SELECT count(*) FROM load_ledger WHERE finished_at > started_at"
            )
            .await,
            1,
            "{name}"
        );
        assert_verified(&pg).await;
        dumps.push(star_dump(&pg).await);
    }
    assert!(
        dumps[0] == dumps[1],
        "the shuffled rows gave another star schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_row_kind_fails_its_object_with_line_and_column_and_commits_nothing() {
    let dirty = Spec {
        dirty: 0.01,
        ..spec(12_000, 6, 3)
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &dirty).await;
    let manifest: generator::Manifest = serde_json::from_slice(
        &std::fs::read(dir.path().join(generator::MANIFEST_NAME)).expect("manifest"),
    )
    .expect("manifest json");
    let kinds: std::collections::BTreeSet<_> =
        manifest.bad_rows.iter().map(|b| b.kind.name()).collect();
    assert_eq!(
        kinds.len(),
        generator::BadKind::ALL.len(),
        "every kind present: {kinds:?}"
    );

    let (db, pg) = fresh_db("dirty").await;
    let mut loader = lib_loader(&db, None, test_options());
    for file in &summary.files {
        let first_bad = manifest
            .bad_rows
            .iter()
            .filter(|b| b.file == file.file)
            .min_by_key(|b| b.line)
            .expect("each file has a bad row");
        let path = dir.path().join(&file.file);
        let err = loader
            .load(&Source::File(path.clone()))
            .await
            .expect_err("a dirty file fails");
        let message = err.to_string();
        assert!(!err.is_retryable(), "{message}");
        assert!(
            message.contains(&format!("line {}", first_bad.line)),
            "{message} should name line {} ({})",
            first_bad.line,
            first_bad.kind.name()
        );
        if let Some(col) = &first_bad.column {
            assert!(
                message.contains(&col.to_ascii_lowercase()),
                "{message} should name column {col}"
            );
        }
    }
    assert_eq!(count(&pg, "SELECT count(*) FROM staging_table").await, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM dim_stores").await, 0);
    let failed = count(
        &pg,
        "SELECT count(*) FROM load_ledger WHERE status = 'failed' AND error LIKE '%line %'",
    )
    .await;
    assert_eq!(failed, summary.files.len() as i64);

    // With --max-rejects the manifest's lines are exactly the rejected ones.
    let mut tolerant = lib_loader(
        &db,
        None,
        loader::LoadOptions {
            max_rejects: loader::MaxRejects::Rows(1_000),
            ..test_options()
        },
    );
    for file in &summary.files {
        let report = tolerant
            .load(&Source::File(dir.path().join(&file.file)))
            .await
            .expect("loads with rejects");
        assert_eq!(report.outcome, Outcome::Loaded);
        let mut expected: Vec<i64> = manifest
            .bad_rows
            .iter()
            .filter(|b| b.file == file.file)
            .map(|b| b.line as i64)
            .collect();
        expected.sort();
        let got: Vec<i64> = pg
            .query(
                "SELECT line FROM load_rejects WHERE load_id = $1 ORDER BY line",
                &[&report.load_id.expect("load id")],
            )
            .await
            .expect("rejects")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(got, expected, "{}", file.file);
        assert_eq!(report.rows, file.figures.rows);
        // Each reject holds its record's bytes as they are in the file, at
        // its offset: a whole line, from its first byte to its terminator.
        let bytes = std::fs::read(dir.path().join(&file.file)).expect("read");
        let rows = pg
            .query(
                "SELECT line, byte_offset,
                        coalesce(convert_to(raw_record, 'UTF8'), raw_bytes)
                 FROM load_rejects WHERE load_id = $1 ORDER BY line",
                &[&report.load_id.expect("load id")],
            )
            .await
            .expect("rejects");
        for r in &rows {
            let (line, at, raw): (i64, i64, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
            let at = at as usize;
            assert_eq!(
                bytes.get(at..at + raw.len()),
                Some(&raw[..]),
                "{} line {line}",
                file.file
            );
            assert!(
                at == 0 || bytes[at - 1] == b'\n',
                "{} line {line}",
                file.file
            );
            assert!(
                matches!(bytes.get(at + raw.len()), None | Some(b'\n' | b'\r')),
                "{} line {line}",
                file.file
            );
        }
    }
    let total = &summary.total;
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        total.rows as i64
    );
    let cents = count(&pg, "SELECT (sum(total_amount) * 100)::bigint FROM facts").await;
    assert_eq!(cents, total.total_amount_cents);
    assert_verified(&pg).await;

    // Over the limit: nothing of the object is committed.
    let (db2, pg2) = fresh_db("dirty").await;
    let mut strict = lib_loader(
        &db2,
        None,
        loader::LoadOptions {
            max_rejects: loader::MaxRejects::Rows(1),
            ..test_options()
        },
    );
    let busiest = summary
        .files
        .iter()
        .max_by_key(|f| {
            manifest
                .bad_rows
                .iter()
                .filter(|b| b.file == f.file)
                .count()
        })
        .expect("a file");
    let err = strict
        .load(&Source::File(dir.path().join(&busiest.file)))
        .await
        .expect_err("over the limit");
    assert!(err.to_string().contains("more than 1 bad rows"), "{err}");
    assert_eq!(count(&pg2, "SELECT count(*) FROM staging_table").await, 0);
    assert_eq!(count(&pg2, "SELECT count(*) FROM load_rejects").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_object_load_it_once() {
    let spec = spec(40_000, 1, 5);
    let (s3, client) = local_s3("lake");
    put(&client, "lake", "dup.csv", file_bytes(&spec, 0)).await;
    let (db, pg) = fresh_db("dup").await;
    let mut a = lib_loader(&db, Some(client.clone()), test_options());
    let mut b = lib_loader(&db, Some(client.clone()), test_options());
    let source = Source::s3("lake", "dup.csv");
    let (ra, rb) = tokio::join!(a.load(&source), b.load(&source));
    let mut outcomes = vec![ra.expect("a").outcome, rb.expect("b").outcome];
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(outcomes, vec![Outcome::Loaded, Outcome::Skipped]);
    assert_eq!(
        count(&pg, "SELECT count(*) FROM staging_table").await,
        40_000
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 40_000);
    assert_eq!(count(&pg, "SELECT count(*) FROM load_ledger").await, 1);
    assert_verified(&pg).await;
    drop(s3);
}
