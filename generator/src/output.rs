//! Where a run's files go: a local directory or an S3 bucket and prefix.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::ParseError;

/// The destination of a run.
#[derive(Clone, Debug)]
pub enum Output {
    /// Files in this directory, created when missing.
    Dir(PathBuf),
    /// Objects `<prefix><file name>` in `bucket`.
    S3 {
        /// The bucket (must exist).
        bucket: String,
        /// Empty, or ends with `/` (see [`Output::s3`]).
        prefix: String,
        /// The client to use; `None` builds one from the environment
        /// (see [`s3_client_from_env`](crate::s3_client_from_env)).
        client: Option<aws_sdk_s3::Client>,
    },
}

impl Output {
    /// An S3 destination. A non-empty `prefix` gets a trailing `/` when it has none, so
    /// `runs/1` and `runs/1/` both put files at `runs/1/part-00001.csv`.
    pub fn s3(bucket: impl Into<String>, prefix: &str) -> Output {
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Output::S3 {
            bucket: bucket.into(),
            prefix,
            client: None,
        }
    }

    /// The same destination written with `client` (ignored for a directory).
    pub fn with_client(self, client: aws_sdk_s3::Client) -> Output {
        match self {
            Output::S3 { bucket, prefix, .. } => Output::S3 {
                bucket,
                prefix,
                client: Some(client),
            },
            dir => dir,
        }
    }

    /// Where a file called `name` goes: a path, or an `s3://bucket/key` URL.
    pub fn locate(&self, name: &str) -> String {
        match self {
            Output::Dir(dir) => dir.join(name).display().to_string(),
            Output::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}{name}"),
        }
    }
}

impl FromStr for Output {
    type Err = ParseError;

    /// `s3://bucket` or `s3://bucket/prefix` for S3; anything else is a directory path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.is_empty() {
                return Err(ParseError("the output directory is empty".into()));
            }
            return Ok(Output::Dir(PathBuf::from(s)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ParseError(format!(
                "`{s}` has no bucket (expected s3://bucket/prefix)"
            )));
        }
        Ok(Output::s3(bucket, prefix))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Dir(dir) => write!(f, "{}", dir.display()),
            Output::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(out: &str) -> String {
        out.parse::<Output>()
            .expect("valid output")
            .locate("part-00001.csv")
    }

    #[test]
    fn s3_prefixes_are_normalized() {
        assert_eq!(key("s3://b"), "s3://b/part-00001.csv");
        assert_eq!(key("s3://b/"), "s3://b/part-00001.csv");
        assert_eq!(key("s3://b/in"), "s3://b/in/part-00001.csv");
        assert_eq!(key("s3://b/in/"), "s3://b/in/part-00001.csv");
        assert_eq!(key("s3://b/a/b"), "s3://b/a/b/part-00001.csv");
        assert!("s3:///x".parse::<Output>().is_err());
    }

    #[test]
    fn anything_else_is_a_directory() {
        let out: Output = "/tmp/x".parse().expect("valid output");
        assert!(matches!(out, Output::Dir(_)));
        assert_eq!(key("/tmp/x"), "/tmp/x/part-00001.csv");
        assert!("".parse::<Output>().is_err());
    }
}
