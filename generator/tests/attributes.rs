//! Dimension attributes: consistent per id (and across runs) without drift, disagreeing with it.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{files, records, run};
use generator::Spec;

/// Per dimension, every distinct attribute tuple seen for each id.
#[derive(Default)]
struct Seen {
    stores: BTreeMap<String, BTreeSet<(String, String)>>,
    products: BTreeMap<String, BTreeSet<(String, String, String)>>,
    customers: BTreeMap<String, BTreeSet<(String, String, String)>>,
}

fn seen(spec: &Spec, dir: &std::path::Path) -> Seen {
    let mut seen = Seen::default();
    for bytes in files(dir).values() {
        for r in &records(bytes)[1..] {
            seen.stores
                .entry(r[5].into())
                .or_default()
                .insert((r[6].into(), r[7].into()));
            seen.products.entry(r[8].into()).or_default().insert((
                r[9].into(),
                r[10].into(),
                r[11].into(),
            ));
            if !r[13].is_empty() {
                seen.customers.entry(r[13].into()).or_default().insert((
                    r[14].into(),
                    r[15].into(),
                    r[16].into(),
                ));
            }
        }
    }
    assert!(!seen.stores.is_empty(), "{spec:?} produced rows");
    seen
}

fn consistent<K, V>(map: &BTreeMap<K, BTreeSet<V>>) -> bool {
    map.values().all(|versions| versions.len() == 1)
}

fn spec() -> Spec {
    Spec {
        rows: 30_000,
        files: 3,
        customers: 2_000,
        ..Spec::default()
    }
}

#[tokio::test]
async fn without_drift_each_id_has_one_set_of_attributes() {
    let (dir, _) = run(&spec()).await;
    let seen = seen(&spec(), dir.path());
    assert!(consistent(&seen.stores));
    assert!(consistent(&seen.products));
    assert!(consistent(&seen.customers));
}

#[tokio::test]
async fn runs_with_the_same_seed_agree_on_attributes_whatever_their_layout() {
    let (a, _) = run(&spec()).await;
    let other = Spec {
        rows: 12_345,
        files: 1,
        start_id: 500_000,
        stores: 80,
        ..spec()
    };
    let (b, _) = run(&other).await;
    let (a, b) = (seen(&spec(), a.path()), seen(&other, b.path()));
    let mut shared = 0;
    for (id, versions) in &a.stores {
        if let Some(other_versions) = b.stores.get(id) {
            assert_eq!(versions, other_versions, "store {id}");
            shared += 1;
        }
    }
    for (id, versions) in &a.products {
        if let Some(other_versions) = b.products.get(id) {
            assert_eq!(versions, other_versions, "product {id}");
            shared += 1;
        }
    }
    for (id, versions) in &a.customers {
        if let Some(other_versions) = b.customers.get(id) {
            assert_eq!(versions, other_versions, "customer {id}");
            shared += 1;
        }
    }
    assert!(shared > 100);
}

#[tokio::test]
async fn with_drift_some_ids_disagree_in_every_dimension() {
    let drifting = Spec {
        drift: 0.05,
        ..spec()
    };
    let (dir, _) = run(&drifting).await;
    let seen = seen(&drifting, dir.path());
    assert!(
        !consistent(&seen.stores),
        "a store has several names or locations"
    );
    assert!(
        !consistent(&seen.products),
        "a product has several versions"
    );
    assert!(
        !consistent(&seen.customers),
        "a customer has several versions"
    );
    // Drift changes names, locations, categories, prices, ages and memberships.
    let store_names = seen.stores.values().any(|v| {
        v.iter()
            .map(|(name, _)| name)
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    });
    let store_locations = seen.stores.values().any(|v| {
        v.iter()
            .map(|(_, location)| location)
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    });
    let categories = seen.products.values().any(|v| {
        v.iter()
            .map(|(_, category, _)| category)
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    });
    let prices = seen.products.values().any(|v| {
        v.iter()
            .map(|(_, _, price)| price)
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    });
    assert!(store_names && store_locations && categories && prices);
}
