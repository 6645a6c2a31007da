//! How objects are loaded: one type for `loader load`'s flags and the
//! Lambda's environment. Each setting is a flag with the environment
//! variable of the same meaning, and its default is written here once: the
//! CLI flattens [`LoadSettings`] into its `load` command, the Lambda parses
//! the same type from its environment alone ([`from_env`]), so the two
//! cannot drift apart.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args, Command, FromArgMatches};

use crate::contract::{Contract, DEFAULT_DATE_AHEAD, DEFAULT_MIN_DATE};
use crate::encode::{CopyFormat, MaxRejects};
use crate::error::{Error, Result};
use crate::load::{checked_work_mem, LoadOptions, DEFAULT_LOCK_TIMEOUT, DEFAULT_MAX_ATTEMPTS};
use crate::source::transcode::{self, Declared};
use crate::source::{ReadOptions, DEFAULT_MAX_EXPANSION_RATIO};

/// What an object's content must look like and how it is read: the header
/// contract, plausible dates, decompression bounds, the encoding.
#[derive(Args, Clone, Debug, Default)]
pub struct InputSettings {
    /// Staging columns a header may leave out (comma-separated); their
    /// values load as NULL. Only the customer's four columns may be
    /// optional. Any other missing column fails the object, naming it.
    #[arg(
        long,
        env = "OPTIONAL_COLUMNS",
        value_delimiter = ',',
        value_name = "COLUMNS"
    )]
    pub optional_columns: Vec<String>,
    /// A producer's header name for a staging column, as
    /// 'Producer Name=staging_column' (repeatable; in the environment,
    /// separated by `;`). Compared like the schema's names: case, surrounding
    /// spaces, and spaces or hyphens for underscores do not matter.
    #[arg(
        long,
        env = "COLUMN_ALIASES",
        value_delimiter = ';',
        value_name = "NAME=COLUMN"
    )]
    pub column_alias: Vec<String>,
    /// A file of aliases: one 'Producer Name=staging_column' per line;
    /// blank lines and lines starting with # are skipped (the Lambda reads
    /// it from its package, e.g. /var/task/columns.map).
    #[arg(long, env = "COLUMN_MAP", value_name = "FILE")]
    pub column_map: Option<PathBuf>,
    /// A row dated later than the load's time (UTC) plus this is a bad row
    /// (e.g. 1d, 36h): one typo such as 9999-12-31 would otherwise win
    /// every newest-wins dimension forever. Default: 1 day.
    #[arg(long, env = "MAX_DATE_AHEAD", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    pub max_date_ahead: Option<Duration>,
    /// A row dated before this (YYYY-MM-DD) is a bad row.
    #[arg(long, env = "MIN_DATE", value_name = "DATE", default_value = DEFAULT_MIN_DATE)]
    pub min_date: String,
    /// A gzip or zstd object fails once it has expanded to more than this
    /// many times the compressed bytes read (after its first 64 MiB), so a
    /// small decompression bomb is refused in a moment.
    #[arg(long, env = "MAX_EXPANSION_RATIO", value_name = "RATIO",
          default_value_t = DEFAULT_MAX_EXPANSION_RATIO,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_expansion_ratio: u64,
    /// A gzip or zstd object fails once it has expanded past this many
    /// bytes (default: no limit but the ratio).
    #[arg(long, env = "MAX_EXPANDED_BYTES", value_name = "BYTES")]
    pub max_expanded_bytes: Option<u64>,
    /// The encoding of objects that declare none, as a WHATWG label
    /// (windows-1252, latin1, utf-16le, shift_jis, ...; default UTF-8).
    /// A UTF-8 or UTF-16 byte-order mark, or a charset= in an S3 object's
    /// Content-Type, takes precedence. Decoded while streaming; line numbers
    /// stay the object's own.
    #[arg(long, env = "SOURCE_ENCODING", value_name = "LABEL")]
    pub encoding: Option<String>,
}

impl InputSettings {
    /// The header contract and date window (the column map file read now).
    ///
    /// # Errors
    /// [`Error::Config`] for an unreadable map, an unknown column or a bad date.
    pub fn contract(&self) -> Result<Contract> {
        let map = match &self.column_map {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!("--column-map / COLUMN_MAP {}: {e}", path.display()))
            })?),
            None => None,
        };
        Contract::from_settings(
            &self.optional_columns,
            &self.column_alias,
            map.as_deref(),
            self.max_date_ahead.unwrap_or(DEFAULT_DATE_AHEAD),
            &self.min_date,
        )
    }

    /// How objects are read.
    ///
    /// # Errors
    /// [`Error::Config`] for an encoding label no decoder knows.
    pub fn read(&self) -> Result<ReadOptions> {
        let encoding = match &self.encoding {
            Some(label) => Some(Declared {
                // The flag's name stands for its variable too (`--help`
                // pairs them): one type parses both, not knowing which.
                encoding: transcode::encoding_for_label(label, "--encoding")?,
                by: "--encoding",
            }),
            None => None,
        };
        Ok(ReadOptions {
            max_expansion_ratio: self.max_expansion_ratio,
            max_expanded_bytes: self.max_expanded_bytes,
            encoding,
        })
    }
}

/// How each object is loaded.
#[derive(Args, Clone, Debug)]
pub struct LoadSettings {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub input: InputSettings,
    /// Bad rows to set aside in load_rejects per object before failing it:
    /// a count (0: the first bad row fails the object) or a share of the
    /// object's rows, checked at its end (0.5%)
    #[arg(long, env = "MAX_REJECTS", default_value_t = MaxRejects::NONE)]
    pub max_rejects: MaxRejects,
    /// COPY format: binary (measured faster) or text.
    #[arg(long, env = "COPY_FORMAT", default_value = "binary", value_parser = format_arg)]
    pub format: CopyFormat,
    /// work_mem of each load's transaction (the trigger's transition table
    /// and aggregates), a PostgreSQL size such as 256MB, or `auto`: 3x the
    /// object's size (6x that for gzip), between 64MB and 1GB; 256MB when
    /// the size is unknown (stdin). It bounds the server's memory per load.
    #[arg(long, env = "WORK_MEM", default_value = "auto", value_parser = work_mem_arg)]
    pub work_mem: String,
    /// Tries per object on retryable errors (connection loss, deadlocks,
    /// S3 5xx), re-reading the object from its start each time.
    #[arg(long, env = "MAX_ATTEMPTS", value_name = "N",
          default_value_t = DEFAULT_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub attempts: u32,
    /// The longest one lock wait of a load may last (PostgreSQL's
    /// lock_timeout, set per load transaction): another load's claim on the
    /// same object, rows another session holds. Past it the object fails
    /// naming the sessions that hold the lock, and is retried.
    #[arg(long, env = "LOCK_TIMEOUT", value_name = "DURATION",
          default_value_t = DEFAULT_LOCK_TIMEOUT.into(),
          value_parser = lock_timeout_arg)]
    pub lock_timeout: humantime::Duration,
}

impl LoadSettings {
    /// The options a [`crate::Loader`] runs with.
    ///
    /// # Errors
    /// [`Error::Config`] from [`InputSettings`].
    pub fn options(&self) -> Result<LoadOptions> {
        Ok(LoadOptions {
            format: self.format,
            max_rejects: self.max_rejects,
            work_mem: self.work_mem.clone(),
            max_attempts: self.attempts,
            lock_timeout: self.lock_timeout.into(),
            contract: self.input.contract()?,
            read: self.input.read()?,
            ..LoadOptions::default()
        })
    }
}

fn format_arg(value: &str) -> std::result::Result<CopyFormat, String> {
    match value {
        "binary" => Ok(CopyFormat::Binary),
        "text" => Ok(CopyFormat::Text),
        _ => Err("expected binary or text".into()),
    }
}

/// Checked before any load (PostgreSQL would refuse it in every object's
/// transaction).
fn work_mem_arg(value: &str) -> std::result::Result<String, String> {
    checked_work_mem(value, "the work_mem").map_err(|e| e.to_string())
}

fn lock_timeout_arg(value: &str) -> std::result::Result<humantime::Duration, String> {
    let d = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(24 * 3600) {
        return Err("a lock timeout is 1ms to 24h".into());
    }
    Ok(d.into())
}

/// Settings of type `T` from the environment alone, as the Lambda reads
/// them: every flag of `T` has its variable, and nothing else is read.
///
/// # Errors
/// [`Error::Config`] naming the variable and its value, and why it is wrong.
pub fn from_env<T: Args + FromArgMatches>() -> Result<T> {
    let command = blank_is_unset(T::augment_args(
        Command::new("environment").no_binary_name(true),
    ));
    let matches: ArgMatches = command
        .clone()
        .try_get_matches_from(std::iter::empty::<String>())
        .map_err(|e| env_error(&e, &command))?;
    T::from_arg_matches(&matches).map_err(|e| env_error(&e, &command))
}

/// A variable set to nothing (or spaces) counts as not set, as a console
/// or a template that leaves a field empty means it; clap would read it as
/// an empty value. For `command` and its subcommands.
pub fn blank_is_unset(command: Command) -> Command {
    command
        .mut_args(|arg| {
            let blank = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.to_string_lossy().trim().is_empty());
            if blank {
                arg.env(None)
            } else {
                arg
            }
        })
        .mut_subcommands(blank_is_unset)
}

/// A clap error about a flag, told in the words of its variable:
/// `MAX_REJECTS="150%" is not valid: ...`.
fn env_error(e: &clap::Error, command: &Command) -> Error {
    use clap::error::{ContextKind, ContextValue};
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let variable = text(ContextKind::InvalidArg).and_then(|shown| {
        command.get_arguments().find_map(|arg| {
            let long = arg.get_long()?;
            let named = shown == format!("--{long}") || shown.starts_with(&format!("--{long} "));
            named
                .then(|| arg.get_env())?
                .map(|v| v.to_string_lossy().into_owned())
        })
    });
    let (Some(variable), Some(value)) = (variable, text(ContextKind::InvalidValue)) else {
        return Error::Config(e.to_string());
    };
    let why = match (std::error::Error::source(e), text(ContextKind::ValidValue)) {
        (Some(source), _) => source.to_string(),
        (None, Some(valid)) => format!("expected one of {valid}"),
        (None, None) => e.kind().to_string(),
    };
    Error::Config(format!("{variable}={value:?} is not valid: {why}"))
}
