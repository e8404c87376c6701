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
