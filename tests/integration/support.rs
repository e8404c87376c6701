//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::missing_panics_doc)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `../shared/<dir>` beside the project, or `None` with a printed note. Under `CI=true` a
/// missing directory fails the test instead: CI must never pass by skipping.
pub fn shared(dir: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join(dir);
    if p.is_dir() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{} is missing and CI=true: the test cannot be skipped in CI",
        p.display()
    );
    eprintln!("note: {} is absent; skipping this test", p.display());
    None
}

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Whether every tool a test drives is on the PATH; otherwise a note, or under `CI=true` a
/// failure, like [`shared`].
pub fn tools(test: &str, tools: &[&str]) -> bool {
    needs(test, &tools.iter().copied().filter(|t| !on_path(t)).collect::<Vec<_>>())
}

/// Whether nothing is `missing` for `test`; otherwise a note, or a failure under `CI=true`.
pub fn needs(test: &str, missing: &[&str]) -> bool {
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "{test} needs {missing:?} and CI=true: the test cannot be skipped in CI"
    );
    eprintln!("note: {test} needs {}; skipping", missing.join(", "));
    false
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

pub fn flowtag() -> Command {
    Command::cargo_bin("flowtag").unwrap()
}

/// The outcome of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", self.stdout))
    }
}

pub fn run(args: &[&str]) -> Run {
    let out = flowtag().args(args).output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "flowtag panicked on {args:?}:\n{}", r.stderr);
    assert_ne!(r.code, 101, "flowtag panicked on {args:?}");
    r
}

/// Checks the conservation law and returns `totals`.
pub fn check_totals(doc: &Value) -> &Value {
    let t = &doc["totals"];
    let sum =
        |k: &str| doc[k].as_array().unwrap().iter().map(|r| r["packets"].as_u64().unwrap()).sum::<u64>();
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(
        n("packets"),
        sum("services")
            + sum("unknown")
            + doc["unknown_other"]["packets"].as_u64().unwrap_or(0)
            + n("other_ip_packets")
            + n("non_ip_packets")
            + n("skipped_packets"),
        "every packet counted exactly once: {t}"
    );
    let skipped: u64 = t["skipped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(skipped, n("skipped_packets"));
    let read: u64 = doc["inputs"].as_array().unwrap().iter().map(|i| i["packets"].as_u64().unwrap()).sum();
    assert_eq!(read, n("packets") + n("filtered_out"), "records read = counted + filtered out");
    assert_eq!(
        n("flows"),
        n("flows_expired") + n("flows_evicted") + n("flows_reused") + n("flows_at_end"),
        "flows created = expired + evicted + reused + held at the end"
    );
    t
}

pub fn skipped(doc: &Value, reason: &str) -> u64 {
    doc["totals"]["skipped"][reason].as_u64().unwrap()
}

pub fn anomaly(doc: &Value, tag: &str) -> u64 {
    doc["anomalies"][tag].as_u64().unwrap()
}

/// Packets of the service rows whose server ports include `port`.
pub fn service_packets(doc: &Value, transport: &str, port: u64) -> u64 {
    doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["transport"] == transport && s["ports"].as_array().unwrap().iter().any(|p| p == port))
        .map(|s| s["packets"].as_u64().unwrap())
        .sum()
}

/// Runs `read` on `inputs` in all three formats and checks that they tell the same story
/// (CATALOGUE.md §3.6): the JSON balances, the CSV has a header and a fixed column count and its
/// rows add up to the JSON's figures, and the table's accounting lines carry the same numbers.
/// Returns the JSON document.
pub fn check_formats_agree(inputs: &[&str], extra: &[&str]) -> Value {
    let runf = |format: &str| {
        let mut args = vec!["read", "--format", format];
        args.extend_from_slice(extra);
        args.extend_from_slice(inputs);
        run(&args)
    };
    let json = runf("json");
    let doc = json.json();
    check_totals(&doc);
    let csv = runf("csv");
    assert_eq!(csv.code, json.code, "csv and json runs end alike");
    let mut lines = csv.stdout.lines();
    let header: Vec<&str> = lines.next().expect("a CSV header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (mut packets, mut services, mut unknown, mut skipped) = (0, 0, 0, 0);
    // Tunnel rows are a breakdown of the rows above, not an addend: checked against the JSON's.
    let (mut tunnel_rows, mut tunnel_packets) = (0, 0);
    for l in lines {
        let f = flowtag::output::csv::split_line(l);
        assert_eq!(f.len(), header.len(), "fixed column count: {l}");
        let n: u64 = f[col("packets")].parse().unwrap();
        if f[col("kind")] == "tunnel" {
            if f[col("tunnel_kind")] == "over_limit" {
                assert_eq!(n, doc["tunnels"]["over_limit"]["packets"], "CSV over_limit as JSON's");
            } else {
                (tunnel_rows, tunnel_packets) = (tunnel_rows + 1, tunnel_packets + n);
            }
            continue;
        }
        packets += n;
        match f[col("kind")].as_str() {
            "service" => services += n,
            "unknown" => unknown += n,
            "skipped" => skipped += n,
            "other_ip" => assert_eq!(n, doc["totals"]["other_ip_packets"]),
            "non_ip" => assert_eq!(n, doc["totals"]["non_ip_packets"]),
            k => panic!("unknown CSV row kind {k}"),
        }
    }
    let t = &doc["totals"];
    let sum =
        |k: &str| doc[k].as_array().unwrap().iter().map(|r| r["packets"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(packets, t["packets"].as_u64().unwrap(), "CSV rows add up to the total");
    assert_eq!(services, sum("services"));
    assert_eq!(unknown, sum("unknown"));
    assert_eq!(skipped, t["skipped_packets"].as_u64().unwrap());
    let rows = doc["tunnels"]["rows"].as_array().map_or(&[][..], Vec::as_slice);
    assert_eq!(tunnel_rows, rows.len(), "one CSV tunnel row per JSON one");
    assert_eq!(tunnel_packets, rows.iter().map(|r| r["packets"].as_u64().unwrap()).sum::<u64>());
    let table = runf("table");
    assert_eq!(table.code, json.code, "table and json runs end alike");
    let numbers = |prefix: &str| -> Vec<u64> {
        let line = table.stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| {
            panic!("no {prefix:?} line in the table report:\n{}", table.stdout);
        });
        let line = line.split(';').next().unwrap();
        line.split(|c: char| !c.is_ascii_digit() && c != ',')
            .map(|w| w.replace(',', ""))
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(
        numbers("Packets:"),
        [
            n("packets"),
            sum("services"),
            sum("unknown"),
            n("other_ip_packets"),
            n("non_ip_packets"),
            n("skipped_packets")
        ],
        "table accounting line"
    );
    assert_eq!(
        numbers("Flows:"),
        [n("flows"), n("flows_expired"), n("flows_evicted"), n("flows_reused"), n("flows_at_end")],
        "table flow line"
    );
    doc
}

/// A fresh directory under the system's temporary one, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("flowtag-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes classic pcap files (little-endian, Ethernet unless told) for tests that need inputs
/// the catalogue does not have: long spans of time, many flows, broken timestamps.
pub struct Pcap {
    pub bytes: Vec<u8>,
}

impl Pcap {
    pub const MICROS: u32 = 0xa1b2_c3d4;
    pub const NANOS: u32 = 0xa1b2_3c4d;

    pub fn new() -> Self {
        Self::with(Self::MICROS, 1)
    }

    pub fn with(magic: u32, linktype: u32) -> Self {
        let mut bytes = Vec::with_capacity(1 << 16);
        bytes.extend_from_slice(&magic.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&linktype.to_le_bytes());
        Self { bytes }
    }

    /// One record: seconds, fraction (µs or ns as the magic says), the captured bytes.
    pub fn record(&mut self, secs: u32, frac: u32, data: &[u8]) -> &mut Self {
        self.record_len(secs, frac, data, u32::try_from(data.len()).unwrap())
    }

    pub fn record_len(&mut self, secs: u32, frac: u32, data: &[u8], wire_len: u32) -> &mut Self {
        for v in [secs, frac, u32::try_from(data.len()).unwrap(), wire_len] {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.bytes.extend_from_slice(data);
        self
    }

    /// A record at `t` seconds (fractions kept to microseconds).
    pub fn at(&mut self, t: f64, data: &[u8]) -> &mut Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (secs, micros) = (t.floor() as u32, ((t - t.floor()) * 1e6).round() as u32);
        self.record(secs, micros.min(999_999), data)
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }
}

/// An Ethernet frame with an IPv4 packet of `proto` around `l4`.
pub fn eth_ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8], frag: u16, id: u16) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = u16::try_from(20 + l4.len()).unwrap();
    v.extend_from_slice(&[0x45, 0]);
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(l4);
    v
}

/// A TCP header (no options) with `payload` zero bytes after it.
pub fn tcp(sport: u16, dport: u16, flags: u8, payload: usize) -> Vec<u8> {
    let mut v = vec![0u8; 20 + payload];
    v[0..2].copy_from_slice(&sport.to_be_bytes());
    v[2..4].copy_from_slice(&dport.to_be_bytes());
    v[12] = 5 << 4;
    v[13] = flags;
    v
}

/// A UDP header with `payload` zero bytes after it.
pub fn udp(sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut v = vec![0u8; 8 + payload];
    v[0..2].copy_from_slice(&sport.to_be_bytes());
    v[2..4].copy_from_slice(&dport.to_be_bytes());
    v[4..6].copy_from_slice(&u16::try_from(8 + payload).unwrap().to_be_bytes());
    v
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const SYN_ACK: u8 = 0x12;
pub const FIN_ACK: u8 = 0x11;
pub const PSH_ACK: u8 = 0x18;

/// Ethernet + IPv4 + TCP, unfragmented.
pub fn tcp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8, payload: usize) -> Vec<u8> {
    eth_ipv4(src, dst, 6, &tcp(sport, dport, flags, payload), 0, 1)
}

/// Ethernet + IPv4 + UDP, unfragmented.
pub fn udp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: usize) -> Vec<u8> {
    eth_ipv4(src, dst, 17, &udp(sport, dport, payload), 0, 1)
}

/// The path of the built binary.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flowtag")
}

/// Waits for `child` at most `limit`; kills it and fails the test if it is still running then.
pub fn wait_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
