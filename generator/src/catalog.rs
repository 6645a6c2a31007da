//! Attributes of every store, product and customer id, derived from (seed, id) only.
//!
//! An id's attributes never depend on row order, the file layout or how many ids exist, so two
//! runs with the same seed agree on every dimension attribute. A drift *variant* `v` in
//! `1..=DRIFT_VARIANTS` of an id differs from its usual attributes (variant 0) in exactly one
//! attribute. The usual attributes of stores and products are formatted once, up front, into
//! ready-to-copy row segments; customers (up to 100 million) are formatted on the fly.

use crate::fields::{push_cents, push_field, push_u64};
use crate::rng::{Draw, SplitMix64};
use crate::words::{
    AGE_RANGE, BRANDS, CATEGORIES, CITIES, GENDERS, ITEMS, MEMBERSHIPS, PRICE_CENTS, PRICE_RANGE,
    STORE_FIRST, STORE_LAST, STORE_MIDDLE,
};

/// How many disagreeing versions an id can have besides its usual one.
pub(crate) const DRIFT_VARIANTS: u64 = 3;

// Key tags, so that store 7 and product 7 draw from unrelated streams.
const STORE: u64 = 1;
const PRODUCT: u64 = 2;
const CUSTOMER: u64 = 3;

/// A store's attributes, as indices into the word lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Store {
    first: usize,
    middle: usize,
    last: usize,
    city: usize,
}

impl Store {
    /// Variant `variant` of store `id` (0 is the usual one).
    pub(crate) fn derive(seed: u64, id: u64, variant: u64) -> Store {
        let mut r = SplitMix64::for_key(&[seed, STORE, id]);
        let mut store = Store {
            first: pick(&mut r, STORE_FIRST.len()),
            middle: pick(&mut r, STORE_MIDDLE.len()),
            last: pick(&mut r, STORE_LAST.len()),
            city: pick(&mut r, CITIES.len()),
        };
        if variant > 0 {
            let mut r = SplitMix64::for_key(&[seed, STORE, id, variant]);
            match r.below(2) {
                0 => store.first = other(&mut r, store.first, STORE_FIRST.len()),
                _ => store.city = other(&mut r, store.city, CITIES.len()),
            }
        }
        store
    }

    /// Appends `id,name,City- State,`.
    pub(crate) fn push_segment(&self, buf: &mut Vec<u8>, id: u64) {
        let (city, state) = CITIES[self.city];
        push_u64(buf, id);
        buf.push(b',');
        push_field(
            buf,
            &[
                STORE_FIRST[self.first].as_bytes(),
                b" ",
                STORE_MIDDLE[self.middle].as_bytes(),
                b" ",
                STORE_LAST[self.last].as_bytes(),
            ],
        );
        buf.push(b',');
        push_field(buf, &[city.as_bytes(), b"- ", state.as_bytes()]);
        buf.push(b',');
    }
}

/// A product's attributes. The name's item comes from `name_category`'s list, which differs
/// from `category` only in a category-drift variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Product {
    brand: usize,
    name_category: usize,
    item: usize,
    category: usize,
    price_cents: u64,
}

impl Product {
    /// Variant `variant` of product `id` (0 is the usual one).
    pub(crate) fn derive(seed: u64, id: u64, variant: u64) -> Product {
        let mut r = SplitMix64::for_key(&[seed, PRODUCT, id]);
        let category = pick(&mut r, CATEGORIES.len());
        let (lo, hi) = PRICE_CENTS[category];
        let mut product = Product {
            brand: pick(&mut r, BRANDS.len()),
            name_category: category,
            item: pick(&mut r, ITEMS[category].len()),
            category,
            price_cents: r.between(lo, hi),
        };
        if variant > 0 {
            let mut r = SplitMix64::for_key(&[seed, PRODUCT, id, variant]);
            match r.below(3) {
                0 => product.brand = other(&mut r, product.brand, BRANDS.len()),
                1 => product.category = other(&mut r, product.category, CATEGORIES.len()),
                _ => {
                    let (lo, hi) = PRICE_RANGE;
                    let offset = other(
                        &mut r,
                        (product.price_cents - lo) as usize,
                        (hi - lo + 1) as usize,
                    );
                    product.price_cents = lo + offset as u64;
                }
            }
        }
        product
    }

    /// The price in cents.
    pub(crate) fn price_cents(&self) -> u64 {
        self.price_cents
    }

    /// Appends `id,name,category,price,`.
    pub(crate) fn push_segment(&self, buf: &mut Vec<u8>, id: u64) {
        push_u64(buf, id);
        buf.push(b',');
        push_field(
            buf,
            &[
                BRANDS[self.brand].as_bytes(),
                b" ",
                ITEMS[self.name_category][self.item].as_bytes(),
            ],
        );
        buf.push(b',');
        push_field(buf, &[CATEGORIES[self.category].as_bytes()]);
        buf.push(b',');
        push_cents(buf, self.price_cents);
        buf.push(b',');
    }
}

/// A customer's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Customer {
    age: u64,
    gender: usize,
    membership: usize,
}

impl Customer {
    /// Variant `variant` of customer `id` (0 is the usual one).
    pub(crate) fn derive(seed: u64, id: u64, variant: u64) -> Customer {
        let mut r = SplitMix64::for_key(&[seed, CUSTOMER, id]);
        let mut customer = Customer {
            age: r.between(AGE_RANGE.0, AGE_RANGE.1),
            gender: weighted(&mut r, &GENDERS),
            membership: weighted(&mut r, &MEMBERSHIPS),
        };
        if variant > 0 {
            let mut r = SplitMix64::for_key(&[seed, CUSTOMER, id, variant]);
            match r.below(2) {
                0 => {
                    let (lo, hi) = AGE_RANGE;
                    let offset =
                        other(&mut r, (customer.age - lo) as usize, (hi - lo + 1) as usize);
                    customer.age = lo + offset as u64;
                }
                _ => customer.membership = other(&mut r, customer.membership, MEMBERSHIPS.len()),
            }
        }
        customer
    }

    /// Appends `id,age,gender,membership` and the line feed that ends the row.
    pub(crate) fn push_tail(&self, buf: &mut Vec<u8>, id: u64) {
        push_u64(buf, id);
        buf.push(b',');
        push_u64(buf, self.age);
        buf.push(b',');
        buf.extend_from_slice(GENDERS[self.gender].0.as_bytes());
        buf.push(b',');
        buf.extend_from_slice(MEMBERSHIPS[self.membership].0.as_bytes());
        buf.push(b'\n');
    }
}

/// Formatted segments of consecutive ids in one buffer (one allocation, good locality).
struct Segments {
    bytes: Vec<u8>,
    /// `ends[k]` is where the segment of id `k` ends; `ends[0]` is 0.
    ends: Vec<usize>,
}

impl Segments {
    fn build(count: u64, mut push: impl FnMut(&mut Vec<u8>, u64)) -> Segments {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(count as usize + 1);
        ends.push(0);
        for id in 1..=count {
            push(&mut bytes, id);
            ends.push(bytes.len());
        }
        Segments { bytes, ends }
    }

    #[inline]
    fn get(&self, id: u64) -> &[u8] {
        let id = id as usize;
        &self.bytes[self.ends[id - 1]..self.ends[id]]
    }
}

/// The usual attributes of every store and product, formatted, plus the seed for everything
/// else.
pub(crate) struct Catalog {
    seed: u64,
    stores: Segments,
    products: Segments,
    prices: Vec<u64>,
}

impl Catalog {
    /// Formats stores `1..=stores` and products `1..=products` for `seed`.
    pub(crate) fn new(seed: u64, stores: u64, products: u64) -> Catalog {
        let stores = Segments::build(stores, |buf, id| {
            Store::derive(seed, id, 0).push_segment(buf, id)
        });
        let mut prices = Vec::with_capacity(products as usize + 1);
        prices.push(0);
        let products = Segments::build(products, |buf, id| {
            let product = Product::derive(seed, id, 0);
            prices.push(product.price_cents());
            product.push_segment(buf, id);
        });
        Catalog {
            seed,
            stores,
            products,
            prices,
        }
    }

    /// The seed every attribute derives from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// `id,name,City- State,` of store `id` (in range).
    #[inline]
    pub(crate) fn store_segment(&self, id: u64) -> &[u8] {
        self.stores.get(id)
    }

    /// `id,name,category,price,` of product `id` (in range).
    #[inline]
    pub(crate) fn product_segment(&self, id: u64) -> &[u8] {
        self.products.get(id)
    }

    /// The usual price of product `id` (in range), in cents.
    #[inline]
    pub(crate) fn product_price(&self, id: u64) -> u64 {
        self.prices[id as usize]
    }
}

/// An index into a list of `len` entries.
fn pick(r: &mut SplitMix64, len: usize) -> usize {
    r.below(len as u64) as usize
}

/// An index into a list of `len > 1` entries that is not `current`.
fn other(r: &mut SplitMix64, current: usize, len: usize) -> usize {
    (current + 1 + pick(r, len - 1)) % len
}

/// An index into `table`, chosen by the percent weights of its entries.
fn weighted(r: &mut SplitMix64, table: &[(&str, u64)]) -> usize {
    let mut x = r.below(100);
    for (i, &(_, weight)) in table.iter().enumerate() {
        if x < weight {
            return i;
        }
        x -= weight;
    }
    table.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_depend_only_on_seed_and_id() {
        let small = Catalog::new(42, 10, 10);
        let large = Catalog::new(42, 500, 5000);
        for id in 1..=10 {
            assert_eq!(small.store_segment(id), large.store_segment(id));
            assert_eq!(small.product_segment(id), large.product_segment(id));
        }
        let other_seed = Catalog::new(43, 10, 10);
        let differs =
            (1..=10).any(|id| other_seed.product_segment(id) != small.product_segment(id));
        assert!(differs);
    }

    #[test]
    fn every_variant_differs_from_the_usual_attributes() {
        for id in 1..=500 {
            for variant in 1..=DRIFT_VARIANTS {
                assert_ne!(Store::derive(7, id, variant), Store::derive(7, id, 0));
                assert_ne!(Product::derive(7, id, variant), Product::derive(7, id, 0));
                assert_ne!(Customer::derive(7, id, variant), Customer::derive(7, id, 0));
            }
        }
    }

    #[test]
    fn prices_stay_in_range() {
        for id in 1..=2000 {
            for variant in 0..=DRIFT_VARIANTS {
                let price = Product::derive(1, id, variant).price_cents();
                assert!((PRICE_RANGE.0..=PRICE_RANGE.1).contains(&price));
            }
        }
    }

    #[test]
    fn segments_have_the_expected_shape() {
        let catalog = Catalog::new(42, 3, 3);
        let store = String::from_utf8(catalog.store_segment(2).to_vec()).expect("ASCII");
        assert!(store.starts_with("2,") && store.ends_with(','), "{store}");
        assert!(store.contains("- "), "{store}");
        let product = String::from_utf8(catalog.product_segment(3).to_vec()).expect("ASCII");
        assert!(
            product.starts_with("3,") && product.ends_with(','),
            "{product}"
        );
        let mut tail = Vec::new();
        Customer::derive(42, 9, 0).push_tail(&mut tail, 9);
        assert!(tail.starts_with(b"9,") && tail.ends_with(b"\n"));
    }
}
