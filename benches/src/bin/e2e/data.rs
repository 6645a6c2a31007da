//! The CSV files every method loads, written once per run by the generator library (same
//! seed, so every run measures the same bytes).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use generator::{Dataset, Figures, Spec};

/// One generated file.
#[derive(Clone, Debug)]
pub struct DataFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// The generator's exact figures (sums, distinct ids), which loaded data is checked against.
    pub figures: Figures,
}

/// A set of files of one spec, in load order.
#[derive(Clone, Debug)]
pub struct DataSet {
    pub dir: PathBuf,
    pub files: Vec<DataFile>,
}

impl DataSet {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// The spec of `rows` rows in `files` files; ids run from 1 across the files, so the files
/// hold disjoint transaction ids.
pub fn spec(rows: u64, files: u32) -> Spec {
    Spec {
        rows,
        files,
        ..Spec::default()
    }
}

/// Writes every file of `spec` into `dir` (emptied first).
///
/// # Errors
/// The spec is invalid or the directory cannot be written.
pub fn write(spec: &Spec, dir: &Path) -> Result<DataSet> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dataset = Dataset::new(spec)?;
    let mut files = Vec::new();
    for index in 0..spec.files {
        let path = dir.join(spec.file_name(index));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        // The generator writes ~1 MiB chunks itself: no BufWriter needed.
        let outcome = dataset.write_file(index, file, None)?;
        let figures = outcome.summary.figures;
        files.push(DataFile {
            path,
            rows: figures.rows,
            bytes: figures.csv_bytes,
            figures,
        });
    }
    Ok(DataSet {
        dir: dir.to_path_buf(),
        files,
    })
}

/// File `index` of `spec` in memory.
///
/// # Errors
/// The spec is invalid.
pub fn in_memory(spec: &Spec, index: u32) -> Result<Vec<u8>> {
    let mut csv = Vec::new();
    Dataset::new(spec)?.write_file(index, &mut csv, None)?;
    Ok(csv)
}
