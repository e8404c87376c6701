//! The project's own fixtures (`fixtures/README.md`): every flow the generator wrote, with its
//! packets and bytes each way and its service, must come out of `flowtag read`; the demo
//! capture's per-port figures match the generator's own count; table and JSON reports are
//! snapshots (insta), so a change in them is reviewed, not silently accepted.

use crate::support::{check_totals, fixture, run};
use std::collections::BTreeMap;

fn tsv(name: &str) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines.next().unwrap().split('\t').map(str::to_owned).collect();
    lines.map(|l| header.iter().cloned().zip(l.split('\t').map(str::to_owned)).collect()).collect()
}

/// `ip:port`, `[v6]:port` or a bare address, as the generator writes them.
fn endpoint(ip: &str, port: Option<u64>) -> String {
    match port {
        Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
        Some(p) => format!("{ip}:{p}"),
        None => ip.to_owned(),
    }
}

/// Every word of the generator's short label appears in our service name ("NetBT sessions" in
/// "NetBT service sessions"); "unknown" means no service.
fn label_matches(short: &str, ours: Option<&str>) -> bool {
    match (short, ours) {
        ("unknown" | "-", None) => true,
        (_, Some(name)) => short.split_whitespace().all(|w| name.to_lowercase().contains(&w.to_lowercase())),
        _ => false,
    }
}

/// A flow's innermost tunnel as written, and how many it came through.
type TunnelText = Option<(String, u64)>;

/// A flow record's innermost tunnel as `expected.tsv` writes one (`kind a>b`, ` key=K` for a
/// GRE key, ` vni=V` for VXLAN), and how many tunnels it came through; `None` for none, and
/// for ESP out of NAT-T, which `expected.tsv` writes as its UDP flow.
fn innermost_tunnel(t: &serde_json::Value) -> TunnelText {
    let kind = t["kind"].as_str().filter(|k| *k != "nat_t")?;
    let key = match (kind, t["key"].as_u64()) {
        ("vxlan", Some(k)) => format!(" vni={k}"),
        (_, Some(k)) => format!(" key={k}"),
        (_, None) => String::new(),
    };
    let text = format!("{kind} {}>{}{key}", t["client_ip"].as_str()?, t["server_ip"].as_str()?);
    Some((text, t["depth"].as_u64()?))
}

/// `expected.tsv`'s tunnel column (outermost first, `; ` between, `-` for none) as
/// [`innermost_tunnel`] gives it.
fn expected_tunnel(column: &str) -> TunnelText {
    let all: Vec<&str> = column.split("; ").filter(|t| *t != "-").collect();
    Some(((*all.last()?).to_owned(), all.len() as u64))
}

/// (transport, client, server, [packets, bytes to server, packets, bytes to client], label).
type FlowRow<L> = (String, String, String, [u64; 4], L);

/// Puts the lower endpoint first when both ends use the same port (see the caller).
fn orient(client: &mut String, server: &mut String, counts: &mut [u64; 4]) {
    let port = |e: &str| e.rsplit(':').next().map(str::to_owned);
    if port(client) == port(server) && client > server {
        std::mem::swap(client, server);
        *counts = [counts[2], counts[3], counts[0], counts[1]];
    }
}

#[test]
fn every_fixture_flow_comes_out_exactly() {
    let files = tsv("files.tsv");
    let expected = tsv("expected.tsv");
    assert!(files.len() >= 30, "fixtures/files.tsv lists {} files", files.len());
    let tmp = std::env::temp_dir().join(format!("flowtag-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut failures = Vec::new();
    for f in &files {
        let name = &f["file"];
        let flows_path = tmp.join(format!("{name}.jsonl"));
        let out = run(&[
            "read",
            "--format",
            "json",
            "--flows",
            flows_path.to_str().unwrap(),
            fixture(name).to_str().unwrap(),
        ]);
        let want_code = if f["damage"] == "none" { 0 } else { 4 };
        let mut problems = Vec::new();
        if out.code != want_code {
            problems.push(format!("exit {} (want {want_code}): {}", out.code, out.stderr.trim()));
        }
        let doc = out.json();
        let totals = check_totals(&doc);
        if totals["packets"] != f["packets"].parse::<u64>().unwrap()
            || totals["bytes"] != f["wire_bytes"].parse::<u64>().unwrap()
        {
            problems.push(format!(
                "packets {} bytes {} (want {} and {})",
                totals["packets"], totals["bytes"], f["packets"], f["wire_bytes"]
            ));
        }
        // (transport, client, server, packets and bytes each way, label) of every flow, as a sorted list.
        let mut ours: Vec<FlowRow<(Option<String>, TunnelText)>> = Vec::new();
        for line in std::fs::read_to_string(&flows_path).unwrap().lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let transport = match r["transport"].as_str().unwrap() {
                "ip" if r["ip_proto"] == 50 => "esp",
                "ip" if r["ip_proto"] == 47 => "gre",
                "ip" => continue,
                t => t,
            };
            let n = |k: &str| r[k].as_u64().unwrap();
            let t = &r["tunnel"];
            // ESP out of NAT-T is written with its UDP flow's ends.
            let ends = if t["kind"] == "nat_t" { t } else { &r };
            ours.push((
                transport.to_owned(),
                endpoint(ends["client_ip"].as_str().unwrap(), ends["client_port"].as_u64()),
                endpoint(ends["server_ip"].as_str().unwrap(), ends["server_port"].as_u64()),
                [n("packets_to_server"), n("bytes_to_server"), n("packets_to_client"), n("bytes_to_client")],
                (r["service"].as_str().map(str::to_owned), innermost_tunnel(t)),
            ));
        }
        let mut want = Vec::new();
        let mut orphans = 0;
        for e in expected.iter().filter(|e| &e["file"] == name) {
            let n = |k: &str| e[k].parse::<u64>().unwrap_or(0);
            match e["transport"].as_str() {
                "orphan_fragment" => orphans += n("packets_to_server"),
                "other_ip" | "non_ip" => {
                    let key = format!("{}_packets", e["transport"]);
                    if totals[&key] != n("packets_to_server") {
                        problems.push(format!("{key} {} (want {})", totals[&key], n("packets_to_server")));
                    }
                }
                t => want.push((
                    t.to_owned(),
                    e["client"].clone(),
                    e["server"].clone(),
                    [
                        n("packets_to_server"),
                        n("bytes_to_server"),
                        n("packets_to_client"),
                        n("bytes_to_client"),
                    ],
                    (e["service"].clone(), expected_tunnel(&e["tunnel"])),
                )),
            }
        }
        if totals["skipped"]["fragment_orphan"] != orphans {
            problems
                .push(format!("fragment_orphan {} (want {orphans})", totals["skipped"]["fragment_orphan"]));
        }
        // With the same port on both sides and one direction seen, which end is the server is
        // a convention (the first packet's destination): compare those flows either way round.
        for f in &mut ours {
            orient(&mut f.1, &mut f.2, &mut f.3);
        }
        for f in &mut want {
            orient(&mut f.1, &mut f.2, &mut f.3);
        }
        ours.sort();
        want.sort();
        let ours_cmp: Vec<_> = ours.iter().map(|o| (&o.0, &o.1, &o.2, o.3)).collect();
        let want_cmp: Vec<_> = want.iter().map(|w| (&w.0, &w.1, &w.2, w.3)).collect();
        if ours_cmp == want_cmp {
            for (o, w) in ours.iter().zip(&want) {
                if !label_matches(&w.4.0, o.4.0.as_deref()) {
                    problems
                        .push(format!("{} {} -> {}: service {:?}, want {:?}", o.0, o.1, o.2, o.4.0, w.4.0));
                }
                if o.4.1 != w.4.1 {
                    problems
                        .push(format!("{} {} -> {}: tunnel {:?}, want {:?}", o.0, o.1, o.2, o.4.1, w.4.1));
                }
            }
        } else {
            problems.push(format!("flows differ:\n      ours {ours_cmp:?}\n      want {want_cmp:?}"));
        }
        let awaiting = AWAITING.contains(&name.as_str());
        match (problems.is_empty(), awaiting) {
            (false, false) => failures.push(format!("{name}:\n    {}", problems.join("\n    "))),
            (false, true) => {
                eprintln!("fixtures: {name} awaits work not built yet:\n    {}", problems.join("\n    "));
            }
            (true, true) => {
                failures.push(format!("{name}: comes out right now; take it off AWAITING"));
            }
            (true, false) => {}
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Fixtures whose flows only what is not built yet can label: each must still come out
/// wrong, and says how, so that the list shrinks as the work lands instead of hiding a fixture
/// that broke.
const AWAITING: &[&str] = &[];

#[test]
fn demo_capture_matches_the_generators_count_per_port() {
    let path = fixture("windows-lan.pcap");
    let tmp = std::env::temp_dir().join(format!("flowtag-lan-{}.jsonl", std::process::id()));
    let out = run(&["read", "--format", "json", "--flows", tmp.to_str().unwrap(), path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let totals = check_totals(&doc);
    let mut ours: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    for line in std::fs::read_to_string(&tmp).unwrap().lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let (transport, port) = match (r["transport"].as_str().unwrap(), r["ip_proto"].as_u64().unwrap()) {
            ("ip", 50) => ("esp".to_owned(), "-".to_owned()),
            ("ip", _) => continue,
            (t, _) => (t.to_owned(), r["server_port"].to_string()),
        };
        let e = ours.entry((transport, port)).or_default();
        e[0] += 1;
        e[1] += r["packets_to_server"].as_u64().unwrap() + r["packets_to_client"].as_u64().unwrap();
        e[2] += r["bytes_to_server"].as_u64().unwrap() + r["bytes_to_client"].as_u64().unwrap();
    }
    let _ = std::fs::remove_file(&tmp);
    let mut want: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
    for r in tsv("windows-lan.expected.tsv") {
        let n = |k: &str| r[k].parse::<u64>().unwrap();
        match r["transport"].as_str() {
            "other_ip" => assert_eq!(totals["other_ip_packets"], n("packets")),
            "non_ip" => assert_eq!(totals["non_ip_packets"], n("packets")),
            t => {
                want.insert((t.to_owned(), r["server_port"].clone()), [n("flows"), n("packets"), n("bytes")]);
            }
        }
    }
    assert_eq!(ours, want, "per (transport, server port): flows, packets, bytes");
}

/// The report of a fixture, read by its path relative to the project, version taken out.
fn report(format: &str, file: &str) -> String {
    let out = crate::support::flowtag()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["read", "--format", format, &format!("fixtures/{file}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(concat!("flowtag ", env!("CARGO_PKG_VERSION")), "flowtag [version]")
}

#[test]
fn demo_table_report_snapshot() {
    insta::assert_snapshot!("windows-lan.table", report("table", "windows-lan.pcap"));
}

#[test]
fn demo_json_report_snapshot() {
    let mut doc: serde_json::Value = serde_json::from_str(&report("json", "windows-lan.pcap")).unwrap();
    doc["generator"] = "flowtag [version]".into();
    insta::assert_json_snapshot!("windows-lan.json", doc);
}

#[test]
fn demo_csv_agrees_with_json() {
    let doc: serde_json::Value = serde_json::from_str(&report("json", "windows-lan.pcap")).unwrap();
    let csv = report("csv", "windows-lan.pcap");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut packets = 0;
    let mut service_bytes = BTreeMap::new();
    for l in lines {
        let f = flowtag::output::csv::split_line(l);
        assert_eq!(f.len(), header.len(), "fixed column count: {l}");
        packets += f[col("packets")].parse::<u64>().unwrap();
        if f[col("kind")] == "service" {
            service_bytes
                .insert((f[col("service")].clone(), f[col("transport")].clone()), f[col("bytes")].clone());
        }
    }
    assert_eq!(doc["totals"]["packets"], packets, "the CSV's packets add up to the total");
    for s in doc["services"].as_array().unwrap() {
        let k = (s["service"].as_str().unwrap().to_owned(), s["transport"].as_str().unwrap().to_owned());
        assert_eq!(service_bytes[&k], s["bytes"].to_string(), "{k:?}");
    }
}

#[test]
fn filter_counts_what_it_leaves_out() {
    let path = fixture("windows-lan.pcap");
    let all = run(&["read", "--format", "json", path.to_str().unwrap()]).json();
    let out = run(&["read", "--format", "json", "--filter", "tcp port 445", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    check_totals(&doc);
    let smb = |d: &serde_json::Value| crate::support::service_packets(d, "tcp", 445);
    assert_eq!(smb(&doc), smb(&all));
    assert_eq!(doc["totals"]["packets"], smb(&all), "only port 445 is counted");
    assert_eq!(
        doc["totals"]["filtered_out"].as_u64().unwrap() + smb(&all),
        all["totals"]["packets"].as_u64().unwrap()
    );
}

#[test]
fn stdin_reads_like_the_file() {
    let path = fixture("windows-lan.pcap");
    let file = run(&["read", "--format", "json", path.to_str().unwrap()]).json();
    let out = crate::support::flowtag()
        .args(["read", "--format", "json", "-"])
        .pipe_stdin(&path)
        .unwrap()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stdin["totals"], file["totals"]);
    assert_eq!(stdin["services"], file["services"]);
}

#[test]
fn eviction_keeps_service_counters_exact() {
    let path = fixture("windows-lan.pcap");
    let all = run(&["read", "--format", "json", path.to_str().unwrap()]).json();
    let out = run(&["read", "--format", "json", "--max-flows", "5", path.to_str().unwrap()]);
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("flow table full (5 flows)"), "{}", out.stderr);
    let capped = out.json();
    check_totals(&capped);
    assert!(capped["totals"]["flows_evicted"].as_u64().unwrap() > 0);
    let rows = |d: &serde_json::Value| -> BTreeMap<(String, String), (u64, u64)> {
        d["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let k =
                    (s["service"].as_str().unwrap().to_owned(), s["transport"].as_str().unwrap().to_owned());
                (k, (s["packets"].as_u64().unwrap(), s["bytes"].as_u64().unwrap()))
            })
            .collect()
    };
    assert_eq!(rows(&capped), rows(&all), "per-service packets and bytes do not depend on the flow table");
    // Unknown ports too (the ghosts themselves are tested in `flow::tests`: no flow of this
    // capture needs one to resume where it was).
    let unknown = |d: &serde_json::Value| -> BTreeMap<(String, u64), (u64, u64)> {
        d["unknown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                let k = (u["transport"].as_str().unwrap().to_owned(), u["port"].as_u64().unwrap());
                (k, (u["packets"].as_u64().unwrap(), u["bytes"].as_u64().unwrap()))
            })
            .collect()
    };
    assert!(!unknown(&all).is_empty());
    assert_eq!(unknown(&capped), unknown(&all), "per-port packets and bytes do not depend on the flow table");
}

#[test]
fn handshake_outcomes_of_the_syn_fixtures() {
    // (file, unknown row's transport and port, answered, unanswered, refused, midstream)
    for (file, port, want) in [
        ("syn-unanswered-1026.pcap", 1026, [0, 1, 0, 0]),
        ("syn-refused-1027.pcap", 1027, [0, 0, 1, 0]),
        ("midstream-unknown-40000.pcap", 40000, [0, 0, 0, 1]),
    ] {
        let out = run(&["read", "--format", "json", fixture(file).to_str().unwrap()]);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        let doc = out.json();
        check_totals(&doc);
        assert_eq!(
            doc["services"].as_array().map(Vec::len),
            Some(0),
            "{file}: no service, a range port unanswered"
        );
        let row = &doc["unknown"][0];
        assert_eq!((row["transport"].as_str(), row["port"].as_u64()), (Some("tcp"), Some(port)), "{file}");
        let h = &row["handshakes"];
        let got = ["answered", "unanswered", "refused", "midstream"].map(|k| h[k].as_u64().unwrap_or(99));
        assert_eq!(got, want, "{file}");
    }
    // The answered handshake to a range port carries a DCE/RPC bind: RPC, not the range's
    // SQL session; answered, and the unknown row it started in is not shown.
    let doc =
        run(&["read", "--format", "json", fixture("handshake-dynamic-1026.pcap").to_str().unwrap()]).json();
    assert_eq!(doc["services"][0]["service"], "RPC session ports");
    assert_eq!(doc["services"][0]["handshakes"]["answered"], 1);
    assert_eq!(doc["unknown"].as_array().map(Vec::len), Some(0), "the row it left is not shown");
    // An LLMNR answer seen first counts under udp/5355, not under the asker's port.
    let doc =
        run(&["read", "--format", "json", fixture("llmnr-reply-first-5355.pcap").to_str().unwrap()]).json();
    assert_eq!(
        (doc["unknown"][0]["port"].as_u64(), doc["unknown"][0]["name"].as_str()),
        (Some(5355), Some("llmnr"))
    );
    assert!(doc["unknown"][0]["handshakes"].is_null(), "UDP has no handshake");
}
