//! Encoder throughput on one core: generated CSV held in memory, encoded to COPY BINARY and
//! COPY TEXT, next to a bare `csv_core::Reader::read_record` loop over the same bytes (the
//! parser alone, counting records). The design's target: the encoder runs at ≥ 0.7x the bare
//! parser, so it is never the bottleneck of a load.
//!
//! The `chunk_size` group feeds the encoder in reads of 16 KiB .. 1 MiB; it is the run that
//! chose `loader::copy::READ_CHUNK`.
//!
//! Every bench asserts its row count inside the timed closure, so a parser that stops early
//! cannot post a fast number. Encoded output is dropped every `FLUSH_BYTES`, as the loader
//! hands it to the COPY task, so the output buffer stays the size it is in a real load.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use csv_core::{ReadRecordResult, Reader};
use generator::{Dataset, Spec};
use loader::copy::{FLUSH_BYTES, READ_CHUNK};
use loader::{CopyFormat, EncodeOptions, Encoder};

const ROWS: u64 = 200_000;

/// The same bytes for every bench: the generator's defaults, 200,000 rows (~26 MB).
fn input() -> Vec<u8> {
    let spec = Spec {
        rows: ROWS,
        ..Spec::default()
    };
    let dataset = Dataset::new(&spec).expect("the bench spec is valid");
    let mut csv = Vec::new();
    dataset
        .write_file(0, &mut csv, None)
        .expect("writing into a Vec cannot fail");
    csv
}

/// Counts the records (header included) with nothing but csv-core: the ceiling for any
/// parser built on it.
fn bare_records(mut input: &[u8], record: &mut [u8], ends: &mut [usize]) -> u64 {
    let mut reader = Reader::new();
    let mut records = 0;
    loop {
        let (res, nin, _, _) = reader.read_record(input, record, ends);
        input = &input[nin..];
        match res {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::Record => records += 1,
            ReadRecordResult::End => return records,
            ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {
                panic!("the bench buffers are sized for the generated rows")
            }
        }
    }
}

/// Reusable buffers of one encoding run, sized as the loader sizes them.
struct Buffers {
    /// Each piece is copied in first, as a read fills the loader's buffer: the copy is
    /// part of the loader's cost, and a smaller read buffer stays in cache.
    read: Vec<u8>,
    out: BytesMut,
}

impl Buffers {
    fn new(chunk: usize) -> Self {
        Buffers {
            read: Vec::with_capacity(chunk),
            out: BytesMut::with_capacity(FLUSH_BYTES + FLUSH_BYTES / 2),
        }
    }
}

/// Encodes `input` read in `chunk`-sized pieces, dropping the output every `FLUSH_BYTES`;
/// returns the rows encoded.
fn encode(input: &[u8], chunk: usize, format: CopyFormat, bufs: &mut Buffers) -> u64 {
    let Buffers { read, out } = bufs;
    let mut encoder = Encoder::new(EncodeOptions {
        format,
        load_id: Some(1),
        ..EncodeOptions::default()
    });
    out.clear();
    for piece in input.chunks(chunk) {
        read.clear();
        read.extend_from_slice(piece);
        encoder.encode(read, out).expect("generated data is valid");
        if out.len() >= FLUSH_BYTES {
            out.clear();
        }
    }
    encoder.finish(out).expect("generated data is valid").rows
}

fn encoder_vs_csv_core(c: &mut Criterion) {
    let csv = input();
    let mut group = c.benchmark_group("encode");
    // Bytes give MiB/s (the targets compare these), elements give rows/s.
    group.throughput(Throughput::ElementsAndBytes {
        elements: ROWS,
        bytes: csv.len() as u64,
    });
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));

    let mut record = vec![0u8; 64 * 1024];
    let mut ends = vec![0usize; 64];
    group.bench_function("csv_core_read_record", |b| {
        b.iter(|| {
            let records = bare_records(black_box(&csv), &mut record, &mut ends);
            assert_eq!(records, ROWS + 1, "header plus every row");
            records
        })
    });

    let mut bufs = Buffers::new(READ_CHUNK);
    for (name, format) in [
        ("encoder_binary", CopyFormat::Binary),
        ("encoder_text", CopyFormat::Text),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let rows = encode(black_box(&csv), READ_CHUNK, format, &mut bufs);
                assert_eq!(rows, ROWS);
                rows
            })
        });
    }
    group.finish();
}

fn chunk_size(c: &mut Criterion) {
    let csv = input();
    let mut group = c.benchmark_group("chunk_size");
    group.throughput(Throughput::Bytes(csv.len() as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(5));
    for (name, chunk) in [
        ("16KiB", 16 << 10),
        ("64KiB", 64 << 10),
        ("256KiB", 256 << 10),
        ("1MiB", 1 << 20),
    ] {
        let mut bufs = Buffers::new(chunk);
        group.bench_function(name, |b| {
            b.iter(|| {
                let rows = encode(black_box(&csv), chunk, CopyFormat::Binary, &mut bufs);
                assert_eq!(rows, ROWS);
                rows
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoder_vs_csv_core, chunk_size);
criterion_main!(benches);
