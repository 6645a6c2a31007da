//! Shared by the loader's integration tests: a fresh database per test, a
//! local S3 endpoint and client, generated data, the `loader` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use generator::{Dataset, Spec, Summary};
use loader::{Db, DbConfig, LoadOptions, Loader};
use standins::{LocalPostgres, LocalS3, TestDb};
use tokio_postgres::Client;

/// A new database with the schema installed.
pub async fn fresh_db(prefix: &str) -> (TestDb, Client) {
    let pg = LocalPostgres::shared().expect("a PostgreSQL for tests");
    let db = pg.create_database(prefix).await.expect("create database");
    let mut client = db.connect().await.expect("connect");
    loader::schema::init(&mut client).await.expect("schema");
    (db, client)
}

/// Loader options for tests: quick retries.
pub fn test_options() -> LoadOptions {
    LoadOptions {
        backoff: std::time::Duration::from_millis(50),
        ..LoadOptions::default()
    }
}

/// A library loader on the test database.
pub fn lib_loader(db: &TestDb, s3: Option<aws_sdk_s3::Client>, options: LoadOptions) -> Loader {
    let config = DbConfig::from_url(db.url()).expect("url");
    Loader::new(Db::new(config), s3, options)
}

/// A local S3 endpoint with one bucket, and a client for it.
pub fn local_s3(bucket: &str) -> (LocalS3, aws_sdk_s3::Client) {
    let s3 = LocalS3::builder().bucket(bucket).start().expect("local S3");
    let client = standins::s3::client(&s3.endpoint());
    (s3, client)
}

/// Writes the spec's files into `dir` and returns the generator's figures.
pub async fn generate_into(dir: &Path, spec: &Spec) -> Summary {
    generator::generate(spec, &generator::Output::Dir(dir.to_path_buf()), None)
        .await
        .expect("generate")
}

/// The paths of the files `generate_into` wrote, in order.
pub fn generated_paths(dir: &Path, summary: &Summary) -> Vec<PathBuf> {
    summary.files.iter().map(|f| dir.join(&f.file)).collect()
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// The bytes of file `index` of a spec, in memory.
pub fn file_bytes(spec: &Spec, index: u32) -> Vec<u8> {
    let dataset = Dataset::new(spec).expect("dataset");
    let mut out = Vec::new();
    dataset.write_file(index, &mut out, None).expect("write");
    out
}

/// Puts bytes under a key.
pub async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("put object");
}

/// The `loader` binary with the database (and optionally S3) configured.
pub fn loader_cmd(db: &TestDb, s3: Option<&LocalS3>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loader"));
    cmd.env("DATABASE_URL", db.url()).env("RUST_LOG", "warn");
    for var in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"] {
        cmd.env_remove(var);
    }
    if let Some(s3) = s3 {
        cmd.envs(s3.env_vars());
    }
    cmd
}

/// One number from a query.
pub async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

/// The star schema as text, ordered, load ids and timestamps of writing left
/// out: equal dumps mean equal content whatever the order of loading.
pub async fn star_dump(client: &Client) -> String {
    let queries = [
        "SELECT transaction_id, transaction_date, transaction_time, store_id, product_id,
                customer_id, payment_method, quantity_sold, total_amount
         FROM facts ORDER BY transaction_id COLLATE \"C\"",
        "SELECT store_id, store_name, store_location, store_city, store_state, source_ts, source_txn
         FROM dim_stores ORDER BY store_id",
        "SELECT product_id, product_name, product_category, product_price, source_ts, source_txn
         FROM dim_products ORDER BY product_id",
        "SELECT customer_id, customer_age, customer_gender, customer_membership, source_ts, source_txn
         FROM dim_customers ORDER BY customer_id",
        "SELECT * FROM dim_dates ORDER BY date",
    ];
    let mut dump = String::new();
    for q in queries {
        // Ordered by the row's text: the same order for any engine (Citus
        // does not keep a subquery's ORDER BY into the aggregate).
        let sql = format!(
            "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x COLLATE \"C\"), '')
             FROM (SELECT t::text AS x FROM ({q}) t) s"
        );
        let text: String = client.query_one(&sql, &[]).await.expect(q).get(0);
        dump.push_str(&text);
        dump.push_str("\n--\n");
    }
    dump
}

/// Checks `verify` must always report: a run that reports none of them ran
/// nothing, and must not count as a pass.
pub const CORE_CHECKS: [&str; 8] = [
    "facts without their store",
    "facts without their product",
    "facts without their customer",
    "facts without their date",
    "staged transactions missing from facts",
    "facts that differ from their staged row",
    "loads whose staging, facts and ledger counts disagree",
    "loads whose rejects and ledger disagree",
];

/// Asserts that `loader verify` logic passes on the database, and that it
/// ran every core check.
pub async fn assert_verified(client: &Client) {
    let checks = loader::schema::verify(client).await.expect("verify runs");
    for name in CORE_CHECKS {
        assert!(
            checks.iter().any(|c| c.name == name),
            "verify did not run {name:?}: {checks:?}"
        );
    }
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert!(failed.is_empty(), "verify failed: {failed:?}");
}

/// The staging columns as a CSV header line, in the schema's order and
/// spelling.
pub const HEADER: &str = "transaction_id,transaction_date,transaction_time,total_amount,\
    payment_method,store_id,store_name,store_location,product_id,product_name,\
    product_category,product_price,quantity_sold,customer_id,customer_age,\
    customer_gender,customer_membership\n";

/// The staging columns as producers spell them (the generator's header),
/// without a line end.
pub const PRODUCER_HEADER: &str = "Transaction_ID,Transaction_Date,Transaction_Time,Total_Amount,\
Payment_Method,Store_ID,Store_Name,Store_Location,Product_ID,Product_Name,Product_Category,\
Product_Price,Quantity_Sold,Customer_ID,Customer_Age,Customer_Gender,Customer_Membership";

/// The staging columns, for hand INSERTs.
pub const COLUMNS: &str = "transaction_id, transaction_date, transaction_time, total_amount, \
    payment_method, store_id, store_name, store_location, product_id, product_name, \
    product_category, product_price, quantity_sold, customer_id, customer_age, \
    customer_gender, customer_membership";

/// A client on `url` (another role, a pooler, a Citus coordinator).
pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// The SQLSTATE of an error, or "" when it has none.
pub fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code().map(|c| c.code().to_string()).unwrap_or_default()
}

/// The payloads of `NOTIFY loader_loads`, from a connection that LISTENs.
pub async fn listen(url: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use futures_util::StreamExt;
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_string());
            }
        }
    });
    client
        .batch_execute("LISTEN loader_loads")
        .await
        .expect("listen");
    // The session must outlive the test's wait.
    tokio::spawn(async move {
        let _session = client;
        std::future::pending::<()>().await
    });
    rx
}
