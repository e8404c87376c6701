//! Benchmarks of the per-packet path on real bytes held in memory: decode alone, the server
//! rule and table lookup alone (classify), the flow table alone on decoded packets, and the
//! whole pipeline (decode, flows, classification, counters), one packet at a time and in the
//! warmed batches `flowtag read` uses. The capture is
//! `fixtures/windows-lan.pcap`, or the file named by `FLOWTAG_BENCH_PCAP` (for instance a
//! capture from `../shared/bench`'s generator).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowtag::capture::{CaptureReader, OwnedFrame};
use flowtag::decode::{Anomalies, Decoded, IpPacket, PROTO_TCP, decode};
use flowtag::flow::{FlowConfig, FlowTable, WARM, transport_of};
use flowtag::pipeline::{Packets, Pipeline};
use flowtag::services::{self, Opening, ServiceTable};
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
    let packets: Vec<(IpPacket, u32, flowtag::capture::Timestamp)> = frames
        .iter()
        .filter_map(|f| {
            let frame = f.as_frame();
            match decode(&frame, &mut Anomalies::default()) {
                Decoded::Ip(ip) => Some((ip, frame.wire_len, frame.ts)),
                _ => None,
            }
        })
        .collect();
    g.bench_function("classify", |b| {
        let table = ServiceTable::embedded();
        b.iter(|| {
            for (ip, _, _) in &packets {
                let v = match ip.ports {
                    Some(p) => {
                        let opening = if ip.proto == PROTO_TCP && ip.tcp_flags.is_syn() {
                            Opening::Syn
                        } else {
                            Opening::Other
                        };
                        services::decide(table, transport_of(ip.proto), p.src, p.dst, opening)
                    }
                    None => services::decide_ip(table, ip.proto),
                };
                black_box(v);
            }
        });
    });
    g.bench_function("flow table", |b| {
        b.iter(|| {
            let mut t = FlowTable::new(ServiceTable::embedded(), FlowConfig::default());
            for &(ip, len, ts) in &packets {
                t.advance(ts);
                black_box(t.observe(&ip, ts, len, |_, _| 0));
                t.drain_ended().for_each(drop);
            }
            black_box(t.counters.created);
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
    g.bench_function("pipeline, warmed batches", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(ServiceTable::embedded(), FlowConfig::default());
            let mut ended = 0u64;
            let mut batch = Packets::with_capacity(WARM);
            for f in &frames {
                let frame = f.as_frame();
                let (packet, payload) = p.decode(&frame);
                batch.push(packet, payload, &p.reader.chain);
                if batch.len() == WARM {
                    p.push_batch(&batch, &mut |_| ended += 1);
                    batch.clear();
                }
            }
            p.push_batch(&batch, &mut |_| ended += 1);
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
