//! Generator throughput: CSV bytes per second of one file written into `std::io::sink()`, on
//! one core. The row count is asserted inside the timed closure, so a generator that skips
//! rows cannot post a fast number.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use generator::{Dataset, Spec};

const ROWS: u64 = 200_000;

fn bench_spec(c: &mut Criterion, name: &str, spec: Spec) {
    let dataset = Dataset::new(&spec).expect("the bench spec is valid");
    // One untimed run gives the exact byte count for the throughput figure.
    let probe = dataset
        .write_file(0, std::io::sink(), None)
        .expect("writing into a sink cannot fail");
    let figures = probe.summary.figures;

    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Bytes(figures.csv_bytes));
    group.sample_size(20);
    group.bench_function(name, |b| {
        b.iter(|| {
            let outcome = dataset
                .write_file(0, black_box(std::io::sink()), None)
                .expect("writing into a sink cannot fail");
            let written = &outcome.summary.figures;
            assert_eq!(written.rows + written.bad_rows, ROWS);
            assert_eq!(written.csv_bytes, figures.csv_bytes);
            outcome
        })
    });
    group.finish();
}

fn generate(c: &mut Criterion) {
    let plain = Spec {
        rows: ROWS,
        ..Spec::default()
    };
    bench_spec(c, "defaults", plain.clone());
    bench_spec(
        c,
        "drift_5pct_dirty_1pct",
        Spec {
            drift: 0.05,
            dirty: 0.01,
            ..plain
        },
    );
}

criterion_group!(benches, generate);
criterion_main!(benches);
