//! Benchmarks of the per-packet path on real bytes held in memory: decode alone, and decode +
//! flows + classification + counters (the whole pipeline). The capture is
//! `fixtures/windows-lan.pcap`, or the file named by `FLOWTAG_BENCH_PCAP` (for instance a
//! capture from `../shared/bench`'s generator).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowtag::capture::{CaptureReader, OwnedFrame};
use flowtag::decode::{Anomalies, decode};
use flowtag::flow::FlowConfig;
use flowtag::pipeline::Pipeline;
use flowtag::services::ServiceTable;
use std::hint::black_box;
use std::path::PathBuf;

fn load() -> (String, Vec<OwnedFrame>) {
    let path = std::env::var_os("FLOWTAG_BENCH_PCAP").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/windows-lan.pcap")),
        PathBuf::from,
    );
    let mut r = CaptureReader::open(&path).unwrap();
    let mut v = Vec::new();
    while let Ok(Some(f)) = r.next_frame() {
        v.push(f.to_owned_frame());
    }
    (path.display().to_string(), v)
}

fn benches(c: &mut Criterion) {
    let (name, frames) = load();
    let mut g = c.benchmark_group(format!("{} packets of {name}", frames.len()));
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut a = Anomalies::default();
            for f in &frames {
                black_box(decode(&f.as_frame(), &mut a));
            }
        });
    });
    g.bench_function("pipeline", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(ServiceTable::embedded(), FlowConfig::default());
            let mut ended = 0u64;
            for f in &frames {
                p.push(&f.as_frame(), &mut |_| ended += 1);
            }
            p.finish(&mut |_| ended += 1);
            black_box((ended, p.stats.total));
        });
    });
    g.finish();
}

criterion_group! {
    name = pipeline;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(pipeline);
