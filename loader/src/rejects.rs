//! The refused rows of one object, kept with bounded memory.
//!
//! A load may refuse every row of a large object (`--max-rejects 100%`), and
//! each refused row keeps its record's bytes exactly as they were read. The
//! COPY holds the connection until the object's end, so they cannot go to
//! the database while it streams. `copy.rs` moves the encoder's rejects here
//! after each chunk: the first [`MEMORY_BUDGET`] bytes of them stay in
//! memory, the rest go to an unnamed temporary file (created in the system's
//! temporary directory, `/tmp` on Lambda, and unlinked at once, so nothing is
//! left behind even when the process is killed). The load reads them back in
//! order, in bounded batches, and files them with `loader_file_rejects` in
//! its transaction.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::columns::{column_index, COLUMNS};
use crate::encode::Reject;

/// Bytes of rejects (their record, reason and value) held in memory before
/// the rest go to the temporary file.
pub const MEMORY_BUDGET: usize = 4 << 20;

/// The refused rows of one object, in the order they were read.
#[derive(Debug)]
pub struct Rejects {
    count: u64,
    memory: Vec<Reject>,
    memory_bytes: usize,
    budget: usize,
    spill: Option<BufWriter<File>>,
}

impl Default for Rejects {
    fn default() -> Self {
        Rejects::with_budget(MEMORY_BUDGET)
    }
}

impl Rejects {
    /// An empty store that spills past `budget` bytes (tests use a small one).
    pub fn with_budget(budget: usize) -> Self {
        Rejects {
            count: 0,
            memory: Vec::new(),
            memory_bytes: 0,
            budget,
            spill: None,
        }
    }

    /// How many rows were refused.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no row was refused.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether some rejects went to the temporary file.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Adds a refused row: in memory while the budget lasts, then (for it
    /// and every later one, so the order holds) to the temporary file.
    ///
    /// # Errors
    /// The temporary file cannot be created or written.
    pub fn push(&mut self, reject: Reject) -> io::Result<()> {
        let size = footprint(&reject);
        if self.spill.is_none() && self.memory_bytes + size <= self.budget {
            self.memory_bytes += size;
            self.memory.push(reject);
        } else {
            let spill = match self.spill.as_mut() {
                Some(spill) => spill,
                None => self
                    .spill
                    .insert(BufWriter::with_capacity(1 << 16, temporary_file()?)),
            };
            write_reject(spill, &reject)?;
        }
        self.count += 1;
        Ok(())
    }

    /// The rejects in order, in batches of at most `rows` rows and about
    /// `bytes` bytes (a batch always holds at least one row).
    ///
    /// # Errors
    /// The temporary file cannot be flushed or rewound.
    pub fn into_batches(self, rows: usize, bytes: usize) -> io::Result<Batches> {
        let spilled = match self.spill {
            Some(spill) => {
                let mut file = spill.into_inner().map_err(io::IntoInnerError::into_error)?;
                file.seek(SeekFrom::Start(0))?;
                Some(BufReader::with_capacity(1 << 16, file))
            }
            None => None,
        };
        Ok(Batches {
            memory: self.memory.into_iter(),
            spilled,
            rows: rows.max(1),
            bytes,
        })
    }

    /// Every reject, read back into memory.
    #[cfg(test)]
    fn into_vec(self) -> io::Result<Vec<Reject>> {
        let mut all = Vec::new();
        for batch in self.into_batches(usize::MAX, usize::MAX)? {
            all.extend(batch?);
        }
        Ok(all)
    }
}

/// Batches of rejects; see [`Rejects::into_batches`].
pub struct Batches {
    memory: std::vec::IntoIter<Reject>,
    spilled: Option<BufReader<File>>,
    rows: usize,
    bytes: usize,
}

impl Iterator for Batches {
    type Item = io::Result<Vec<Reject>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut batch = Vec::new();
        let mut size = 0;
        while batch.len() < self.rows && (batch.is_empty() || size < self.bytes) {
            let reject = match self.memory.next() {
                Some(r) => r,
                None => match self.spilled.as_mut().map(read_reject) {
                    Some(Ok(Some(r))) => r,
                    Some(Err(e)) => return Some(Err(e)),
                    Some(Ok(None)) | None => break,
                },
            };
            size += footprint(&reject);
            batch.push(reject);
        }
        (!batch.is_empty()).then_some(Ok(batch))
    }
}

fn footprint(r: &Reject) -> usize {
    std::mem::size_of::<Reject>()
        + r.raw.len()
        + r.reason.len()
        + r.value.as_ref().map_or(0, String::len)
}

/// A new file that no other process can name: created under a name nobody
/// else uses (`create_new`), readable only by this user, then unlinked.
fn temporary_file() -> io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = dir.join(format!(
        "loader-rejects-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("creating a file in {}: {e}", dir.display()),
        )
    })?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

const NO_COLUMN: u8 = u8::MAX;

fn write_reject(w: &mut impl Write, r: &Reject) -> io::Result<()> {
    w.write_all(&r.line.to_le_bytes())?;
    w.write_all(&r.offset.to_le_bytes())?;
    let column = r
        .column
        .and_then(|c| column_index(c.as_bytes()))
        .map_or(NO_COLUMN, |i| i as u8);
    w.write_all(&[column])?;
    write_bytes(w, Some(r.reason.as_bytes()))?;
    write_bytes(w, r.value.as_ref().map(String::as_bytes))?;
    write_bytes(w, Some(&r.raw))
}

fn write_bytes(w: &mut impl Write, bytes: Option<&[u8]>) -> io::Result<()> {
    match bytes {
        Some(b) => {
            let len = u32::try_from(b.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "reject too long"))?;
            w.write_all(&len.to_le_bytes())?;
            w.write_all(b)
        }
        None => w.write_all(&u32::MAX.to_le_bytes()),
    }
}

/// The next reject, or `None` at the end of the file.
fn read_reject(r: &mut impl Read) -> io::Result<Option<Reject>> {
    let mut word = [0u8; 8];
    match r.read_exact(&mut word) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let line = u64::from_le_bytes(word);
    r.read_exact(&mut word)?;
    let offset = u64::from_le_bytes(word);
    let mut column = [0u8; 1];
    r.read_exact(&mut column)?;
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let reason = text(read_bytes(r)?).unwrap_or_default();
    let value = text(read_bytes(r)?);
    let raw = read_bytes(r)?.unwrap_or_default();
    Ok(Some(Reject {
        line,
        offset,
        column: COLUMNS.get(usize::from(column[0])).map(|c| c.name),
        reason,
        value,
        raw,
    }))
}

fn read_bytes(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len == u32::MAX {
        return Ok(None);
    }
    let mut bytes = vec![0; len as usize];
    r.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(line: u64) -> Reject {
        Reject {
            line,
            offset: line * 100,
            column: (line % 2 == 0).then_some("store_id"),
            reason: format!("reason {line}"),
            value: (line % 3 == 0).then(|| format!("value {line}")),
            raw: vec![b'x', 0, 0xff, line as u8],
        }
    }

    fn store(n: u64) -> (Rejects, Vec<Reject>) {
        let mut rejects = Rejects::with_budget(1000);
        let all: Vec<Reject> = (1..=n).map(reject).collect();
        for r in &all {
            rejects.push(r.clone()).expect("push");
        }
        (rejects, all)
    }

    #[test]
    fn past_the_budget_rejects_spill_and_come_back_in_order() {
        let (rejects, all) = store(200);
        assert!(rejects.spilled());
        assert_eq!(rejects.len(), 200);
        assert_eq!(rejects.into_vec().expect("read back"), all);
        // Batches cut by rows and by bytes, every row once, in order.
        let (rejects, _) = store(200);
        let batches: Vec<Vec<Reject>> = rejects
            .into_batches(7, usize::MAX)
            .expect("batches")
            .map(|b| b.expect("batch"))
            .collect();
        assert_eq!(batches.len(), 29);
        assert!(batches.iter().all(|b| b.len() <= 7));
        assert_eq!(batches.concat(), all);
        let (rejects, _) = store(200);
        let by_bytes: Vec<Vec<Reject>> = rejects
            .into_batches(usize::MAX, 1)
            .expect("batches")
            .map(|b| b.expect("batch"))
            .collect();
        assert_eq!(by_bytes.len(), 200);
        assert_eq!(by_bytes.concat(), all);
    }

    #[test]
    fn within_the_budget_nothing_spills() {
        let mut rejects = Rejects::default();
        rejects.push(reject(1)).expect("push");
        assert!(!rejects.spilled());
        assert_eq!(rejects.into_vec().expect("read"), vec![reject(1)]);
        assert!(Rejects::default().into_vec().expect("empty").is_empty());
    }
}
