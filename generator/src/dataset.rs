//! The dataset a [`Spec`] describes, and the synchronous writer of any one of its files.
//!
//! Each file draws from its own streams, keyed by (seed, file index), so files can be written
//! independently and in parallel, and file 3 is the same whether or not file 2 was written.
//! Writing does no I/O of its own: it hands ~1 MiB chunks to any `std::io::Write`.

use std::io::Write;

use indicatif::ProgressBar;

use crate::catalog::Catalog;
use crate::columns::HEADER;
use crate::dirty::{push_bad_line, BadRow, DirtyRows};
use crate::error::GenerateError;
use crate::rng::Xoshiro256;
use crate::row::{push_row, Clock, RowDraws};
use crate::spec::Spec;
use crate::summary::{Figures, FileSummary, Tally};

/// Bytes of CSV gathered before each `write_all`. Measured with
/// `generator --rows 5000000 --files 1` to a local disk: 64 KiB gave ~595 MB/s, 1 MiB ~640 MB/s
/// (fewer syscalls); larger only costs memory per file in flight.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Room past [`CHUNK_BYTES`] for the line that crosses it, so the buffer never reallocates.
const LINE_SLACK: usize = 4096;

// Stream tags: row values, drift choices and bad-row choices use separate streams, so that
// turning drift or bad rows on leaves every other value of every row unchanged.
const VALUES: u64 = 1;
const DRIFT: u64 = 2;
const DIRTY: u64 = 3;

/// A validated [`Spec`] with its precomputed catalog: writes any of the spec's files.
pub struct Dataset {
    spec: Spec,
    catalog: Catalog,
    clock: Clock,
    draws: RowDraws,
}

/// What writing one file produced.
#[derive(Debug)]
pub struct FileOutcome {
    /// The file's name and figures; `bytes` counts the CSV bytes handed to the writer until
    /// an output sink replaces it with the stored size.
    pub summary: FileSummary,
    /// The file's bad lines, in line order.
    pub bad_rows: Vec<BadRow>,
    tally: Tally,
}

impl FileOutcome {
    /// Records the stored (possibly compressed) size of the file.
    pub(crate) fn set_stored_bytes(&mut self, bytes: u64) {
        self.summary.figures.bytes = bytes;
        self.tally.figures.bytes = bytes;
    }

    /// The running figures with the sets, for merging into the run's totals.
    pub(crate) fn tally(&self) -> &Tally {
        &self.tally
    }
}

impl Dataset {
    /// Validates `spec` and formats its catalog (stores and products; about 50 ms per
    /// 100,000 products).
    ///
    /// # Errors
    ///
    /// [`GenerateError::InvalidSpec`] when an option is out of range.
    pub fn new(spec: &Spec) -> Result<Dataset, GenerateError> {
        spec.validate()?;
        Ok(Dataset {
            spec: spec.clone(),
            catalog: Catalog::new(spec.seed, u64::from(spec.stores), u64::from(spec.products)),
            clock: Clock::new(spec.start_date, spec.days),
            draws: RowDraws::new(spec),
        })
    }

    /// The spec this dataset was built from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Writes file `index` (0-based) as plain CSV into `out`, header first, in chunks of
    /// about [`CHUNK_BYTES`], and flushes it. `progress` advances by the rows written.
    ///
    /// # Errors
    ///
    /// [`GenerateError::InvalidSpec`] when `index` is not below `spec.files`;
    /// [`GenerateError::Write`] when `out` fails.
    pub fn write_file<W: Write>(
        &self,
        index: u32,
        mut out: W,
        progress: Option<&ProgressBar>,
    ) -> Result<FileOutcome, GenerateError> {
        let spec = &self.spec;
        if index >= spec.files {
            return Err(GenerateError::InvalidSpec(format!(
                "file index {index} is not below --files {}",
                spec.files
            )));
        }
        let name = spec.file_name(index);
        let rows = spec.file_rows(index);
        let first_id = spec.file_first_id(index);
        let stream = |tag| Xoshiro256::for_key(&[spec.seed, u64::from(index), tag]);
        let mut lines = Lines {
            set: self,
            name: name.clone(),
            values: stream(VALUES),
            drifts: stream(DRIFT),
            dirty: DirtyRows::new(rows, spec.dirty, stream(DIRTY)),
            tally: Tally::new(spec),
            bad_rows: Vec::new(),
            good_line: Vec::with_capacity(LINE_SLACK),
        };
        let mut sink = Chunks {
            out: &mut out,
            name: &name,
            progress,
            bytes: 0,
            reported: 0,
        };
        let mut buf = Vec::with_capacity(CHUNK_BYTES + LINE_SLACK);
        buf.extend_from_slice(HEADER.as_bytes());
        buf.push(b'\n');
        for i in 0..rows {
            lines.push(&mut buf, i, first_id + i, i + 1 == rows);
            if buf.len() >= CHUNK_BYTES {
                sink.flush(&mut buf, i + 1)?;
            }
        }
        sink.flush(&mut buf, rows)?;
        let csv_bytes = sink.bytes;
        out.flush().map_err(|source| GenerateError::Write {
            target: name.clone(),
            source,
        })?;

        let Lines {
            mut tally,
            bad_rows,
            ..
        } = lines;
        tally.figures.csv_bytes = csv_bytes;
        tally.figures.bytes = csv_bytes;
        tally.finish();
        Ok(FileOutcome {
            summary: FileSummary {
                file: name,
                figures: tally.figures.clone(),
            },
            bad_rows,
            tally,
        })
    }

    /// Merges per-file outcomes (in file order) into the run's totals.
    pub(crate) fn totals<'a>(
        &self,
        outcomes: impl IntoIterator<Item = &'a FileOutcome>,
    ) -> Figures {
        let mut total = Tally::new(&self.spec);
        for outcome in outcomes {
            total.merge(outcome.tally());
        }
        total.finish();
        total.figures
    }
}

/// One file's rows as they are written: its random streams, the rows chosen
/// to be dirty, and what was written so far.
struct Lines<'a> {
    set: &'a Dataset,
    name: String,
    values: Xoshiro256,
    drifts: Xoshiro256,
    dirty: DirtyRows,
    tally: Tally,
    bad_rows: Vec<BadRow>,
    good_line: Vec<u8>,
}

impl Lines<'_> {
    /// Appends row `i` (transaction `id`) to `buf`: good, or made dirty.
    fn push(&mut self, buf: &mut Vec<u8>, i: u64, id: u64, last: bool) {
        let set = self.set;
        let row = set.draws.draw(id, &mut self.values, &mut self.drifts);
        match self.dirty.next(last) {
            None => {
                let total = push_row(buf, &row, &set.catalog, &set.clock);
                self.tally
                    .good(id, row.day, row.store, row.product, row.customer, total);
            }
            Some(kind) => {
                self.good_line.clear();
                push_row(&mut self.good_line, &row, &set.catalog, &set.clock);
                push_bad_line(buf, &self.good_line, kind, self.dirty.pick());
                self.tally.figures.bad_rows += 1;
                self.bad_rows.push(BadRow {
                    file: self.name.clone(),
                    // The header is line 1 and no field spans lines.
                    line: i + 2,
                    kind,
                    column: kind.column().map(str::to_string),
                    transaction_id: format!("TXN{id:06}"),
                });
            }
        }
    }
}

/// Where a file's chunks go, counted, with the progress bar advanced by
/// the rows they hold.
struct Chunks<'a, W: Write> {
    out: &'a mut W,
    name: &'a str,
    progress: Option<&'a ProgressBar>,
    bytes: u64,
    reported: u64,
}

impl<W: Write> Chunks<'_, W> {
    /// Writes and empties `buf`; `done` rows are written with it.
    fn flush(&mut self, buf: &mut Vec<u8>, done: u64) -> Result<(), GenerateError> {
        self.out
            .write_all(buf)
            .map_err(|source| GenerateError::Write {
                target: self.name.to_string(),
                source,
            })?;
        self.bytes += buf.len() as u64;
        buf.clear();
        if let Some(progress) = self.progress {
            progress.inc(done - self.reported);
        }
        self.reported = done;
        Ok(())
    }
}
