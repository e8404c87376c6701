//! The catalogue of broken and hostile inputs (`../shared/badinputs/CATALOGUE.md` §4 A and B):
//! each container fault gets the exit code and message the contract asks for, and no file in
//! the folder makes flowtag panic or break its books.

use crate::support::{anomaly, check_formats_agree, check_totals, run, service_packets, shared, skipped};
use std::path::{Path, PathBuf};

fn read_json(files: &[&Path]) -> crate::support::Run {
    let mut args = vec!["read", "--format", "json"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    run(&args)
}

struct Case {
    file: &'static str,
    code: i32,
    /// Text the error line must contain (after `flowtag: <file>: `).
    message: Option<&'static str>,
    /// Records read before the fault (for exit 4) or in all (exit 0).
    packets: Option<u64>,
}

const fn case(file: &'static str, code: i32, message: Option<&'static str>, packets: Option<u64>) -> Case {
    Case { file, code, message, packets }
}

const CASES: &[Case] = &[
    case("empty.pcap", 3, Some("not a capture file (0 bytes)"), None),
    case("hdr_only.pcap", 0, None, Some(0)),
    case("trunc_file_hdr.pcap", 3, Some("truncated file header"), None),
    case("trunc_rec_hdr.pcap", 4, Some("after 1 packets"), Some(1)),
    case("trunc_rec_data.pcap", 4, Some("after 1 packets"), Some(1)),
    case("not_a_pcap.pcap", 3, Some("unknown file format"), None),
    case("bad_version.pcap", 3, Some("unsupported pcap version 3.0"), None),
    case("snaplen0.pcap", 0, None, None),
    case("snaplen_2g.pcap", 0, None, None),
    case("snaplen_small_caplen_bigger.pcap", 0, None, Some(2)),
    case("caplen_256k_plus1.pcap", 4, Some("after 1 packets"), Some(1)),
    case("caplen_bad_then_valid.pcap", 4, Some("after 1 packets"), Some(1)),
    case("caplen_4g.pcap", 4, Some("after 1 packets"), Some(1)),
    case("caplen_gt_len.pcap", 0, None, Some(1)),
    case("caplen0.pcap", 0, None, Some(2)),
    case("len_4g_x3.pcap", 0, None, Some(3)),
    case("linktype147.pcap", 3, Some("unsupported link-layer type 147 (USER0)"), None),
    case("linktype_65535.pcap", 3, Some("unsupported link-layer type 65535"), None),
    case("linktype_raw101.pcap", 0, None, None),
    case("linktype_sll113.pcap", 0, None, None),
    case("linktype_sll2_276.pcap", 0, None, None),
    case("linktype_null0.pcap", 0, None, None),
    case("linktype_fcs_bits.pcap", 0, None, None),
    case("nsec_magic.pcap", 0, None, Some(1)),
    case("big_endian.pcap", 0, None, Some(8)),
    case("kuznetzov_magic.pcap", 0, None, Some(1)),
    case("ng_shb_only.pcapng", 3, Some("no Interface Description Blocks"), None),
    case("ng_no_packets.pcapng", 0, None, Some(0)),
    case("ng_epb_before_idb.pcapng", 3, Some("before any Interface Description Block"), None),
    case("ng_bad_ifid.pcapng", 4, Some("interface 7"), None),
    case("ng_mixed_linktypes.pcapng", 0, None, None),
    case("ng_idb_linktype147.pcapng", 0, None, Some(1)),
    case("ng_blocklen_not_mult4.pcapng", 3, Some("not a multiple of 4"), None),
    case("ng_blocklen_huge.pcapng", 4, Some("after 0 packets"), Some(0)),
    case("ng_trailer_mismatch.pcapng", 4, Some("don't match"), Some(0)),
    case("ng_truncated.pcapng", 4, Some("after 1 packets"), Some(1)),
    case("ng_epb_caplen_gt_block.pcapng", 4, None, None),
    case("ng_tsresol_too_high.pcapng", 3, Some("too high"), None),
    // Sections may differ in byte order (README: read in full, not exit 4 as the catalogue said).
    case("ng_two_sections_mixed_endian.pcapng", 0, None, Some(1)),
];

#[test]
fn container_faults_get_their_contract() {
    let Some(dir) = shared("badinputs") else { return };
    let mut failures = Vec::new();
    for c in CASES {
        let path = dir.join(c.file);
        let out = read_json(&[&path]);
        let mut problems = Vec::new();
        if out.code != c.code {
            problems.push(format!("exit {} (want {}), stderr: {}", out.code, c.code, out.stderr.trim()));
        }
        if let Some(m) = c.message {
            let line = out.stderr.lines().find(|l| l.starts_with("flowtag: ")).unwrap_or("");
            if !line.contains(c.file) || !line.contains(m) {
                problems.push(format!("message {line:?} should name the file and say {m:?}"));
            }
        }
        if c.code == 3 {
            // Nothing was processed, but the report still comes out, naming the input's error.
            let doc = out.json();
            if doc["inputs"][0]["status"] != "error" {
                problems.push(format!("input status {} (want error)", doc["inputs"][0]["status"]));
            }
        } else {
            let doc = out.json();
            check_totals(&doc);
            let want_status = if c.code == 4 { "truncated" } else { "ok" };
            if doc["inputs"][0]["status"] != want_status || doc["complete"] != (c.code == 0) {
                problems.push(format!("status {} complete {}", doc["inputs"][0]["status"], doc["complete"]));
            }
            if let Some(n) = c.packets
                && doc["inputs"][0]["packets"] != n
            {
                problems.push(format!("{} records read (want {n})", doc["inputs"][0]["packets"]));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", c.file, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn doc_of(dir: &Path, file: &str) -> serde_json::Value {
    let out = read_json(&[&dir.join(file)]);
    assert_eq!(out.code, 0, "{file}: {}", out.stderr);
    let doc = out.json();
    check_totals(&doc);
    doc
}

#[test]
fn record_level_faults_are_counted_not_fatal() {
    let Some(dir) = shared("badinputs") else { return };
    // #15 caplen > len: the captured bytes are used and the record tagged.
    assert_eq!(anomaly(&doc_of(&dir, "caplen_gt_len.pcap"), "pcap_len_lt_caplen"), 1);
    // #16 caplen 0: skipped as pcap_record_bad; the next packet is still classified.
    let d = doc_of(&dir, "caplen0.pcap");
    assert_eq!(skipped(&d, "pcap_record_bad"), 1);
    assert_eq!(service_packets(&d, "tcp", 445), 1);
    // #17 len 0xFFFFFFFF on 3 records: exact u64 byte total, tagged.
    let d = doc_of(&dir, "len_4g_x3.pcap");
    assert_eq!(d["totals"]["bytes"], 3 * 4_294_967_295_u64);
    assert_eq!(anomaly(&d, "pcap_len_implausible"), 3);
    // #12 caplen above the file's snaplen: clipped like libpcap, tagged.
    assert!(anomaly(&doc_of(&dir, "snaplen_small_caplen_bigger.pcap"), "snaplen_truncated") >= 1);
    // #19 and #30 a pcapng interface of link type 147: its packet is skipped as
    // unsupported_linktype, never decoded as Ethernet (which would "find" TCP 445), one warning.
    let out = read_json(&[&dir.join("ng_idb_linktype147.pcapng")]);
    let d = out.json();
    check_totals(&d);
    assert_eq!(skipped(&d, "unsupported_linktype"), 1);
    assert_eq!(service_packets(&d, "tcp", 445), 0);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    // #23 nanosecond magic: the fraction is nanoseconds, never 999 seconds.
    let d = doc_of(&dir, "nsec_magic.pcap");
    let ts = d["inputs"][0]["first_ts"].as_f64().unwrap();
    assert!((ts - 1_000_000_000.999_999).abs() < 1e-6, "first_ts {ts}");
}

#[test]
fn link_types_users_hand_us_classify_as_445() {
    let Some(dir) = shared("badinputs") else { return };
    for f in [
        "linktype_raw101.pcap",
        "linktype_sll113.pcap",
        "linktype_sll2_276.pcap",
        "linktype_null0.pcap",
        "linktype_fcs_bits.pcap",
        "kuznetzov_magic.pcap",
    ] {
        let d = doc_of(&dir, f);
        let total = d["totals"]["packets"].as_u64().unwrap();
        assert!(total > 0, "{f}");
        assert_eq!(service_packets(&d, "tcp", 445), total, "{f}: every packet is TCP 445");
    }
}

#[test]
fn byte_order_and_sections_do_not_change_results() {
    let Some(dir) = shared("badinputs") else { return };
    let strip = |mut d: serde_json::Value| {
        d["inputs"] = serde_json::Value::Null;
        d
    };
    // #24 a big-endian file gives the same report as its little-endian twin.
    assert_eq!(strip(doc_of(&dir, "big_endian.pcap")), strip(doc_of(&dir, "base.pcap")));
    // #39 two pcapng files concatenated: two sections, every packet read, exit 0.
    let tmp = std::env::temp_dir().join(format!("flowtag-cat2-{}.pcapng", std::process::id()));
    let one = std::fs::read(dir.join("ng_base.pcapng")).unwrap();
    std::fs::write(&tmp, [one.clone(), one].concat()).unwrap();
    let single = doc_of(&dir, "ng_base.pcapng")["totals"]["packets"].as_u64().unwrap();
    let out = read_json(&[&tmp]);
    let _ = std::fs::remove_file(&tmp);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["totals"]["packets"], 2 * single);
    // #31 mixed link types in one pcapng: read in full, each packet with its own link type.
    let d = doc_of(&dir, "ng_mixed_linktypes.pcapng");
    assert_eq!(d["inputs"][0]["link_types"].as_array().unwrap().len(), 2);
    assert_eq!(d["totals"]["skipped_packets"], 0);
}

#[test]
fn several_inputs_one_damaged() {
    let Some(dir) = shared("badinputs") else { return };
    // #80: every readable input processed, per-file status, overall exit 4.
    let files: Vec<PathBuf> =
        ["base.pcap", "trunc_rec_data.pcap", "ng_base.pcapng"].iter().map(|f| dir.join(f)).collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = read_json(&refs);
    assert_eq!(out.code, 4, "{}", out.stderr);
    let d = out.json();
    check_totals(&d);
    let status: Vec<&str> =
        d["inputs"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["ok", "truncated", "ok"]);
    assert_eq!(d["complete"], false);
}

#[test]
fn no_file_in_the_catalogue_panics() {
    let Some(dir) = shared("badinputs") else { return };
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        n += 1;
        for format in ["json", "csv", "table"] {
            let out = run(&["read", "--format", format, path.to_str().unwrap()]);
            assert!([0, 3, 4].contains(&out.code), "{name}: exit {} {}", out.code, out.stderr);
            if format == "json" && out.code != 3 {
                check_totals(&out.json());
            }
            // One line per failure, no per-packet floods.
            assert!(out.stderr.lines().count() <= 12, "{name}: stderr flood:\n{}", out.stderr);
            if format == "json" && out.code != 3 {
                // Table, JSON and CSV tell the same story (CATALOGUE §3.6).
                check_formats_agree(&[path.to_str().unwrap()], &[]);
            }
        }
    }
    assert!(n >= 70, "found only {n} captures in {}", dir.display());
}
