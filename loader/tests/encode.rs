//! The encoder on its own: chunk boundaries, CSV dialect corners, header
//! mapping, line numbers in errors, rejects. No database needed; the
//! binary output is decoded independently by `loader::decode`.

mod support;

use bytes::BytesMut;
use loader::decode::decode_binary;
use loader::{CopyFormat, EncodeFault, EncodeOptions, Encoder, Summary};
use support::PRODUCER_HEADER;

fn row(id: u32, product: &str) -> String {
    format!("TXN{id:06},2024-03-01,17:58:00,20.00,Cash,7,Harbor Market,Springfield- IL,12,{product},Electronics,10.00,2,9,33,Male,Gold")
}

fn opts(format: CopyFormat) -> EncodeOptions {
    EncodeOptions {
        format,
        ..Default::default()
    }
}

/// Encodes `input` fed in the given chunks, taking the rejects after each
/// chunk as the loader does; the summary holds all of them, in order.
fn encode_chunks(chunks: &[&[u8]], o: EncodeOptions) -> Result<(BytesMut, Summary), EncodeFault> {
    let mut enc = Encoder::new(o);
    let mut out = BytesMut::new();
    let mut taken = Vec::new();
    for c in chunks {
        enc.encode(c, &mut out)?;
        taken.extend(enc.take_rejects());
    }
    let mut summary = enc.finish(&mut out)?;
    taken.append(&mut summary.rejects);
    summary.rejects = taken;
    Ok((out, summary))
}

fn encode(input: &[u8], o: EncodeOptions) -> Result<(BytesMut, Summary), EncodeFault> {
    encode_chunks(&[input], o)
}

fn values(input: &[u8]) -> Vec<Vec<Option<String>>> {
    let (out, _) = encode(input, opts(CopyFormat::Binary)).expect("encodes");
    decode_binary(&out)
        .expect("decodes")
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

fn tricky_file() -> String {
    // Quoted commas, doubled quotes, an embedded CRLF and LF, non-ASCII,
    // a tab and a backslash, a guest row with empty customer fields.
    format!(
        "{PRODUCER_HEADER}\r\n{}\r\n{}\n{}\r\nTXN000004,2024-02-29,06:00,-5.5,Card,1,\"Caf\u{e9} \"\"Z\"\"\",A- B,3,\"back\\slash\ttab\",Books,.5,-1,,,,\n",
        row(1, "\"Cable, USB\""),
        row(2, "\"two\r\nlines\nhere\""),
        row(3, "Plain"),
    )
}

#[test]
fn every_split_position_gives_the_same_output() {
    let file = tricky_file();
    let bytes = file.as_bytes();
    for format in [CopyFormat::Binary, CopyFormat::Text] {
        let (whole, summary) = encode(bytes, opts(format)).expect("whole file encodes");
        assert_eq!(summary.rows, 4);
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            let (split, s) = encode_chunks(&[a, b], opts(format)).expect("split file encodes");
            assert_eq!(split, whole, "split at {i} ({format:?})");
            assert_eq!(s.rows, 4);
        }
        // And byte by byte.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        let (split, _) = encode_chunks(&singles, opts(format)).expect("bytewise");
        assert_eq!(split, whole, "byte by byte ({format:?})");
    }
}

#[test]
fn fields_decode_to_their_values() {
    let rows = values(tricky_file().as_bytes());
    assert_eq!(rows.len(), 4);
    let r = &rows[0];
    assert_eq!(r[0].as_deref(), Some("TXN000001"));
    assert_eq!(r[1].as_deref(), Some("2024-03-01"));
    assert_eq!(r[2].as_deref(), Some("17:58:00"));
    assert_eq!(r[3].as_deref(), Some("20.00"));
    assert_eq!(r[9].as_deref(), Some("Cable, USB"));
    assert_eq!(rows[1][9].as_deref(), Some("two\r\nlines\nhere"));
    let guest = &rows[3];
    assert_eq!(guest[1].as_deref(), Some("2024-02-29"));
    assert_eq!(guest[2].as_deref(), Some("06:00:00"));
    assert_eq!(guest[3].as_deref(), Some("-5.50"));
    assert_eq!(guest[6].as_deref(), Some("Caf\u{e9} \"Z\""));
    assert_eq!(guest[9].as_deref(), Some("back\\slash\ttab"));
    assert_eq!(guest[11].as_deref(), Some("0.50"));
    assert_eq!(guest[12].as_deref(), Some("-1"));
    assert_eq!(&guest[13..], &[None, None, None, None]);
}

#[test]
fn text_format_escapes_what_would_end_a_field_or_row() {
    let file = format!("{PRODUCER_HEADER}\n{}\n", row(1, "\"a\tb\\c\nd\r\\.\""));
    let (out, _) = encode(file.as_bytes(), opts(CopyFormat::Text)).expect("encodes");
    let text = String::from_utf8(out.to_vec()).expect("utf8");
    assert_eq!(
        text.matches('\n').count(),
        1,
        "one row, one newline: {text:?}"
    );
    assert!(text.contains("a\\tb\\\\c\\nd\\r\\\\."), "{text:?}");
    assert_eq!(text.split('\t').count(), 17);
}

#[test]
fn header_maps_case_insensitively_in_any_order_after_a_bom() {
    let reordered = "\u{feff}customer_membership,TRANSACTION_ID,transaction_date,Transaction_Time,total_amount,payment_method,store_id,store_name,store_location,product_id,product_name,product_category,product_price,quantity_sold,customer_id,customer_age,customer_gender\nGold,TXN000001,2024-03-01,17:58:00,20.00,Cash,7,S,L- X,12,P,C,10.00,2,9,33,Male\n";
    let rows = values(reordered.as_bytes());
    assert_eq!(rows[0][0].as_deref(), Some("TXN000001"));
    assert_eq!(rows[0][16].as_deref(), Some("Gold"));
}

#[test]
fn customer_columns_may_be_absent_only_when_declared() {
    let header = PRODUCER_HEADER.replace(
        ",Customer_ID,Customer_Age,Customer_Gender,Customer_Membership",
        "",
    );
    let line = "TXN000001,2024-03-01,17:58:00,20.00,Cash,7,S,L- X,12,P,C,10.00,2";
    let input = format!("{header}\n{line}");
    match encode(input.as_bytes(), opts(CopyFormat::Binary)) {
        Err(EncodeFault::Header(why)) => assert!(
            why.starts_with(
                "missing columns: customer_id, customer_age, customer_gender, customer_membership"
            ),
            "{why}"
        ),
        other => panic!("expected a header error, got {other:?}"),
    }
    let mut contract = loader::Contract::default();
    contract
        .header
        .allow_missing(&[
            "customer_id",
            "customer_age",
            "customer_gender",
            "customer_membership",
        ])
        .expect("nullable columns");
    let o = EncodeOptions {
        contract,
        ..opts(CopyFormat::Binary)
    };
    let (out, _) = encode(input.as_bytes(), o).expect("declared optional");
    let rows = decode_binary(&out).expect("decodes");
    assert_eq!(&rows[0].0[13..], &[None, None, None, None]);
}

fn header_error(header: &str) -> String {
    match encode(format!("{header}\n").as_bytes(), opts(CopyFormat::Binary)) {
        Err(EncodeFault::Header(why)) => why,
        other => panic!("expected a header error, got {other:?}"),
    }
}

#[test]
fn header_problems_are_named() {
    let missing = header_error(&PRODUCER_HEADER.replace("Store_ID,", ""));
    assert!(missing.contains("missing columns: store_id"), "{missing}");
    let unknown = header_error(&format!("{PRODUCER_HEADER},Loyalty_Points"));
    assert!(
        unknown.contains("unknown columns: \"Loyalty_Points\""),
        "{unknown}"
    );
    let trailing = header_error(&format!("{PRODUCER_HEADER},"));
    assert!(
        trailing.contains("unknown columns: \"\" (field 18 of 18, unnamed: a trailing comma?)"),
        "{trailing}"
    );
    let twice = header_error(&format!("{PRODUCER_HEADER},store_id"));
    assert!(
        twice.contains("columns named twice: \"store_id\""),
        "{twice}"
    );
    let wide = header_error(&format!("{PRODUCER_HEADER}{}", ",x".repeat(5000)));
    assert!(wide.contains("more than 1024 columns"), "{wide}");
}

#[test]
fn empty_and_header_only_objects() {
    assert_eq!(
        encode(b"", opts(CopyFormat::Binary)).unwrap_err(),
        EncodeFault::Empty
    );
    assert_eq!(
        encode(b"\n\n", opts(CopyFormat::Binary)).unwrap_err(),
        EncodeFault::Empty
    );
    let (out, s) =
        encode(PRODUCER_HEADER.as_bytes(), opts(CopyFormat::Binary)).expect("header only");
    assert_eq!(s.rows, 0);
    assert_eq!(decode_binary(&out).expect("decodes").len(), 0);
}

fn row_error(body: &str) -> loader::Reject {
    match encode(
        format!("{PRODUCER_HEADER}\n{body}").as_bytes(),
        opts(CopyFormat::Binary),
    ) {
        Err(EncodeFault::Row(r)) => r,
        other => panic!("expected a row error, got {other:?}"),
    }
}

#[test]
fn bad_fields_name_line_column_and_value() {
    let bad_date = row(2, "P").replace("2024-03-01", "2023-02-30");
    let r = row_error(&format!("{}\n{bad_date}\n", row(1, "P")));
    assert_eq!((r.line, r.column), (3, Some("transaction_date")));
    assert_eq!(r.value.as_deref(), Some("\"2023-02-30\""));
    assert_eq!(r.reason, "no such date");

    let r = row_error(&format!(
        "{}\n",
        row(1, "P").replace(",2,9,33", ",70000,9,33")
    ));
    assert_eq!((r.line, r.column), (2, Some("quantity_sold")));
    assert!(r.reason.contains("smallint"));

    let r = row_error(&format!("{}\n", row(1, "P").replace("20.00", "12.3x")));
    assert_eq!(r.column, Some("total_amount"));

    let r = row_error(&format!(
        "{}\n",
        row(1, "P").replace("Harbor", "Har\u{0}bor")
    ));
    assert_eq!(r.column, Some("store_name"));
    assert_eq!(r.reason, "NUL byte in text");
}

#[test]
fn invalid_utf8_is_refused() {
    let mut file = format!("{PRODUCER_HEADER}\n").into_bytes();
    file.extend_from_slice(row(1, "P").replace("Harbor", "Har\u{1}bor").as_bytes());
    let at = file.iter().position(|&b| b == 1).expect("marker");
    file[at] = 0xff;
    match encode(&file, opts(CopyFormat::Binary)) {
        Err(EncodeFault::Row(r)) => {
            assert_eq!((r.line, r.column), (2, Some("store_name")));
            assert!(r.reason.starts_with("invalid UTF-8"), "{}", r.reason);
            assert!(r.reason.contains("--encoding"), "{}", r.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn line_numbers_count_physical_lines() {
    // Line 2 holds a record spanning lines 2-3; a blank line 4; CRLF endings.
    let bad = row(3, "P").replace("17:58:00", "25:00:00");
    let file = format!(
        "{PRODUCER_HEADER}\r\n{}\r\n\r\n{bad}\r\n",
        row(1, "\"a\r\nb\"")
    );
    let r = match encode(file.as_bytes(), opts(CopyFormat::Binary)) {
        Err(EncodeFault::Row(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!((r.line, r.column), (5, Some("transaction_time")));
    // The same without a final newline.
    let file = format!("{PRODUCER_HEADER}\n{}\n{bad}", row(1, "\"a\nb\""));
    let r = match encode(file.as_bytes(), opts(CopyFormat::Binary)) {
        Err(EncodeFault::Row(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.line, 4);
}

#[test]
fn ragged_rows_and_unterminated_quotes() {
    let short = row(1, "P").replace(",Gold", "");
    let r = row_error(&format!("{short}\n"));
    assert_eq!((r.line, r.column), (2, None));
    assert_eq!(r.reason, "expected 17 fields, found 16");

    let long = format!("{},extra,extra", row(1, "P"));
    let r = row_error(&format!("{long}\n"));
    assert_eq!(r.reason, "expected 17 fields, found 19");

    let open = row(2, "\"never closed");
    let r = row_error(&format!("{}\n{open}\n", row(1, "P")));
    assert_eq!(r.line, 3);
    assert!(r.reason.contains("quoted field not closed"), "{}", r.reason);
}

#[test]
fn oversized_records_are_refused_with_flat_memory() {
    let huge = "x".repeat(3 << 20);
    let file = format!("{PRODUCER_HEADER}\n{}\n{}\n", row(1, &huge), row(2, "P"));
    let o = EncodeOptions {
        max_rejects: loader::MaxRejects::Rows(5),
        ..opts(CopyFormat::Binary)
    };
    let (out, s) = encode(file.as_bytes(), o).expect("rejects, continues");
    assert_eq!(s.rows, 1);
    let rejects = s.rejects;
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].line, 2);
    assert!(
        rejects[0].reason.contains("longer than"),
        "{}",
        rejects[0].reason
    );
    // Its bytes are kept up to the record limit, from its first one.
    assert_eq!(rejects[0].offset, PRODUCER_HEADER.len() as u64 + 1);
    assert_eq!(
        rejects[0].raw.len(),
        loader::encode::DEFAULT_MAX_RECORD_BYTES
    );
    assert!(rejects[0].raw.starts_with(b"TXN000001,"));
    assert_eq!(
        decode_binary(&out).expect("decodes")[0].0[0].as_deref(),
        Some("TXN000002")
    );
    // A field under the limit but larger than the initial buffer is kept.
    let big = "y".repeat(300 << 10);
    let rows = values(format!("{PRODUCER_HEADER}\n{}\n", row(1, &big)).as_bytes());
    assert_eq!(rows[0][9].as_deref().map(str::len), Some(300 << 10));
}

#[test]
fn rejects_are_collected_up_to_the_limit() {
    let mut body = String::new();
    for i in 1..=10u32 {
        let r = if i % 3 == 0 {
            row(i, "P").replace("2024-03-01", "2024-13-01")
        } else {
            row(i, "P")
        };
        body.push_str(&r);
        body.push('\n');
    }
    let file = format!("{PRODUCER_HEADER}\n{body}");
    let o = |max| EncodeOptions {
        max_rejects: loader::MaxRejects::Rows(max),
        ..opts(CopyFormat::Binary)
    };
    let (out, s) = encode(file.as_bytes(), o(3)).expect("3 rejects allowed");
    assert_eq!(s.rows, 7);
    let rejects = s.rejects;
    let lines: Vec<u64> = rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![4, 7, 10]);
    // Each keeps its line's bytes and where they start.
    for r in &rejects {
        let at = r.offset as usize;
        assert_eq!(&file.as_bytes()[at..at + r.raw.len()], &r.raw[..]);
        assert_eq!(file.as_bytes()[at + r.raw.len()], b'\n');
        assert!(at == 0 || file.as_bytes()[at - 1] == b'\n');
    }
    assert!(rejects[0].raw.starts_with(b"TXN000003,2024-13-01,"));
    assert_eq!(decode_binary(&out).expect("decodes").len(), 7);
    match encode(file.as_bytes(), o(2)) {
        Err(EncodeFault::TooManyRejects {
            max: loader::MaxRejects::Rows(2),
            rejected: 3,
            read: 9,
            last,
        }) => assert_eq!(last.line, 10),
        other => panic!("{other:?}"),
    }
}

/// Old Mac line endings (a lone `\r`, as Excel for Mac's "CSV (Macintosh)"
/// writes) end lines as `\n` does: a bad row's line is where it is in the
/// file, however the chunks split, also after a quoted field holding a lone
/// `\r`, a CRLF or a `\r` then a `\n` in the next field, and in a file mixing
/// the three endings.
#[test]
fn lone_carriage_returns_end_lines_for_the_rejects() {
    let bad = |i| row(i, "P").replace("20.00", "abc");
    let cr_only = format!(
        "{PRODUCER_HEADER}\r{}\r{}\r{}\r{}\r{}\r{}\r",
        row(1, "P"),
        bad(2),
        row(3, "\"in\rquotes\""),
        bad(4),
        row(5, "P").replace(",Male,Gold", ",\"M\r\",\"\nGold\""),
        bad(6),
    );
    let mixed = format!(
        "{PRODUCER_HEADER}\r\n{}\r{}\n{}\r\n{}\r{}\n",
        row(1, "\"a\r\nb\""),
        bad(2),
        row(3, "P"),
        bad(4),
        bad(5),
    );
    let o = EncodeOptions {
        max_rejects: loader::MaxRejects::Rows(10),
        ..opts(CopyFormat::Binary)
    };
    for (name, file, want) in [
        ("cr only", &cr_only, vec![3, 6, 10]),
        ("mixed", &mixed, vec![4, 6, 7]),
    ] {
        let bytes = file.as_bytes();
        for split in [1, 2, 3, 7, 64, bytes.len()] {
            let chunks: Vec<&[u8]> = bytes.chunks(split).collect();
            let (_, s) = encode_chunks(&chunks, o.clone()).expect(name);
            let lines: Vec<u64> = s.rejects.iter().map(|r| r.line).collect();
            assert_eq!(lines, want, "{name}, chunks of {split}");
        }
    }
}

/// `--max-rejects 30%`: the share of the object's data rows, known at its
/// end: 3 bad of 10 is within 30% and over 29.9%, wherever the bad rows are.
#[test]
fn a_share_of_bad_rows_is_checked_over_the_whole_object() {
    let mut body = String::new();
    for i in 1..=10u32 {
        // The bad rows first: a share is not judged on the rows read so far.
        let r = if i <= 3 {
            row(i, "P").replace("2024-03-01", "2024-13-01")
        } else {
            row(i, "P")
        };
        body.push_str(&r);
        body.push('\n');
    }
    let file = format!("{PRODUCER_HEADER}\n{body}");
    let o = |share: &str| EncodeOptions {
        max_rejects: share.parse().expect("a share"),
        ..opts(CopyFormat::Binary)
    };
    let (out, s) = encode(file.as_bytes(), o("30%")).expect("30% allowed");
    assert_eq!((s.rows, s.rejects.len()), (7, 3));
    assert_eq!(decode_binary(&out).expect("decodes").len(), 7);
    match encode(file.as_bytes(), o("29.9%")) {
        Err(
            e @ EncodeFault::TooManyRejects {
                rejected: 3,
                read: 10,
                ..
            },
        ) => assert_eq!(
            e.to_string(),
            "more than 29.9% bad rows (--max-rejects): 3 of 10 rows read; the last: \
             line 4, column transaction_date: no such date (value \"2024-13-01\")"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn max_rejects_reads_counts_and_shares() {
    use loader::MaxRejects;
    let ok = |text: &str| text.parse::<MaxRejects>().expect(text);
    assert_eq!(ok("5"), MaxRejects::Rows(5));
    assert_eq!(ok("0"), MaxRejects::NONE);
    assert_eq!(ok("0%"), MaxRejects::NONE);
    assert_eq!(ok("0.5%"), MaxRejects::PerMillion(5_000));
    assert_eq!(ok(" 100% "), MaxRejects::PerMillion(1_000_000));
    assert_eq!(ok("0.0001%"), MaxRejects::PerMillion(1));
    assert_eq!(ok("0.5%").to_string(), "0.5%");
    assert_eq!(ok("12").to_string(), "12");
    for bad in [
        "", "-1", "five", "101%", "-1%", "NaN%", "inf%", "0.00001%", "%",
    ] {
        let err = bad.parse::<MaxRejects>().expect_err(bad);
        assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
    }
}

#[test]
fn load_id_is_appended_to_every_row() {
    let file = format!("{PRODUCER_HEADER}\n{}\n{}\n", row(1, "P"), row(2, "P"));
    let o = EncodeOptions {
        load_id: Some(42),
        ..opts(CopyFormat::Binary)
    };
    let (out, _) = encode(file.as_bytes(), o).expect("encodes");
    let rows = decode_binary(&out).expect("decodes");
    let ids: Vec<Option<i64>> = rows.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, vec![Some(42), Some(42)]);
    let o = EncodeOptions {
        load_id: Some(42),
        ..opts(CopyFormat::Text)
    };
    let (out, _) = encode(file.as_bytes(), o).expect("encodes");
    let text = String::from_utf8(out.to_vec()).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        assert_eq!(line.rsplit('\t').next(), Some("42"), "{line}");
    }
}

#[test]
fn numerics_round_trip_through_the_binary_form() {
    for (input, shown) in [
        ("0", "0.00"),
        ("0.01", "0.01"),
        ("-0.00", "0.00"),
        ("10000", "10000.00"),
        ("10000.01", "10000.01"),
        ("123456789.5", "123456789.50"),
        ("9999999999999.99", "9999999999999.99"),
        ("-9999999999999.99", "-9999999999999.99"),
        ("100000000", "100000000.00"),
        ("1.500", "1.50"),
    ] {
        let line = row(1, "P").replacen("20.00", input, 1);
        let rows = values(format!("{PRODUCER_HEADER}\n{line}\n").as_bytes());
        assert_eq!(rows[0][3].as_deref(), Some(shown), "{input}");
    }
}

/// Rejects keep their record's bytes exactly as in the object, and where
/// they start, whichever path read the line (the fast path or csv-core)
/// and wherever the chunks split: after a BOM, in CRLF lines, with escaped
/// quotes and newlines inside quotes, with bytes that are not UTF-8, and for
/// a quoted field left open at the end.
#[test]
fn rejects_keep_their_bytes_and_offsets_wherever_the_chunks_split() {
    let good = row(1, "P");
    let bad_date = row(2, "P").replace("2024-03-01", "2024-13-01");
    let escaped = row(3, "\"say \"\"hi\"\"\"").replace(",7,", ",seven,");
    let newline_inside = row(4, "\"two\nlines\"").replace("20.00", "2x");
    let not_utf8 = row(5, "P")
        .replace(",Cash,", ",Ca\u{fffd}sh,")
        .replace(",33,", ",-1,");
    let short = row(6, "P").replace(",Gold", "");
    let open = row(7, "\"never closed");
    let mut file = b"\xef\xbb\xbf".to_vec();
    for (line, end) in [
        (PRODUCER_HEADER.to_string(), "\r\n"),
        (good.clone(), "\r\n"),
        (bad_date.clone(), "\r\n"),
        (escaped.clone(), "\n"),
        (good.clone(), "\n"),
        (newline_inside.clone(), "\n\n"),
        (not_utf8.clone(), "\r\n"),
        (short.clone(), "\n"),
        (open.clone(), "\n"),
    ] {
        file.extend_from_slice(line.as_bytes());
        file.extend_from_slice(end.as_bytes());
    }
    // A byte that is not UTF-8 in place of the replacement character.
    let at = file
        .windows(3)
        .position(|w| w == "\u{fffd}".as_bytes())
        .expect("marker");
    file.splice(at..at + 3, [0xff]);
    let expected: Vec<(u64, &[u8])> = {
        let find = |needle: &[u8]| {
            file.windows(needle.len())
                .position(|w| w == needle)
                .expect("in the file") as u64
        };
        let not_utf8 = not_utf8.replace('\u{fffd}', "\u{1}");
        let mut not_utf8 = not_utf8.into_bytes();
        let i = not_utf8.iter().position(|&b| b == 1).expect("marker");
        not_utf8[i] = 0xff;
        let records: Vec<Vec<u8>> = [&bad_date, &escaped, &newline_inside]
            .iter()
            .map(|r| r.as_bytes().to_vec())
            .chain([not_utf8, short.into_bytes(), open.into_bytes()])
            .collect();
        records
            .into_iter()
            .map(|r| (find(&r), &*Vec::leak(r)))
            .collect()
    };
    for size in [1, 2, 3, 5, 16, 64, 333, file.len()] {
        let chunks: Vec<&[u8]> = file.chunks(size).collect();
        let o = EncodeOptions {
            max_rejects: loader::MaxRejects::Rows(100),
            ..opts(CopyFormat::Text)
        };
        let (_, s) = encode_chunks(&chunks, o).expect("rejects allowed");
        assert_eq!(s.rows, 2, "chunks of {size}");
        let got: Vec<(u64, Vec<u8>)> = s.rejects.into_iter().map(|r| (r.offset, r.raw)).collect();
        let want: Vec<(u64, Vec<u8>)> = expected.iter().map(|(o, r)| (*o, r.to_vec())).collect();
        assert_eq!(got, want, "chunks of {size}");
    }
}
