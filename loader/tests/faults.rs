//! Faults during a load, each followed by a retry (in-process or a new
//! delivery) and a check that the object is loaded exactly once: the
//! backend terminated mid-COPY, the loader process killed at several points,
//! the S3 body cut off, a stream too slow for its deadline.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use generator::Spec;
use loader::{Error, LoadOptions, Outcome, Source};
use standins::{FaultMode, FaultProxy, LocalS3, TestDb};
use support::*;
use tokio_postgres::Client;

const ROWS: u64 = 60_000;

fn rows_spec(seed: u64) -> Spec {
    Spec {
        rows: ROWS,
        seed,
        ..Spec::default()
    }
}

/// A local S3 endpoint holding `key`, reached through a fault proxy.
async fn proxied_object(
    key: &str,
    seed: u64,
    mode: FaultMode,
) -> (LocalS3, FaultProxy, aws_sdk_s3::Client, u64) {
    let (s3, direct) = local_s3("lake");
    let body = file_bytes(&rows_spec(seed), 0);
    let size = body.len() as u64;
    put(&direct, "lake", key, body).await;
    let proxy = FaultProxy::start(s3.addr(), mode).expect("proxy");
    let client = standins::s3::client(&proxy.endpoint());
    (s3, proxy, client, size)
}

/// Waits until a backend of this database runs a COPY, and returns its pid.
async fn copy_backend(observer: &Client, db: &TestDb) -> i32 {
    let started = Instant::now();
    loop {
        let row = observer
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = $1 AND state = 'active' AND query LIKE 'COPY%' LIMIT 1",
                &[&db.name()],
            )
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no COPY started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no backend of this database is in a transaction any more.
async fn quiet(observer: &Client, db: &TestDb) {
    let started = Instant::now();
    loop {
        let busy = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
                &[&db.name()],
            )
            .await
            .expect("pg_stat_activity")
            .get::<_, i64>(0);
        if busy == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "backends still busy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assert_nothing_committed(pg: &Client) {
    assert_eq!(count(pg, "SELECT count(*) FROM staging_table").await, 0);
    assert_eq!(count(pg, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(count(pg, "SELECT count(*) FROM dim_stores").await, 0);
    assert_eq!(
        count(
            pg,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        0
    );
}

async fn assert_loaded_once(pg: &Client) {
    assert_eq!(
        count(pg, "SELECT count(*) FROM staging_table").await,
        ROWS as i64
    );
    assert_eq!(count(pg, "SELECT count(*) FROM facts").await, ROWS as i64);
    assert_eq!(
        count(
            pg,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        1
    );
    assert_verified(pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_terminated_mid_copy_is_retried_and_loads_once() {
    // ~8 MB at 4 MB/s: the COPY runs for about two seconds.
    let (_s3, _proxy, client, _) = proxied_object(
        "a.csv",
        1,
        FaultMode::Throttle {
            bytes_per_sec: 4 << 20,
        },
    )
    .await;
    let (db, pg) = fresh_db("terminate").await;
    let mut loader = lib_loader(&db, Some(client), test_options());
    let source = Source::s3("lake", "a.csv");
    let load = loader.load(&source);
    let kill = async {
        let pid = copy_backend(&pg, &db).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        pg.execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
    };
    let (report, ()) = tokio::join!(load, kill);
    let report = report.expect("the retry loads it");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert!(report.attempts >= 2, "attempts: {}", report.attempts);
    assert_loaded_once(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_terminated_without_retries_fails_cleanly_then_a_redelivery_loads() {
    let (_s3, proxy, client, _) = proxied_object(
        "a.csv",
        2,
        FaultMode::Throttle {
            bytes_per_sec: 4 << 20,
        },
    )
    .await;
    let (db, pg) = fresh_db("terminate").await;
    let options = LoadOptions {
        max_attempts: 1,
        ..test_options()
    };
    let mut loader = lib_loader(&db, Some(client), options);
    let source = Source::s3("lake", "a.csv");
    let kill = async {
        let pid = copy_backend(&pg, &db).await;
        pg.execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
    };
    let (result, ()) = tokio::join!(loader.load(&source), kill);
    let err = result.expect_err("no retries: it fails");
    assert!(err.is_retryable(), "{err}");
    assert_nothing_committed(&pg).await;
    let error: String = pg
        .query_one("SELECT error FROM load_ledger WHERE status = 'failed'", &[])
        .await
        .expect("a failed ledger row")
        .get(0);
    assert!(error.contains("s3://lake/a.csv"), "{error}");
    // A new delivery (the Lambda's retry) loads it once.
    proxy.set_mode(FaultMode::PassThrough);
    let report = loader.load(&source).await.expect("redelivery");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert_loaded_once(&pg).await;
    let attempts = count(&pg, "SELECT attempts::bigint FROM load_ledger").await;
    assert_eq!(attempts, 2, "the ledger counts both deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_body_cut_mid_stream_commits_nothing_and_is_retryable() {
    let (_s3, proxy, client, size) =
        proxied_object("cut.csv", 3, FaultMode::CutAfter { bytes: 1 << 20 }).await;
    assert!(size > 4 << 20);
    let (db, pg) = fresh_db("cut").await;
    let options = LoadOptions {
        max_attempts: 1,
        ..test_options()
    };
    let mut loader = lib_loader(&db, Some(client.clone()), options);
    let source = Source::s3("lake", "cut.csv");
    let err = loader.load(&source).await.expect_err("the body is cut");
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(err, Error::Read { .. } | Error::S3 { .. }),
        "{err:?}"
    );
    assert_nothing_committed(&pg).await;
    // In-process retries get through once the network recovers.
    proxy.set_mode(FaultMode::PassThrough);
    let mut retrying = lib_loader(&db, Some(client), test_options());
    let report = retrying.load(&source).await.expect("loads");
    assert_eq!(report.rows, ROWS);
    assert_loaded_once(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_slower_than_the_deadline_is_aborted_and_recorded() {
    // ~8 MB at 512 KB/s would take 16 s; the deadline allows 3.
    let (_s3, _proxy, client, _) = proxied_object(
        "slow.csv",
        4,
        FaultMode::Throttle {
            bytes_per_sec: 512 << 10,
        },
    )
    .await;
    let (db, pg) = fresh_db("deadline").await;
    let options = LoadOptions {
        deadline_margin: Duration::from_secs(1),
        ..test_options()
    };
    let mut loader = lib_loader(&db, Some(client), options);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let err = loader
        .load_by(&Source::s3("lake", "slow.csv"), deadline)
        .await
        .expect_err("the deadline stops it");
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
    quiet(&pg, &db).await;
    assert_nothing_committed(&pg).await;
    let (status, error): (String, String) = pg
        .query_one("SELECT status, error FROM load_ledger", &[])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("ledger row");
    assert_eq!(status, "timed_out");
    assert!(error.contains("deadline"), "{error}");
}

fn spawn_loader(db: &TestDb, proxy: &FaultProxy) -> Child {
    let mut cmd = loader_cmd(db, None);
    cmd.env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("AWS_ACCESS_KEY_ID", standins::s3::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", standins::s3::SECRET_ACCESS_KEY)
        .env("AWS_REGION", standins::s3::REGION)
        .args(["load", "s3://lake/kill.csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn loader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loader_killed_at_several_points_leaves_nothing_and_a_rerun_loads_once() {
    let (_s3, proxy, _client, _) = proxied_object(
        "kill.csv",
        5,
        FaultMode::Throttle {
            bytes_per_sec: 4 << 20,
        },
    )
    .await;
    let (db, pg) = fresh_db("kill").await;
    // Killed before it connects, while it streams the COPY, and late in the COPY.
    for delay_after_copy in [None, Some(200), Some(1_200)] {
        let mut child = spawn_loader(&db, &proxy);
        match delay_after_copy {
            None => tokio::time::sleep(Duration::from_millis(30)).await,
            Some(ms) => {
                copy_backend(&pg, &db).await;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success());
        quiet(&pg, &db).await;
        assert_nothing_committed(&pg).await;
    }
    let out = spawn_loader(&db, &proxy).wait_with_output().expect("rerun");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("loaded"));
    assert_loaded_once(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_a_backfill_loads_every_object_once() {
    let server = standins::LocalPostgres::start_throwaway().expect("a throwaway cluster");
    let db = server.create_database("restart").await.expect("db");
    {
        let mut client = db.connect().await.expect("connect");
        loader::schema::init(&mut client).await.expect("schema");
    }
    let spec = Spec {
        rows: 240_000,
        files: 12,
        seed: 9,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let child = loader_cmd(&db, None)
        .args(["load", "-j", "2", "--attempts", "10"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loader");
    {
        let observer = db.connect().await.expect("observer");
        copy_backend(&observer, &db).await;
    }
    // The server comes back from the task: dropping it would remove the cluster.
    let _server = tokio::task::spawn_blocking(move || {
        server.restart().expect("restart");
        server
    })
    .await
    .expect("restart task");
    let out = child.wait_with_output().expect("loader output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("loaded")).count(),
        12,
        "{stdout}"
    );
    let pg = db.connect().await.expect("reconnect");
    let total = summary.total.rows as i64;
    assert_eq!(
        count(&pg, "SELECT count(*) FROM staging_table").await,
        total
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, total);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        12
    );
    assert_verified(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_refused_at_its_start_is_recorded_and_the_next_load_goes_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.csv");
    std::fs::write(&path, file_bytes(&rows_spec(5), 0)).expect("write");
    let (db, pg) = fresh_db("copy_refused").await;
    pg.batch_execute(&format!(
        "ALTER DATABASE \"{}\" SET lock_timeout = '300ms'",
        db.name()
    ))
    .await
    .expect("lock_timeout");
    // Another session holds the staging table: the COPY cannot start.
    let holder = db.connect().await.expect("connect");
    holder
        .batch_execute("BEGIN; LOCK TABLE staging_table IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let options = LoadOptions {
        max_attempts: 1,
        ..test_options()
    };
    let mut loader = lib_loader(&db, None, options);
    let source = Source::File(path);
    let err = loader.load(&source).await.expect_err("locked out");
    assert!(err.to_string().contains("starting COPY"), "{err}");
    // The failure is in the ledger, written over the same loader's connection.
    let error: String = pg
        .query_one("SELECT error FROM load_ledger WHERE status = 'failed'", &[])
        .await
        .expect("a failed ledger row")
        .get(0);
    assert!(error.contains("55P03"), "{error}");
    holder.batch_execute("COMMIT").await.expect("unlock");
    let report = loader.load(&source).await.expect("unlocked");
    assert_eq!(report.outcome, Outcome::Loaded);
    assert_loaded_once(&pg).await;
}
