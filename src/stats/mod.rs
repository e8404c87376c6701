//! Stats: dense counters and distributions, the numbers every report is made of.
//!
//! What I own: per (service, transport) rows with flows, packets and bytes (also split to the
//! server and to the client) and hdrhistogram distributions of packet size, flow duration,
//! bytes per flow and handshake RTT; per unknown (transport, server port) rows; and the totals
//! that make every packet read counted exactly once: service rows, unknown rows, `other_ip`,
//! `non_ip`, or `skipped` under a named reason. Beside them, a breakdown that is not one of the
//! books: what came through each tunnel ([`tunnels`]).
//!
//! What I must not do: decide anything about packets (decode and flow do), print, or let a
//! counter wrap (all counters are u64; histograms saturate at their highest trackable value).

use crate::classify::evidence::Proto;
use crate::classify::rules::Confidence;
use crate::decode::{Anomalies, Skip};
use crate::flow::{FlowRecord, Held, Outcome, Relabel, TO_CLIENT, TO_SERVER};
use crate::learn::expect::LearnCounters;
use crate::services::{ServiceId, Transport};
use hashbrown::HashMap;
use hdrhistogram::Histogram;

pub mod tunnels;

/// A row reference as the flow table carries it: service rows count up from 0, unknown rows
/// have the top bit set, and [`Tag::OTHER_IP`] counts other IP protocols.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tag(pub u32);

impl Tag {
    const UNKNOWN_BIT: u32 = 1 << 31;
    pub const OTHER_IP: Tag = Tag(u32::MAX);
}

/// Packets and bytes.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
}

impl Counts {
    fn merge(&mut self, other: Counts) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }

    fn take(&mut self, other: Counts) {
        self.packets = self.packets.saturating_sub(other.packets);
        self.bytes = self.bytes.saturating_sub(other.bytes);
    }

    fn add(&mut self, bytes: u32) {
        self.packets += 1;
        self.bytes += u64::from(bytes);
    }
}

/// TCP flows of a row by how their handshake went, indexed by [`Outcome`] (answered,
/// unanswered, refused, mid-stream).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Handshakes(pub [u64; 4]);

impl Handshakes {
    fn count(&mut self, o: Outcome) {
        self.0[o as usize] += 1;
    }

    fn merge(&mut self, other: Handshakes) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

/// A distribution. Values are recorded in the unit the field names (bytes, µs, ns).
///
/// A value can be taken back out (`unrecord`): a flow's first packet sizes
/// leave their row when payload evidence relabels the flow. They are kept apart, in a second
/// histogram made at the first such value, and subtracted when the figures are read, so that
/// recording stays the histogram's own inlined increment on the per-packet path.
#[derive(Clone, Debug)]
pub struct Dist {
    seen: Histogram<u64>,
    /// Values recorded, then taken out again (each one recorded in `seen` before).
    out: Option<Box<Histogram<u64>>>,
}

/// The four figures a report shows of a distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Dist {
    /// Tracks 0 to 2^40 (a terabyte, 12 days in µs, 18 minutes in ns) with 2 significant digits: about
    /// 1% resolution in ~14 KiB per distribution.
    fn new() -> Self {
        Self { seen: Self::histogram(), out: None }
    }

    #[expect(clippy::expect_used, reason = "constant bounds that hdrhistogram always accepts")]
    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 1 << 40, 2).expect("valid histogram bounds")
    }

    #[inline]
    fn record(&mut self, v: u64) {
        self.seen.saturating_record(v);
    }

    fn record_n(&mut self, v: u64, n: u64) {
        // Out of range only past 2^40, which `record` saturates to the top as well.
        if self.seen.record_n(v, n).is_err() {
            let _ = self.seen.record_n(self.seen.high(), n);
        }
    }

    /// Takes back out a value recorded before.
    fn unrecord(&mut self, v: u64) {
        self.out.get_or_insert_with(|| Box::new(Self::histogram())).saturating_record(v);
    }

    /// None when nothing was recorded (or all was taken out).
    #[must_use]
    pub fn quantiles(&self) -> Option<Quantiles> {
        let net;
        let h = match &self.out {
            Some(out) => {
                let mut h = self.seen.clone();
                // Every value taken out was recorded first, in the same bounds, so this cannot
                // fail; if it did, the figures would be read without the subtraction.
                if h.subtract(out.as_ref()).is_err() {
                    h.clone_from(&self.seen);
                }
                net = h;
                &net
            }
            None => &self.seen,
        };
        if h.is_empty() {
            return None;
        }
        Some(Quantiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }

    pub fn merge(&mut self, other: &Dist) {
        // Both sides have the same bounds, so adding cannot fail.
        let _ = self.seen.add(&other.seen);
        if let Some(o) = &other.out {
            let _ = self.out.get_or_insert_with(|| Box::new(Self::histogram())).add(o.as_ref());
        }
    }
}

/// One (service, transport) row.
#[derive(Clone, Debug)]
pub struct ServiceRow {
    pub service: ServiceId,
    pub transport: Transport,
    /// Server ports (IP protocol numbers for `ip` rows) of the row's flows, sorted.
    pub ports: Vec<u16>,
    pub flows: u64,
    pub total: Counts,
    /// Indexed by [`TO_SERVER`] and [`TO_CLIENT`].
    pub dir: [Counts; 2],
    pub packet_size: Dist,
    pub duration_us: Dist,
    pub flow_bytes: Dist,
    pub handshake_rtt_ns: Dist,
    /// TCP flows by how their handshake went, counted as they end.
    pub handshakes: Handshakes,
    /// Flows and bytes by how their label was decided (indexed by [`Confidence`]), counted
    /// as they end.
    pub decided: [Counts; Confidence::ALL.len()],
}

/// One unknown (transport, server port) row.
#[derive(Clone, Copy, Debug)]
pub struct UnknownRow {
    pub transport: Transport,
    pub port: u16,
    pub flows: u64,
    pub total: Counts,
    pub dir: [Counts; 2],
}

// What a packet of an unknown flow touches fits one cache line; the handshake outcomes, counted
// as flows end, live beside the rows (`Stats::unknown_handshakes`).
const _: () = assert!(std::mem::size_of::<UnknownRow>() <= 64);

/// The unknown rows by (transport, port): row number + 1 (0 for none) in one flat array of
/// 3 × 65,536, made at the first unknown flow (768 KiB of address space, zeroed pages on first
/// touch). One load per new flow, where a map took two cache misses (its control bytes, then
/// its entry) with 100k rows.
#[derive(Clone, Debug, Default)]
struct PortRows(Vec<u32>);

impl PortRows {
    /// The row of (`t`, `port`), which becomes `next` if it has none yet.
    fn row(&mut self, t: Transport, port: u16, next: u32) -> u32 {
        if self.0.is_empty() {
            self.0 = vec![0; Transport::ALL.len() << 16];
        }
        let e = &mut self.0[(t.index() as usize) << 16 | usize::from(port)];
        if *e == 0 {
            *e = next.saturating_add(1);
        }
        *e - 1
    }
}

/// Every counter of one run.
#[derive(Clone, Debug)]
pub struct Stats {
    pub services: Vec<ServiceRow>,
    service_index: HashMap<(ServiceId, Transport), u32>,
    pub unknown: Vec<UnknownRow>,
    /// By unknown row: its TCP flows by how their handshake went.
    pub unknown_handshakes: Vec<Handshakes>,
    unknown_index: PortRows,
    /// Packets read that passed the filter, and their wire bytes.
    pub total: Counts,
    pub tcp: Counts,
    pub udp: Counts,
    pub other_ip: Counts,
    /// Other IP packets by protocol number.
    pub other_ip_protocols: Box<[u64; 256]>,
    /// Flows of other IP protocols (ICMP, GRE...).
    pub other_ip_flows: u64,
    pub non_ip: Counts,
    pub skipped: [u64; Skip::ALL.len()],
    pub skipped_bytes: u64,
    pub anomalies: [u64; Anomalies::ALL.len()],
    /// Packets a `--filter` left out (read, but not counted anywhere else).
    pub filtered_out: u64,
    /// Flows (in `packets`) and bytes whose payload contradicted their port's label, by
    /// (the port's label, the label the payload gave, the protocol seen), counted as they end.
    pub contradictions: HashMap<(ServiceId, ServiceId, Proto), Counts>,
    /// What the reading thread learned from control channels.
    pub learn: LearnCounters,
    /// Per tunnel, what came through it (a breakdown of the packets counted above).
    pub tunnels: tunnels::TunnelBook,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    #[must_use]
    pub fn new() -> Self {
        Self {
            services: Vec::new(),
            service_index: HashMap::new(),
            unknown: Vec::new(),
            unknown_handshakes: Vec::new(),
            unknown_index: PortRows::default(),
            total: Counts::default(),
            tcp: Counts::default(),
            udp: Counts::default(),
            other_ip: Counts::default(),
            other_ip_protocols: Box::new([0; 256]),
            other_ip_flows: 0,
            non_ip: Counts::default(),
            skipped: [0; Skip::ALL.len()],
            skipped_bytes: 0,
            anomalies: [0; Anomalies::ALL.len()],
            filtered_out: 0,
            contradictions: HashMap::new(),
            learn: LearnCounters::default(),
            tunnels: tunnels::TunnelBook::default(),
        }
    }

    /// The row of a new flow: its service row, its unknown-port row, or other IP. Counts the flow.
    pub fn flow_started(
        &mut self,
        service: Option<ServiceId>,
        transport: Transport,
        server_port: u16,
    ) -> Tag {
        match (service, transport) {
            (Some(s), t) => {
                let next = u32::try_from(self.services.len()).unwrap_or(u32::MAX);
                let i = *self.service_index.entry((s, t)).or_insert(next);
                if i == next {
                    self.services.push(ServiceRow {
                        service: s,
                        transport: t,
                        ports: Vec::new(),
                        flows: 0,
                        total: Counts::default(),
                        dir: [Counts::default(); 2],
                        packet_size: Dist::new(),
                        duration_us: Dist::new(),
                        flow_bytes: Dist::new(),
                        handshake_rtt_ns: Dist::new(),
                        handshakes: Handshakes::default(),
                        decided: [Counts::default(); Confidence::ALL.len()],
                    });
                }
                let row = &mut self.services[i as usize];
                row.flows += 1;
                if let Err(at) = row.ports.binary_search(&server_port) {
                    row.ports.insert(at, server_port);
                }
                Tag(i)
            }
            (None, Transport::Ip) => {
                self.other_ip_flows += 1;
                Tag::OTHER_IP
            }
            (None, t) => {
                let next = u32::try_from(self.unknown.len()).unwrap_or(u32::MAX >> 1);
                let i = self.unknown_index.row(t, server_port, next);
                if i == next {
                    self.unknown.push(UnknownRow {
                        transport: t,
                        port: server_port,
                        flows: 0,
                        total: Counts::default(),
                        dir: [Counts::default(); 2],
                    });
                    self.unknown_handshakes.push(Handshakes::default());
                }
                self.unknown[i as usize].flows += 1;
                Tag(i | Tag::UNKNOWN_BIT)
            }
        }
    }

    /// Moves a flow that was counted in row `from` so far to the row of its new label, with
    /// its packets and bytes by direction, after its label changed (see [`Relabel`]); returns
    /// the new row's tag. The sizes of the packets moved leave the old row's size distribution
    /// for the new one's when they are all in the flow's opening window (`r.sizes`). Otherwise
    /// (a handshake answered after more than a window of SYNs, from an unknown row, which has
    /// no sizes) they enter the new row's distribution at their mean size per direction, exact
    /// when a direction's packets are one, or all of one size, as retransmitted SYNs are.
    pub fn move_flow(&mut self, from: Tag, r: &Relabel) -> Tag {
        let moved = |d: usize| Counts { packets: r.packets[d], bytes: r.bytes[d] };
        let take = |total: &mut Counts, dir: &mut [Counts; 2], flows: &mut u64| {
            *flows = flows.saturating_sub(1);
            for d in [TO_SERVER, TO_CLIENT] {
                dir[d].take(moved(d));
                total.take(moved(d));
            }
        };
        // Other IP flows have no ports, so no label of a port's to change.
        if from != Tag::OTHER_IP {
            if from.0 & Tag::UNKNOWN_BIT != 0 {
                if let Some(u) = self.unknown.get_mut((from.0 & !Tag::UNKNOWN_BIT) as usize) {
                    take(&mut u.total, &mut u.dir, &mut u.flows);
                }
            } else if let Some(row) = self.services.get_mut(from.0 as usize) {
                take(&mut row.total, &mut row.dir, &mut row.flows);
                for s in r.sizes.iter().flat_map(Held::sizes) {
                    row.packet_size.unrecord(u64::from(s));
                }
            }
        }
        let to = self.flow_started(Some(r.service), r.transport, r.server_port);
        if let Some(row) = self.services.get_mut(to.0 as usize) {
            for d in [TO_SERVER, TO_CLIENT] {
                row.dir[d].merge(moved(d));
                row.total.merge(moved(d));
                if let (None, Some(mean)) = (r.sizes, r.bytes[d].checked_div(r.packets[d])) {
                    row.packet_size.record_n(mean, r.packets[d]);
                }
            }
            for s in r.sizes.iter().flat_map(Held::sizes) {
                row.packet_size.record(u64::from(s));
            }
        }
        to
    }

    /// Counts one IP packet attributed to a row (per-packet hot path).
    #[inline]
    pub fn count_packet(&mut self, tag: Tag, proto: u8, to_server: bool, wire_len: u32) {
        self.total.add(wire_len);
        match proto {
            crate::decode::PROTO_TCP => self.tcp.add(wire_len),
            crate::decode::PROTO_UDP => self.udp.add(wire_len),
            _ => {}
        }
        let dir = if to_server { TO_SERVER } else { TO_CLIENT };
        if tag == Tag::OTHER_IP {
            self.other_ip.add(wire_len);
            self.other_ip_protocols[usize::from(proto)] += 1;
        } else if tag.0 & Tag::UNKNOWN_BIT != 0 {
            let r = &mut self.unknown[(tag.0 & !Tag::UNKNOWN_BIT) as usize];
            r.total.add(wire_len);
            r.dir[dir].add(wire_len);
        } else {
            // Tags come only from `flow_started`, so the row exists; indexing keeps a bug loud
            // instead of losing a packet from the books.
            let r = &mut self.services[tag.0 as usize];
            r.total.add(wire_len);
            r.dir[dir].add(wire_len);
            r.packet_size.record(u64::from(wire_len));
        }
    }

    pub fn count_non_ip(&mut self, wire_len: u32) {
        self.total.add(wire_len);
        self.non_ip.add(wire_len);
    }

    pub fn count_skip(&mut self, reason: Skip, wire_len: u32) {
        self.total.add(wire_len);
        self.skipped[reason.index()] += 1;
        self.skipped_bytes += u64::from(wire_len);
    }

    pub fn count_anomalies(&mut self, a: Anomalies) {
        if a.0 == 0 {
            return;
        }
        // The tags set, lowest first: `Anomalies::ALL` lists bit i at place i.
        let mut bits = a.0;
        while bits != 0 {
            if let Some(n) = self.anomalies.get_mut(bits.trailing_zeros() as usize) {
                *n += 1;
            }
            bits &= bits - 1;
        }
    }

    /// Records the distributions of a flow that ended.
    pub fn flow_ended(&mut self, rec: &FlowRecord) {
        let tag = Tag(rec.tag);
        if tag == Tag::OTHER_IP {
            return;
        }
        if tag.0 & Tag::UNKNOWN_BIT != 0 {
            if let (Some(h), Some(o)) =
                (self.unknown_handshakes.get_mut((tag.0 & !Tag::UNKNOWN_BIT) as usize), rec.outcome())
            {
                h.count(o);
            }
            return;
        }
        if let Some(r) = self.services.get_mut(tag.0 as usize) {
            if let Some(o) = rec.outcome() {
                r.handshakes.count(o);
            }
            // `packets` counts flows here.
            if let Some(d) = r.decided.get_mut(rec.confidence as usize) {
                d.packets += 1;
                d.bytes += rec.bytes[TO_SERVER] + rec.bytes[TO_CLIENT];
            }
            if let (true, Some(Some(port)), Some(label), Some(e)) =
                (rec.contradiction, rec.port_label, rec.verdict.service, rec.evidence)
            {
                let c = self.contradictions.entry((port, label, e)).or_default();
                c.packets += 1;
                c.bytes += rec.bytes[TO_SERVER] + rec.bytes[TO_CLIENT];
            }
            r.duration_us.record(rec.duration() / 1_000);
            r.flow_bytes.record(rec.bytes[TO_SERVER] + rec.bytes[TO_CLIENT]);
            if let Some(rtt) = rec.handshake_rtt {
                r.handshake_rtt_ns.record(rtt);
            }
        }
    }

    /// Adds another run's counters into these (the shards of one input). Rows are matched by
    /// their key, so the result is the same as if one `Stats` had counted every packet.
    pub fn merge(&mut self, other: &Stats) {
        for r in &other.services {
            let next = u32::try_from(self.services.len()).unwrap_or(u32::MAX);
            let i = *self.service_index.entry((r.service, r.transport)).or_insert(next);
            if i == next {
                self.services.push(r.clone());
                continue;
            }
            let row = &mut self.services[i as usize];
            row.flows += r.flows;
            row.total.merge(r.total);
            row.dir[TO_SERVER].merge(r.dir[TO_SERVER]);
            row.dir[TO_CLIENT].merge(r.dir[TO_CLIENT]);
            for &p in &r.ports {
                if let Err(at) = row.ports.binary_search(&p) {
                    row.ports.insert(at, p);
                }
            }
            row.packet_size.merge(&r.packet_size);
            row.duration_us.merge(&r.duration_us);
            row.flow_bytes.merge(&r.flow_bytes);
            row.handshake_rtt_ns.merge(&r.handshake_rtt_ns);
            row.handshakes.merge(r.handshakes);
            for (a, b) in row.decided.iter_mut().zip(r.decided) {
                a.merge(b);
            }
        }
        for (u, h) in other.unknown.iter().zip(&other.unknown_handshakes) {
            let next = u32::try_from(self.unknown.len()).unwrap_or(u32::MAX >> 1);
            let i = self.unknown_index.row(u.transport, u.port, next);
            if i == next {
                self.unknown.push(*u);
                self.unknown_handshakes.push(*h);
                continue;
            }
            if let Some(mine) = self.unknown_handshakes.get_mut(i as usize) {
                mine.merge(*h);
            }
            let row = &mut self.unknown[i as usize];
            row.flows += u.flows;
            row.total.merge(u.total);
            row.dir[TO_SERVER].merge(u.dir[TO_SERVER]);
            row.dir[TO_CLIENT].merge(u.dir[TO_CLIENT]);
        }
        self.total.merge(other.total);
        self.tcp.merge(other.tcp);
        self.udp.merge(other.udp);
        self.other_ip.merge(other.other_ip);
        for (a, b) in self.other_ip_protocols.iter_mut().zip(other.other_ip_protocols.iter()) {
            *a += b;
        }
        self.other_ip_flows += other.other_ip_flows;
        self.non_ip.merge(other.non_ip);
        for (a, b) in self.skipped.iter_mut().zip(other.skipped) {
            *a += b;
        }
        self.skipped_bytes += other.skipped_bytes;
        for (a, b) in self.anomalies.iter_mut().zip(other.anomalies) {
            *a += b;
        }
        self.filtered_out += other.filtered_out;
        self.learn.merge(&other.learn);
        self.tunnels.merge(&other.tunnels);
        for (k, c) in &other.contradictions {
            self.contradictions.entry(*k).or_default().merge(*c);
        }
    }

    /// Packets counted in the skipped reasons.
    #[must_use]
    pub fn skipped_packets(&self) -> u64 {
        self.skipped.iter().sum()
    }
}
