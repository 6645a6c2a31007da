//! CSV bytes in, validated PostgreSQL COPY rows out: pure, synchronous, no I/O.
//!
//! The [`Encoder`] is a push parser around `csv-core`: hand it the object's
//! bytes in chunks of any size, split anywhere, and it appends complete COPY
//! rows to an output buffer. Plain lines (see `fast_lines`) go from the
//! input chunk straight into the output; any other record goes through
//! csv-core and its record buffer. No per-field allocation either way.
//!
//! Invariants:
//! - Only whole, validated rows reach the output. A bad field truncates the
//!   output back to the start of its row, so a rejected row leaves no bytes.
//! - Memory is bounded by [`EncodeOptions::max_record_bytes`] whatever the
//!   input: an over-long record or one with too many fields is consumed to
//!   its end and reported, never buffered whole.
//! - Calling [`Encoder::encode`] with an empty chunk does nothing; the end
//!   of input is only ever signalled by [`Encoder::finish`].
//! - The output does not depend on where the input is split: a UTF-8 BOM
//!   is skipped even when it arrives a byte at a time.
//!
//! ```
//! use bytes::BytesMut;
//! use loader::{CopyFormat, EncodeOptions, Encoder};
//!
//! let mut enc = Encoder::new(EncodeOptions { format: CopyFormat::Text, ..Default::default() });
//! let mut out = BytesMut::new();
//! let csv = "Transaction_ID,Transaction_Date,Transaction_Time,Total_Amount,Payment_Method,\
//!            Store_ID,Store_Name,Store_Location,Product_ID,Product_Name,Product_Category,\
//!            Product_Price,Quantity_Sold,Customer_ID,Customer_Age,Customer_Gender,\
//!            Customer_Membership\n\
//!            TXN000001,2024-03-01,17:58:00,20.00,Cash,7,Harbor Market,Springfield- IL,\
//!            12,\"Cable, USB\",Electronics,10.00,2,,,,\n";
//! let (head, tail) = csv.as_bytes().split_at(100);
//! enc.encode(head, &mut out).unwrap();
//! enc.encode(tail, &mut out).unwrap();
//! let summary = enc.finish(&mut out).unwrap();
//! assert_eq!(summary.rows, 1);
//! assert!(out.starts_with(b"TXN000001\t2024-03-01\t17:58:00\t20.00\tCash\t7\t"));
//! ```

use bytes::{BufMut, BytesMut};
use csv_core::{ReadRecordResult, Reader};

use crate::columns::{ColumnType, COLUMNS, NCOLUMNS};
use crate::value::ValueFault;

pub mod fault;
pub mod max_rejects;
mod options;
mod scan;
mod show;
mod write;

pub use fault::{EncodeFault, Reject};
pub use max_rejects::MaxRejects;
pub use options::{CopyFormat, EncodeOptions, DEFAULT_MAX_RECORD_BYTES, MAX_HEADER_FIELDS};
use scan::{count_line_ends, special_mask};
pub use show::show_value;
use write::{push_decimal, write_binary, write_text, DateBounds, WIDE_COPY};

/// Totals of one encoded object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows written to the output.
    pub rows: u64,
    /// Rows refused (within `max_rejects`) and not taken by
    /// [`Encoder::take_rejects`]: all of them when nobody takes any.
    pub rejects: Vec<Reject>,
    /// Input bytes consumed.
    pub bytes: u64,
}

const NO_FIELD: usize = usize::MAX;

/// The binary COPY signature, flags and header-extension length.
pub(crate) const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The UTF-8 byte order mark some producers (Excel) put before the header.
const UTF8_BOM: &[u8; 3] = b"\xef\xbb\xbf";

/// The streaming CSV -> COPY encoder. See the module docs.
pub struct Encoder {
    opts: EncodeOptions,
    reader: Reader,
    /// Unescaped field bytes of the record being read.
    record: Vec<u8>,
    /// End offsets of its fields in `record`.
    ends: Vec<usize>,
    rec_len: usize,
    ends_len: usize,
    /// Fields of the current record not kept because it had too many.
    extra_fields: usize,
    /// The current record outgrew `max_record_bytes`; its bytes are dropped.
    oversized: bool,
    /// Bytes of the object the parser has consumed (the BOM included).
    consumed: u64,
    /// Rejects handed out by `take_rejects`.
    taken: u64,
    /// The current record's bytes as csv-core read them (the fast path
    /// fills it only for a line it refuses), at most `max_record_bytes`.
    raw: Vec<u8>,
    /// Where `raw` starts in the object; valid once `raw_open`.
    raw_start: u64,
    /// The current record's first byte has been seen.
    raw_open: bool,
    /// Line ends inside the current record's dropped bytes, so an oversized
    /// record's line is still the one where it starts.
    dropped_newlines: u64,
    /// The object's first bytes while they may still be a UTF-8 BOM. csv-core
    /// strips a BOM only when its first input holds all three bytes, so a
    /// source whose first read is shorter (the gzip sniffing in `source.rs`
    /// hands over two bytes first) would keep it; the encoder strips it
    /// itself, wherever the chunks split.
    bom: [u8; 3],
    bom_len: usize,
    /// csv-core has been given input. Its first call gets a single byte so
    /// that it never strips a BOM of its own (a second BOM after ours would
    /// otherwise vanish or not depending on where the chunks split).
    fed: bool,
    /// csv-core has just ended a record, so it holds no partial one and the
    /// next bytes start a line: the fast path may take them.
    at_boundary: bool,
    /// That record ended with `\r`: a `\n` right after it belongs to it.
    after_cr: bool,
    /// Newlines consumed by the fast path (csv-core counts its own).
    fast_newlines: u64,
    /// Lone `\r`s consumed (not followed by `\n`): the line ends of files
    /// written with old Mac line endings, which csv-core reads as record
    /// ends but does not count as lines. Only csv-core's path can meet one
    /// (a fast line's only `\r` is right before its `\n`).
    lone_crs: u64,
    /// The last byte csv-core consumed was a `\r`: whether it was lone is
    /// known from the next byte, wherever it is read.
    cr_pending: bool,
    /// The current record is a line the fast path copied whole into
    /// `record` (quotes and commas kept) because it is being refused: its
    /// fields are `starts..ends`. Otherwise csv-core wrote the fields back
    /// to back. (Accepted fast-path rows are written from the input.)
    fast: bool,
    /// Start offsets of the fields of a fast-path record.
    starts: Vec<usize>,
    /// For each staging column, the CSV field holding it, or `NO_FIELD`.
    mapping: [usize; NCOLUMNS],
    /// Where in the object the encoder is.
    phase: Phase,
    /// The plausible transaction dates (days since 2000-01-01, inclusive),
    /// fixed when the encoder is made: the load's time.
    dates: DateBounds,
    /// The binary format's header is written.
    started: bool,
    summary: Summary,
}

/// The encoder's phases, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The first bytes may still be a UTF-8 BOM: held in `bom`.
    Opening,
    /// The BOM question is settled; the header is next.
    Header,
    /// The header mapped onto the staging columns; each row has `width`
    /// fields.
    Rows { width: usize },
}

impl Encoder {
    /// A new encoder for one object.
    pub fn new(opts: EncodeOptions) -> Self {
        let (first, last) = opts.contract.dates.bounds(std::time::SystemTime::now());
        Encoder {
            dates: DateBounds { first, last },
            reader: Reader::new(),
            record: vec![0; 64 * 1024],
            ends: vec![0; MAX_HEADER_FIELDS + 1],
            rec_len: 0,
            ends_len: 0,
            extra_fields: 0,
            oversized: false,
            consumed: 0,
            taken: 0,
            raw: Vec::new(),
            raw_start: 0,
            raw_open: false,
            dropped_newlines: 0,
            bom: [0; 3],
            bom_len: 0,
            fed: false,
            at_boundary: false,
            after_cr: false,
            fast_newlines: 0,
            lone_crs: 0,
            cr_pending: false,
            fast: false,
            starts: vec![0; MAX_HEADER_FIELDS + 1],
            mapping: [NO_FIELD; NCOLUMNS],
            phase: Phase::Opening,
            started: false,
            summary: Summary::default(),
            opts,
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.summary.rows
    }

    /// Input bytes consumed so far.
    pub fn bytes(&self) -> u64 {
        self.summary.bytes
    }

    /// Parses `input` (any chunk of the object, split anywhere) and appends
    /// the complete rows it finishes to `out`.
    ///
    /// # Errors
    /// A header that does not map onto the staging columns, or a bad row
    /// beyond `max_rejects`. The encoder must not be used after an error.
    pub fn encode(&mut self, mut input: &[u8], out: &mut BytesMut) -> Result<(), EncodeFault> {
        self.start(out);
        self.summary.bytes += input.len() as u64;
        if self.phase == Phase::Opening {
            let take = (UTF8_BOM.len() - self.bom_len).min(input.len());
            self.bom[self.bom_len..self.bom_len + take].copy_from_slice(&input[..take]);
            self.bom_len += take;
            input = &input[take..];
            let seen = &self.bom[..self.bom_len];
            if self.bom_len < UTF8_BOM.len() && UTF8_BOM.starts_with(seen) {
                // Could still be a BOM: wait for more bytes.
                return Ok(());
            }
            self.end_bom(out)?;
        }
        self.parse(input, out)
    }

    /// Settles the BOM question: drops a whole BOM, or parses the bytes held
    /// back while it was open.
    fn end_bom(&mut self, out: &mut BytesMut) -> Result<(), EncodeFault> {
        self.phase = Phase::Header;
        if self.bom[..self.bom_len] == UTF8_BOM[..] {
            self.consumed += UTF8_BOM.len() as u64;
            return Ok(());
        }
        let (held, n) = (self.bom, self.bom_len);
        self.parse(&held[..n], out)
    }

    fn parse(&mut self, mut input: &[u8], out: &mut BytesMut) -> Result<(), EncodeFault> {
        // An empty slice means end-of-input to csv-core: never pass one here.
        while !input.is_empty() {
            // The next byte read, by either path, settles a pending `\r`.
            self.settle_cr(input[0]);
            if self.at_boundary && self.has_header() {
                let taken = self.fast_lines(input, out)?;
                self.consumed += taken as u64;
                input = &input[taken..];
                if input.is_empty() {
                    break;
                }
            }
            let (res, nin) = self.step(input);
            self.keep_raw(&input[..nin]);
            self.count_lone_crs(&input[..nin]);
            self.consumed += nin as u64;
            let last = input[..nin].last().copied();
            input = &input[nin..];
            self.at_boundary = res == ReadRecordResult::Record;
            self.after_cr = self.at_boundary && last == Some(b'\r');
            if self.on_result(res, last == Some(b'\n'), out)? {
                break;
            }
        }
        Ok(())
    }

    /// The fast path: whole lines at the start of `input` that csv-core
    /// would read as plain fields, split here 16 bytes at a time instead of
    /// byte by byte, and written to `out` straight from `input`. A line
    /// qualifies when it is not empty, fits the record buffer,
    /// has no `\r` but a final one, and each field is either unquoted with
    /// no quote in it, or quoted with no quote inside and followed by a
    /// comma or the end of the line (no `""` escape, no newline in quotes).
    /// Returns the bytes taken; csv-core reads from there, at a record
    /// boundary, so its state is the one it would have had.
    fn fast_lines(&mut self, input: &[u8], out: &mut BytesMut) -> Result<usize, EncodeFault> {
        let Phase::Rows { width } = self.phase else {
            return Ok(0);
        };
        let mut pos = 0;
        if std::mem::take(&mut self.after_cr) && input[0] == b'\n' {
            // The `\n` of a CRLF whose `\r` ended csv-core's last record.
            self.fast_newlines += 1;
            pos = 1;
        }
        let longest = self.record.len().min(self.opts.max_record_bytes);
        while let Some(line) = self.split_line(&input[pos..], longest) {
            let held = Held {
                bytes: &input[pos..],
                len: line.len,
                fast: true,
            };
            self.fast_newlines += 1;
            pos += line.next;
            // The common case writes the row straight from the input; a
            // row that must be refused is copied into `record` first, where
            // the reporting reads it.
            if line.fields == width && self.write_row(held, out).is_ok() {
                self.summary.rows += 1;
                continue;
            }
            self.raw.clear();
            self.raw.extend_from_slice(held.record());
            self.raw_start = self.consumed + (pos - line.next) as u64;
            self.raw_open = true;
            self.record[..line.len].copy_from_slice(held.record());
            self.rec_len = line.len;
            self.ends_len = line.fields;
            self.fast = true;
            let result = self.on_record(true, out);
            self.reset_record();
            result?;
        }
        Ok(pos)
    }

    /// Splits the line at the start of `bytes` when the fast path may take
    /// it (see `fast_lines`): its field offsets go into `starts` and `ends`.
    /// `None` when csv-core must read it, or when `bytes` holds no whole
    /// line. One pass, sixteen bytes at a time: each block yields a bit mask
    /// of its commas, quotes, `\r` and `\n`, and only those bytes are visited.
    #[inline]
    fn split_line(&mut self, bytes: &[u8], longest: usize) -> Option<FastLine> {
        // Where the field being read starts, and for a quoted one where its
        // closing quote is (once seen).
        let mut start = 0;
        let mut quoted = false;
        let mut closed: Option<usize> = None;
        let mut n = 0;
        let mut base = 0;
        while base < bytes.len() {
            if base > longest {
                return None;
            }
            let mut marks = special_mask(bytes, base);
            while marks != 0 {
                let at = base + marks.trailing_zeros() as usize;
                marks &= marks - 1;
                let byte = bytes[at];
                if quoted && closed.is_none() {
                    match byte {
                        b'"' => closed = Some(at),
                        // Commas are content; a newline in quotes is
                        // csv-core's, so is `\r`.
                        b',' => {}
                        _ => return None,
                    }
                    continue;
                }
                // The end of the field at `at`, or `None` when csv-core must
                // read the line: text after a closing quote, or a quote (an
                // escaped one, or one inside an unquoted field).
                let end = match (byte, closed) {
                    (b'"', None) if at == start => {
                        quoted = true;
                        continue;
                    }
                    (b'"', _) => return None,
                    (_, Some(close)) if at != close + 1 => return None,
                    (_, Some(close)) => close,
                    (_, None) => at,
                };
                let line_end = match byte {
                    b',' => None,
                    b'\n' => Some((at, at + 1)),
                    // Only as the `\r` of a final CRLF.
                    _ if bytes.get(at + 1) == Some(&b'\n') => Some((at, at + 2)),
                    _ => return None,
                };
                if n >= self.ends.len() {
                    return None;
                }
                self.starts[n] = start + usize::from(quoted);
                self.ends[n] = end;
                n += 1;
                match line_end {
                    None => {
                        start = at + 1;
                        quoted = false;
                        closed = None;
                    }
                    Some((0, _)) => return None,
                    Some((len, _)) if len > longest => return None,
                    Some((len, next)) => {
                        return Some(FastLine {
                            len,
                            next,
                            fields: n,
                        })
                    }
                }
            }
            base += 16;
        }
        None
    }

    /// Ends the input: reads the last record if it had no line terminator
    /// and writes the format's trailer.
    ///
    /// # Errors
    /// As [`Encoder::encode`], plus an object without a header row and a
    /// quoted field still open at the end of the input.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<Summary, EncodeFault> {
        self.start(out);
        if self.phase == Phase::Opening {
            self.end_bom(out)?;
        }
        // csv-core does not say whether the input ended inside a quoted
        // field (and counting quote characters cannot: `ab"c` holds one and
        // is closed). A newline tells: outside quotes it ends a pending
        // record exactly as the end of input would, inside quotes it is
        // field content. So after it, a record at the end of input can only
        // be one whose quoted field was never closed.
        self.parse(b"\n", out)?;
        loop {
            let (res, _) = self.step(&[]);
            if res == ReadRecordResult::Record {
                let line = self.record_line(false);
                let (offset, raw) = (self.record_offset(), self.raw_record());
                self.reset_record();
                if !self.has_header() {
                    return Err(EncodeFault::Header("quoted field not closed".into()));
                }
                let reject = Reject {
                    line,
                    offset,
                    column: None,
                    reason: "quoted field not closed before the end of the object".into(),
                    value: None,
                    raw,
                };
                self.bad_row(reject)?;
                continue;
            }
            if self.on_result(res, false, out)? {
                break;
            }
        }
        if !self.has_header() {
            return Err(EncodeFault::Empty);
        }
        self.check_share()?;
        if self.opts.format == CopyFormat::Binary {
            out.put_i16(-1);
        }
        Ok(std::mem::take(&mut self.summary))
    }

    /// Whether the header has been read: rows come next.
    #[inline]
    fn has_header(&self) -> bool {
        matches!(self.phase, Phase::Rows { .. })
    }

    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            if self.opts.format == CopyFormat::Binary {
                out.extend_from_slice(BINARY_HEADER);
            }
        }
    }

    /// One call into csv-core, keeping the record buffers' bookkeeping.
    #[inline]
    fn step(&mut self, input: &[u8]) -> (ReadRecordResult, usize) {
        // The first call gets one byte: see `fed`.
        let input = if self.fed || input.is_empty() {
            input
        } else {
            self.fed = true;
            &input[..1]
        };
        let (res, nin, nout, nend) = self.reader.read_record(
            input,
            &mut self.record[self.rec_len..],
            &mut self.ends[self.ends_len..],
        );
        self.rec_len += nout;
        self.ends_len += nend;
        (res, nin)
    }

    /// Acts on one csv-core result. Returns true at the end of the input.
    #[inline]
    fn on_result(
        &mut self,
        res: ReadRecordResult,
        ended_by_newline: bool,
        out: &mut BytesMut,
    ) -> Result<bool, EncodeFault> {
        match res {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => self.grow_record()?,
            ReadRecordResult::OutputEndsFull => {
                // Keep counting fields without keeping their offsets.
                self.extra_fields += self.ends_len;
                self.ends_len = 0;
            }
            ReadRecordResult::Record => {
                let result = self.on_record(ended_by_newline, out);
                self.reset_record();
                result?;
            }
            ReadRecordResult::End => return Ok(true),
        }
        Ok(false)
    }

    fn grow_record(&mut self) -> Result<(), EncodeFault> {
        if self.record.len() < self.opts.max_record_bytes {
            let new_len = (self.record.len() * 2).min(self.opts.max_record_bytes.max(1));
            self.record.resize(new_len.max(self.record.len() + 1), 0);
        } else if self.has_header() && self.opts.max_rejects.none_allowed() {
            // No rejects allowed: the object fails here, instead of after
            // reading the rest of a record that may never end (a
            // decompression bomb of zeros is one endless record).
            self.dropped_newlines += self.record_line_ends();
            self.rec_len = 0;
            return Err(EncodeFault::Row(Reject {
                line: self.record_line(false),
                offset: self.record_offset(),
                column: None,
                reason: format!(
                    "record longer than {} bytes (stopped reading it there)",
                    self.opts.max_record_bytes
                ),
                value: None,
                raw: self.raw_record(),
            }));
        } else {
            // Too long: drop what we have and consume the rest of the record.
            // Field offsets keep growing past the buffer; they are never used.
            self.oversized = true;
            self.dropped_newlines += self.record_line_ends();
            self.rec_len = 0;
        }
        Ok(())
    }

    fn reset_record(&mut self) {
        self.raw.clear();
        self.raw_open = false;
        self.rec_len = 0;
        self.ends_len = 0;
        self.extra_fields = 0;
        self.oversized = false;
        self.dropped_newlines = 0;
        self.fast = false;
    }

    /// The 1-based line where the current record starts: csv-core's line
    /// counter starts at 1 and counts every newline consumed so far, the
    /// lone `\r`s are counted beside it (the one that may have ended this
    /// record is still pending), and the record's own line ends (inside
    /// quoted fields) are in its unescaped bytes.
    fn record_line(&self, ended_by_newline: bool) -> u64 {
        let inner = self.dropped_newlines + self.record_line_ends();
        let line =
            self.reader.line() + self.fast_newlines + self.lone_crs - u64::from(ended_by_newline);
        line.saturating_sub(inner).max(1)
    }

    /// Line ends inside the current record's kept bytes, counted field by
    /// field as they were in the input: a `\r` ending one quoted field and
    /// a `\n` starting the next were two line ends there, not one CRLF.
    fn record_line_ends(&self) -> u64 {
        if self.fast {
            // A fast line holds no line end.
            return 0;
        }
        let mut start = 0;
        let mut n = 0;
        for &end in &self.ends[..self.ends_len] {
            if end < start || end > self.rec_len {
                break;
            }
            n += count_line_ends(&self.record[start..end]);
            start = end;
        }
        n + count_line_ends(&self.record[start..self.rec_len])
    }

    /// Settles a pending `\r` with the byte read after it.
    #[inline]
    fn settle_cr(&mut self, next: u8) {
        if std::mem::take(&mut self.cr_pending) && next != b'\n' {
            self.lone_crs += 1;
        }
    }

    /// Counts the lone `\r`s in bytes csv-core consumed (a pending one was
    /// settled with their first byte); a `\r` at their end waits for the
    /// next byte.
    fn count_lone_crs(&mut self, bytes: &[u8]) {
        let Some((&last, _)) = bytes.split_last() else {
            return;
        };
        self.lone_crs += bytes
            .windows(2)
            .filter(|pair| pair[0] == b'\r' && pair[1] != b'\n')
            .count() as u64;
        self.cr_pending = last == b'\r';
    }

    #[inline]
    fn field(&self, i: usize) -> &[u8] {
        let (start, end) = self.span(self.fast, i);
        &self.record[start..end]
    }

    /// Where field `i` of the current record is: in a fast-path line
    /// (fields at `starts..ends`) or in csv-core's unescaped bytes (back to
    /// back).
    #[inline]
    fn span(&self, fast: bool, i: usize) -> (usize, usize) {
        let start = if fast {
            self.starts[i]
        } else if i == 0 {
            0
        } else {
            self.ends[i - 1]
        };
        (start, self.ends[i])
    }

    fn nfields(&self) -> usize {
        self.extra_fields + self.ends_len
    }

    fn on_record(&mut self, ended_by_newline: bool, out: &mut BytesMut) -> Result<(), EncodeFault> {
        let Phase::Rows { width } = self.phase else {
            return self.on_header();
        };
        let nfields = self.nfields();
        if self.oversized || nfields != width {
            let reason = if self.oversized {
                format!("record longer than {} bytes", self.opts.max_record_bytes)
            } else {
                format!("expected {width} fields, found {nfields}")
            };
            let reject = Reject {
                line: self.record_line(ended_by_newline),
                offset: self.record_offset(),
                column: None,
                reason,
                value: None,
                raw: self.raw_record(),
            };
            return self.bad_row(reject);
        }
        let held = Held {
            bytes: &self.record,
            len: self.rec_len,
            fast: self.fast,
        };
        let result = self.write_row(held, out);
        match result {
            Ok(()) => {
                self.summary.rows += 1;
                Ok(())
            }
            Err((col, fault)) => {
                let field = self.field(self.mapping[col]);
                let reject = Reject {
                    line: self.record_line(ended_by_newline),
                    offset: self.record_offset(),
                    column: Some(COLUMNS[col].name),
                    reason: fault.describe().to_string(),
                    value: Some(show_value(field)),
                    raw: self.raw_record(),
                };
                self.bad_row(reject)
            }
        }
    }

    /// Rows refused so far.
    fn rejected(&self) -> u64 {
        self.taken + self.summary.rejects.len() as u64
    }

    /// Hands out the rows refused so far but the newest (which a failing
    /// share names at the end), so that the caller can set them aside as
    /// they come instead of the encoder holding all of an object's.
    pub fn take_rejects(&mut self) -> Vec<Reject> {
        let pending = &mut self.summary.rejects;
        if pending.len() < 2 {
            return Vec::new();
        }
        let newest = pending.pop();
        let taken = std::mem::replace(pending, newest.into_iter().collect());
        self.taken += taken.len() as u64;
        taken
    }

    fn bad_row(&mut self, reject: Reject) -> Result<(), EncodeFault> {
        let rejected = self.rejected();
        match self.opts.max_rejects {
            MaxRejects::Rows(0) => return Err(EncodeFault::Row(reject)),
            MaxRejects::Rows(max) if rejected >= max => {
                return Err(EncodeFault::TooManyRejects {
                    max: self.opts.max_rejects,
                    rejected: rejected + 1,
                    read: self.summary.rows + rejected + 1,
                    last: Box::new(reject),
                })
            }
            _ => {}
        }
        self.summary.rejects.push(reject);
        Ok(())
    }

    /// A share of bad rows, checked once the object's rows are all read.
    fn check_share(&mut self) -> Result<(), EncodeFault> {
        let MaxRejects::PerMillion(per_million) = self.opts.max_rejects else {
            return Ok(());
        };
        let rejected = self.rejected();
        let read = self.summary.rows + rejected;
        // rejected / read > per_million / 1e6, in integers.
        if u128::from(rejected) * 1_000_000 <= u128::from(read) * u128::from(per_million) {
            return Ok(());
        }
        match self.summary.rejects.pop() {
            Some(last) => Err(EncodeFault::TooManyRejects {
                max: self.opts.max_rejects,
                rejected,
                read,
                last: Box::new(last),
            }),
            None => Ok(()),
        }
    }

    fn on_header(&mut self) -> Result<(), EncodeFault> {
        let n = self.nfields();
        if self.oversized || self.extra_fields > 0 || n > MAX_HEADER_FIELDS {
            return Err(EncodeFault::Header(format!(
                "more than {MAX_HEADER_FIELDS} columns or longer than {} bytes",
                self.opts.max_record_bytes
            )));
        }
        let mut unknown = Vec::new();
        let mut duplicate = Vec::new();
        for i in 0..n {
            let name = self.field(i);
            match self.opts.contract.header.column_for(name) {
                Some(c) if self.mapping[c] != NO_FIELD => duplicate.push(show_value(name)),
                Some(c) => self.mapping[c] = i,
                // Say where a column without a name is: a trailing comma
                // is the usual cause, and `""` alone would not say so.
                None if name.is_empty() => unknown.push(format!(
                    "\"\" (field {} of {n}, unnamed{})",
                    i + 1,
                    if i + 1 == n {
                        ": a trailing comma?"
                    } else {
                        ""
                    }
                )),
                None => unknown.push(show_value(name)),
            }
        }
        let contract = &self.opts.contract.header;
        let missing: Vec<&str> = COLUMNS
            .iter()
            .zip(self.mapping)
            .enumerate()
            .filter(|(i, (_, f))| *f == NO_FIELD && !contract.is_optional(*i))
            .map(|(_, (c, _))| c.name)
            .collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "missing columns: {} (a column may be absent only when declared with \
                 --optional-columns, or named otherwise through --column-alias)",
                missing.join(", ")
            ));
        }
        if !unknown.is_empty() {
            problems.push(format!("unknown columns: {}", unknown.join(", ")));
        }
        if !duplicate.is_empty() {
            problems.push(format!("columns named twice: {}", duplicate.join(", ")));
        }
        if !problems.is_empty() {
            return Err(EncodeFault::Header(problems.join("; ")));
        }
        self.phase = Phase::Rows { width: n };
        // Data rows never need more offsets than the header had fields.
        self.ends.truncate(n.max(1));
        Ok(())
    }

    /// Writes one row; on a bad field truncates `out` to where the row
    /// started and returns the field's staging column index.
    #[inline]
    fn write_row(&self, held: Held<'_>, out: &mut BytesMut) -> Result<(), (usize, ValueFault)> {
        let row_start = out.len();
        let written = self.write_fields(held, out);
        if written.is_err() {
            out.truncate(row_start);
        }
        written
    }

    #[inline]
    fn write_fields(&self, held: Held<'_>, out: &mut BytesMut) -> Result<(), (usize, ValueFault)> {
        let binary = self.opts.format == CopyFormat::Binary;
        // ASCII without NUL: every text field is valid as it is, so the
        // per-field UTF-8 and NUL checks can be skipped (one pass over the
        // record instead of one call per field).
        // (No early exit: this form vectorizes.)
        let rec = held.record();
        let plain = !rec
            .iter()
            .fold(false, |odd, &b| odd | (b.wrapping_sub(1) >= 0x7f));
        if binary {
            let n = NCOLUMNS + usize::from(self.opts.load_id.is_some());
            out.reserve(rec.len() + 6 * n + 64 + WIDE_COPY);
            out.put_i16(n as i16);
        } else {
            out.reserve(rec.len() + 2 * NCOLUMNS + 32 + WIDE_COPY);
        }
        for (col, column) in COLUMNS.iter().enumerate() {
            let idx = self.mapping[col];
            // The field, and the held bytes from its start on.
            let (field, rest): (&[u8], &[u8]) = if idx == NO_FIELD {
                (&[], &[])
            } else {
                let (start, end) = self.span(held.fast, idx);
                (&rec[start..end], &held.bytes[start..])
            };
            if !binary && col > 0 {
                out.put_u8(b'\t');
            }
            let empty = match column.ty {
                ColumnType::Text => field.is_empty(),
                _ => field.trim_ascii().is_empty(),
            };
            if empty {
                if !column.nullable {
                    return Err((col, ValueFault::Empty));
                }
                if binary {
                    out.put_i32(-1);
                } else {
                    out.extend_from_slice(b"\\N");
                }
                continue;
            }
            let written = if binary {
                write_binary(column.ty, field, rest, plain, self.dates, out)
            } else {
                write_text(column.ty, field, rest, plain, self.dates, out)
            };
            written.map_err(|fault| (col, fault))?;
        }
        match (self.opts.load_id, binary) {
            (Some(id), true) => {
                out.put_i32(8);
                out.put_i64(id);
            }
            (Some(id), false) => {
                out.put_u8(b'\t');
                push_decimal(out, id.unsigned_abs(), id < 0);
                out.put_u8(b'\n');
            }
            (None, false) => out.put_u8(b'\n'),
            (None, true) => {}
        }
        Ok(())
    }

    /// Keeps the bytes csv-core consumed for the current record (up to
    /// `max_record_bytes`). The terminators it skips before a record are
    /// not the record's: `raw` starts at its first byte.
    #[inline]
    fn keep_raw(&mut self, mut bytes: &[u8]) {
        if !self.raw_open {
            let skipped = bytes
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            bytes = &bytes[skipped..];
            if bytes.is_empty() {
                return;
            }
            self.raw_open = true;
            self.raw_start = self.consumed + skipped as u64;
        }
        let room = self.opts.max_record_bytes.saturating_sub(self.raw.len());
        self.raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The current record's bytes without the line terminator csv-core
    /// consumed with it, for `load_rejects`.
    fn raw_record(&self) -> Vec<u8> {
        let mut end = self.raw.len();
        if self.raw.len() < self.opts.max_record_bytes {
            while end > 0 && matches!(self.raw[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
        }
        self.raw[..end].to_vec()
    }

    /// Where the current record starts in the object.
    fn record_offset(&self) -> u64 {
        if self.raw_open {
            self.raw_start
        } else {
            self.consumed
        }
    }
}

/// A record to write: the first `len` bytes of `bytes`, a fast-path line
/// or csv-core's unescaped fields (`fast`, see `Encoder::span`). The bytes
/// after it are only ever read (see `put_field`), never written out.
#[derive(Clone, Copy)]
struct Held<'a> {
    bytes: &'a [u8],
    len: usize,
    fast: bool,
}

impl<'a> Held<'a> {
    fn record(self) -> &'a [u8] {
        &self.bytes[..self.len]
    }
}

/// A line the fast path splits: its length without the line terminator,
/// the offset of the next line, and its number of fields.
struct FastLine {
    len: usize,
    next: usize,
    fields: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path's byte classifier against the obvious one, for every
    /// offset and every way a block can run past the end of its input.
    #[test]
    fn shown_values_name_invisible_characters() {
        assert_eq!(
            show_value("\u{feff}Transaction_ID".as_bytes()),
            "\"\\u{feff}Transaction_ID\""
        );
        assert_eq!(
            show_value("Transaction\u{a0}ID\t".as_bytes()),
            "\"Transaction\\u{a0}ID\\t\""
        );
        assert_eq!(
            show_value("Café Ñandú, 日本".as_bytes()),
            "\"Café Ñandú, 日本\""
        );
    }
}
