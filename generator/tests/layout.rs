//! File names, header, rows per file, id continuity, and the shape of every value.

mod common;

use std::collections::HashSet;

use common::{files, id_number, records, run};
use generator::{Date, Spec, COLUMNS, HEADER};

const HEADER_LINE: &str = "Transaction_ID,Transaction_Date,Transaction_Time,Total_Amount,\
Payment_Method,Store_ID,Store_Name,Store_Location,Product_ID,Product_Name,Product_Category,\
Product_Price,Quantity_Sold,Customer_ID,Customer_Age,Customer_Gender,Customer_Membership\n";

#[tokio::test]
async fn every_file_starts_with_the_exact_header_and_uses_lf() {
    let (dir, _) = run(&Spec {
        rows: 1_001,
        files: 4,
        ..Spec::default()
    })
    .await;
    let files = files(dir.path());
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "part-00001.csv",
            "part-00002.csv",
            "part-00003.csv",
            "part-00004.csv"
        ]
    );
    assert_eq!(format!("{HEADER}\n"), HEADER_LINE);
    assert_eq!(COLUMNS.len(), 17);
    for (name, bytes) in &files {
        assert!(bytes.starts_with(HEADER_LINE.as_bytes()), "{name}");
        assert!(!bytes.contains(&b'\r'), "{name} has a CR");
        assert!(bytes.ends_with(b"\n"), "{name} does not end with LF");
    }
}

#[tokio::test]
async fn rows_split_evenly_and_ids_are_contiguous_from_start_id() {
    let spec = Spec {
        rows: 1_003,
        files: 4,
        start_id: 999_990,
        ..Spec::default()
    };
    let (dir, summary) = run(&spec).await;
    let mut expected_id = spec.start_id;
    let mut counts = Vec::new();
    for (name, bytes) in files(dir.path()) {
        let rows = records(&bytes);
        counts.push(rows.len() - 1);
        for record in &rows[1..] {
            assert_eq!(id_number(&record[0]), expected_id, "{name}");
            expected_id += 1;
        }
    }
    assert_eq!(counts, [251, 251, 251, 250]);
    assert_eq!(expected_id, spec.start_id + spec.rows);
    assert_eq!(summary.total.rows, spec.rows);
    assert_eq!(summary.total.min_transaction_id, Some(999_990));
    assert_eq!(summary.total.max_transaction_id, Some(999_990 + 1_002));
    let per_file: Vec<u64> = summary.files.iter().map(|f| f.figures.rows).collect();
    assert_eq!(per_file, [251, 251, 251, 250]);
}

#[tokio::test]
async fn ids_are_padded_to_six_digits_and_grow_wider() {
    let (dir, _) = run(&Spec {
        rows: 3,
        start_id: 999_999,
        ..Spec::default()
    })
    .await;
    let bytes = &files(dir.path())["part-00001.csv"];
    let ids: Vec<String> = records(bytes)[1..]
        .iter()
        .map(|r| r[0].to_string())
        .collect();
    assert_eq!(ids, ["TXN999999", "TXN1000000", "TXN1000001"]);
    let (dir, _) = run(&Spec {
        rows: 1,
        ..Spec::default()
    })
    .await;
    assert_eq!(
        &records(&files(dir.path())["part-00001.csv"])[1][0],
        "TXN000001"
    );
}

#[tokio::test]
async fn more_files_than_rows_gives_header_only_files() {
    let (dir, summary) = run(&Spec {
        rows: 2,
        files: 3,
        ..Spec::default()
    })
    .await;
    let files = files(dir.path());
    assert_eq!(files["part-00003.csv"], HEADER_LINE.as_bytes());
    assert_eq!(summary.files[2].figures.rows, 0);
    assert_eq!(summary.files[2].figures.min_transaction_id, None);
}

#[tokio::test]
async fn values_have_the_documented_shapes() {
    let spec = Spec {
        rows: 30_000,
        start_date: "2023-11-15".parse().expect("valid date"),
        days: 30,
        stores: 20,
        products: 300,
        customers: 5_000,
        ..Spec::default()
    };
    let (dir, _) = run(&spec).await;
    let first_day = spec.start_date;
    let last_day = first_day.add_days(29).expect("valid");
    let payments: HashSet<&str> = ["Cash", "Credit Card", "Debit Card", "Mobile Payment"].into();
    let categories: HashSet<&str> = [
        "Electronics",
        "Clothing",
        "Groceries",
        "Home & Kitchen",
        "Beauty",
        "Sports",
        "Toys",
        "Books",
    ]
    .into();
    let genders: HashSet<&str> = ["Male", "Female", "Other"].into();
    let memberships: HashSet<&str> = ["None", "Bronze", "Silver", "Gold", "Platinum"].into();
    let mut guests = 0;
    let mut dates = HashSet::new();
    let bytes = &files(dir.path())["part-00001.csv"];
    let rows = records(bytes);
    for r in &rows[1..] {
        let date: Date = r[1].parse().expect("valid date");
        assert!(date >= first_day && date <= last_day, "{date}");
        dates.insert(date);
        let time = r[2].as_bytes();
        assert_eq!(time.len(), 8);
        assert_eq!(&r[2][5..], ":00", "seconds are always 00");
        let hour: u32 = r[2][..2].parse().expect("hour");
        let minute: u32 = r[2][3..5].parse().expect("minute");
        assert!((6..=22).contains(&hour) && minute < 60, "{}", &r[2]);
        assert!(payments.contains(&r[4]), "{}", &r[4]);
        let store: u32 = r[5].parse().expect("store id");
        assert!((1..=20).contains(&store));
        assert!(!r[6].is_empty());
        let (city, state) = r[7].rsplit_once("- ").expect("City- State");
        assert!(!city.is_empty() && state.len() == 2, "{}", &r[7]);
        let product: u32 = r[8].parse().expect("product id");
        assert!((1..=300).contains(&product));
        assert!(categories.contains(&r[10]), "{}", &r[10]);
        let price = common::cents(&r[11]).expect("price with two decimals");
        assert!((50..=99_999).contains(&price));
        let qty: i64 = r[12].parse().expect("quantity");
        assert!((1..=10).contains(&qty));
        assert_eq!(common::cents(&r[3]), Some(price * qty), "Total_Amount");
        if r[13].is_empty() {
            guests += 1;
            assert!(r[14].is_empty() && r[15].is_empty() && r[16].is_empty());
        } else {
            let customer: u32 = r[13].parse().expect("customer id");
            assert!((1..=5_000).contains(&customer));
            let age: u32 = r[14].parse().expect("age");
            assert!((18..=80).contains(&age));
            assert!(genders.contains(&r[15]));
            assert!(memberships.contains(&r[16]));
        }
    }
    assert_eq!(dates.len(), 30, "every day of the range appears");
    let guest_share = f64::from(guests) / 30_000.0;
    assert!((0.02..0.04).contains(&guest_share), "{guest_share}");
    let hyphenated = rows[1..].iter().any(|r| {
        r[7].rsplit_once("- ")
            .is_some_and(|(city, _)| city.contains('-'))
    });
    assert!(hyphenated, "some city names hold a hyphen");
}
