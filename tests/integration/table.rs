//! `--table FILE` on tables built to be expensive: a million rows, ranges overlapping by the
//! thousand, a cell listing every port, an endless file, a file too large, a line too long.
//! Each must load, or be refused naming the file (and line), in bounded time and memory.

use crate::support::{TempDir, fixture, flowtag};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Generous, for a debug build on a shared machine: the new parser takes a few seconds at
/// most here, the old one took from 14 s to well past 100 s on the same tables.
const BOUND: Duration = Duration::from_secs(20);

/// Address space for the runs that must not read their input to the end: the table cap is
/// 8 MiB, the old code asked for gigabytes.
const MEMORY_KIB: u32 = 256 * 1024;

struct Timed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs flowtag with `args` (under `ulimit -v` if `memory_kib`), killing it past [`BOUND`].
fn timed(what: &str, args: &[&str], stdin: Option<Vec<u8>>, memory_kib: Option<u32>) -> Timed {
    let mut cmd = if let Some(kib) = memory_kib {
        let mut sh = assert_cmd::Command::new("sh");
        let script = format!("ulimit -v {kib} && exec \"$0\" \"$@\"");
        sh.arg("-c").arg(script).arg(crate::support::bin()).args(args);
        sh
    } else {
        let mut cmd = flowtag();
        cmd.args(args);
        cmd
    };
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes);
    }
    let start = Instant::now();
    let out = cmd.timeout(BOUND).output().unwrap();
    let took = start.elapsed();
    eprintln!("{what}: {:.2} s", took.as_secs_f64());
    let run = Timed {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(took < BOUND && run.code.is_some(), "{what}: not done within {BOUND:?} (took {took:?})");
    assert!(!run.stderr.contains("panicked"), "{what}: flowtag panicked:\n{}", run.stderr);
    run
}

fn write_table(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_million_rows_load_in_bounded_time() {
    let tmp = TempDir::new("table-1m");
    // 9,000 distinct TCP ports, each listed by 111 rows: 18,000 runs to resolve.
    let mut text = String::from("service\tudp\ttcp\n");
    for i in 0..1_000_000u32 {
        let name = char::from(b'a' + u8::try_from(i % 26).unwrap());
        writeln!(text, "{name}\t\t{}", 1000 + i % 9000).unwrap();
    }
    assert!(text.len() < 8 << 20, "the table fits the 8 MiB cap");
    let path = write_table(&tmp, "million.tsv", &text);
    let run = timed("1,000,000 rows", &["services", "--table", &path, "1000", "9999"], None, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Port 1000 is rows 0, 9000, 18000, ... (a, e, i, ...); port 9999 rows 8999, 17999, ... (d, h, ...).
    assert!(run.stdout.contains("tcp 1000: a (listed by number)\n  also listed: e\n"), "{}", run.stdout);
    assert!(run.stdout.contains("tcp 9999: d (listed by number)\n  also listed: h\n"), "{}", run.stdout);
}

#[test]
fn twenty_thousand_overlapping_ranges_load_in_bounded_time() {
    let tmp = TempDir::new("table-ranges");
    // Each range overlaps the 149 before and after it: 3 million candidates in all.
    let mut text = String::from("service\tudp\ttcp\n");
    for i in 1..=20_000u32 {
        writeln!(text, "r{i}\t{i} - {}\t", i + 149).unwrap();
    }
    let path = write_table(&tmp, "ranges.tsv", &text);
    let run = timed("20,000 overlapping ranges", &["services", "--table", &path, "10000"], None, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Ranges 9851 to 10000 cover port 10000, listed in file order.
    let mut expected = String::from("udp 10000: r9851 (only a range covers it)\n");
    for i in 9852..=10_000 {
        writeln!(expected, "  also listed: r{i}").unwrap();
    }
    assert!(run.stdout.contains(&expected), "{}", run.stdout);
}

#[test]
fn twenty_thousand_nested_ranges_are_refused_in_bounded_time() {
    let tmp = TempDir::new("table-nested");
    // Port p is covered by p ranges of distinct services: 200 million candidates.
    let mut text = String::from("service\tudp\ttcp\n");
    for i in 1..=20_000u32 {
        writeln!(text, "r{i}\t\t{i} - 65535").unwrap();
    }
    let path = write_table(&tmp, "nested.tsv", &text);
    let run = timed("20,000 nested ranges", &["services", "--table", &path, "80"], None, None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let line = format!("flowtag: --table: {path}: the rows overlap too much");
    assert!(run.stderr.starts_with(&line), "{}", run.stderr);
    assert!(run.stderr.contains("more than 4194304"), "{}", run.stderr);
}

#[test]
fn a_cell_listing_every_port_loads_in_bounded_time() {
    let tmp = TempDir::new("table-allports");
    let ports: Vec<String> = (1..=65535u32).map(|p| p.to_string()).collect();
    let text = format!("service\tudp\ttcp\nEverything\t\t{}\n", ports.join(", "));
    let path = write_table(&tmp, "all.tsv", &text);
    let run = timed("a cell of 65,535 ports", &["services", "--table", &path, "1", "65535"], None, None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for port in [1, 65535] {
        let tcp = format!("tcp {port}: Everything (listed by number)\nudp {port}: not in the table\n");
        assert!(run.stdout.contains(&tcp), "{}", run.stdout);
    }
    // The same cell with one port twice is still refused, naming the line.
    let text = format!("service\tudp\ttcp\n# repeated\nEverything\t\t{}, 40000\n", ports.join(", "));
    let path = write_table(&tmp, "twice.tsv", &text);
    let run = timed("65,535 ports and one again", &["services", "--table", &path], None, None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.starts_with(&format!("flowtag: --table: {path}:3: tcp column ")), "{}", run.stderr);
    assert!(run.stderr.contains("lists a port twice"), "{}", run.stderr);
    assert!(run.stderr.len() < 200, "the cell is clipped in the message: {}", run.stderr);
}

#[test]
fn an_endless_table_is_refused_with_bounded_memory() {
    let pcap = fixture("link-ethernet-445.pcap");
    let cases: [&[&str]; 2] =
        [&["services", "--table", "/dev/zero"], &["read", "--table", "/dev/zero", pcap.to_str().unwrap()]];
    for args in cases {
        let run = timed("--table /dev/zero", args, None, Some(MEMORY_KIB));
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert_eq!(
            run.stderr,
            "flowtag: --table: /dev/zero: larger than 8 MiB (8388608 bytes), the most a port table may hold\n"
        );
        assert_eq!(run.stdout, "");
    }
}

#[test]
fn a_huge_file_is_refused_before_it_is_read() {
    let tmp = TempDir::new("table-huge");
    let path = tmp.join("huge.tsv");
    // Sparse: a gigabyte that costs no disk, and no time unless someone reads it.
    std::fs::File::create(&path).unwrap().set_len(1 << 30).unwrap();
    let path = path.to_str().unwrap();
    let run = timed("a 1 GiB table", &["services", "--table", path], None, Some(MEMORY_KIB));
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "flowtag: --table: {path}: larger than 8 MiB (8388608 bytes), the most a port table may hold\n"
        )
    );
}

#[test]
fn a_table_on_stdin_is_read_up_to_the_cap() {
    let table = b"service\tudp\ttcp\nMy app\t\t40000\n".to_vec();
    let run = timed("a table on stdin", &["services", "--table", "/dev/stdin", "40000"], Some(table), None);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("tcp 40000: My app (listed by number)"), "{}", run.stdout);
    // A valid table, just past the cap: refused, not read to the end.
    let mut big = b"service\tudp\ttcp\n".to_vec();
    while big.len() <= 8 << 20 {
        big.extend_from_slice(b"My app\t\t40000\n");
    }
    let run = timed("9 MiB on stdin", &["services", "--table", "/dev/stdin"], Some(big), Some(MEMORY_KIB));
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.starts_with("flowtag: --table: /dev/stdin: larger than 8 MiB"), "{}", run.stderr);
}

#[test]
fn an_overlong_line_is_refused_by_its_number() {
    let tmp = TempDir::new("table-longline");
    let comment = "x".repeat(2 << 20);
    let text = format!("service\tudp\ttcp\nWeb\t\t80\n# {comment}\nMail\t\t25\n");
    let path = write_table(&tmp, "long.tsv", &text);
    let run = timed("a 2 MiB line", &["services", "--table", &path], None, None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "flowtag: --table: {path}:3: the line is 2097154 bytes long; a line may hold at most 1 MiB (1048576 bytes)\n"
        )
    );
}

#[test]
fn bytes_that_are_not_utf8_are_refused_by_their_line() {
    let tmp = TempDir::new("table-utf8");
    let path = tmp.join("latin1.tsv");
    std::fs::write(&path, b"service\tudp\ttcp\nWeb\t\t80\nCaf\xe9\t\t8080\n").unwrap();
    let path = path.to_str().unwrap();
    let run = timed("a Latin-1 table", &["services", "--table", path], None, None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(run.stderr, format!("flowtag: --table: {path}:3: not UTF-8 text\n"));
}
