//! Fuzzes the CSV -> COPY encoder against an independent model.
//!
//! Input layout: three control bytes, then the CSV body.
//! - byte 0, bits 0-1: `max_rejects` (0, 1, 3 or 1000); bit 2 clear: the
//!   real header line is put before the body, so most inputs reach the row
//!   path instead of dying on the header; bit 3: a `load_id` is appended.
//! - bytes 1-2: where to split the input in two (modulo its length).
//! - byte 0, bits 4-5: a declared encoding for the transcoder check (below):
//!   none, UTF-16LE, UTF-16BE or windows-1252; bit 6: a byte-order mark.
//!
//! The transcoder check (`transcode.rs`, which decodes an object declared in
//! another encoding before the encoder reads it): the input, when it is
//! UTF-8, encoded in the declared encoding and read back through the
//! transcoder split at the same place, gives the same UTF-8 bytes (so the
//! same rows, rejects, lines and offsets); and the raw body declared in that
//! encoding either decodes to what encoding_rs decodes the whole of it to,
//! or fails naming the line and bytes where it is malformed, never in part.
//!
//! For both COPY formats it asserts: no panic; the same result and output
//! whole, split in two, and (for short inputs) byte by byte (rejects, their
//! offsets and bytes included); each reject's bytes are the input's at its
//! offset; and agreement
//! with a model built from what the `csv` crate parses and the accepted forms
//! documented in NOTES.md and value.rs: which rows are accepted, which are
//! refused (column and line), and every accepted value. The binary output
//! is read back with `decode_binary`, the text output with its own
//! unescaper, and both must give the model's values.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use loader::columns::{column_index, ColumnType, COLUMNS, NCOLUMNS};
use loader::decode::decode_binary;
use loader::encode::MAX_HEADER_FIELDS;
use loader::transcode::{Declared, Transcoded};
use loader::{CopyFormat, EncodeFault, EncodeOptions, Encoder, Summary};

const HEADER: &[u8] = b"Transaction_ID,Transaction_Date,Transaction_Time,Total_Amount,Payment_Method,Store_ID,Store_Name,Store_Location,Product_ID,Product_Name,Product_Category,Product_Price,Quantity_Sold,Customer_ID,Customer_Age,Customer_Gender,Customer_Membership\n";

/// Inputs longer than this skip the model: it assumes no record reaches the
/// encoder's record limit, and libFuzzer is run with a smaller `-max_len`.
const MODEL_MAX_INPUT: usize = 60_000;

fuzz_target!(|data: &[u8]| check(data));

type Encoded = Result<(Vec<u8>, Summary), EncodeFault>;

/// Encodes the chunks, taking the rejects after each one as the loader
/// does; the summary holds all of them, in order.
fn encode(chunks: &[&[u8]], opts: &EncodeOptions) -> Encoded {
    let mut enc = Encoder::new(opts.clone());
    let mut out = BytesMut::new();
    let mut taken = Vec::new();
    for chunk in chunks {
        enc.encode(chunk, &mut out)?;
        taken.extend(enc.take_rejects());
    }
    let mut summary = enc.finish(&mut out)?;
    taken.append(&mut summary.rejects);
    summary.rejects = taken;
    Ok((out.to_vec(), summary))
}

/// An in-memory source handing out its bytes in the given pieces.
struct Pieces {
    bytes: Vec<u8>,
    cut: usize,
    at: usize,
}

impl tokio::io::AsyncRead for Pieces {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let end = if self.at < self.cut {
            self.cut
        } else {
            self.bytes.len()
        };
        let n = buf.remaining().min(end - self.at);
        buf.put_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// `bytes` declared in `encoding`, read through the loader's transcoder.
fn transcode(
    bytes: &[u8],
    cut: usize,
    encoding: &'static encoding_rs::Encoding,
) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncRead;
    let source = Pieces {
        bytes: bytes.to_vec(),
        cut: cut.min(bytes.len()),
        at: 0,
    };
    let declared = Declared {
        encoding,
        by: "the fuzzer",
    };
    let mut reader = Transcoded::new(Box::pin(source), declared);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut out = Vec::new();
    let mut chunk = [0u8; 777];
    loop {
        let mut buf = tokio::io::ReadBuf::new(&mut chunk);
        match std::pin::Pin::new(&mut reader).poll_read(&mut cx, &mut buf) {
            std::task::Poll::Ready(Ok(())) if buf.filled().is_empty() => return Ok(out),
            std::task::Poll::Ready(Ok(())) => out.extend_from_slice(buf.filled()),
            std::task::Poll::Ready(Err(e)) => return Err(e.to_string()),
            std::task::Poll::Pending => panic!("an in-memory source never waits"),
        }
    }
}

fn check_transcoding(flags: u8, split: usize, input: &[u8], body: &[u8]) {
    use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
    let encoding = match (flags >> 4) & 3 {
        0 => return,
        1 => UTF_16LE,
        2 => UTF_16BE,
        _ => WINDOWS_1252,
    };
    let bom = flags & 64 != 0;
    // UTF-8 text, encoded, comes back as it was (a leading U+FEFF is taken
    // for the byte-order mark when none was put before it).
    if let Ok(text) = std::str::from_utf8(input) {
        let encoded: Option<Vec<u8>> = if encoding == WINDOWS_1252 {
            let (bytes, _, unmappable) = WINDOWS_1252.encode(text);
            (!unmappable).then(|| bytes.into_owned())
        } else {
            let mut bytes = Vec::new();
            let units = bom.then_some(0xfeff).into_iter().chain(text.encode_utf16());
            for unit in units {
                let pair = if encoding == UTF_16LE {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                };
                bytes.extend_from_slice(&pair);
            }
            Some(bytes)
        };
        if let Some(encoded) = encoded {
            let want = if encoding != WINDOWS_1252 && !bom {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            let got = transcode(&encoded, split * 2, encoding);
            assert_eq!(got.as_deref(), Ok(want.as_bytes()), "{encoding:?}");
        }
    }
    // Any bytes: all of it decoded, or an error naming a line, never a part.
    let got = transcode(body, split, encoding);
    let (whole, malformed) = encoding.decode_with_bom_removal(body);
    match got {
        Ok(out) => {
            assert!(!malformed, "{encoding:?} decoded malformed input");
            assert_eq!(out, whole.as_bytes(), "{encoding:?}");
        }
        Err(message) => {
            assert!(malformed, "{encoding:?} failed on valid input: {message}");
            assert!(
                message.starts_with("line ") && message.contains(" are not valid "),
                "{message}"
            );
        }
    }
}

fn check(data: &[u8]) {
    let Some((&[flags, s0, s1], body)) = data.split_first_chunk::<3>() else {
        return;
    };
    let max_rejects = [0, 1, 3, 1000][usize::from(flags & 3)];
    let load_id = (flags & 8 != 0).then_some(i64::from(s0) - 128);
    let input: Vec<u8> = if flags & 4 == 0 {
        [HEADER, body].concat()
    } else {
        body.to_vec()
    };
    let split = usize::from(u16::from_le_bytes([s0, s1])) % (input.len() + 1);
    check_transcoding(flags, split, &input, body);
    let model = (input.len() <= MODEL_MAX_INPUT).then(|| model(&input, max_rejects));
    for format in [CopyFormat::Binary, CopyFormat::Text] {
        let opts = EncodeOptions {
            format,
            load_id,
            max_rejects: loader::MaxRejects::Rows(max_rejects),
            ..EncodeOptions::default()
        };
        let whole = encode(&[&input], &opts);
        let (a, b) = input.split_at(split);
        assert_eq!(encode(&[a, b], &opts), whole, "split at {split}");
        if input.len() <= 512 {
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(encode(&bytes, &opts), whole, "byte by byte");
        }
        if let Ok((_, summary)) = &whole {
            assert_eq!(summary.bytes, input.len() as u64);
            // A reject's bytes are the input's at its offset.
            for r in &summary.rejects {
                let at = r.offset as usize;
                assert_eq!(input.get(at..at + r.raw.len()), Some(&r.raw[..]), "{r:?}");
            }
        }
        if let Some(model) = &model {
            compare(model, &whole, format, load_id);
        }
    }
}

// ---------------------------------------------------------------------------
// The model.

/// What the encoder should do with the whole input.
#[derive(Debug)]
enum Model {
    Empty,
    Header,
    /// The rows it accepts (each column's value as PostgreSQL prints it,
    /// `None` for NULL), the (line, column) of each row it refuses, and
    /// whether the last refusal fails the object (and how).
    Rows {
        rows: Vec<Vec<Option<String>>>,
        rejects: Vec<(u64, Option<&'static str>)>,
        fail: Option<Fail>,
    },
}

#[derive(Debug, PartialEq)]
enum Fail {
    Row,
    TooMany,
}

fn model(input: &[u8], max_rejects: u64) -> Model {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let start = reader.position().byte() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(true) => records.push((record.clone(), start)),
            Ok(false) => break,
            Err(e) => panic!("the csv crate refused a byte record: {e}"),
        }
    }
    let Some((header, header_start)) = records.first() else {
        return Model::Empty;
    };
    let last = records.len() - 1;
    if (last == 0 && quote_left_open(input, *header_start)) || header.len() > MAX_HEADER_FIELDS {
        return Model::Header;
    }
    let mut mapping = [None; NCOLUMNS];
    for (i, name) in header.iter().enumerate() {
        match column_index(name) {
            Some(c) if mapping[c].is_none() => mapping[c] = Some(i),
            _ => return Model::Header, // unknown or named twice
        }
    }
    // Every column must be named (issue 16: none is declared optional here).
    if mapping.iter().any(Option::is_none) {
        return Model::Header;
    }

    let (mut rows, mut rejects) = (Vec::new(), Vec::new());
    for (n, (record, start)) in records.iter().enumerate().skip(1) {
        let line = start_line(input, *start);
        let open_quote = n == last && quote_left_open(input, *start);
        let refused = if open_quote || record.len() != header.len() {
            Some(None)
        } else {
            match row_values(record, &mapping) {
                Ok(values) => {
                    rows.push(values);
                    None
                }
                Err(column) => Some(Some(column)),
            }
        };
        if let Some(column) = refused {
            let fail = if max_rejects == 0 {
                Some(Fail::Row)
            } else if rejects.len() as u64 >= max_rejects {
                Some(Fail::TooMany)
            } else {
                None
            };
            rejects.push((line, column));
            if fail.is_some() {
                return Model::Rows {
                    rows,
                    rejects,
                    fail,
                };
            }
        }
    }
    Model::Rows {
        rows,
        rejects,
        fail: None,
    }
}

/// The values of one row, or the first column (in COPY order) refused.
fn row_values(
    record: &csv::ByteRecord,
    mapping: &[Option<usize>; NCOLUMNS],
) -> Result<Vec<Option<String>>, &'static str> {
    let mut values = Vec::with_capacity(NCOLUMNS);
    for (column, field) in COLUMNS.iter().zip(mapping) {
        let raw: &[u8] = field.map_or(&[], |i| &record[i]);
        let empty = match column.ty {
            ColumnType::Text => raw.is_empty(),
            _ => raw.trim_ascii().is_empty(),
        };
        if empty {
            if !column.nullable {
                return Err(column.name);
            }
            values.push(None);
            continue;
        }
        match normalize(column.ty, raw) {
            Some(v) => values.push(Some(v)),
            None => return Err(column.name),
        }
    }
    Ok(values)
}

/// The 1-based line where the record starting at byte `start` begins:
/// csv-core skips blank lines before a record, and the position the `csv`
/// crate reports is before them. A line ends at a `\n` or at a `\r` that no
/// `\n` follows (old Mac line endings).
fn start_line(input: &[u8], start: usize) -> u64 {
    let skipped = input[start..]
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let before = &input[..start + skipped];
    let ends = before
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && input.get(i + 1) != Some(&b'\n')))
        .count();
    1 + ends as u64
}

/// Whether the record starting at `start` (the last one) ends inside a
/// quoted field: RFC 4180 as csv-core reads it, written out state by state.
fn quote_left_open(input: &[u8], start: usize) -> bool {
    #[derive(PartialEq)]
    enum S {
        RecordStart,
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let bytes = match &input[start..] {
        rest if start == 0 && rest.starts_with(b"\xef\xbb\xbf") => &rest[3..],
        rest => rest,
    };
    let mut s = S::RecordStart;
    for &b in bytes {
        s = match (s, b) {
            (S::RecordStart, b'\r' | b'\n') => S::RecordStart,
            (S::RecordStart | S::FieldStart, b'"') => S::Quoted,
            (S::RecordStart | S::FieldStart | S::Unquoted | S::QuoteInQuoted, b',') => {
                S::FieldStart
            }
            (S::FieldStart | S::Unquoted | S::QuoteInQuoted, b'\r' | b'\n') => S::RecordStart,
            (S::Quoted, b'"') => S::QuoteInQuoted,
            (S::Quoted, _) => S::Quoted,
            (S::QuoteInQuoted, b'"') => S::Quoted,
            (_, _) => S::Unquoted,
        };
    }
    s == S::Quoted
}

/// The latest plausible date by default: tomorrow (UTC), as YYYY-MM-DD,
/// from the clock and a civil-date conversion of its own.
fn latest_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 1 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A field as PostgreSQL prints the value back, or `None` when the
/// documented forms refuse it (NOTES.md, "What a field may hold").
fn normalize(ty: ColumnType, raw: &[u8]) -> Option<String> {
    if ty == ColumnType::Text {
        let text = std::str::from_utf8(raw).ok()?;
        return (!text.contains('\0')).then(|| text.to_string());
    }
    let s = std::str::from_utf8(raw.trim_ascii()).ok()?;
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    match ty {
        ColumnType::Text => unreachable!("handled above"),
        ColumnType::Date => {
            let b = s.as_bytes();
            if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
                return None;
            }
            let (y, m, d) = (&s[0..4], &s[5..7], &s[8..10]);
            if !(all_digits(y) && all_digits(m) && all_digits(d)) {
                return None;
            }
            let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let feb = if leap { 29 } else { 28 };
            let days = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let ok = y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1];
            // Plausible (the default window): from 1900-01-01 to one day
            // after now, UTC. Zero-padded, the forms compare as text.
            let plausible = s >= "1900-01-01" && s <= latest_date().as_str();
            (ok && plausible).then(|| s.to_string())
        }
        ColumnType::Time => {
            let (hms, frac) = match s.split_once('.') {
                Some((hms, frac)) => (hms, Some(frac)),
                None => (s, None),
            };
            let parts: Vec<&str> = hms.split(':').collect();
            let two = |p: &str| p.len() == 2 && all_digits(p);
            if !(parts.len() == 2 || parts.len() == 3) || !parts.iter().all(|p| two(p)) {
                return None;
            }
            if let Some(f) = frac {
                if parts.len() != 3 || f.is_empty() || f.len() > 6 || !all_digits(f) {
                    return None;
                }
            }
            let h: u32 = parts[0].parse().ok()?;
            let m: u32 = parts[1].parse().ok()?;
            let sec: u32 = parts.get(2).map_or(Some(0), |p| p.parse().ok())?;
            let frac = frac.unwrap_or("").trim_end_matches('0');
            let end_of_day = h == 24 && m == 0 && sec == 0 && frac.is_empty();
            if !end_of_day && (h > 23 || m > 59 || sec > 59) {
                return None;
            }
            let mut shown = format!("{h:02}:{m:02}:{sec:02}");
            if !frac.is_empty() {
                shown.push('.');
                shown.push_str(frac);
            }
            Some(shown)
        }
        ColumnType::Money => {
            let (negative, unsigned) = match s.as_bytes().first() {
                Some(b'-') => (true, &s[1..]),
                Some(b'+') => (false, &s[1..]),
                _ => (false, s),
            };
            let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
            if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
                return None;
            }
            let int = int.trim_start_matches('0');
            if int.len() > 13 || frac.bytes().skip(2).any(|b| b != b'0') {
                return None;
            }
            let cents = format!("{:0<2}", &frac[..frac.len().min(2)]);
            let int = if int.is_empty() { "0" } else { int };
            let zero = int == "0" && cents == "00";
            let sign = if negative && !zero { "-" } else { "" };
            Some(format!("{sign}{int}.{cents}"))
        }
        ColumnType::Int2 | ColumnType::Int4 => {
            let (negative, digits) = match s.as_bytes().first() {
                Some(b'-') => (true, &s[1..]),
                Some(b'+') => (false, &s[1..]),
                _ => (false, s),
            };
            // A fraction of zeros only (`38.0`, `38.`) is the integer; any other fraction,
            // or none before the point, is refused.
            let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
            if whole.is_empty() || !all_digits(whole) || fraction.bytes().any(|b| b != b'0') {
                return None;
            }
            let digits = whole.trim_start_matches('0');
            if digits.len() > 12 {
                return None;
            }
            let magnitude: i64 = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
            let value = if negative { -magnitude } else { magnitude };
            let (min, max) = if ty == ColumnType::Int2 {
                (i64::from(i16::MIN), i64::from(i16::MAX))
            } else {
                (i64::from(i32::MIN), i64::from(i32::MAX))
            };
            (min..=max).contains(&value).then(|| value.to_string())
        }
    }
}

// ---------------------------------------------------------------------------
// Comparing the encoder with the model.

fn compare(model: &Model, got: &Encoded, format: CopyFormat, load_id: Option<i64>) {
    match (model, got) {
        (Model::Empty, Err(EncodeFault::Empty)) | (Model::Header, Err(EncodeFault::Header(_))) => {}
        (
            Model::Rows {
                rejects,
                fail: Some(fail),
                ..
            },
            Err(fault),
        ) => {
            let (kind, last) = match fault {
                EncodeFault::Row(r) => (Fail::Row, r),
                EncodeFault::TooManyRejects { last, .. } => (Fail::TooMany, &**last),
                other => panic!("model fails a row ({fail:?}), encoder says {other:?}"),
            };
            assert_eq!(&kind, fail, "{fault:?}");
            let want = rejects.last().expect("a failing model has a reject");
            assert_eq!((last.line, last.column), *want, "{fault:?}");
        }
        (
            Model::Rows {
                rows,
                rejects,
                fail: None,
            },
            Ok((out, summary)),
        ) => {
            let got_rejects: Vec<_> = summary.rejects.iter().map(|r| (r.line, r.column)).collect();
            assert_eq!(&got_rejects, rejects, "rejected rows");
            assert_eq!(summary.rows, rows.len() as u64, "row count");
            let (values, ids) = match format {
                CopyFormat::Binary => read_binary(out),
                CopyFormat::Text => read_text(out),
            };
            assert_eq!(&values, rows, "{format:?} values");
            assert!(ids.iter().all(|id| *id == load_id), "load ids {ids:?}");
        }
        (model, got) => panic!("model {model:?}, encoder {got:?}"),
    }
}

type Rows = (Vec<Vec<Option<String>>>, Vec<Option<i64>>);

fn read_binary(out: &[u8]) -> Rows {
    let decoded = decode_binary(out).unwrap_or_else(|e| panic!("binary output: {e}"));
    decoded.into_iter().unzip()
}

/// Reads COPY TEXT back: rows end in `\n`, fields split on tab, `\N` is
/// NULL, and only the escapes the encoder writes may appear.
fn read_text(out: &[u8]) -> Rows {
    let text = std::str::from_utf8(out).expect("text output is UTF-8");
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    if text.is_empty() {
        return (rows, ids);
    }
    let body = text.strip_suffix('\n').expect("text output ends a row");
    for line in body.split('\n') {
        let fields: Vec<&str> = line.split('\t').collect();
        let id = match fields.len() {
            n if n == NCOLUMNS => None,
            n if n == NCOLUMNS + 1 => Some(fields[NCOLUMNS].parse().expect("load id")),
            n => panic!("text row with {n} fields: {line:?}"),
        };
        let values = COLUMNS
            .iter()
            .zip(&fields)
            .map(|(column, field)| {
                if *field == "\\N" {
                    return None;
                }
                let value = unescape(field);
                Some(match column.ty {
                    ColumnType::Text => value,
                    // The text form keeps the field's own spelling (`17:58`);
                    // compare what PostgreSQL would print.
                    ty => normalize(ty, value.as_bytes())
                        .unwrap_or_else(|| panic!("text output {value:?} is not a {ty:?}")),
                })
            })
            .collect();
        rows.push(values);
        ids.push(id);
    }
    (rows, ids)
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            other => panic!("unexpected escape \\{other:?} in {field:?}"),
        });
    }
    out
}
