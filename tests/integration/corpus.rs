//! The shared corpus: 60 real captures, with figures derived independently with tshark
//! (`../shared/corpus/expected/HOW.md`). For every file: the packet total equals tshark's
//! frames; per unordered 5-tuple of the innermost TCP/UDP header (tshark's `inner` view:
//! tunnels opened, flowtag's default), packets and frame bytes equal tshark's (flows sharing a
//! 5-tuple summed on both sides; non-first fragments, which tshark counts apart and we count in
//! their datagram's flow, are the only allowed surplus); damaged files exit 4 with tshark's
//! packets; the totals add up. With `--tunnels outer`, the files whose views differ match
//! tshark's `outer` view (the outermost header) the same way.
//!
//! One difference is by design: tshark does not open ESP in UDP (RFC 3948; `udp:udpencap:esp`)
//! and counts it in its UDP flow; flowtag makes it an ESP flow of its own, whose record names
//! that UDP flow as its tunnel, and it is counted back there.

use crate::support::{check_totals, run, shared};
use std::collections::BTreeMap;
use std::net::IpAddr;

type TupleKey = (String, (IpAddr, u16), (IpAddr, u16));

fn key(transport: &str, a: (IpAddr, u16), b: (IpAddr, u16)) -> TupleKey {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (transport.to_owned(), lo, hi)
}

fn tsv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .map(|l| header.iter().map(|h| (*h).to_owned()).zip(l.split('\t').map(str::to_owned)).collect())
        .collect()
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    packets: u64,
    bytes: u64,
    fragments: u64,
}

#[test]
fn corpus_matches_tshark() {
    matches_tshark("inner", &[]);
}

/// The files whose outer and inner views differ (the tunnelled ones), with `--tunnels outer`.
#[test]
fn corpus_outer_view_matches_tshark() {
    matches_tshark("outer", &["--tunnels", "outer"]);
}

fn matches_tshark(view: &str, args: &[&str]) {
    let Some(dir) = shared("corpus") else { return };
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let mut manifest = tsv(&read("MANIFEST.tsv"));
    assert_eq!(manifest.len(), 60, "the corpus has 60 captures");
    let summary: BTreeMap<String, BTreeMap<String, String>> =
        tsv(&read("expected/summary.tsv")).into_iter().map(|r| (r["file"].clone(), r)).collect();
    let flows = tsv(&read("expected/flows.tsv"));
    if view == "outer" {
        // The inner view is checked on every file; the outer one where it says something else.
        let line = |r: &BTreeMap<String, String>| {
            let mut r = r.clone();
            r.remove("view");
            r.remove("tshark_stream");
            r
        };
        let of = |v: &str, f: &str| -> Vec<_> {
            flows.iter().filter(|r| r["view"] == v && r["file"] == f).map(line).collect()
        };
        manifest.retain(|m| of("inner", &m["file"]) != of("outer", &m["file"]));
        let names: Vec<&str> = manifest.iter().map(|m| m["file"].as_str()).collect();
        assert_eq!(names, ["ndpi__vxlan.pcap", "zeek__Teredo.pcap", "zeek__gre-sample.pcap"]);
    }
    let mut expected: BTreeMap<String, BTreeMap<TupleKey, Tally>> = BTreeMap::new();
    for r in &flows {
        if r["view"] != view {
            continue;
        }
        let ip = |k: &str| r[k].parse::<IpAddr>().unwrap();
        let port = |k: &str| r[k].parse::<u16>().unwrap();
        let k = key(
            &r["transport"],
            (ip("first_src"), port("first_sport")),
            (ip("first_dst"), port("first_dport")),
        );
        let t = expected.entry(r["file"].clone()).or_default().entry(k).or_default();
        t.packets += r["packets"].parse::<u64>().unwrap();
        t.bytes += r["frame_bytes"].parse::<u64>().unwrap();
    }
    let tmp = std::env::temp_dir().join(format!("flowtag-corpus-{view}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut failures: Vec<String> = Vec::new();
    let mut matched = 0;
    for m in &manifest {
        let file = &m["file"];
        let expect = &summary[file];
        let flows_path = tmp.join(format!("{file}.jsonl"));
        let path = dir.join(file);
        let mut command =
            vec!["read", "--format", "json", "--flows", flows_path.to_str().unwrap(), path.to_str().unwrap()];
        command.extend_from_slice(args);
        let out = run(&command);
        let mut problems = Vec::new();
        let damaged = expect["tshark_status"].starts_with("rc=");
        let want_code = if damaged { 4 } else { 0 };
        if out.code != want_code {
            problems.push(format!("exit {} (want {want_code}): {}", out.code, out.stderr.trim()));
        }
        let doc = out.json();
        let totals = check_totals(&doc);
        let frames: u64 = expect["frames"].parse().unwrap();
        let frame_bytes: u64 = expect["frame_bytes"].parse().unwrap();
        if totals["packets"] != frames || totals["bytes"] != frame_bytes {
            problems.push(format!(
                "packets {} bytes {} (tshark: {frames} frames, {frame_bytes} bytes)",
                totals["packets"], totals["bytes"]
            ));
        }
        if damaged && !out.stderr.contains(&format!("after {frames} packets")) {
            problems
                .push(format!("damage message should say 'after {frames} packets': {}", out.stderr.trim()));
        }
        // Our flow records, summed per unordered 5-tuple (any VLAN).
        let mut ours: BTreeMap<TupleKey, Tally> = BTreeMap::new();
        for line in std::fs::read_to_string(&flows_path).unwrap().lines() {
            let f: serde_json::Value = serde_json::from_str(line).unwrap();
            let end = |o: &serde_json::Value, ip: &str, port: &str| {
                (
                    o[ip].as_str().unwrap().parse::<IpAddr>().unwrap(),
                    u16::try_from(o[port].as_u64().unwrap()).unwrap(),
                )
            };
            let t = &f["tunnel"];
            let k = if t["kind"] == "nat_t" {
                // ESP taken out of its UDP flow, which tshark counts it in (see above).
                key("udp", end(t, "client_ip", "client_port"), end(t, "server_ip", "server_port"))
            } else if f["transport"] == "ip" {
                continue;
            } else {
                let transport = f["transport"].as_str().unwrap();
                key(transport, end(&f, "client_ip", "client_port"), end(&f, "server_ip", "server_port"))
            };
            let t = ours.entry(k).or_default();
            let n = |k: &str| f[k].as_u64().unwrap();
            t.packets += n("packets_to_server") + n("packets_to_client");
            t.bytes += n("bytes_to_server") + n("bytes_to_client");
            t.fragments += n("fragments");
        }
        let want = expected.remove(file).unwrap_or_default();
        for (k, w) in &want {
            match ours.get(k) {
                None => problems.push(format!("tshark flow {k:?} ({} packets) missing", w.packets)),
                Some(o) if o.packets - o.fragments != w.packets => {
                    problems.push(format!(
                        "{k:?}: {} packets ({} fragments), tshark {}",
                        o.packets, o.fragments, w.packets
                    ));
                }
                Some(o) if o.fragments == 0 && o.bytes != w.bytes => {
                    problems.push(format!("{k:?}: {} bytes, tshark {}", o.bytes, w.bytes));
                }
                Some(_) => {}
            }
        }
        for (k, o) in &ours {
            if !want.contains_key(k) && o.packets != o.fragments {
                problems.push(format!("flow {k:?} ({} packets) not in tshark's view", o.packets));
            }
        }
        if problems.is_empty() {
            matched += 1;
        } else {
            failures.push(format!("{file}:\n    {}", problems.join("\n    ")));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("corpus ({view} view): {matched}/{} files match tshark", manifest.len());
    assert!(
        failures.is_empty(),
        "{} of {} files differ from tshark:\n{}",
        failures.len(),
        manifest.len(),
        failures.join("\n")
    );
}

/// `--threads` changes how the work is spread, never the report: every corpus capture gives
/// the same JSON and the same set of flow records on 1, 2 and 3 threads.
#[test]
fn threads_give_the_same_results() {
    let Some(dir) = shared("corpus") else { return };
    let tmp = std::env::temp_dir().join(format!("flowtag-threads-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 60);
    for path in &files {
        let mut outputs = Vec::new();
        for threads in ["1", "2", "3"] {
            let flows = tmp.join(format!("{threads}.jsonl"));
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
            let mut records: Vec<String> =
                std::fs::read_to_string(&flows).unwrap().lines().map(str::to_owned).collect();
            records.sort();
            outputs.push((out.code, out.stdout, records));
        }
        // Compared whole, reported briefly: the documents are long.
        for (n, other) in [(2, &outputs[1]), (3, &outputs[2])] {
            assert!(outputs[0].0 == other.0, "{}: exit code differs on {n} threads", path.display());
            assert!(outputs[0].1 == other.1, "{}: JSON report differs on {n} threads", path.display());
            assert!(outputs[0].2 == other.2, "{}: flow records differ on {n} threads", path.display());
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
