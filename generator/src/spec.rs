//! What to generate: the options of one run, their defaults and their limits.

use serde::{Deserialize, Serialize};

use crate::calendar::Date;
use crate::error::GenerateError;

/// Store ids are `smallint` in the database.
pub const MAX_STORES: u16 = i16::MAX as u16;
/// Every product's fields are precomputed in memory (about 60 bytes each).
pub const MAX_PRODUCTS: u32 = 5_000_000;
/// Distinct customers are counted with a bitset per file in flight (12.5 MB at this limit).
pub const MAX_CUSTOMERS: u32 = 100_000_000;
/// About a century of days.
pub const MAX_DAYS: u32 = 36_600;

/// The options of one generation run.
///
/// The same `Spec` always produces byte-identical files. Only `jobs` may change without changing
/// the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spec {
    /// Data rows across all files, bad rows included (headers not counted).
    pub rows: u64,
    /// Number of files; rows are split evenly, the first files taking the remainder.
    pub files: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Transaction id number of the first row of the first file; ids are contiguous across
    /// files in file order.
    pub start_id: u64,
    /// First possible transaction date.
    pub start_date: Date,
    /// Number of possible transaction dates, starting at `start_date`.
    pub days: u32,
    /// Store ids are drawn from `1..=stores`.
    pub stores: u16,
    /// Product ids are drawn from `1..=products`.
    pub products: u32,
    /// Customer ids are drawn from `1..=customers`.
    pub customers: u32,
    /// Fraction (0.0..=1.0) of rows whose store, product or customer attributes disagree with
    /// the id's usual ones.
    pub drift: f64,
    /// Fraction (0.0..=1.0) of rows replaced by a bad row (see [`BadKind`](crate::BadKind)).
    pub dirty: f64,
    /// Write `.csv.gz` files instead of `.csv`.
    pub gzip: bool,
    /// Files generated at the same time; 0 means one per available core. Does not change
    /// the output.
    pub jobs: usize,
}

impl Spec {
    /// The defaults: 100,000 rows in one file, seed 42, ids from 1, the 366 days of 2024,
    /// 50 stores, 1,000 products, 100,000 customers, no drift, no bad rows, plain CSV.
    pub const DEFAULT: Spec = Spec {
        rows: 100_000,
        files: 1,
        seed: 42,
        start_id: 1,
        start_date: Date::DEFAULT_START,
        days: 366,
        stores: 50,
        products: 1_000,
        customers: 100_000,
        drift: 0.0,
        dirty: 0.0,
        gzip: false,
        jobs: 0,
    };

    /// Checks every option against its limits.
    ///
    /// # Errors
    ///
    /// [`GenerateError::InvalidSpec`] naming the first option out of range.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let invalid = |message: String| Err(GenerateError::InvalidSpec(message));
        if self.files == 0 {
            return invalid("--files must be at least 1".into());
        }
        if self.stores == 0 || self.stores > MAX_STORES {
            return invalid(format!("--stores must be in 1..={MAX_STORES}"));
        }
        if self.products == 0 || self.products > MAX_PRODUCTS {
            return invalid(format!("--products must be in 1..={MAX_PRODUCTS}"));
        }
        if self.customers == 0 || self.customers > MAX_CUSTOMERS {
            return invalid(format!("--customers must be in 1..={MAX_CUSTOMERS}"));
        }
        if self.days == 0 || self.days > MAX_DAYS {
            return invalid(format!("--days must be in 1..={MAX_DAYS}"));
        }
        if self.start_date.add_days(i64::from(self.days) - 1).is_none() {
            return invalid("--start-date plus --days goes past 9999-12-31".into());
        }
        for (name, rate) in [("--drift", self.drift), ("--dirty", self.dirty)] {
            if !(0.0..=1.0).contains(&rate) {
                return invalid(format!("{name} must be in 0.0..=1.0, got {rate}"));
            }
        }
        if self.start_id.checked_add(self.rows).is_none() {
            return invalid("--start-id plus --rows overflows a 64-bit id".into());
        }
        Ok(())
    }

    /// Data rows in file `index` (0-based).
    pub fn file_rows(&self, index: u32) -> u64 {
        let files = u64::from(self.files);
        let base = self.rows / files;
        base + u64::from(u64::from(index) < self.rows % files)
    }

    /// Transaction id number of the first row of file `index` (0-based).
    pub fn file_first_id(&self, index: u32) -> u64 {
        let files = u64::from(self.files);
        let index = u64::from(index);
        self.start_id + index * (self.rows / files) + index.min(self.rows % files)
    }

    /// The name of file `index` (0-based): `part-00001.csv`, or `.csv.gz` with gzip.
    pub fn file_name(&self, index: u32) -> String {
        let extension = if self.gzip { "csv.gz" } else { "csv" };
        format!("part-{:05}.{extension}", u64::from(index) + 1)
    }
}

impl Default for Spec {
    fn default() -> Self {
        Spec::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_evenly_with_the_remainder_first() {
        let spec = Spec {
            rows: 10,
            files: 4,
            start_id: 100,
            ..Spec::DEFAULT
        };
        let rows: Vec<u64> = (0..4).map(|i| spec.file_rows(i)).collect();
        assert_eq!(rows, [3, 3, 2, 2]);
        let firsts: Vec<u64> = (0..4).map(|i| spec.file_first_id(i)).collect();
        assert_eq!(firsts, [100, 103, 106, 108]);
    }

    #[test]
    fn defaults_are_valid_and_limits_are_checked() {
        assert!(Spec::DEFAULT.validate().is_ok());
        let bad = [
            Spec {
                files: 0,
                ..Spec::DEFAULT
            },
            Spec {
                stores: 0,
                ..Spec::DEFAULT
            },
            Spec {
                drift: 1.5,
                ..Spec::DEFAULT
            },
            Spec {
                dirty: f64::NAN,
                ..Spec::DEFAULT
            },
            Spec {
                days: 0,
                ..Spec::DEFAULT
            },
            Spec {
                start_id: u64::MAX,
                ..Spec::DEFAULT
            },
        ];
        for spec in bad {
            assert!(spec.validate().is_err(), "{spec:?}");
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(Spec::DEFAULT.file_name(0), "part-00001.csv");
        let gz = Spec {
            gzip: true,
            ..Spec::DEFAULT
        };
        assert_eq!(gz.file_name(41), "part-00042.csv.gz");
    }
}
