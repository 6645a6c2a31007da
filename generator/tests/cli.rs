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
    // (arguments, exit code, what the message must say): 2 is clap's usage
    // error, 1 a refused spec. A panic exits with 101 and fails here.
    for (args, code, says) in [
        (&["--files", "0"][..], 1, "--files must be at least 1"),
        (&["--drift", "2"], 1, "--drift must be in 0.0..=1.0, got 2"),
        (
            &["--start-date", "2023-02-30"],
            2,
            "`2023-02-30` is not a valid date",
        ),
        (&["--out", "s3://"], 2, "`s3://` has no bucket"),
    ] {
        let output = generator().args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
