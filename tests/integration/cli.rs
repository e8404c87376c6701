//! The command line itself: arguments, outputs, pipes, the service table commands.

use crate::support::{run, shared};
use clap::CommandFactory;

#[test]
fn clap_definition_is_consistent() {
    flowtag::cli::Cli::command().debug_assert();
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["read"]).code, 2);
    assert_eq!(run(&["nosuchcommand"]).code, 2);
    assert_eq!(run(&["read", "--max-flows", "0", "x.pcap"]).code, 2);
    let out = run(&["read", "--filter", "tcp port", "/dev/null"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.starts_with("flowtag: --filter: "), "{}", out.stderr);
}

#[test]
fn missing_and_directory_inputs_exit_3_with_one_line() {
    let out = run(&["read", "/nonexistent/x.pcap"]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("flowtag: /nonexistent/x.pcap: ") && out.stderr.contains("No such file"),
        "{}",
        out.stderr
    );
    let out = run(&["read", "."]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("flowtag: .: is a directory"), "{}", out.stderr);
    let out = run(&["read", "/dev/null"]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains("not a capture file (0 bytes)"), "{}", out.stderr);
}

#[test]
fn unusable_output_fails_before_reading() {
    let out = run(&["read", "--output", "/", "/nonexistent/x.pcap"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(!out.stderr.contains("No such file"), "the input must not have been opened: {}", out.stderr);
    let out = run(&["read", "--flows", "/nonexistent-dir/f.jsonl", "/nonexistent/x.pcap"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
}

#[test]
fn full_disk_is_exit_5_even_for_tiny_output() {
    let Some(dir) = shared("badinputs") else { return };
    let base = dir.join("base.pcap");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowtag"))
        .args(["read", base.to_str().unwrap()])
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error writing stdout") && err.contains("No space left"), "{err}");
    let out = run(&["read", "--output", "/dev/full", base.to_str().unwrap()]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("error writing /dev/full"), "{}", out.stderr);
}

#[test]
fn output_file_is_replaced_whole() {
    let Some(dir) = shared("badinputs") else { return };
    let base = dir.join("base.pcap");
    let tmp = std::env::temp_dir().join(format!("flowtag-out-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let report = tmp.join("r.json");
    std::fs::write(&report, "old").unwrap();
    let out = run(&["read", "--format", "json", "-o", report.to_str().unwrap(), base.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(doc["totals"]["packets"], 8);
    let leftovers = std::fs::read_dir(&tmp).unwrap().count();
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(leftovers, 1, "no temporary file left behind");
}

#[test]
fn closed_pipe_ends_quietly() {
    let Some(dir) = shared("corpus") else { return };
    // A thousand unknown ports make a report far larger than a pipe's buffer.
    let big = dir.join("ndpi__synscan.pcap");
    let bin = assert_cmd::cargo::cargo_bin("flowtag");
    // The reader of our stdout is gone before we write: the write fails with EPIPE.
    let mut child = std::process::Command::new(&bin)
        .args(["read", "--format", "json", big.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait_with_output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(status.stderr.is_empty(), "{}", String::from_utf8_lossy(&status.stderr));
}

#[test]
fn services_seed_only_prints_the_seed_exactly() {
    let out = run(&["services", "--seed-only"]);
    assert_eq!(out.code, 0);
    let tsv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/windows-2000.tsv")).unwrap();
    let rows: String = tsv.lines().filter(|l| !l.starts_with('#')).flat_map(|l| [l, "\n"]).collect();
    assert_eq!(out.stdout, rows);
    assert_eq!(rows.lines().count(), 1 + flowtag::services::SEED_ROWS);
}

#[test]
fn services_port_lookup() {
    let out = run(&["services", "445", "137"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("tcp 445: Common Internet File System (CIFS)"), "{}", out.stdout);
    assert!(out.stdout.contains("udp 137: NetBT name lookups"), "{}", out.stdout);
    let table = run(&["services"]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("DHCP server"));
}

#[test]
fn user_table_replaces_the_embedded_one() {
    let tmp = std::env::temp_dir().join(format!("flowtag-table-{}.tsv", std::process::id()));
    std::fs::write(&tmp, "service\tudp\ttcp\nMy app\t\t40000\n").unwrap();
    let out = run(&["services", "--table", tmp.to_str().unwrap(), "40000", "445"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("tcp 40000: My app"), "{}", out.stdout);
    assert!(!out.stdout.contains("CIFS"), "{}", out.stdout);
    std::fs::write(&tmp, "service\tudp\ttcp\nBroken\t\t70000\n").unwrap();
    let out = run(&["services", "--table", tmp.to_str().unwrap()]);
    let _ = std::fs::remove_file(&tmp);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains(":2:"), "the error names the line: {}", out.stderr);
}
