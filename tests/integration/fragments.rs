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

/// GRE datagrams fragmented at the outer IPv4 header (a tunnel over a path of smaller MTU):
/// the first fragment is followed into the tunnel, and the later one, which carries no tunnel
/// header, counts in the same inner flow, on any number of threads (the later fragment goes to
/// the shard its first fragment's inner flow went to). Each of 24 router pairs carries the same
/// inner Kerberos exchange: 24 inner flows, told apart by their tunnels.
#[test]
fn an_outer_fragment_counts_in_the_inner_flow() {
    const PAIRS: u8 = 24;
    let tmp = TempDir::new("tunfrag");
    let path = tmp.join("gre-fragmented.pcap");
    let (client, server) = ([10, 0, 0, 5], [10, 0, 0, 9]);
    let gre = |inner: &[u8]| [&[0u8, 0, 0x08, 0x00][..], inner].concat();
    let mut p = Pcap::new();
    for r in 0..PAIRS {
        // Not the same last byte on both ends: the shards fold the two addresses together.
        let (a, b) = ([192, 0, 2, r], [198, 51, 100, 100 + 3 * r]);
        // The inner request: IPv4 + UDP 1050 -> 88, 128 bytes, split after 60 of them.
        let request = eth_ipv4(client, server, 17, &udp(1050, 88, 100), 0, 1)[14..].to_vec();
        let (head, tail) = request.split_at(60);
        // Outer offset 0 with MF, then offset 8 (64 bytes: GRE's 4 and the inner 60), MF clear.
        p.record(2_000, u32::from(r) * 10, &eth_ipv4(a, b, 47, &gre(head), 0x2000, 7));
        p.record(2_000, u32::from(r) * 10 + 1, &eth_ipv4(a, b, 47, tail, 8, 7));
        let reply = eth_ipv4(server, client, 17, &udp(88, 1050, 40), 0, 2)[14..].to_vec();
        p.record(2_000, u32::from(r) * 10 + 2, &eth_ipv4(b, a, 47, &gre(&reply), 0, 8));
    }
    p.write(&path);
    let mut reports = Vec::new();
    for threads in ["1", "2", "3"] {
        let flows = tmp.join(&format!("flows-{threads}.jsonl"));
        let out = run(&[
            "read",
            "--format",
            "json",
            "--threads",
            threads,
            "--flows",
            flows.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let doc = out.json();
        check_totals(&doc);
        assert_eq!(skipped(&doc, "fragment_orphan"), 0, "{threads} threads");
        assert_eq!(doc["totals"]["fragments_attributed"], u64::from(PAIRS), "{threads} threads");
        assert_eq!(doc["totals"]["flows"], u64::from(PAIRS), "{threads} threads: one inner flow a tunnel");
        let mut records: Vec<String> =
            std::fs::read_to_string(&flows).unwrap().lines().map(str::to_owned).collect();
        records.sort();
        for line in &records {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                (r["server_ip"].as_str(), r["server_port"].as_u64()),
                (Some("10.0.0.9"), Some(88)),
                "{line}"
            );
            assert_eq!(r["service"], "Kerberos krb5", "{line}");
            assert_eq!(
                (r["packets_to_server"].as_u64(), r["packets_to_client"].as_u64()),
                (Some(2), Some(1))
            );
            assert_eq!(r["fragments"], 1, "{line}");
            assert_eq!(r["tunnel"]["kind"], "gre", "{line}");
        }
        reports.push((out.stdout, records));
    }
    assert!(reports[0] == reports[1], "the report or the records differ on 2 threads");
    assert!(reports[0] == reports[2], "the report or the records differ on 3 threads");
}
