//! The small subcommands (init, verify, prune) and what all commands share.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use loader::{schema, Db, DbConfig};

use crate::out::say;

/// Logs go to stderr: human-readable on a terminal, JSON otherwise.
/// `RUST_LOG` replaces the filter. By default warnings and errors, but not
/// `aws_config`'s warnings: its credential chain warns for each source it
/// tried, and the object's error already says what is wrong ("no AWS
/// credentials: ...").
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.with_target(false).init();
    } else {
        builder.json().init();
    }
}

/// Where the database is; shared by every subcommand.
#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// A postgres:// URL or libpq key=value string (default: DATABASE_URL,
    /// else libpq's PG* variables). A password given here is visible to
    /// every user of the machine (ps): prefer DATABASE_URL or PGPASSWORD.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// The settings: the flag, else the environment.
    pub fn config(&self) -> anyhow::Result<DbConfig> {
        Ok(match &self.database_url {
            Some(url) => {
                let config = DbConfig::from_url(url)?;
                if config.has_password() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: the password in --database-url is visible to other users of \
                         this machine (ps, /proc); give it in DATABASE_URL or PGPASSWORD instead"
                    );
                }
                config
            }
            None => DbConfig::from_env()?,
        })
    }

    /// A connected holder.
    pub async fn connect(&self) -> anyhow::Result<Db> {
        let mut db = Db::new(self.config()?);
        db.client().await?;
        Ok(db)
    }
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Also create the least-privilege roles of sql/roles.sql
    /// (loader_role for the Lambda). Needs CREATEROLE.
    #[arg(long)]
    roles: bool,
    /// How long init may wait for running loads (and anything else holding
    /// the loader's tables) before it fails naming them.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    lock_timeout: Duration,
}

pub async fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let mut db = args.db.connect().await?;
    let target = db.config().target();
    let client = db.client().await?;
    schema::init_waiting(client, args.lock_timeout).await?;
    if args.roles {
        schema::roles(client).await?;
    }
    say!("schema ready on {target}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    db: DbArgs,
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut db = args.db.connect().await?;
    let checks = schema::verify(db.client().await?).await?;
    Ok(if print_checks(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the reconciliation as a table; true when every check held.
pub fn print_checks(checks: &[schema::Check]) -> bool {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in checks {
        let mark = if c.ok { "ok    " } else { "FAILED" };
        say!("{mark}  {:width$}  {}", c.name, c.detail);
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        say!("verify: all {} checks passed", checks.len());
        true
    } else {
        say!("verify: {failed} checks FAILED");
        false
    }
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Prune loads that finished more than this long ago (e.g. 30d, 12h).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    older_than: Duration,
    /// Only say what would be deleted.
    #[arg(long)]
    dry_run: bool,
}

/// The first statement of each of prune's transactions; with the lock
/// timeout, a prune beside an init or a session holding a load's rows waits
/// a bounded time.
const PINNED: &str = "SET LOCAL search_path = pg_catalog, pg_temp; SET LOCAL lock_timeout = '30s'";

pub async fn prune(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let mut db = args.db.connect().await?;
    let client = db.client().await?;
    // Runs as the owner (loader_role may not delete staged rows). Each
    // transaction pins its search_path first and names every table with
    // its schema, so no object another role creates takes part.
    let secs = args.older_than.as_secs_f64();
    let tx = client.transaction().await?;
    tx.batch_execute(PINNED).await?;
    let loads: Vec<i64> = tx
        .query(
            "SELECT load_id FROM public.load_ledger
             WHERE status = 'loaded' AND staging_pruned_at IS NULL
               AND finished_at < now() - make_interval(secs => $1)
             ORDER BY load_id",
            &[&secs],
        )
        .await
        .context("listing loads to prune")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    if args.dry_run {
        say!("would prune the staged rows of {} loads", loads.len());
        return Ok(ExitCode::SUCCESS);
    }
    let (mut rows, mut pruned, mut passed) = (0u64, 0usize, 0usize);
    // One short transaction per load: DELETE takes only row locks, which
    // COPY never waits for, and the BRIN index on load_id finds the rows.
    // The load's ledger row is locked first, skipping it when another run
    // (an overlapping cron job) holds it or has pruned it since the list:
    // two DELETEs of the same rows, scanning in different orders (a
    // synchronized sequential scan starts where the other one is), deadlocked.
    for load_id in &loads {
        let tx = client.transaction().await?;
        tx.batch_execute(PINNED).await?;
        let mine = tx
            .query_opt(
                "SELECT 1 FROM public.load_ledger
                 WHERE load_id = $1 AND staging_pruned_at IS NULL
                 FOR UPDATE SKIP LOCKED",
                &[load_id],
            )
            .await
            .with_context(|| format!("locking load {load_id}"))?
            .is_some();
        if !mine {
            passed += 1;
            continue;
        }
        rows += tx
            .execute(
                "DELETE FROM public.staging_table WHERE load_id = $1",
                &[load_id],
            )
            .await
            .with_context(|| format!("pruning load {load_id}"))?;
        tx.execute(
            "UPDATE public.load_ledger SET staging_pruned_at = now() WHERE load_id = $1",
            &[load_id],
        )
        .await?;
        tx.commit().await?;
        pruned += 1;
    }
    if passed == 0 {
        say!("pruned {rows} staged rows of {pruned} loads");
    } else {
        say!(
            "pruned {rows} staged rows of {pruned} loads; {passed} left to another prune running now, or pruned by it"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// An S3 client from the standard AWS chain; path-style addressing when
/// AWS_ENDPOINT_URL points at a non-AWS endpoint.
pub async fn s3_client() -> aws_sdk_s3::Client {
    loader::source::s3_client_from_env().await
}

/// Fails with a readable message when the argument is not `s3://bucket/...`.
pub fn split_s3_url(url: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = url.strip_prefix("s3://") else {
        bail!("{url}: not an s3:// URL");
    };
    // A bucket without its slash is refused rather than read as the whole
    // bucket: one missing character should not start a full backfill.
    let Some((bucket, key)) = rest.split_once('/') else {
        bail!("{url}: names a bucket, not an object; write {url}/ to load every object in it");
    };
    if bucket.is_empty() {
        bail!("{url}: no bucket name");
    }
    Ok((bucket.to_string(), key.to_string()))
}
