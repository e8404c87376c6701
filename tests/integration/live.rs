//! `flowtag live`, end to end: known traffic on `lo`, a fixture replayed onto a veth pair in a
//! network namespace of the test's own, `/metrics` checked by promtool, the terminal view in
//! tmux, and the error paths.
//!
//! Capturing needs root. A test that cannot run here (not root, a tool missing) says so and
//! passes; under `CI=true` it fails instead, like `support::shared`. Traffic goes only to
//! 127.0.0.1 or into the test's own namespace, and every wait has a deadline.
//!
//! Loopback (CATALOGUE #98): the kernel hands a packet socket on `lo` each packet twice, once
//! leaving and once arriving. libpcap drops the leaving copy, so flowtag counts each packet
//! once, but the kernel's `received` counter counts both: on `lo`, received = 2 × captured.

use crate::support::{check_totals, fixture, on_path, run};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Live tests share `lo` and well-known ports: one at a time.
static LO: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    LO.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flowtag")
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // "Uid:	real	effective	saved	fs"
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

/// Whether the test can run here; otherwise a note, or a failure under `CI=true`.
fn can_run(test: &str, tools: &[&str]) -> bool {
    let mut missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if !is_root() {
        missing.insert(0, "root");
    }
    crate::support::needs(test, &missing)
}

/// Runs a command to its end (bounded), failing the test if it fails.
fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits for `cond`, up to `limit`.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A running `flowtag live`; its stdout lines arrive on a channel.
struct Live {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Live {
    /// Starts `prefix... flowtag args...` (the prefix runs it in a namespace).
    fn start(prefix: &[&str], args: &[&str]) -> Self {
        let bin = bin();
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Self { child, lines: rx, seen: Vec::new(), stderr: Some(err) }
    }

    /// The next stdout line, within `limit`.
    fn line(&mut self, limit: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(limit).ok()?;
        self.seen.push(line.clone());
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }

    /// Waits for the first interval line: the capture is running.
    fn started(&mut self) -> Value {
        let Some(v) = self.line(Duration::from_secs(10)) else {
            let _ = self.child.kill();
            let err = self.stderr.take().map(|h| h.join().unwrap()).unwrap_or_default();
            panic!("flowtag live printed nothing in 10 s; stderr: {err}");
        };
        assert!(v["interval"].is_object(), "the first line is an interval: {v}");
        v
    }

    /// Reads interval lines until one's totals reach `packets`, within `limit`.
    fn until_packets(&mut self, packets: u64, limit: Duration) -> Option<Value> {
        let start = Instant::now();
        while let Some(left) = limit.checked_sub(start.elapsed()) {
            let v = self.line(left)?;
            if v["totals"]["packets"].as_u64().unwrap() >= packets {
                return Some(v);
            }
        }
        None
    }

    fn interrupt(&self) {
        sh(&["kill", "-INT", &self.child.id().to_string()]);
    }

    /// Waits for the exit (killing it after `limit`): the code, every stdout line, stderr.
    fn finish(mut self, limit: Duration) -> (i32, Vec<String>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("flowtag live did not stop within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let err = self.stderr.take().map(|h| h.join().unwrap()).unwrap_or_default();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        assert!(!err.contains("panicked"), "flowtag panicked: {err}");
        (status.code().unwrap_or(-1), std::mem::take(&mut self.seen), err)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The summary: the last line, the only one without an `interval`. Every line keeps the books.
fn summary(lines: &[String]) -> Value {
    let docs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    for d in &docs {
        check_totals(d);
        assert!(d["capture"].is_object(), "every line has the capture object: {d}");
    }
    let last = docs.last().expect("a summary line").clone();
    assert!(last.get("interval").is_none(), "the last line is the summary: {last}");
    assert!(docs[..docs.len() - 1].iter().all(|d| d["interval"].is_object()));
    last
}

fn service<'a>(doc: &'a Value, name: &str, transport: &str) -> &'a Value {
    doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == name && s["transport"] == transport)
        .unwrap_or_else(|| panic!("no {transport} row '{name}' in {}", doc["services"]))
}

/// One TCP connection that ends with a reset: SYN, SYN/ACK, ACK, RST, whatever the timing
/// (a FIN exchange's packet count depends on delayed ACKs). The server's socket sees the reset
/// before this returns.
fn connect_and_reset(listener: &TcpListener) {
    let (client, server) = connect(listener);
    reset(client, server);
}

/// An established TCP connection: (client, server).
fn connect(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Ends a connection with a reset from the client, seen by the server before this returns.
fn reset(client: TcpStream, mut server: TcpStream) {
    rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO)).unwrap();
    drop(client);
    server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let got = server.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "expected a reset, got {got:?}"
    );
}

/// Sends `n` datagrams of `len` bytes from one socket and waits until `to` has them all.
fn datagrams(to: &UdpSocket, n: usize, len: usize) {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    to.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..n {
        client.send_to(&vec![0x5a; len], to.local_addr().unwrap()).unwrap();
        assert_eq!(to.recv(&mut buf).unwrap(), len);
    }
}

/// An IPv4 frame on `lo`: 14 bytes of zeroed Ethernet header, 20 of IP.
const LO_IPV4: u64 = 14 + 20;

#[test]
fn lo_traffic_is_counted_exactly() {
    if !can_run("lo_traffic_is_counted_exactly", &[]) {
        return;
    }
    let _lo = serial();
    let cifs = TcpListener::bind("127.0.0.1:445").expect("port 445 must be free for this test");
    let sql = TcpListener::bind("127.0.0.1:1433").expect("port 1433 must be free for this test");
    let nbns = UdpSocket::bind("127.0.0.1:137").expect("UDP port 137 must be free for this test");
    let filter = "host 127.0.0.1 and (tcp port 445 or tcp port 1433 or udp port 137)";
    let mut live =
        Live::start(&[], &["live", "-i", "lo", "--interval", "0.2", "--format", "json", "--filter", filter]);
    live.started();

    connect_and_reset(&cifs);
    connect_and_reset(&cifs);
    connect_and_reset(&sql);
    datagrams(&nbns, 3, 10);
    // 3 connections × 4 packets + 3 datagrams.
    let expected = 3 * 4 + 3;
    assert!(
        live.until_packets(expected, Duration::from_secs(5)).is_some(),
        "the capture saw {expected} packets"
    );
    let asked = Instant::now();
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "SIGINT ends cleanly: {err}");
    // CATALOGUE #97 asks for 1 s; the margin is for a loaded machine.
    assert!(asked.elapsed() < Duration::from_secs(2), "stopped {:?} after SIGINT", asked.elapsed());
    let doc = summary(&lines);

    let t = &doc["totals"];
    assert_eq!(t["packets"], expected, "{t}");
    assert_eq!((t["tcp_packets"].as_u64(), t["udp_packets"].as_u64()), (Some(12), Some(3)));
    assert_eq!(t["flows"], 4);
    let smb = service(&doc, "Common Internet File System (CIFS)", "tcp");
    assert_eq!((smb["flows"].as_u64(), smb["packets"].as_u64()), (Some(2), Some(8)), "{smb}");
    // SYN, ACK, RST to the server; SYN/ACK back.
    assert_eq!(
        (smb["to_server"]["packets"].as_u64(), smb["to_client"]["packets"].as_u64()),
        (Some(6), Some(2))
    );
    assert!(smb["handshake_rtt_ms"]["p50"].is_number(), "{smb}");
    let sql_row = doc["services"].as_array().unwrap().iter().find(|s| s["ports"][0] == 1433).unwrap();
    assert_eq!(
        (sql_row["transport"].as_str(), sql_row["flows"].as_u64(), sql_row["packets"].as_u64()),
        (Some("tcp"), Some(1), Some(4))
    );
    let nb = service(&doc, "NetBT name lookups", "udp");
    assert_eq!((nb["flows"].as_u64(), nb["packets"].as_u64()), (Some(1), Some(3)));
    assert_eq!(nb["bytes"], 3 * (LO_IPV4 + 8 + 10));
    assert_eq!(doc["unknown"].as_array().unwrap().len(), 0);

    let c = &doc["capture"];
    assert_eq!((c["dropped"].as_u64(), c["if_dropped"].as_u64()), (Some(0), Some(0)), "{c}");
    assert_eq!(c["received"], 2 * expected, "on lo the kernel counts each packet leaving and arriving");
    assert_eq!(doc["inputs"][0]["path"], "lo");
    assert_eq!(doc["inputs"][0]["format"], "live");
    assert_eq!(doc["inputs"][0]["link_types"][0], 1);
}

#[test]
fn own_table_count_and_flow_file() {
    if !can_run("own_table_count_and_flow_file", &[]) {
        return;
    }
    let _lo = serial();
    let app = TcpListener::bind("127.0.0.1:0").unwrap();
    let feed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (tcp_port, udp_port) = (app.local_addr().unwrap().port(), feed.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("test.tsv");
    std::fs::write(&table, format!("service\tudp\ttcp\nTest app\t\t{tcp_port}\nTest feed\t{udp_port}\t\n"))
        .unwrap();
    let flows = dir.path().join("flows.jsonl");
    let filter = format!("host 127.0.0.1 and (tcp port {tcp_port} or udp port {udp_port})");
    let mut live = Live::start(
        &[],
        &[
            "live",
            "-i",
            "lo",
            "--interval",
            "0.2",
            "--format",
            "json",
            "--count",
            "10",
            "--table",
            table.to_str().unwrap(),
            "--flows",
            flows.to_str().unwrap(),
            "--filter",
            &filter,
        ],
    );
    live.started();
    connect_and_reset(&app);
    connect_and_reset(&app);
    datagrams(&feed, 2, 5);
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "--count ends cleanly: {err}");
    let doc = summary(&lines);
    assert_eq!(doc["totals"]["packets"], 10);
    let app_row = service(&doc, "Test app", "tcp");
    assert_eq!((app_row["flows"].as_u64(), app_row["packets"].as_u64()), (Some(2), Some(8)));
    let feed_row = service(&doc, "Test feed", "udp");
    assert_eq!((feed_row["flows"].as_u64(), feed_row["packets"].as_u64()), (Some(1), Some(2)));
    assert_eq!(feed_row["bytes"], 2 * (LO_IPV4 + 8 + 5));

    let records: Vec<Value> =
        std::fs::read_to_string(&flows).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3, "every flow written, the open ones at the end");
    let packets: u64 = records
        .iter()
        .map(|r| r["packets_to_server"].as_u64().unwrap() + r["packets_to_client"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, 10);
    assert_eq!(records.iter().filter(|r| r["service"] == "Test app").count(), 2);
    assert!(records.iter().filter(|r| r["transport"] == "tcp").all(|r| r["tcp_state"] == "reset"));
}

/// A network namespace of the test's own, deleted when dropped.
struct Netns(String);

impl Netns {
    /// A namespace without IPv6 (so the kernel sends nothing of its own on its links) holding
    /// a veth pair `a`–`b` with a 9000-byte MTU, up or not.
    fn with_veth(tag: &str, a: &str, b: &str, up: bool) -> Self {
        let name = format!("flowtag-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns(name);
        ns.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        sh(&[
            "ip", "-n", &ns.0, "link", "add", a, "mtu", "9000", "type", "veth", "peer", "name", b, "mtu",
            "9000",
        ]);
        if up {
            sh(&["ip", "-n", &ns.0, "link", "set", a, "up"]);
            sh(&["ip", "-n", &ns.0, "link", "set", b, "up"]);
        }
        ns
    }

    fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "netns", "exec", &self.0];
        all.extend_from_slice(args);
        sh(&all)
    }

    fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.0]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// (transport, key) → (flows, packets, bytes) of a report's service or unknown rows.
fn rows(doc: &Value, list: &str, key: &str) -> Vec<(String, String, u64, u64, u64)> {
    let mut v: Vec<_> = doc[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["transport"].as_str().unwrap().to_owned(),
                r[key].to_string(),
                r["flows"].as_u64().unwrap(),
                r["packets"].as_u64().unwrap(),
                r["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn replayed_fixture_counts_as_read_does() {
    if !can_run("replayed_fixture_counts_as_read_does", &["ip", "tcpreplay"]) {
        return;
    }
    let pcap = fixture("windows-lan.pcap");
    let read = run(&["read", "--format", "json", pcap.to_str().unwrap()]);
    assert_eq!(read.code, 0);
    let read = read.json();
    let ns = Netns::with_veth("replay", "ftr0", "ftr1", true);
    let mut live =
        Live::start(&ns.prefix(), &["live", "-i", "ftr1", "--interval", "0.2", "--format", "json"]);
    live.started();
    ns.exec(&["tcpreplay", "-q", "-i", "ftr0", "--topspeed", pcap.to_str().unwrap()]);
    let want = read["totals"]["packets"].as_u64().unwrap();
    let _ = live.until_packets(want, Duration::from_secs(5));
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
    let doc = summary(&lines);
    let c = &doc["capture"];
    let lost = c["dropped"].as_u64().unwrap() + c["if_dropped"].as_u64().unwrap();
    let got = doc["totals"]["packets"].as_u64().unwrap();
    assert_eq!(got + lost, want, "every packet replayed is counted or reported dropped: {c}");
    assert_eq!(c["received"].as_u64().unwrap(), got + c["dropped"].as_u64().unwrap(), "{c}");
    if lost > 0 {
        eprintln!("note: {lost} packets dropped; per-row comparison skipped");
        return;
    }
    for key in [
        "packets",
        "bytes",
        "flows",
        "tcp_packets",
        "udp_packets",
        "other_ip_packets",
        "non_ip_packets",
        "skipped_packets",
    ] {
        assert_eq!(doc["totals"][key], read["totals"][key], "totals.{key}");
    }
    assert_eq!(rows(&doc, "services", "service"), rows(&read, "services", "service"));
    assert_eq!(rows(&doc, "unknown", "port"), rows(&read, "unknown", "port"));
    assert_eq!(doc["other_ip"], read["other_ip"]);
}

/// `GET path` from a local address: the status line, the headers and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: flowtag-test\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

#[test]
fn metrics_scrape_passes_promtool() {
    if !can_run("metrics_scrape_passes_promtool", &["promtool"]) {
        return;
    }
    let _lo = serial();
    let nbns = UdpSocket::bind("127.0.0.1:137").expect("UDP port 137 must be free for this test");
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut live = Live::start(
        &[],
        &[
            "live",
            "-i",
            "lo",
            "--interval",
            "0.2",
            "--format",
            "json",
            "--prometheus",
            &addr.to_string(),
            "--filter",
            "host 127.0.0.1 and udp port 137",
        ],
    );
    live.started();
    datagrams(&nbns, 4, 20);
    live.until_packets(4, Duration::from_secs(5)).expect("the datagrams were counted");
    // The metrics are rendered at each refresh: wait for one more.
    live.line(Duration::from_secs(2)).unwrap();
    let (head, body) = http_get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    for line in [
        "flowtag_service_packets_total{service=\"NetBT name lookups\",transport=\"udp\"} 4",
        "flowtag_service_bytes_total{service=\"NetBT name lookups\",transport=\"udp\"} 248",
        "flowtag_packets_total 4",
        "flowtag_capture_dropped_packets_total{by=\"kernel\"} 0",
        "flowtag_capture_received_packets_total 8",
    ] {
        assert!(body.lines().any(|l| l == line), "missing {line} in\n{body}");
    }
    assert!(body.contains("flowtag_flows_live 1"), "{body}");
    let (head, _) = http_get(addr, "/nothing");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    live.interrupt();
    let (code, _, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn busy_metrics_port_is_one_line_and_exit_3() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["live", "-i", "lo", "--prometheus", &addr]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!("flowtag: --prometheus {addr}: cannot listen: ")),
        "{}",
        out.stderr
    );
}

/// A tmux server of the test's own, killed when dropped.
struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let mut all = vec!["tmux", "-L", &self.0];
        all.extend_from_slice(args);
        sh(&all)
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "view"])
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.0, "kill-server"]).output();
    }
}

#[test]
fn terminal_view_draws_refreshes_and_stops_on_ctrl_c() {
    if !can_run("terminal_view_draws_refreshes_and_stops_on_ctrl_c", &["tmux"]) {
        return;
    }
    let _lo = serial();
    let nbns = UdpSocket::bind("127.0.0.1:137").expect("UDP port 137 must be free for this test");
    let tmux = Tmux(format!("flowtag-test-{}", std::process::id()));
    let command = format!(
        "TERM=xterm-256color {} live -i lo --interval 0.3 --filter 'host 127.0.0.1 and udp port 137'; echo EXIT=$?; sleep 60",
        bin().display()
    );
    tmux.cmd(&["new-session", "-d", "-s", "view", "-x", "120", "-y", "40", &command]);
    let mut screen = String::new();
    assert!(
        wait_for(Duration::from_secs(10), || {
            screen = tmux.screen();
            screen.contains("live on lo (EN10MB)")
        }),
        "the view is drawn:\n{screen}"
    );
    assert!(screen.contains("Capture: 0 received"), "{screen}");
    assert!(screen.contains("(no service traffic yet)"), "{screen}");
    let first = screen.clone();
    datagrams(&nbns, 3, 10);
    assert!(
        wait_for(Duration::from_secs(5), || {
            screen = tmux.screen();
            screen.contains("NetBT name lookups") && screen.contains("Total:   3 packets")
        }),
        "the view is refreshed with the traffic:\n{screen}"
    );
    assert_ne!(first, screen);
    assert!(!screen.contains('\u{1b}'), "escape sequences are interpreted, not shown");
    eprintln!("the live view:\n{screen}");

    tmux.cmd(&["send-keys", "-t", "view", "C-c"]);
    assert!(
        wait_for(Duration::from_secs(5), || {
            screen = tmux.screen();
            screen.contains("EXIT=")
        }),
        "Ctrl-C stops it:\n{screen}"
    );
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("Services, by bytes"), "the summary is printed:\n{screen}");
    assert!(screen.contains("Capture: 6 received, 0 dropped by the kernel"), "{screen}");
    assert!(!screen.contains("Ctrl-C stops"), "the view is gone:\n{screen}");
}

#[test]
fn missing_interface_is_exit_3_and_lists_interfaces() {
    for name in ["flowtag-nosuch0", &"x".repeat(40)] {
        let out = run(&["live", "-i", name]);
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("flowtag: {name}: no such device (available: ")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("lo"), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
}

#[test]
fn interfaces_are_listed_with_flags_and_addresses() {
    let out = run(&["interfaces"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lo = out.stdout.lines().position(|l| l.contains(".lo [")).expect("lo is listed");
    assert!(out.stdout.lines().nth(lo).unwrap().contains("Loopback"), "{}", out.stdout);
    assert!(out.stdout.contains("    127.0.0.1/8"), "{}", out.stdout);
}

#[test]
fn bad_live_options_are_usage_errors() {
    for (args, what) in [
        (&["live", "-i", "lo", "--interval", "0"][..], "flowtag: --interval: "),
        (&["live", "-i", "lo", "--buffer-size", "lots"][..], "flowtag: --buffer-size: "),
        (&["live", "-i", "lo", "--prometheus", "nowhere"][..], "flowtag: --prometheus: "),
        (&["live", "-i", "lo", "--filter", "tcp port"][..], "flowtag: --filter: "),
        (&["live", "-i", "lo", "--count", "0"][..], "error: "),
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with(what), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn no_cap_net_raw_is_exit_3_with_the_hint() {
    if !can_run("no_cap_net_raw_is_exit_3_with_the_hint", &["setpriv"]) {
        return;
    }
    // A copy anyone may run: the build directory need not be open to user nobody.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("flowtag");
    std::fs::copy(bin(), &copy).unwrap();
    sh(&["chmod", "755", dir.path().to_str().unwrap(), copy.to_str().unwrap()]);
    let out = Command::new("setpriv")
        .args([
            "--bounding-set=-net_raw,-net_admin",
            "--inh-caps=-net_raw,-net_admin",
            "--reuid=65534",
            "--clear-groups",
        ])
        .arg(&copy)
        .args(["live", "-i", "lo"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.starts_with("flowtag: lo: permission denied"), "{err}");
    assert!(err.contains("setcap cap_net_raw,cap_net_admin=eip flowtag"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn interface_down_then_gone() {
    if !can_run("interface_down_then_gone", &["ip"]) {
        return;
    }
    let ns = Netns::with_veth("gone", "ftg0", "ftg1", false);
    // Down at the start: cannot start (CATALOGUE #91).
    let mut cmd = ns.prefix().to_vec();
    let bin = bin();
    cmd.push(bin.to_str().unwrap());
    cmd.extend(["live", "-i", "ftg1", "--duration", "1"]);
    let out = Command::new(cmd[0]).args(&cmd[1..]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.starts_with("flowtag: ftg1: interface is down"), "{err}");

    sh(&["ip", "-n", &ns.0, "link", "set", "ftg0", "up"]);
    sh(&["ip", "-n", &ns.0, "link", "set", "ftg1", "up"]);
    let mut live =
        Live::start(&ns.prefix(), &["live", "-i", "ftg1", "--interval", "0.2", "--format", "json"]);
    live.started();
    // Down mid-capture: the refresh keeps ticking (#92).
    sh(&["ip", "-n", &ns.0, "link", "set", "ftg1", "down"]);
    for _ in 0..2 {
        assert!(live.line(Duration::from_secs(2)).is_some(), "refreshes go on while the interface is down");
    }
    sh(&["ip", "-n", &ns.0, "link", "set", "ftg1", "up"]);
    assert!(live.line(Duration::from_secs(2)).is_some());
    // Gone mid-capture: the summary, exit 4 (#93).
    sh(&["ip", "-n", &ns.0, "link", "del", "ftg0"]);
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("flowtag: ftg1: interface disappeared"), "{err}");
    let doc = summary(&lines);
    assert_eq!(doc["complete"], false);
    assert_eq!(doc["inputs"][0]["status"], "truncated");
}

/// Used by the README's claim: `TERM=dumb` gets plain lines, no escapes (CATALOGUE #87).
#[test]
fn dumb_terminal_gets_plain_lines() {
    if !can_run("dumb_terminal_gets_plain_lines", &["script"]) {
        return;
    }
    let _lo = serial();
    // `script` gives flowtag a pseudo-terminal as stdout.
    let command = format!(
        "TERM=dumb {} live -i lo --interval 0.2 --duration 0.7 --filter 'udp port 9'",
        bin().display()
    );
    let out = Command::new("script").args(["-qec", &command, "/dev/null"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains('\u{1b}'), "no escape sequences: {text:?}");
    assert!(text.lines().filter(|l| l.contains(" lo: 0 pkt/s")).count() >= 2, "{text}");
    assert!(text.contains("Services, by bytes"), "{text}");
}

#[test]
fn closed_stdout_ends_quietly() {
    if !can_run("closed_stdout_ends_quietly", &[]) {
        return;
    }
    let _lo = serial();
    let mut child = Command::new(bin())
        .args(["live", "-i", "lo", "--interval", "0.1", "--filter", "udp port 9"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("\"interval\""), "{first}");
    // The reader is gone: the next line fails with EPIPE, and the run ends as if stopped.
    let start = Instant::now();
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "flowtag kept running with stdout closed");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The `Successful packets:` figure of tcpreplay's statistics.
fn replayed(stats: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix("Successful packets:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in tcpreplay's output: {stats}"))
}

/// CATALOGUE #94: a slow consumer with a tiny buffer. flowtag is stopped (SIGSTOP) while five
/// loops of the fixture are replayed into a 64 KiB kernel buffer, so the kernel must drop; the
/// drops are in every interval line, in the summary and on stderr, never hidden: every packet
/// sent is counted or reported dropped.
#[test]
fn kernel_drops_are_reported_not_hidden() {
    if !can_run("kernel_drops_are_reported_not_hidden", &["ip", "tcpreplay"]) {
        return;
    }
    let pcap = fixture("windows-lan.pcap");
    let ns = Netns::with_veth("drops", "ftd0", "ftd1", true);
    let mut live = Live::start(
        &ns.prefix(),
        &["live", "-i", "ftd1", "--interval", "0.2", "--format", "json", "--buffer-size", "64k"],
    );
    live.started();
    let pid = live.child.id().to_string();
    sh(&["kill", "-STOP", &pid]);
    let stats = ns.exec(&["tcpreplay", "-i", "ftd0", "--topspeed", "--loop=5", pcap.to_str().unwrap()]);
    sh(&["kill", "-CONT", &pid]);
    let sent = replayed(&stats);
    // What the buffer held is read at once; a few more refreshes, then stop.
    for _ in 0..3 {
        assert!(live.line(Duration::from_secs(2)).is_some(), "refreshes go on after the stall");
    }
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
    let doc = summary(&lines);
    let c = &doc["capture"];
    let (received, dropped, if_dropped) =
        (c["received"].as_u64().unwrap(), c["dropped"].as_u64().unwrap(), c["if_dropped"].as_u64().unwrap());
    let counted = doc["totals"]["packets"].as_u64().unwrap();
    assert!(dropped > 0, "a stopped reader and a 64 KiB buffer drop packets: {c}");
    assert!(counted > 0, "what the buffer held is counted: {c}");
    assert_eq!(received, counted + dropped, "{c}");
    assert_eq!(sent, counted + dropped + if_dropped, "every packet sent is counted or reported dropped: {c}");
    // The interval lines report the drops as they happen (their sum is the total).
    let docs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let per_interval: u64 = docs.iter().filter_map(|d| d["interval"]["capture"]["dropped"].as_u64()).sum();
    assert!(per_interval > 0 && per_interval <= dropped, "interval drops {per_interval} of {dropped}");
    let warning: Vec<&str> = err.lines().filter(|l| l.contains("packets dropped")).collect();
    assert_eq!(warning.len(), 1, "one drop warning at the end: {err}");
    assert!(warning[0].starts_with("flowtag: warning: ftd1: "), "{err}");
    assert!(warning[0].ends_with("the figures are incomplete"), "{err}");
}

/// CATALOGUE #96: low-rate traffic. Three datagrams half a second apart on `lo`: each is in the
/// refresh that follows it, within the kernel's block timeout (100 ms) and one interval.
#[test]
fn low_rate_packets_show_in_the_next_refresh() {
    if !can_run("low_rate_packets_show_in_the_next_refresh", &[]) {
        return;
    }
    let _lo = serial();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let filter = format!("host 127.0.0.1 and udp port {}", sink.local_addr().unwrap().port());
    let mut live =
        Live::start(&[], &["live", "-i", "lo", "--interval", "0.2", "--format", "json", "--filter", &filter]);
    live.started();
    for n in 1..=3 {
        std::thread::sleep(Duration::from_millis(500));
        let sent = Instant::now();
        datagrams(&sink, 1, 10);
        let seen = live.until_packets(n, Duration::from_secs(3));
        let took = sent.elapsed();
        assert!(seen.is_some(), "datagram {n} was never counted");
        // 100 ms block timeout + 200 ms interval, with a margin for a loaded machine.
        assert!(took < Duration::from_millis(900), "datagram {n} counted only after {took:?}");
        assert_eq!(seen.unwrap()["interval"]["packets"], 1, "datagram {n} in the refresh after it");
    }
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary(&lines)["totals"]["packets"], 3);
}

/// CATALOGUE #99 and #100: `-i any` is decoded with its cooked link type (never as Ethernet),
/// and libpcap's refusal of promiscuous mode there is one warning, after which capture goes on.
#[test]
fn any_device_is_cooked_and_promiscuous_refusal_is_one_warning() {
    if !can_run("any_device_is_cooked_and_promiscuous_refusal_is_one_warning", &[]) {
        return;
    }
    let _lo = serial();
    let nbns = UdpSocket::bind("127.0.0.1:137").expect("UDP port 137 must be free for this test");
    let mut live = Live::start(
        &[],
        &[
            "live",
            "-i",
            "any",
            "--interval",
            "0.2",
            "--format",
            "json",
            "--filter",
            "host 127.0.0.1 and udp port 137",
        ],
    );
    live.started();
    datagrams(&nbns, 3, 10);
    let _ = live.until_packets(3, Duration::from_secs(5));
    // Anything late (a second copy, were `any` to count loopback twice) would come now.
    let _ = live.line(Duration::from_secs(1));
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
    let doc = summary(&lines);
    let linktype = doc["inputs"][0]["link_types"][0].as_u64().unwrap();
    assert!([113, 276].contains(&linktype), "LINUX_SLL or LINUX_SLL2, got {linktype}");
    let nb = service(&doc, "NetBT name lookups", "udp");
    assert_eq!((nb["flows"].as_u64(), nb["packets"].as_u64()), (Some(1), Some(3)), "{nb}");
    // Wire lengths are libpcap's record lengths, which on a cooked capture include the cooked
    // header (16 bytes for SLL, 20 for SLL2) in place of lo's Ethernet header.
    let cooked = if linktype == 113 { 16 } else { 20 };
    assert_eq!(nb["bytes"], 3 * (cooked + 20 + 8 + 10));
    assert_eq!(doc["totals"]["non_ip_packets"], 0);
    assert_eq!(doc["totals"]["skipped_packets"], 0);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("promiscuous")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {err}");
    assert!(warnings[0].starts_with("flowtag: warning: "), "{err}");
    assert!(warnings[0].contains("\"any\""), "{err}");
}

/// CATALOGUE #97 (and #82 live): an idle interface still refreshes every interval, and SIGINT
/// or SIGTERM stops it at once with the summary.
#[test]
fn idle_interface_refreshes_and_stops_on_a_signal() {
    if !can_run("idle_interface_refreshes_and_stops_on_a_signal", &["ip"]) {
        return;
    }
    let ns = Netns::with_veth("idle", "fti0", "fti1", true);
    for signal in ["-INT", "-TERM"] {
        let mut live =
            Live::start(&ns.prefix(), &["live", "-i", "fti1", "--interval", "0.2", "--format", "json"]);
        live.started();
        let start = Instant::now();
        for _ in 0..10 {
            let v = live.line(Duration::from_secs(1)).expect("a refresh within 1 s on an idle link");
            assert_eq!(v["interval"]["packets"], 0, "{v}");
            let secs = v["interval"]["seconds"].as_f64().unwrap();
            assert!((0.1..0.5).contains(&secs), "interval of {secs} s");
        }
        assert!(start.elapsed() < Duration::from_secs(4), "10 refreshes of 0.2 s took {:?}", start.elapsed());
        let asked = Instant::now();
        sh(&["kill", signal, &live.child.id().to_string()]);
        let (code, lines, err) = live.finish(Duration::from_secs(10));
        assert_eq!(code, 0, "{signal}: {err}");
        // CATALOGUE #97 asks for 1 s; the margin is for a loaded machine.
        assert!(asked.elapsed() < Duration::from_secs(2), "stopped {:?} after {signal}", asked.elapsed());
        let doc = summary(&lines);
        assert_eq!(doc["totals"]["packets"], 0);
        assert_eq!(doc["complete"], true, "a live stop by a signal is a clean stop");
        assert!(doc["interrupted"].is_null(), "{signal}: {}", doc["interrupted"]);
    }
}

/// libfaketime's multithreaded preload library (package `faketime`), if installed.
fn libfaketime() -> Option<PathBuf> {
    ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"]
        .iter()
        .map(|d| PathBuf::from(d).join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.is_file())
}

/// The prefix that runs flowtag with its wall clock (CLOCK_REALTIME, not the monotonic clock)
/// offset by what `file` says, read at every call: `+0`, `-3600`, ...
fn faked_wall_clock(lib: &std::path::Path, file: &std::path::Path) -> Vec<String> {
    vec![
        "env".into(),
        format!("LD_PRELOAD={}", lib.display()),
        format!("FAKETIME_TIMESTAMP_FILE={}", file.display()),
        "FAKETIME_NO_CACHE=1".into(),
        "FAKETIME_DONT_FAKE_MONOTONIC=1".into(),
    ]
}

/// What a test of flowtag under a faked wall clock needs: a directory, the file libfaketime
/// reads the offset from (`+0` to begin with), and the command prefix; `None` when the test
/// cannot run here (it says why; under `CI=true` a missing libfaketime fails instead).
fn faked_clock_run(test: &str) -> Option<(tempfile::TempDir, std::path::PathBuf, Vec<String>)> {
    if !can_run(test, &["faketime"]) {
        return None;
    }
    let Some(lib) = libfaketime() else {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "libfaketimeMT.so.1 not found");
        eprintln!("note: libfaketimeMT.so.1 not found; skipping");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let offset = dir.path().join("offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let prefix = faked_wall_clock(&lib, &offset);
    Some((dir, offset, prefix))
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// CATALOGUE #74: the wall clock steps while live (here flowtag's own, through libfaketime, not
/// the machine's). The refresh keeps its cadence, intervals are measured on the monotonic clock
/// (never negative, never an hour long), rates stay non-negative, packets are still counted.
#[test]
fn wall_clock_steps_do_not_disturb_the_refresh() {
    let Some((_dir, offset, prefix)) = faked_clock_run("wall_clock_steps_do_not_disturb_the_refresh") else {
        return;
    };
    let _lo = serial();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let filter = format!("host 127.0.0.1 and udp port {}", sink.local_addr().unwrap().port());
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let mut live = Live::start(
        &prefix,
        &["live", "-i", "lo", "--interval", "0.2", "--format", "json", "--filter", &filter],
    );
    live.started();
    let mut packets = 0;
    for (step, shift) in [("-3600", -3600.0), ("+3600", 3600.0), ("+0", 0.0)] {
        std::fs::write(&offset, format!("{step}\n")).unwrap();
        let start = Instant::now();
        let mut last = Value::Null;
        for _ in 0..5 {
            last = live.line(Duration::from_secs(1)).expect("a refresh within 1 s after the step");
            let iv = &last["interval"];
            let secs = iv["seconds"].as_f64().unwrap();
            assert!((0.1..0.5).contains(&secs), "step {step}: interval of {secs} s: {iv}");
            assert!(iv["packets_per_s"].as_f64().unwrap() >= 0.0, "{iv}");
            assert!(iv["bits_per_s"].as_f64().unwrap() >= 0.0, "{iv}");
        }
        assert!(start.elapsed() < Duration::from_secs(3), "5 refreshes took {:?}", start.elapsed());
        // The step did reach flowtag: its interval ends are on the stepped clock.
        let end = last["interval"]["end"].as_f64().unwrap();
        assert!((end - epoch_now() - shift).abs() < 5.0, "step {step}: interval end {end}");
        datagrams(&sink, 2, 10);
        packets += 2;
        let v = live.until_packets(packets, Duration::from_secs(3)).expect("the datagrams are counted");
        assert!(v["interval"]["packets_per_s"].as_f64().unwrap() > 0.0, "{v}");
    }
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary(&lines)["totals"]["packets"], packets);
}

/// A listener on a free TCP port of 127.0.0.1 in the SQL session range (1024-5000), a range
/// entry that labels a flow only when its handshake is seen: a flow cut in two by a clock
/// step would show its second half as an unknown port.
fn sql_range_listener() -> TcpListener {
    (4455..4655)
        .find_map(|port| TcpListener::bind(("127.0.0.1", port)).ok())
        .expect("a free TCP port in 4455-4654")
}

/// CATALOGUE #74, the flows: flowtag's wall clock steps forward an hour, back, and back another
/// hour (libfaketime) while the kernel's stamps do not, as with stamps that do not follow the
/// system clock. One connection stays open across all three steps, two more start and end
/// between them. Before the step-free timeline, the step forward moved the flow clock an hour
/// ahead through the quiet link's backstop: the open flow expired there and then, and every
/// later packet counted as late, a flow of its own (2 connections made 8 flows, half their
/// packets under an unknown port). What a real step does to the kernel's stamps, which this
/// cannot reach, is covered by the unit tests of `src/app/timeline.rs`.
#[test]
fn flows_stay_whole_when_the_wall_clock_steps() {
    let Some((dir, offset, prefix)) = faked_clock_run("flows_stay_whole_when_the_wall_clock_steps") else {
        return;
    };
    let _lo = serial();
    let flows = dir.path().join("flows.jsonl");
    let app = sql_range_listener();
    let port = app.local_addr().unwrap().port();
    let filter = format!("host 127.0.0.1 and tcp port {port}");
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let mut live = Live::start(
        &prefix,
        &[
            "live",
            "-i",
            "lo",
            "--interval",
            "0.2",
            "--format",
            "json",
            "--filter",
            &filter,
            "--flows",
            flows.to_str().unwrap(),
        ],
    );
    live.started();
    let begun = epoch_now();
    let (held_client, held_server) = connect(&app);
    let mut packets = 3;
    live.until_packets(packets, Duration::from_secs(5)).expect("the handshake is counted");
    for (step, shift) in [("+3600", 3600.0), ("+0", 0.0), ("-3600", -3600.0)] {
        std::fs::write(&offset, format!("{step}\n")).unwrap();
        // Refreshes on a quiet link: each moves the flow clock to the present less a second.
        let mut last = Value::Null;
        for _ in 0..4 {
            last = live.line(Duration::from_secs(1)).expect("a refresh within 1 s after the step");
            assert_eq!(last["interval"]["packets"], 0, "{last}");
        }
        // The step did reach flowtag: its interval ends are on the stepped clock.
        let end = last["interval"]["end"].as_f64().unwrap();
        assert!((end - epoch_now() - shift).abs() < 5.0, "step {step}: interval end {end}");
        assert_eq!(last["totals"]["flows_expired"], 0, "step {step}: the held connection is open: {last}");
        connect_and_reset(&app);
        packets += 4;
        live.until_packets(packets, Duration::from_secs(5)).expect("the connection is counted");
    }
    reset(held_client, held_server);
    packets += 1;
    live.until_packets(packets, Duration::from_secs(5)).expect("the reset is counted");
    let ended = epoch_now();
    live.interrupt();
    let (code, lines, err) = live.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{err}");
    for way in ["forward 3600.", "back 3600.", "back 3600."] {
        assert!(err.contains(&format!("the system clock stepped {way}")), "{err}");
    }
    assert_eq!(err.matches("the system clock stepped").count(), 3, "{err}");

    let doc = summary(&lines);
    let t = &doc["totals"];
    assert_eq!((t["packets"].as_u64(), t["flows"].as_u64()), (Some(packets), Some(4)), "{t}");
    let sql = service(&doc, "SQL session", "tcp");
    assert_eq!((sql["flows"].as_u64(), sql["packets"].as_u64()), (Some(4), Some(packets)), "{sql}");
    assert_eq!(doc["unknown"].as_array().unwrap().len(), 0, "{}", doc["unknown"]);
    // Times of day are the packets' own, the kernel's: the real clock, not flowtag's.
    for key in ["first_ts", "last_ts"] {
        let ts = doc[key].as_f64().unwrap();
        assert!(begun - 1.0 <= ts && ts <= ended + 1.0, "{key} {ts} outside {begun}..{ended}");
    }

    let records: Vec<Value> =
        std::fs::read_to_string(&flows).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        assert_eq!(
            (r["service"].as_str(), r["decided_by"].as_str()),
            (Some("SQL session"), Some("handshake"))
        );
        assert_eq!(
            (r["server_port"].as_u64(), r["tcp_state"].as_str()),
            (Some(u64::from(port)), Some("reset"))
        );
        assert_eq!((r["packets_to_server"].as_u64(), r["packets_to_client"].as_u64()), (Some(3), Some(1)));
        let (start, end) = (r["start"].as_f64().unwrap(), r["end"].as_f64().unwrap());
        assert!(begun - 1.0 <= start && start <= end && end <= ended + 1.0, "{r}");
    }
    // The held connection, the first to start: its handshake before the first step, its reset
    // after the last, a dozen refreshes later.
    let held = records.iter().min_by(|a, b| a["start"].as_f64().partial_cmp(&b["start"].as_f64()).unwrap());
    let held = held.unwrap();
    assert!(held["end"].as_f64().unwrap() - held["start"].as_f64().unwrap() > 1.0, "{held}");
}

/// A reader that stalls (`flowtag live | (sleep 25)`): the writes to stdout block, yet the
/// first SIGINT ends the run within the output's grace, saying what stdout did not take.
#[test]
fn a_stalled_stdout_does_not_keep_a_signal_waiting() {
    if !can_run("a_stalled_stdout_does_not_keep_a_signal_waiting", &[]) {
        return;
    }
    let _lo = serial();
    let mut child = Command::new(bin())
        .args(["live", "-i", "lo", "--interval", "0.1", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // One page of pipe: a few lines fill it, and nobody reads them.
    rustix::pipe::fcntl_setpipe_size(&stdout, 4096).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(child.try_wait().unwrap().is_none(), "flowtag live ended early");
    let asked = Instant::now();
    sh(&["kill", "-INT", &child.id().to_string()]);
    let status =
        crate::support::wait_within(&mut child, Duration::from_secs(8), "flowtag live blocked on its stdout");
    let took = asked.elapsed();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(took < Duration::from_secs(4), "stopped {took:?} after SIGINT");
    assert_eq!(status.code(), Some(5), "stdout did not take the summary: {err}");
    assert!(err.contains("error writing stdout"), "{err}");
    drop(stdout);
}

/// A terminal stopped with Ctrl-S (XOFF) blocks every write to it; the first SIGINT still ends
/// the run within the outputs' grace, where it used to wait for Ctrl-Q.
#[test]
fn a_stopped_terminal_does_not_keep_a_signal_waiting() {
    if !can_run("a_stopped_terminal_does_not_keep_a_signal_waiting", &["tmux"]) {
        return;
    }
    let _lo = serial();
    let tmp = std::env::temp_dir().join(format!("flowtag-xoff-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let pidfile = tmp.join("pid");
    let tmux = Tmux(format!("flowtag-xoff-{}", std::process::id()));
    let command = format!(
        "echo $$ > '{}'; TERM=xterm-256color exec {} live -i lo --interval 0.1",
        pidfile.display(),
        bin().display()
    );
    tmux.cmd(&["new-session", "-d", "-s", "view", "-x", "200", "-y", "60", &command]);
    let mut screen = String::new();
    assert!(
        wait_for(Duration::from_secs(10), || {
            screen = tmux.screen();
            screen.contains("live on lo (EN10MB)")
        }),
        "the view is drawn:\n{screen}"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    // XOFF: the terminal stops taking output; a few frames later every write blocks.
    tmux.cmd(&["send-keys", "-t", "view", "C-s"]);
    std::thread::sleep(Duration::from_secs(3));
    let asked = Instant::now();
    sh(&["kill", "-INT", &pid]);
    // The view's write gets its 2 s grace, then the error line on the same stopped terminal
    // gets its own: well under 10 s, where the old code waited for Ctrl-Q for ever.
    let gone = wait_for(Duration::from_secs(15), || !Path::new(&format!("/proc/{pid}")).exists());
    let took = asked.elapsed();
    // Let the terminal go again either way, so nothing is left waiting (the session is gone
    // when flowtag was its only process).
    let _ = Command::new("tmux").args(["-L", &tmux.0, "send-keys", "-t", "view", "C-q"]).output();
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(gone, "flowtag live on a stopped terminal ignored SIGINT for {took:?}");
    assert!(took < Duration::from_secs(10), "stopped {took:?} after SIGINT");
}
