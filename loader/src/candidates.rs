//! A batch's dimension candidates, found while its rows stream past.
//!
//! The trigger needs, per store, product and customer id, the rows at that
//! id's newest timestamp (then it breaks ties), and the batch's dates. Over
//! the whole transition table that is four passes on the server; here it is
//! a few hash lookups per row on the encoder's side, off the database's
//! critical path. [`Candidates::scan`] reads the binary COPY rows the
//! encoder wrote, keeps for each id every row at its newest timestamp so
//! far (a newer one replaces them) and one row per date, and
//! [`Candidates::copy_data`] hands them over as a binary COPY stream for
//! `staging_dimension_candidates`, whose trigger runs the same dimension
//! statement over them (sql/db_transformation.sql).
//!
//! A candidate is kept compact (its dimension's columns and the transaction's
//! id, date and time, one length byte each): ~60 bytes for a customer.
//! Memory grows with the number of distinct ids, not with the rows, and is
//! capped by a budget: past it the candidates are dropped and the load asks
//! the server to take the dimensions from the whole batch instead
//! (`normalize_load_dimensions`). Anything unexpected in the rows (which
//! cannot happen with the encoder's output) is treated the same way: the
//! fallback is always correct, the shortcut only when it is sure.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

use bytes::{BufMut, BytesMut};

use crate::columns::{position, NCOLUMNS};
use crate::encode::BINARY_HEADER;

/// Fields of a loader row: the staging columns, then `load_id`.
const NFIELDS: usize = NCOLUMNS + 1;

const TRANSACTION_DATE: usize = position("transaction_date");
const TRANSACTION_TIME: usize = position("transaction_time");
const STORE_ID: usize = position("store_id");
const PRODUCT_ID: usize = position("product_id");
const CUSTOMER_ID: usize = position("customer_id");

/// A set of row fields, bit `i` for field `i`.
type Fields = u32;

const fn fields(names: &[&str]) -> Fields {
    let mut set = 0;
    let mut i = 0;
    while i < names.len() {
        set |= 1 << position(names[i]);
        i += 1;
    }
    set
}

/// What every candidate carries: transaction id, date, time, load id.
const COMMON: Fields =
    fields(&["transaction_id", "transaction_date", "transaction_time"]) | 1 << NCOLUMNS;
/// What each dimension's candidates carry, the common fields included (the
/// rest is NULL).
const STORE_FIELDS: Fields = COMMON | fields(&["store_id", "store_name", "store_location"]);
const PRODUCT_FIELDS: Fields = COMMON
    | fields(&[
        "product_id",
        "product_name",
        "product_category",
        "product_price",
    ]);
const CUSTOMER_FIELDS: Fields = COMMON
    | fields(&[
        "customer_id",
        "customer_age",
        "customer_gender",
        "customer_membership",
    ]);
const DATE_FIELDS: Fields = COMMON;

/// The fields of `set`, in row order.
fn each(set: Fields) -> impl Iterator<Item = usize> {
    (0..NFIELDS).filter(move |&i| set & 1 << i != 0)
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Bookkeeping charged per id on top of its row bytes (map slot, Vec).
const PER_ID_OVERHEAD: usize = 64;

/// Default memory budget in MiB (`--dimension-memory`): ~400,000 ids of
/// ordinary rows.
pub const DEFAULT_BUDGET_MIB: usize = 48;
/// The same in bytes.
pub const DEFAULT_BUDGET: usize = DEFAULT_BUDGET_MIB << 20;

/// The compact rows (see `write_compact`) at one id's newest timestamp.
struct Newest {
    ts: i64,
    rows: Vec<u8>,
}

/// See the module docs.
pub struct Candidates {
    stores: HashMap<i16, Newest>,
    products: HashMap<i32, Newest>,
    customers: HashMap<i32, Newest>,
    dates: HashMap<i32, Vec<u8>>,
    /// Header bytes of the COPY stream still to skip.
    header_left: usize,
    /// The stream's trailer has been seen.
    ended: bool,
    /// Bytes held, as charged against `budget`.
    held: usize,
    budget: usize,
    /// The budget was exceeded or a row did not read as expected: nothing
    /// is kept and the load falls back to the server.
    given_up: bool,
}

impl std::fmt::Debug for Candidates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidates")
            .field("ids", &self.ids())
            .field("held", &self.held)
            .field("given_up", &self.given_up)
            .finish()
    }
}

/// Where each field's value is in a row (`None`: NULL), as (start, length).
type Spans = [Option<(usize, usize)>; NFIELDS];

/// One binary COPY row, read: where each field's value is (`None`: NULL),
/// and the keys the candidates are chosen by.
struct Row<'a> {
    data: &'a [u8],
    fields: Spans,
    ts: i64,
    date: i32,
    store: i16,
    product: i32,
    customer: Option<i32>,
}

/// A candidate is kept compact: only its dimension's columns and the
/// common ones, each as a length byte (`NULL_LEN` for NULL, `WIDE_LEN` for a
/// 4-byte length after it) and the value; [`expand`] writes the COPY row.
const NULL_LEN: u8 = 0xfe;
const WIDE_LEN: u8 = 0xff;

impl Row<'_> {
    /// Length of the compact form of `set`.
    fn compact_len(&self, set: Fields) -> usize {
        each(set)
            .map(|col| match self.fields[col] {
                None => 1,
                Some((_, len)) if len < usize::from(NULL_LEN) => 1 + len,
                Some((_, len)) => 5 + len,
            })
            .sum()
    }

    /// Appends the compact form of `set`.
    fn write_compact(&self, set: Fields, out: &mut Vec<u8>) {
        for col in each(set) {
            match self.fields[col] {
                None => out.push(NULL_LEN),
                Some((at, len)) => {
                    match u8::try_from(len).ok().filter(|&l| l < NULL_LEN) {
                        Some(short) => out.push(short),
                        None => {
                            out.push(WIDE_LEN);
                            out.extend_from_slice(&(len as u32).to_be_bytes());
                        }
                    }
                    out.extend_from_slice(&self.data[at..at + len]);
                }
            }
        }
    }
}

/// Writes the compact rows in `compact` (of `set`) as binary COPY rows of
/// all the fields, the others NULL.
fn expand(mut compact: &[u8], set: Fields, out: &mut BytesMut) {
    while !compact.is_empty() {
        out.put_i16(NFIELDS as i16);
        for col in 0..NFIELDS {
            if set & 1 << col == 0 {
                out.put_i32(-1);
                continue;
            }
            let (len, rest) = match compact[0] {
                NULL_LEN => {
                    out.put_i32(-1);
                    compact = &compact[1..];
                    continue;
                }
                WIDE_LEN => {
                    let len = u32::from_be_bytes([compact[1], compact[2], compact[3], compact[4]]);
                    (len as usize, &compact[5..])
                }
                short => (usize::from(short), &compact[1..]),
            };
            out.put_i32(len as i32);
            out.extend_from_slice(&rest[..len]);
            compact = &rest[len..];
        }
    }
}

impl Candidates {
    /// Candidates for one batch of binary COPY rows, keeping at most about
    /// `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Candidates {
            stores: HashMap::new(),
            products: HashMap::new(),
            customers: HashMap::new(),
            dates: HashMap::new(),
            header_left: BINARY_HEADER.len(),
            ended: false,
            held: 0,
            budget,
            given_up: false,
        }
    }

    /// True when the candidates could not be kept (budget, or rows that did
    /// not read as expected): the dimensions must come from the whole batch.
    pub fn given_up(&self) -> bool {
        self.given_up
    }

    /// Reads the next bytes of the binary COPY stream, which must end at a
    /// row boundary (the encoder only appends whole rows).
    pub fn scan(&mut self, mut data: &[u8]) {
        if self.given_up {
            return;
        }
        if self.header_left > 0 {
            let skip = self.header_left.min(data.len());
            self.header_left -= skip;
            data = &data[skip..];
        }
        while !data.is_empty() {
            if self.ended {
                return self.give_up();
            }
            let Some((row, len)) = read_row(data) else {
                if data.len() >= 2 && data[..2] == [0xff, 0xff] {
                    self.ended = true;
                    data = &data[2..];
                    continue;
                }
                return self.give_up();
            };
            self.offer(&row);
            if self.held > self.budget {
                return self.give_up();
            }
            data = &data[len..];
        }
    }

    fn give_up(&mut self) {
        self.given_up = true;
        self.stores = HashMap::new();
        self.products = HashMap::new();
        self.customers = HashMap::new();
        self.dates = HashMap::new();
        self.held = 0;
    }

    fn offer(&mut self, row: &Row<'_>) {
        let held = &mut self.held;
        keep_newest(&mut self.stores, row.store, row, STORE_FIELDS, held);
        keep_newest(&mut self.products, row.product, row, PRODUCT_FIELDS, held);
        if let Some(customer) = row.customer {
            keep_newest(&mut self.customers, customer, row, CUSTOMER_FIELDS, held);
        }
        if let Entry::Vacant(slot) = self.dates.entry(row.date) {
            let mut rows = Vec::with_capacity(row.compact_len(DATE_FIELDS));
            row.write_compact(DATE_FIELDS, &mut rows);
            *held += rows.capacity() + PER_ID_OVERHEAD;
            slot.insert(rows);
        }
    }

    /// Number of ids kept (stores + products + customers + dates).
    pub fn ids(&self) -> usize {
        self.stores.len() + self.products.len() + self.customers.len() + self.dates.len()
    }

    /// The candidates as a complete binary COPY stream (header, rows,
    /// trailer), in messages of about `chunk` bytes. A row that is a
    /// candidate for several dimensions is sent once per dimension; the
    /// trigger's result does not depend on repeats.
    pub fn copy_data(&self, chunk: usize) -> Vec<bytes::Bytes> {
        let mut messages = Vec::new();
        let mut out = BytesMut::with_capacity(chunk);
        out.extend_from_slice(BINARY_HEADER);
        let rows = (self.stores.values().map(|n| (&n.rows, STORE_FIELDS)))
            .chain(self.products.values().map(|n| (&n.rows, PRODUCT_FIELDS)))
            .chain(self.customers.values().map(|n| (&n.rows, CUSTOMER_FIELDS)))
            .chain(self.dates.values().map(|rows| (rows, DATE_FIELDS)));
        for (compact, set) in rows {
            expand(compact, set, &mut out);
            if out.len() >= chunk {
                messages.push(out.split().freeze());
            }
        }
        out.put_i16(-1);
        messages.push(out.freeze());
        messages
    }
}

/// Keeps `row`, compacted to `set`, for `key` when its timestamp is the
/// newest seen for that key (replacing older rows) or ties with it (added
/// to them).
fn keep_newest<K: Hash + Eq>(
    map: &mut HashMap<K, Newest>,
    key: K,
    row: &Row<'_>,
    set: Fields,
    held: &mut usize,
) {
    match map.entry(key) {
        Entry::Occupied(mut slot) => {
            let newest = slot.get_mut();
            if row.ts < newest.ts {
                return;
            }
            let before = newest.rows.capacity();
            if row.ts > newest.ts {
                newest.ts = row.ts;
                newest.rows.clear();
                // Exactly one row's room: a tie's growth is not kept forever.
                let len = row.compact_len(set);
                if before < len || before > 2 * len {
                    newest.rows = Vec::with_capacity(len);
                }
            }
            row.write_compact(set, &mut newest.rows);
            *held = *held - before + newest.rows.capacity();
        }
        Entry::Vacant(slot) => {
            let mut rows = Vec::with_capacity(row.compact_len(set));
            row.write_compact(set, &mut rows);
            *held += rows.capacity() + PER_ID_OVERHEAD;
            slot.insert(Newest { ts: row.ts, rows });
        }
    }
}

/// Splits one binary COPY row of `NFIELDS` fields at the start of `data`:
/// where each value is (`None`: NULL), and the row's length. `None` for the
/// trailer, a cut row or another width.
fn split_row(data: &[u8]) -> Option<(Spans, usize)> {
    let nfields = i16::from_be_bytes(data.get(..2)?.try_into().ok()?);
    if usize::try_from(nfields).ok()? != NFIELDS {
        return None;
    }
    let mut at = 2;
    let mut fields = [None; NFIELDS];
    for field in &mut fields {
        let len = i32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if let Ok(len) = usize::try_from(len) {
            data.get(at..at + len)?;
            *field = Some((at, len));
            at += len;
        }
    }
    Some((fields, at))
}

/// Reads one loader row at the start of `data`, and its length. `None`
/// where [`split_row`] finds none, or for keys missing or of other sizes.
fn read_row(data: &[u8]) -> Option<(Row<'_>, usize)> {
    let (fields, len) = split_row(data)?;
    let value = |col: usize| fields[col].map(|(start, len)| &data[start..start + len]);
    let date = i32::from_be_bytes(value(TRANSACTION_DATE)?.try_into().ok()?);
    let time = i64::from_be_bytes(value(TRANSACTION_TIME)?.try_into().ok()?);
    let customer = match value(CUSTOMER_ID) {
        None => None,
        Some(bytes) => Some(i32::from_be_bytes(bytes.try_into().ok()?)),
    };
    let row = Row {
        data,
        fields,
        ts: i64::from(date) * MICROS_PER_DAY + time,
        date,
        store: i16::from_be_bytes(value(STORE_ID)?.try_into().ok()?),
        product: i32::from_be_bytes(value(PRODUCT_ID)?.try_into().ok()?),
        customer,
    };
    Some((row, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{EncodeOptions, Encoder};

    fn encoded(csv: &str) -> BytesMut {
        let mut encoder = Encoder::new(EncodeOptions {
            load_id: Some(7),
            ..EncodeOptions::default()
        });
        let mut out = BytesMut::new();
        encoder.encode(csv.as_bytes(), &mut out).unwrap();
        encoder.finish(&mut out).unwrap();
        out
    }

    const HEADER: &str = "transaction_id,transaction_date,transaction_time,total_amount,\
        payment_method,store_id,store_name,store_location,product_id,product_name,\
        product_category,product_price,quantity_sold,customer_id,customer_age,\
        customer_gender,customer_membership\n";

    fn row(txn: &str, date: &str, time: &str, store: u32, product: u32, customer: &str) -> String {
        format!(
            "{txn},{date},{time},1.00,Cash,{store},S{store},Town- ST,{product},P,Cat,1.00,1,\
             {customer},30,F,Gold\n"
        )
    }

    /// The transaction ids among the candidates, sorted.
    fn candidate_ids(c: &Candidates) -> Vec<String> {
        let stream: Vec<u8> = c.copy_data(1 << 20).concat();
        let mut data = &stream[BINARY_HEADER.len()..];
        let mut ids = Vec::new();
        while let Some((fields, len)) = split_row(data) {
            let (at, id_len) = fields[0].expect("every candidate has its transaction id");
            ids.push(String::from_utf8(data[at..at + id_len].to_vec()).unwrap());
            data = &data[len..];
        }
        assert_eq!(data, [0xff, 0xff], "the stream ends with the trailer");
        ids.sort();
        ids
    }

    #[test]
    fn keeps_every_row_at_each_ids_newest_timestamp_and_one_per_date() {
        let csv = [
            HEADER.to_string(),
            row("a", "2024-01-01", "10:00:00", 1, 10, "100"),
            // Newer for store 1 and product 10: replaces a there.
            row("b", "2024-01-01", "11:00:00", 1, 10, ""),
            // Ties with b for store 1.
            row("c", "2024-01-01", "11:00:00", 1, 11, "101"),
            // Older than b: no candidate for store 1 or product 10, but the
            // only row of customer 102 and of its date.
            row("d", "2023-12-31", "23:59:59", 1, 10, "102"),
        ]
        .concat();
        let out = encoded(&csv);
        let mut c = Candidates::new(DEFAULT_BUDGET);
        // Split anywhere at row boundaries: here, header and rows apart.
        c.scan(&out[..BINARY_HEADER.len()]);
        c.scan(&out[BINARY_HEADER.len()..]);
        assert!(!c.given_up());
        // store 1: b, c; product 10: b; product 11: c; customers 100: a,
        // 101: c, 102: d; dates 2024-01-01: a, 2023-12-31: d.
        assert_eq!(
            candidate_ids(&c),
            ["a", "a", "b", "b", "c", "c", "c", "d", "d"]
        );
        assert_eq!(c.ids(), 1 + 2 + 3 + 2);
    }

    #[test]
    fn gives_up_past_the_budget_and_on_rows_it_cannot_read() {
        let csv = [
            HEADER.to_string(),
            row("a", "2024-01-01", "10:00:00", 1, 10, "100"),
            row("b", "2024-01-01", "10:00:00", 2, 11, "101"),
        ]
        .concat();
        let out = encoded(&csv);
        let mut c = Candidates::new(300);
        c.scan(&out);
        assert!(c.given_up());
        assert_eq!(c.ids(), 0);

        let mut c = Candidates::new(DEFAULT_BUDGET);
        c.scan(&out[..out.len() - 5]);
        assert!(c.given_up(), "a cut row is not read as one");
    }
}
