//! `--filter` against tcpdump: on every fixture (every link type, both byte orders, pcapng),
//! IPv4 and IPv6 expressions pass the packets tcpdump passes; an expression that cannot be
//! compiled for an input's link type is a usage error naming both, with the rest reported.

use crate::support::{Pcap, TempDir, check_totals, fixture, run, tools};
use flowtag::capture::{CaptureReader, Endian, Linktype};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXPRESSIONS: [&str; 7] = ["tcp port 445", "ip", "ip6", "ip6 or ip", "udp", "tcp", "not ip"];

/// Records in a capture, up to any damage.
fn count(bytes: Vec<u8>) -> u64 {
    let mut r = CaptureReader::from_reader(Box::new(std::io::Cursor::new(bytes)), None).unwrap();
    let mut n = 0;
    while let Ok(Some(_)) = r.next_frame() {
        n += 1;
    }
    n
}

/// The packets tcpdump passes (`-w -`, so no line counting and no file tcpdump, once it drops
/// root, could not write). A damaged file fails tcpdump after the packets before the damage;
/// tcpdump (not libpcap) also refuses a program that is `ret #0` (`ip6` on LINKTYPE_IPV4),
/// which passes nothing.
fn tcpdump(path: &Path, expr: &str) -> u64 {
    let out = Command::new("tcpdump").arg("-r").arg(path).args(["-w", "-", expr]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("expression rejects all packets") {
        return 0;
    }
    assert!(
        out.status.success() || err.contains("truncated dump file"),
        "tcpdump {} '{expr}': {err}",
        path.display()
    );
    count(out.stdout)
}

/// What tcpdump can read of `path`: the file itself, or, for files libpcap will not take whole
/// (a pcapng with interfaces of different link types; link type 14, which is not a DLT on
/// Linux), one classic pcap per link type, with 12 and 14 as LINKTYPE_RAW (101) as they are to
/// libpcap on the BSDs that wrote them.
fn tcpdump_inputs(path: &Path, tmp: &TempDir) -> Vec<PathBuf> {
    let mut reader = CaptureReader::open(path).unwrap();
    if reader.format() == "pcap" && reader.link_types() != [Linktype::RAW_DLT14] {
        return vec![path.to_owned()];
    }
    let mut split: BTreeMap<u32, Pcap> = BTreeMap::new();
    while let Ok(Some(f)) = reader.next_frame() {
        assert_eq!(f.endian, Endian::Little, "the split writes little-endian files");
        let lt =
            if matches!(f.linktype, Linktype::RAW_DLT12 | Linktype::RAW_DLT14) { 101 } else { f.linktype.0 };
        let secs = u32::try_from(f.ts.0 / 1_000_000_000).unwrap();
        let micros = u32::try_from(f.ts.0 % 1_000_000_000 / 1_000).unwrap();
        let p = split.entry(lt).or_insert_with(|| Pcap::with(Pcap::MICROS, lt));
        p.record_len(secs, micros, f.data, f.wire_len);
    }
    let name = path.file_name().unwrap().to_str().unwrap();
    split
        .into_iter()
        .map(|(lt, p)| {
            let out = tmp.join(&format!("{name}.{lt}.pcap"));
            p.write(&out);
            out
        })
        .collect()
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

#[test]
fn filter_passes_what_tcpdump_passes_on_every_link_type() {
    if !tools("filter_passes_what_tcpdump_passes_on_every_link_type", &["tcpdump"]) {
        return;
    }
    let tmp = TempDir::new("filter-tcpdump");
    let files = fixtures();
    assert!(files.len() >= 30, "{} fixtures", files.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in &files {
        let inputs = tcpdump_inputs(path, &tmp);
        for expr in EXPRESSIONS {
            let want: u64 = inputs.iter().map(|i| tcpdump(i, expr)).sum();
            let out = run(&["read", "--format", "json", "--filter", expr, path.to_str().unwrap()]);
            if ![0, 4].contains(&out.code) {
                failures.push(format!("{path:?} '{expr}': exit {}: {}", out.code, out.stderr.trim()));
                continue;
            }
            let doc = out.json();
            let got = check_totals(&doc)["packets"].as_u64().unwrap();
            if got != want {
                failures.push(format!("{path:?} '{expr}': flowtag {got}, tcpdump {want}"));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} runs differ from tcpdump:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The cases the old `pcap_open_dead` compile got wrong, with tcpdump's figures written out, so
/// they are checked even where tcpdump is missing.
#[test]
fn filter_on_raw_null_and_loop_counts_ipv6_and_both_byte_orders() {
    for (file, expr, want) in [
        ("link-raw-445.pcap", "tcp port 445", 26),
        ("link-raw-445.pcap", "ip6", 13),
        ("link-dlt12-445.pcap", "ip6 or ip", 26),
        ("link-dlt14-445.pcap", "ip", 13),
        ("link-null-445.pcap", "ip6 or ip", 52),
        ("link-null-445.pcap", "ip6", 39),
        ("link-null-be-445.pcap", "ip", 13),
        ("link-null-be-445.pcap", "tcp port 445", 52),
        ("link-loop-445.pcap", "ip6 or ip", 26),
        ("pcapng-two-links-445.pcapng", "tcp port 445", 26),
    ] {
        let path = fixture(file);
        let out = run(&["read", "--format", "json", "--filter", expr, path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{file} '{expr}': {}", out.stderr);
        assert_eq!(out.stderr, "", "{file} '{expr}'");
        let doc = out.json();
        assert_eq!(check_totals(&doc)["packets"], want, "{file} '{expr}'");
    }
}

#[test]
fn filter_a_link_type_cannot_have_is_a_usage_error_naming_expression_input_and_link_type() {
    let expr = "not ether host 0a:0b:0c:0d:0e:0f";
    let eth = fixture("link-ethernet-445.pcap");
    let raw = fixture("link-raw-445.pcap");
    let out =
        run(&["read", "--format", "json", "--filter", expr, eth.to_str().unwrap(), raw.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", out.stderr);
    let want = format!(
        "flowtag: {}: --filter expression '{expr}' cannot be compiled for link type 101 (RAW): ",
        raw.display()
    );
    assert!(lines[0].starts_with(&want), "{}", lines[0]);
    // The report still covers what was read: the Ethernet file in full, the raw one up to its
    // first packet, left out.
    let doc = out.json();
    let t = check_totals(&doc);
    assert_eq!(t["packets"], 13);
    assert_eq!(t["filtered_out"], 1);
    let inputs = doc["inputs"].as_array().unwrap();
    assert_eq!(inputs[0]["status"], "ok");
    assert_eq!(inputs[1]["status"], "truncated");
    assert!(inputs[1]["message"].as_str().unwrap().contains(expr), "{}", inputs[1]);
}
