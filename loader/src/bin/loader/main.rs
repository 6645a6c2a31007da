//! `loader`: the command line. `main` only wires; the work is in the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;
#[cfg(feature = "local")]
mod demo;
mod load_cmd;
mod out;
mod progress;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
loader::tune_mimalloc_before_main!();

/// Streams retail CSV files from S3, files or stdin into the PostgreSQL star
/// schema, exactly once per object.
///
/// The database comes from DATABASE_URL or libpq's PG* variables; S3 from the
/// standard AWS chain (AWS_ENDPOINT_URL for a local endpoint).
#[derive(Parser)]
#[command(version, propagate_version = true, max_term_width = 100)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the schema (tables, ledger, trigger). Safe to re-run.
    Init(cli::InitArgs),
    /// Load CSV objects: paths, directories, `-` for stdin, s3://bucket/key or
    /// s3://bucket/prefix/ (every object under it).
    Load(Box<load_cmd::LoadArgs>),
    /// Reconcile staging, the star schema and the ledger; exits 1 on a mismatch.
    Verify(cli::VerifyArgs),
    /// Delete staged rows of loads finished before a cutoff, without
    /// blocking running loads. Facts and dimensions are kept.
    Prune(cli::PruneArgs),
    #[cfg(feature = "local")]
    /// Run the whole pipeline on local stand-ins: a local S3 endpoint, a local
    /// or throwaway PostgreSQL, generated data, the Lambda's handler.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    // A variable set to nothing counts as unset, as in the Lambda.
    let matches = loader::settings::blank_is_unset(Args::command()).get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    cli::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Command::Init(a) => cli::init(a).await,
            Command::Load(a) => load_cmd::load(*a).await,
            Command::Verify(a) => cli::verify(a).await,
            Command::Prune(a) => cli::prune(a).await,
            #[cfg(feature = "local")]
            Command::Demo(a) => demo::demo(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
