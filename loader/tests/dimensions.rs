//! The trigger's dimensions follow one rule whatever the wire format, and
//! its tie-breaks are the documented total order. Data with many ties at an id's newest timestamp, repeated transaction
//! ids that disagree on attributes, guests, and loads that bring older rows
//! after newer ones.

mod support;

use generator::Spec;
use loader::{CopyFormat, LoadOptions, Outcome, Source};
use support::*;

/// Hand-made rows where the tie-breaks decide: at the newest timestamp of
/// store 1, product 7 and customer 5, several rows, one transaction id
/// repeated with other attributes; a guest; an older row of customer 5
/// after the newer ones.
const TIES: &str = "\
X-0001,2024-03-01,12:00:00,5.00,Cash,1,North,Akron- OH,7,Tea,Food,2.50,2,5,40,F,Gold
X-0002,2024-03-01,12:00:00,5.00,Cash,1,South,Akron- OH,7,Tea,Drink,2.50,2,5,41,F,Gold
X-0002,2024-03-01,12:00:00,5.00,Cash,1,East,Akron- OH,7,Tea,Drink,2.75,2,5,41,M,Gold
X-0003,2024-03-01,11:59:59,5.00,Card,1,West,Akron- OH,7,Coffee,Food,9.99,1,5,99,F,None
X-0004,2024-02-29,23:00:00,5.00,Card,2,Lone,Winston-Salem- NC,8,Mug,Home,4.00,1,,,,
X-0005,2024-03-01,12:00:00,5.00,Cash,2,Lone,Winston-Salem- NC,8,Mug,Home,4.00,1,6,20,,
";

/// The wire formats a load can use.
#[derive(Clone, Copy, Debug)]
enum Way {
    Binary,
    Text,
}

impl Way {
    fn options(self) -> LoadOptions {
        LoadOptions {
            format: match self {
                Way::Binary => CopyFormat::Binary,
                Way::Text => CopyFormat::Text,
            },
            ..test_options()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_formats_give_the_same_dimensions_and_the_documented_tie_breaks() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Few ids, two days of minutes and a lot of drift: many rows share an
    // id's newest minute, with differing attributes.
    let spec = Spec {
        rows: 20_000,
        files: 2,
        seed: 11,
        days: 2,
        stores: 5,
        products: 40,
        customers: 300,
        drift: 0.5,
        ..Spec::default()
    };
    let summary = generate_into(dir.path(), &spec).await;
    let mut files = generated_paths(dir.path(), &summary);
    let ties = dir.path().join("ties.csv");
    std::fs::write(&ties, format!("{HEADER}{TIES}")).expect("write");
    files.push(ties);
    // The second generated file again, earlier days: its rows are older
    // than what the first loads left in the dimensions.
    let older = Spec {
        start_date: "2023-12-30".parse().expect("date"),
        start_id: 500_000,
        ..spec.clone()
    };
    let older_dir = tempfile::tempdir().expect("tempdir");
    let older_summary = generate_into(older_dir.path(), &older).await;
    files.extend(generated_paths(older_dir.path(), &older_summary));

    let mut dumps = Vec::new();
    for way in [Way::Binary, Way::Text] {
        let (db, pg) = fresh_db("dimensions").await;
        let mut loader = lib_loader(&db, None, way.options());
        for file in &files {
            let report = loader
                .load(&Source::File(file.clone()))
                .await
                .unwrap_or_else(|e| panic!("{way:?}: {}: {e}", file.display()));
            assert_eq!(report.outcome, Outcome::Loaded, "{way:?}");
        }
        assert_verified(&pg).await;
        let dump = star_dump(&pg).await;
        dumps.push((way, dump));
    }
    let (_, first) = &dumps[0];
    for (way, dump) in &dumps[1..] {
        assert!(dump == first, "{way:?} differs from binary");
    }

    // The tie-breaks themselves, as the trigger's rules say: store 1 and
    // product 7 from X-0002 (the larger id at 12:00), and of its two
    // copies the attributes that sort last; customer 5 likewise; the
    // guest row gives no customer, its store still counts.
    let (db, pg) = fresh_db("dimensions_ties").await;
    let mut loader = lib_loader(&db, None, Way::Binary.options());
    let file = dir.path().join("ties.csv");
    loader.load(&Source::File(file)).await.expect("load");
    let row = pg
        .query_one(
            "SELECT s.store_name, p.product_category, p.product_price::text,
                    c.customer_age, c.customer_gender, s.source_txn
             FROM dim_stores s, dim_products p, dim_customers c
             WHERE s.store_id = 1 AND p.product_id = 7 AND c.customer_id = 5",
            &[],
        )
        .await
        .expect("dimension rows");
    let got: (String, String, String, i16, String, String) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    );
    assert_eq!(
        got,
        (
            "South".into(),
            "Drink".into(),
            "2.75".into(),
            41,
            "M".into(),
            "X-0002".into()
        )
    );
    assert_eq!(
        count(&pg, "SELECT count(*) FROM dim_customers").await,
        2,
        "customers 5 and 6; the guest is none"
    );
    let city: String = pg
        .query_one("SELECT store_city FROM dim_stores WHERE store_id = 2", &[])
        .await
        .expect("store 2")
        .get(0);
    assert_eq!(city, "Winston-Salem");
    assert_eq!(
        count(&pg, "SELECT count(*) FROM dim_dates").await,
        2,
        "2024-02-29 (only a guest's row) and 2024-03-01"
    );
}
