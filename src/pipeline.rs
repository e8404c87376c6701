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

/// The classifier state of one run.
pub struct Pipeline<'t> {
    pub flows: FlowTable<'t>,
    pub stats: Stats,
    /// First and last packet time seen (by value, not by order).
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

impl<'t> Pipeline<'t> {
    #[must_use]
    pub fn new(table: &'t ServiceTable, cfg: FlowConfig) -> Self {
        Self { flows: FlowTable::new(table, cfg), stats: Stats::new(), first_ts: None, last_ts: None }
    }

    /// Counts one frame that passed the filter; flows that ended meanwhile go to `on_end`.
    pub fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) {
        let mut anomalies = Anomalies::from_record(frame.flags);
        self.first_ts = Some(self.first_ts.map_or(frame.ts, |t| t.min(frame.ts)));
        self.last_ts = Some(self.last_ts.map_or(frame.ts, |t| t.max(frame.ts)));
        if !self.flows.advance(frame.ts) {
            anomalies.insert(Anomalies::TS_BACKWARDS);
        }
        match decode::decode(frame, &mut anomalies) {
            Decoded::Ip(pkt) => {
                if self.flows.is_fragment_overlap(&pkt) {
                    anomalies.insert(Anomalies::FRAG_OVERLAP_SUSPECT);
                }
                let Self { flows, stats, .. } = self;
                let seen = flows.observe(&pkt, frame.ts, frame.wire_len, |v, proto| {
                    stats.flow_started(v.service, transport_of(proto), v.server_port).0
                });
                match seen {
                    Seen::Flow { to_server, tag, .. } | Seen::Tag { tag, to_server } => {
                        self.stats.count_packet(Tag(tag), pkt.proto, to_server, frame.wire_len);
                    }
                    Seen::Orphan => self.stats.count_skip(Skip::FragmentOrphan, frame.wire_len),
                }
            }
            Decoded::NonIp => self.stats.count_non_ip(frame.wire_len),
            Decoded::Skip(reason) => self.stats.count_skip(reason, frame.wire_len),
        }
        self.stats.count_anomalies(anomalies);
        if self.flows.has_ended() {
            self.drain(on_end);
        }
    }

    /// Moves the flow clock to `ts` without a packet, so that idle flows expire on a quiet link
    /// (a live capture's wall-clock backstop); flows that ended go to `on_end`. A time behind
    /// the packet clock changes nothing.
    pub fn advance_clock(&mut self, ts: Timestamp, on_end: &mut impl FnMut(&FlowRecord)) {
        if ts > self.flows.now() && self.flows.advance(ts) && self.flows.has_ended() {
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
        flows.trim_ended();
    }

    /// Ends every flow (end of input) and hands them to `on_end`.
    pub fn finish(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        self.flows.finish();
        self.drain(on_end);
    }
}
