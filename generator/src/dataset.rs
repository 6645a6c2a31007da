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
        let (mut values, mut drifts) = (stream(VALUES), stream(DRIFT));
        let mut dirty = DirtyRows::new(rows, spec.dirty, stream(DIRTY));

        let mut tally = Tally::new(spec);
        let mut bad_rows = Vec::new();
        let mut buf = Vec::with_capacity(CHUNK_BYTES + LINE_SLACK);
        let mut good_line = Vec::with_capacity(LINE_SLACK);
        let mut csv_bytes = 0u64;
        let mut reported = 0u64;
        let mut flush = |buf: &mut Vec<u8>, done: u64| -> Result<(), GenerateError> {
            out.write_all(buf).map_err(|source| GenerateError::Write {
                target: name.clone(),
                source,
            })?;
            csv_bytes += buf.len() as u64;
            buf.clear();
            if let Some(progress) = progress {
                progress.inc(done - reported);
            }
            reported = done;
            Ok(())
        };

        buf.extend_from_slice(HEADER.as_bytes());
        buf.push(b'\n');
        for i in 0..rows {
            let id = first_id + i;
            let row = self.draws.draw(id, &mut values, &mut drifts);
            match dirty.next(i + 1 == rows) {
                None => {
                    let total = push_row(&mut buf, &row, &self.catalog, &self.clock);
                    tally.good(id, row.day, row.store, row.product, row.customer, total);
                }
                Some(kind) => {
                    good_line.clear();
                    push_row(&mut good_line, &row, &self.catalog, &self.clock);
                    push_bad_line(&mut buf, &good_line, kind, dirty.pick());
                    tally.figures.bad_rows += 1;
                    bad_rows.push(BadRow {
                        file: name.clone(),
                        // The header is line 1 and no field spans lines.
                        line: i + 2,
                        kind,
                        column: kind.column().map(str::to_string),
                        transaction_id: format!("TXN{id:06}"),
                    });
                }
            }
            if buf.len() >= CHUNK_BYTES {
                flush(&mut buf, i + 1)?;
            }
        }
        flush(&mut buf, rows)?;
        out.flush().map_err(|source| GenerateError::Write {
            target: name.clone(),
            source,
        })?;

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
