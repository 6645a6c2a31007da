//! `local-s3`: runs an S3 API endpoint (s3s-fs) on 127.0.0.1 in the foreground until Ctrl-C,
//! and prints the `export` lines that point an AWS SDK at it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use standins::LocalS3;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs a local S3 API endpoint (s3s-fs) on 127.0.0.1 until Ctrl-C.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port to listen on (default: one the OS chooses).
    #[arg(long)]
    port: Option<u16>,

    /// Directory to serve, kept afterwards (default: a temporary one, removed on exit).
    #[arg(long)]
    dir: Option<PathBuf>,

    /// Bucket to create at start (repeatable).
    #[arg(long = "bucket", value_name = "NAME")]
    buckets: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    let mut builder = LocalS3::builder();
    if let Some(port) = args.port {
        builder = builder.port(port);
    }
    if let Some(dir) = args.dir {
        builder = builder.dir(dir);
    }
    for bucket in args.buckets {
        builder = builder.bucket(bucket);
    }
    let s3 = builder.start()?;

    for (name, value) in s3.env_vars() {
        println!("export {name}={}", shell_quote(&value));
    }
    eprintln!(
        "local-s3: serving {} at {}; Ctrl-C to stop",
        s3.root().display(),
        s3.endpoint()
    );
    tokio::signal::ctrl_c().await?;
    eprintln!("local-s3: stopping");
    drop(s3);
    Ok(())
}

/// Quotes `value` for a POSIX shell when it needs it.
fn shell_quote(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}
