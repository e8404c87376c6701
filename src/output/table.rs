//! The default report: a summary a person reads at a glance.

use super::units::{bytes, duration_s, millis, thousands, utc};
use crate::report::{InputStatus, Report};
use crate::services::Transport;
use std::io::{self, Write};

/// Longest service name shown before it is cut with an ellipsis.
const NAME_WIDTH: usize = 44;

/// Options of the table renderer.
#[derive(Clone, Copy, Debug)]
pub struct TableOptions {
    /// Unknown server ports to show.
    pub top_unknown: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self { top_unknown: 10 }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Right,
}

/// Writes rows in aligned columns, two spaces apart, trailing spaces trimmed.
pub(super) fn columns(
    w: &mut impl Write,
    indent: &str,
    align: &[Align],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let mut width = vec![0usize; align.len()];
    // Names flowtag did not write (files, services from --table) may hold controls.
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> =
        rows.iter().map(|r| r.iter().map(|c| super::escape::visible(c)).collect()).collect();
    for r in &rows {
        for (i, cell) in r.iter().enumerate().take(align.len()) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    for r in &rows {
        let mut line = String::from(indent);
        for (i, cell) in r.iter().enumerate().take(align.len()) {
            let pad = width[i] - cell.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if align[i] == Align::Right {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    Ok(())
}

pub(super) fn cut(name: &str) -> String {
    // Escaped first: a cut never splits an escape, and never leaves half of one live.
    let name = super::escape::visible(name);
    if name.chars().count() <= NAME_WIDTH {
        name.into_owned()
    } else {
        let mut s: String = name.chars().take(NAME_WIDTH - 1).collect();
        s.push('…');
        s
    }
}

pub(super) fn ports(p: &[u16]) -> String {
    const SHOWN: usize = 4;
    let s = p.iter().take(SHOWN).map(u16::to_string).collect::<Vec<_>>().join(",");
    if p.len() > SHOWN { format!("{s},+{}", p.len() - SHOWN) } else { s }
}

/// An unknown server port with IANA's registered name as a hint: `udp/5355 (llmnr)`, or
/// `udp/40124` for a port with none.
pub(super) fn unknown_port(transport: Transport, port: u16, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{transport}/{port} ({name})"),
        None => format!("{transport}/{port}"),
    }
}

#[expect(clippy::cast_precision_loss, reason = "percentages for display")]
fn share(part: u64, whole: u64) -> String {
    if whole == 0 { "-".into() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

/// Renders the report as text.
///
/// # Errors
/// The writer's error.
#[expect(clippy::too_many_lines, reason = "one section after another; splitting hides the layout")]
pub fn write(w: &mut impl Write, r: &Report, opts: TableOptions) -> io::Result<()> {
    use Align::{Left as L, Right as R};
    let totals = &r.totals;
    let span = match (r.first_ts, r.last_ts) {
        (Some(a), Some(b)) => format!(", {} to {} UTC ({})", utc(a), utc(b), duration_s(b - a)),
        _ => String::new(),
    };
    writeln!(
        w,
        "{}: {} input{}, {} packets, {}{span}",
        r.generator,
        r.inputs.len(),
        if r.inputs.len() == 1 { "" } else { "s" },
        thousands(totals.packets),
        bytes(totals.bytes),
    )?;
    writeln!(w)?;
    let mut rows =
        vec![["input", "format", "link types", "packets", "bytes", "status"].map(String::from).to_vec()];
    for i in &r.inputs {
        let status = match (i.status, &i.message) {
            (InputStatus::Ok, _) => "ok".to_owned(),
            // "interrupted by SIGINT after N packets", "not read: interrupted by SIGINT".
            (InputStatus::Interrupted, Some(m)) => m.replacen("interrupted", "INTERRUPTED", 1),
            (s, Some(m)) => {
                format!("{}: {m}", if s == InputStatus::Truncated { "TRUNCATED" } else { "ERROR" })
            }
            (s, None) => format!("{s:?}").to_uppercase(),
        };
        rows.push(vec![
            i.path.clone(),
            i.format.unwrap_or("-").to_owned(),
            i.link_types
                .iter()
                .map(|&l| crate::capture::Linktype(l).name().map_or_else(|| l.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("+"),
            thousands(i.packets),
            bytes(i.bytes),
            status,
        ]);
    }
    columns(w, "", &[L, L, L, R, R, L], &rows)?;
    writeln!(w)?;
    if let Some(c) = r.capture {
        writeln!(
            w,
            "Capture: {} received, {} dropped by the kernel, {} dropped by the interface",
            thousands(c.received),
            thousands(c.dropped),
            thousands(c.if_dropped),
        )?;
        if let Some(warning) = super::live::drop_warning(r) {
            writeln!(w, "{warning}")?;
        }
        writeln!(w)?;
    }

    writeln!(w, "Services, by bytes")?;
    if r.services.is_empty() {
        writeln!(w, "  (none)")?;
    } else {
        let mut rows = vec![
            [
                "service",
                "proto",
                "ports",
                "share",
                "flows",
                "packets",
                "bytes",
                "payload",
                "size p50",
                "p99",
                "duration p50",
                "p99",
                "rtt p50",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for s in &r.services {
            rows.push(vec![
                cut(&s.service),
                s.transport.as_str().to_owned(),
                ports(&s.ports),
                share(s.bytes, totals.bytes),
                thousands(s.flows),
                thousands(s.packets),
                bytes(s.bytes),
                payload_share(&s.decided),
                s.packet_size.map_or("-".into(), |q| q.p50.to_string()),
                s.packet_size.map_or("-".into(), |q| q.p99.to_string()),
                s.duration_ms.map_or("-".into(), |q| millis(q.p50)),
                s.duration_ms.map_or("-".into(), |q| millis(q.p99)),
                s.handshake_rtt_ms.map_or("-".into(), |q| millis(q.p50)),
            ]);
        }
        columns(w, "  ", &[L, L, L, R, R, R, R, R, R, R, R, R, R], &rows)?;
        writeln!(
            w,
            "  payload: share of the bytes of the row's ended flows whose label their payload confirmed or gave, or a control channel announced; the rest rests on the port"
        )?;
        let shared: Vec<_> = r.services.iter().filter(|s| !s.candidates.is_empty()).collect();
        if !shared.is_empty() {
            writeln!(w)?;
            writeln!(
                w,
                "  Shared ports (the row's label is the table's primary service; the others are also listed):"
            )?;
            for s in shared {
                const SHOWN: usize = 3;
                let mut also: Vec<String> = s.candidates.iter().take(SHOWN).map(|c| cut(c)).collect();
                if s.candidates.len() > SHOWN {
                    also.push(format!(
                        "{} more (flowtag services {})",
                        s.candidates.len() - SHOWN,
                        ports(&s.ports)
                    ));
                }
                writeln!(
                    w,
                    "    {}/{} {}: also {}",
                    s.transport.as_str(),
                    ports(&s.ports),
                    cut(&s.service),
                    also.join("; ")
                )?;
            }
        }
    }
    contradiction_lines(w, r)?;
    writeln!(w)?;

    let unknown_bytes: u64 = r.unknown.iter().map(|u| u.bytes).sum();
    let unknown_packets: u64 =
        r.unknown.iter().map(|u| u.packets).sum::<u64>() + r.unknown_other.map_or(0, |o| o.packets);
    if r.unknown.is_empty() {
        writeln!(w, "Unknown server ports: none")?;
    } else {
        let shown = r.unknown.len().min(opts.top_unknown);
        writeln!(
            w,
            "Unknown server ports: {} ({} packets, {}); top {shown} by bytes",
            thousands(r.unknown.len() as u64),
            thousands(unknown_packets),
            bytes(unknown_bytes),
        )?;
        // The name is IANA's registration of the port, a hint: the row stays unknown.
        let mut rows =
            vec![["port (IANA name)", "share", "flows", "packets", "bytes"].map(String::from).to_vec()];
        for u in r.unknown.iter().take(shown) {
            rows.push(vec![
                unknown_port(u.transport, u.port, u.name),
                share(u.bytes, totals.bytes),
                thousands(u.flows),
                thousands(u.packets),
                bytes(u.bytes),
            ]);
        }
        columns(w, "  ", &[L, R, R, R, R], &rows)?;
    }
    writeln!(w)?;
    tunnel_lines(w, r)?;

    let service_packets: u64 = r.services.iter().map(|s| s.packets).sum();
    writeln!(
        w,
        "Packets: {} = services {} + unknown ports {} + other IP {} + non-IP {} + skipped {}",
        thousands(totals.packets),
        thousands(service_packets),
        thousands(unknown_packets),
        thousands(totals.other_ip_packets),
        thousands(totals.non_ip_packets),
        thousands(totals.skipped_packets),
    )?;
    if totals.filtered_out > 0 {
        writeln!(
            w,
            "Filtered out by --filter: {} packets (not counted above)",
            thousands(totals.filtered_out)
        )?;
    }
    writeln!(
        w,
        "Flows: {} = expired {} + evicted {} + reused {} + open at the end {}; TCP {} packets, UDP {} packets",
        thousands(totals.flows),
        thousands(totals.flows_expired),
        thousands(totals.flows_evicted),
        thousands(totals.flows_reused),
        thousands(totals.flows_at_end),
        thousands(totals.tcp_packets),
        thousands(totals.udp_packets),
    )?;
    handshake_lines(w, r)?;
    if !r.other_ip.is_empty() {
        let list: Vec<String> = r
            .other_ip
            .iter()
            .map(|p| format!("{} {}", ip_proto_name(p.protocol), thousands(p.packets)))
            .collect();
        writeln!(w, "Other IP: {}", list.join(", "))?;
    }
    let skipped: Vec<String> = totals
        .skipped
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {}", thousands(*n)))
        .collect();
    if !skipped.is_empty() {
        writeln!(w, "Skipped: {}", skipped.join(", "))?;
    }
    let anomalies: Vec<String> =
        r.anomalies.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {}", thousands(*n))).collect();
    if !anomalies.is_empty() {
        writeln!(w, "Tagged (still counted): {}", anomalies.join(", "))?;
    }
    if let Some(sig) = r.interrupted {
        writeln!(w, "INTERRUPTED by {sig}: figures cover what was read before it.")?;
    } else if !r.complete {
        writeln!(w, "INCOMPLETE: an input could not be read to its end; figures cover what was read.")?;
    }
    Ok(())
}

/// The tunnels packets came through, the most bytes first: a breakdown of the rows above (a
/// packet counts in its innermost flow's row, and in every tunnel around it).
fn tunnel_lines(w: &mut impl Write, r: &Report) -> io::Result<()> {
    use Align::{Left as L, Right as R};
    const SHOWN: usize = 10;
    let t = &r.tunnels;
    if t.rows.is_empty() && t.malformed.is_empty() && t.over_limit.is_none() {
        return Ok(());
    }
    writeln!(
        w,
        "Tunnels: {} (what came through each; counted above under the flows inside)",
        thousands(t.rows.len() as u64)
    )?;
    let end = |a: &str, p: Option<u16>| match p {
        Some(p) if a.contains(':') => format!("[{a}]:{p}"),
        Some(p) => format!("{a}:{p}"),
        None => a.to_owned(),
    };
    let mut rows =
        vec![["kind", "ends", "key", "carrier", "flows", "packets", "bytes"].map(String::from).to_vec()];
    for x in t.rows.iter().take(SHOWN) {
        rows.push(vec![
            x.kind.to_owned(),
            format!("{} - {}", end(&x.a, x.a_port), end(&x.b, x.b_port)),
            x.key.map_or("-".to_owned(), |k| k.to_string()),
            x.carrier_service.as_deref().map_or("-".to_owned(), cut),
            thousands(x.flows),
            thousands(x.packets),
            bytes(x.bytes),
        ]);
    }
    if !t.rows.is_empty() {
        columns(w, "  ", &[L, L, R, L, R, R, R], &rows)?;
    }
    if t.rows.len() > SHOWN {
        writeln!(
            w,
            "  and {} more (flowtag read --format json: tunnels)",
            thousands((t.rows.len() - SHOWN) as u64)
        )?;
    }
    if let Some(o) = t.over_limit {
        writeln!(
            w,
            "  tunnels past the first 4,096: {} flows, {} packets, {}",
            thousands(o.flows),
            thousands(o.packets),
            bytes(o.bytes)
        )?;
    }
    if !t.malformed.is_empty() {
        let list: Vec<String> = t.malformed.iter().map(|(k, n)| format!("{k} {}", thousands(*n))).collect();
        writeln!(w, "  not followed (counted under the carrier): {}", list.join(", "))?;
    }
    writeln!(w)
}

/// The share of a row's bytes (of flows that ended) whose label the payload confirmed or gave.
fn payload_share(d: &crate::report::DecidedReport) -> String {
    let all = d.port.bytes + d.confirmed.bytes + d.payload.bytes + d.range.bytes + d.learned.bytes;
    if all == 0 {
        return "-".into();
    }
    share(d.confirmed.bytes + d.payload.bytes + d.learned.bytes, all)
}

/// Flows whose payload contradicted their port's label, the most bytes first: HTTP on the CIFS
/// port is a classic sign of tunnelling or misuse.
fn contradiction_lines(w: &mut impl Write, r: &Report) -> io::Result<()> {
    const SHOWN: usize = 5;
    if r.contradictions.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "  The payload contradicts the port:")?;
    for c in r.contradictions.iter().take(SHOWN) {
        writeln!(
            w,
            "    {} on the port of {} ({} seen): {} flows, {}",
            cut(&c.label),
            cut(&c.port_label),
            c.evidence,
            thousands(c.flows),
            bytes(c.bytes)
        )?;
    }
    if r.contradictions.len() > SHOWN {
        writeln!(
            w,
            "    and {} more (flowtag read --format json: contradictions)",
            r.contradictions.len() - SHOWN
        )?;
    }
    Ok(())
}

/// The TCP handshakes of every row, and the rows whose connection attempts went unanswered or
/// were refused most (a scan, a host or service that is gone): what only the ports would have
/// shown as traffic to services.
fn handshake_lines(w: &mut impl Write, r: &Report) -> io::Result<()> {
    const SHOWN: usize = 5;
    let mut sum = crate::report::HandshakeReport::default();
    let mut failed: Vec<(u64, u64, String)> = Vec::new();
    let rows = r.services.iter().map(|s| (s.handshakes, cut(&s.service)));
    let unknown = r.unknown.iter().map(|u| {
        let name = u.name.map_or_else(String::new, |n| format!(" ({n})"));
        (u.handshakes, format!("{}/{}{name}", u.transport.as_str(), u.port))
    });
    for (h, label) in rows.chain(unknown) {
        let Some(h) = h else { continue };
        sum.answered += h.answered;
        sum.unanswered += h.unanswered;
        sum.refused += h.refused;
        sum.midstream += h.midstream;
        if h.unanswered + h.refused > 0 {
            failed.push((h.unanswered, h.refused, label));
        }
    }
    if sum == crate::report::HandshakeReport::default() {
        return Ok(());
    }
    writeln!(
        w,
        "TCP handshakes: {} answered, {} unanswered, {} refused, {} mid-stream",
        thousands(sum.answered),
        thousands(sum.unanswered),
        thousands(sum.refused),
        thousands(sum.midstream),
    )?;
    if failed.is_empty() {
        return Ok(());
    }
    failed.sort_by(|a, b| (b.0 + b.1).cmp(&(a.0 + a.1)).then_with(|| a.2.cmp(&b.2)));
    let list: Vec<String> =
        failed.iter().take(SHOWN).map(|(u, f, label)| format!("{label} {}", thousands(u + f))).collect();
    let more = failed.len().saturating_sub(SHOWN);
    let more = if more > 0 { format!(", and {} more rows", thousands(more as u64)) } else { String::new() };
    writeln!(w, "  unanswered or refused, by row: {}{more}", list.join(", "))
}

/// IANA names of the IP protocols a LAN shows most.
fn ip_proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        2 => "igmp".into(),
        4 => "ipip".into(),
        41 => "ipv6".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "icmpv6".into(),
        59 => "ipv6-nonxt".into(),
        89 => "ospf".into(),
        103 => "pim".into(),
        112 => "vrrp".into(),
        132 => "sctp".into(),
        n => format!("proto-{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ports_show_iana_names_as_hints() {
        let (r, _) = super::super::unknown_ports_report();
        let mut out = Vec::new();
        write(&mut out, &r, TableOptions::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let section: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("Unknown server ports:")).skip(1).take(3).collect();
        assert_eq!(
            section,
            [
                "  port (IANA name)  share  flows  packets  bytes",
                "  udp/5355 (llmnr)  66.7%      1        1  200 B",
                "  udp/40124         33.3%      1        1  100 B",
            ],
            "{text}"
        );
    }
}
