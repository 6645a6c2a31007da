//! `loader demo`: the whole pipeline on local stand-ins, as a new user sees
//! it. Generator -> S3 (a local endpoint unless AWS_ENDPOINT_URL is set) ->
//! one S3 event per object -> the Lambda's handler -> verify -> summary.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

use loader::handler::Handler;
use loader::{Db, DbConfig, LoadOptions, Loader};

use crate::cli::print_checks;
use crate::out::say;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Rows to generate in total.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Objects to split them into (one S3 event each).
    #[arg(long, default_value_t = 10)]
    files: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fraction of rows whose store/product/customer attributes disagree.
    #[arg(long, default_value_t = 0.01)]
    drift: f64,
    /// Gzip the objects.
    #[arg(long)]
    gzip: bool,
    /// Events handled at once (each handler has its own connection, like
    /// concurrent Lambda instances).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Bucket to use (created when missing).
    #[arg(long, default_value = "retail-lake")]
    bucket: String,
    /// Database for the demo on a local server (dropped and re-created).
    #[arg(long, default_value = "loader_demo")]
    database: String,
}

/// Where the demo's database is, and whether it outlives the demo.
struct DemoDb {
    url: String,
    described: String,
    kept: bool,
    _server: Option<standins::LocalPostgres>,
}

async fn demo_database(name: &str) -> anyhow::Result<DemoDb> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.trim().is_empty() {
            let described = DbConfig::from_url(&url)?.target();
            return Ok(DemoDb {
                url,
                described,
                kept: true,
                _server: None,
            });
        }
    }
    let server = standins::LocalPostgres::discover_or_start().context(
        "no PostgreSQL: set DATABASE_URL, start one on localhost:5432, or install \
         PostgreSQL's server packages (apt-get install postgresql) for a throwaway cluster",
    )?;
    let admin = DbConfig::from_url(server.admin_url())?;
    let client = admin.connect().await?;
    let ident = loader::copy::quote_ident(name);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping the previous demo database {name}"))?;
    client
        .batch_execute(&format!("CREATE DATABASE {ident}"))
        .await
        .with_context(|| format!("creating database {name}"))?;
    let base = server.admin_url();
    let Some((prefix, _db)) = base.rsplit_once('/') else {
        bail!("unexpected admin URL for {}", server.describe());
    };
    let url = format!("{prefix}/{name}");
    let described = DbConfig::from_url(&url)?.target();
    let kept = !server.is_throwaway();
    Ok(DemoDb {
        url,
        described,
        kept,
        _server: Some(server),
    })
}

/// The S3 client and, when none is configured, the local endpoint it uses.
async fn demo_s3(bucket: &str) -> anyhow::Result<(aws_sdk_s3::Client, Option<standins::LocalS3>)> {
    let configured = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
    let local = if configured {
        None
    } else {
        let s3 = standins::LocalS3::builder().bucket(bucket).start()?;
        for (k, v) in s3.env_vars() {
            // Before any client reads them; the demo is single-purpose.
            std::env::set_var(k, v);
        }
        Some(s3)
    };
    let client = loader::source::s3_client_from_env().await;
    if configured {
        if let Err(e) = client.create_bucket().bucket(bucket).send().await {
            let exists = client.head_bucket().bucket(bucket).send().await.is_ok();
            if !exists {
                bail!("bucket {bucket}: cannot create it: {e}");
            }
        }
    }
    Ok((client, local))
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let db = demo_database(&args.database).await?;
    say!("database   {}", db.described);
    let (s3, local) = demo_s3(&args.bucket).await?;
    match &local {
        Some(l) => say!("S3         local endpoint {} (s3s-fs)", l.endpoint()),
        None => say!("S3         AWS_ENDPOINT_URL / the AWS chain"),
    }

    let config = DbConfig::from_url(&db.url)?;
    let mut admin = config.connect().await?;
    loader::schema::init(&mut admin).await?;
    say!("schema     applied (sql/db_initiation.sql, sql/db_transformation.sql)");

    let prefix = format!(
        "incoming/{}/",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    );
    let summary = generate(&args, &s3, &admin, &prefix).await?;
    let events = events_for(&s3, &args.bucket, &prefix, &summary).await?;
    say!(
        "delivering {} S3 events to the Lambda handler, {} at a time",
        events.len(),
        args.concurrency
    );
    let delivered = deliver(events, args.concurrency, &config, &s3).await;
    say!("");
    let checks = loader::schema::verify(&admin).await?;
    let verified = print_checks(&checks);
    print_summary(&args, &admin, &delivered, started).await?;
    if db.kept {
        say!("look at the data:  psql '{}'", redact(&db.url));
        say!("  e.g. SELECT s.store_city, sum(f.total_amount) FROM facts f JOIN dim_stores s USING (store_id) GROUP BY 1 ORDER BY 2 DESC LIMIT 5;");
    } else {
        say!("the throwaway PostgreSQL cluster is removed now; set DATABASE_URL to keep the data");
    }
    drop(local);
    let ok = delivered.failures.is_empty() && verified;
    // Give log lines of finished tasks a moment to flush.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Generates the demo's objects under `prefix`, their transaction ids
/// after any already in the database (a kept database is loaded again).
async fn generate(
    args: &DemoArgs,
    s3: &aws_sdk_s3::Client,
    admin: &tokio_postgres::Client,
    prefix: &str,
) -> anyhow::Result<generator::Summary> {
    let start_id: i64 = admin
        .query_one(
            "SELECT coalesce(max(substring(transaction_id FROM 4)::bigint), 0) + 1
             FROM facts WHERE transaction_id ~ '^TXN[0-9]{1,18}$'",
            &[],
        )
        .await?
        .get(0);
    let spec = generator::Spec {
        rows: args.rows,
        files: args.files,
        seed: args.seed,
        drift: args.drift,
        gzip: args.gzip,
        start_id: start_id as u64,
        ..generator::Spec::default()
    };
    let out = generator::Output::s3(&args.bucket, prefix).with_client(s3.clone());
    let gen_started = Instant::now();
    let summary = generator::generate(&spec, &out, None).await?;
    say!(
        "generated  {} rows in {} objects, {:.1} MB, under s3://{}/{prefix} in {:.1} s",
        summary.total.rows,
        summary.files.len(),
        summary.total.bytes as f64 / 1e6,
        args.bucket,
        gen_started.elapsed().as_secs_f64()
    );
    Ok(summary)
}

/// One S3 event per object, as the bucket notification would send.
async fn events_for(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    summary: &generator::Summary,
) -> anyhow::Result<Vec<Value>> {
    let mut events = Vec::new();
    for file in &summary.files {
        let key = format!("{prefix}{}", file.file);
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .with_context(|| format!("HeadObject s3://{bucket}/{key}"))?;
        let size = head.content_length().unwrap_or_default().max(0) as u64;
        let etag = head.e_tag().unwrap_or_default().to_string();
        let name = if etag.contains('-') {
            "ObjectCreated:CompleteMultipartUpload"
        } else {
            "ObjectCreated:Put"
        };
        events.push(standins::events::s3_object_created(
            bucket, &key, size, &etag, name,
        ));
    }
    Ok(events)
}

/// What the handlers answered.
struct Delivered {
    objects: Vec<Value>,
    failures: Vec<String>,
    seconds: f64,
}

/// Hands the events to `concurrency` handlers (each with its own
/// connection, like concurrent Lambda instances), printing each object.
async fn deliver(
    events: Vec<Value>,
    concurrency: usize,
    config: &DbConfig,
    s3: &aws_sdk_s3::Client,
) -> Delivered {
    let queue = Arc::new(tokio::sync::Mutex::new(events));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    for _ in 0..concurrency.clamp(1, 64) {
        let db = Db::new(config.clone());
        let handler = Handler::new(Loader::new(db, Some(s3.clone()), LoadOptions::default()));
        let queue = queue.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            loop {
                let Some(event) = queue.lock().await.pop() else {
                    break;
                };
                if done.send(handler.handle(&event, None).await).is_err() {
                    break;
                }
            }
        });
    }
    drop(done_tx);
    let mut delivered = Delivered {
        objects: Vec::new(),
        failures: Vec::new(),
        seconds: 0.0,
    };
    while let Some(result) = done_rx.recv().await {
        match result {
            Ok(v) => {
                for o in v["objects"].as_array().cloned().unwrap_or_default() {
                    say!(
                        "  {:10} s3://{}/{}  {} rows in {:.2} s",
                        o["status"].as_str().unwrap_or("?"),
                        o["bucket"].as_str().unwrap_or("?"),
                        o["key"].as_str().unwrap_or("?"),
                        o["rows"],
                        o["seconds"].as_f64().unwrap_or_default()
                    );
                    delivered.objects.push(o);
                }
            }
            Err(e) => {
                say!("  FAILED     {e}");
                delivered.failures.push(e.to_string());
            }
        }
    }
    delivered.seconds = started.elapsed().as_secs_f64();
    delivered
}

async fn print_summary(
    args: &DemoArgs,
    admin: &tokio_postgres::Client,
    delivered: &Delivered,
    started: Instant,
) -> anyhow::Result<()> {
    let objects = &delivered.objects;
    let load_secs = delivered.seconds;
    let rows: u64 = objects.iter().filter_map(|o| o["rows"].as_u64()).sum();
    let rejected: u64 = objects.iter().filter_map(|o| o["rejects"].as_u64()).sum();
    let counts = admin
        .query_one(
            "SELECT (SELECT count(*) FROM facts), (SELECT count(*) FROM dim_stores),
                    (SELECT count(*) FROM dim_products), (SELECT count(*) FROM dim_customers),
                    (SELECT count(*) FROM dim_dates)",
            &[],
        )
        .await?;
    let c = |i: usize| counts.get::<_, i64>(i);
    say!("");
    say!("summary");
    say!(
        "  objects          {} loaded, {} failed",
        objects.len(),
        delivered.failures.len()
    );
    say!("  rows             {rows} staged, {rejected} rejected");
    say!(
        "  load time        {load_secs:.2} s wall for all objects ({:.0} rows/s, {} at a time)",
        rows as f64 / load_secs.max(1e-9),
        args.concurrency
    );
    say!(
        "  star schema      {} facts, {} stores, {} products, {} customers, {} dates",
        c(0),
        c(1),
        c(2),
        c(3),
        c(4)
    );
    say!(
        "  total            {:.1} s",
        started.elapsed().as_secs_f64()
    );
    say!("");
    Ok(())
}

/// The URL without its password, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
