//! The Lambda handler, called in-process with the captured event shapes in
//! `tests/fixtures/`, against the real PostgreSQL and the local S3 endpoint.
//! Only what a real upload would change is patched into a fixture: the
//! object's ETag and size, which the endpoint computes.

mod support;

use generator::Spec;
use loader::handler::Handler;
use serde_json::Value;
use support::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

async fn head(client: &aws_sdk_s3::Client, key: &str) -> (String, u64) {
    let h = client
        .head_object()
        .bucket("retail-lake")
        .key(key)
        .send()
        .await
        .expect("head");
    (
        h.e_tag().expect("etag").trim_matches('"').to_string(),
        h.content_length().expect("size") as u64,
    )
}

fn patch_s3_record(record: &mut Value, etag: &str, size: u64) {
    let object = &mut record["s3"]["object"];
    object["eTag"] = etag.into();
    object["size"] = size.into();
    // The local bucket is not versioned.
    object.as_object_mut().expect("object").remove("versionId");
}

fn data(seed: u64, start_id: u64, rows: u64) -> Vec<u8> {
    file_bytes(
        &Spec {
            rows,
            seed,
            start_id,
            ..Spec::default()
        },
        0,
    )
}

fn handler(db: &standins::TestDb, client: &aws_sdk_s3::Client) -> Handler {
    Handler::new(lib_loader(db, Some(client.clone()), test_options()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_put_with_an_encoded_key_loads_once() {
    let (_s3, client) = local_s3("retail-lake");
    let key = "incoming/2024/café menu+specials.csv";
    put(&client, "retail-lake", key, data(1, 1, 2_000)).await;
    let (etag, size) = head(&client, key).await;
    let mut event = fixture("s3_put.json");
    patch_s3_record(&mut event["Records"][0], &etag, size);
    let (db, pg) = fresh_db("handler").await;
    let h = handler(&db, &client);

    let first = h.handle(&event, None).await.expect("loads");
    assert_eq!(first["objects"][0]["status"], "loaded", "{first}");
    assert_eq!(first["objects"][0]["rows"], 2_000);
    let again = h.handle(&event, None).await.expect("duplicate delivery");
    assert_eq!(again["objects"][0]["status"], "skipped", "{again}");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 2_000);
    let stored: String = pg
        .query_one("SELECT object_key FROM load_ledger", &[])
        .await
        .expect("ledger")
        .get(0);
    assert_eq!(stored, key);
    assert_verified(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_create_records_and_test_events_are_acknowledged() {
    let (_s3, client) = local_s3("retail-lake");
    let key = "incoming/2024/part-00001.csv";
    put(&client, "retail-lake", key, data(2, 1, 1_000)).await;
    let (etag, size) = head(&client, key).await;
    let mut event = fixture("s3_two_records.json");
    patch_s3_record(&mut event["Records"][0], &etag, size);
    let (db, pg) = fresh_db("handler").await;
    let h = handler(&db, &client);
    let out = h.handle(&event, None).await.expect("handled");
    assert_eq!(out["ignored"], 1, "the delete record is ignored: {out}");
    assert_eq!(out["objects"].as_array().map(Vec::len), Some(1));
    let test = h
        .handle(&fixture("s3_test_event.json"), None)
        .await
        .expect("test event");
    assert_eq!(test["ignored"], 1);
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batch_reports_only_the_failed_message() {
    let (_s3, client) = local_s3("retail-lake");
    put(
        &client,
        "retail-lake",
        "incoming/sqs/a.csv",
        data(3, 1, 1_500),
    )
    .await;
    put(
        &client,
        "retail-lake",
        "incoming/sqs/b.csv",
        data(4, 10_001, 1_500),
    )
    .await;
    let mut bad = data(5, 20_001, 100);
    bad.extend_from_slice(b"TXN999999,2023-02-30,10:00:00,1.00,Cash,1,S,A- B,1,P,C,1.00,1,,,,\n");
    put(&client, "retail-lake", "incoming/sqs/bad.csv", bad).await;

    let mut event = fixture("sqs_s3.json");
    for (i, key) in [
        "incoming/sqs/a.csv",
        "incoming/sqs/b.csv",
        "incoming/sqs/bad.csv",
    ]
    .iter()
    .enumerate()
    {
        let (etag, size) = head(&client, key).await;
        let body_text = event["Records"][i]["body"]
            .as_str()
            .expect("body")
            .to_string();
        let mut body: Value = serde_json::from_str(&body_text).expect("body json");
        if body["Type"] == "Notification" {
            let mut inner: Value =
                serde_json::from_str(body["Message"].as_str().expect("message")).expect("inner");
            patch_s3_record(&mut inner["Records"][0], &etag, size);
            body["Message"] = inner.to_string().into();
        } else {
            patch_s3_record(&mut body["Records"][0], &etag, size);
        }
        event["Records"][i]["body"] = body.to_string().into();
    }
    let (db, pg) = fresh_db("handler").await;
    let h = handler(&db, &client);
    let out = h
        .handle(&event, None)
        .await
        .expect("sqs batches report, not fail");
    let failures = out["batchItemFailures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{out}");
    assert_eq!(
        failures[0]["itemIdentifier"],
        "7b2c8f3a-1d4e-4b5f-9a6c-3e8d7f1b2a90"
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 3_000);
    let failed: String = pg
        .query_one("SELECT error FROM load_ledger WHERE status = 'failed'", &[])
        .await
        .expect("failed row")
        .get(0);
    assert!(
        failed.contains("line 102") && failed.contains("transaction_date"),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_keys_are_taken_as_they_are() {
    let (_s3, client) = local_s3("retail-lake");
    let key = "incoming/eventbridge/x y+z.csv";
    put(&client, "retail-lake", key, data(6, 1, 500)).await;
    let (etag, size) = head(&client, key).await;
    let mut event = fixture("eventbridge_object_created.json");
    event["detail"]["object"]["etag"] = etag.into();
    event["detail"]["object"]["size"] = size.into();
    let (db, pg) = fresh_db("handler").await;
    let out = handler(&db, &client)
        .handle(&event, None)
        .await
        .expect("loads");
    assert_eq!(out["objects"][0]["status"], "loaded", "{out}");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_fail_the_invocation() {
    let (_s3, client) = local_s3("retail-lake");
    let (db, pg) = fresh_db("handler").await;
    let h = handler(&db, &client);
    // An object that is not there.
    let mut event = fixture("s3_put.json");
    patch_s3_record(&mut event["Records"][0], "0123", 10);
    let err = h
        .handle(&event, None)
        .await
        .expect_err("missing object fails");
    assert!(err.to_string().contains("1 of 1 objects failed"), "{err}");
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM load_ledger WHERE status = 'failed'"
        )
        .await,
        1
    );
    // A payload of no known shape.
    let err = h
        .handle(&serde_json::json!({"hello": "world"}), None)
        .await
        .expect_err("unknown payload");
    assert!(
        err.to_string()
            .contains("not an S3, SQS or EventBridge event"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_object_is_superseded_not_loaded() {
    let (_s3, client) = local_s3("retail-lake");
    let key = "incoming/2024/part-00001.csv";
    put(&client, "retail-lake", key, data(7, 1, 300)).await;
    let (old_etag, size) = head(&client, key).await;
    put(&client, "retail-lake", key, data(8, 1, 300)).await;
    let mut event = fixture("s3_two_records.json");
    patch_s3_record(&mut event["Records"][0], &old_etag, size);
    let (db, pg) = fresh_db("handler").await;
    let out = handler(&db, &client)
        .handle(&event, None)
        .await
        .expect("handled");
    assert_eq!(out["objects"][0]["status"], "superseded", "{out}");
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM load_ledger").await, 0);
}

/// The Lambda under contention: another session holds the store rows this
/// object's newer rows must replace (an open transaction, as a stuck
/// report or a hostile loader_role session would). The invocation answers
/// well within its deadline with an error that names the holder, keeps
/// nothing of the object, and the redelivered event loads it once the
/// holder is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_blocked_by_held_rows_fails_in_time_naming_the_holder() {
    let (_s3, client) = local_s3("retail-lake");
    let (db, pg) = fresh_db("handler_blocked").await;
    let mut options = test_options();
    options.lock_timeout = std::time::Duration::from_millis(500);
    options.max_attempts = 2;
    let h = Handler::new(lib_loader(&db, Some(client.clone()), options));
    let event_for = |etag: &str, size: u64, key: &str| {
        let mut event = fixture("s3_put.json");
        patch_s3_record(&mut event["Records"][0], etag, size);
        event["Records"][0]["s3"]["object"]["key"] = key.into();
        event
    };
    put(&client, "retail-lake", "first.csv", data(1, 1, 2_000)).await;
    let (etag, size) = head(&client, "first.csv").await;
    let out = h
        .handle(&event_for(&etag, size, "first.csv"), None)
        .await
        .expect("the first object loads");
    assert_eq!(out["objects"][0]["status"], "loaded", "{out}");

    // Every store row held by an open transaction of another session.
    let holder = db.connect().await.expect("connect");
    holder
        .batch_execute(
            "SET application_name = 'stuck-report';
             BEGIN;
             UPDATE public.dim_stores SET updated_at = updated_at;",
        )
        .await
        .expect("hold the store rows");
    put(
        &client,
        "retail-lake",
        "second.csv",
        data(2, 100_001, 2_000),
    )
    .await;
    let (etag, size) = head(&client, "second.csv").await;
    let event = event_for(&etag, size, "second.csv");
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let err = h
        .handle(&event, Some(deadline))
        .await
        .expect_err("blocked by the held rows");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(err.kind, "LoadFailed", "{}", err.message);
    assert!(
        err.message.contains("public.dim_stores")
            && err.message.contains("stuck-report")
            && err.message.contains("role postgres"),
        "{}",
        err.message
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM public.facts").await, 2_000);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM public.load_ledger WHERE status = 'failed' AND object_key = 'second.csv'"
        )
        .await,
        1
    );

    // The holder goes; the redelivered event loads the object.
    holder.batch_execute("ROLLBACK").await.expect("release");
    let out = h.handle(&event, None).await.expect("loads on redelivery");
    assert_eq!(out["objects"][0]["status"], "loaded", "{out}");
    assert_eq!(count(&pg, "SELECT count(*) FROM public.facts").await, 4_000);
    // The ledger keeps what it cost: both failed tries and the one that
    // loaded, and the time spent on the contended rows.
    let (attempts, contended): (i32, Option<i64>) = pg
        .query_one(
            "SELECT attempts, contended_ms FROM public.load_ledger WHERE object_key = 'second.csv'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("ledger row");
    assert_eq!(attempts, 3);
    assert!(contended.is_some_and(|ms| ms >= 0), "{contended:?}");
    assert_eq!(out["objects"][0]["attempts"], 1, "{out}");
    assert_verified(&pg).await;
}
