//! Pipeline: one frame through decode, flow and stats. The per-packet path.
//!
//! What I own: the order of the steps and the bookkeeping that makes every frame counted
//! exactly once (a service or unknown row, other IP, non-IP, or a named skip reason), plus
//! the anomaly tags and the packet clock's backwards steps.
//!
//! What I must not do: read files, print, or allocate per packet.

use crate::capture::{Frame, Timestamp};
use crate::decode::{self, Anomalies, Decoded, Skip};
use crate::flow::{FlowConfig, FlowRecord, FlowTable, Seen, transport_of};
use crate::services::ServiceTable;
use crate::stats::{Stats, Tag};

/// A decoded frame: everything the rest of the pipeline needs, owned and `Copy`, so it can
/// be handed to another thread after the reader's buffer has moved on.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub ts: Timestamp,
    /// The input's clock when this packet was read (the latest time so far, this packet's
    /// included): flows age on it, so a packet with an earlier time than the clock cannot
    /// revive a flow that already timed out.
    pub clock: Timestamp,
    pub wire_len: u32,
    pub anomalies: Anomalies,
    pub decoded: Decoded,
}

impl Packet {
    #[must_use]
    pub fn decode(frame: &Frame<'_>) -> Self {
        let mut anomalies = Anomalies::from_record(frame.flags);
        let decoded = decode::decode(frame, &mut anomalies);
        Self { ts: frame.ts, clock: frame.ts, wire_len: frame.wire_len, anomalies, decoded }
    }
}

/// The input's clock: the latest packet time read, in reading order. Packets earlier than it
/// are tagged `ts_backwards`. One clock per input stream, whoever counts the packets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    pub latest: Option<Timestamp>,
}

impl Clock {
    pub fn tag(&mut self, packet: &mut Packet) {
        match self.latest {
            Some(t) if packet.ts < t => packet.anomalies.insert(Anomalies::TS_BACKWARDS),
            _ => self.latest = Some(packet.ts),
        }
        packet.clock = self.latest.unwrap_or(packet.ts);
    }
}

/// The classifier state of one run.
pub struct Pipeline<'t> {
    pub flows: FlowTable<'t>,
    pub stats: Stats,
    /// First and last packet time seen (by value, not by order).
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    clock: Clock,
}

impl<'t> Pipeline<'t> {
    #[must_use]
    pub fn new(table: &'t ServiceTable, cfg: FlowConfig) -> Self {
        Self {
            flows: FlowTable::new(table, cfg),
            stats: Stats::new(),
            first_ts: None,
            last_ts: None,
            clock: Clock::default(),
        }
    }

    /// Counts one frame that passed the filter; flows that ended meanwhile go to `on_end`.
    pub fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) {
        let mut packet = Packet::decode(frame);
        self.clock.tag(&mut packet);
        self.push_decoded(&packet, on_end);
    }

    /// Counts one decoded packet (its clock tags already set, see [`Clock`]).
    pub fn push_decoded(&mut self, packet: &Packet, on_end: &mut impl FnMut(&FlowRecord)) {
        let &Packet { ts, clock, wire_len, mut anomalies, decoded } = packet;
        self.first_ts = Some(self.first_ts.map_or(ts, |t| t.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |t| t.max(ts)));
        self.flows.advance(clock);
        match decoded {
            Decoded::Ip(pkt) => {
                if self.flows.is_fragment_overlap(&pkt) {
                    anomalies.insert(Anomalies::FRAG_OVERLAP_SUSPECT);
                }
                let Self { flows, stats, .. } = self;
                let seen = flows.observe(&pkt, ts, wire_len, |v, proto| {
                    stats.flow_started(v.service, transport_of(proto), v.server_port).0
                });
                match seen {
                    Seen::Flow { to_server, tag, .. } | Seen::Tag { tag, to_server } => {
                        self.stats.count_packet(Tag(tag), pkt.proto, to_server, wire_len);
                    }
                    Seen::Orphan => self.stats.count_skip(Skip::FragmentOrphan, wire_len),
                }
            }
            Decoded::NonIp => self.stats.count_non_ip(wire_len),
            Decoded::Skip(reason) => self.stats.count_skip(reason, wire_len),
        }
        self.stats.count_anomalies(anomalies);
        if self.flows.has_ended() {
            self.drain(on_end);
        }
    }

    /// Advances the flow clock to the input's clock (a worker's shard may be quiet while the
    /// input moves on) and hands the flows that expired to `on_end`.
    pub fn tick(&mut self, clock: Timestamp, on_end: &mut impl FnMut(&FlowRecord)) {
        self.flows.advance(clock);
        if self.flows.has_ended() {
            self.drain(on_end);
        }
    }

    /// Counts a frame a filter left out.
    pub fn filtered_out(&mut self) {
        self.stats.filtered_out += 1;
    }

    fn drain(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        let Self { flows, stats, .. } = self;
        for rec in flows.drain_ended() {
            stats.flow_ended(&rec);
            on_end(&rec);
        }
    }

    /// Ends every flow (end of input) and hands them to `on_end`.
    pub fn finish(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        self.flows.finish();
        self.drain(on_end);
    }
}
