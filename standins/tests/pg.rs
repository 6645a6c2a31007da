//! `LocalPostgres` and `TestDb` against a real server.

use std::process::Stdio;

use standins::{find_psql, psql_command, LocalPostgres};

async fn database_exists(admin_url: &str, name: &str) -> anyhow::Result<bool> {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await?;
    Ok(row.get::<_, i64>(0) == 1)
}

#[tokio::test]
async fn test_db_create_connect_drop() -> anyhow::Result<()> {
    let pg = LocalPostgres::shared()?;
    eprintln!("using {}", pg.describe());
    let db = pg.create_database("standins test").await?;
    let name = db.name().to_owned();
    assert!(name.starts_with("standins_test_"));
    assert!(db.url().contains(&name));

    let client = db.connect().await?;
    client
        .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
        .await?;
    let row = client
        .query_one("SELECT current_database(), sum(x) FROM t", &[])
        .await?;
    assert_eq!(row.get::<_, String>(0), name);
    assert_eq!(row.get::<_, i64>(1), 3);
    assert!(database_exists(pg.admin_url(), &name).await?);

    // Dropped even with the connection still open.
    drop(db);
    assert!(!database_exists(pg.admin_url(), &name).await?);
    drop(client);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_reports_and_parallel_databases_are_distinct() -> anyhow::Result<()> {
    let pg = LocalPostgres::shared()?;
    let mut creations = tokio::task::JoinSet::new();
    for _ in 0..6 {
        creations.spawn(pg.create_database("parallel"));
    }
    let mut dbs = Vec::new();
    while let Some(created) = creations.join_next().await {
        dbs.push(created??);
    }
    let mut names: Vec<String> = dbs.iter().map(|db| db.name().to_owned()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 6);
    for db in dbs {
        db.cleanup().await?;
    }
    for name in names {
        assert!(!database_exists(pg.admin_url(), &name).await?);
    }
    Ok(())
}

#[test]
fn blocking_create_and_psql() -> anyhow::Result<()> {
    let pg = LocalPostgres::shared()?;
    let db = pg.create_database_blocking("psql")?;
    let psql = match find_psql() {
        Ok(path) => path,
        Err(err) => {
            eprintln!("skipping the psql part: {err:#}");
            return Ok(());
        }
    };
    assert!(psql.is_file());
    let output = psql_command(db.url())?
        .args(["-At", "-c", "SELECT current_database()"])
        .stdin(Stdio::null())
        .output()?;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), db.name());

    let failing = psql_command(db.url())?
        .args(["-c", "SELECT 1/0"])
        .stdin(Stdio::null())
        .output()?;
    assert!(!failing.status.success(), "ON_ERROR_STOP makes psql fail");
    Ok(())
}

#[test]
fn throwaway_cluster_starts_serves_and_cleans_up() -> anyhow::Result<()> {
    let pg = match LocalPostgres::start_throwaway() {
        Ok(pg) => pg,
        Err(err) if format!("{err:#}").contains("not found") => {
            eprintln!("skipping: {err:#}");
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    let description = pg.describe().to_owned();
    eprintln!("started {description}");
    assert!(pg.is_throwaway());
    assert!(description.contains("throwaway cluster"));
    let port: u16 = pg
        .url()
        .rsplit(':')
        .next()
        .and_then(|tail| tail.split('/').next())
        .and_then(|port| port.parse().ok())
        .expect("a port in the URL");
    let dir = description
        .split("cluster in ")
        .nth(1)
        .and_then(|rest| rest.split(" on ").next())
        .map(std::path::PathBuf::from)
        .expect("a directory in the description");
    assert!(dir.is_dir());

    let db = pg.create_database_blocking("throwaway")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = db.connect().await?;
        let row = client
            .query_one("SELECT current_setting('fsync')", &[])
            .await?;
        assert_eq!(row.get::<_, String>(0), "off");
        anyhow::Ok(())
    })?;
    drop(db);

    drop(pg);
    assert!(!dir.exists(), "cluster directory removed");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server stopped"
    );
    Ok(())
}
