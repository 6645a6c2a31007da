//! Connection settings (issue 16): `sslmode` and `sslrootcert` honoured in
//! libpq's key=value form as in URLs (against a second throwaway cluster
//! with ssl=off, where a weakened setting would connect in plaintext),
//! passwords holding `@`, `/` or `?`, credentials sent only over verified
//! TLS, and the warning for a password on the command line.

mod support;

use loader::DbConfig;
use support::*;

/// Connects and says whether the session uses TLS.
async fn ssl_in_use(conninfo: &str) -> Result<bool, String> {
    let client = DbConfig::from_url(conninfo)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_in_key_value_strings_is_honoured_like_in_urls() {
    let pg = standins::LocalPostgres::start_throwaway().expect("a throwaway PostgreSQL");
    let port = pg
        .url()
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("port")
        .to_string();
    let kv =
        |extra: &str| format!("host=127.0.0.1 port={port} user=postgres dbname=postgres {extra}");
    let url = |query: &str| format!("postgres://postgres@127.0.0.1:{port}/postgres?{query}");

    // The server has no TLS: require must refuse, in both forms, as psql does.
    for conninfo in [kv("sslmode=require"), url("sslmode=require")] {
        let err = ssl_in_use(&conninfo)
            .await
            .expect_err("require against a server without TLS");
        assert!(
            err.to_lowercase().contains("tls") || err.contains("SSL"),
            "{err}"
        );
    }
    for conninfo in [kv("sslmode = 'verify-full'"), url("sslmode=verify-full")] {
        assert!(ssl_in_use(&conninfo).await.is_err(), "{conninfo}");
    }
    // sslrootcert is read in the key=value form too.
    let err = ssl_in_use(&kv("sslmode=verify-ca sslrootcert=/nonexistent/ca.pem"))
        .await
        .expect_err("a missing root certificate");
    assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{err}");
    // prefer and disable connect in plaintext; quoted values with escapes.
    assert_eq!(ssl_in_use(&kv("sslmode=prefer")).await, Ok(false));
    assert_eq!(
        ssl_in_use(&kv(r"sslmode=disable password='p@ss w/rd?\'x'")).await,
        Ok(false)
    );
    assert!(DbConfig::from_url(&kv("sslmode=require sslcert=/c.pem")).is_err());
    assert!(DbConfig::from_url("host='unclosed").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_with_at_slash_or_question_mark_are_handled_or_refused_unquoted() {
    // Trust authentication ignores the password: connecting proves that the
    // host was read as the host.
    let at = "postgres://postgres:Sec@ret%2Fpart@127.0.0.1:5432/postgres?sslmode=disable";
    assert_eq!(ssl_in_use(at).await, Ok(false));
    let config = DbConfig::from_url(at).expect("parsed");
    assert_eq!(config.target(), "127.0.0.1:5432/postgres as postgres");
    assert!(config.has_password());

    // A refused connection's error names the host, never a password part.
    let refused = "postgres://postgres:Sec@ret-Fragment@127.0.0.1:1/postgres";
    let err = ssl_in_use(refused)
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.contains("127.0.0.1:1/postgres"), "{err}");
    assert!(!err.contains("Fragment") && !err.contains("Sec"), "{err}");

    // Ambiguous: refused without quoting anything of the string.
    for bad in [
        "postgres://postgres:Zq9/Kx2@127.0.0.1:5432/postgres",
        "postgres://postgres:Zq9?Kx2@127.0.0.1:5432/postgres",
        "postgres://postgres:Zq9#Kx2@W7/v@127.0.0.1:5432/postgres",
    ] {
        let err = DbConfig::from_url(bad).expect_err(bad).to_string();
        assert!(err.contains("percent-encode"), "{err}");
        for fragment in ["Zq9", "Kx2", "W7"] {
            assert!(!err.contains(fragment), "{err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_iam_tokens_need_a_verified_server_unless_overridden() {
    for mode in ["disable", "prefer", "require"] {
        let config = DbConfig::from_url(&format!("host=db.example user=loader sslmode={mode}"))
            .expect("parsed");
        let err = config
            .require_verified_tls("DATABASE_SECRET_ARN", false)
            .expect_err(mode)
            .to_string();
        assert!(
            err.contains(&format!("(sslmode {mode})")) && err.contains("verify-full"),
            "{err}"
        );
        assert!(config
            .require_verified_tls("DATABASE_IAM_AUTH", true)
            .is_ok());
    }
    for mode in ["verify-ca", "verify-full"] {
        let config = DbConfig::from_url(&format!("postgres://loader@db.example/db?sslmode={mode}"))
            .expect("parsed");
        assert!(config
            .require_verified_tls("DATABASE_IAM_AUTH", false)
            .is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_on_the_command_line_is_warned_about() {
    let (db, _client) = fresh_db("cli_password").await;
    let conninfo = format!(
        "host=127.0.0.1 port=5432 user=postgres dbname={} password=not-needed",
        db.name()
    );
    let out = loader_cmd(&db, None)
        .args(["verify", "--database-url", &conninfo])
        .output()
        .expect("run loader");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: the password in --database-url is visible to other users"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-needed"), "{stderr}");
    // Without a password: no warning.
    let out = loader_cmd(&db, None)
        .args(["verify", "--database-url", db.url()])
        .output()
        .expect("run loader");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}
