//! Past one server: the same loader, SQL and trigger on a local Citus
//! cluster (a coordinator and two workers, `deploy/citus/cluster.sh`), facts
//! distributed by transaction_id, the dimensions reference tables. The core
//! loads: one object, 8 drifting objects at `-j 4` equal to a serial reverse
//! load on plain PostgreSQL, a repeated id, rejects, a killed load, verify.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use generator::Spec;
use loader::Source;
use support::*;

/// A coordinator and two workers under a temporary directory; stopped when
/// dropped.
struct Cluster {
    dir: tempfile::TempDir,
    base: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/citus/cluster.sh")
}

/// Three free consecutive ports.
fn free_base() -> u16 {
    for _ in 0..50 {
        let base = TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        if base > 65_000 {
            continue;
        }
        if (0..3).all(|n| TcpListener::bind(("127.0.0.1", base + n)).is_ok()) {
            return base;
        }
    }
    panic!("no three free ports");
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = free_base();
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .arg(base.to_string())
            .output()
            .expect("run cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster { dir, base }
    }

    /// A database on every node, the workers registered; its URL on the
    /// coordinator.
    fn createdb(&self, name: &str) -> String {
        let out = Command::new("bash")
            .arg(script())
            .arg("createdb")
            .arg(self.dir.path())
            .arg(name)
            .arg(self.base.to_string())
            .output()
            .expect("run cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn loader(url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loader"));
    cmd.env("DATABASE_URL", url).env("RUST_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run loader");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_loads_on_a_citus_cluster() {
    let cluster = Cluster::start();
    let url = cluster.createdb("citus_core");
    // init finds the extension and distributes the star schema; again is a no-op.
    for _ in 0..2 {
        let (ok, out) = run(loader(&url).arg("init"));
        assert!(ok, "init on Citus: {out}");
    }
    let pg = connect(&url).await;
    let layout: Vec<String> = pg
        .query(
            "SELECT logicalrelid::text || ' ' || partmethod::text FROM pg_dist_partition ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_dist_partition")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        layout,
        [
            "dim_customers n",
            "dim_dates n",
            "dim_products n",
            "dim_stores n",
            "facts h"
        ]
    );

    // 8 drifting objects sharing stores, products and customers, 4 at a
    // time, against the same objects loaded one by one in reverse order
    // on plain PostgreSQL.
    let spec = Spec {
        rows: 16_000,
        files: 8,
        seed: 43,
        drift: 0.2,
        stores: 20,
        products: 100,
        customers: 2_000,
        ..Spec::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = generate_into(dir.path(), &spec).await;
    let files = generated_paths(dir.path(), &summary);
    let (serial_db, serial) = fresh_db("citus_serial").await;
    let mut one = lib_loader(&serial_db, None, test_options());
    for f in files.iter().rev() {
        one.load(&Source::File(f.clone()))
            .await
            .expect("serial load");
    }
    let (ok, out) = run(loader(&url).args(["load", "-j", "4"]).args(&files));
    assert!(ok && out.contains("8 loaded"), "{out}");
    assert!(
        star_dump(&pg).await == star_dump(&serial).await,
        "the cluster's star schema differs from the serial load"
    );

    // A repeated id: the first object again under another name.
    let again = dir.path().join("again.csv");
    std::fs::copy(&files[0], &again).expect("copy");
    let (ok, out) = run(loader(&url).args(["load", "--json"]).arg(&again));
    assert!(ok, "{out}");
    let rows = summary.files[0].figures.rows;
    assert!(
        out.contains(&format!("\"duplicates\":{rows}")),
        "every row a duplicate: {out}"
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        summary.total.rows as i64
    );

    // The loader's lock_timeout reaches the workers: a fact held
    // uncommitted by another session on a worker's shard stops a load of
    // the same id for a bounded time, not until the holder ends.
    let holder = connect(&url).await;
    holder
        .batch_execute(
            "BEGIN;
             INSERT INTO public.facts VALUES
                 ('HELD-1', '2024-06-01', '10:00', 1, 7, 5, 'Cash', 1, 5.00, NULL);",
        )
        .await
        .expect("hold a fact");
    let held = dir.path().join("held.csv");
    std::fs::write(
        &held,
        format!("{HEADER}HELD-1,2024-06-01,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"),
    )
    .expect("write");
    let started = Instant::now();
    let (ok, out) = run(loader(&url)
        .args(["load", "--lock-timeout", "1s", "--attempts", "1"])
        .arg(&held));
    assert!(!ok, "blocked by the held fact: {out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?}: {out}",
        started.elapsed()
    );
    holder.batch_execute("ROLLBACK").await.expect("release");
    let (ok, out) = run(loader(&url).arg("load").arg(&held));
    assert!(ok && out.contains("1 loaded"), "{out}");

    // Rejects: one bad row set aside, the good one loaded.
    let bad = dir.path().join("rejects.csv");
    let header = std::fs::read_to_string(&files[1]).expect("read");
    let header = header.lines().next().expect("header");
    std::fs::write(
        &bad,
        format!(
            "{header}\nR-1,2024-06-01,10:00:00,5.00,Cash,1,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n\
             R-2,2024-06-01,10:00:00,5.00,Cash,not-a-store,A,Akron- OH,7,Tea,Food,2.50,1,5,40,F,Gold\n"
        ),
    )
    .expect("write");
    let (ok, out) = run(loader(&url).args(["load", "--max-rejects", "1"]).arg(&bad));
    assert!(ok, "{out}");
    assert_eq!(count(&pg, "SELECT count(*) FROM load_rejects").await, 1);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM facts WHERE transaction_id = 'R-1'"
        )
        .await,
        1
    );

    // A killed load leaves nothing; the next one loads it.
    let big = tempfile::tempdir().expect("tempdir");
    let big_summary = generate_into(
        big.path(),
        &Spec {
            rows: 300_000,
            files: 1,
            seed: 47,
            start_id: 10_000_000,
            ..Spec::default()
        },
    )
    .await;
    let big_file = generated_paths(big.path(), &big_summary).remove(0);
    let before = count(&pg, "SELECT count(*) FROM facts").await;
    let mut child = loader(&url)
        .arg("load")
        .arg(&big_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let copying = count(
            &pg,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %staging_table%'",
        )
        .await;
        if copying > 0 || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        before,
        "nothing of the killed load"
    );
    let (ok, out) = run(loader(&url).arg("load").arg(&big_file));
    assert!(ok && out.contains("1 loaded"), "{out}");
    assert_eq!(
        count(&pg, "SELECT count(*) FROM facts").await,
        before + 300_000
    );

    let (ok, out) = run(loader(&url).arg("verify"));
    assert!(ok, "verify on Citus: {out}");
    assert_verified(&pg).await;
}
