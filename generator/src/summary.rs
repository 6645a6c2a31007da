//! The figures of a run, per file and overall, exact so other crates' tests can compare a
//! database against them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::Spec;

/// Figures of one file or of the whole run. Row figures count good rows only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Good data rows.
    pub rows: u64,
    /// Bad data rows (listed in `manifest.json`).
    pub bad_rows: u64,
    /// Bytes stored: the object or file size (compressed size with gzip).
    pub bytes: u64,
    /// Bytes of CSV text, header included (equal to `bytes` without gzip).
    pub csv_bytes: u64,
    /// Sum of `Total_Amount` over good rows, in cents.
    pub total_amount_cents: i64,
    /// Smallest transaction id number among good rows (`TXN000042` is 42).
    pub min_transaction_id: Option<u64>,
    /// Largest transaction id number among good rows.
    pub max_transaction_id: Option<u64>,
    /// Distinct `Store_ID`s among good rows.
    pub distinct_stores: u64,
    /// Distinct `Product_ID`s among good rows.
    pub distinct_products: u64,
    /// Distinct non-empty `Customer_ID`s among good rows.
    pub distinct_customers: u64,
    /// Distinct `Transaction_Date`s among good rows.
    pub distinct_dates: u64,
}

/// One file's name and figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// File name, e.g. `part-00001.csv`.
    pub file: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// `summary.json`: the spec, every file, and the totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// What was generated.
    pub spec: Spec,
    /// Where it was written (a directory or an `s3://` prefix).
    pub output: String,
    /// Per file, in file order.
    pub files: Vec<FileSummary>,
    /// The whole run; distinct counts are over all files together.
    pub total: Figures,
}

impl fmt::Display for Summary {
    /// A short human summary, one line per total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        writeln!(
            f,
            "{} file(s) in {}: {} good rows, {} bad rows, {} bytes ({} bytes of CSV)",
            self.files.len(),
            self.output,
            t.rows,
            t.bad_rows,
            t.bytes,
            t.csv_bytes
        )?;
        let id = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        writeln!(
            f,
            "ids {}..={}, total amount {}.{:02}, {} stores, {} products, {} customers, {} dates",
            id(t.min_transaction_id),
            id(t.max_transaction_id),
            t.total_amount_cents / 100,
            t.total_amount_cents % 100,
            t.distinct_stores,
            t.distinct_products,
            t.distinct_customers,
            t.distinct_dates
        )
    }
}

/// A fixed-size set of small integers.
#[derive(Clone, Debug)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// A set able to hold `0..len`.
    pub(crate) fn new(len: u64) -> BitSet {
        BitSet {
            words: vec![0; len.div_ceil(64) as usize],
        }
    }

    #[inline]
    pub(crate) fn insert(&mut self, value: u64) {
        self.words[(value / 64) as usize] |= 1 << (value % 64);
    }

    pub(crate) fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub(crate) fn union_with(&mut self, other: &BitSet) {
        for (mine, theirs) in self.words.iter_mut().zip(&other.words) {
            *mine |= theirs;
        }
    }
}

/// Running figures of one file, with the sets needed to merge distinct counts across files.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    pub(crate) figures: Figures,
    stores: BitSet,
    products: BitSet,
    customers: BitSet,
    dates: BitSet,
}

impl Tally {
    pub(crate) fn new(spec: &Spec) -> Tally {
        Tally {
            figures: Figures::default(),
            stores: BitSet::new(u64::from(spec.stores) + 1),
            products: BitSet::new(u64::from(spec.products) + 1),
            customers: BitSet::new(u64::from(spec.customers) + 1),
            dates: BitSet::new(u64::from(spec.days)),
        }
    }

    /// Counts one good row.
    #[inline]
    pub(crate) fn good(
        &mut self,
        id: u64,
        day: u32,
        store: u64,
        product: u64,
        customer: Option<u64>,
        total_cents: u64,
    ) {
        let f = &mut self.figures;
        f.rows += 1;
        f.total_amount_cents += total_cents as i64;
        f.min_transaction_id = Some(f.min_transaction_id.map_or(id, |m| m.min(id)));
        f.max_transaction_id = Some(f.max_transaction_id.map_or(id, |m| m.max(id)));
        self.stores.insert(store);
        self.products.insert(product);
        if let Some(customer) = customer {
            self.customers.insert(customer);
        }
        self.dates.insert(u64::from(day));
    }

    /// Fills in the distinct counts from the sets.
    pub(crate) fn finish(&mut self) {
        let f = &mut self.figures;
        f.distinct_stores = self.stores.len();
        f.distinct_products = self.products.len();
        f.distinct_customers = self.customers.len();
        f.distinct_dates = self.dates.len();
    }

    /// Adds `other`'s rows, bytes and sets into `self` (call [`Tally::finish`] after).
    pub(crate) fn merge(&mut self, other: &Tally) {
        let (f, o) = (&mut self.figures, &other.figures);
        f.rows += o.rows;
        f.bad_rows += o.bad_rows;
        f.bytes += o.bytes;
        f.csv_bytes += o.csv_bytes;
        f.total_amount_cents += o.total_amount_cents;
        f.min_transaction_id = min_option(f.min_transaction_id, o.min_transaction_id);
        f.max_transaction_id = f.max_transaction_id.max(o.max_transaction_id);
        self.stores.union_with(&other.stores);
        self.products.union_with(&other.products);
        self.customers.union_with(&other.customers);
        self.dates.union_with(&other.dates);
    }
}

fn min_option(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_unions_the_sets() {
        let spec = Spec::DEFAULT;
        let mut a = Tally::new(&spec);
        a.good(5, 0, 1, 1, Some(3), 100);
        let mut b = Tally::new(&spec);
        b.good(9, 1, 1, 2, None, 250);
        let mut total = Tally::new(&spec);
        total.merge(&a);
        total.merge(&b);
        total.finish();
        let f = &total.figures;
        assert_eq!((f.rows, f.total_amount_cents), (2, 350));
        assert_eq!(
            (f.min_transaction_id, f.max_transaction_id),
            (Some(5), Some(9))
        );
        assert_eq!((f.distinct_stores, f.distinct_products), (1, 2));
        assert_eq!((f.distinct_customers, f.distinct_dates), (1, 2));
    }

    #[test]
    fn json_field_names_are_flat() {
        let file = FileSummary {
            file: "part-00001.csv".into(),
            figures: Figures::default(),
        };
        let json = serde_json::to_value(&file).expect("serializable");
        assert_eq!(json["file"], "part-00001.csv");
        assert_eq!(json["total_amount_cents"], 0);
        assert!(json["min_transaction_id"].is_null());
    }
}
