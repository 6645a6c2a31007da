//! One type of settings for `loader load` and the Lambda: the same
//! environment resolves to the same load options through either, and the
//! CLI's flags mean what the Lambda's variables mean, `COLUMN_MAP` included.
//! (One test: it sets this process's environment.)

use std::process::Command;

use clap::{Args, Command as Cli, FromArgMatches};
use loader::lambda::LambdaSettings;
use loader::{LoadOptions, LoadSettings};

/// The variables every load setting reads, cleared before each case.
const VARIABLES: [&str; 14] = [
    "OPTIONAL_COLUMNS",
    "COLUMN_ALIASES",
    "COLUMN_MAP",
    "MAX_DATE_AHEAD",
    "MIN_DATE",
    "MAX_EXPANSION_RATIO",
    "MAX_EXPANDED_BYTES",
    "SOURCE_ENCODING",
    "MAX_REJECTS",
    "COPY_FORMAT",
    "WORK_MEM",
    "MAX_ATTEMPTS",
    "LOCK_TIMEOUT",
    "DEADLINE_MARGIN_MS",
];

/// `loader load`'s settings from its flags (and the environment).
fn from_flags(flags: &[&str]) -> LoadOptions {
    let cli = LoadSettings::augment_args(Cli::new("load"));
    let matches = cli
        .try_get_matches_from(std::iter::once("load").chain(flags.iter().copied()))
        .expect("the flags parse");
    LoadSettings::from_arg_matches(&matches)
        .expect("settings")
        .options()
        .expect("options")
}

fn from_lambda_env() -> LoadOptions {
    LambdaSettings::from_env()
        .expect("the environment parses")
        .load
        .options()
        .expect("options")
}

fn set(pairs: &[(&str, &str)]) {
    for v in VARIABLES {
        std::env::remove_var(v);
    }
    for (k, v) in pairs {
        std::env::set_var(k, v);
    }
}

#[test]
fn the_cli_and_the_lambda_resolve_settings_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let map = dir.path().join("columns.map");
    std::fs::write(
        &map,
        "Shop Name=store_name\n# a comment\n\nTill=payment_method\n",
    )
    .expect("map");
    let map = map.to_string_lossy().into_owned();

    // No settings: the defaults, the same through both, and the library's.
    set(&[]);
    let lambda = from_lambda_env();
    assert_eq!(format!("{lambda:?}"), format!("{:?}", from_flags(&[])));
    assert_eq!(
        format!("{lambda:?}"),
        format!("{:?}", LoadOptions::default())
    );
    assert_eq!(lambda.max_attempts, 4);
    assert_eq!(lambda.lock_timeout, std::time::Duration::from_secs(10));
    let margin = LambdaSettings::from_env().expect("env").deadline_margin_ms;
    assert_eq!(
        margin,
        LoadOptions::default().deadline_margin.as_millis() as u64
    );

    // A variable set to nothing is not set (a console's empty field).
    set(&[
        ("MAX_REJECTS", ""),
        ("MAX_ATTEMPTS", "  "),
        ("COLUMN_MAP", ""),
    ]);
    assert_eq!(format!("{:?}", from_lambda_env()), format!("{lambda:?}"));

    // Every setting given: the environment as the Lambda reads it, the
    // same environment under `loader load`, and the flags alone.
    let given = [
        ("OPTIONAL_COLUMNS", "customer_age,customer_gender"),
        (
            "COLUMN_ALIASES",
            "Shop City=store_location;Item=product_name",
        ),
        ("COLUMN_MAP", map.as_str()),
        ("MAX_DATE_AHEAD", "36h"),
        ("MIN_DATE", "2001-02-03"),
        ("MAX_EXPANSION_RATIO", "40"),
        ("MAX_EXPANDED_BYTES", "1000000"),
        ("SOURCE_ENCODING", "windows-1252"),
        ("MAX_REJECTS", "0.5%"),
        ("COPY_FORMAT", "text"),
        ("WORK_MEM", "128MB"),
        ("MAX_ATTEMPTS", "2"),
        ("LOCK_TIMEOUT", "750ms"),
    ];
    set(&given);
    let lambda = from_lambda_env();
    let cli_env = from_flags(&[]);
    set(&[]);
    let cli_flags = from_flags(&[
        "--optional-columns",
        "customer_age,customer_gender",
        "--column-alias",
        "Shop City=store_location",
        "--column-alias",
        "Item=product_name",
        "--column-map",
        &map,
        "--max-date-ahead",
        "36h",
        "--min-date",
        "2001-02-03",
        "--max-expansion-ratio",
        "40",
        "--max-expanded-bytes",
        "1000000",
        "--encoding",
        "windows-1252",
        "--max-rejects",
        "0.5%",
        "--format",
        "text",
        "--work-mem",
        "128MB",
        "--attempts",
        "2",
        "--lock-timeout",
        "750ms",
    ]);
    let shown = format!("{lambda:?}");
    assert_eq!(shown, format!("{cli_env:?}"));
    assert_eq!(shown, format!("{cli_flags:?}"));
    assert_ne!(shown, format!("{:?}", LoadOptions::default()));
    // The map's aliases are in the contract both read.
    for alias in ["shop_name", "till", "shop_city", "item"] {
        assert!(shown.contains(alias), "{alias} missing from {shown}");
    }
    assert_eq!(lambda.max_attempts, 2);
    assert_eq!(lambda.work_mem, "128MB");

    // A bad value names the variable for the Lambda.
    set(&[("MAX_ATTEMPTS", "lots")]);
    let err = LambdaSettings::from_env().expect_err("not a number");
    assert!(err.to_string().contains("MAX_ATTEMPTS=\"lots\""), "{err}");
    set(&[("COLUMN_MAP", "/nonexistent/columns.map")]);
    let err = LambdaSettings::from_env()
        .and_then(|s| s.load.options())
        .expect_err("no such map");
    assert!(
        err.to_string().contains("/nonexistent/columns.map"),
        "{err}"
    );
    set(&[]);

    // The binary's `load` is this type: its help names every variable.
    let help = Command::new(env!("CARGO_BIN_EXE_loader"))
        .args(["load", "--help"])
        .output()
        .expect("loader load --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for v in VARIABLES.iter().filter(|v| **v != "DEADLINE_MARGIN_MS") {
        assert!(help.contains(&format!("[env: {v}=")), "{v} not in:\n{help}");
    }
}
