//! The one list of staging columns: name, PostgreSQL type, nullability.
//!
//! Everything that names a staging column (the header mapping, the COPY
//! column list, the encoder's per-column parsing, error messages) reads it
//! from [`COLUMNS`], so the order here is the order of the COPY column list.

/// How a CSV field is parsed and encoded for its staging column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// `text`: any UTF-8 without NUL bytes.
    Text,
    /// `date`: `YYYY-MM-DD`.
    Date,
    /// `time`: `HH:MM[:SS[.ffffff]]`.
    Time,
    /// `numeric(15,2)`: at most 13 integer digits and 2 decimals.
    Money,
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
}

/// One staging column.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The staging column name, which is also the CSV header name compared
    /// case-insensitively (`Transaction_ID` matches `transaction_id`).
    pub name: &'static str,
    /// How its field is parsed.
    pub ty: ColumnType,
    /// Whether an empty field (or a missing column) means NULL. A required
    /// column's empty field is an error.
    pub nullable: bool,
}

const fn col(name: &'static str, ty: ColumnType, nullable: bool) -> Column {
    Column { name, ty, nullable }
}

/// Number of CSV columns in the staging table (`load_id` not included).
pub const NCOLUMNS: usize = 17;

/// The staging columns in COPY order. A customer is optional (a guest
/// purchase), so its four columns are nullable; everything else is required.
pub const COLUMNS: [Column; NCOLUMNS] = {
    use ColumnType::*;
    [
        col("transaction_id", Text, false),
        col("transaction_date", Date, false),
        col("transaction_time", Time, false),
        col("total_amount", Money, false),
        col("payment_method", Text, false),
        col("store_id", Int2, false),
        col("store_name", Text, false),
        col("store_location", Text, false),
        col("product_id", Int4, false),
        col("product_name", Text, false),
        col("product_category", Text, false),
        col("product_price", Money, false),
        col("quantity_sold", Int2, false),
        col("customer_id", Int4, true),
        col("customer_age", Int2, true),
        col("customer_gender", Text, true),
        col("customer_membership", Text, true),
    ]
};

/// The staging table, with its schema: the client's statements name every
/// relation with its schema (its search_path is pinned to pg_catalog).
pub const STAGING_TABLE: &str = "public.staging_table";

/// The column that carries the ledger's load id on every staged row.
pub const LOAD_ID_COLUMN: &str = "load_id";

/// Finds the staging column a CSV header names: compared ASCII
/// case-insensitively after trimming surrounding white space, with spaces
/// and hyphens read as underscores (`Transaction ID` and `transaction-id`
/// name `transaction_id`).
pub fn column_index(header: &[u8]) -> Option<usize> {
    let header = header.trim_ascii();
    COLUMNS.iter().position(|c| {
        c.name.len() == header.len()
            && c.name.bytes().zip(header).all(|(want, &got)| {
                let got = match got {
                    b' ' | b'-' => b'_',
                    other => other.to_ascii_lowercase(),
                };
                want == got
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_match_case_insensitively() {
        assert_eq!(column_index(b"Transaction_ID"), Some(0));
        assert_eq!(column_index(b"transaction_id"), Some(0));
        assert_eq!(column_index(b" Customer Membership "), Some(16));
        assert_eq!(column_index(b"product-price"), Some(11));
        assert_eq!(column_index(b"load_id"), None);
        assert_eq!(column_index(b"transaction_idx"), None);
        assert_eq!(column_index(b""), None);
    }

    #[test]
    fn names_are_lowercase_identifiers() {
        for c in COLUMNS {
            assert!(c.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
