//! The input contract and the ways objects arrive (issue 16), each on real
//! files through the real `loader` binary or `Loader` into a real database:
//! the header contract (missing columns, optional columns, aliases), zstd,
//! bounded decompression, plausible dates, stdin that is not retried from
//! its middle, a closed stdout pipe, and what `load DIR` skips.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use generator::Spec;
use loader::{Error, Outcome, Source};
use support::*;

/// One good row with the given id and date, in the full header's order.
fn row(id: &str, date: &str) -> String {
    format!(
        "{id},{date},17:58:00,20.00,Cash,7,Harbor Market,Springfield- IL,12,Widget,\
         Electronics,10.00,2,9,33,Male,Gold"
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.output().expect("run loader");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_contract_names_missing_columns_and_takes_declared_optional_and_aliases() {
    let (db, client) = fresh_db("contract").await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The header without Customer_Membership (and its field in the row).
    let no_membership = |id: &str| {
        let header = PRODUCER_HEADER.trim_end_matches(",Customer_Membership");
        let row = row(id, "2024-03-01");
        let row = row.trim_end_matches(",Gold").to_string();
        format!("{header}\n{row}\n")
    };
    let missing = write(
        dir.path(),
        "missing.csv",
        no_membership("HC0001").as_bytes(),
    );

    let (ok, stdout, _) = run(loader_cmd(&db, None).arg("load").arg(&missing));
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("line 1 (header): missing columns: customer_membership"),
        "{stdout}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        0
    );

    // Declared optional: loads, the membership NULL.
    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--optional-columns", "Customer_Membership"])
        .arg(&missing));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM staging_table
             WHERE transaction_id = 'HC0001' AND customer_membership IS NULL
               AND customer_gender = 'Male'"
        )
        .await,
        1
    );
    // A required column cannot be declared optional.
    let (ok, _, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--optional-columns", "store_id"])
        .arg(&missing));
    assert!(!ok);
    assert!(stderr.contains("store_id cannot be optional"), "{stderr}");

    // A producer's names through a flag and through a map file.
    let renamed = PRODUCER_HEADER
        .replace("Store_Name", "Producer Name")
        .replace("Product_Category", "Category");
    let aliased = write(
        dir.path(),
        "aliased.csv",
        format!("{renamed}\n{}\n", row("HC0002", "2024-03-01")).as_bytes(),
    );
    let (ok, stdout, _) = run(loader_cmd(&db, None).arg("load").arg(&aliased));
    assert!(!ok);
    assert!(
        stdout.contains("missing columns: store_name, product_category")
            && stdout.contains("unknown columns: \"Producer Name\", \"Category\""),
        "{stdout}"
    );
    let map = write(
        dir.path(),
        "aliases.map",
        b"# producer X\nCategory = product_category\n",
    );
    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .args([
            "load",
            "--column-alias",
            "producer-name=Store_Name",
            "--column-map",
        ])
        .arg(&map)
        .arg(&aliased));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM facts f JOIN dim_stores s USING (store_id)
             WHERE f.transaction_id = 'HC0002' AND s.store_name = 'Harbor Market'"
        )
        .await,
        1
    );
    assert_verified(&client).await;
}

/// `rows` generated rows as zstd, in two frames (concatenated frames are one
/// stream, like gzip members).
fn zstd_frames(csv: &[u8]) -> Vec<u8> {
    let half = csv.len() / 2;
    let mut out = zstd::encode_all(&csv[..half], 3).expect("zstd");
    out.extend(zstd::encode_all(&csv[half..], 3).expect("zstd"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_objects_load_like_plain_ones_from_files_and_s3() {
    let (db, client) = fresh_db("zstd").await;
    let spec = Spec {
        rows: 5_000,
        seed: 16,
        ..Spec::default()
    };
    let csv = file_bytes(&spec, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    // The name says nothing: the magic bytes do.
    let path = write(dir.path(), "part.csv.zst", &zstd_frames(&csv));
    let plain = write(dir.path(), "plain", &zstd_frames(&csv));
    // pzstd opens every file with a skippable frame (magic 0x184D2A50, a
    // length, that many bytes of its own).
    let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    skippable.extend(zstd_frames(&csv));
    let pzstd = write(dir.path(), "pzstd.csv.zst", &skippable);
    let (_s3, s3) = local_s3("lake");
    put(&s3, "lake", "in/part.csv.zst", zstd_frames(&csv)).await;

    let mut loader = lib_loader(&db, Some(s3), test_options());
    let report = loader.load(&Source::File(path)).await.expect("zstd file");
    assert_eq!((report.outcome, report.rows), (Outcome::Loaded, 5_000));
    let report = loader
        .load(&Source::s3("lake", "in/part.csv.zst"))
        .await
        .expect("zstd object");
    assert_eq!((report.outcome, report.rows), (Outcome::Loaded, 5_000));
    let report = loader.load(&Source::File(plain)).await.expect("no suffix");
    assert_eq!(report.rows, 5_000);
    let report = loader
        .load(&Source::File(pzstd))
        .await
        .expect("a skippable frame first");
    assert_eq!((report.outcome, report.rows), (Outcome::Loaded, 5_000));
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        20_000
    );
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 5_000);
    assert_verified(&client).await;
}

/// A corrupt gzip header, a wrong gzip checksum (also when the corrupt bytes
/// first fail as CSV) and a zstd frame whose window is over the decoder's
/// limit are the content's fault: bad data,
/// named as such, never retried (the S3 attempt is not repeated), nothing
/// staged; so are streams cut short, wherever the cut. The same bytes from
/// S3 give the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_compressed_objects_are_bad_data_not_retried() {
    let (db, client) = fresh_db("corrupt").await;
    let spec = Spec {
        rows: 20_000,
        seed: 23,
        ..Spec::default()
    };
    let csv = file_bytes(&spec, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&csv).expect("gzip");
    let gz = gz.finish().expect("gzip");
    // Compression method 7 is not deflate (the header's third byte).
    let mut bad_header = gz.clone();
    bad_header[2] = 7;
    // A wrong CRC in the trailer: every row decodes, the check fails at
    // the end, and none of them may be kept.
    let mut bad_stream = gz.clone();
    let crc = bad_stream.len() - 8;
    bad_stream[crc] ^= 0x5a;
    // A frame that declares a 128 MiB window (written without a pledged
    // size, as a streaming writer does).
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd");
    enc.window_log(27).expect("window log");
    enc.write_all(&csv).expect("zstd");
    let big_window = enc.finish().expect("zstd");
    // The same bytes with a window the decoder takes load.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd");
    enc.window_log(loader::ZSTD_WINDOW_LOG_MAX)
        .expect("window log");
    enc.write_all(&csv).expect("zstd");
    let fitting_window = enc.finish().expect("zstd");

    // Streams cut short, wherever the cut falls (in the gzip header, in
    // the first block, in the middle): every byte arrived, so the content
    // is at fault too (a read error, not a data error: no row is named).
    let half = gz.len() / 2;
    let zst = zstd::encode_all(&csv[..], 3).expect("zstd");
    // One byte flipped mid-stream: it decodes to garbage that fails as CSV
    // before gzip's checksum (at the end) fails; the checksum is the cause.
    let mut flipped = gz.clone();
    flipped[half] ^= 0xff;
    // A bad row in a sound gzip stream is the row's fault.
    let mut bad_row = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let newline = csv.iter().position(|&b| b == b'\n').expect("a header line");
    bad_row.write_all(&csv[..newline]).expect("gzip");
    bad_row.write_all(b"\nnot,a,row").expect("gzip");
    bad_row.write_all(&csv[newline..]).expect("gzip");
    let bad_row = bad_row.finish().expect("gzip");
    // (name, bytes, text of the error, a data error)
    let cases: [(&str, &[u8], &str, bool); 10] = [
        ("bad-header.csv.gz", &bad_header, "corrupt gzip data", true),
        ("bad-crc.csv.gz", &bad_stream, "corrupt gzip data", true),
        (
            "flipped.csv.gz",
            &flipped,
            "; read before the check failed, its bytes gave: line",
            true,
        ),
        (
            "bad-row.csv.gz",
            &bad_row,
            "line 2: expected 17 fields, found 3",
            true,
        ),
        (
            "big-window.csv.zst",
            &big_window,
            "windows up to 32 MiB are decoded",
            true,
        ),
        ("cut-10.csv.gz", &gz[..10], "", false),
        ("cut-20.csv.gz", &gz[..20], "", false),
        ("cut-half.csv.gz", &gz[..half], "", false),
        ("cut-6.csv.zst", &zst[..6], "", false),
        ("cut-half.csv.zst", &zst[..zst.len() / 2], "", false),
    ];
    let (_s3, s3) = local_s3("lake");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes, expected, data) in cases {
        put(&s3, "lake", name, bytes.to_vec()).await;
        let path = write(dir.path(), name, bytes);
        let mut loader = lib_loader(&db, Some(s3.clone()), test_options());
        for source in [Source::File(path), Source::s3("lake", name)] {
            let err = loader
                .load(&source)
                .await
                .expect_err("corrupt input must fail");
            let message = err.to_string();
            assert_eq!(matches!(err, Error::Data { .. }), data, "{name}: {message}");
            assert!(!err.is_retryable(), "{name}: {message}");
            assert!(message.contains(expected), "{name}: {message}");
            assert!(message.contains(name), "{name}: {message}");
        }
    }
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        0
    );
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM load_ledger WHERE attempts <> 1"
        )
        .await,
        0,
        "a corrupt or truncated stream was tried again"
    );

    let path = write(dir.path(), "fitting.csv.zst", &fitting_window);
    let mut loader = lib_loader(&db, None, test_options());
    let report = loader
        .load(&Source::File(path))
        .await
        .expect("a 32 MiB window loads");
    assert_eq!((report.outcome, report.rows), (Outcome::Loaded, 20_000));
    assert_verified(&client).await;
}

/// A gzip object of a valid header and then `gib` GiB of zeros, made of
/// gzip members of 16 MiB of zeros each (concatenated members are one
/// stream): ~1000x smaller than what it expands to.
fn gzip_zero_bomb(gib: u64) -> Vec<u8> {
    use flate2::{write::GzEncoder, Compression};
    const PIECE: usize = 16 << 20;
    let zeros = vec![0u8; PIECE];
    let member = |prefix: &[u8]| {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(prefix).expect("gzip");
        enc.write_all(&zeros).expect("gzip");
        enc.finish().expect("gzip")
    };
    let mut out = member(format!("{PRODUCER_HEADER}\n").as_bytes());
    let one = member(b"");
    for _ in 1..(gib << 30) / PIECE as u64 {
        out.extend_from_slice(&one);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_bomb_fails_at_its_limits_with_and_without_rejects() {
    let (db, client) = fresh_db("bomb").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = write(dir.path(), "bomb.csv.gz", &gzip_zero_bomb(10));
    let mut zst = zstd::encode_all(format!("{PRODUCER_HEADER}\n").as_bytes(), 1).expect("zstd");
    let piece = zstd::encode_all(&vec![0u8; 64 << 20][..], 3).expect("zstd");
    for _ in 0..160 {
        zst.extend_from_slice(&piece);
    }
    let zst = write(dir.path(), "bomb.csv.zst", &zst);

    for path in [&gz, &zst] {
        // No rejects: the endless record fails at the record limit.
        let mut loader = lib_loader(&db, None, test_options());
        let err = loader
            .load(&Source::File(path.clone()))
            .await
            .expect_err("the bomb must fail");
        let message = err.to_string();
        assert!(matches!(err, Error::Data { .. }), "{message}");
        assert!(
            message.contains("line 2: record longer than 1048576 bytes (stopped reading it there)"),
            "{message}"
        );
        // With rejects the record would be read to its end: the expansion
        // bound stops it, as bad data (not retried).
        let options = loader::LoadOptions {
            max_rejects: loader::MaxRejects::Rows(5),
            ..test_options()
        };
        let mut loader = lib_loader(&db, None, options);
        let err = loader
            .load(&Source::File(path.clone()))
            .await
            .expect_err("the bomb must fail");
        let message = err.to_string();
        assert!(matches!(err, Error::Data { .. }), "{message}");
        assert!(
            message.contains("refused as a decompression bomb"),
            "{message}"
        );
        // An absolute cap, below the ratio's slack.
        let options = loader::LoadOptions {
            max_rejects: loader::MaxRejects::Rows(5),
            read: loader::ReadOptions {
                max_expanded_bytes: Some(8 << 20),
                ..Default::default()
            },
            ..test_options()
        };
        let mut loader = lib_loader(&db, None, options);
        let err = loader
            .load(&Source::File(path.clone()))
            .await
            .expect_err("the cap must stop it");
        assert!(err.to_string().contains("(--max-expanded-bytes)"), "{err}");
    }
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        0
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implausible_dates_are_bad_rows() {
    let (db, client) = fresh_db("dates").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    // Civil date of a day count since 1970 (the same algorithm as the
    // generator's calendar, written out for the test).
    let date_of = |days: i64| {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    };
    let today = (now / 86_400) as i64;
    let in_two_days = date_of(today + 2);
    let csv = format!(
        "{PRODUCER_HEADER}\n{}\n{}\n{}\n{}\n",
        row("PD0001", &date_of(today)),
        row("PD0002", &in_two_days),
        row("PD0003", "9999-12-31"),
        row("PD0004", "1899-12-31"),
    );
    let path = write(dir.path(), "dates.csv", csv.as_bytes());

    let (ok, stdout, _) = run(loader_cmd(&db, None).arg("load").arg(&path));
    assert!(!ok);
    assert!(
        stdout.contains(&format!(
            "line 3, column transaction_date: implausible date: later than the load's time \
             plus --max-date-ahead (1 day unless set) (value \"{in_two_days}\")"
        )),
        "{stdout}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        0
    );

    // Rejectable like any bad row.
    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--max-rejects", "3"])
        .arg(&path));
    assert!(ok, "{stdout}{stderr}");
    let rejected: Vec<i64> = client
        .query(
            "SELECT line FROM load_rejects WHERE column_name = 'transaction_date' ORDER BY line",
            &[],
        )
        .await
        .expect("rejects")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rejected, [3, 4, 5]);
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 1);

    // A wider window and an earlier floor take them (9999 stays out),
    // once the database's own bound (loader.settings, the owner's) is as
    // wide: the loader applies the narrower of the two.
    client
        .batch_execute(
            "UPDATE loader.settings SET min_date = '1800-01-01', max_date_ahead = '3 days'",
        )
        .await
        .expect("the owner widens the database's bound");
    let (ok, stdout, _) = run(loader_cmd(&db, None)
        .args([
            "load",
            "--max-rejects",
            "1",
            "--max-date-ahead",
            "3d",
            "--min-date",
            "1800-01-01",
            "--stdin-name",
            "dates-again",
            "-",
        ])
        .stdin(std::fs::File::open(&path).expect("open")));
    assert!(ok, "{stdout}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 3);
    assert_verified(&client).await;
}

/// `--max-rejects` as a share through the real binary: 1 bad row of 10 is
/// over 5% (the object fails, nothing of it committed) and within 10%.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rejects_takes_a_share_of_the_objects_rows() {
    let (db, client) = fresh_db("reject_share").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = format!("{PRODUCER_HEADER}\n");
    for i in 1..=10 {
        let date = if i == 2 { "2024-02-30" } else { "2024-03-01" };
        csv.push_str(&row(&format!("SH{i:04}"), date));
        csv.push('\n');
    }
    let path = write(dir.path(), "share.csv", csv.as_bytes());

    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--max-rejects", "5%"])
        .arg(&path));
    assert!(!ok, "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("more than 5% bad rows (--max-rejects): 1 of 10 rows read; the last: line 3"),
        "{all}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM load_rejects").await, 0);

    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--max-rejects", "10%"])
        .arg(&path));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 9);
    assert_eq!(
        count(&client, "SELECT count(*) FROM load_rejects WHERE line = 3").await,
        1
    );
    assert_verified(&client).await;

    let (ok, _, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--max-rejects", "150%"])
        .arg(&path));
    assert!(!ok);
    assert!(
        stderr.contains("a share is a percentage from 0% to 100%"),
        "{stderr}"
    );
}

/// A load from stdin whose connection is cut mid-COPY fails with the
/// connection's error: a retry would read stdin from its middle and report
/// a header error instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_not_retried_once_read_and_the_error_is_the_real_cause() {
    let (db, client) = fresh_db("stdin_retry").await;
    let spec = Spec {
        rows: 20_000,
        seed: 7,
        ..Spec::default()
    };
    let csv = file_bytes(&spec, 0);
    let (head, tail) = csv.split_at(csv.len() / 2);
    let mut child = loader_cmd(&db, None)
        .args(["load", "--attempts", "4", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loader");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(head).expect("write the first half");
    stdin.flush().expect("flush");
    // Wait for its COPY, then cut its connection.
    let pid: i32 = loop {
        let row = client
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = $1 AND query LIKE 'COPY%' LIMIT 1",
                &[&db.name()],
            )
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            break row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    client
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .expect("terminate");
    // The rest may or may not be read: the loader may already have stopped.
    let _ = stdin.write_all(tail);
    drop(stdin);
    let out = child.wait_with_output().expect("loader exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(!stdout.contains("header"), "{stdout}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(
        stdout.contains("terminating connection") || stdout.contains("connection"),
        "{stdout}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM staging_table").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_does_not_panic_and_directories_name_what_they_skip() {
    let (db, client) = fresh_db("pipe_dir").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    for n in 1..=3 {
        let csv = format!(
            "{PRODUCER_HEADER}\n{}\n",
            row(&format!("PIPE0{n}"), "2024-03-01")
        );
        write(&data, &format!("part-{n}.csv"), csv.as_bytes());
    }
    let outside = write(
        dir.path(),
        "outside.csv",
        format!("{PRODUCER_HEADER}\n{}\n", row("LINK01", "2024-03-01")).as_bytes(),
    );
    std::os::unix::fs::symlink(&outside, data.join("link.csv")).expect("symlink");
    std::fs::create_dir(data.join("sub.csv")).expect("mkdir");
    write(&data, "notes.txt", b"not data");

    // `loader load DIR | head -0`: stdout is a pipe whose reader is gone
    // before the loader writes its first line, so every line it prints
    // meets a closed pipe (with `head -1` only the later ones would).
    let out = loader_cmd(&db, None)
        .arg("load")
        .arg(&data)
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run loader");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 3);
    for (name, why) in [
        ("link.csv", "a symbolic link (not followed"),
        ("sub.csv", "a directory (not searched"),
        ("notes.txt", "its name does not end in one of --suffixes"),
    ] {
        let shown = format!("skipped     {}  {why}", data.join(name).display());
        assert!(stderr.contains(&shown), "{shown:?} not in {stderr}");
    }
}

/// The write end of a pipe whose reader is gone (`| head -0`).
fn closed_pipe() -> Stdio {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills the two descriptors; both are owned below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: the read end is ours and closed once.
    unsafe { libc::close(fds[0]) };
    // SAFETY: the write end is ours; the File owns and closes it.
    let writer = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
    Stdio::from(writer)
}

/// `loader demo | head -0` runs the demo to its end (into the database it
/// is given, with its own local S3) instead of panicking on its first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_survives_a_closed_stdout() {
    let (db, client) = fresh_db("demo_pipe").await;
    let out = loader_cmd(&db, None)
        .args(["demo", "--rows", "3000", "--files", "3"])
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run loader demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 3000);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM load_ledger WHERE status = 'loaded'"
        )
        .await,
        3
    );
    assert_verified(&client).await;
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_encodings_and_byte_order_marks_are_decoded_keeping_line_numbers() {
    let (db, client) = fresh_db("encodings").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cafe = |id: &str| row(id, "2024-03-01").replace("Harbor Market", "Café Ñandú");
    let text = format!("{PRODUCER_HEADER}\n{}\n", cafe("ENC001"));
    let (cp1252, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable);
    let latin = write(dir.path(), "latin.csv", &cp1252);

    // Undeclared, it is not UTF-8: the error says what to do.
    let (ok, stdout, _) = run(loader_cmd(&db, None).arg("load").arg(&latin));
    assert!(!ok);
    assert!(
        stdout.contains(
            "line 2, column store_name: invalid UTF-8 (an object in another \
                         encoding needs --encoding LABEL"
        ),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--encoding", "latin1"])
        .arg(&latin));
    assert!(ok, "{stdout}{stderr}");

    // UTF-16 with a byte-order mark needs no flag, also under gzip; a bad
    // row is reported at its own line and column.
    let utf16 = format!(
        "{PRODUCER_HEADER}\r\n{}\r\n{}\r\n",
        cafe("ENC002"),
        row("ENC003", "2024-02-30")
    );
    let wide = write(dir.path(), "wide.csv", &utf16le_with_bom(&utf16));
    let (ok, stdout, _) = run(loader_cmd(&db, None).arg("load").arg(&wide));
    assert!(!ok);
    assert!(
        stdout.contains("line 3, column transaction_date: no such date (value \"2024-02-30\")"),
        "{stdout}"
    );
    let good16 = format!("{PRODUCER_HEADER}\r\n{}\r\n", cafe("ENC002"));
    let wide_gz = write(dir.path(), "wide.csv.gz", &gzip(&utf16le_with_bom(&good16)));
    let (ok, stdout, stderr) = run(loader_cmd(&db, None).arg("load").arg(&wide_gz));
    assert!(ok, "{stdout}{stderr}");

    // An S3 object's Content-Type charset.
    let (s3, s3_client) = local_s3("lake");
    let latin3 = encoding_rs::WINDOWS_1252
        .encode(&format!("{PRODUCER_HEADER}\n{}\n", cafe("ENC004")))
        .0
        .into_owned();
    s3_client
        .put_object()
        .bucket("lake")
        .key("latin.csv")
        .content_type("text/csv; charset=\"ISO-8859-1\"")
        .body(latin3.into())
        .send()
        .await
        .expect("put");
    let (ok, stdout, stderr) =
        run(loader_cmd(&db, Some(&s3)).args(["load", "s3://lake/latin.csv"]));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM staging_table WHERE store_name = 'Café Ñandú'"
        )
        .await,
        3
    );

    // Bytes that are not valid in the declared encoding: named with the line.
    let mut sjis = format!("{PRODUCER_HEADER}\n{}\n", row("ENC005", "2024-03-01")).into_bytes();
    sjis.extend_from_slice(
        b"ENC006,2024-03-01,17:58:00,20.00,Cash,7,\x81\x20,L- X,12,P,C,10.00,2,9,33,Male,Gold\n",
    );
    let sjis = write(dir.path(), "sjis.csv", &sjis);
    let (ok, stdout, _) = run(loader_cmd(&db, None)
        .args(["load", "--encoding", "shift_jis"])
        .arg(&sjis));
    assert!(!ok);
    assert!(
        stdout.contains("line 3: bytes 0x81 are not valid Shift_JIS (declared by --encoding)"),
        "{stdout}"
    );
    let (ok, _, stderr) = run(loader_cmd(&db, None)
        .args(["load", "--encoding", "klingon"])
        .arg(&sjis));
    assert!(!ok);
    assert!(
        stderr.contains("--encoding \"klingon\" is not an encoding label"),
        "{stderr}"
    );
    assert_verified(&client).await;
}

/// 50,000 refused rows of an object (more than the rejects' memory budget,
/// so most go to a temporary file) are all filed, each with its record's
/// bytes exactly as in the object and its offset: as text when they are
/// UTF-8 without NUL, as bytea otherwise. The temporary file is gone after
/// the load, and a temporary directory that cannot be written fails the
/// load with the reason and commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rejects_are_filed_as_written_and_leave_no_file_behind() {
    let (db, client) = fresh_db("many_rejects").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tmpdir");
    let mut csv = format!("{PRODUCER_HEADER}\r\n").into_bytes();
    let mut bad: Vec<(usize, Vec<u8>)> = Vec::new();
    for i in 0..60_000u32 {
        let line: Vec<u8> = match i % 6 {
            0 => row(&format!("OK{i:06}"), "2024-03-01").into_bytes(),
            1 => row(&format!("BD{i:06}"), "2024-02-30").into_bytes(),
            2 => row(&format!("NU{i:06}"), "2024-03-01")
                .replace("Widget,", "Wid\0get,")
                .replace(",2,9,", ",two,9,")
                .into_bytes(),
            3 => {
                let mut l = row(&format!("XF{i:06}"), "2024-03-01").into_bytes();
                let at = l.iter().position(|&b| b == b'7').expect("store id");
                l.splice(at..at + 1, *b"7\xff");
                l
            }
            4 => row(&format!("SH{i:06}"), "2024-03-01")
                .replace(",Gold", "")
                .into_bytes(),
            _ => row(&format!("\"Q\"\"{i:06}\""), "2024-13-01").into_bytes(),
        };
        if i % 6 != 0 {
            bad.push((csv.len(), line.clone()));
        }
        csv.extend_from_slice(&line);
        csv.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
    }
    assert_eq!(bad.len(), 50_000);
    let path = write(dir.path(), "many-rejects.csv", &csv);

    // A temporary directory that does not exist: the rejects cannot be kept.
    let missing = tmp.path().join("missing");
    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .env("TMPDIR", &missing)
        .args(["load", "--attempts", "1", "--max-rejects", "100%"])
        .arg(&path));
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "many-rejects.csv: setting the rejects aside in a temporary file: creating a file in {}: No such file",
            missing.display()
        )),
        "{stdout}{stderr}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM load_rejects").await, 0);

    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .env("TMPDIR", tmp.path())
        .args(["load", "--max-rejects", "100%"])
        .arg(&path));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 10_000);
    let filed = client
        .query(
            "SELECT byte_offset, raw_record, raw_bytes FROM load_rejects ORDER BY line",
            &[],
        )
        .await
        .expect("rejects");
    assert_eq!(filed.len(), 50_000);
    for (r, (at, line)) in filed.iter().zip(&bad) {
        let offset: i64 = r.get(0);
        let text: Option<String> = r.get(1);
        let bytes: Option<Vec<u8>> = r.get(2);
        assert_eq!(offset as usize, *at);
        match (text, bytes) {
            (Some(t), None) => assert_eq!(t.as_bytes(), &line[..]),
            (None, Some(b)) => {
                assert_eq!(&b, line);
                assert!(std::str::from_utf8(&b).map_or(true, |t| t.contains('\0')));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        count(&client, "SELECT rows_rejected FROM load_ledger").await,
        50_000
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("tmpdir").count(),
        0,
        "no file left behind"
    );
    assert_verified(&client).await;

    // A reject lost afterwards is found by verify.
    client
        .batch_execute("DELETE FROM load_rejects WHERE line = (SELECT max(line) FROM load_rejects)")
        .await
        .expect("tamper");
    let checks = loader::schema::verify(&client).await.expect("verify runs");
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        ["loads whose rejects and ledger disagree"],
        "{checks:?}"
    );
}

/// An S3-compatible endpoint whose HeadObject answers without an ETag: the
/// object's version cannot be told from another, so the load fails (not
/// retried) naming the reason, and the ledger records it. The endpoint is a
/// few lines of HTTP on loopback, since a real S3 always sends one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_without_etags_is_refused_with_the_reason() {
    use std::io::{BufRead, BufReader};
    let (db, client) = fresh_db("no_etag").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    // Headers, to the blank line (no request here has a body).
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 2 {
                        line.clear();
                    }
                    seen.lock().expect("lock").push(request.trim().to_string());
                    let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\
                                  Content-Length: 64\r\n\
                                  Last-Modified: Wed, 02 Dec 2026 00:00:00 GMT\r\n\r\n";
                    if stream.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (ok, stdout, stderr) = run(loader_cmd(&db, None)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .args(["load", "s3://lake/no-etag.csv"]));
    assert!(!ok, "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("s3://lake/no-etag.csv: S3 HeadObject failed: the response has no ETag"),
        "{all}"
    );
    let requests = requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1, "asked once, not retried: {requests:?}");
    assert!(
        requests[0].starts_with("HEAD /lake/no-etag.csv"),
        "{requests:?}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 0);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM load_ledger
             WHERE status = 'failed' AND etag IS NULL AND error LIKE '%has no ETag%'"
        )
        .await,
        1
    );
}

/// One file is one object in the ledger whichever way its path is spelled
/// (`..`, a symbolic link), and two names that differ only in bytes that
/// are not UTF-8 are two objects (they were one, the bytes replaced by
/// U+FFFD).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_has_one_ledger_name_however_its_path_is_given() {
    use std::os::unix::ffi::OsStrExt;
    let (db, client) = fresh_db("paths").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let csv = format!("{PRODUCER_HEADER}\n{}\n", row("PATH001", "2024-03-01"));
    let file = write(&sub, "same.csv", csv.as_bytes());
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let dotted = dir.path().join("sub/../sub/same.csv");
    let mut loader = lib_loader(&db, None, test_options());
    let mut outcomes = Vec::new();
    for path in [&file, &dotted, &link] {
        let report = loader
            .load(&Source::File(path.clone()))
            .await
            .expect("load");
        outcomes.push(report.outcome);
    }
    assert_eq!(
        outcomes,
        [Outcome::Loaded, Outcome::Skipped, Outcome::Skipped]
    );
    let latin = |b: u8| {
        let name = [b'l', b, b'.', b'c', b's', b'v'];
        let path = dir.path().join(std::ffi::OsStr::from_bytes(&name));
        std::fs::write(&path, csv.as_bytes()).expect("write");
        path
    };
    // The third is named in ASCII what the first's key escapes it to: its
    // key escapes the backslash, so it is a new object, not the first again.
    let ascii = write(dir.path(), "l\\xe9.csv", csv.as_bytes());
    for path in [latin(0xe9), latin(0xe8), ascii] {
        let report = loader.load(&Source::File(path)).await.expect("load");
        assert_eq!(report.outcome, Outcome::Loaded);
    }
    // The CLI takes a name that is not UTF-8 as an argument (it is the same
    // file, under the same key) and shows it escaped as in the ledger.
    let out = loader_cmd(&db, None)
        .arg("load")
        .arg(latin(0xe9))
        .output()
        .expect("run loader");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("skipped") && stdout.contains("/l\\xe9.csv"),
        "{stdout}"
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM load_ledger
             WHERE right(object_key, 10) IN ('/l\\xe9.csv', '/l\\xe8.csv')"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &client,
            r"SELECT count(*) FROM load_ledger WHERE right(object_key, 11) = '/l\\xe9.csv'"
        )
        .await,
        1
    );
    assert_eq!(count(&client, "SELECT count(*) FROM load_ledger").await, 4);
    assert_verified(&client).await;
}

/// `s3://bucket` without its slash is refused, not read as the whole bucket;
/// a prefix's objects left out by `--suffixes` are named, as a directory's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_bucket_is_refused_and_prefix_skips_are_named() {
    let (db, client) = fresh_db("prefixes").await;
    let (s3, s3_client) = local_s3("lake");
    let csv = format!("{PRODUCER_HEADER}\n{}\n", row("PRE001", "2024-03-01"));
    put(&s3_client, "lake", "pre/a.csv", csv.clone().into_bytes()).await;
    put(&s3_client, "lake", "pre/notes.txt", b"not a load".to_vec()).await;

    let (ok, stdout, stderr) = run(loader_cmd(&db, Some(&s3)).args(["load", "s3://lake"]));
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("s3://lake: names a bucket, not an object; write s3://lake/"),
        "{stderr}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM load_ledger").await, 0);

    let (ok, stdout, stderr) = run(loader_cmd(&db, Some(&s3)).args(["load", "s3://lake/pre/"]));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("skipped     s3://lake/pre/notes.txt  its name does not end in one of"),
        "{stderr}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 1);
    assert_verified(&client).await;
}

/// Without credentials, an S3 load fails at once with what to set: no retries
/// (nothing changes between tries) and no page of the SDK's structs; a wrong
/// secret is named as such. With the credentials back, the same command loads.
#[tokio::test]
async fn missing_aws_credentials_fail_once_saying_what_to_set() {
    let (db, client) = fresh_db("nocreds").await;
    let (s3, s3_client) = local_s3("lake");
    let csv = format!("{PRODUCER_HEADER}\n{}\n", row("NOC001", "2024-03-01"));
    put(&s3_client, "lake", "in/a.csv", csv.into_bytes()).await;

    for source in ["s3://lake/in/a.csv", "s3://lake/in/"] {
        let mut cmd = loader_cmd(&db, Some(&s3));
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            cmd.env_remove(var);
        }
        // No profile files and no instance metadata: the chain has nothing to find.
        cmd.env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("RUST_LOG");
        let (ok, stdout, stderr) = run(cmd.args(["load", source]));
        let said = format!("{stdout}{stderr}");
        assert!(!ok, "{said}");
        assert!(
            said.contains("no AWS credentials: none of the standard sources")
                && said.contains("set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            "{said}"
        );
        assert!(!said.contains("retrying"), "{said}");
        assert!(!said.contains("Error {"), "an SDK struct dump: {said}");
        // The named object's failure is on record, tried once; the prefix's listing
        // failed before it named any object.
        assert_eq!(
            count(
                &client,
                "SELECT count(*) FROM load_ledger WHERE status = 'failed' AND attempts = 1
                   AND object_key = 'in/a.csv' AND error LIKE '%no AWS credentials%'"
            )
            .await,
            1
        );
        assert_eq!(count(&client, "SELECT count(*) FROM load_ledger").await, 1);
    }

    // A wrong secret: S3 answers the HEAD with a bare 403 (no body, so no error code).
    let (ok, stdout, stderr) = run(loader_cmd(&db, Some(&s3))
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["load", "s3://lake/in/a.csv"]));
    let said = format!("{stdout}{stderr}");
    assert!(!ok, "{said}");
    assert!(
        said.contains("S3 HeadObject failed: AccessDenied (wrong credentials, or not allowed to read it) (HTTP 403)"),
        "{said}"
    );
    assert!(!said.contains("retrying"), "{said}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 0);

    let (ok, stdout, stderr) = run(loader_cmd(&db, Some(&s3)).args(["load", "s3://lake/in/"]));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 1);
}

/// A prefix whose keys hold what XML and URLs mangle (a control character, a
/// carriage return, `+`, `%`, a space, non-ASCII) loads every object under its
/// exact key: the listing asks for URL-encoded keys and decodes them. With
/// raw keys the control character failed the whole listing, and the carriage
/// return came back as a line feed (a key that does not exist).
#[tokio::test]
async fn a_prefix_of_odd_keys_lists_and_loads_each_under_its_own_key() {
    let (db, client) = fresh_db("oddkeys").await;
    let (s3, s3_client) = local_s3("lake");
    let keys = [
        "odd/ctl\u{1}.csv",
        "odd/cr\rlf.csv",
        "odd/a+b c.csv",
        "odd/100%25 %zz.csv",
        "odd/stra\u{df}e (2).csv",
    ];
    for (i, key) in keys.iter().enumerate() {
        let csv = format!(
            "{PRODUCER_HEADER}\n{}\n",
            row(&format!("ODD00{i}"), "2024-03-01")
        );
        put(&s3_client, "lake", key, csv.into_bytes()).await;
    }

    let (ok, stdout, stderr) = run(loader_cmd(&db, Some(&s3)).args(["load", "s3://lake/odd/"]));
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(count(&client, "SELECT count(*) FROM facts").await, 5);
    let mut loaded: Vec<String> = client
        .query(
            "SELECT object_key FROM load_ledger WHERE status = 'loaded'",
            &[],
        )
        .await
        .expect("ledger")
        .iter()
        .map(|r| r.get(0))
        .collect();
    loaded.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(loaded, expected);
    assert_verified(&client).await;
}
