//! The `load` flags that say what an object's content must look like and
//! how it is read: the header contract, plausible dates, decompression
//! bounds. Each has the environment variable the Lambda reads.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use loader::contract::{DEFAULT_DATE_AHEAD, DEFAULT_MIN_DATE};
use loader::source::DEFAULT_MAX_EXPANSION_RATIO;
use loader::transcode::{self, Declared};
use loader::{Contract, ReadOptions};

#[derive(Args, Debug)]
pub struct InputArgs {
    /// Staging columns a header may leave out (comma-separated); their
    /// values load as NULL. Only the customer's four columns may be
    /// optional. Any other missing column fails the object, naming it.
    #[arg(
        long,
        env = "OPTIONAL_COLUMNS",
        value_delimiter = ',',
        value_name = "COLUMNS"
    )]
    optional_columns: Vec<String>,
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
    column_alias: Vec<String>,
    /// A file of aliases: one 'Producer Name=staging_column' per line;
    /// blank lines and lines starting with # are skipped.
    #[arg(long, env = "COLUMN_MAP", value_name = "FILE")]
    column_map: Option<std::path::PathBuf>,
    /// A row dated later than the load's time (UTC) plus this is a bad row
    /// (e.g. 1d, 36h): one typo such as 9999-12-31 would otherwise win
    /// every newest-wins dimension forever. Default: 1 day.
    #[arg(long, env = "MAX_DATE_AHEAD", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    max_date_ahead: Option<Duration>,
    /// A row dated before this (YYYY-MM-DD) is a bad row.
    #[arg(long, env = "MIN_DATE", value_name = "DATE", default_value = DEFAULT_MIN_DATE)]
    min_date: String,
    /// A gzip or zstd object fails once it has expanded to more than this
    /// many times the compressed bytes read (after its first 64 MiB), so a
    /// small decompression bomb is refused in a moment.
    #[arg(long, env = "MAX_EXPANSION_RATIO", value_name = "RATIO",
          default_value_t = DEFAULT_MAX_EXPANSION_RATIO,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_expansion_ratio: u64,
    /// A gzip or zstd object fails once it has expanded past this many
    /// bytes (default: no limit but the ratio).
    #[arg(long, env = "MAX_EXPANDED_BYTES", value_name = "BYTES")]
    max_expanded_bytes: Option<u64>,
    /// The encoding of objects that declare none, as a WHATWG label
    /// (windows-1252, latin1, utf-16le, shift_jis, ...; default UTF-8).
    /// A UTF-8 or UTF-16 byte-order mark, or a charset= in an S3 object's
    /// Content-Type, takes precedence. Decoded while streaming; line numbers
    /// stay the object's own.
    #[arg(long, env = "SOURCE_ENCODING", value_name = "LABEL")]
    encoding: Option<String>,
}

impl InputArgs {
    /// The header contract and date window.
    pub fn contract(&self) -> anyhow::Result<Contract> {
        let map = match &self.column_map {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("--column-map {}", path.display()))?,
            ),
            None => None,
        };
        Ok(Contract::from_settings(
            &self.optional_columns,
            &self.column_alias,
            map.as_deref(),
            self.max_date_ahead.unwrap_or(DEFAULT_DATE_AHEAD),
            &self.min_date,
        )?)
    }

    /// How objects are read.
    pub fn read(&self) -> anyhow::Result<ReadOptions> {
        let encoding = match &self.encoding {
            Some(label) => Some(Declared {
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
