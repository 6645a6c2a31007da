//! The `generator` binary: flags, files, manifest.json and summary.json.

use std::process::Command;

use generator::{Spec, Summary};

fn generator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_generator"))
}

#[test]
fn help_lists_every_flag() {
    let output = generator().arg("--help").output().expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("UTF-8");
    for flag in [
        "--rows",
        "--files",
        "--seed",
        "--out",
        "--start-id",
        "--start-date",
        "--days",
        "--stores",
        "--products",
        "--customers",
        "--drift",
        "--dirty",
        "--gzip",
        "--jobs",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn writes_files_manifest_and_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = generator()
        .args([
            "--rows",
            "2000",
            "--files",
            "2",
            "--seed",
            "9",
            "--start-id",
            "1001",
        ])
        .args(["--dirty", "0.01", "--gzip", "--out"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(stdout.contains("1980 good rows"), "{stdout}");

    for name in [
        "part-00001.csv.gz",
        "part-00002.csv.gz",
        "manifest.json",
        "summary.json",
    ] {
        assert!(dir.path().join(name).exists(), "{name}");
    }
    let text = std::fs::read_to_string(dir.path().join("summary.json")).expect("summary");
    let summary: Summary = serde_json::from_str(&text).expect("valid summary");
    let expected = Spec {
        rows: 2000,
        files: 2,
        seed: 9,
        start_id: 1001,
        dirty: 0.01,
        gzip: true,
        ..Spec::default()
    };
    assert_eq!(summary.spec, expected);
    assert_eq!(summary.total.min_transaction_id, Some(1001));
    assert_eq!(summary.total.rows + summary.total.bad_rows, 2000);
}

#[test]
fn invalid_options_fail_with_a_message() {
    for args in [
        &["--files", "0"][..],
        &["--drift", "2"],
        &["--start-date", "2023-02-30"],
        &["--out", "s3://"],
    ] {
        let output = generator().args(args).output().expect("runs");
        assert!(!output.status.success(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
}
