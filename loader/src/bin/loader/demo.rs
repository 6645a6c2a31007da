//! `loader demo`: the whole pipeline on local stand-ins.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Rows to generate in total.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Objects to split them into.
    #[arg(long, default_value_t = 10)]
    files: u32,
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "demo: not yet ({} rows in {} files requested)",
        args.rows,
        args.files
    )
}
