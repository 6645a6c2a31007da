//! Security: hostile values and keys, least privilege, TLS verification,
//! and secrets kept out of messages.

mod support;

use std::path::Path;
use std::process::Command;

use generator::Spec;
use loader::{CopyFormat, DbConfig, LoadOptions, Outcome, Source};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_contents_cannot_smuggle_rows_or_end_the_copy() {
    let hostile = [
        "a\tb",
        "line1\nTXN999,2024-01-01,00:00:00,1.00,Cash,1,S,L,1,P,C,1.00,1,,,,",
        "\\.",
        "end\n\\.\nafter",
        "back\\slash\\N",
        "\\N",
        "cr\r\nlf",
    ];
    let mut csv = format!("{PRODUCER_HEADER}\n");
    for (i, name) in hostile.iter().enumerate() {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        csv.push_str(&format!(
            "TXN{i:06},2024-03-01,10:00:00,1.00,Cash,1,Store,City- ST,{},{quoted},Cat,1.00,1,,,,\n",
            i + 1
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hostile.csv");
    std::fs::write(&file, &csv).expect("write");
    for format in [CopyFormat::Binary, CopyFormat::Text] {
        let (db, pg) = fresh_db("smuggle").await;
        let options = LoadOptions {
            format,
            ..test_options()
        };
        let report = lib_loader(&db, None, options)
            .load(&Source::File(file.clone()))
            .await
            .expect("loads");
        assert_eq!(report.rows, hostile.len() as u64, "{format:?}");
        let rows = pg
            .query(
                "SELECT product_name FROM staging_table ORDER BY transaction_id",
                &[],
            )
            .await
            .expect("select");
        let stored: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(stored, hostile, "{format:?}: stored exactly, no extra rows");
        assert_eq!(
            count(&pg, "SELECT count(*) FROM facts").await,
            hostile.len() as i64
        );
        assert_eq!(
            count(
                &pg,
                "SELECT count(*) FROM facts WHERE transaction_id = 'TXN999'"
            )
            .await,
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_object_keys_are_data_not_sql() {
    let keys = [
        "in/'; DROP TABLE facts; --.csv",
        "in/\"); DELETE FROM load_ledger; --.csv",
        "in/$1 %s {} \\x00 `rm`.csv",
        "in/line\nbreak.csv",
    ];
    let (_s3, client) = local_s3("lake");
    let (db, pg) = fresh_db("keys").await;
    let mut loader = lib_loader(&db, Some(client.clone()), test_options());
    for (i, key) in keys.iter().enumerate() {
        let spec = Spec {
            rows: 100,
            seed: i as u64,
            start_id: 1 + 1000 * i as u64,
            ..Spec::default()
        };
        put(&client, "lake", key, file_bytes(&spec, 0)).await;
        let report = loader.load(&Source::s3("lake", *key)).await.expect("loads");
        assert_eq!(report.outcome, Outcome::Loaded, "{key:?}");
        // Shown with control characters escaped, so a key cannot forge a log line.
        assert!(!report.object.contains('\n'), "{:?}", report.object);
    }
    let stored: Vec<String> = pg
        .query("SELECT object_key FROM load_ledger ORDER BY load_id", &[])
        .await
        .expect("ledger")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, keys);
    assert_eq!(count(&pg, "SELECT count(*) FROM facts").await, 400);
    assert_verified(&pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loader_role_loads_but_cannot_touch_the_star_schema() {
    let (db, mut admin) = fresh_db("roles").await;
    loader::schema::roles(&mut admin)
        .await
        .expect("roles.sql applies");
    // Twice: it is safe to re-run.
    loader::schema::roles(&mut admin).await.expect("again");
    let url = db
        .url()
        .replacen("postgres://postgres@", "postgres://loader_role@", 1);
    assert_ne!(url, db.url(), "test database URL has the expected form");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec {
        rows: 2_000,
        ..Spec::default()
    };
    let summary = generate_into(dir.path(), &spec).await;
    let mut loader = loader::Loader::new(
        loader::Db::new(DbConfig::from_url(&url).expect("url")),
        None,
        test_options(),
    );
    let report = loader
        .load(&Source::File(dir.path().join(&summary.files[0].file)))
        .await
        .expect("the loader role loads");
    assert_eq!(report.outcome, Outcome::Loaded);
    // The trigger ran as its owner and filled the star schema.
    assert_eq!(count(&admin, "SELECT count(*) FROM facts").await, 2_000);
    assert_verified(&admin).await;

    let role = DbConfig::from_url(&url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    for sql in [
        "SELECT count(*) FROM facts",
        "SELECT count(*) FROM dim_stores",
        "SELECT count(*) FROM staging_table",
        "UPDATE dim_products SET product_price = 0",
        "DELETE FROM facts",
        "INSERT INTO facts (transaction_id, transaction_date, transaction_time, store_id, product_id, payment_method, quantity_sold, total_amount) VALUES ('X', '2024-01-01', '00:00', 1, 1, 'Cash', 1, 1)",
        "DELETE FROM staging_table",
        "TRUNCATE dim_customers",
        "SELECT loader.normalize_staging_batch()",
    ] {
        let err = role.batch_execute(sql).await.expect_err(sql);
        let code = err.code().map(|c| c.code().to_string());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err:?}");
    }
    assert_eq!(count(&admin, "SELECT count(*) FROM facts").await, 2_000);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for `localhost` signed by it, and an
/// unrelated CA.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test root",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "2",
            "-subj",
            "/CN=other root",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verify_modes_against_a_self_signed_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    certificates(dir.path());
    let pg = standins::LocalPostgres::start_throwaway_with_tls(
        &dir.path().join("server.pem"),
        &dir.path().join("server.key"),
    )
    .expect("a PostgreSQL with TLS");
    let port = pg
        .url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("port")
        .to_string();
    let ca = dir.path().join("ca.pem").display().to_string();
    let other = dir.path().join("other.pem").display().to_string();
    let url = |host: &str, mode: &str, root: Option<&str>| {
        let mut u = format!("postgres://postgres@{host}:{port}/postgres?sslmode={mode}");
        if let Some(r) = root {
            u.push_str(&format!("&sslrootcert={r}"));
        }
        u
    };
    async fn ssl_in_use(url: &str) -> Result<bool, String> {
        let client = DbConfig::from_url(url)
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get(0))
    }
    assert_eq!(
        ssl_in_use(&url("localhost", "verify-full", Some(&ca))).await,
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "verify-ca", Some(&ca))).await,
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "require", None)).await,
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "prefer", None)).await,
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&url("127.0.0.1", "disable", None)).await,
        Ok(false)
    );

    let wrong_ca = ssl_in_use(&url("localhost", "verify-full", Some(&other)))
        .await
        .expect_err("a certificate from another CA is refused");
    assert!(
        wrong_ca.contains("localhost:") && wrong_ca.to_lowercase().contains("certificate"),
        "{wrong_ca}"
    );
    let wrong_name = ssl_in_use(&url("127.0.0.1", "verify-full", Some(&ca)))
        .await
        .expect_err("a certificate for another name is refused");
    assert!(
        wrong_name.to_lowercase().contains("certificate"),
        "{wrong_name}"
    );
    let wrong_ca_require = ssl_in_use(&url("127.0.0.1", "require", Some(&other)))
        .await
        .expect_err("require with a root certificate checks the chain, as libpq does");
    assert!(
        wrong_ca_require.to_lowercase().contains("certificate"),
        "{wrong_ca_require}"
    );
}

/// A server with an X.509 version 1 self-signed certificate, as Citus makes
/// for itself: the modes that check no certificate connect over TLS (they
/// failed with "UnsupportedCertVersion"), and a verifying mode refuses it
/// with an error that says the certificate is the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_certificate_is_accepted_where_nothing_is_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    openssl(
        dir.path(),
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "v1.key",
            "-out",
            "v1.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir.path(),
        &[
            "x509", "-req", "-in", "v1.csr", "-signkey", "v1.key", "-out", "v1.pem", "-days", "2",
        ],
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(dir.path().join("v1.pem"))
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
        "the test certificate is version 1"
    );
    let pg = standins::LocalPostgres::start_throwaway_with_tls(
        &dir.path().join("v1.pem"),
        &dir.path().join("v1.key"),
    )
    .expect("a PostgreSQL with TLS");
    for mode in ["require", "prefer"] {
        let url = format!("{}?sslmode={mode}", pg.url());
        let client = DbConfig::from_url(&url)
            .expect("url")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let ssl: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0);
        assert!(ssl, "{mode} uses TLS");
    }
    let root = dir.path().join("v1.pem").display().to_string();
    let url = format!("{}?sslmode=verify-ca&sslrootcert={root}", pg.url());
    let refused = DbConfig::from_url(&url)
        .expect("url")
        .connect()
        .await
        .map(|_| ())
        .expect_err("verify-ca cannot use a version 1 certificate");
    assert!(
        refused.to_string().to_lowercase().contains("certificate"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_appear_in_errors_or_logs() {
    let secret = "Sup3r-Secret-Pa55";
    let url = format!("postgres://loader:{secret}@127.0.0.1:1/retail?sslmode=disable");
    let config = DbConfig::from_url(&url).expect("url");
    assert!(!format!("{config:?}").contains(secret));
    assert!(!config.target().contains(secret));
    let err = config
        .connect()
        .await
        .expect_err("nothing listens on port 1");
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(err.is_retryable());

    let bad_url = format!("postgres://loader:{secret}@127.0.0.1:1/retail?sslmode=bogus");
    let err = DbConfig::from_url(&bad_url).expect_err("bad sslmode");
    assert!(!err.to_string().contains(secret), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("x.csv");
    std::fs::write(&file, format!("{PRODUCER_HEADER}\n")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_loader"))
        .args(["load", "--attempts", "1"])
        .arg(&file)
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run loader");
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("127.0.0.1:1/retail as loader"), "{all}");
    assert!(!all.contains(secret), "{all}");
}
