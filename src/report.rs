//! Report: one data model of a run's results, sorted, that every output format renders.
//!
//! What I own: turning [`Stats`], the flow table's counters and the inputs' outcomes into plain
//! sorted data (services by bytes, then name; unknown ports by bytes, then port), with the
//! JSON document's exact keys (README "JSON report").
//!
//! What I must not do: count anything (stats did), or know about output formats.

use crate::capture::live::CaptureCounts;
use crate::classify::rules::Confidence;
use crate::decode::{Anomalies, Skip};
use crate::flow::FlowCounters;
use crate::services::{ServiceTable, Transport, known_name};
use crate::stats::{Counts, Dist, Quantiles, Stats};
use crate::tunnel::Kind;
use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the JSON document's layout; bumped when a key changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub version: u32,
    pub generator: String,
    /// Every input was read to its end.
    pub complete: bool,
    /// The signal that stopped the run (`SIGINT`, `SIGTERM`), or null.
    pub interrupted: Option<&'static str>,
    pub inputs: Vec<InputReport>,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub totals: Totals,
    pub services: Vec<ServiceReport>,
    pub unknown: Vec<UnknownReport>,
    /// Flows whose opening payload showed another protocol than their port's service (HTTP on
    /// the CIFS port), by (port's label, payload's label, protocol), most bytes first: a sign
    /// of tunnelling or misuse worth a look.
    pub contradictions: Vec<ContradictionReport>,
    /// Other IP packets by protocol number, highest count first.
    pub other_ip: Vec<ProtocolCount>,
    /// Anomaly tags (they do not change attribution), every tag listed.
    pub anomalies: BTreeMap<&'static str, u64>,
    /// What came through tunnels: a breakdown of the packets above, not an addend.
    pub tunnels: TunnelsReport,
    /// What the unknown ports cut from `unknown` add up to (interval lines list the top ones
    /// only); absent when `unknown` is complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_other: Option<UnknownOther>,
    /// The `--flows` file failed: where, how many records ended after it failed (those still
    /// in its buffer then are not counted), and the error; absent when it took them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flows_undelivered: Option<Undelivered>,
    /// Capture statistics of a live run; absent for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureReport>,
    /// The figures of one refresh interval of a live run; absent in summaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<IntervalReport>,
}

/// Flow records an output could not take.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Undelivered {
    pub path: String,
    pub records: u64,
    pub error: String,
}

/// libpcap's capture statistics of a live run, as 64-bit totals.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureReport {
    /// Packets the kernel accepted for us (passed the filter), including those it dropped.
    pub received: u64,
    /// Dropped by the kernel: its buffer was full because we did not read fast enough.
    pub dropped: u64,
    /// Dropped by the interface or its driver (0 where the platform cannot tell).
    pub if_dropped: u64,
}

impl From<CaptureCounts> for CaptureReport {
    fn from(c: CaptureCounts) -> Self {
        Self { received: c.received, dropped: c.dropped, if_dropped: c.if_dropped }
    }
}

impl CaptureReport {
    /// Packets lost before flowtag saw them.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.dropped.saturating_add(self.if_dropped)
    }
}

/// The unknown server ports cut from a report's `unknown` list, added up.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnknownOther {
    pub ports: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputStatus {
    Ok,
    /// Failed part-way: everything before the damage is counted.
    Truncated,
    /// Could not be opened, or is not a capture.
    Error,
    /// A signal stopped the run while this input was read, or before it was reached.
    Interrupted,
}

#[derive(Serialize, Clone, Debug)]
pub struct InputReport {
    pub path: String,
    pub format: Option<&'static str>,
    pub link_types: Vec<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub status: InputStatus,
    pub message: Option<String>,
}

impl UnknownReport {
    /// The unknown rows, most bytes first.
    fn rows(stats: &Stats) -> Vec<Self> {
        let mut unknown: Vec<UnknownReport> = stats
            .unknown
            .iter()
            .zip(&stats.unknown_handshakes)
            // A row whose only flows moved to a service row when their server answered (a
            // range port) holds nothing.
            .filter(|(u, _)| u.flows > 0 || u.total.packets > 0)
            .map(|(u, h)| UnknownReport {
                transport: u.transport,
                port: u.port,
                name: known_name(u.transport, u.port),
                flows: u.flows,
                packets: u.total.packets,
                bytes: u.total.bytes,
                handshakes: HandshakeReport::of(u.transport, *h),
            })
            .collect();
        unknown.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then(a.transport.cmp(&b.transport)).then(a.port.cmp(&b.port))
        });
        unknown
    }
}

impl InputReport {
    /// An input read without trouble so far, nothing counted yet.
    #[must_use]
    pub fn new(path: String, format: Option<&'static str>, link_types: Vec<u32>) -> Self {
        Self {
            path,
            format,
            link_types,
            packets: 0,
            bytes: 0,
            first_ts: None,
            last_ts: None,
            status: InputStatus::Ok,
            message: None,
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Totals {
    /// Packets counted (read, and passed the filter). Equals the sum of the service and
    /// unknown rows' packets plus other IP, non-IP and skipped packets.
    pub packets: u64,
    pub bytes: u64,
    pub flows: u64,
    pub tcp_packets: u64,
    pub udp_packets: u64,
    pub other_ip_packets: u64,
    pub non_ip_packets: u64,
    pub skipped_packets: u64,
    pub skipped: BTreeMap<&'static str, u64>,
    /// `flows` = `flows_expired` + `flows_evicted` + `flows_reused` + `flows_at_end`.
    pub flows_evicted: u64,
    pub flows_expired: u64,
    pub flows_reused: u64,
    pub flows_at_end: u64,
    /// Packets read that `--filter` left out; not part of `packets`.
    pub filtered_out: u64,
    /// Non-first IP fragments counted in their first fragment's flow.
    pub fragments_attributed: u64,
    /// Flows whose server and label a control channel announced (`decided_by: learned`).
    pub flows_learned: u64,
    /// Endpoints control channels announced (endpoint mapper, FTP, TFTP, H.323), and those
    /// forgotten before their time because the expectation table was full.
    pub expectations_announced: u64,
    pub expectations_dropped: u64,
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Direction {
    pub packets: u64,
    pub bytes: u64,
}

impl From<Counts> for Direction {
    fn from(c: Counts) -> Self {
        Self { packets: c.packets, bytes: c.bytes }
    }
}

/// Quantiles in the unit of the key they sit under.
#[derive(Serialize, Clone, Copy, Debug, PartialEq)]
pub struct Summary<T> {
    pub p50: T,
    pub p90: T,
    pub p99: T,
    pub max: T,
}

impl Summary<u64> {
    fn of(d: &Dist) -> Option<Self> {
        d.quantiles().map(|Quantiles { p50, p90, p99, max }| Self { p50, p90, p99, max })
    }
}

impl Summary<f64> {
    /// Milliseconds, rounded to microseconds, from a distribution recorded in `unit_per_ms`.
    #[expect(clippy::cast_precision_loss, reason = "report values far below 2^52")]
    fn millis(d: &Dist, unit_per_ms: u64) -> Option<Self> {
        let ms = |v: u64| ((v as f64 / unit_per_ms as f64) * 1000.0).round() / 1000.0;
        d.quantiles().map(|q| Self { p50: ms(q.p50), p90: ms(q.p90), p99: ms(q.p99), max: ms(q.max) })
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct ServiceReport {
    pub service: String,
    pub transport: Transport,
    /// Server ports (IP protocol numbers for `ip`) the flows of this row used.
    pub ports: Vec<u16>,
    /// Other services the table lists for those ports.
    pub candidates: Vec<String>,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub to_server: Direction,
    pub to_client: Direction,
    /// Wire bytes per packet.
    pub packet_size: Option<Summary<u64>>,
    pub duration_ms: Option<Summary<f64>>,
    pub flow_bytes: Option<Summary<u64>>,
    pub handshake_rtt_ms: Option<Summary<f64>>,
    /// TCP rows: flows by how their handshake went; null for other transports.
    pub handshakes: Option<HandshakeReport>,
    /// Flows and bytes by how their label was decided, counted as flows end.
    pub decided: DecidedReport,
}

/// A row's flows and bytes by how their label was decided (the flow records' `confidence`).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecidedReport {
    /// The port alone: no payload seen in the opening window, or none recognised.
    pub port: FlowsBytes,
    /// The port's label, and the payload agreed.
    pub confirmed: FlowsBytes,
    /// The payload gave the label (it overruled the port, or the port gave none).
    pub payload: FlowsBytes,
    /// A range entry, once the server answered the handshake.
    pub range: FlowsBytes,
    /// A control channel announced the flow's endpoint.
    pub learned: FlowsBytes,
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowsBytes {
    pub flows: u64,
    pub bytes: u64,
}

impl From<Counts> for FlowsBytes {
    /// `packets` counts flows in the rows' `decided` counters.
    fn from(c: Counts) -> Self {
        Self { flows: c.packets, bytes: c.bytes }
    }
}

impl ContradictionReport {
    /// The contradictions counted, most bytes first.
    fn rows(stats: &Stats, table: &ServiceTable) -> Vec<Self> {
        let mut contradictions: Vec<ContradictionReport> = stats
            .contradictions
            .iter()
            .map(|(&(port, label, e), c)| ContradictionReport {
                port_label: table.name(port).to_owned(),
                label: table.name(label).to_owned(),
                evidence: e.as_str(),
                flows: c.packets,
                bytes: c.bytes,
            })
            .collect();
        contradictions.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then_with(|| {
                (&a.port_label, &a.label, a.evidence).cmp(&(&b.port_label, &b.label, b.evidence))
            })
        });
        contradictions
    }
}

impl ProtocolCount {
    /// Other IP packets by protocol, highest count first.
    fn rows(stats: &Stats) -> Vec<Self> {
        let mut other_ip: Vec<ProtocolCount> = stats
            .other_ip_protocols
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| ProtocolCount { protocol: u8::try_from(p).unwrap_or(u8::MAX), packets: *n })
            .collect();
        other_ip.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.protocol.cmp(&b.protocol)));
        other_ip
    }
}

/// Per tunnel, what came through it; a packet inside two nested tunnels counts in both.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TunnelsReport {
    /// Most bytes first.
    pub rows: Vec<TunnelReport>,
    /// The tunnels past the first 4,096 seen (by a shard), together; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_limit: Option<TunnelCounts>,
    /// Packets whose tunnels could not be followed (counted under their carrier, tagged
    /// `tunnel_malformed` or `tunnel_too_deep`), by why: a tunnel header's reason
    /// (`gre_truncated`), `inner_` and the skip reason of the packet inside, or `too_deep`.
    pub malformed: BTreeMap<String, u64>,
}

/// One tunnel: its kind, ends (the lower address first; ports for Teredo, L2TP and NAT-T, which
/// tell clients behind one NAT apart), key, and the seed service of its carrier if any.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct TunnelReport {
    pub kind: &'static str,
    pub a: String,
    pub a_port: Option<u16>,
    pub b: String,
    pub b_port: Option<u16>,
    /// GRE key or VXLAN VNI.
    pub key: Option<u32>,
    pub carrier_service: Option<String>,
    /// Inner flows started through it.
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelCounts {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl TunnelsReport {
    fn of(stats: &Stats, table: &ServiceTable) -> Self {
        let book = &stats.tunnels;
        let mut rows: Vec<TunnelReport> = book
            .rows
            .iter()
            .map(|(l, c)| {
                let ports = (l.proto == crate::decode::PROTO_UDP && l.tunnel.kind != Kind::Vxlan)
                    .then_some((l.src_port, l.dst_port));
                let carrier_service = l
                    .tunnel
                    .kind
                    .udp_port()
                    .and_then(|p| table.lookup(Transport::Udp, p).service)
                    .map(|s| table.name(s).to_owned());
                TunnelReport {
                    kind: l.tunnel.kind.as_str(),
                    a: l.src.to_ip().to_string(),
                    a_port: ports.map(|p| p.0),
                    b: l.dst.to_ip().to_string(),
                    b_port: ports.map(|p| p.1),
                    key: l.tunnel.key,
                    carrier_service,
                    flows: c.flows,
                    packets: c.total.packets,
                    bytes: c.total.bytes,
                }
            })
            .collect();
        rows.sort_by(|x, y| {
            y.bytes.cmp(&x.bytes).then_with(|| {
                (x.kind, &x.a, x.a_port, &x.b, x.b_port, x.key)
                    .cmp(&(y.kind, &y.a, y.a_port, &y.b, y.b_port, y.key))
            })
        });
        let o = book.over_limit;
        let over_limit = (o.total.packets > 0).then_some(TunnelCounts {
            flows: o.flows,
            packets: o.total.packets,
            bytes: o.total.bytes,
        });
        let malformed = book.problems.iter().map(|(p, c)| (p.name(), c.packets)).collect();
        Self { rows, over_limit, malformed }
    }
}

/// Flows whose payload contradicted the label their port gave.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ContradictionReport {
    /// The label the port gave.
    pub port_label: String,
    /// The label the payload gave.
    pub label: String,
    /// The protocol the payload showed.
    pub evidence: &'static str,
    pub flows: u64,
    pub bytes: u64,
}

/// TCP flows by how their handshake went, counted as they ended
/// ([`FlowRecord::outcome`](crate::flow::FlowRecord::outcome)).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandshakeReport {
    /// The server answered (a SYN/ACK was seen).
    pub answered: u64,
    /// A SYN, and no answer at all: a scan, a host or port that is not there, a filter.
    pub unanswered: u64,
    /// A SYN answered by a RST: nothing listens there.
    pub refused: u64,
    /// Joined after the handshake (the capture began later, or the flow resumed after an
    /// eviction).
    pub midstream: u64,
}

impl HandshakeReport {
    fn of(transport: Transport, h: crate::stats::Handshakes) -> Option<Self> {
        let [answered, unanswered, refused, midstream] = h.0;
        (transport == Transport::Tcp).then_some(Self { answered, unanswered, refused, midstream })
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct UnknownReport {
    pub transport: Transport,
    pub port: u16,
    /// IANA's registered name of the port ([`known_name`]), null when it has none: a hint
    /// for the reader, never a label (the row stays unknown).
    pub name: Option<&'static str>,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// TCP rows: flows by how their handshake went; null for UDP.
    pub handshakes: Option<HandshakeReport>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ProtocolCount {
    pub protocol: u8,
    pub packets: u64,
}

impl Serialize for Transport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Report {
    /// Builds the report.
    #[must_use]
    pub fn build(
        stats: &Stats,
        flows: &FlowCounters,
        table: &ServiceTable,
        inputs: Vec<InputReport>,
        first_ts: Option<f64>,
        last_ts: Option<f64>,
    ) -> Self {
        let mut services: Vec<ServiceReport> = stats
            .services
            .iter()
            // A row whose only flows moved to another label (the payload of their opening
            // window showed another service) holds nothing.
            .filter(|r| r.flows > 0 || r.total.packets > 0)
            .map(|r| {
                let ports = r.ports.clone();
                let mut candidates: Vec<String> = Vec::new();
                for &p in &ports {
                    let ids: Vec<_> = if r.transport == Transport::Ip {
                        Vec::new()
                    } else {
                        table.candidates(r.transport, p).to_vec()
                    };
                    for id in ids {
                        let name = table.name(id);
                        if id != r.service && !candidates.iter().any(|c| c == name) {
                            candidates.push(name.to_owned());
                        }
                    }
                }
                ServiceReport {
                    service: table.name(r.service).to_owned(),
                    transport: r.transport,
                    ports,
                    candidates,
                    flows: r.flows,
                    packets: r.total.packets,
                    bytes: r.total.bytes,
                    to_server: r.dir[crate::flow::TO_SERVER].into(),
                    to_client: r.dir[crate::flow::TO_CLIENT].into(),
                    packet_size: Summary::of(&r.packet_size),
                    duration_ms: Summary::millis(&r.duration_us, 1_000),
                    flow_bytes: Summary::of(&r.flow_bytes),
                    handshake_rtt_ms: Summary::millis(&r.handshake_rtt_ns, 1_000_000),
                    handshakes: HandshakeReport::of(r.transport, r.handshakes),
                    decided: DecidedReport {
                        port: r.decided[Confidence::Port as usize].into(),
                        confirmed: r.decided[Confidence::Confirmed as usize].into(),
                        payload: r.decided[Confidence::Payload as usize].into(),
                        range: r.decided[Confidence::Range as usize].into(),
                        learned: r.decided[Confidence::Learned as usize].into(),
                    },
                }
            })
            .collect();
        let contradictions = ContradictionReport::rows(stats, table);
        let tunnels = TunnelsReport::of(stats, table);
        services.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then_with(|| a.service.cmp(&b.service)).then(a.transport.cmp(&b.transport))
        });
        let unknown = UnknownReport::rows(stats);
        let other_ip = ProtocolCount::rows(stats);
        let skipped = Skip::ALL.iter().map(|s| (s.as_str(), stats.skipped[s.index()])).collect();
        let anomalies =
            Anomalies::ALL.iter().enumerate().map(|(i, (_, name))| (*name, stats.anomalies[i])).collect();
        let complete = inputs.iter().all(|i| i.status == InputStatus::Ok);
        Self {
            version: SCHEMA_VERSION,
            generator: format!("flowtag {}", env!("CARGO_PKG_VERSION")),
            complete,
            interrupted: None,
            inputs,
            first_ts,
            last_ts,
            totals: Totals {
                packets: stats.total.packets,
                bytes: stats.total.bytes,
                flows: flows.created,
                tcp_packets: stats.tcp.packets,
                udp_packets: stats.udp.packets,
                other_ip_packets: stats.other_ip.packets,
                non_ip_packets: stats.non_ip.packets,
                skipped_packets: stats.skipped_packets(),
                skipped,
                flows_evicted: flows.evicted,
                flows_expired: flows.expired,
                flows_reused: flows.reused,
                flows_at_end: flows.at_end,
                filtered_out: stats.filtered_out,
                fragments_attributed: flows.fragments_attributed,
                flows_learned: flows.learned,
                expectations_announced: stats.learn.announced,
                expectations_dropped: stats.learn.dropped,
            },
            services,
            unknown,
            contradictions,
            other_ip,
            anomalies,
            tunnels,
            unknown_other: None,
            flows_undelivered: None,
            capture: None,
            interval: None,
        }
    }

    /// Keeps the `keep` unknown ports with the most bytes and adds the rest up in
    /// `unknown_other`, so the books still balance.
    pub fn cut_unknown(&mut self, keep: usize) {
        if self.unknown.len() <= keep {
            return;
        }
        let rest = self.unknown.split_off(keep);
        let mut other = self.unknown_other.unwrap_or_default();
        for u in &rest {
            other.ports += 1;
            other.flows += u.flows;
            other.packets += u.packets;
            other.bytes += u.bytes;
        }
        self.unknown_other = Some(other);
    }

    /// The conservation law every report obeys (CATALOGUE.md §3.6).
    #[must_use]
    pub fn conserved(&self) -> bool {
        let rows: u64 = self.services.iter().map(|s| s.packets).sum::<u64>()
            + self.unknown.iter().map(|u| u.packets).sum::<u64>()
            + self.unknown_other.map_or(0, |o| o.packets);
        let t = &self.totals;
        t.packets == rows + t.other_ip_packets + t.non_ip_packets + t.skipped_packets
            && t.skipped_packets == t.skipped.values().sum::<u64>()
            && t.flows == t.flows_expired + t.flows_evicted + t.flows_reused + t.flows_at_end
    }
}

/// The counters at the start of a refresh interval, to take the interval's figures from. One
/// is kept and refilled every interval (its vectors keep their capacity), so a live run holds
/// one copy of the row counters whatever its length.
#[derive(Clone, Debug, Default)]
pub struct IntervalBase {
    /// Wall-clock start, epoch seconds.
    start: f64,
    total: Counts,
    flows_created: u64,
    /// Flows and counts of each service row, by row index (rows are never removed).
    services: Vec<(u64, Counts)>,
    unknown: Vec<(u64, Counts)>,
    capture: CaptureReport,
}

impl IntervalBase {
    /// A base before anything was counted.
    #[must_use]
    pub fn new(start: f64) -> Self {
        Self { start, ..Self::default() }
    }

    /// Starts the next interval at `start` from the counters as they are now.
    pub fn reset(&mut self, stats: &Stats, flows: &FlowCounters, capture: CaptureReport, start: f64) {
        self.start = start;
        self.total = stats.total;
        self.flows_created = flows.created;
        self.services.clear();
        self.services.extend(stats.services.iter().map(|r| (r.flows, r.total)));
        self.unknown.clear();
        self.unknown.extend(stats.unknown.iter().map(|r| (r.flows, r.total)));
        self.capture = capture;
    }
}

/// One service row's figures in an interval.
#[derive(Serialize, Clone, Debug)]
pub struct IntervalService {
    pub service: String,
    pub transport: Transport,
    /// The row appeared in this interval.
    pub new: bool,
    /// Flows started in the interval.
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub packets_per_s: f64,
    pub bits_per_s: f64,
}

/// One unknown server port's figures in an interval.
#[derive(Serialize, Clone, Debug)]
pub struct IntervalUnknown {
    pub transport: Transport,
    pub port: u16,
    /// IANA's registered name of the port ([`known_name`]), null when it has none: a hint
    /// for the reader, never a label (the row stays unknown).
    pub name: Option<&'static str>,
    pub new: bool,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub packets_per_s: f64,
    pub bits_per_s: f64,
}

/// What happened in one refresh interval of a live run.
#[derive(Serialize, Clone, Debug)]
pub struct IntervalReport {
    /// Wall-clock start and end, epoch seconds.
    pub start: f64,
    pub end: f64,
    /// Its length by the monotonic clock.
    pub seconds: f64,
    pub packets: u64,
    pub bytes: u64,
    pub packets_per_s: f64,
    pub bits_per_s: f64,
    pub flows_started: u64,
    /// Flows held in the flow table at the end of the interval.
    pub flows_live: u64,
    /// Service rows that counted packets or started flows, by bytes.
    pub services: Vec<IntervalService>,
    /// The unknown server ports with the most bytes in the interval.
    pub unknown: Vec<IntervalUnknown>,
    /// Capture statistics of the interval.
    pub capture: CaptureReport,
}

/// What [`IntervalReport::build`] is told besides the counters.
#[derive(Clone, Copy, Debug)]
pub struct IntervalEnd {
    /// Wall-clock end, epoch seconds.
    pub end: f64,
    /// Length by the monotonic clock.
    pub seconds: f64,
    /// Flows held in the flow table now.
    pub flows_live: u64,
    /// Capture statistics now (totals since the start).
    pub capture: CaptureReport,
    /// Unknown ports to list.
    pub top_unknown: usize,
}

/// Per second, to three decimals (more would be noise in every JSON line).
#[expect(clippy::cast_precision_loss, reason = "rates for display")]
fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { (n as f64 / secs * 1000.0).round() / 1000.0 } else { 0.0 }
}

impl IntervalReport {
    /// The figures from `base` to now.
    #[must_use]
    pub fn build(
        base: &IntervalBase,
        stats: &Stats,
        flows: &FlowCounters,
        table: &ServiceTable,
        now: IntervalEnd,
    ) -> Self {
        let secs = now.seconds;
        let delta = |now: Counts, then: Counts| Counts {
            packets: now.packets.saturating_sub(then.packets),
            bytes: now.bytes.saturating_sub(then.bytes),
        };
        let mut services: Vec<IntervalService> = stats
            .services
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (then_flows, then) = base.services.get(i).copied().unwrap_or_default();
                let new = i >= base.services.len();
                let c = delta(r.total, then);
                let flows = r.flows.saturating_sub(then_flows);
                (new || c.packets > 0 || flows > 0).then(|| IntervalService {
                    service: table.name(r.service).to_owned(),
                    transport: r.transport,
                    new,
                    flows,
                    packets: c.packets,
                    bytes: c.bytes,
                    packets_per_s: rate(c.packets, secs),
                    bits_per_s: rate(c.bytes.saturating_mul(8), secs),
                })
            })
            .collect();
        services.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then_with(|| a.service.cmp(&b.service)).then(a.transport.cmp(&b.transport))
        });
        let mut unknown: Vec<IntervalUnknown> = stats
            .unknown
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let (then_flows, then) = base.unknown.get(i).copied().unwrap_or_default();
                let c = delta(r.total, then);
                let flows = r.flows.saturating_sub(then_flows);
                (c.packets > 0 || flows > 0).then_some(IntervalUnknown {
                    transport: r.transport,
                    port: r.port,
                    name: known_name(r.transport, r.port),
                    new: i >= base.unknown.len(),
                    flows,
                    packets: c.packets,
                    bytes: c.bytes,
                    packets_per_s: rate(c.packets, secs),
                    bits_per_s: rate(c.bytes.saturating_mul(8), secs),
                })
            })
            .collect();
        unknown.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then(a.transport.cmp(&b.transport)).then(a.port.cmp(&b.port))
        });
        unknown.truncate(now.top_unknown);
        let c = delta(stats.total, base.total);
        let capture = now.capture;
        let cap = CaptureReport {
            received: capture.received.saturating_sub(base.capture.received),
            dropped: capture.dropped.saturating_sub(base.capture.dropped),
            if_dropped: capture.if_dropped.saturating_sub(base.capture.if_dropped),
        };
        Self {
            start: base.start,
            end: now.end,
            seconds: (secs * 1e6).round() / 1e6,
            packets: c.packets,
            bytes: c.bytes,
            packets_per_s: rate(c.packets, secs),
            bits_per_s: rate(c.bytes.saturating_mul(8), secs),
            flows_started: flows.created.saturating_sub(base.flows_created),
            flows_live: now.flows_live,
            services,
            unknown,
            capture: cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
    use crate::flow::FlowConfig;
    use crate::pipeline::Pipeline;

    /// A raw IPv4 UDP datagram from 10.0.0.1:`sport` to 10.0.0.2:`dport`.
    fn udp(sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    }

    fn push(p: &mut Pipeline<'_>, sport: u16, dport: u16, wire_len: u32) {
        let data = udp(sport, dport);
        let ts = p.last_ts.map_or(Timestamp(1_000_000_000), |t| Timestamp(t.0 + 1_000));
        let frame = Frame {
            ts,
            wire_len,
            linktype: Linktype::RAW,
            data: &data,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        };
        p.push(&frame, &mut |_| {});
    }

    fn end(capture: CaptureReport) -> IntervalEnd {
        IntervalEnd { end: 2.0, seconds: 2.0, flows_live: 9, capture, top_unknown: 1 }
    }

    #[test]
    fn an_interval_counts_only_what_happened_in_it() {
        let table = ServiceTable::embedded();
        let mut p = Pipeline::new(table, FlowConfig::default());
        push(&mut p, 1025, 53, 100);
        let mut base = IntervalBase::new(0.0);
        let cap0 = CaptureReport { received: 1, dropped: 0, if_dropped: 0 };
        base.reset(&p.stats, &p.flows.counters, cap0, 1.0);
        push(&mut p, 1025, 53, 100);
        push(&mut p, 2000, 137, 50);
        push(&mut p, 40000, 40001, 10);
        push(&mut p, 40002, 40003, 20);
        let cap1 = CaptureReport { received: 6, dropped: 1, if_dropped: 0 };
        let iv = IntervalReport::build(&base, &p.stats, &p.flows.counters, table, end(cap1));
        assert_eq!((iv.start, iv.end, iv.packets, iv.bytes, iv.flows_started), (1.0, 2.0, 4, 180, 3));
        assert!((iv.packets_per_s - 2.0).abs() < 1e-9 && (iv.bits_per_s - 720.0).abs() < 1e-9);
        assert_eq!(iv.capture, CaptureReport { received: 5, dropped: 1, if_dropped: 0 });
        let names: Vec<(&str, bool, u64)> =
            iv.services.iter().map(|s| (s.service.as_str(), s.new, s.packets)).collect();
        assert_eq!(
            names,
            [
                ("Domain Name System (DNS) client to server lookup (varies)", false, 1),
                ("NetBT name lookups", true, 1)
            ]
        );
        assert_eq!(iv.unknown.len(), 1, "cut to the top");
        assert_eq!((iv.unknown[0].port, iv.unknown[0].bytes, iv.unknown[0].new), (40003, 20, true));

        // The next interval starts from here: nothing happened since.
        base.reset(&p.stats, &p.flows.counters, cap1, 2.0);
        let iv = IntervalReport::build(&base, &p.stats, &p.flows.counters, table, end(cap1));
        assert_eq!((iv.packets, iv.services.len(), iv.unknown.len()), (0, 0, 0));
    }

    #[test]
    fn cutting_unknown_ports_keeps_the_books() {
        let table = ServiceTable::embedded();
        let mut p = Pipeline::new(table, FlowConfig::default());
        for port in 40000..40010 {
            push(&mut p, 50000, port, 60 + u32::from(port - 40000));
        }
        push(&mut p, 1025, 53, 100);
        let mut r = Report::build(&p.stats, &p.flows.counters, table, Vec::new(), None, None);
        r.totals.flows_at_end = p.flows.active() as u64;
        assert!(r.conserved());
        r.cut_unknown(3);
        assert_eq!(r.unknown.iter().map(|u| u.port).collect::<Vec<_>>(), [40009, 40008, 40007]);
        let other = r.unknown_other.unwrap();
        assert_eq!((other.ports, other.flows, other.packets), (7, 7, 7));
        assert_eq!(other.bytes, (60..67).sum::<u64>());
        assert!(r.conserved(), "the cut rows are still counted");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["unknown_other"]["ports"], 7);
        assert!(
            json.get("capture").is_none() && json.get("interval").is_none(),
            "absent, not null, for files"
        );
    }

    #[test]
    fn unknown_ports_carry_iana_names_as_hints() {
        let table = ServiceTable::embedded();
        let mut p = Pipeline::new(table, FlowConfig::default());
        let base = IntervalBase::new(0.0);
        push(&mut p, 50000, 5355, 200);
        push(&mut p, 50000, 40124, 100);
        let r = Report::build(&p.stats, &p.flows.counters, table, Vec::new(), None, None);
        let json = serde_json::to_value(&r).unwrap();
        let names: Vec<_> =
            json["unknown"].as_array().unwrap().iter().map(|u| (&u["port"], &u["name"])).collect();
        assert_eq!(names, [(&5355.into(), &"llmnr".into()), (&40124.into(), &serde_json::Value::Null)]);
        let iv =
            IntervalReport::build(&base, &p.stats, &p.flows.counters, table, end(CaptureReport::default()));
        assert_eq!(
            iv.unknown.iter().map(|u| u.name).collect::<Vec<_>>(),
            [Some("llmnr")],
            "cut to the top 1"
        );
    }
}
