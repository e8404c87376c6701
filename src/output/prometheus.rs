//! The Prometheus text exposition format (version 0.0.4) of a live run's running totals, as
//! `/metrics` serves it. Counters only grow (rows are never removed), so rates are
//! `rate(flowtag_service_bytes_total[1m])` and friends.

use crate::report::{Report, Summary};
use std::fmt::Display;
use std::io::{self, Write};

/// The content type of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped, as the format requires.
#[must_use]
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `# HELP` and `# TYPE` of one metric family.
fn family(w: &mut impl Write, name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(w, "# HELP {name} {help}")?;
    writeln!(w, "# TYPE {name} {kind}")
}

fn sample(w: &mut impl Write, name: &str, labels: &str, v: impl Display) -> io::Result<()> {
    if labels.is_empty() { writeln!(w, "{name} {v}") } else { writeln!(w, "{name}{{{labels}}} {v}") }
}

/// One counter or gauge family with a single unlabelled sample.
fn single(w: &mut impl Write, name: &str, kind: &str, help: &str, v: u64) -> io::Result<()> {
    family(w, name, kind, help)?;
    sample(w, name, "", v)
}

/// The quantile samples of a summary; `scale` turns the report's unit into the metric's.
fn quantiles<T: Copy + Into<f64>>(
    w: &mut impl Write,
    name: &str,
    labels: &str,
    q: Option<Summary<T>>,
    scale: f64,
) -> io::Result<()> {
    let Some(q) = q else { return Ok(()) };
    for (phi, v) in [("0.5", q.p50), ("0.9", q.p90), ("0.99", q.p99), ("1", q.max)] {
        sample(w, name, &format!("{labels},quantile=\"{phi}\""), v.into() * scale)?;
    }
    Ok(())
}

/// Picks one counter of a service row.
type Pick = fn(&crate::report::ServiceReport) -> u64;
/// Picks one counter of an unknown-port total: (transport, packets, bytes, flows).
type PickU = fn(&(&str, u64, u64, u64)) -> u64;

/// Writes the metrics of a run from its whole report (not one cut by
/// [`Report::cut_unknown`]); `flows_live` is the flow table's size now.
///
/// # Errors
/// The writer's error.
pub fn write(w: &mut impl Write, r: &Report, flows_live: u64) -> io::Result<()> {
    let t = &r.totals;
    family(w, "flowtag_build_info", "gauge", "Always 1; the version that serves these metrics.")?;
    sample(w, "flowtag_build_info", &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), 1)?;
    single(
        w,
        "flowtag_packets_total",
        "counter",
        "Packets captured and counted, each exactly once.",
        t.packets,
    )?;
    single(w, "flowtag_bytes_total", "counter", "Wire bytes of the packets counted.", t.bytes)?;
    if let Some(c) = r.capture {
        single(
            w,
            "flowtag_capture_received_packets_total",
            "counter",
            "Packets the kernel accepted for flowtag (passed the filter), including those it dropped.",
            c.received,
        )?;
        family(
            w,
            "flowtag_capture_dropped_packets_total",
            "counter",
            "Packets lost before flowtag saw them: by the kernel (buffer full) or by the interface.",
        )?;
        sample(w, "flowtag_capture_dropped_packets_total", "by=\"kernel\"", c.dropped)?;
        sample(w, "flowtag_capture_dropped_packets_total", "by=\"interface\"", c.if_dropped)?;
    }
    services(w, r)?;
    unknown(w, r)?;
    single(
        w,
        "flowtag_other_ip_packets_total",
        "counter",
        "IP packets of other protocols than TCP and UDP.",
        t.other_ip_packets,
    )?;
    single(
        w,
        "flowtag_non_ip_packets_total",
        "counter",
        "Packets that are not IP (ARP, ...).",
        t.non_ip_packets,
    )?;
    family(w, "flowtag_skipped_packets_total", "counter", "Packets that could not be decoded, by reason.")?;
    for (reason, n) in &t.skipped {
        sample(w, "flowtag_skipped_packets_total", &format!("reason=\"{reason}\""), n)?;
    }
    single(w, "flowtag_flows_total", "counter", "Flows started.", t.flows)?;
    family(w, "flowtag_flows_ended_total", "counter", "Flows ended, by how.")?;
    sample(w, "flowtag_flows_ended_total", "how=\"expired\"", t.flows_expired)?;
    sample(w, "flowtag_flows_ended_total", "how=\"evicted\"", t.flows_evicted)?;
    sample(w, "flowtag_flows_ended_total", "how=\"reused\"", t.flows_reused)?;
    single(w, "flowtag_flows_live", "gauge", "Flows held in the flow table now.", flows_live)
}

#[expect(clippy::cast_precision_loss, reason = "quantiles of u64 values far below 2^52")]
fn as_f64(q: Summary<u64>) -> Summary<f64> {
    Summary { p50: q.p50 as f64, p90: q.p90 as f64, p99: q.p99 as f64, max: q.max as f64 }
}

/// The per (service, transport) counters and summaries.
fn services(w: &mut impl Write, r: &Report) -> io::Result<()> {
    let labels: Vec<String> = r
        .services
        .iter()
        .map(|s| format!("service=\"{}\",transport=\"{}\"", escape_label(&s.service), s.transport.as_str()))
        .collect();
    let counters: [(&str, &str, Pick); 3] = [
        ("flowtag_service_packets_total", "Packets per service and transport.", |s| s.packets),
        ("flowtag_service_bytes_total", "Wire bytes per service and transport.", |s| s.bytes),
        ("flowtag_service_flows_total", "Flows started per service and transport.", |s| s.flows),
    ];
    for (name, help, pick) in counters {
        family(w, name, "counter", help)?;
        for (s, l) in r.services.iter().zip(&labels) {
            sample(w, name, l, pick(s))?;
        }
    }
    let name = "flowtag_service_packet_size_bytes";
    family(w, name, "summary", "Wire bytes per packet, per service and transport.")?;
    for (s, l) in r.services.iter().zip(&labels) {
        quantiles(w, name, l, s.packet_size.map(as_f64), 1.0)?;
        // Exact: the sizes add up to the row's bytes, one per packet.
        sample(w, &format!("{name}_sum"), l, s.bytes)?;
        sample(w, &format!("{name}_count"), l, s.packets)?;
    }
    let name = "flowtag_service_flow_size_bytes";
    family(w, name, "summary", "Wire bytes per ended flow, per service and transport.")?;
    for (s, l) in r.services.iter().zip(&labels) {
        quantiles(w, name, l, s.flow_bytes.map(as_f64), 1.0)?;
    }
    let name = "flowtag_service_flow_duration_seconds";
    family(w, name, "summary", "Duration of ended flows, per service and transport.")?;
    for (s, l) in r.services.iter().zip(&labels) {
        quantiles(w, name, l, s.duration_ms, 1e-3)?;
    }
    let name = "flowtag_service_handshake_rtt_seconds";
    family(w, name, "summary", "TCP handshake round trip (SYN to SYN/ACK at the capture point).")?;
    for (s, l) in r.services.iter().zip(&labels) {
        quantiles(w, name, l, s.handshake_rtt_ms, 1e-3)?;
    }
    Ok(())
}

/// Unknown ports, summed per transport: one series per port would let strangers choose how
/// many series a scrape holds.
fn unknown(w: &mut impl Write, r: &Report) -> io::Result<()> {
    let mut unknown = [("tcp", 0u64, 0u64, 0u64), ("udp", 0, 0, 0)];
    for u in &r.unknown {
        if let Some(row) = unknown.iter_mut().find(|row| row.0 == u.transport.as_str()) {
            row.1 += u.packets;
            row.2 += u.bytes;
            row.3 += u.flows;
        }
    }
    let counters: [(&str, &str, PickU); 3] = [
        ("flowtag_unknown_packets_total", "Packets of flows on server ports no table entry names.", |u| u.1),
        ("flowtag_unknown_bytes_total", "Wire bytes of flows on server ports no table entry names.", |u| u.2),
        ("flowtag_unknown_flows_total", "Flows on server ports no table entry names.", |u| u.3),
    ];
    for (name, help, pick) in counters {
        family(w, name, "counter", help)?;
        for u in &unknown {
            sample(w, name, &format!("transport=\"{}\"", u.0), pick(u))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
    use crate::flow::FlowConfig;
    use crate::pipeline::Pipeline;
    use crate::report::CaptureReport;
    use crate::services::ServiceTable;

    /// A raw IPv4 TCP segment from 10.0.0.1 to 10.0.0.2 (or back) with the given flags.
    fn tcp(sport: u16, dport: u16, back: bool, flags: u8) -> Vec<u8> {
        let (a, b) = if back { (2, 1) } else { (1, 2) };
        let mut p = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, a, 10, 0, 0, b];
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p
    }

    fn render(table: &ServiceTable) -> String {
        let mut pipeline = Pipeline::new(table, FlowConfig::default());
        let packets = [tcp(1234, 4000, false, 0x02), tcp(4000, 1234, true, 0x12), tcp(5555, 9, false, 0x02)];
        for (i, p) in packets.iter().enumerate() {
            let frame = Frame {
                ts: Timestamp(1_000_000 * (i as u64 + 1)),
                wire_len: 40,
                linktype: Linktype::RAW,
                data: p,
                flags: RecordFlags::default(),
                endian: Endian::Little,
            };
            pipeline.push(&frame, &mut |_| {});
        }
        pipeline.finish(&mut |_| {});
        let mut r = Report::build(&pipeline.stats, &pipeline.flows.counters, table, Vec::new(), None, None);
        r.capture = Some(CaptureReport { received: 10, dropped: 3, if_dropped: 0 });
        let mut out = Vec::new();
        write(&mut out, &r, 7).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a "b" \c"#), r#"a \"b\" \\c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_label("CIFS (445)"), "CIFS (445)");
    }

    #[test]
    fn renders_counters_summaries_and_capture() {
        let table =
            ServiceTable::from_tsv("service\tudp\ttcp\nSay \"hi\" \\o/\t\t4000\n", "test.tsv").unwrap();
        let text = render(&table);
        let label = r#"service="Say \"hi\" \\o/",transport="tcp""#;
        for line in [
            "# TYPE flowtag_packets_total counter".to_owned(),
            "flowtag_packets_total 3".to_owned(),
            "flowtag_bytes_total 120".to_owned(),
            format!("flowtag_service_packets_total{{{label}}} 2"),
            format!("flowtag_service_bytes_total{{{label}}} 80"),
            format!("flowtag_service_flows_total{{{label}}} 1"),
            "# TYPE flowtag_service_packet_size_bytes summary".to_owned(),
            format!("flowtag_service_packet_size_bytes{{{label},quantile=\"0.5\"}} 40"),
            format!("flowtag_service_packet_size_bytes_sum{{{label}}} 80"),
            format!("flowtag_service_packet_size_bytes_count{{{label}}} 2"),
            format!("flowtag_service_flow_size_bytes{{{label},quantile=\"0.99\"}} 80"),
            "flowtag_unknown_packets_total{transport=\"tcp\"} 1".to_owned(),
            "flowtag_unknown_flows_total{transport=\"udp\"} 0".to_owned(),
            "flowtag_capture_received_packets_total 10".to_owned(),
            "flowtag_capture_dropped_packets_total{by=\"kernel\"} 3".to_owned(),
            "flowtag_capture_dropped_packets_total{by=\"interface\"} 0".to_owned(),
            "flowtag_skipped_packets_total{reason=\"l4_truncated\"} 0".to_owned(),
            "flowtag_flows_total 2".to_owned(),
            "flowtag_flows_live 7".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn every_sample_follows_its_family_header() {
        let text = render(ServiceTable::embedded());
        let mut declared: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(!declared.iter().any(|(n, _)| n == name), "{name} declared twice");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counter {name} lacks _total");
                } else {
                    assert!(!name.ends_with("_total"), "{kind} {name} ends in _total");
                }
                declared.push((name.to_owned(), kind.to_owned()));
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap();
            let (family, kind) = declared.last().unwrap_or_else(|| panic!("{line} before any # TYPE"));
            let ok = name == family
                || (kind == "summary"
                    && (name == format!("{family}_sum") || name == format!("{family}_count")));
            assert!(ok, "{line} is not in the family {family}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}: bad value");
        }
    }
}
