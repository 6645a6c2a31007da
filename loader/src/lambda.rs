//! The Lambda's configuration, read from the environment once at init.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `DATABASE_URL` or `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` | the database | libpq's defaults |
//! | `PGSSLMODE`, `PGSSLROOTCERT` | TLS (`verify-full` with the RDS CA bundle in production) | `prefer` |
//! | `DATABASE_SECRET_ARN` | Secrets Manager secret with `username`, `password` (and optionally `host`, `port`, `dbname`) | none |
//! | `DATABASE_IAM_AUTH` | `true`: authenticate with RDS IAM tokens | `false` |
//! | `DATABASE_ALLOW_UNVERIFIED_TLS` | `true`: send the secret's password or IAM tokens even when `sslmode` is not `verify-full`/`verify-ca` | `false` |
//! | `MAX_REJECTS` | bad rows set aside per object before it fails: a count, or a share of its rows (`0.5%`) | `0` |
//! | `WORK_MEM` | `work_mem` of each load transaction; `auto`: 3x the object's size, 64MB..1GB | `auto` |
//! | `COPY_FORMAT` | `binary` or `text` | `binary` |
//! | `MAX_ATTEMPTS` | tries per object for retryable errors | `3` |
//! | `DEADLINE_MARGIN_MS` | stop a load this long before the invocation's deadline, and start no object with less than this left (it goes back as a `batchItemFailures` entry, or fails a direct invocation, without touching the database) | `10000` |
//! | `METRICS` | `emf`: one CloudWatch Embedded Metric Format line per object on stdout; `none` | `emf` |
//! | `METRICS_NAMESPACE` | the metrics' CloudWatch namespace | `S3StarLoader` |
//! | `OPTIONAL_COLUMNS` | staging columns a header may leave out, comma-separated (customer columns only) | none |
//! | `COLUMN_ALIASES` | `Producer Name=staging_column` aliases, separated by `;` | none |
//! | `MAX_DATE_AHEAD` | a row dated later than the load's time plus this is a bad row (`1d`, `36h`) | `1d` |
//! | `MIN_DATE` | a row dated before this is a bad row | `1900-01-01` |
//! | `MAX_EXPANSION_RATIO` | a gzip/zstd object fails past this expansion (after 64 MiB) | `100` |
//! | `MAX_EXPANDED_BYTES` | a gzip/zstd object fails past this many expanded bytes | none |
//! | `SOURCE_ENCODING` | encoding of objects without a BOM or Content-Type charset (WHATWG label: `windows-1252`, `utf-16le`, ...) | UTF-8 |
//! | `AWS_ENDPOINT_URL` | a non-AWS S3 endpoint (path-style addressing) | AWS |

use std::time::Duration;

use crate::auth::{apply_secret, fetch_secret, IamAuth};
use crate::contract::{Contract, DEFAULT_DATE_AHEAD, DEFAULT_MIN_DATE};
use crate::db::{Db, DbConfig};
use crate::encode::CopyFormat;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::load::{LoadOptions, Loader};
use crate::metrics::{Emf, DEFAULT_NAMESPACE};
use crate::source::{s3_client_from_config, ReadOptions, DEFAULT_MAX_EXPANSION_RATIO};
use crate::transcode::Declared;

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn env_parse<T>(name: &str, default: T) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| Error::Config(format!("{name}={v:?} is not valid: {e}"))),
    }
}

/// Load options from the environment.
///
/// # Errors
/// [`Error::Config`] naming the variable that does not parse.
pub fn options_from_env() -> Result<LoadOptions> {
    let format = match env("COPY_FORMAT").as_deref() {
        None | Some("binary") => CopyFormat::Binary,
        Some("text") => CopyFormat::Text,
        Some(other) => {
            return Err(Error::Config(format!(
                "COPY_FORMAT={other:?}: expected binary or text"
            )))
        }
    };
    let list = |name: &str, separator: char| -> Vec<String> {
        env(name)
            .map(|v| v.split(separator).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let ahead = match env("MAX_DATE_AHEAD") {
        None => DEFAULT_DATE_AHEAD,
        Some(v) => humantime::parse_duration(&v)
            .map_err(|e| Error::Config(format!("MAX_DATE_AHEAD={v:?}: {e}")))?,
    };
    let contract = Contract::from_settings(
        &list("OPTIONAL_COLUMNS", ','),
        &list("COLUMN_ALIASES", ';'),
        None,
        ahead,
        env("MIN_DATE").as_deref().unwrap_or(DEFAULT_MIN_DATE),
    )?;
    let read = ReadOptions {
        max_expansion_ratio: env_parse("MAX_EXPANSION_RATIO", DEFAULT_MAX_EXPANSION_RATIO)?.max(1),
        max_expanded_bytes: match env("MAX_EXPANDED_BYTES") {
            None => None,
            Some(_) => Some(env_parse("MAX_EXPANDED_BYTES", 0u64)?),
        },
        encoding: match env("SOURCE_ENCODING") {
            None => None,
            Some(label) => Some(Declared {
                encoding: crate::transcode::encoding_for_label(&label, "SOURCE_ENCODING")?,
                by: "SOURCE_ENCODING",
            }),
        },
    };
    Ok(LoadOptions {
        contract,
        read,
        format,
        max_rejects: env_parse("MAX_REJECTS", crate::encode::MaxRejects::NONE)?,
        work_mem: crate::load::checked_work_mem(
            &env("WORK_MEM").unwrap_or_else(|| "auto".into()),
            "WORK_MEM",
        )?,
        max_attempts: env_parse("MAX_ATTEMPTS", 3u32)?.max(1),
        deadline_margin: Duration::from_millis(env_parse("DEADLINE_MARGIN_MS", 10_000u64)?),
        lock_timeout: match env("LOCK_TIMEOUT") {
            None => crate::load::DEFAULT_LOCK_TIMEOUT,
            Some(v) => humantime::parse_duration(&v)
                .ok()
                .filter(|d| d.as_millis() >= 1)
                .ok_or_else(|| {
                    Error::Config(format!("LOCK_TIMEOUT {v:?} is not a duration such as 10s"))
                })?,
        },
        ..LoadOptions::default()
    })
}

/// The metrics settings: `METRICS` (`emf` or `none`), `METRICS_NAMESPACE`,
/// and the function's name from `AWS_LAMBDA_FUNCTION_NAME`.
///
/// # Errors
/// [`Error::Config`] for another `METRICS` value.
pub fn metrics_from_env() -> Result<Option<Emf>> {
    match env("METRICS").as_deref() {
        None | Some("emf") => Ok(Some(Emf {
            namespace: env("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            function_name: env("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "loader".into()),
        })),
        Some("none") => Ok(None),
        Some(other) => Err(Error::Config(format!(
            "METRICS={other:?}: expected emf or none"
        ))),
    }
}

/// Builds the handler: AWS clients, database settings (secret fetched now),
/// load options. Connects lazily; `bootstrap` connects once at init to fail
/// early and warm the connection.
///
/// # Errors
/// [`Error::Config`] for missing or malformed settings, or an unreadable secret.
pub async fn handler_from_env() -> Result<Handler> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = s3_client_from_config(&aws);
    let mut config = DbConfig::from_env()?;
    let allow_unverified = env_parse("DATABASE_ALLOW_UNVERIFIED_TLS", false)?;
    let iam_auth = env_parse("DATABASE_IAM_AUTH", false)?;
    if iam_auth {
        config.require_verified_tls("DATABASE_IAM_AUTH", allow_unverified)?;
    }
    if let Some(arn) = env("DATABASE_SECRET_ARN") {
        config.require_verified_tls("DATABASE_SECRET_ARN", allow_unverified)?;
        let client = aws_sdk_secretsmanager::Client::new(&aws);
        let secret = fetch_secret(&client, &arn).await?;
        apply_secret(&mut config, &secret)?;
    }
    let mut db = Db::new(config);
    if iam_auth {
        let region = aws
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| Error::Config("DATABASE_IAM_AUTH needs AWS_REGION".into()))?;
        let credentials = aws
            .credentials_provider()
            .ok_or_else(|| Error::Config("DATABASE_IAM_AUTH needs AWS credentials".into()))?;
        db = db.with_iam_auth(IamAuth {
            region,
            credentials,
        });
    }
    let options = options_from_env()?;
    let metrics = metrics_from_env()?;
    Ok(Handler::new(Loader::new(db, Some(s3), options)).with_metrics(metrics))
}
