//! The fragment table's bound on real captures: a datagram is remembered for the next 65,536
//! first fragments the input reads, on any number of threads.

use crate::support::{Pcap, TempDir, anomaly, check_totals, eth_ipv4, run, skipped, udp};

/// `flowtag::flow::MAX_FRAGMENT_ENTRIES`, written out so that a change to it is a change here.
const CAP: u32 = 65_536;
/// Datagrams of one address pair; pairs differ in the source address.
const PER_PAIR: u32 = 10;

/// `datagrams` first fragments (UDP 40000 → 2049, MF set, ids 0..PER_PAIR per pair), then
/// the last fragment of each in the same order, all within one second apart at most and so
/// well within the 30 s time to live.
fn flood(datagrams: u32) -> Pcap {
    let src = |i: u32| {
        let [_, _, hi, lo] = (i / PER_PAIR).to_be_bytes();
        [10, 1, hi, lo]
    };
    let id = |i: u32| u16::try_from(i % PER_PAIR).unwrap();
    let dst = [192, 0, 2, 1];
    let mut p = Pcap::new();
    for i in 0..datagrams {
        p.record(1_000, i * 10, &eth_ipv4(src(i), dst, 17, &udp(40_000, 2049, 8), 0x2000, id(i)));
    }
    for i in 0..datagrams {
        // Offset 2 (16 bytes, past the first fragment's 16), MF clear: the last one.
        p.record(1_001, i * 10, &eth_ipv4(src(i), dst, 17, &[0u8; 8], 2, id(i)));
    }
    p
}

/// At the cap every datagram is still remembered when its last fragment comes; past it, the
/// oldest ones are forgotten, and which ones never depends on `--threads` (the address pairs
/// are sharded across threads, the bound is not).
#[test]
fn the_bound_is_the_same_on_any_number_of_threads() {
    let tmp = TempDir::new("fragcap");
    for (datagrams, orphans) in [(CAP, 0), (CAP + 4_464, 4_464)] {
        let path = tmp.join(&format!("flood-{datagrams}.pcap"));
        flood(datagrams).write(&path);
        let mut reports = Vec::new();
        for threads in ["1", "2", "3"] {
            let out = run(&["read", "--format", "json", "--threads", threads, path.to_str().unwrap()]);
            assert_eq!(out.code, 0, "{threads} threads: {}", out.stderr);
            let doc = out.json();
            check_totals(&doc);
            let what = format!("{datagrams} datagrams, {threads} threads");
            assert_eq!(anomaly(&doc, "fragment_nonfirst"), u64::from(datagrams), "{what}");
            assert_eq!(skipped(&doc, "fragment_orphan"), u64::from(orphans), "{what}: the oldest forgotten");
            assert_eq!(doc["totals"]["fragments_attributed"], u64::from(datagrams - orphans), "{what}");
            assert_eq!(
                doc["totals"]["flows"],
                u64::from(datagrams.div_ceil(PER_PAIR)),
                "{what}: a flow a pair"
            );
            reports.push(out.stdout);
        }
        assert!(reports[0] == reports[1], "{datagrams} datagrams: the report differs on 2 threads");
        assert!(reports[0] == reports[2], "{datagrams} datagrams: the report differs on 3 threads");
    }
}
