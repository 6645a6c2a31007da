//! The input contract: which columns a header must name, which producer
//! names stand for which staging column, and which dates are plausible.
//!
//! Every staging column must be in the header unless declared optional: a
//! producer that drops a column by mistake is told, instead of loading NULLs.
//! Declared aliases map a producer's names onto the schema's, besides the
//! folding [`column_index`](crate::columns::column_index) always does (case,
//! surrounding spaces, spaces and hyphens for underscores).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::columns::{COLUMNS, NCOLUMNS};
use crate::error::{Error, Result};

/// What a header must hold and how its names map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderContract {
    /// Columns that may be absent from the header (their values are NULL).
    optional: [bool; NCOLUMNS],
    /// Folded producer name -> staging column position.
    aliases: Vec<(String, usize)>,
}

/// Folds a header name the way staging names are compared: trimmed, ASCII
/// lowercase, spaces and hyphens read as underscores.
pub fn fold_name(name: &[u8]) -> Vec<u8> {
    name.trim_ascii()
        .iter()
        .map(|&b| match b {
            b' ' | b'-' => b'_',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

fn column_named(name: &str, what: &str) -> Result<usize> {
    let folded = fold_name(name.as_bytes());
    COLUMNS
        .iter()
        .position(|c| c.name.as_bytes() == folded.as_slice())
        .ok_or_else(|| {
            let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
            Error::Config(format!(
                "{what}: {name:?} is not a staging column (one of {})",
                names.join(", ")
            ))
        })
}

impl HeaderContract {
    /// Declares columns that may be missing from a header. Only nullable
    /// columns (the customer's, for guest purchases) may be: a required
    /// column missing would fail every row.
    ///
    /// # Errors
    /// [`Error::Config`] for a name that is not a staging column or one that
    /// does not allow NULL.
    pub fn allow_missing<S: AsRef<str>>(&mut self, names: &[S]) -> Result<()> {
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            let col = column_named(name, "--optional-columns")?;
            if !COLUMNS[col].nullable {
                return Err(Error::Config(format!(
                    "--optional-columns: {} cannot be optional: every row needs a value",
                    COLUMNS[col].name
                )));
            }
            self.optional[col] = true;
        }
        Ok(())
    }

    /// Adds one alias, `Producer Name=staging_column`.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed alias, an unknown target column, or
    /// a producer name already mapped to another column.
    pub fn add_alias(&mut self, spec: &str) -> Result<()> {
        let Some((from, to)) = spec.rsplit_once('=') else {
            return Err(Error::Config(format!(
                "--column-alias {spec:?}: expected 'Producer Name=staging_column'"
            )));
        };
        let folded = String::from_utf8_lossy(&fold_name(from.as_bytes())).into_owned();
        if folded.is_empty() {
            return Err(Error::Config(format!(
                "--column-alias {spec:?}: the producer's name is empty"
            )));
        }
        let col = column_named(to, "--column-alias")?;
        match self.aliases.iter().find(|(name, _)| *name == folded) {
            Some((_, other)) if *other != col => Err(Error::Config(format!(
                "--column-alias {spec:?}: {from:?} is already an alias of {}",
                COLUMNS[*other].name
            ))),
            Some(_) => Ok(()),
            None => {
                self.aliases.push((folded, col));
                Ok(())
            }
        }
    }

    /// Adds the aliases of a map: one `Producer Name=staging_column` per
    /// line (or separated by `;`); blank lines and lines starting with `#`
    /// are skipped. A UTF-8 byte-order mark at its start (a map saved by a
    /// Windows editor) is not part of the first name.
    ///
    /// # Errors
    /// As [`HeaderContract::add_alias`], naming the line.
    pub fn add_alias_map(&mut self, text: &str) -> Result<()> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (n, line) in text.lines().enumerate() {
            for spec in line.split(';') {
                let spec = spec.trim();
                if spec.is_empty() || spec.starts_with('#') {
                    continue;
                }
                self.add_alias(spec).map_err(|e| match e {
                    Error::Config(m) => Error::Config(format!("line {}: {m}", n + 1)),
                    other => other,
                })?;
            }
        }
        Ok(())
    }

    /// The staging column a header field names: a declared alias first,
    /// then the schema's own names (folded).
    pub fn column_for(&self, header: &[u8]) -> Option<usize> {
        if !self.aliases.is_empty() {
            let folded = fold_name(header);
            if let Some((_, col)) = self.aliases.iter().find(|(n, _)| n.as_bytes() == folded) {
                return Some(*col);
            }
        }
        crate::columns::column_index(header)
    }

    /// Whether column `col` may be missing from a header.
    pub fn is_optional(&self, col: usize) -> bool {
        self.optional[col]
    }
}

/// Which transaction dates are plausible: not later than the load's time
/// plus `ahead`, not earlier than `floor`. A row outside is a bad row, so a
/// typo (9999-12-31) cannot pin a dimension's newest-wins state forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateWindow {
    /// How far after the load's time (UTC) a date may be.
    pub ahead: Duration,
    /// The earliest date, as days since 2000-01-01 (PostgreSQL's epoch).
    pub floor: i32,
}

/// One day: a producer in a time zone ahead of UTC writes tomorrow's date.
pub const DEFAULT_DATE_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// The default floor, 1900-01-01.
pub const DEFAULT_MIN_DATE: &str = "1900-01-01";

/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

impl Default for DateWindow {
    fn default() -> Self {
        DateWindow {
            ahead: DEFAULT_DATE_AHEAD,
            floor: crate::value::parse_date(DEFAULT_MIN_DATE.as_bytes())
                .expect("the default floor is a date"),
        }
    }
}

impl DateWindow {
    /// A window with the floor given as `YYYY-MM-DD`.
    ///
    /// # Errors
    /// [`Error::Config`] when `min_date` is not a date.
    pub fn new(ahead: Duration, min_date: &str) -> Result<Self> {
        let floor = crate::value::parse_date(min_date.as_bytes()).map_err(|_| {
            Error::Config(format!("--min-date {min_date:?} is not a YYYY-MM-DD date"))
        })?;
        Ok(DateWindow { ahead, floor })
    }

    /// The stricter of two windows: the later floor, the shorter reach
    /// ahead (the loader's own settings and the database's).
    pub fn narrowest(self, other: DateWindow) -> DateWindow {
        DateWindow {
            ahead: self.ahead.min(other.ahead),
            floor: self.floor.max(other.floor),
        }
    }

    /// The accepted days (since 2000-01-01), both ends included, for a
    /// load at `now`.
    pub fn bounds(&self, now: SystemTime) -> (i32, i32) {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.ahead)
            .as_secs();
        let last = (secs / 86_400) as i64 - PG_EPOCH_DAYS;
        let last = last.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        (self.floor, last.max(self.floor))
    }
}

/// What rows of an object must satisfy, beyond their types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contract {
    /// The header's columns and names.
    pub header: HeaderContract,
    /// Plausible transaction dates.
    pub dates: DateWindow,
}

impl Contract {
    /// The contract from the settings the CLI and the Lambda share:
    /// optional column names, `Name=column` aliases, the text of an alias
    /// map (see [`HeaderContract::add_alias_map`]), the date window.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting that is wrong.
    pub fn from_settings<S: AsRef<str>>(
        optional: &[S],
        aliases: &[S],
        alias_map: Option<&str>,
        ahead: Duration,
        min_date: &str,
    ) -> Result<Self> {
        let mut header = HeaderContract::default();
        header.allow_missing(optional)?;
        for alias in aliases {
            header.add_alias(alias.as_ref())?;
        }
        if let Some(text) = alias_map {
            header.add_alias_map(text)?;
        }
        Ok(Contract {
            header,
            dates: DateWindow::new(ahead, min_date)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_fold_and_win_over_schema_names() {
        let mut c = HeaderContract::default();
        c.add_alias_map(
            "# producer X\nProducer Name = store_name\n\nTxn Date=transaction-date; Till=store_id",
        )
        .unwrap();
        assert_eq!(
            c.column_for(b" producer  name "),
            None,
            "inner spaces are kept"
        );
        assert_eq!(c.column_for(b"PRODUCER-NAME"), Some(6));
        assert_eq!(c.column_for(b"txn date"), Some(1));
        assert_eq!(c.column_for(b"till"), Some(5));
        assert_eq!(c.column_for(b"Store_ID"), Some(5));
        assert!(c.add_alias("Till=product_id").is_err());
        assert!(c.add_alias("x=no_such").is_err());
        assert!(c.add_alias("no equals").is_err());
        let mut c = HeaderContract::default();
        c.add_alias_map("\u{feff}Txn=transaction_id\r\nShop Name=store_name\r\n")
            .unwrap();
        assert_eq!(c.column_for(b"Txn"), Some(0), "the BOM is not the name's");
        assert_eq!(c.column_for(b"Shop Name"), Some(6));
    }

    #[test]
    fn only_nullable_columns_may_be_optional() {
        let mut c = HeaderContract::default();
        c.allow_missing(&["Customer_Membership", " customer-age"])
            .unwrap();
        assert!(c.is_optional(16) && c.is_optional(14) && !c.is_optional(13));
        assert!(c.allow_missing(&["store_id"]).is_err());
        assert!(c.allow_missing(&["nope"]).is_err());
    }

    #[test]
    fn date_window_ends_a_day_after_now() {
        let w = DateWindow::new(DEFAULT_DATE_AHEAD, "1990-01-01").unwrap();
        // 2024-03-01T12:00:00Z
        let now = UNIX_EPOCH + Duration::from_secs(1_709_294_400);
        let (lo, hi) = w.bounds(now);
        assert_eq!(lo, crate::value::parse_date(b"1990-01-01").unwrap());
        assert_eq!(hi, crate::value::parse_date(b"2024-03-02").unwrap());
        assert!(DateWindow::new(DEFAULT_DATE_AHEAD, "1990-13-01").is_err());
    }
}
