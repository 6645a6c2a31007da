//! The real `bootstrap` binary against a Runtime API that sets a real
//! `Lambda-Runtime-Deadline-Ms` (`runtime_api/`), the local S3 endpoint and
//! a real PostgreSQL: deadline-aware batches, each object's outcome as the
//! answer, the EMF metric lines, init errors, NOTIFY on commit. The
//! database's ledger is the proof of what was attempted.
//!
//! `BOOTSTRAP_BIN=target/release/bootstrap` runs them (and the ignored
//! `cold_start_figures`) against another build of the function.

mod runtime_api;
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use generator::Spec;
use runtime_api::{epoch_ms, Answer, Kind, RuntimeApi};
use serde_json::Value;
use standins::events::{s3_object_created, sqs_batch};
use support::*;

const WAIT: Duration = Duration::from_secs(120);

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bootstrap_bin() -> String {
    std::env::var("BOOTSTRAP_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bootstrap").to_string())
}

/// The function, started as Lambda starts it; its stdout lines are
/// returned by the thread once it is killed.
fn function(
    api: &RuntimeApi,
    db: &standins::TestDb,
    s3: &standins::LocalS3,
    env: &[(&str, &str)],
) -> (Killed, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(bootstrap_bin())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "loader-test")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "info")
        .env_remove("AWS_PROFILE")
        .env_remove("METRICS_NAMESPACE")
        .envs(s3.env_vars())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bootstrap");
    let stdout = child.stdout.take().expect("stdout");
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect()
    });
    (Killed(child), lines)
}

/// The EMF documents among stdout's lines, by key.
fn emf_lines(lines: &[String]) -> BTreeMap<String, Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .map(|v| (v["key"].as_str().expect("key").to_string(), v))
        .collect()
}

fn spec(seed: u64, start_id: u64, rows: u64) -> Spec {
    Spec {
        rows,
        seed,
        start_id,
        ..Spec::default()
    }
}

/// Puts an object and returns its S3 event and bare ETag.
async fn put_object(client: &aws_sdk_s3::Client, key: &str, data: Vec<u8>) -> (Value, String) {
    let size = data.len() as u64;
    put(client, "lake", key, data).await;
    let etag = client
        .head_object()
        .bucket("lake")
        .key(key)
        .send()
        .await
        .expect("head")
        .e_tag()
        .expect("etag")
        .trim_matches('"')
        .to_string();
    (
        s3_object_created("lake", key, size, &etag, "ObjectCreated:Put"),
        etag,
    )
}

/// The answer's objects by key.
fn by_key(objects: &Value) -> BTreeMap<String, Value> {
    objects
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| (o["key"].as_str().expect("key").to_string(), o.clone()))
        .collect()
}

/// The ledger: key -> (status, load_id, rows, rejected, duplicates, etag).
async fn ledger(
    pg: &tokio_postgres::Client,
) -> BTreeMap<String, (String, i64, i64, i64, i64, String)> {
    pg.query(
        "SELECT object_key, status, load_id, coalesce(rows_loaded, 0), coalesce(rows_rejected, 0),
                coalesce(duplicates, 0), coalesce(etag, '')
         FROM load_ledger",
        &[],
    )
    .await
    .expect("ledger")
    .iter()
    .map(|r| {
        (
            r.get(0),
            (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)),
        )
    })
    .collect()
}

fn assert_before_deadline(answer: &Answer, deadline: SystemTime) {
    assert!(
        answer.at < deadline,
        "answered {} ms after the deadline",
        epoch_ms(answer.at) as i64 - epoch_ms(deadline) as i64
    );
}

/// An SQS batch bigger than the time left: the objects before the deadline
/// load, the one running at the margin stops (nothing committed), the rest
/// are not started and go back as batchItemFailures; only attempts reach
/// the ledger, and the answer arrives before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_stops_at_the_deadline_margin() {
    let (s3, client) = local_s3("lake");
    let (db, pg) = fresh_db("rtapi").await;
    let keys = [
        "in/a.csv",
        "in/b.csv",
        "in/x-blocked.csv",
        "in/c.csv",
        "in/d.csv",
    ];
    let mut events = Vec::new();
    let mut blocked_etag = String::new();
    for (i, key) in keys.iter().enumerate() {
        let i = i as u64;
        let (event, etag) = put_object(
            &client,
            key,
            file_bytes(&spec(i + 1, 1 + i * 10_000, 300), 0),
        )
        .await;
        if key.contains("blocked") {
            blocked_etag = etag;
        }
        events.push(event);
    }
    // Another delivery of x holds its claim (uncommitted): x's load waits
    // on it until the deadline margin stops it.
    let blocker = db.connect().await.expect("connect");
    blocker.batch_execute("BEGIN").await.expect("begin");
    blocker
        .execute(
            "INSERT INTO load_ledger (bucket, object_key, etag, status)
             VALUES ('lake', 'in/x-blocked.csv', $1, 'loading')",
            &[&blocked_etag],
        )
        .await
        .expect("hold x's claim");

    // A consumer LISTENing on loader_loads, as a job refreshing a view would.
    let notified = listen(db.url()).await;

    let api = RuntimeApi::start();
    let (function, stdout) = function(
        &api,
        &db,
        &s3,
        &[
            ("DEADLINE_MARGIN_MS", "8000"),
            ("METRICS_NAMESPACE", "LoaderTest"),
        ],
    );
    api.next_call(1, WAIT);
    let messages: Vec<(String, &Value)> = keys
        .iter()
        .zip(&events)
        .map(|(k, e)| (format!("m-{k}"), e))
        .collect();
    let batch = sqs_batch(
        &messages
            .iter()
            .map(|(id, e)| (id.as_str(), *e))
            .collect::<Vec<_>>(),
    );
    // 8 s for a and b (tiny: well under a second each), then the margin.
    let deadline = SystemTime::now() + Duration::from_secs(16);
    let id = api.invoke(&batch, deadline);
    let answer = api.answer(&id, WAIT);
    assert_eq!(answer.kind, Kind::Response, "{answer:?}");
    assert_before_deadline(&answer, deadline);

    let out = &answer.body;
    let objects = by_key(&out["objects"]);
    let status = |k: &str| objects[k]["status"].as_str().expect("status").to_string();
    assert_eq!(status("in/a.csv"), "loaded", "{out}");
    assert_eq!(status("in/b.csv"), "loaded", "{out}");
    assert_eq!(status("in/x-blocked.csv"), "failed", "{out}");
    assert_eq!(status("in/c.csv"), "not_attempted", "{out}");
    assert_eq!(status("in/d.csv"), "not_attempted", "{out}");
    let failures: Vec<&str> = out["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("id"))
        .collect();
    assert_eq!(
        failures,
        ["m-in/x-blocked.csv", "m-in/c.csv", "m-in/d.csv"],
        "{out}"
    );

    // Release x; whatever its failure record does, c and d were never touched.
    blocker.batch_execute("ROLLBACK").await.expect("rollback");
    let rows = ledger(&pg).await;
    assert!(
        !rows.contains_key("in/c.csv") && !rows.contains_key("in/d.csv"),
        "{rows:?}"
    );
    for key in ["in/a.csv", "in/b.csv"] {
        let (st, load_id, n, rejected, duplicates, etag) = &rows[key];
        let o = &objects[key];
        assert_eq!(st, "loaded");
        assert_eq!(o["load_id"], *load_id, "{o}");
        assert_eq!(o["rows"], *n, "{o}");
        assert_eq!(*n, 300);
        assert_eq!(o["rejects"], *rejected, "{o}");
        assert_eq!(o["duplicates"], *duplicates, "{o}");
        assert_eq!(o["etag"], etag.as_str(), "{o}");
        assert_eq!(o["bucket"], "lake");
        assert_eq!(o["message_id"], format!("m-{key}"));
        assert!(o["seconds"].as_f64().expect("seconds") > 0.0, "{o}");
    }
    assert_ne!(
        rows.get("in/x-blocked.csv").map(|r| r.0.as_str()),
        Some("loaded")
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 600);

    // One notification per committed load, carrying its load id (a hint:
    // the figures are the ledger's); none for the load that failed or the
    // objects not started.
    let mut announced = std::collections::BTreeSet::new();
    let mut notified = notified;
    while announced.len() < 2 {
        let payload = tokio::time::timeout(Duration::from_secs(10), notified.recv())
            .await
            .expect("a notification per committed load")
            .expect("listener alive");
        announced.insert(payload.parse::<i64>().expect("a load id"));
    }
    assert!(
        notified.try_recv().is_err(),
        "more notifications than loads"
    );
    let expected: std::collections::BTreeSet<i64> = ["in/a.csv", "in/b.csv"]
        .iter()
        .map(|k| rows[*k].1)
        .collect();
    assert_eq!(announced, expected);

    // One EMF line per object, namespace from the environment, values as in
    // the database.
    drop(function);
    let emf = emf_lines(&stdout.join().expect("stdout"));
    assert_eq!(emf.len(), 5, "{emf:?}");
    for (key, doc) in &emf {
        let meta = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(meta["Namespace"], "LoaderTest");
        assert_eq!(
            meta["Dimensions"],
            serde_json::json!([["FunctionName"], ["FunctionName", "Bucket"]])
        );
        assert_eq!(doc["FunctionName"], "loader-test");
        assert_eq!(doc["Bucket"], "lake");
        let flag = |name: &str| doc[name].as_u64().expect(name);
        let st = status(key);
        assert_eq!(flag("ObjectsLoaded"), u64::from(st == "loaded"), "{doc}");
        assert_eq!(flag("ObjectsFailed"), u64::from(st == "failed"), "{doc}");
        assert_eq!(
            flag("ObjectsNotAttempted"),
            u64::from(st == "not_attempted"),
            "{doc}"
        );
        assert_eq!(flag("ObjectsSkipped"), 0);
        match rows.get(key).filter(|r| r.0 == "loaded") {
            Some((_, _, n, rejected, duplicates, _)) => {
                assert_eq!(doc["Rows"], *n, "{doc}");
                assert_eq!(doc["RejectedRows"], *rejected, "{doc}");
                assert_eq!(doc["DuplicateRows"], *duplicates, "{doc}");
                assert!(flag("Bytes") > 0, "{doc}");
            }
            None => assert_eq!(flag("Rows"), 0, "{doc}"),
        }
    }
    assert_verified(&pg).await;
}

/// A direct invocation with less than the margin left loads nothing,
/// touches nothing and fails; the same event with time to spare loads, and
/// the answer carries the object's figures; a test event is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_event_answers_each_objects_outcome() {
    let (s3, client) = local_s3("lake");
    let (db, pg) = fresh_db("rtapi").await;
    let key = "in/2024/direct one.csv";
    let (event, etag) = put_object(&client, key, file_bytes(&spec(9, 1, 700), 0)).await;
    let api = RuntimeApi::start();
    let (function, stdout) = function(&api, &db, &s3, &[("DEADLINE_MARGIN_MS", "30000")]);
    api.next_call(1, WAIT);

    let deadline = SystemTime::now() + Duration::from_secs(10);
    let answer = api.answer(&api.invoke(&event, deadline), WAIT);
    assert_before_deadline(&answer, deadline);
    assert_eq!(answer.kind, Kind::Error, "{answer:?}");
    assert_eq!(answer.body["errorType"], "DeadlineReached", "{answer:?}");
    let error: Value = serde_json::from_str(answer.body["errorMessage"].as_str().expect("message"))
        .expect("errorMessage is the answer as JSON");
    assert_eq!(error["objects"][0]["status"], "not_attempted", "{error}");
    assert!(
        error["error"].as_str().expect("error").contains(key),
        "{error}"
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM load_ledger").await, 0);

    let deadline = SystemTime::now() + Duration::from_secs(100);
    let answer = api.answer(&api.invoke(&event, deadline), WAIT);
    assert_eq!(answer.kind, Kind::Response, "{answer:?}");
    let o = &answer.body["objects"][0];
    let rows = ledger(&pg).await;
    let (st, load_id, n, rejected, duplicates, stored_etag) = &rows[key];
    assert_eq!(st, "loaded");
    assert_eq!(o["bucket"], "lake");
    assert_eq!(o["key"], key);
    assert_eq!(o["etag"], etag.as_str());
    assert_eq!(*stored_etag, etag);
    assert_eq!(o["status"], "loaded");
    assert_eq!(o["load_id"], *load_id);
    assert_eq!(o["rows"], *n);
    assert_eq!(*n, 700);
    assert_eq!(o["rejects"], *rejected);
    assert_eq!(o["duplicates"], *duplicates);

    let test_event = serde_json::json!({
        "Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-20T09:10:00.000Z",
        "Bucket": "lake", "RequestId": "5582815E1AEA5ADF", "HostId": "x"
    });
    let answer = api.answer(&api.invoke(&test_event, deadline), WAIT);
    assert_eq!(answer.kind, Kind::Response, "{answer:?}");
    assert_eq!(answer.body["ignored"], 1);
    assert_eq!(answer.body["objects"], serde_json::json!([]));

    drop(function);
    let emf = emf_lines(&stdout.join().expect("stdout"));
    let doc = &emf[key];
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "S3StarLoader"
    );
    assert_eq!(doc["ObjectsLoaded"], 1);
    assert_eq!(doc["Rows"], *n);
}

/// A configuration error at init is reported to /init/error, and the
/// process exits with failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_error_is_reported_to_the_runtime_api() {
    let (s3, _client) = local_s3("lake");
    let (db, _pg) = fresh_db("rtapi").await;
    for (var, value, says) in [
        ("COPY_FORMAT", "csv", "COPY_FORMAT"),
        (
            "MAX_REJECTS",
            "150%",
            "MAX_REJECTS=\"150%\" is not valid: \"150%\": a share is a percentage",
        ),
    ] {
        let api = RuntimeApi::start();
        let (mut function, _stdout) = function(&api, &db, &s3, &[(var, value)]);
        let answer = api.init_error(WAIT);
        assert_eq!(answer.kind, Kind::InitError);
        assert_eq!(
            answer.error_type_header.as_deref(),
            Some("Runtime.ConfigError")
        );
        assert_eq!(answer.body["errorType"], "Runtime.ConfigError");
        assert!(
            answer.body["errorMessage"]
                .as_str()
                .expect("message")
                .contains(says),
            "{answer:?}"
        );
        let status = function.0.wait().expect("exits");
        assert!(!status.success());
    }
}

/// `loader load --metrics emf` prints the same lines as the Lambda.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_emf_lines() {
    let (db, pg) = fresh_db("rtapi").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.csv");
    std::fs::write(&good, file_bytes(&spec(11, 1, 400), 0)).expect("write");
    let bad = dir.path().join("bad.csv");
    let mut bytes = file_bytes(&spec(12, 5_001, 10), 0);
    bytes.extend_from_slice(
        b"TXN099999,2024-01-01,10:00:00,1.00,Cash,70000,S,A- B,1,P,C,1.00,1,,,,\n",
    );
    std::fs::write(&bad, bytes).expect("write");
    let out = loader_cmd(&db, None)
        .args(["load", "--metrics", "emf", "--metrics-namespace", "CliNs"])
        .arg(&good)
        .arg(&bad)
        .output()
        .expect("loader load");
    assert!(!out.status.success(), "the bad file fails the run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    let emf = emf_lines(&lines);
    assert_eq!(emf.len(), 2, "{stdout}");
    let rows = ledger(&pg).await;
    let good_key = std::path::absolute(&good)
        .expect("abs")
        .to_string_lossy()
        .into_owned();
    let bad_key = std::path::absolute(&bad)
        .expect("abs")
        .to_string_lossy()
        .into_owned();
    let (st, load_id, n, _, duplicates, _) = &rows[&good_key];
    let doc = &emf[&good_key];
    assert_eq!(st, "loaded");
    assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "CliNs");
    assert_eq!(doc["Bucket"], "file");
    assert_eq!(doc["FunctionName"], "loader");
    assert_eq!(doc["Rows"], *n);
    assert_eq!(*n, 400);
    assert_eq!(doc["DuplicateRows"], *duplicates);
    assert_eq!(doc["load_id"], *load_id);
    assert_eq!(doc["ObjectsLoaded"], 1);
    assert!(doc["Bytes"].as_u64().expect("bytes") > 0);
    let doc = &emf[&bad_key];
    assert_eq!(doc["ObjectsFailed"], 1);
    assert_eq!(doc["ObjectsLoaded"], 0);
    assert_eq!(doc["Rows"], 0);
    assert_eq!(rows[&bad_key].0, "failed");
}

/// Figures for BENCHMARKS.md, not a check: init (process start to the
/// first GET /next), the answer to an s3:TestEvent, a 100-message SQS batch
/// of small objects. Run with `BOOTSTRAP_BIN=target/release/bootstrap`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn cold_start_figures() {
    let (s3, client) = local_s3("lake");
    let (db, pg) = fresh_db("rtapi").await;
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let test_event = serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
        "Time": "2026-11-20T09:10:00.000Z", "Bucket": "lake", "RequestId": "1", "HostId": "x"});
    for run in 0..runs {
        let api = RuntimeApi::start();
        let spawned = Instant::now();
        // SSLMODE=disable shows what TLS to the database costs at init.
        let url = match std::env::var("SSLMODE") {
            Ok(mode) => format!("{}?sslmode={mode}", db.url()),
            Err(_) => db.url().to_string(),
        };
        let env = [("METRICS", "none"), ("DATABASE_URL", url.as_str())];
        let (function, stdout) = function(&api, &db, &s3, &env);
        let first_next = api.next_call(1, WAIT);
        let sent = Instant::now();
        let answer = api.answer(
            &api.invoke(&test_event, SystemTime::now() + Duration::from_secs(60)),
            WAIT,
        );
        let answered = Instant::now();
        assert_eq!(answer.kind, Kind::Response);
        println!(
            "run {run}: init {:.1} ms, s3:TestEvent answered in {:.2} ms",
            (first_next - spawned).as_secs_f64() * 1e3,
            (answered - sent).as_secs_f64() * 1e3
        );
        drop(function);
        for line in stdout.join().expect("stdout") {
            if line.contains("init done") {
                println!("  {line}");
            }
        }
    }
    let mut events = Vec::new();
    for i in 0..100u64 {
        let key = format!("batch/{i:03}.csv");
        let (event, _) = put_object(
            &client,
            &key,
            file_bytes(&spec(100 + i, 1 + i * 1_000, 100), 0),
        )
        .await;
        events.push((format!("m-{i}"), event));
    }
    let batch = sqs_batch(
        &events
            .iter()
            .map(|(id, e)| (id.as_str(), e))
            .collect::<Vec<_>>(),
    );
    let api = RuntimeApi::start();
    let (function, _stdout) = function(&api, &db, &s3, &[("METRICS", "emf")]);
    api.next_call(1, WAIT);
    let sent = Instant::now();
    let answer = api.answer(
        &api.invoke(&batch, SystemTime::now() + Duration::from_secs(600)),
        WAIT,
    );
    let secs = sent.elapsed().as_secs_f64();
    assert_eq!(
        answer.body["batchItemFailures"],
        serde_json::json!([]),
        "{:?}",
        answer.body
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 10_000);
    println!(
        "SQS batch of 100 messages x 100 rows: answered in {secs:.3} s ({:.1} ms per object)",
        secs * 10.0
    );
    drop(function);
}

/// `COLUMN_MAP` reaches the function: an object whose header names its
/// columns the producer's way loads under the map, and the dimensions hold
/// what its aliased columns said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_reads_its_column_map() {
    let (s3, client) = local_s3("lake");
    let (db, pg) = fresh_db("rtapi").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("columns.map");
    std::fs::write(
        &map,
        "# the producer's names\nShop Name=store_name\nShop-City = store_location\n",
    )
    .expect("map");
    let header = HEADER
        .replace("store_name", "Shop Name")
        .replace("store_location", "SHOP CITY");
    let body = format!(
        "{header}TXN900001,2024-05-01,10:00:00,5.00,Cash,41,Quay Store,Leeds- UK,7,Tea,Food,2.50,2,,,,\n"
    );
    let (event, _) = put_object(&client, "aliased.csv", body.into_bytes()).await;
    let api = RuntimeApi::start();
    let map_path = map.to_string_lossy().into_owned();
    let (function, _stdout) = function(&api, &db, &s3, &[("COLUMN_MAP", map_path.as_str())]);
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let answer = api.answer(&api.invoke(&event, deadline), WAIT);
    drop(function);
    assert_eq!(answer.kind, Kind::Response, "{answer:?}");
    assert_eq!(answer.body["objects"][0]["status"], "loaded", "{answer:?}");
    let store = pg
        .query_one(
            "SELECT store_name, store_location FROM dim_stores WHERE store_id = 41",
            &[],
        )
        .await
        .expect("the store");
    assert_eq!(store.get::<_, String>(0), "Quay Store");
    assert_eq!(store.get::<_, String>(1), "Leeds- UK");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 1);
}
