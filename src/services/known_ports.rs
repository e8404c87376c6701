//! Reading and validating `data/known-ports.tsv`: IANA's registered service names of ports.
//!
//! What I own: that file's format and its validation, every error as `origin:line: problem`
//! naming the offending text. `build.rs` compiles this very file through
//! `#[path = "src/services/known_ports.rs"]` and turns the result into the sorted array behind
//! [`known_name`](super::known_name); the crate compiles it only for its unit tests.
//!
//! What I must not do: use anything but `std`, panic, or let a line through that the file's
//! header does not allow (a silently skipped line would be a silently missing hint).

use super::parse::Transport;
use std::collections::HashMap;

/// The header row.
pub const HEADER: &str = "transport\tport\tname\tsource";

/// RFC 6335 §5.1: a service name is at most 15 characters.
const MAX_NAME: usize = 15;

/// One line of the file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KnownPort {
    pub transport: Transport,
    pub port: u16,
    pub name: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// Reads the file; the rows come back sorted by (transport, port), ready for a binary search.
///
/// # Errors
/// The first bad line, as `origin:line: problem`.
pub fn parse(text: &str, origin: &str) -> Result<Vec<KnownPort>, String> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.starts_with('#'));
    match lines.next() {
        Some((_, HEADER)) => {}
        Some((n, other)) => {
            return Err(format!("{origin}:{n}: expected the header row {HEADER:?}, found {other:?}"));
        }
        None => return Err(format!("{origin}: no header row {HEADER:?}")),
    }
    let mut rows: Vec<KnownPort> = Vec::new();
    let mut seen: HashMap<(Transport, u16), usize> = HashMap::new();
    for (n, line) in lines {
        let row = parse_line(line, n).map_err(|problem| format!("{origin}:{n}: {problem}"))?;
        let key = (row.transport, row.port);
        if let Some(first) = seen.get(&key) {
            return Err(format!("{origin}:{n}: duplicate {}/{} (first on line {first})", key.0, key.1));
        }
        // Sorted by port, then transport, so a reviewer finds a port where it belongs.
        if let Some(last) = rows.last()
            && (last.port, last.transport) > (row.port, row.transport)
        {
            return Err(format!(
                "{origin}:{n}: {}/{} is out of order: rows are sorted by port, then transport (line {} is {}/{})",
                row.transport, row.port, last.line, last.transport, last.port
            ));
        }
        seen.insert(key, n);
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(format!("{origin}: no rows"));
    }
    rows.sort_by_key(|r| (r.transport, r.port));
    Ok(rows)
}

fn parse_line(line: &str, n: usize) -> Result<KnownPort, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [transport, port, name, source] = fields[..] else {
        return Err(format!("expected 4 tab-separated fields, found {}: {line:?}", fields.len()));
    };
    let Some(transport @ (Transport::Tcp | Transport::Udp)) = Transport::parse(transport) else {
        return Err(format!("transport must be tcp or udp, not {transport:?}"));
    };
    let port = parse_port(port).ok_or_else(|| format!("port must be 1-65535 in decimal, not {port:?}"))?;
    check_name(name).map_err(|why| format!("service name {name:?} {why}"))?;
    if source.trim().is_empty() || source.trim() != source {
        return Err(format!("source must name where the line comes from, not {source:?}"));
    }
    Ok(KnownPort { transport, port, name: name.to_owned(), line: n })
}

fn parse_port(text: &str) -> Option<u16> {
    // `u16::from_str` takes `+22` and `022`; the file takes neither.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// RFC 6335 §5.1's syntax of a service name, in lower case.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err("must be 1-15 characters (RFC 6335 §5.1)");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err("may hold only a-z, 0-9 and - (RFC 6335 §5.1; written in lower case)");
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err("must hold a letter (RFC 6335 §5.1)");
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err("must not start or end with -, nor hold -- (RFC 6335 §5.1)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: &str) -> String {
        format!("# comment\n{HEADER}\n{rows}")
    }

    fn error(rows: &str) -> String {
        parse(&file(rows), "k.tsv").expect_err("a bad line fails")
    }

    #[test]
    fn reads_rows_sorted_for_search() {
        let rows =
            parse(&file("tcp\t22\tssh\tnetbase\nudp\t22\tssh\tIANA\ntcp\t80\thttp\tnetbase\n"), "k.tsv")
                .expect("a good file");
        let keys: Vec<_> = rows.iter().map(|r| (r.transport, r.port, r.name.as_str(), r.line)).collect();
        assert_eq!(
            keys,
            [(Transport::Tcp, 22, "ssh", 3), (Transport::Tcp, 80, "http", 5), (Transport::Udp, 22, "ssh", 4)]
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        assert_eq!(
            parse("tcp\t22\tssh\tnetbase\n", "k.tsv").unwrap_err(),
            format!("k.tsv:1: expected the header row {HEADER:?}, found \"tcp\\t22\\tssh\\tnetbase\"")
        );
        assert_eq!(parse("# only\n", "k.tsv").unwrap_err(), format!("k.tsv: no header row {HEADER:?}"));
        assert_eq!(parse(&file(""), "k.tsv").unwrap_err(), "k.tsv: no rows");
        assert!(error("tcp\t22\tssh\n").starts_with("k.tsv:3: expected 4 tab-separated fields, found 3"));
        assert!(error("sctp\t22\tssh\tx\n").starts_with("k.tsv:3: transport must be tcp or udp"));
        assert!(error("ip\t50\tesp\tx\n").starts_with("k.tsv:3: transport must be tcp or udp"));
        for port in ["0", "022", "+22", "65536", "", "2 2", "-1"] {
            assert!(
                error(&format!("tcp\t{port}\tssh\tx\n")).starts_with("k.tsv:3: port must be"),
                "{port:?}"
            );
        }
        for name in ["", "SSH", "ms_wbt", "-ssh", "ssh-", "s--h", "1234", "sixteen-letters-", "ssh "] {
            assert!(error(&format!("tcp\t22\t{name}\tx\n")).starts_with("k.tsv:3: service name"), "{name:?}");
        }
        assert!(error("tcp\t22\tssh\t\n").starts_with("k.tsv:3: source must"));
        assert_eq!(
            error("tcp\t22\tssh\tnetbase\ntcp\t22\tssh2\tnetbase\n"),
            "k.tsv:4: duplicate tcp/22 (first on line 3)"
        );
        assert!(error("udp\t22\tssh\tx\ntcp\t22\tssh\tx\n").starts_with("k.tsv:4: tcp/22 is out of order"));
        assert!(error("tcp\t80\thttp\tx\ntcp\t22\tssh\tx\n").starts_with("k.tsv:4: tcp/22 is out of order"));
    }

    #[test]
    fn names_at_the_limits_of_rfc_6335() {
        for name in ["a", "afs3-fileserver", "3com-tsmux", "x11"] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }
}
