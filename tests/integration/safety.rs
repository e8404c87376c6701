//! Output safety and stopping (issue 14): no output may destroy an input or another output,
//! the report's temporary file cannot be aimed elsewhere, and the first signal ends a run
//! whatever its input or output is blocked on, with the report.

use crate::hostile::{kill, many_unknown_ports, mkfifo, small_capture};
use crate::support::{ACK, Pcap, TempDir, bin, check_totals, run, tcp_frame, wait_within};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn an_output_naming_an_input_is_refused_and_the_capture_survives() {
    let tmp = TempDir::new("clash");
    let cap = tmp.join("v.pcap");
    small_capture(&cap);
    let before = read_bytes(&cap);
    let hard = tmp.join("hard.pcap");
    std::fs::hard_link(&cap, &hard).unwrap();
    let dotted = tmp.0.join(".").join("v.pcap");
    let (c, h, d) = (cap.to_str().unwrap(), hard.to_str().unwrap(), dotted.to_str().unwrap());
    for args in [
        vec!["read", c, "--flows", c],
        vec!["read", c, "-o", c],
        vec!["read", c, "-o", d],
        vec!["read", c, "-o", h],
        vec!["read", h, "--flows", d],
    ] {
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("is the same file as the input"), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        assert_eq!(read_bytes(&cap), before, "{args:?} changed the capture");
    }
    // Stdin given the capture itself.
    let out = Command::new(bin())
        .args(["read", "-", "-o", c])
        .stdin(std::fs::File::open(&cap).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_bytes(&cap), before);
    // A service table is an input too.
    let table = tmp.join("t.tsv");
    std::fs::write(&table, "x").unwrap();
    let out = run(&["read", c, "--table", table.to_str().unwrap(), "--flows", table.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&table).unwrap(), "x");
}

#[test]
fn two_outputs_on_one_file_are_refused() {
    let tmp = TempDir::new("twoout");
    let cap = tmp.join("v.pcap");
    small_capture(&cap);
    let out_path = tmp.join("x.json");
    let dotted = tmp.0.join(".").join("x.json");
    let c = cap.to_str().unwrap();
    // Whether or not the file exists yet.
    for exists in [false, true] {
        if exists {
            std::fs::write(&out_path, "earlier").unwrap();
        }
        let out = run(&["read", c, "-o", out_path.to_str().unwrap(), "--flows", dotted.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("are the same file"), "{}", out.stderr);
    }
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "earlier");
    // Sinks such as /dev/null take any number of outputs.
    let out = run(&["read", c, "-o", "/dev/null", "--flows", "/dev/null"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn the_report_is_never_written_through_a_planted_symlink_and_keeps_its_permissions() {
    let tmp = TempDir::new("tmpfile");
    let cap = tmp.join("v.pcap");
    small_capture(&cap);
    let report = tmp.join("report.json");
    let victim = tmp.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    // The old name was predictable: `.report.json.flowtag-PID.tmp`. Plant links for a range of
    // process ids around the next ones, as an attacker in a shared directory would.
    let me = std::process::id();
    for pid in me..me + 2000 {
        let _ = std::os::unix::fs::symlink(&victim, tmp.join(&format!(".report.json.flowtag-{pid}.tmp")));
    }
    std::fs::write(&report, "earlier").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&["read", "--format", "json", "-o", report.to_str().unwrap(), cap.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "the link's target was written");
    let meta = std::fs::symlink_metadata(&report).unwrap();
    assert!(meta.file_type().is_file(), "the report is a regular file, not a link");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "a private report stays private");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    check_totals(&doc);
    // A new report gets what the umask gives a new file.
    let fresh = tmp.join("fresh.json");
    let script =
        format!("umask 027; exec '{}' read -o '{}' '{}'", bin().display(), fresh.display(), cap.display());
    let st = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(st.success());
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o640);
}

fn stdout_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// Collects a child's stdout as it comes (a large report must not wait on the test).
fn collect_stdout(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    })
}

#[test]
fn the_first_signal_ends_a_read_blocked_on_a_quiet_pipe() {
    // `(sleep 20) | timeout -s INT 2 flowtag read -`: the pipe sends nothing, ever.
    for (sig, name, code) in [("-INT", "SIGINT", 130), ("-TERM", "SIGTERM", 143), ("-HUP", "SIGHUP", 129)] {
        let mut child = Command::new(bin())
            .args(["read", "--no-progress", "--format", "json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        // The header, and one packet, then silence.
        let mut p = Pcap::new();
        p.record(1_000_000_000, 0, &tcp_frame([10, 0, 0, 1], 2000, [10, 0, 0, 2], 445, ACK, 0));
        input.write_all(&p.bytes).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        kill(sig, child.id());
        let st = wait_within(&mut child, Duration::from_secs(2), name);
        assert_eq!(st.code(), Some(code), "{name}");
        let doc: Value = serde_json::from_str(&stdout_of(&mut child)).unwrap();
        check_totals(&doc);
        assert_eq!(doc["interrupted"], name);
        assert_eq!(doc["totals"]["packets"], 1, "the packet read before the signal counts");
        drop(input);
    }
}

#[test]
fn a_signal_ends_the_wait_for_a_fifo_nobody_opens() {
    let tmp = TempDir::new("fifoopen");
    let fifo = tmp.join("f");
    mkfifo(&fifo);
    let mut child = Command::new(bin())
        .args(["read", "--no-progress", "--format", "json"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill("-TERM", child.id());
    let st = wait_within(&mut child, Duration::from_secs(2), "open of a FIFO");
    assert_eq!(st.code(), Some(143));
    let doc: Value = serde_json::from_str(&stdout_of(&mut child)).unwrap();
    assert_eq!(doc["inputs"][0]["status"], "interrupted");
    assert_eq!(doc["interrupted"], "SIGTERM");
}

#[test]
fn a_signal_ends_the_wait_for_a_flows_fifo_reader() {
    // A `--flows` FIFO that nobody opens: the run waits for its reader, until a signal.
    let tmp = TempDir::new("flowsopen");
    let cap = tmp.join("v.pcap");
    small_capture(&cap);
    let fifo = tmp.join("flows");
    mkfifo(&fifo);
    let mut child = Command::new(bin())
        .args(["read", "--no-progress", "--format", "json", "--flows"])
        .arg(&fifo)
        .arg(&cap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill("-INT", child.id());
    let st = wait_within(&mut child, Duration::from_secs(2), "open of a flows FIFO");
    assert_eq!(st.code(), Some(130));
}

/// Starts `flowtag read` of `cap` with its flow records going to the FIFO `fifo`, and opens
/// the FIFO's read end (after flowtag, which waits for it).
fn read_into_flows_fifo(cap: &Path, fifo: &Path) -> (Child, std::fs::File) {
    let child = Command::new(bin())
        .args(["read", "--no-progress", "--format", "json", "--flows"])
        .arg(fifo)
        .arg(cap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::fs::File::open(fifo).unwrap();
    (child, reader)
}

#[test]
fn a_stalled_flows_reader_does_not_keep_a_signal_waiting() {
    // 20,000 flows end at the end of the input: 4 MB of records into a FIFO nobody reads.
    let tmp = TempDir::new("flowstall");
    let cap = tmp.join("many.pcap");
    many_unknown_ports(&cap, 20_000);
    let fifo = tmp.join("flows");
    mkfifo(&fifo);
    let (mut child, reader) = read_into_flows_fifo(&cap, &fifo);
    let stdout = collect_stdout(&mut child);
    std::thread::sleep(Duration::from_millis(700));
    assert!(child.try_wait().unwrap().is_none(), "blocked on the stalled reader");
    let sent = Instant::now();
    kill("-INT", child.id());
    let st = wait_within(&mut child, Duration::from_secs(5), "flows FIFO stalled");
    let took = sent.elapsed();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(took < Duration::from_secs(4), "stopped {took:?} after SIGINT");
    assert_eq!(st.code(), Some(5), "the flow file is incomplete: {err}");
    let doc: Value = serde_json::from_str(&stdout.join().unwrap()).unwrap();
    check_totals(&doc);
    assert_eq!(doc["interrupted"], "SIGINT");
    let lost = doc["flows_undelivered"]["records"].as_u64().unwrap();
    assert!(lost > 0 && lost < 20_000, "{lost} of 20000 records not written");
    assert!(err.contains("flow records were not written"), "{err}");
    drop(reader);
}

#[test]
fn a_signal_during_the_final_flush_is_said() {
    // The flows all end at the end of the input, and their records come out only then: the
    // first bytes on the FIFO mean the final flush is under way. A signal now must not be lost.
    let tmp = TempDir::new("flushsig");
    let cap = tmp.join("many.pcap");
    many_unknown_ports(&cap, 20_000);
    let fifo = tmp.join("flows");
    mkfifo(&fifo);
    let (mut child, mut reader) = read_into_flows_fifo(&cap, &fifo);
    let stdout = collect_stdout(&mut child);
    let mut buf = [0u8; 1024];
    let n = reader.read(&mut buf).unwrap();
    assert!(n > 0);
    kill("-INT", child.id());
    // Then read on, slowly, to the end: the flush goes on, but the stop is known.
    let drain = std::thread::spawn(move || {
        let mut total = n;
        loop {
            std::thread::sleep(Duration::from_millis(2));
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(k) => total += k,
            }
        }
    });
    let st = wait_within(&mut child, Duration::from_secs(10), "final flush");
    let doc: Value = serde_json::from_str(&stdout.join().unwrap()).unwrap();
    check_totals(&doc);
    assert_eq!(doc["interrupted"], "SIGINT", "the signal came before the report was written");
    assert_eq!(doc["complete"], false);
    assert!(matches!(st.code(), Some(130 | 5)), "{st:?}");
    drain.join().unwrap();
}

#[test]
fn zero_length_records_are_warned_about_and_a_zero_tail_is_called_corrupt() {
    let tmp = TempDir::new("zeros");
    let cap = tmp.join("zero-tail.pcap");
    let mut p = Pcap::new();
    for i in 0..5 {
        p.record(1_000_000_000 + i, 0, &tcp_frame([10, 0, 0, 1], 2000, [10, 0, 0, 2], 445, ACK, 0));
    }
    // A tail of zeros: 16-byte record headers of length 0 at time 0.
    p.bytes.extend(std::iter::repeat_n(0u8, 16 * 5000));
    p.write(&cap);
    let out = run(&["read", "--format", "json", cap.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    check_totals(&doc);
    assert_eq!(doc["totals"]["packets"], 5005, "every record read is counted");
    assert!(out.stderr.contains("packet 6: zero-length record"), "{}", out.stderr);
    assert!(out.stderr.contains("more zero_length_record warnings not shown"), "{}", out.stderr);
    assert!(out.stderr.contains("looks corrupt"), "{}", out.stderr);
    // One zero-length record is a quirk, warned about, not a corrupt file.
    let one = tmp.join("one.pcap");
    let mut p = Pcap::new();
    p.record(1_000_000_000, 0, &[]);
    p.record(1_000_000_001, 0, &tcp_frame([10, 0, 0, 1], 2000, [10, 0, 0, 2], 445, ACK, 0));
    p.write(&one);
    let out = run(&["read", one.to_str().unwrap()]);
    assert!(out.stderr.contains("packet 1: zero-length record"), "{}", out.stderr);
    assert!(!out.stderr.contains("looks corrupt"), "{}", out.stderr);
}

/// Whether `text` holds a byte a terminal would act on: C0 other than newline, DEL, or the
/// UTF-8 of a C1 control.
fn has_controls(text: &str) -> bool {
    text.chars().any(|c| c != '\n' && c.is_control())
}

#[test]
fn names_never_reach_a_terminal_or_a_text_report_as_escapes() {
    let tmp = TempDir::new("escapes");
    // A service name that would set the clipboard (OSC 52), paint red and clear the screen.
    let evil = "\x1b]52;c;aGk=\x07\x1b[31mEvil\x1b[2J\u{9b}0m";
    let table = tmp.join("evil.tsv");
    std::fs::write(&table, format!("service\tudp\ttcp\n{evil}\t\t445\n")).unwrap();
    // A file name with a newline and an escape in it.
    let cap = tmp.join("two\nlines\x1b[2J.pcap");
    small_capture(&cap);
    let (t, c) = (table.to_str().unwrap(), cap.to_str().unwrap());
    let table_out = run(&["read", "--table", t, c]);
    assert_eq!(table_out.code, 0, "{}", table_out.stderr);
    assert!(!has_controls(&table_out.stdout), "{}", table_out.stdout);
    assert!(table_out.stdout.contains("\\x1b]52;c;aGk=\\x07\\x1b[31mEvil"), "{}", table_out.stdout);
    // The input row is one line: the newline in the name is shown as \n.
    let row = table_out.stdout.lines().find(|l| l.contains("two\\nlines\\x1b[2J.pcap")).unwrap();
    assert!(row.trim_end().ends_with("ok"), "{row}");
    let csv = run(&["read", "--format", "csv", "--table", t, c]);
    assert!(!has_controls(&csv.stdout), "{}", csv.stdout);
    let json = run(&["read", "--format", "json", "--table", t, c]);
    assert_eq!(json.json()["services"][0]["service"], evil, "JSON keeps the name, escaped by JSON's rules");
    let services = run(&["services", "--table", t, "445"]);
    assert!(!has_controls(&services.stdout), "{}", services.stdout);
    let listing = run(&["services", "--table", t]);
    assert!(!has_controls(&listing.stdout), "{}", listing.stdout);
    // Error messages quote names too.
    let missing = tmp.join("gone\x1b]52;c;aGk=\x07.pcap");
    let err = run(&["read", missing.to_str().unwrap()]);
    assert_eq!(err.code, 3);
    assert!(!has_controls(&err.stderr), "{}", err.stderr);
    assert_eq!(err.stderr.lines().count(), 1, "{}", err.stderr);
}
