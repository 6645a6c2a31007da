//! Connections as deployed: many loads through a transaction-mode pooler
//! (PgBouncer from Debian's packages, as RDS Proxy multiplexes), where each
//! transaction may run on another server connection and a session setting
//! would stay behind on a server for the next client. Everything the
//! loader relies on must be per transaction.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use generator::Spec;
use support::*;

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// A PgBouncer in transaction mode in front of the test server, with two
/// server connections per database and user; stopped when dropped.
struct Pooler {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Pooler {
    fn start() -> Pooler {
        assert!(
            Path::new(PGBOUNCER).exists(),
            "PgBouncer is required for this test: apt-get install pgbouncer (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let path = |name: &str| -> PathBuf { dir.path().join(name) };
        std::fs::write(
            path("users.txt"),
            "\"postgres\" \"\"\n\"loader_role\" \"\"\n",
        )
        .expect("users");
        std::fs::write(
            path("pgbouncer.ini"),
            format!(
                "[databases]\n* = host=127.0.0.1 port=5432\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {users}\n\
                 pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 200\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 logfile = {log}\n",
                users = path("users.txt").display(),
                log = path("pgbouncer.log").display()
            ),
        )
        .expect("config");
        // PgBouncer will not run as root; it takes another identity then.
        let mut command = Command::new(PGBOUNCER);
        if is_root() {
            std::fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o777),
            )
            .expect("chmod");
            for f in ["users.txt", "pgbouncer.ini"] {
                std::fs::set_permissions(
                    path(f),
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )
                .expect("chmod");
            }
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(path("pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let give_up = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < give_up, "pgbouncer did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Pooler {
            child,
            port,
            _dir: dir,
        }
    }

    /// `url` (a test database's) through the pooler, as `user`.
    fn url(&self, url: &str, user: &str) -> String {
        url.replacen(
            "postgres://postgres@127.0.0.1:5432/",
            &format!("postgres://{user}@127.0.0.1:{}/", self.port),
            1,
        )
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Init, 24 loads at -j 6 (one of them bad, so a failure is recorded),
/// verify: all through two server connections in transaction mode, as
/// loader_role for the loads. Every good object loads once, the failure is
/// in the ledger, and no session setting of the loader stays behind on a
/// server connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_through_a_transaction_mode_pooler() {
    let (db, mut admin) = fresh_db("pooler").await;
    loader::schema::roles(&mut admin).await.expect("roles");
    let pooler = Pooler::start();
    assert!(
        db.url().starts_with("postgres://postgres@127.0.0.1:5432/"),
        "test database URL has the expected form: {}",
        db.url()
    );
    let owner_url = pooler.url(db.url(), "postgres");
    let role_url = pooler.url(db.url(), "loader_role");

    let run = |url: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_loader"))
            .args(args)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run loader");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, _, stderr) = run(&owner_url, &["init"]);
    assert!(ok, "init through the pooler: {stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec {
        rows: 24_000,
        files: 24,
        seed: 41,
        ..Spec::default()
    };
    let summary = generate_into(dir.path(), &spec).await;
    let (ok, stdout, stderr) = run(
        &role_url,
        &["load", "-j", "6", &dir.path().display().to_string()],
    );
    assert!(ok && stdout.contains("24 loaded"), "{stdout}{stderr}");
    assert!(
        !stdout.contains("prepared statement") && !stderr.contains("prepared statement"),
        "{stdout}{stderr}"
    );
    // A failure is recorded through the pooler too (alone: with six loads
    // queued for two server connections, a busy machine can keep it past
    // the loader's 4 s bound for recording a failure).
    let bad_dir = tempfile::tempdir().expect("tempdir");
    let bad = bad_dir.path().join("zz-bad.csv");
    std::fs::write(&bad, "transaction_id\nonly-one-column\n").expect("write");
    let (ok, stdout, stderr) = run(&role_url, &["load", &bad.display().to_string()]);
    assert!(!ok && stdout.contains("1 failed"), "{stdout}{stderr}");
    assert_eq!(
        count(&admin, "SELECT count(*) FROM public.facts").await,
        summary.total.rows as i64
    );
    let failed: Vec<String> = admin
        .query(
            "SELECT object_key || ': ' || coalesce(error, '') FROM public.load_ledger
             WHERE status <> 'loaded'",
            &[],
        )
        .await
        .expect("ledger")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        failed.len() == 1
            && failed[0].contains("zz-bad.csv")
            && failed[0].contains("missing columns"),
        "{failed:?} {stdout} {stderr}"
    );
    // The same objects again: each skipped.
    let (_, stdout, stderr) = run(
        &role_url,
        &["load", "-j", "6", &dir.path().display().to_string()],
    );
    assert!(stdout.contains("24 skipped"), "{stdout}{stderr}");

    // Nothing of the loader's settings stayed on the pooled server
    // connections: a new client sees the server's defaults.
    let (client, connection) = tokio_postgres::connect(&role_url, tokio_postgres::NoTls)
        .await
        .expect("connect through the pooler");
    tokio::spawn(connection);
    let settings =
        "SELECT current_setting('search_path') || ' / ' || current_setting('lock_timeout')
                    || ' / ' || current_setting('work_mem')";
    let defaults: String = admin
        .query_one(settings, &[])
        .await
        .expect("settings")
        .get(0);
    for _ in 0..4 {
        // The simple protocol: no statement prepared outside a transaction.
        let seen = client
            .simple_query(settings)
            .await
            .expect("settings")
            .into_iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .expect("a row");
        assert_eq!(seen, defaults);
    }
    let (ok, stdout, stderr) = run(&owner_url, &["verify"]);
    assert!(ok, "verify through the pooler: {stdout}{stderr}");
    assert_verified(&admin).await;
}
