//! The SQL on its own, through psql: applied twice, fed by a hand `\copy`,
//! reconciled by verify.sql; the dimension rule checked against the CSV
//! itself; order independence of the final star schema.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use generator::Spec;
use loader::Source;
use standins::{psql_command, TestDb};
use support::*;

const COLUMNS: &str = "transaction_id, transaction_date, transaction_time, total_amount, \
    payment_method, store_id, store_name, store_location, product_id, product_name, \
    product_category, product_price, quantity_sold, customer_id, customer_age, \
    customer_gender, customer_membership";

fn psql(db: &TestDb, args: &[&str]) -> Output {
    let mut cmd = psql_command(db.url()).expect("psql");
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd.output().expect("run psql")
}

fn psql_ok(db: &TestDb, args: &[&str]) -> String {
    let out = psql(db, args);
    assert!(
        out.status.success(),
        "psql {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn hand_copy(db: &TestDb, file: &Path) -> String {
    let cmd = format!(
        "\\copy staging_table ({COLUMNS}) FROM '{}' CSV HEADER",
        file.display()
    );
    psql_ok(db, &["-c", &cmd])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_applies_twice_and_normalizes_a_hand_copy() {
    let pg = standins::LocalPostgres::shared().expect("postgres");
    let db = pg.create_database("sql").await.expect("db");
    for _ in 0..2 {
        psql_ok(
            &db,
            &[
                "-f",
                "../sql/db_initiation.sql",
                "-f",
                "../sql/db_transformation.sql",
            ],
        );
    }
    let spec = Spec {
        rows: 20_000,
        seed: 99,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let file = dir.path().join(&summary.files[0].file);
    hand_copy(&db, &file);
    // The schema applied again keeps the data.
    psql_ok(
        &db,
        &[
            "-f",
            "../sql/db_initiation.sql",
            "-f",
            "../sql/db_transformation.sql",
        ],
    );

    let client = db.connect().await.expect("connect");
    let total = &summary.total;
    assert_eq!(
        count(&client, "SELECT count(*) FROM facts").await,
        total.rows as i64
    );
    let cents = count(
        &client,
        "SELECT (sum(total_amount) * 100)::bigint FROM facts",
    )
    .await;
    assert_eq!(cents, total.total_amount_cents);
    for (table, expected) in [
        ("dim_stores", total.distinct_stores),
        ("dim_products", total.distinct_products),
        ("dim_customers", total.distinct_customers),
        ("dim_dates", total.distinct_dates),
    ] {
        let n = count(&client, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, expected as i64, "{table}");
    }
    let report = psql_ok(&db, &["-f", "../sql/verify.sql"]);
    assert!(report.contains("facts without their store"), "{report}");
    assert!(!report.contains("FAILED"), "{report}");

    // The same file again: no new facts, and psql says why.
    let again = hand_copy(&db, &file);
    assert!(
        again.contains(&format!(
            "{0} of {0} rows repeat a transaction_id",
            total.rows
        )),
        "{again}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM facts").await,
        total.rows as i64
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        2 * total.rows as i64
    );
    psql_ok(&db, &["-f", "../sql/verify.sql"]);

    // A broken star schema makes verify.sql exit non-zero.
    client
        .batch_execute(
            "DELETE FROM dim_products WHERE product_id = (SELECT min(product_id) FROM facts)",
        )
        .await
        .expect("tamper");
    let broken = psql(&db, &["-f", "../sql/verify.sql"]);
    assert!(!broken.status.success());
    let text = String::from_utf8_lossy(&broken.stdout);
    assert!(text.contains("FAILED"), "{text}");
}

/// The newest transaction per id, computed from the CSV with the csv crate.
fn newest_attributes(
    file: &Path,
    id_col: usize,
    attr_cols: &[usize],
) -> HashMap<String, Vec<String>> {
    let mut reader = csv::Reader::from_path(file).expect("csv");
    let mut newest: HashMap<String, (String, String, String, Vec<String>)> = HashMap::new();
    for record in reader.records() {
        let r = record.expect("record");
        let id = r[id_col].to_string();
        if id.is_empty() {
            continue;
        }
        let candidate = (
            r[1].to_string(),
            r[2].to_string(),
            r[0].to_string(),
            attr_cols
                .iter()
                .map(|&c| r[c].to_string())
                .collect::<Vec<_>>(),
        );
        let entry = newest.entry(id).or_insert_with(|| candidate.clone());
        if (&candidate.0, &candidate.1, candidate.2.as_bytes())
            > (&entry.0, &entry.1, entry.2.as_bytes())
        {
            *entry = candidate;
        }
    }
    newest.into_iter().map(|(k, v)| (k, v.3)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drifted_dimensions_hold_their_newest_transaction() {
    let spec = Spec {
        rows: 30_000,
        files: 3,
        seed: 5,
        drift: 0.2,
        stores: 20,
        products: 200,
        customers: 2_000,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let (db, client) = fresh_db("drift").await;
    let mut loader = lib_loader(&db, None, test_options());
    // Load the files newest-last and newest-first alike: the rule must hold.
    for f in summary.files.iter().rev() {
        loader
            .load(&Source::File(dir.path().join(&f.file)))
            .await
            .expect("load");
    }
    // One CSV with every row, to compute the expectation independently.
    let all = dir.path().join("all.csv");
    let mut joined = String::new();
    for (i, f) in summary.files.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join(&f.file)).expect("read");
        joined.push_str(if i == 0 {
            &text
        } else {
            text.split_once('\n').expect("hdr").1
        });
    }
    std::fs::write(&all, joined).expect("write");

    let stores = newest_attributes(&all, 5, &[6, 7]);
    let products = newest_attributes(&all, 8, &[9, 10, 11]);
    let customers = newest_attributes(&all, 13, &[14, 15, 16]);
    let rows = client
        .query(
            "SELECT store_id::text, store_name, store_location FROM dim_stores",
            &[],
        )
        .await
        .expect("stores");
    assert_eq!(rows.len(), stores.len());
    let mut disagreeing_ids = 0;
    for r in &rows {
        let id: String = r.get(0);
        let got = vec![r.get::<_, String>(1), r.get::<_, String>(2)];
        assert_eq!(got, stores[&id], "store {id}");
    }
    let rows = client
        .query(
            "SELECT product_id::text, product_name, product_category, product_price::text FROM dim_products",
            &[],
        )
        .await
        .expect("products");
    assert_eq!(rows.len(), products.len());
    for r in &rows {
        let id: String = r.get(0);
        let got: Vec<String> = (1..4).map(|i| r.get::<_, String>(i)).collect();
        assert_eq!(got, products[&id], "product {id}");
    }
    let rows = client
        .query(
            "SELECT customer_id::text, customer_age::text, customer_gender, customer_membership FROM dim_customers",
            &[],
        )
        .await
        .expect("customers");
    assert_eq!(rows.len(), customers.len());
    for r in &rows {
        let id: String = r.get(0);
        let got: Vec<String> = (1..4).map(|i| r.get::<_, String>(i)).collect();
        assert_eq!(got, customers[&id], "customer {id}");
    }
    // The data really drifted: some ids were seen with several names.
    let mut names: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    let mut reader = csv::Reader::from_path(&all).expect("csv");
    for record in reader.records() {
        let r = record.expect("record");
        names
            .entry(r[5].to_string())
            .or_default()
            .insert(r[6].to_string());
    }
    disagreeing_ids += names.values().filter(|n| n.len() > 1).count();
    assert!(disagreeing_ids > 0, "drift produced no disagreement");
    assert_verified(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_star_schema_does_not_depend_on_load_order() {
    let spec = Spec {
        rows: 20_000,
        files: 2,
        seed: 17,
        drift: 0.3,
        stores: 10,
        products: 50,
        customers: 500,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let a = dir.path().join(&summary.files[0].file);
    let b = dir.path().join(&summary.files[1].file);
    let mut dumps = Vec::new();
    for order in [[&a, &b], [&b, &a]] {
        let (db, client) = fresh_db("order").await;
        let mut loader = lib_loader(&db, None, test_options());
        for f in order {
            loader.load(&Source::File(f.clone())).await.expect("load");
        }
        assert_verified(&client).await;
        dumps.push(star_dump(&client).await);
    }
    assert!(dumps[0] == dumps[1], "A-then-B and B-then-A differ");
    assert!(dumps[0].lines().count() > 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_objects_keep_the_first_fact_and_count_duplicates() {
    let a = Spec {
        rows: 10_000,
        seed: 1,
        start_id: 1,
        ..Spec::default()
    };
    let b = Spec {
        rows: 10_000,
        seed: 2,
        start_id: 5_001,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (fa, fb) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    std::fs::write(&fa, file_bytes(&a, 0)).expect("a");
    // b repeats ids 5001..10000 of a, with other contents, and ids repeat
    // inside b as well (its first 10 rows again at the end).
    let mut b_bytes = file_bytes(&b, 0);
    let text = String::from_utf8(b_bytes.clone()).expect("utf8");
    for line in text.lines().skip(1).take(10) {
        b_bytes.extend_from_slice(format!("{line}\n").as_bytes());
    }
    std::fs::write(&fb, b_bytes).expect("b");
    let (db, client) = fresh_db("overlap").await;
    let mut loader = lib_loader(&db, None, test_options());
    let ra = loader.load(&Source::File(fa)).await.expect("a");
    let rb = loader.load(&Source::File(fb)).await.expect("b");
    assert_eq!((ra.rows, ra.duplicates), (10_000, 0));
    assert_eq!((rb.rows, rb.duplicates), (10_010, 5_010));
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 15_000);
    // The first load's version of a repeated id stays.
    let load_of_overlap = count(
        &client,
        "SELECT count(DISTINCT load_id) FROM facts WHERE transaction_id BETWEEN 'TXN005001' AND 'TXN010000'",
    )
    .await;
    assert_eq!(load_of_overlap, 1);
    let first: i64 = client
        .query_one(
            "SELECT load_id FROM facts WHERE transaction_id = 'TXN007000'",
            &[],
        )
        .await
        .expect("fact")
        .get(0);
    assert_eq!(Some(first), ra.load_id);
    assert_verified(&client).await;
}

/// `verify` on a database without the schema says to run `loader init`,
/// instead of a bare "relation does not exist".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_without_the_schema_says_to_run_init() {
    let server = standins::LocalPostgres::shared().expect("a PostgreSQL for tests");
    let db = server.create_database("noschema").await.expect("database");
    let client = db.connect().await.expect("connect");
    let err = loader::schema::verify(&client)
        .await
        .expect_err("no schema to verify");
    assert!(matches!(err, loader::Error::Schema(_)), "{err}");
    assert!(err.to_string().contains("run `loader init`"), "{err}");
}
