//! Report: one data model of a run's results, sorted, that every output format renders.
//!
//! What I own: turning [`Stats`], the flow table's counters and the inputs' outcomes into plain
//! sorted data (services by bytes, then name; unknown ports by bytes, then port), with the
//! JSON document's exact keys (README "JSON report").
//!
//! What I must not do: count anything (stats did), or know about output formats.

use crate::decode::{Anomalies, Skip};
use crate::flow::FlowCounters;
use crate::services::{ServiceTable, Transport};
use crate::stats::{Counts, Dist, Quantiles, Stats};
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
    /// Other IP packets by protocol number, highest count first.
    pub other_ip: Vec<ProtocolCount>,
    /// Anomaly tags (they do not change attribution), every tag listed.
    pub anomalies: BTreeMap<&'static str, u64>,
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
}

#[derive(Serialize, Clone, Debug)]
pub struct UnknownReport {
    pub transport: Transport,
    pub port: u16,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
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
                }
            })
            .collect();
        services.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then_with(|| a.service.cmp(&b.service)).then(a.transport.cmp(&b.transport))
        });
        let mut unknown: Vec<UnknownReport> = stats
            .unknown
            .iter()
            .map(|u| UnknownReport {
                transport: u.transport,
                port: u.port,
                flows: u.flows,
                packets: u.total.packets,
                bytes: u.total.bytes,
            })
            .collect();
        unknown.sort_by(|a, b| {
            b.bytes.cmp(&a.bytes).then(a.transport.cmp(&b.transport)).then(a.port.cmp(&b.port))
        });
        let mut other_ip: Vec<ProtocolCount> = stats
            .other_ip_protocols
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(p, n)| ProtocolCount { protocol: u8::try_from(p).unwrap_or(u8::MAX), packets: *n })
            .collect();
        other_ip.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.protocol.cmp(&b.protocol)));
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
            },
            services,
            unknown,
            other_ip,
            anomalies,
        }
    }

    /// The conservation law every report obeys (CATALOGUE.md §3.6).
    #[must_use]
    pub fn conserved(&self) -> bool {
        let rows: u64 = self.services.iter().map(|s| s.packets).sum::<u64>()
            + self.unknown.iter().map(|u| u.packets).sum::<u64>();
        let t = &self.totals;
        t.packets == rows + t.other_ip_packets + t.non_ip_packets + t.skipped_packets
            && t.skipped_packets == t.skipped.values().sum::<u64>()
            && t.flows == t.flows_expired + t.flows_evicted + t.flows_reused + t.flows_at_end
    }
}
