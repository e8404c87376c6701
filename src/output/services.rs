//! Renders a [`ServiceTable`]: the effective mapping, the seed rows as written, one port.

use super::escape::visible;
use std::io::{self, Write};

use crate::services::{MatchKind, ServiceTable, Transport};

/// The effective mapping, one run of ports per line (transport, ports, how they are listed,
/// the service `lookup` returns), each other candidate on a `+` line below; then the
/// IP-protocol entries.
///
/// # Errors
/// Whatever the writer returns.
pub fn write_table(w: &mut impl Write, table: &ServiceTable) -> io::Result<()> {
    let ports = |first: u16, last: u16| {
        if first == last { first.to_string() } else { format!("{first}-{last}") }
    };
    let mappings = || table.mappings().filter(|m| m.transport != Transport::Ip);
    let width = mappings().map(|m| ports(m.first, m.last).len()).max().unwrap_or(0);
    let width = width.max("PORTS".len());
    writeln!(w, "{:<9}  {:<width$}  {:<5}  SERVICE", "TRANSPORT", "PORTS", "MATCH")?;
    for m in mappings() {
        let kind = match m.kind {
            MatchKind::Single => "port",
            MatchKind::RangeOnly => "range",
            MatchKind::None => "none",
        };
        let mut names = m.candidates.iter().map(|&id| visible(table.name(id)));
        let primary = names.next().unwrap_or("?".into());
        let ports = ports(m.first, m.last);
        writeln!(w, "{:<9}  {ports:<width$}  {kind:<5}  {primary}", m.transport.as_str())?;
        for other in names {
            writeln!(w, "{:<9}  {:<width$}  {:<5}  + {other}", "", "", "")?;
        }
    }
    writeln!(w)?;
    writeln!(w, "IP PROTOCOL  SERVICE")?;
    let mut any = false;
    for m in table.mappings().filter(|m| m.transport == Transport::Ip) {
        any = true;
        let mut names = m.candidates.iter().map(|&id| visible(table.name(id)));
        let primary = names.next().unwrap_or("?".into());
        let protocols = ports(m.first, m.last);
        writeln!(w, "{protocols:<11}  {primary}")?;
        for other in names {
            writeln!(w, "{:<11}  + {other}", "")?;
        }
    }
    if !any {
        writeln!(w, "(none)")?;
    }
    Ok(())
}

/// The rows exactly as written, as TSV with the file's header row: for the built-in tables,
/// byte for byte the data lines of `data/windows-2000.tsv`.
///
/// # Errors
/// Whatever the writer returns.
pub fn write_seed(w: &mut impl Write, table: &ServiceTable) -> io::Result<()> {
    writeln!(w, "{}", table.header())?;
    for row in table.rows() {
        write!(w, "{}\t{}\t{}", visible(&row.service), visible(&row.udp), visible(&row.tcp))?;
        if table.has_ip_column() {
            write!(w, "\t{}", visible(&row.ip))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// What TCP and UDP port `port` map to: the service, how the port is listed, and every other
/// candidate; or that the table does not list it.
///
/// # Errors
/// Whatever the writer returns.
pub fn write_lookup(w: &mut impl Write, table: &ServiceTable, port: u16) -> io::Result<()> {
    for transport in [Transport::Tcp, Transport::Udp] {
        let found = table.lookup(transport, port);
        let Some(service) = found.service else {
            writeln!(w, "{transport} {port}: not in the table")?;
            continue;
        };
        let how = match found.kind {
            MatchKind::Single => "listed by number",
            MatchKind::RangeOnly => "only a range covers it",
            MatchKind::None => "not listed",
        };
        writeln!(w, "{transport} {port}: {} ({how})", visible(table.name(service)))?;
        for &other in table.candidates(transport, port).iter().filter(|&&id| id != service) {
            writeln!(w, "  also listed: {}", visible(table.name(other)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        if let Err(e) = f(&mut out) {
            panic!("writing to a Vec failed: {e}");
        }
        match String::from_utf8(out) {
            Ok(text) => text,
            Err(e) => panic!("renderer wrote invalid UTF-8: {e}"),
        }
    }

    /// The header row and data rows of the seed file, without its `#` comments.
    fn seed_data_lines() -> String {
        let file = include_str!("../../data/windows-2000.tsv");
        file.lines().filter(|l| !l.starts_with('#')).flat_map(|l| [l, "\n"]).collect()
    }

    #[test]
    fn write_seed_reproduces_the_seed_file_byte_for_byte() {
        let expected = seed_data_lines();
        assert_eq!(render(|w| write_seed(w, ServiceTable::seed_only())), expected);
        // The amended table keeps the seed's rows as written.
        assert_eq!(render(|w| write_seed(w, ServiceTable::embedded())), expected);
    }

    #[test]
    fn write_seed_keeps_a_user_ip_column() {
        let text = "service\tudp\ttcp\tip\nESP\t\t\t50\nWeb\t\t80\t\n";
        let table = match ServiceTable::from_tsv(text, "user.tsv") {
            Ok(table) => table,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(render(|w| write_seed(w, &table)), text);
    }

    #[test]
    fn write_table_lists_primary_then_candidates_and_the_ip_section() {
        let text = render(|w| write_table(w, ServiceTable::embedded()));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TRANSPORT  PORTS"), "{}", lines[0]);
        let at = lines
            .iter()
            .position(|l| l.starts_with("tcp        139 "))
            .unwrap_or_else(|| panic!("no tcp 139 line in\n{text}"));
        assert!(lines[at].ends_with("port   NetBT service sessions"), "{}", lines[at]);
        assert!(lines[at + 1].ends_with("+ Common Internet File System (CIFS)"));
        assert!(text.contains("range  SQL session"));
        let ip = text.split("IP PROTOCOL  SERVICE\n").nth(1).unwrap_or_default();
        assert!(ip.starts_with("50           IPSec Encapsulating Security Payload (ESP)\n"));
        assert!(ip.contains("51           Internet Protocol Security (IPSec) Authentication"));
    }

    #[test]
    fn write_table_says_when_there_is_no_ip_entry() {
        let text = render(|w| write_table(w, ServiceTable::seed_only()));
        assert!(text.ends_with("IP PROTOCOL  SERVICE\n(none)\n"), "{text}");
    }

    #[test]
    fn write_lookup_shows_primary_candidates_and_kind() {
        let text = render(|w| write_lookup(w, ServiceTable::embedded(), 137));
        assert!(text.starts_with("tcp 137: WINS Registration (listed by number)\n"), "{text}");
        assert!(text.contains("udp 137: NetBT name lookups (listed by number)\n"));
        assert!(text.contains("  also listed: WINS Proxy\n"));

        let text = render(|w| write_lookup(w, ServiceTable::embedded(), 3000));
        assert_eq!(text, "tcp 3000: SQL session (only a range covers it)\nudp 3000: not in the table\n");
    }
}
