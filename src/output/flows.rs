//! The `--flows` file: one record per flow, written as flows end (JSON lines, or CSV when the
//! path ends in `.csv`). Keys are documented in the README ("Flow records").
//!
//! A JSON line is rendered by hand into a reused buffer, from pieces rendered once per table
//! (the escaped service names, the candidate lists): the bytes serde_json wrote for the
//! same record, at a fraction of the cost, which matters on captures where flows are short
//! and many. The tests keep serde_json as the reference.

use super::csv::field;
use crate::decode::Addr;
use crate::flow::{FlowRecord, TO_CLIENT, TO_SERVER, TunnelOf};
use crate::services::{self, ServiceId, ServiceTable, Transport};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// The format of the flow file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FlowFormat {
    JsonLines,
    Csv,
}

const CSV_HEADER: &str = "start,end,transport,ip_proto,client_ip,client_port,server_ip,server_port,vlan,\
service,candidates,decided_by,confidence,packets_to_server,bytes_to_server,packets_to_client,bytes_to_client,\
tcp_state,handshake_rtt_ms,fragments,end_reason,evidence,interface,interface_uuid,port_label,\
tunnel,tunnel_client_ip,tunnel_client_port,tunnel_server_ip,tunnel_server_port,tunnel_key,tunnel_depth,\
duration";

/// A tunnel's carrier ports, where it has them (UDP tunnels).
fn tunnel_ports(t: &TunnelOf) -> Option<(u16, u16)> {
    (t.level.proto == crate::decode::PROTO_UDP).then_some((t.level.src_port, t.level.dst_port))
}

/// What a flow record says of the label the port gave, when payload evidence changed it: the
/// port's service, or `unknown` when the port gave none; `None` when the label is the port's.
fn port_label<'t>(table: &'t ServiceTable, rec: &FlowRecord) -> Option<&'t str> {
    rec.port_label.map(|p| p.map_or("unknown", |s| table.name(s)))
}

/// Writes flow records to `W`.
pub struct FlowWriter<'t, W: Write> {
    out: W,
    table: &'t ServiceTable,
    /// The table's pieces of a JSON line, rendered once (`None` when writing CSV).
    json: Option<JsonParts<'t>>,
    /// The JSON line being rendered, kept between records so that one costs no allocation.
    line: Vec<u8>,
    written: u64,
}

#[expect(clippy::cast_precision_loss, reason = "epoch seconds with µs precision fit in f64")]
fn secs(ns: u64) -> f64 {
    (ns / 1_000) as f64 / 1e6
}

/// The handshake round trip in ms, rounded to the µs.
#[expect(clippy::cast_precision_loss, reason = "RTT in ms for display")]
fn rtt_ms(rec: &FlowRecord) -> Option<f64> {
    rec.handshake_rtt.map(|ns| (ns as f64 / 1000.0).round() / 1000.0)
}

/// Every service the table lists for the flow's server port; for other IP protocols, the
/// flow's own service.
fn candidates<'t>(table: &'t ServiceTable, rec: &FlowRecord) -> Vec<&'t str> {
    match rec.transport() {
        Transport::Ip => rec.verdict.service.map(|s| table.name(s)).into_iter().collect(),
        t => table.candidates(t, rec.server_port).iter().map(|&c| table.name(c)).collect(),
    }
}

impl<'t, W: Write> FlowWriter<'t, W> {
    /// A writer; the CSV header is written at once.
    ///
    /// # Errors
    /// The writer's error.
    pub fn new(mut out: W, format: FlowFormat, table: &'t ServiceTable) -> io::Result<Self> {
        if format == FlowFormat::Csv {
            writeln!(out, "{CSV_HEADER}")?;
        }
        let json = (format == FlowFormat::JsonLines).then(|| JsonParts::new(table));
        Ok(Self { out, table, json, line: Vec::with_capacity(512), written: 0 })
    }

    /// Writes one record.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write(&mut self, rec: &FlowRecord) -> io::Result<()> {
        match self.json.as_mut() {
            Some(json) => {
                json.render(rec, &mut self.line)?;
                self.out.write_all(&self.line)?;
            }
            None => self.write_csv(rec)?,
        }
        self.written += 1;
        Ok(())
    }

    fn write_csv(&mut self, rec: &FlowRecord) -> io::Result<()> {
        let has_ports = rec.transport() != Transport::Ip;
        let port = |p: u16| if has_ports { p.to_string() } else { String::new() };
        writeln!(
            self.out,
            "{:.6},{:.6},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.6}",
            secs(rec.start.0),
            secs(rec.end.0),
            rec.transport().as_str(),
            rec.proto,
            rec.client.to_ip(),
            port(rec.client_port),
            rec.server.to_ip(),
            port(rec.server_port),
            rec.vlan,
            field(rec.verdict.service.map_or("", |s| self.table.name(s))),
            field(&candidates(self.table, rec).join("; ")),
            rec.verdict.decided_by.as_str(),
            rec.confidence.as_str(),
            rec.packets[TO_SERVER],
            rec.bytes[TO_SERVER],
            rec.packets[TO_CLIENT],
            rec.bytes[TO_CLIENT],
            rec.tcp_state().unwrap_or(""),
            rtt_ms(rec).map_or(String::new(), |v| v.to_string()),
            rec.fragments,
            rec.end_reason.as_str(),
            rec.evidence.map_or("", |e| e.as_str()),
            rec.interface.and_then(|u| services::interface_name(&u)).unwrap_or(""),
            rec.interface.map(|u| services::uuid_text(&u)).unwrap_or_default(),
            field(port_label(self.table, rec).unwrap_or("")),
            rec.tunnel.map_or_else(
                || ",,,,,,".to_owned(),
                |t| {
                    let ports = tunnel_ports(&t);
                    let port = |p: Option<u16>| p.map_or(String::new(), |p| p.to_string());
                    format!(
                        "{},{},{},{},{},{},{}",
                        t.level.tunnel.kind.as_str(),
                        t.level.src.to_ip(),
                        port(ports.map(|p| p.0)),
                        t.level.dst.to_ip(),
                        port(ports.map(|p| p.1)),
                        t.level.tunnel.key.map_or(String::new(), |k| k.to_string()),
                        t.depth
                    )
                }
            ),
            secs(rec.duration()),
        )
    }

    /// Records written.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Pushes buffered records to the writer (a live run does this every refresh, so the
    /// file is current while flows keep ending).
    ///
    /// # Errors
    /// The writer's error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the writer.
    ///
    /// # Errors
    /// The writer's error.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// What every JSON line of one table repeats, rendered once: each service name as a JSON
/// string, and the `"candidates":[...]` member of each candidate list the table gives.
/// Names come from a table the user may replace, so they may hold anything a JSON string
/// must escape; here they are escaped once, not on every line.
struct JsonParts<'t> {
    table: &'t ServiceTable,
    /// Each service's name as a JSON string, quotes included, by [`ServiceId`].
    names: Vec<Box<[u8]>>,
    /// The `"candidates":[...]` member of each distinct candidate list met so far.
    lists: Vec<Box<[u8]>>,
    /// Where in `lists` each candidate list met so far is, keyed by the table's own slice: a
    /// table has a fixed set of lists (one per run of ports with the same services), so
    /// `lists` and this map are bounded by the table, whatever ports the traffic uses.
    by_list: HashMap<&'t [ServiceId], u32>,
    /// Per TCP then UDP port, 1 + its list's index in `lists`; 0 until the port is first
    /// met. A flat array of 2 × 65,536 (512 KiB, allocated zeroed, which the allocator takes
    /// from fresh pages, so those of ports never met are never touched): one load per line
    /// instead of the table's binary search over its runs.
    by_port: Box<[u32]>,
}

/// `"?"`: what [`ServiceTable::name`] says for the id of another table.
const UNKNOWN_NAME: &[u8] = b"\"?\"";

impl<'t> JsonParts<'t> {
    fn new(table: &'t ServiceTable) -> Self {
        let names = (0..table.len())
            .map(|i| {
                let name = u16::try_from(i).map_or("?", |id| table.name(ServiceId(id)));
                let mut s = Vec::with_capacity(name.len() + 2);
                push_json_str(&mut s, name);
                s.into_boxed_slice()
            })
            .collect();
        Self {
            table,
            names,
            lists: Vec::new(),
            by_list: HashMap::new(),
            by_port: vec![0; 2 << 16].into_boxed_slice(),
        }
    }

    fn name(&self, id: ServiceId) -> &[u8] {
        self.names.get(usize::from(id.0)).map_or(UNKNOWN_NAME, |name| name)
    }

    /// The `"candidates":[...]` member of a TCP or UDP port, rendered on first use.
    fn candidates(&mut self, t: Transport, port: u16) -> &[u8] {
        let at = (t.index() as usize) << 16 | usize::from(port);
        let i = match self.by_port.get(at) {
            Some(&known) if known != 0 => known - 1,
            _ => {
                let i = self.list(self.table.candidates(t, port));
                if let Some(slot) = self.by_port.get_mut(at) {
                    *slot = i + 1;
                }
                i
            }
        };
        self.lists.get(i as usize).map_or(b"\"candidates\":[]", |list| list)
    }

    /// The index in `lists` of a candidate list, rendering it if it is new.
    fn list(&mut self, ids: &'t [ServiceId]) -> u32 {
        if let Some(&i) = self.by_list.get(ids) {
            return i;
        }
        let mut list = b"\"candidates\":[".to_vec();
        for (n, &id) in ids.iter().enumerate() {
            if n > 0 {
                list.push(b',');
            }
            list.extend_from_slice(self.name(id));
        }
        list.push(b']');
        #[expect(clippy::cast_possible_truncation, reason = "at most one list per port: 2 × 65,536")]
        let i = self.lists.len() as u32;
        self.lists.push(list.into_boxed_slice());
        self.by_list.insert(ids, i);
        i
    }

    /// Renders one record as a line of JSON into `b` (cleared first), newline included: the
    /// members in the README's order ("Flow records"), every value spelled as serde_json
    /// spells it (floats as the shortest decimal that reads back the same, through zmij as
    /// serde_json does; `null` for an absent value).
    fn render(&mut self, rec: &FlowRecord, b: &mut Vec<u8>) -> io::Result<()> {
        let t = rec.transport();
        b.clear();
        b.extend_from_slice(b"{\"start\":");
        push_f64(b, secs(rec.start.0));
        b.extend_from_slice(b",\"end\":");
        push_f64(b, secs(rec.end.0));
        b.extend_from_slice(b",\"duration\":");
        push_f64(b, secs(rec.duration()));
        b.extend_from_slice(b",\"transport\":");
        push_name(b, t.as_str());
        b.extend_from_slice(b",\"ip_proto\":");
        push_int(b, rec.proto);
        b.extend_from_slice(b",\"client_ip\":");
        push_ip(b, rec.client)?;
        b.extend_from_slice(b",\"client_port\":");
        let has_ports = t != Transport::Ip;
        push_opt_int(b, has_ports.then_some(rec.client_port));
        b.extend_from_slice(b",\"server_ip\":");
        push_ip(b, rec.server)?;
        b.extend_from_slice(b",\"server_port\":");
        push_opt_int(b, has_ports.then_some(rec.server_port));
        b.extend_from_slice(b",\"vlan\":");
        push_int(b, rec.vlan);
        b.extend_from_slice(b",\"service\":");
        match rec.verdict.service {
            Some(id) => b.extend_from_slice(self.name(id)),
            None => b.extend_from_slice(b"null"),
        }
        b.push(b',');
        if has_ports {
            b.extend_from_slice(self.candidates(t, rec.server_port));
        } else {
            // Other IP protocols have no port list: the flow's own service, if any.
            b.extend_from_slice(b"\"candidates\":[");
            if let Some(id) = rec.verdict.service {
                b.extend_from_slice(self.name(id));
            }
            b.push(b']');
        }
        b.extend_from_slice(b",\"decided_by\":");
        push_name(b, rec.verdict.decided_by.as_str());
        b.extend_from_slice(b",\"confidence\":");
        push_name(b, rec.confidence.as_str());
        b.extend_from_slice(b",\"packets_to_server\":");
        push_int(b, rec.packets[TO_SERVER]);
        b.extend_from_slice(b",\"bytes_to_server\":");
        push_int(b, rec.bytes[TO_SERVER]);
        b.extend_from_slice(b",\"packets_to_client\":");
        push_int(b, rec.packets[TO_CLIENT]);
        b.extend_from_slice(b",\"bytes_to_client\":");
        push_int(b, rec.bytes[TO_CLIENT]);
        b.extend_from_slice(b",\"tcp_state\":");
        match rec.tcp_state() {
            Some(state) => push_name(b, state),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"handshake_rtt_ms\":");
        match rtt_ms(rec) {
            Some(ms) => push_f64(b, ms),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"fragments\":");
        push_int(b, rec.fragments);
        b.extend_from_slice(b",\"end_reason\":");
        push_name(b, rec.end_reason.as_str());
        b.extend_from_slice(b",\"evidence\":");
        match rec.evidence {
            Some(e) => push_name(b, e.as_str()),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"interface\":");
        match rec.interface.and_then(|u| services::interface_name(&u)) {
            Some(name) => push_json_str(b, name),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"interface_uuid\":");
        match rec.interface {
            Some(u) => push_name(b, &services::uuid_text(&u)),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"port_label\":");
        match port_label(self.table, rec) {
            Some(name) => push_json_str(b, name),
            None => b.extend_from_slice(b"null"),
        }
        push_tunnel(b, rec.tunnel.as_ref())?;
        b.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// A record's `tunnel` member: null, or the tunnel's kind, ends, key and depth.
fn push_tunnel(b: &mut Vec<u8>, tunnel: Option<&TunnelOf>) -> io::Result<()> {
    b.extend_from_slice(b",\"tunnel\":");
    match tunnel {
        Some(t) => {
            let ports = tunnel_ports(t);
            b.extend_from_slice(b"{\"kind\":");
            push_name(b, t.level.tunnel.kind.as_str());
            b.extend_from_slice(b",\"client_ip\":");
            push_ip(b, t.level.src)?;
            b.extend_from_slice(b",\"client_port\":");
            push_opt_int(b, ports.map(|p| p.0));
            b.extend_from_slice(b",\"server_ip\":");
            push_ip(b, t.level.dst)?;
            b.extend_from_slice(b",\"server_port\":");
            push_opt_int(b, ports.map(|p| p.1));
            b.extend_from_slice(b",\"key\":");
            match t.level.tunnel.key {
                Some(k) => push_int(b, k),
                None => b.extend_from_slice(b"null"),
            }
            b.extend_from_slice(b",\"depth\":");
            push_int(b, t.depth);
            b.push(b'}');
        }
        None => b.extend_from_slice(b"null"),
    }
    Ok(())
}

/// One of our own identifiers (`tcp`, `end_of_input`) as a JSON string: lower-case ASCII
/// letters and underscores only, which JSON never escapes (the tests check every one).
fn push_name(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    b.extend_from_slice(s.as_bytes());
    b.push(b'"');
}

/// `s` as a JSON string, escaped exactly as serde_json escapes it: `"` and `\` with a
/// backslash, the control characters with a short form where JSON has one (`\b \t \n \f
/// \r`) and as `\u00xx` (lower-case hex) otherwise; everything else, DEL and non-ASCII
/// included, as it is.
fn push_json_str(b: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    b.push(b'"');
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let short = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        b.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        b.extend_from_slice(&[b'\\', short]);
        if short == b'u' {
            b.extend_from_slice(&[b'0', b'0', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]]);
        }
    }
    b.extend_from_slice(&bytes[run..]);
    b.push(b'"');
}

fn push_int(b: &mut Vec<u8>, n: impl itoa::Integer) {
    b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn push_opt_int(b: &mut Vec<u8>, n: Option<u16>) {
    match n {
        Some(n) => push_int(b, n),
        None => b.extend_from_slice(b"null"),
    }
}

/// A float as serde_json writes it: zmij's shortest round-trip form if finite (serde_json
/// 1.0.154 formats with zmij, not ryu, and the two differ in exponents: `1e+16`, `1e16`),
/// `null` if not.
fn push_f64(b: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        b.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        b.extend_from_slice(b"null");
    }
}

/// An address as a JSON string, as `Display` spells it: IPv4 (and IPv4-mapped IPv6, which is
/// how flows store IPv4) dotted by hand, IPv6 through std, whose rules for `::` and embedded
/// IPv4 are not worth copying.
fn push_ip(b: &mut Vec<u8>, addr: Addr) -> io::Result<()> {
    b.push(b'"');
    match addr.to_ip() {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    b.push(b'.');
                }
                if octet >= 100 {
                    b.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    b.push(b'0' + octet / 10 % 10);
                }
                b.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => write!(b, "{v6}")?,
    }
    b.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The hand-written JSON lines against serde_json, the reference: the struct and the
    //! serializer `--flows` used before, kept here only to say what the right bytes are.

    use super::*;
    use crate::capture::{CaptureReader, Endian, Frame, Linktype, RecordFlags, Timestamp};
    use crate::flow::{EndReason, FlowConfig};
    use crate::pipeline::Pipeline;
    use crate::services::{DecidedBy, Verdict};
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeSet;
    use std::net::Ipv6Addr;
    use std::path::Path;
    use std::sync::LazyLock;

    #[derive(Serialize)]
    struct Line<'a> {
        start: f64,
        end: f64,
        duration: f64,
        transport: &'static str,
        ip_proto: u8,
        client_ip: String,
        client_port: Option<u16>,
        server_ip: String,
        server_port: Option<u16>,
        vlan: u16,
        service: Option<&'a str>,
        candidates: Vec<&'a str>,
        decided_by: &'static str,
        confidence: &'static str,
        packets_to_server: u64,
        bytes_to_server: u64,
        packets_to_client: u64,
        bytes_to_client: u64,
        tcp_state: Option<&'static str>,
        handshake_rtt_ms: Option<f64>,
        fragments: u64,
        end_reason: &'static str,
        evidence: Option<&'static str>,
        interface: Option<&'static str>,
        interface_uuid: Option<String>,
        port_label: Option<&'a str>,
        tunnel: Option<TunnelLine>,
    }

    #[derive(Serialize)]
    struct TunnelLine {
        kind: &'static str,
        client_ip: String,
        client_port: Option<u16>,
        server_ip: String,
        server_port: Option<u16>,
        key: Option<u32>,
        depth: u8,
    }

    impl<'a> Line<'a> {
        fn of(table: &'a ServiceTable, rec: &FlowRecord) -> Self {
            let has_ports = rec.transport() != Transport::Ip;
            Line {
                start: secs(rec.start.0),
                end: secs(rec.end.0),
                duration: secs(rec.duration()),
                transport: rec.transport().as_str(),
                ip_proto: rec.proto,
                client_ip: rec.client.to_ip().to_string(),
                client_port: has_ports.then_some(rec.client_port),
                server_ip: rec.server.to_ip().to_string(),
                server_port: has_ports.then_some(rec.server_port),
                vlan: rec.vlan,
                service: rec.verdict.service.map(|s| table.name(s)),
                candidates: candidates(table, rec),
                decided_by: rec.verdict.decided_by.as_str(),
                confidence: rec.confidence.as_str(),
                packets_to_server: rec.packets[TO_SERVER],
                bytes_to_server: rec.bytes[TO_SERVER],
                packets_to_client: rec.packets[TO_CLIENT],
                bytes_to_client: rec.bytes[TO_CLIENT],
                tcp_state: rec.tcp_state(),
                handshake_rtt_ms: rtt_ms(rec),
                fragments: rec.fragments,
                end_reason: rec.end_reason.as_str(),
                evidence: rec.evidence.map(crate::classify::evidence::Proto::as_str),
                interface: rec.interface.and_then(|u| services::interface_name(&u)),
                interface_uuid: rec.interface.map(|u| services::uuid_text(&u)),
                port_label: port_label(table, rec),
                tunnel: rec.tunnel.map(|t| TunnelLine {
                    kind: t.level.tunnel.kind.as_str(),
                    client_ip: t.level.src.to_ip().to_string(),
                    client_port: tunnel_ports(&t).map(|p| p.0),
                    server_ip: t.level.dst.to_ip().to_string(),
                    server_port: tunnel_ports(&t).map(|p| p.1),
                    key: t.level.tunnel.key,
                    depth: t.depth,
                }),
            }
        }
    }

    /// The lines serde_json writes for `recs`.
    fn reference(table: &ServiceTable, recs: &[FlowRecord]) -> String {
        let mut out = Vec::new();
        for rec in recs {
            serde_json::to_writer(&mut out, &Line::of(table, rec)).unwrap();
            out.push(b'\n');
        }
        String::from_utf8(out).unwrap()
    }

    /// The lines [`FlowWriter`] writes for `recs`, all through one writer (so later records
    /// take the cached pieces of earlier ones).
    fn written(table: &ServiceTable, recs: &[FlowRecord]) -> String {
        let mut w = FlowWriter::new(Vec::new(), FlowFormat::JsonLines, table).unwrap();
        for rec in recs {
            w.write(rec).unwrap();
        }
        assert_eq!(w.written(), recs.len() as u64);
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    fn assert_same(table: &ServiceTable, recs: &[FlowRecord]) {
        let (ours, theirs) = (written(table, recs), reference(table, recs));
        // Line by line first, so a failure shows the one line that differs.
        for (n, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
            assert_eq!(a, b, "line {n}: {:?}", recs[n]);
        }
        assert_eq!(ours, theirs);
    }

    /// A user table whose names hold everything a JSON string escapes that a TSV cell can
    /// hold (no tab, no line feed: those are the format's separators), DEL and non-ASCII;
    /// with shared ports, a range and an IP protocol, on the ports the fixtures use.
    fn strange_table() -> &'static ServiceTable {
        static TABLE: LazyLock<ServiceTable> = LazyLock::new(|| {
            let text = "service\tudp\ttcp\tip\n\
                 \"Quoted\" \\ back\\slash \\\"\t53, 137\t445, 80\t\n\
                 ctl \u{0}\u{1}\u{8}\u{b}\u{c}\r\u{1f}\u{7f} end\t88\t445, 1024-5000\t50\n\
                 Ünïcödé ☃ 名前 \u{2028}\u{85}😀\t138\t80, 139, 3389\t\n\
                 plain\t\t\t1\n\
                 /solidus/ <tag> &amp; 'apos'\t67 or 68\t1433\t\n";
            ServiceTable::from_tsv(text, "strange.tsv").unwrap_or_else(|e| panic!("{e}"))
        });
        &TABLE
    }

    #[test]
    fn the_strange_table_has_its_strange_names() {
        let t = strange_table();
        assert_eq!(t.len(), 5);
        let names: Vec<&str> = (0..5).map(|i| t.name(ServiceId(i))).collect();
        assert!(names[1].contains('\r') && names[1].contains('\u{0}') && names[1].contains('\u{7f}'));
        assert_eq!(t.candidates(Transport::Tcp, 445).len(), 2);
        assert_eq!(t.candidates(Transport::Tcp, 80).len(), 2);
        assert_eq!(t.candidates(Transport::Tcp, 1433).len(), 2, "range last");
    }

    /// Every flow record of every capture in `fixtures/`, through the pipeline.
    fn fixture_records(table: &ServiceTable) -> Vec<FlowRecord> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        paths.sort();
        assert!(paths.len() >= 30, "fixtures missing from {}", dir.display());
        let mut recs = Vec::new();
        for path in &paths {
            let mut pipeline = Pipeline::new(table, FlowConfig::default());
            let mut reader = CaptureReader::open(path).unwrap();
            // The cut fixtures end in a read error; their flows so far still end.
            while let Ok(Some(frame)) = reader.next_frame() {
                pipeline.push(&frame, &mut |rec| recs.push(*rec));
            }
            pipeline.finish(&mut |rec| recs.push(*rec));
        }
        recs
    }

    #[test]
    fn every_fixture_flow_is_written_as_serde_json_writes_it() {
        for table in [ServiceTable::embedded(), strange_table()] {
            let recs = fixture_records(table);
            assert!(recs.len() > 100, "{}", recs.len());
            assert_same(table, &recs);
        }
    }

    #[test]
    fn strange_names_are_escaped_as_serde_json_escapes_them() {
        let recs = fixture_records(strange_table());
        let ours = written(strange_table(), &recs);
        // The fixtures reach every strange name, so the comparison above covered them.
        for i in 0..5 {
            let name = strange_table().name(ServiceId(i));
            assert!(ours.contains(&serde_json::to_string(name).unwrap()), "{name:?} never written");
        }
        assert!(ours.contains(r#""ctl \u0000\u0001\b\u000b\f\r\u001f"#), "{ours}");
        assert!(ours.contains(r#""\"Quoted\" \\ back\\slash \\\"""#));
        assert!(ours.contains("Ünïcödé ☃ 名前 \u{2028}\u{85}😀"));
    }

    #[test]
    fn every_ascii_character_and_some_others_escape_as_in_serde_json() {
        for c in (0u8..=0x7f).map(char::from).chain(['\u{80}', 'é', '\u{2028}', '\u{fffd}', '😀']) {
            let s = format!("a{c}b{c}");
            let mut ours = Vec::new();
            push_json_str(&mut ours, &s);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap(), "{c:?}");
        }
    }

    /// Our identifiers need no escaping (`push_name` writes them as they are).
    #[test]
    fn identifiers_need_no_escaping() {
        let ends = [
            EndReason::Fin,
            EndReason::Rst,
            EndReason::Idle,
            EndReason::Evicted,
            EndReason::Reused,
            EndReason::EndOfInput,
        ];
        let decided = DecidedBy::ALL;
        let templates = tcp_templates();
        let names = Transport::ALL
            .iter()
            .map(|t| t.as_str())
            .chain(ends.iter().map(|e| e.as_str()))
            .chain(decided.iter().map(|d| d.as_str()))
            .chain(templates.iter().filter_map(FlowRecord::tcp_state));
        for name in names {
            assert!(name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'), "{name}");
        }
    }

    /// A raw IPv4 TCP segment (no checksums: the pipeline does not check them).
    fn tcp(from_client: bool, client_port: u16, flags: u8) -> Vec<u8> {
        let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let (src, dst, sport, dport) =
            if from_client { (c, s, client_port, 445) } else { (s, c, 445, client_port) };
        let mut v = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0];
        v.extend(src);
        v.extend(dst);
        v.extend(sport.to_be_bytes());
        v.extend(dport.to_be_bytes());
        v.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        v
    }

    /// One TCP record in each end state (the state bits are the flow table's own, so a
    /// record in a given state has to come out of it); the property test takes these and
    /// overwrites every public field.
    fn tcp_templates() -> Vec<FlowRecord> {
        const FIN: u8 = 0x01;
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        const ACK: u8 = 0x10;
        let (c, s) = (true, false);
        let flows: [&[(bool, u8)]; 7] = [
            &[(c, SYN)],
            &[(s, SYN | ACK)],
            &[(c, SYN), (s, SYN | ACK), (c, ACK)],
            &[(c, SYN), (s, SYN | ACK), (c, ACK), (c, FIN | ACK)],
            &[(c, SYN), (s, SYN | ACK), (c, ACK), (c, FIN | ACK), (s, FIN | ACK)],
            &[(c, SYN), (s, RST | ACK)],
            &[(c, ACK)],
        ];
        let mut pipeline = Pipeline::new(ServiceTable::embedded(), FlowConfig::default());
        let mut recs = Vec::new();
        for (port, packets) in (40_000..).zip(flows) {
            for (i, &(from_client, flags)) in (0..).zip(packets) {
                let data = tcp(from_client, port, flags);
                let frame = Frame {
                    ts: Timestamp(1_000_000_000 + i * 1_000_000),
                    wire_len: 40,
                    linktype: Linktype::RAW,
                    data: &data,
                    flags: RecordFlags::default(),
                    endian: Endian::Little,
                };
                pipeline.push(&frame, &mut |rec| recs.push(*rec));
            }
        }
        pipeline.finish(&mut |rec| recs.push(*rec));
        let states: BTreeSet<_> = recs.iter().filter_map(FlowRecord::tcp_state).collect();
        let all = ["closed", "established", "half_closed", "midstream", "reset", "syn_ack_seen", "syn_sent"];
        assert_eq!(states, BTreeSet::from(all));
        recs
    }

    fn addr() -> impl Strategy<Value = Addr> {
        let group = prop_oneof![Just(0u16), Just(0xffff), any::<u16>()];
        prop_oneof![
            any::<[u8; 4]>().prop_map(Addr::v4),
            any::<[u8; 16]>().prop_map(Addr),
            // Runs of zero groups, where std picks which to shorten to `::`.
            prop::array::uniform8(group).prop_map(|g| Addr(Ipv6Addr::from(g).octets())),
            prop::sample::select(vec![
                Ipv6Addr::UNSPECIFIED,
                Ipv6Addr::LOCALHOST,
                "::1.2.3.4".parse().unwrap(),
                "::ffff:0:1.2.3.4".parse().unwrap(),
                "64:ff9b::1.2.3.4".parse().unwrap(),
                "fe80::1".parse().unwrap(),
                "1:0:0:1:0:0:0:1".parse().unwrap(),
            ])
            .prop_map(|a| Addr(a.octets())),
        ]
    }

    fn count() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0), Just(u64::MAX), 0..100_000u64, any::<u64>()]
    }

    fn port() -> impl Strategy<Value = u16> {
        // Few enough distinct ports that the writer meets most again, and the shared ones.
        prop_oneof![
            any::<u16>(),
            0..1500u16,
            prop::sample::select(vec![0, 53, 80, 88, 137, 139, 445, 1433, 3389, 65535]),
        ]
    }

    prop_compose! {
        fn record(templates: Vec<FlowRecord>, services: u16)(
            template in prop::sample::select(templates),
            (start, end, proto) in (count(), count(), prop_oneof![Just(6u8), Just(17), Just(50), any::<u8>()]),
            (client, client_port, server, server_port, vlan) in (addr(), port(), addr(), port(), any::<u16>()),
            (server_is_dst, decided_by) in (any::<bool>(), prop::sample::select(DecidedBy::ALL.to_vec())),
            // Ids past the table's end are "?", as ServiceTable::name says.
            service in prop::option::of((0..services + 3).prop_map(ServiceId)),
            fragments in count(),
            (p, b) in ([count(), count()], [count(), count()]),
            handshake_rtt in prop::option::of(count()),
            end_reason in prop::sample::select(vec![
                EndReason::Fin, EndReason::Rst, EndReason::Idle,
                EndReason::Evicted, EndReason::Reused, EndReason::EndOfInput,
            ]),
            tag in any::<u32>(),
        ) -> FlowRecord {
            // Field by field: the state bits are private to the flow table.
            let mut rec = template;
            (rec.start, rec.end, rec.proto) = (Timestamp(start), Timestamp(end), proto);
            (rec.client, rec.client_port, rec.server, rec.server_port) = (client, client_port, server, server_port);
            rec.vlan = vlan;
            rec.verdict = Verdict { server_is_dst, decided_by, server_port, service };
            (rec.packets, rec.bytes, rec.fragments) = (p, b, fragments);
            (rec.handshake_rtt, rec.end_reason, rec.tag) = (handshake_rtt, end_reason, tag);
            rec
        }
    }

    fn records() -> impl Strategy<Value = (bool, Vec<FlowRecord>)> {
        static TEMPLATES: LazyLock<Vec<FlowRecord>> = LazyLock::new(tcp_templates);
        let most = u16::try_from(ServiceTable::embedded().len().max(strange_table().len())).unwrap();
        (any::<bool>(), prop::collection::vec(record(TEMPLATES.clone(), most), 1..40))
    }

    proptest! {
        #[test]
        fn any_record_is_written_as_serde_json_writes_it((strange, recs) in records()) {
            let table = if strange { strange_table() } else { ServiceTable::embedded() };
            prop_assert_eq!(written(table, &recs), reference(table, &recs));
        }

        #[test]
        fn any_string_escapes_as_in_serde_json(s in any::<String>()) {
            let mut ours = Vec::new();
            push_json_str(&mut ours, &s);
            prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }
}
