//! Issue 17's hostile input, at the binary: a flood of distinct tunnel contexts (a forged GRE
//! key, outer address pair or VXLAN VNI in every packet, the same small packet inside) costs at
//! most `MAX_TUNNEL_ROWS` rows of the report's tunnels section, the rest together in
//! `tunnels.over_limit`; every packet is counted once; each context is its own inner flow
//! (overlays reuse private addresses, so the same 5-tuple in two tunnels is two flows); and with
//! a small `--max-flows` the flows are evicted but the packets still all counted.

use crate::support::{Pcap, TempDir, check_formats_agree, check_totals, run, service_packets};
use serde_json::Value;
use std::path::Path;

/// Distinct tunnel contexts in each flood: well past the rows' cap.
const CONTEXTS: u32 = 20_000;
/// `flowtag::stats::tunnels::MAX_TUNNEL_ROWS`.
const ROWS: usize = flowtag::stats::tunnels::MAX_TUNNEL_ROWS;

/// The packet inside every tunnel: a DNS query's worth of UDP, 10.0.0.1:40000 -> 10.0.0.2:53.
fn inner() -> Vec<u8> {
    let mut udp = vec![0x9c, 0x40, 0x00, 0x35, 0, 20, 0, 0];
    udp.extend_from_slice(&[0x12; 12]);
    ipv4([10, 0, 0, 1], [10, 0, 0, 2], 17, &udp)
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(payload);
    v
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// RFC 2890 GRE with a key (K set, protocol IPv4), or RFC 2784's bare header.
fn gre(key: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![if key.is_some() { 0x20 } else { 0 }, 0, 0x08, 0x00];
    if let Some(k) = key {
        v.extend_from_slice(&k.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// RFC 7348: UDP to 4789, flags 0x08, the VNI, then an Ethernet frame.
fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let len = u16::try_from(16 + frame.len()).unwrap();
    let mut v = vec![0xc0, 0x00, 0x12, 0xb5];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0x08, 0, 0, 0]);
    v.extend_from_slice(&(vni << 8).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// The `i`-th packet of each flood.
fn gre_key(i: u32) -> Vec<u8> {
    eth(0x0800, &ipv4([192, 0, 2, 1], [198, 51, 100, 1], 47, &gre(Some(i), &inner())))
}

fn gre_ends(i: u32) -> Vec<u8> {
    let [_, _, hi, lo] = i.to_be_bytes();
    eth(0x0800, &ipv4([172, 16, hi, lo], [198, 51, 100, 1], 47, &gre(None, &inner())))
}

fn vxlan_vni(i: u32) -> Vec<u8> {
    eth(0x0800, &ipv4([192, 0, 2, 1], [198, 51, 100, 1], 17, &vxlan(i, &eth(0x0800, &inner()))))
}

/// Writes `CONTEXTS` packets, one a millisecond.
fn flood(path: &Path, packet: fn(u32) -> Vec<u8>) {
    let mut p = Pcap::new();
    for i in 0..CONTEXTS {
        p.record(1_000_000 + i / 1000, (i % 1000) * 1000, &packet(i));
    }
    p.write(path);
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// What every flood must give: all packets counted once, as DNS, one flow per context;
/// `MAX_TUNNEL_ROWS` rows of one packet and one flow each, the rest in `over_limit`.
fn check(doc: &Value, kind: &str, max_flows: Option<u64>) {
    let t = check_totals(doc);
    let all = u64::from(CONTEXTS);
    assert_eq!(n(&t["packets"]), all, "{t}");
    assert_eq!(n(&t["skipped_packets"]), 0, "{t}");
    assert_eq!(service_packets(doc, "udp", 53), all, "every inner packet is DNS");
    assert_eq!(n(&t["flows"]), all, "each context its own flow: {t}");
    // Eviction frees room a batch at a time: all but what is held at the end, at most the cap.
    if let Some(cap) = max_flows {
        assert!(n(&t["flows_at_end"]) <= cap, "{t}");
        assert_eq!(n(&t["flows_evicted"]), all - n(&t["flows_at_end"]), "{t}");
    } else {
        assert_eq!((n(&t["flows_evicted"]), n(&t["flows_at_end"])), (0, all), "{t}");
    }
    for tag in ["tunnel_malformed", "tunnel_too_deep"] {
        assert_eq!(n(&doc["anomalies"][tag]), 0, "{tag}");
    }
    let tunnels = &doc["tunnels"];
    let rows = tunnels["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ROWS, "rows capped");
    assert!(rows.iter().all(|r| r["kind"] == kind && n(&r["packets"]) == 1 && n(&r["flows"]) == 1));
    let over = &tunnels["over_limit"];
    let rows_len = u64::try_from(ROWS).unwrap();
    assert_eq!(n(&over["packets"]), all - rows_len, "the rest together: {over}");
    assert_eq!(n(&over["flows"]), all - rows_len, "{over}");
    let bytes: u64 = rows.iter().map(|r| n(&r["bytes"])).sum::<u64>() + n(&over["bytes"]);
    assert_eq!(bytes, n(&t["bytes"]), "the section's bytes are the total's, each packet in one tunnel");
    assert!(tunnels["malformed"].as_object().unwrap().is_empty());
}

#[test]
fn flood_of_distinct_gre_keys() {
    let dir = TempDir::new("flood-gre-key");
    let path = dir.join("gre-keys.pcap");
    flood(&path, gre_key);
    let path = path.to_str().unwrap();
    // Table, JSON and CSV agree on the books (CSV and table carry the over-limit line too).
    let doc = check_formats_agree(&[path], &[]);
    check(&doc, "gre", None);
    // The CSV's tunnel rows: one per row of JSON's, and the rest together in `over_limit`.
    let csv = run(&["read", "--format", "csv", path]);
    let tunnel_rows: Vec<Vec<String>> =
        csv.stdout.lines().map(flowtag::output::csv::split_line).filter(|f| f[0] == "tunnel").collect();
    assert_eq!(tunnel_rows.len(), ROWS + 1, "the rows and over_limit");
    let over: Vec<&Vec<String>> = tunnel_rows.iter().filter(|f| f[f.len() - 6] == "over_limit").collect();
    assert_eq!(over.len(), 1);
    assert_eq!(over[0][5], (u64::from(CONTEXTS) - u64::try_from(ROWS).unwrap()).to_string());
    let keys: std::collections::HashSet<u64> =
        doc["tunnels"]["rows"].as_array().unwrap().iter().map(|r| n(&r["key"])).collect();
    assert_eq!(keys.len(), ROWS, "one row per key");
    // Sharded: each shard's book is capped, and so is their merge.
    let r = run(&["read", "--format", "json", "--threads", "2", path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    check(&r.json(), "gre", None);
}

#[test]
fn flood_of_distinct_outer_address_pairs() {
    let dir = TempDir::new("flood-gre-ends");
    let path = dir.join("gre-ends.pcap");
    flood(&path, gre_ends);
    let r = run(&["read", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    check(&doc, "gre", None);
    let ends: std::collections::HashSet<&str> =
        doc["tunnels"]["rows"].as_array().unwrap().iter().map(|r| r["a"].as_str().unwrap()).collect();
    assert_eq!(ends.len(), ROWS, "one row per outer address pair");
    let r = run(&["read", "--format", "json", "--max-flows", "1000", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    check(&r.json(), "gre", Some(1000));
}

#[test]
fn flood_of_distinct_vxlan_vnis_with_a_small_flow_table() {
    let dir = TempDir::new("flood-vxlan");
    let path = dir.join("vxlan-vnis.pcap");
    flood(&path, vxlan_vni);
    let path = path.to_str().unwrap();
    let r = run(&["read", "--format", "json", path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    check(&r.json(), "vxlan", None);
    // 1,000 flows at most: the others are evicted as new contexts come, every packet still
    // counted, once.
    let r = run(&["read", "--format", "json", "--max-flows", "1000", path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    check(&doc, "vxlan", Some(1000));
    // --tunnels outer: one VXLAN carrier flow (the outer 5-tuple never changes), no section.
    let r = run(&["read", "--format", "json", "--tunnels", "outer", path]);
    let doc = r.json();
    let t = check_totals(&doc);
    assert_eq!((n(&t["packets"]), n(&t["flows"])), (u64::from(CONTEXTS), 1), "{t}");
    assert!(doc["tunnels"]["rows"].as_array().is_none_or(Vec::is_empty), "{}", doc["tunnels"]);
}
