//! What a load must have put in the database, checked before its time counts: a peer's raw
//! rows against figures read from the CSV itself (rows, sums, NULLs), and the star schema a
//! peer's SQL built against the generator's exact figures.

use std::path::Path;

use anyhow::{bail, Context, Result};
use generator::Figures;
use serde::Serialize;
use tokio_postgres::Client;

/// The nullable staging columns: an empty CSV field must arrive as NULL in each.
pub const NULLABLE: [&str; 4] = [
    "customer_id",
    "customer_age",
    "customer_gender",
    "customer_membership",
];

/// Figures of a set of rows that any correct load keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    pub rows: i64,
    pub total_amount_cents: i64,
    pub quantity_sold: i64,
    /// NULLs (empty fields in the CSV) of each [`NULLABLE`] column.
    pub nulls: [i64; 4],
}

impl Fingerprint {
    /// Read from the CSV file with the `csv` crate, independently of every loader.
    ///
    /// # Errors
    /// The file cannot be read, lacks a column, or holds an amount that is not `d+.dd`.
    pub fn of_csv(path: &Path) -> Result<Fingerprint> {
        let mut reader =
            csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        let headers = reader.byte_headers()?.clone();
        let index = |name: &str| -> Result<usize> {
            headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name.as_bytes()))
                .with_context(|| format!("{}: no column {name}", path.display()))
        };
        let amount = index("total_amount")?;
        let quantity = index("quantity_sold")?;
        let nullable = NULLABLE.map(index);
        let nullable: Vec<usize> = nullable.into_iter().collect::<Result<_>>()?;
        let mut f = Fingerprint::default();
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record)? {
            f.rows += 1;
            f.total_amount_cents += cents(&record[amount])
                .with_context(|| format!("line {}: total_amount", f.rows + 1))?;
            f.quantity_sold += std::str::from_utf8(&record[quantity])?
                .parse::<i64>()
                .with_context(|| format!("line {}: quantity_sold", f.rows + 1))?;
            for (n, &i) in f.nulls.iter_mut().zip(&nullable) {
                *n += i64::from(record[i].is_empty());
            }
        }
        Ok(f)
    }

    /// Read from a table with the staging columns.
    ///
    /// # Errors
    /// The query fails.
    pub async fn of_table(client: &Client, table: &str) -> Result<Fingerprint> {
        let nulls: Vec<String> = NULLABLE
            .iter()
            .map(|c| format!("count(*) FILTER (WHERE {c} IS NULL)"))
            .collect();
        let sql = format!(
            "SELECT count(*), coalesce(sum(total_amount * 100), 0)::bigint, \
             coalesce(sum(quantity_sold), 0)::bigint, {} FROM {table}",
            nulls.join(", ")
        );
        let row = client
            .query_one(&sql, &[])
            .await
            .with_context(|| format!("reading back {table}"))?;
        Ok(Fingerprint {
            rows: row.get(0),
            total_amount_cents: row.get(1),
            quantity_sold: row.get(2),
            nulls: [row.get(3), row.get(4), row.get(5), row.get(6)],
        })
    }
}

/// `12.34` -> 1234; `5` -> 500; `5.1` -> 510.
fn cents(field: &[u8]) -> Result<i64> {
    let text = std::str::from_utf8(field)?;
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 2 {
        bail!("{text:?} has more than two decimals");
    }
    let whole: i64 = whole.parse().with_context(|| format!("{text:?}"))?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}")
            .parse()
            .with_context(|| format!("{text:?}"))?
    };
    Ok(whole * 100 + if whole < 0 { -frac } else { frac })
}

/// Fails unless the raw table holds what the CSV held.
///
/// # Errors
/// A figure differs (the message shows both), or the query fails.
pub async fn raw(client: &Client, table: &str, expected: &Fingerprint) -> Result<()> {
    let got = Fingerprint::of_table(client, table).await?;
    if &got != expected {
        bail!("{table} does not hold the file's rows: got {got:?}, expected {expected:?}");
    }
    Ok(())
}

/// Fails unless the star schema holds one fact per transaction and one dimension row per id
/// (the generated data has no repeated transaction ids), with the file's sums and NULLs.
///
/// # Errors
/// A figure differs (the message shows which), or the query fails.
pub async fn star(client: &Client, figures: &Figures, raw: &Fingerprint) -> Result<()> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM facts),
                    (SELECT coalesce(sum(total_amount * 100), 0)::bigint FROM facts),
                    (SELECT count(*) FROM facts WHERE customer_id IS NULL),
                    (SELECT count(*) FROM dim_stores),
                    (SELECT count(*) FROM dim_products),
                    (SELECT count(*) FROM dim_customers),
                    (SELECT count(*) FROM dim_dates)",
            &[],
        )
        .await
        .context("reading back the star schema")?;
    let got: [i64; 7] = std::array::from_fn(|i| row.get(i));
    let want = [
        figures.rows as i64,
        figures.total_amount_cents,
        raw.nulls[0],
        figures.distinct_stores as i64,
        figures.distinct_products as i64,
        figures.distinct_customers as i64,
        figures.distinct_dates as i64,
    ];
    if got != want {
        bail!(
            "the star schema differs from the file's figures: got (facts, cents, facts without \
             customer, stores, products, customers, dates) {got:?}, expected {want:?}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_cents() {
        assert_eq!(cents(b"12.34").expect("amount"), 1234);
        assert_eq!(cents(b"5").expect("amount"), 500);
        assert_eq!(cents(b"5.1").expect("amount"), 510);
        assert_eq!(cents(b"-1.25").expect("amount"), -125);
        assert!(cents(b"1.234").is_err());
        assert!(cents(b"x").is_err());
    }

    #[test]
    fn fingerprint_of_a_csv() {
        let dir = std::env::temp_dir().join(format!("e2e-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("f.csv");
        std::fs::write(
            &path,
            "Transaction_ID,Total_Amount,Quantity_Sold,Customer_ID,Customer_Age,\
             Customer_Gender,Customer_Membership\n\
             T1,10.50,2,7,30,F,Gold\n\
             T2,1.25,3,,,,\n",
        )
        .expect("write");
        let f = Fingerprint::of_csv(&path).expect("fingerprint");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            f,
            Fingerprint {
                rows: 2,
                total_amount_cents: 1175,
                quantity_sold: 5,
                nulls: [1, 1, 1, 1],
            }
        );
    }
}
