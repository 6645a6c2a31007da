//! One transaction row: drawing its values from the file's streams, and formatting it.
//!
//! Formatting is the hot path: it copies precomputed segments (dates, times, stores, products)
//! and writes numbers by hand into the caller's buffer, so a row costs no allocation.

use crate::calendar::Date;
use crate::catalog::{Catalog, Customer, Product, Store, DRIFT_VARIANTS};
use crate::fields::{push_cents, push_padded, push_u64};
use crate::rng::{Draw, Xoshiro256};
use crate::spec::Spec;
use crate::words::PAYMENT_METHODS;

/// Percent of rows bought by a guest (no customer id or attributes).
const GUEST_PERCENT: u64 = 3;
/// Minimum digits of a transaction id number (`TXN000001`); larger numbers print wider.
const ID_DIGITS: usize = 6;
/// Transactions happen from 06:00 to 22:59.
const FIRST_HOUR: u64 = 6;
const MINUTES_PER_DAY: u64 = 17 * 60;

/// Which dimension of a row disagrees with its id's usual attributes, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drift {
    None,
    Store(u64),
    Product(u64),
    Customer(u64),
}

/// The values of one row, before formatting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub(crate) id: u64,
    /// Offset from the first date.
    pub(crate) day: u32,
    minute: u16,
    payment: u8,
    pub(crate) store: u64,
    pub(crate) product: u64,
    /// `None` for a guest.
    pub(crate) customer: Option<u64>,
    qty: u64,
    drift: Drift,
}

/// The ranges rows are drawn from.
pub(crate) struct RowDraws {
    days: u64,
    stores: u64,
    products: u64,
    customers: u64,
    drift: f64,
}

impl RowDraws {
    pub(crate) fn new(spec: &Spec) -> RowDraws {
        RowDraws {
            days: u64::from(spec.days),
            stores: u64::from(spec.stores),
            products: u64::from(spec.products),
            customers: u64::from(spec.customers),
            drift: spec.drift,
        }
    }

    /// Draws row `id`. `values` yields the same values whatever the drift rate, because drift
    /// draws come from their own stream.
    #[inline]
    pub(crate) fn draw(&self, id: u64, values: &mut Xoshiro256, drifts: &mut Xoshiro256) -> Row {
        let day = values.below(self.days) as u32;
        let minute = values.below(MINUTES_PER_DAY) as u16;
        let payment = values.below(PAYMENT_METHODS.len() as u64) as u8;
        let store = 1 + values.below(self.stores);
        let product = 1 + values.below(self.products);
        let guest = values.below(100) < GUEST_PERCENT;
        let customer = 1 + values.below(self.customers);
        let qty = 1 + values.below(10);
        let customer = (!guest).then_some(customer);
        let drift = if self.drift > 0.0 && drifts.chance(self.drift) {
            let variant = 1 + drifts.below(DRIFT_VARIANTS);
            // A guest has no customer attributes to disagree on.
            let dimensions = if customer.is_some() { 3 } else { 2 };
            match drifts.below(dimensions) {
                0 => Drift::Store(variant),
                1 => Drift::Product(variant),
                _ => Drift::Customer(variant),
            }
        } else {
            Drift::None
        };
        Row {
            id,
            day,
            minute,
            payment,
            store,
            product,
            customer,
            qty,
            drift,
        }
    }
}

/// Formatted dates and times, indexed by day offset and minute of the business day.
pub(crate) struct Clock {
    dates: Vec<[u8; 10]>,
    times: Vec<[u8; 8]>,
}

impl Clock {
    /// Dates `start..start + days` (the range must be valid, see [`Spec::validate`]).
    pub(crate) fn new(start: Date, days: u32) -> Clock {
        let dates = (0..i64::from(days))
            .map(|offset| {
                start
                    .add_days(offset)
                    .expect("Spec::validate keeps the date range inside years 1..=9999")
                    .ascii()
            })
            .collect();
        let times = (0..MINUTES_PER_DAY)
            .map(|minute| {
                let (h, m) = (FIRST_HOUR + minute / 60, minute % 60);
                let digit = |v: u64| b'0' + v as u8;
                [
                    digit(h / 10),
                    digit(h % 10),
                    b':',
                    digit(m / 10),
                    digit(m % 10),
                    b':',
                    b'0',
                    b'0',
                ]
            })
            .collect();
        Clock { dates, times }
    }
}

/// Appends `row` as one CSV line and returns its Total_Amount in cents.
#[inline]
pub(crate) fn push_row(buf: &mut Vec<u8>, row: &Row, catalog: &Catalog, clock: &Clock) -> u64 {
    let seed = catalog.seed();
    let drifted_product = match row.drift {
        Drift::Product(variant) => Some(Product::derive(seed, row.product, variant)),
        _ => None,
    };
    let price = drifted_product
        .as_ref()
        .map_or_else(|| catalog.product_price(row.product), Product::price_cents);
    let total = price * row.qty;

    buf.extend_from_slice(b"TXN");
    push_padded(buf, row.id, ID_DIGITS);
    buf.push(b',');
    buf.extend_from_slice(&clock.dates[row.day as usize]);
    buf.push(b',');
    buf.extend_from_slice(&clock.times[usize::from(row.minute)]);
    buf.push(b',');
    push_cents(buf, total);
    buf.push(b',');
    buf.extend_from_slice(PAYMENT_METHODS[usize::from(row.payment)].as_bytes());
    buf.push(b',');
    match row.drift {
        Drift::Store(variant) => {
            Store::derive(seed, row.store, variant).push_segment(buf, row.store)
        }
        _ => buf.extend_from_slice(catalog.store_segment(row.store)),
    }
    match drifted_product {
        Some(product) => product.push_segment(buf, row.product),
        None => buf.extend_from_slice(catalog.product_segment(row.product)),
    }
    push_u64(buf, row.qty);
    buf.push(b',');
    match row.customer {
        None => buf.extend_from_slice(b",,,\n"),
        Some(id) => {
            let variant = match row.drift {
                Drift::Customer(variant) => variant,
                _ => 0,
            };
            Customer::derive(seed, id, variant).push_tail(buf, id);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_seventeen_fields_and_the_right_total() {
        let spec = Spec::DEFAULT;
        let catalog = Catalog::new(spec.seed, u64::from(spec.stores), u64::from(spec.products));
        let clock = Clock::new(spec.start_date, spec.days);
        let draws = RowDraws::new(&spec);
        let mut values = Xoshiro256::for_key(&[1]);
        let mut drifts = Xoshiro256::for_key(&[2]);
        for id in 1..=1000 {
            let row = draws.draw(id, &mut values, &mut drifts);
            let mut line = Vec::new();
            let total = push_row(&mut line, &row, &catalog, &clock);
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_slice());
            let record = reader
                .records()
                .next()
                .expect("one record")
                .expect("valid CSV");
            assert_eq!(record.len(), 17);
            let price: f64 = record[11].parse().expect("price");
            let qty: u64 = record[12].parse().expect("quantity");
            assert_eq!((price * 100.0).round() as u64 * qty, total);
            assert_eq!(record[3], format!("{}.{:02}", total / 100, total % 100));
        }
    }

    #[test]
    fn times_cover_the_business_day() {
        let clock = Clock::new(Date::DEFAULT_START, 1);
        assert_eq!(&clock.times[0], b"06:00:00");
        assert_eq!(clock.times.last(), Some(b"22:59:00"));
    }
}
