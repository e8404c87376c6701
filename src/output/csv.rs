//! The CSV report: one row per service row and per unknown port, then one row each for other
//! IP, non-IP and every skip reason, so that the rows' packets add up to the total, as in JSON.
//! After the figures, `iana_name` is IANA's registered name of an unknown row's port (a hint,
//! as JSON's `unknown[].name`), then the TCP rows' handshake outcomes (`handshakes_answered`,
//! `_unanswered`, `_refused`, `_midstream`; empty for other rows), then a service row's flows
//! and bytes by how their label was decided (`port_only_`, `confirmed_`, `payload_`, `range_`
//! `flows` and `bytes`, as JSON's `services[].decided`; empty for other rows): new columns go
//! last so that readers of the older columns by position keep working.
//!
//! Then one `tunnel` row per tunnel (JSON's `tunnels.rows`), with its `flows`, `packets` and
//! `bytes`, the carrier's seed service in `service`, and its kind, ends and key in the last
//! columns: a breakdown of the rows above, **not** to be added to them (a tunnelled packet is
//! counted in the row of the flow inside, and in every tunnel around it); past 4,096 tunnels,
//! one more with `tunnel_kind` `over_limit` holds the rest together.

use crate::report::{Report, Summary};
use std::fmt::Display;
use std::io::{self, Write};

/// The header row.
pub const HEADER: &str = "kind,service,transport,ports,flows,packets,bytes,\
to_server_packets,to_server_bytes,to_client_packets,to_client_bytes,\
packet_size_p50,packet_size_p90,packet_size_p99,packet_size_max,\
duration_ms_p50,duration_ms_p90,duration_ms_p99,duration_ms_max,\
flow_bytes_p50,flow_bytes_p90,flow_bytes_p99,flow_bytes_max,\
handshake_rtt_ms_p50,handshake_rtt_ms_p90,handshake_rtt_ms_p99,handshake_rtt_ms_max,\
iana_name,handshakes_answered,handshakes_unanswered,handshakes_refused,handshakes_midstream,\
port_only_flows,port_only_bytes,confirmed_flows,confirmed_bytes,payload_flows,payload_bytes,range_flows,range_bytes,\
learned_flows,learned_bytes,tunnel_kind,tunnel_a,tunnel_a_port,tunnel_b,tunnel_b_port,tunnel_key";

/// The tunnel columns of a row that is not a tunnel's.
const NO_TUNNEL: &str = ",,,,,,";

/// The columns of how a service row's labels were decided.
fn decided(d: &crate::report::DecidedReport) -> String {
    [d.port, d.confirmed, d.payload, d.range, d.learned].map(|c| format!("{},{}", c.flows, c.bytes)).join(",")
}

/// The decided columns of a row that has none.
const NO_DECIDED: &str = ",,,,,,,,,";

/// The handshake columns of a row: four counts for a TCP row, four empty fields otherwise.
fn handshakes(h: Option<crate::report::HandshakeReport>) -> String {
    h.map_or_else(
        || ",,,".to_owned(),
        |h| format!("{},{},{},{}", h.answered, h.unanswered, h.refused, h.midstream),
    )
}

/// Quotes a field when RFC 4180 requires it, after making control characters visible (a
/// name read in a terminal or a spreadsheet must not act on it).
#[must_use]
pub fn field(s: &str) -> String {
    let s = super::escape::visible(s);
    if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.into_owned() }
}

/// Splits one line of CSV written with [`field`] back into its fields (RFC 4180 quoting): the
/// inverse of [`field`], for the tests, fuzz targets and tools that read our CSV back.
#[must_use]
pub fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn quantiles<T: Display + Copy>(q: Option<Summary<T>>) -> String {
    q.map_or_else(|| ",,,".to_owned(), |q| format!("{},{},{},{}", q.p50, q.p90, q.p99, q.max))
}

/// Writes the report as CSV.
///
/// # Errors
/// The writer's error.
pub fn write(w: &mut impl Write, r: &Report) -> io::Result<()> {
    writeln!(w, "{HEADER}")?;
    for s in &r.services {
        let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
        writeln!(
            w,
            "service,{},{},{},{},{},{},{},{},{},{},{},{},{},{},,{},{}{NO_TUNNEL}",
            field(&s.service),
            s.transport.as_str(),
            field(&ports.join(" ")),
            s.flows,
            s.packets,
            s.bytes,
            s.to_server.packets,
            s.to_server.bytes,
            s.to_client.packets,
            s.to_client.bytes,
            quantiles(s.packet_size),
            quantiles(s.duration_ms),
            quantiles(s.flow_bytes),
            quantiles(s.handshake_rtt_ms),
            handshakes(s.handshakes),
            decided(&s.decided),
        )?;
    }
    let empty_tail = ",,,,,,,,,,,,,,,,,,,,";
    for u in &r.unknown {
        writeln!(
            w,
            "unknown,,{},{},{},{},{}{empty_tail},{},{},{NO_DECIDED}{NO_TUNNEL}",
            u.transport.as_str(),
            u.port,
            u.flows,
            u.packets,
            u.bytes,
            field(u.name.unwrap_or_default()),
            handshakes(u.handshakes),
        )?;
    }
    let t = &r.totals;
    let none = handshakes(None);
    writeln!(w, "other_ip,,ip,,,{},{empty_tail},,{none},{NO_DECIDED}{NO_TUNNEL}", t.other_ip_packets)?;
    writeln!(w, "non_ip,,,,,{},{empty_tail},,{none},{NO_DECIDED}{NO_TUNNEL}", t.non_ip_packets)?;
    for (reason, n) in &t.skipped {
        writeln!(w, "skipped,{reason},,,,{n},{empty_tail},,{none},{NO_DECIDED}{NO_TUNNEL}")?;
    }
    let opt = |v: Option<u32>| v.map_or(String::new(), |v| v.to_string());
    for x in &r.tunnels.rows {
        writeln!(
            w,
            "tunnel,{},,,{},{},{}{empty_tail},,{none},{NO_DECIDED},{},{},{},{},{},{}",
            field(x.carrier_service.as_deref().unwrap_or_default()),
            x.flows,
            x.packets,
            x.bytes,
            x.kind,
            x.a,
            opt(x.a_port.map(u32::from)),
            x.b,
            opt(x.b_port.map(u32::from)),
            opt(x.key),
        )?;
    }
    if let Some(o) = r.tunnels.over_limit {
        // The tunnels past the rows' cap, together (JSON's `tunnels.over_limit`).
        writeln!(
            w,
            "tunnel,,,,{},{},{}{empty_tail},,{none},{NO_DECIDED},over_limit,,,,,",
            o.flows, o.packets, o.bytes
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_line_inverts_field() {
        let names = ["plain", "RPC user manager, service manager, port mapper", "say \"hi\"", ""];
        let line: Vec<String> = names.iter().map(|n| field(n)).collect();
        assert_eq!(split_line(&line.join(",")), names);
    }

    #[test]
    fn unknown_rows_carry_the_iana_name() {
        let (r, _) = super::super::unknown_ports_report();
        let mut out = Vec::new();
        write(&mut out, &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        let header = split_line(lines.next().unwrap());
        let at = header.iter().position(|h| h == "iana_name").unwrap();
        let rows: Vec<Vec<String>> = lines.map(split_line).collect();
        assert!(rows.iter().all(|f| f.len() == header.len()), "{text}");
        let unknown: Vec<(&str, &str)> =
            rows.iter().filter(|f| f[0] == "unknown").map(|f| (f[3].as_str(), f[at].as_str())).collect();
        assert_eq!(unknown, [("5355", "llmnr"), ("40124", "")]);
        assert!(rows.iter().filter(|f| f[0] != "unknown").all(|f| f[at].is_empty()));
    }

    #[test]
    fn tcp_rows_end_with_their_handshakes_then_how_labels_were_decided() {
        let header = split_line(HEADER);
        let tail: Vec<&str> =
            header[header.len() - 20..header.len() - 16].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            ["handshakes_answered", "handshakes_unanswered", "handshakes_refused", "handshakes_midstream"]
        );
        let h = crate::report::HandshakeReport { answered: 3, unanswered: 1_986, refused: 5, midstream: 0 };
        assert_eq!(handshakes(Some(h)), "3,1986,5,0");
        assert_eq!(handshakes(None), ",,,");
        let fb = |flows, bytes| crate::report::FlowsBytes { flows, bytes };
        let d = crate::report::DecidedReport {
            port: fb(1, 10),
            confirmed: fb(2, 20),
            payload: fb(3, 30),
            range: fb(4, 40),
            learned: fb(5, 50),
        };
        let names: Vec<&str> =
            header[header.len() - 16..header.len() - 6].iter().map(String::as_str).collect();
        let values = decided(&d);
        let got: Vec<(&str, &str)> = names.iter().copied().zip(values.split(',')).collect();
        assert_eq!(
            got,
            [
                ("port_only_flows", "1"),
                ("port_only_bytes", "10"),
                ("confirmed_flows", "2"),
                ("confirmed_bytes", "20"),
                ("payload_flows", "3"),
                ("payload_bytes", "30"),
                ("range_flows", "4"),
                ("range_bytes", "40"),
                ("learned_flows", "5"),
                ("learned_bytes", "50"),
            ]
        );
        assert_eq!(NO_DECIDED.split(',').count(), 10);
    }
}
