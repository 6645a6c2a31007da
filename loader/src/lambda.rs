//! The Lambda's configuration, read from the environment once at init.
//! Every load setting is [`LoadSettings`], the type `loader load`'s flags
//! are: same variables, same defaults (`loader load --help` shows them).
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
//! | `MAX_ATTEMPTS` | tries per object for retryable errors | `4` |
//! | `LOCK_TIMEOUT` | the longest one lock wait of a load may last | `10s` |
//! | `DEADLINE_MARGIN_MS` | stop a load this long before the invocation's deadline, and start no object with less than this left (it goes back as a `batchItemFailures` entry, or fails a direct invocation, without touching the database) | `10000` |
//! | `METRICS` | `emf`: one CloudWatch Embedded Metric Format line per object on stdout; `none` | `emf` |
//! | `METRICS_NAMESPACE` | the metrics' CloudWatch namespace | `S3StarLoader` |
//! | `OPTIONAL_COLUMNS` | staging columns a header may leave out, comma-separated (customer columns only) | none |
//! | `COLUMN_ALIASES` | `Producer Name=staging_column` aliases, separated by `;` | none |
//! | `COLUMN_MAP` | a file of aliases, one `Producer Name=staging_column` per line (packaged with the function) | none |
//! | `MAX_DATE_AHEAD` | a row dated later than the load's time plus this is a bad row (`1d`, `36h`) | `1d` |
//! | `MIN_DATE` | a row dated before this is a bad row | `1900-01-01` |
//! | `MAX_EXPANSION_RATIO` | a gzip/zstd object fails past this expansion (after 64 MiB) | `100` |
//! | `MAX_EXPANDED_BYTES` | a gzip/zstd object fails past this many expanded bytes | none |
//! | `SOURCE_ENCODING` | encoding of objects without a BOM or Content-Type charset (WHATWG label: `windows-1252`, `utf-16le`, ...) | UTF-8 |
//! | `AWS_ENDPOINT_URL` | a non-AWS S3 endpoint (path-style addressing) | AWS |

use std::time::Duration;

use clap::Args;

use crate::auth::{apply_secret, fetch_secret, IamAuth};
use crate::db::{Db, DbConfig};
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::load::{Loader, DEFAULT_DEADLINE_MARGIN};
use crate::metrics::{Emf, DEFAULT_NAMESPACE};
use crate::settings::{self, LoadSettings};
use crate::source::s3_client_from_config;

/// The Lambda's settings: how objects load (the same type, defaults and
/// variables as `loader load`'s flags) and what only the function has.
#[derive(Args, Clone, Debug)]
pub struct LambdaSettings {
    /// How each object loads.
    #[command(flatten)]
    pub load: LoadSettings,
    /// Stop a load this long before the invocation's deadline, and start no
    /// object with less than this left, in milliseconds.
    #[arg(long, env = "DEADLINE_MARGIN_MS", value_name = "MS",
          default_value_t = DEFAULT_DEADLINE_MARGIN.as_millis() as u64)]
    pub deadline_margin_ms: u64,
    /// `emf`: one CloudWatch Embedded Metric Format line per object on
    /// stdout; `none`.
    #[arg(long, env = "METRICS", default_value = "emf",
          value_parser = ["emf", "none"])]
    pub metrics: String,
    /// The metrics' CloudWatch namespace.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub metrics_namespace: String,
    /// The metrics' FunctionName dimension (Lambda sets it).
    #[arg(long, env = "AWS_LAMBDA_FUNCTION_NAME", default_value = "loader")]
    pub function_name: String,
    /// A Secrets Manager secret with `username`, `password` (and
    /// optionally `host`, `port`, `dbname`), read once at init.
    #[arg(long, env = "DATABASE_SECRET_ARN")]
    pub secret_arn: Option<String>,
    /// Authenticate with RDS IAM tokens, made for every new connection.
    #[arg(long, env = "DATABASE_IAM_AUTH", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub iam_auth: bool,
    /// Send the secret's password or IAM tokens even when `sslmode` is not
    /// `verify-full` or `verify-ca`.
    #[arg(long, env = "DATABASE_ALLOW_UNVERIFIED_TLS", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub allow_unverified_tls: bool,
}

impl LambdaSettings {
    /// The settings from the environment.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable that does not parse.
    pub fn from_env() -> Result<Self> {
        settings::from_env()
    }

    /// The metrics printer, unless `METRICS=none`.
    pub fn emf(&self) -> Option<Emf> {
        (self.metrics == "emf").then(|| Emf {
            namespace: self.metrics_namespace.clone(),
            function_name: self.function_name.clone(),
        })
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
    let settings = LambdaSettings::from_env()?;
    let mut config = DbConfig::from_env()?;
    let allow_unverified = settings.allow_unverified_tls;
    if settings.iam_auth {
        config.require_verified_tls("DATABASE_IAM_AUTH", allow_unverified)?;
    }
    if let Some(arn) = &settings.secret_arn {
        config.require_verified_tls("DATABASE_SECRET_ARN", allow_unverified)?;
        let client = aws_sdk_secretsmanager::Client::new(&aws);
        let secret = fetch_secret(&client, arn).await?;
        apply_secret(&mut config, &secret)?;
    }
    let mut db = Db::new(config);
    if settings.iam_auth {
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
    let options = crate::load::LoadOptions {
        deadline_margin: Duration::from_millis(settings.deadline_margin_ms),
        ..settings.load.options()?
    };
    Ok(Handler::new(Loader::new(db, Some(s3), options)).with_metrics(settings.emf()))
}
