//! Bad rows: the kinds a loader must reject, which rows of a file become bad, how a good line
//! is corrupted, and the manifest that lists every bad line.
//!
//! Invariant: an `unterminated_quote` row swallows the rest of its file for a CSV parser, so a
//! file has at most one, and only as its last data line. Every other bad row has exactly one
//! defect, so a loader (and the tests) can tell the kinds apart.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::columns::{index, COLUMNS};
use crate::rng::{Draw, Xoshiro256};

/// The kinds of bad rows, each a defect a loader must catch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadKind {
    /// An impossible date in `Transaction_Date`, e.g. `2023-02-30`.
    BadDate,
    /// Not a number in `Total_Amount`, e.g. `12.3x`.
    BadNumber,
    /// A `Quantity_Sold` outside `smallint`, e.g. `70000`.
    SmallintOverflow,
    /// One field missing (16 fields).
    RaggedRow,
    /// Bytes 0xFF 0xFE inside `Store_Name`.
    InvalidUtf8,
    /// `Product_Name` opens a quote that never closes (only ever the last data line).
    UnterminatedQuote,
}

impl BadKind {
    /// Every kind, in the order bad rows cycle through them.
    pub const ALL: [BadKind; 6] = [
        BadKind::BadDate,
        BadKind::BadNumber,
        BadKind::SmallintOverflow,
        BadKind::RaggedRow,
        BadKind::InvalidUtf8,
        BadKind::UnterminatedQuote,
    ];

    /// The kinds that may appear on any line (all but `UnterminatedQuote`).
    const ANY_LINE: [BadKind; 5] = [
        BadKind::BadDate,
        BadKind::BadNumber,
        BadKind::SmallintOverflow,
        BadKind::RaggedRow,
        BadKind::InvalidUtf8,
    ];

    /// The name used in the manifest, e.g. `bad_date`.
    pub fn name(self) -> &'static str {
        match self {
            BadKind::BadDate => "bad_date",
            BadKind::BadNumber => "bad_number",
            BadKind::SmallintOverflow => "smallint_overflow",
            BadKind::RaggedRow => "ragged_row",
            BadKind::InvalidUtf8 => "invalid_utf8",
            BadKind::UnterminatedQuote => "unterminated_quote",
        }
    }

    /// The CSV header name of the bad field; `None` for a ragged row.
    pub fn column(self) -> Option<&'static str> {
        self.column_index().map(|i| COLUMNS[i])
    }

    fn column_index(self) -> Option<usize> {
        match self {
            BadKind::BadDate => Some(index::TRANSACTION_DATE),
            BadKind::BadNumber => Some(index::TOTAL_AMOUNT),
            BadKind::SmallintOverflow => Some(index::QUANTITY_SOLD),
            BadKind::RaggedRow => None,
            BadKind::InvalidUtf8 => Some(index::STORE_NAME),
            BadKind::UnterminatedQuote => Some(index::PRODUCT_NAME),
        }
    }
}

/// One bad line of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRow {
    /// File name, e.g. `part-00001.csv` (line numbers count the decompressed text).
    pub file: String,
    /// 1-based physical line number; the header is line 1.
    pub line: u64,
    /// What is wrong with the line.
    pub kind: BadKind,
    /// CSV header name of the bad field; `None` (JSON `null`) for a ragged row.
    pub column: Option<String>,
    /// The line's transaction id, e.g. `TXN000042` (present in every kind).
    pub transaction_id: String,
}

/// `manifest.json`: every bad line of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The run's seed.
    pub seed: u64,
    /// The run's `--dirty` rate.
    pub dirty: f64,
    /// Bad lines in file order, then line order.
    pub bad_rows: Vec<BadRow>,
}

/// Chooses which rows of one file are bad, in one pass, with a fixed count.
///
/// A file of `n` rows gets `round(n * rate)` bad rows. When that is at least one full cycle of
/// kinds, the last data line is the file's one `unterminated_quote`; the others are spread
/// uniformly over the remaining lines (selection sampling) and cycle through the other kinds.
pub(crate) struct DirtyRows {
    rng: Xoshiro256,
    needed: u64,
    remaining: u64,
    last_unterminated: bool,
    cycle: usize,
}

impl DirtyRows {
    pub(crate) fn new(rows: u64, rate: f64, rng: Xoshiro256) -> DirtyRows {
        let count = ((rows as f64 * rate).round() as u64).min(rows);
        let last_unterminated = count >= BadKind::ALL.len() as u64;
        let reserved = u64::from(last_unterminated);
        DirtyRows {
            rng,
            needed: count - reserved,
            remaining: rows - reserved,
            last_unterminated,
            cycle: 0,
        }
    }

    /// Whether the next row (in file order) is bad, and how. `is_last` marks the last data row.
    #[inline]
    pub(crate) fn next(&mut self, is_last: bool) -> Option<BadKind> {
        if is_last && self.last_unterminated {
            return Some(BadKind::UnterminatedQuote);
        }
        if self.needed == 0 {
            return None;
        }
        let chosen = self.rng.below(self.remaining) < self.needed;
        self.remaining -= 1;
        if !chosen {
            return None;
        }
        self.needed -= 1;
        let kind = BadKind::ANY_LINE[self.cycle % BadKind::ANY_LINE.len()];
        self.cycle += 1;
        Some(kind)
    }

    /// A random number for choosing among example bad values.
    pub(crate) fn pick(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

const BAD_DATES: [&str; 6] = [
    "2023-02-30",
    "2024-13-01",
    "2024-04-31",
    "2023-02-29",
    "2024-00-15",
    "2024-06-00",
];
// None of these is a valid PostgreSQL numeric (which would accept `NaN` or `Infinity`).
const BAD_NUMBERS: [&str; 5] = ["12.3x", "1.2.3", "abc", "4.00-", "$19.99"];
const SMALLINT_OVERFLOWS: [&str; 4] = ["70000", "32768", "-32769", "99999"];

/// Appends `line` (one good CSV line, ending in LF) with the defect `kind`; `pick` chooses the
/// example value and, for a ragged row, which field goes missing.
pub(crate) fn push_bad_line(out: &mut Vec<u8>, line: &[u8], kind: BadKind, pick: u64) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let (fields, count) = split_fields(body);
    let example = |values: &[&'static str]| -> &'static [u8] {
        values[(pick % values.len() as u64) as usize].as_bytes()
    };
    // Never the id: the reject log should still show which transaction was dropped.
    let missing = (kind == BadKind::RaggedRow).then(|| 1 + (pick % (count as u64 - 1)) as usize);
    let target = kind.column_index();
    let mut first = true;
    for (i, range) in fields[..count].iter().enumerate() {
        if Some(i) == missing {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        let field = &body[range.clone()];
        if Some(i) != target {
            out.extend_from_slice(field);
            continue;
        }
        match kind {
            BadKind::BadDate => out.extend_from_slice(example(&BAD_DATES)),
            BadKind::BadNumber => out.extend_from_slice(example(&BAD_NUMBERS)),
            BadKind::SmallintOverflow => out.extend_from_slice(example(&SMALLINT_OVERFLOWS)),
            BadKind::InvalidUtf8 => {
                let at = field.iter().position(|&b| b == b' ').unwrap_or(field.len());
                out.extend_from_slice(&field[..at]);
                out.extend_from_slice(&[0xFF, 0xFE]);
                out.extend_from_slice(&field[at..]);
            }
            BadKind::UnterminatedQuote => {
                // A quote inside would close the field, so leave every quote out.
                out.push(b'"');
                out.extend(field.iter().copied().filter(|&b| b != b'"'));
            }
            BadKind::RaggedRow => out.extend_from_slice(field),
        }
    }
    out.push(b'\n');
}

/// The byte ranges of the 17 fields of a line this crate wrote (quotes included).
fn split_fields(body: &[u8]) -> ([Range<usize>; COLUMNS.len()], usize) {
    let mut fields: [Range<usize>; COLUMNS.len()] = std::array::from_fn(|_| 0..0);
    let mut count = 0;
    let mut start = 0;
    let mut quoted = false;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted && count < fields.len() - 1 => {
                fields[count] = start..i;
                count += 1;
                start = i + 1;
            }
            _ => {}
        }
    }
    fields[count] = start..body.len();
    (fields, count + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"TXN000001,2024-03-01,17:58:00,25.98,Cash,7,Harbor Fresh Market,\
Springfield- IL,12,\"Acme 12\"\" Pan\",Home & Kitchen,12.99,2,9,34,Female,Gold\n";

    fn bad(kind: BadKind, pick: u64) -> Vec<u8> {
        let mut out = Vec::new();
        push_bad_line(&mut out, LINE, kind, pick);
        out
    }

    #[test]
    fn splits_quoted_fields() {
        let body = LINE.strip_suffix(b"\n").expect("LF");
        let (fields, count) = split_fields(body);
        assert_eq!(count, 17);
        assert_eq!(&body[fields[9].clone()], b"\"Acme 12\"\" Pan\"");
        assert_eq!(&body[fields[16].clone()], b"Gold");
    }

    #[test]
    fn each_kind_breaks_its_field_only() {
        let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8");
        assert!(text(bad(BadKind::BadDate, 0)).contains(",2023-02-30,"));
        assert!(text(bad(BadKind::BadNumber, 0)).contains(",12.3x,"));
        assert!(text(bad(BadKind::SmallintOverflow, 0)).contains(",70000,9,"));
        let ragged = bad(BadKind::RaggedRow, 3);
        assert_eq!(ragged.iter().filter(|&&b| b == b',').count(), 15);
        let utf8 = bad(BadKind::InvalidUtf8, 0);
        assert!(std::str::from_utf8(&utf8).is_err());
        let quote = text(bad(BadKind::UnterminatedQuote, 0));
        assert!(quote.contains(",\"Acme 12 Pan,Home & Kitchen,"));
        assert_eq!(quote.matches('"').count(), 1);
    }

    #[test]
    fn counts_are_exact_and_unterminated_is_last() {
        for rows in [0u64, 1, 5, 6, 99, 1000] {
            for rate in [0.0, 0.01, 0.3, 1.0] {
                let mut dirty = DirtyRows::new(rows, rate, Xoshiro256::for_key(&[rows]));
                let kinds: Vec<Option<BadKind>> =
                    (0..rows).map(|i| dirty.next(i + 1 == rows)).collect();
                let expected = ((rows as f64 * rate).round() as u64).min(rows);
                assert_eq!(kinds.iter().flatten().count() as u64, expected);
                let unterminated: Vec<usize> = kinds
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| **k == Some(BadKind::UnterminatedQuote))
                    .map(|(i, _)| i)
                    .collect();
                if expected >= 6 {
                    assert_eq!(unterminated, [rows as usize - 1]);
                } else {
                    assert!(unterminated.is_empty());
                }
            }
        }
    }

    #[test]
    fn kind_names_match_serde() {
        for kind in BadKind::ALL {
            let json = serde_json::to_string(&kind).expect("serializable");
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
    }
}
