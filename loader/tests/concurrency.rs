//! Concurrent loads with overlapping (and drifting) dimension ids: no
//! deadlock reaches the user, no row is lost or doubled, and the final star
//! schema is the same as a serial load in another order; overlapping prunes
//! prune each load once; inits at once and beside loads all succeed.

mod support;

use std::sync::{Arc, Mutex};

use generator::Spec;
use loader::{Outcome, Source};
use support::*;

const OBJECTS: u32 = 32;
const WORKERS: usize = 8;
const REPETITIONS: usize = 10;

/// A role with nothing but CONNECT, holding every advisory lock it can
/// name in `db` for as long as the returned client lives: the oids of the
/// loader's tables and functions, the previous releases' keys (the
/// staging table's oid, the init key 8243124858765094258) and 0..=1000.
/// No load or init may wait for any of them.
async fn hold_every_advisory_lock(db: &standins::TestDb) -> tokio_postgres::Client {
    let admin = db.connect().await.expect("connect");
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loader_test_connect_only') THEN
                     CREATE ROLE loader_test_connect_only LOGIN;
                 END IF;
             END $$;
             GRANT CONNECT ON DATABASE \"{}\" TO loader_test_connect_only;",
            db.name()
        ))
        .await
        .expect("a role with only CONNECT");
    let url = db.url().replacen(
        "postgres://postgres@",
        "postgres://loader_test_connect_only@",
        1,
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect as the CONNECT-only role");
    tokio::spawn(connection);
    let held: i64 = client
        .query_one(
            "SELECT count(pg_advisory_lock(k)) FROM (
                 SELECT c.oid::bigint AS k FROM pg_class c
                 WHERE c.relnamespace IN ('public'::regnamespace, 'loader'::regnamespace)
                 UNION SELECT p.oid::bigint FROM pg_proc p
                 WHERE p.pronamespace = 'loader'::regnamespace
                 UNION SELECT 8243124858765094258
                 UNION SELECT generate_series(0, 1000)) keys",
            &[],
        )
        .await
        .expect("advisory locks")
        .get(0);
    assert!(held > 1000, "held {held} advisory locks");
    client
}

/// Loads `paths` with `workers` loaders at once, each taking the next path
/// from one queue (from its end); every report, in no particular order.
/// Starts at once: await the result to wait for them.
fn load_in_parallel(
    db: &standins::TestDb,
    paths: Vec<std::path::PathBuf>,
    workers: usize,
) -> impl std::future::Future<Output = Vec<loader::Result<loader::LoadReport>>> {
    let queue = Arc::new(Mutex::new(paths));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let queue = queue.clone();
            let mut worker = lib_loader(db, None, test_options());
            tokio::spawn(async move {
                let mut reports = Vec::new();
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some(path) = next else { break };
                    reports.push(worker.load(&Source::File(path)).await);
                }
                reports
            })
        })
        .collect();
    async move {
        let mut reports = Vec::new();
        for handle in handles {
            reports.extend(handle.await.expect("worker"));
        }
        reports
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_loads_of_thirty_two_objects_match_a_serial_load() {
    let spec = Spec {
        rows: 32_000,
        files: OBJECTS,
        seed: 23,
        drift: 0.2,
        stores: 20,
        products: 100,
        customers: 2_000,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let files: Vec<_> = generated_paths(dir.path(), &summary);

    // The reference: one connection, objects in reverse order.
    let (serial_db, serial) = fresh_db("serial").await;
    let mut one = lib_loader(&serial_db, None, test_options());
    for f in files.iter().rev() {
        one.load(&Source::File(f.clone()))
            .await
            .expect("serial load");
    }
    let expected = star_dump(&serial).await;
    assert_verified(&serial).await;

    for rep in 0..REPETITIONS {
        let (db, pg) = fresh_db("concurrent").await;
        let _squatter = hold_every_advisory_lock(&db).await;
        // A different interleaving each time: rotate and alternate direction.
        let mut order: Vec<_> = files.clone();
        order.rotate_left(rep % files.len());
        if rep % 2 == 1 {
            order.reverse();
        }
        let mut loaded = 0;
        for report in load_in_parallel(&db, order, WORKERS).await {
            // Deadlocks and serialization failures are retried inside;
            // none may reach the caller.
            let report = report.unwrap_or_else(|e| panic!("rep {rep}: {e}"));
            assert_eq!(report.outcome, Outcome::Loaded);
            loaded += 1;
        }
        assert_eq!(loaded, OBJECTS);
        let total = summary.total.rows as i64;
        assert_eq!(
            count(&pg, "SELECT count(*) FROM staging_table").await,
            total
        );
        assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, total);
        let cents = count(&pg, "SELECT (sum(total_amount) * 100)::bigint FROM facts").await;
        assert_eq!(cents, summary.total.total_amount_cents);
        let dump = star_dump(&pg).await;
        assert!(
            dump == expected,
            "repetition {rep}: star schema differs from the serial load"
        );
        if rep == 0 {
            assert_verified(&pg).await;
        }
    }
}

/// Re-uploads under other keys, loaded at once: two copies of every object
/// (the same transaction ids), 8 at a time, while a CONNECT-only role holds
/// every advisory lock it can name. Each fact is kept once, every other
/// copy is a duplicate in the ledger, no error reaches the caller (a
/// deadlock between two loads that insert the same ids in another order
/// is retried), and the star schema is the serial load's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_sharing_transaction_ids_load_each_fact_once() {
    let spec = Spec {
        rows: 16_000,
        files: 16,
        seed: 37,
        drift: 0.2,
        stores: 20,
        products: 100,
        customers: 2_000,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let mut paths = Vec::new();
    for (i, f) in generated_paths(dir.path(), &summary).iter().enumerate() {
        let copy = dir.path().join(format!("reupload-{i:02}.csv"));
        std::fs::copy(f, &copy).expect("copy");
        paths.push(f.clone());
        paths.push(copy);
    }
    let (serial_db, serial) = fresh_db("shared_serial").await;
    let mut one = lib_loader(&serial_db, None, test_options());
    for f in paths.iter().rev() {
        one.load(&Source::File(f.clone()))
            .await
            .expect("serial load");
    }
    let expected = star_dump(&serial).await;

    let (db, pg) = fresh_db("shared_ids").await;
    let _squatter = hold_every_advisory_lock(&db).await;
    let (mut retried, mut duplicates) = (0, 0);
    for report in load_in_parallel(&db, paths.clone(), WORKERS).await {
        let report = report.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.outcome, Outcome::Loaded);
        retried += report.attempts - 1;
        duplicates += report.duplicates;
    }
    eprintln!("{} loads of shared ids: {retried} retries", paths.len());
    assert_eq!(duplicates, summary.total.rows, "every second copy counted");
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        summary.total.rows as i64
    );
    assert_eq!(
        count(
            &pg,
            "SELECT sum(duplicates)::bigint FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        summary.total.rows as i64
    );
    assert!(
        star_dump(&pg).await == expected,
        "differs from the serial load"
    );
    assert_verified(&pg).await;
}

/// Overlapping `loader prune` runs (a cron job that outlives its period):
/// each staged row is pruned once, by one of them, none fails, and the star
/// schema stays. The staging table is larger than a quarter of the server's
/// default shared_buffers, so a sequential scan of it is synchronized with
/// another one's: two DELETEs of the same load's rows then lock them in
/// different orders (they deadlocked before prune locked the load first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_prunes_prune_each_load_once_and_none_fails() {
    let spec = Spec {
        rows: 300_000,
        files: 10,
        seed: 29,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let (db, pg) = fresh_db("prunes").await;
    let mut loader = lib_loader(&db, None, test_options());
    for f in generated_paths(dir.path(), &summary) {
        let report = loader.load(&Source::File(f)).await.expect("load");
        assert_eq!(report.outcome, Outcome::Loaded);
    }
    let runs: Vec<_> = (0..4)
        .map(|_| {
            loader_cmd(&db, None)
                .args(["prune", "--older-than", "0s"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn prune")
        })
        .collect();
    let mut pruned = 0u64;
    for run in runs {
        let output = run.wait_with_output().expect("prune");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows: u64 = stdout
            .strip_prefix("pruned ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no count: {stdout}"));
        pruned += rows;
    }
    assert_eq!(pruned, summary.total.rows, "every staged row pruned once");
    assert_eq!(count(&pg, "SELECT count(*) FROM staging_table").await, 0);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM load_ledger WHERE staging_pruned_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        summary.total.rows as i64
    );
    assert_verified(&pg).await;
}

/// `loader init` is safe to run again at any time: four at once on an empty
/// database, then more while loads run. Every one succeeds, no load fails,
/// and the star schema is whole (they failed with duplicate catalog rows and
/// deadlocks before init took its locks up front, in the loads' order).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inits_at_once_and_beside_running_loads_all_succeed() {
    let pg_server = standins::LocalPostgres::shared().expect("a PostgreSQL for tests");
    let db = pg_server.create_database("inits").await.expect("database");
    let pg = db.connect().await.expect("connect");
    let inits = |n: usize| -> Vec<std::process::Child> {
        (0..n)
            .map(|_| {
                loader_cmd(&db, None)
                    .arg("init")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn init")
            })
            .collect()
    };
    let all_succeed = |runs: Vec<std::process::Child>| {
        for run in runs {
            let output = run.wait_with_output().expect("init");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    };
    all_succeed(inits(4));
    assert_eq!(count(&pg, "SELECT count(*) FROM loader_schema").await, 1);

    let spec = Spec {
        rows: 120_000,
        files: 12,
        seed: 31,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let loads = load_in_parallel(&db, generated_paths(dir.path(), &summary), 3);
    for _ in 0..3 {
        let runs = inits(2);
        tokio::task::spawn_blocking(move || all_succeed(runs))
            .await
            .expect("inits");
    }
    for report in loads.await {
        let report = report.expect("a load beside init");
        assert_eq!(report.outcome, Outcome::Loaded);
        assert_eq!(report.attempts, 1, "a load beside init had to retry");
    }
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        summary.total.rows as i64
    );
    assert_verified(&pg).await;
}
