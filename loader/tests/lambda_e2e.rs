//! The real `bootstrap` binary under cargo-lambda's runtime emulator
//! (`cargo lambda watch --only-lambda-apis`), invoked with `cargo lambda
//! invoke` and S3 event JSON for objects in the local S3 endpoint; the
//! database's contents are the proof.
//!
//! Needs `cargo lambda` (`pip install cargo-lambda`; `.ci/run` installs it).

mod support;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use generator::Spec;
use serde_json::Value;
use standins::events::{s3_object_created, sqs_batch};
use support::*;

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn cargo_lambda() -> Command {
    let probe = Command::new("cargo").args(["lambda", "--version"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "cargo-lambda is required for this test: pip install cargo-lambda"
    );
    let mut cmd = Command::new("cargo");
    cmd.arg("lambda").current_dir(workspace_root());
    cmd
}

/// The runtime API emulator on `port`, ready to take invocations.
fn emulator(port: u16) -> Killed {
    let child = cargo_lambda()
        .args(["watch", "--only-lambda-apis", "-P", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo lambda watch");
    let guard = Killed(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the emulator did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    guard
}

/// The Lambda binary pointed at the emulator, the database and the local S3.
fn function(
    port: u16,
    db: &standins::TestDb,
    s3: &standins::LocalS3,
) -> (Killed, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "info")
        .env_remove("AWS_PROFILE")
        .envs(s3.env_vars())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bootstrap");
    // Keep its logs (JSON lines) for assertions.
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        let mut lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        lines.extend(BufReader::new(stderr).lines().map_while(Result::ok));
        lines
    });
    (Killed(child), logs)
}

/// `cargo lambda invoke`: Ok(response) or Err(the error it printed).
fn invoke(port: u16, event: &Value) -> Result<Value, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).expect("write event");
    let out = cargo_lambda()
        .args(["invoke", "--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(port.to_string())
        .arg("--data-file")
        .arg(&file)
        .args(["--output-format", "json", "_"])
        .output()
        .expect("cargo lambda invoke");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {stdout}"))
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

async fn event_for(client: &aws_sdk_s3::Client, key: &str) -> Value {
    let h = client
        .head_object()
        .bucket("lake")
        .key(key)
        .send()
        .await
        .expect("head");
    let etag = h.e_tag().expect("etag").to_string();
    let size = h.content_length().expect("size") as u64;
    s3_object_created("lake", key, size, &etag, "ObjectCreated:Put")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_under_the_runtime_emulator() {
    let (s3, client) = local_s3("lake");
    let (db, pg) = fresh_db("lambda").await;
    let spec = |seed, start_id, rows| Spec {
        rows,
        seed,
        start_id,
        ..Spec::default()
    };
    let odd_key = "in/2024 Q1/café+bar – ü.csv";
    put(&client, "lake", odd_key, file_bytes(&spec(1, 1, 3_000), 0)).await;
    put(
        &client,
        "lake",
        "in/sqs/a.csv",
        file_bytes(&spec(2, 10_001, 2_000), 0),
    )
    .await;
    put(
        &client,
        "lake",
        "in/sqs/b.csv",
        file_bytes(&spec(3, 20_001, 1_000), 0),
    )
    .await;
    let mut bad = file_bytes(&spec(4, 30_001, 50), 0);
    bad.extend_from_slice(
        b"TXN099999,2024-01-01,10:00:00,1.00,Cash,70000,S,A- B,1,P,C,1.00,1,,,,\n",
    );
    put(&client, "lake", "in/sqs/bad.csv", bad).await;

    let port = free_port();
    let _emulator = emulator(port);
    let (bootstrap, logs) = function(port, &db, &s3);

    // An S3 event with a space, a plus sign and non-ASCII in the key.
    let put_event = event_for(&client, odd_key).await;
    let out = invoke(port, &put_event).expect("the S3 event loads");
    assert_eq!(out["objects"][0]["status"], "loaded", "{out}");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 3_000);
    let key: String = pg
        .query_one("SELECT object_key FROM load_ledger", &[])
        .await
        .expect("ledger")
        .get(0);
    assert_eq!(key, odd_key);

    // The same event delivered again: loaded once.
    let again = invoke(port, &put_event).expect("a duplicate delivery succeeds");
    assert_eq!(again["objects"][0]["status"], "skipped", "{again}");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 3_000);

    // An SQS batch with one bad object: only its message is reported.
    let a = event_for(&client, "in/sqs/a.csv").await;
    let b = event_for(&client, "in/sqs/b.csv").await;
    let c = event_for(&client, "in/sqs/bad.csv").await;
    let batch = sqs_batch(&[("m-a", &a), ("m-bad", &c), ("m-b", &b)]);
    let out = invoke(port, &batch).expect("SQS batches answer with failures");
    assert_eq!(
        out["batchItemFailures"],
        serde_json::json!([{ "itemIdentifier": "m-bad" }]),
        "{out}"
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 6_000);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM staging_table WHERE load_id IS NOT NULL"
        )
        .await,
        6_000
    );

    // A direct S3 event for the bad object fails the invocation.
    let err = invoke(port, &c).expect_err("a bad object fails the invocation");
    assert!(err.contains("line 52") && err.contains("store_id"), "{err}");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 6_000);
    let failed = count(
        &pg,
        "SELECT count(*) FROM load_ledger WHERE status = 'failed'",
    )
    .await;
    assert_eq!(failed, 1);
    assert_verified(&pg).await;

    drop(bootstrap);
    let logs = logs.join().expect("logs");
    let loaded = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "loaded")
        .count();
    assert_eq!(
        loaded,
        3,
        "one JSON 'loaded' log line per loaded object:\n{}",
        logs.join("\n")
    );
    assert!(
        logs.iter().any(|l| l.contains("request_id")),
        "logs carry the request id"
    );
    assert!(!logs
        .iter()
        .any(|l| l.contains(standins::s3::SECRET_ACCESS_KEY)));
}
