//! Flow: the only state that grows with traffic. Bounded, and its clock is packet time.
//!
//! What I own: bidirectional flows keyed by the canonical 5-tuple plus VLAN id; per flow the
//! first and last packet time, packets and bytes each way, TCP flags, the handshake RTT, and
//! the server side and service decided once by the rule (`services::decide`) when the flow is
//! created. A TCP flow closes on FIN both ways or on RST and lingers [`CLOSED_LINGER`] so that
//! its last ACKs still count in it; a SYN on its 5-tuple after that starts a new flow. Idle
//! flows expire on packet time; when the table holds `max_flows` the longest-idle flow is
//! evicted. Non-first IP fragments are attributed to the flow of their first fragment through
//! a bounded fragment table.
//!
//! What I must not do: read the wall clock, print, or grow without bound. Every structure
//! here has a hard cap. Each timeout class has a lazy expiry queue (see [`Queued`]): packets
//! only update a flow's last-seen time, and expiry and eviction settle the queue fronts, so the
//! cost is amortised O(1) per packet with no table scans.

use crate::capture::Timestamp;
use crate::decode::{Addr, Fragment, IpPacket, PROTO_TCP, PROTO_UDP, TcpFlags};
use crate::services::{self, DecidedBy, Opening, ServiceTable, Transport, Verdict};
use hashbrown::HashMap;
use std::collections::VecDeque;

/// How long a closed TCP flow stays to collect its last ACKs and retransmitted FINs.
pub const CLOSED_LINGER: u64 = 10 * Timestamp::NANOS_PER_SEC;
/// Fragment table bounds: entries and time to live (packet time).
pub const MAX_FRAGMENT_ENTRIES: usize = 65_536;
pub const FRAGMENT_TTL: u64 = 30 * Timestamp::NANOS_PER_SEC;

const NIL: u32 = u32::MAX;
/// Ended records whose buffer is kept between drains (a few hundred KiB).
const ENDED_KEEP: usize = 4096;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Settings of the flow table.
#[derive(Clone, Copy, Debug)]
pub struct FlowConfig {
    pub tcp_timeout: u64,
    pub udp_timeout: u64,
    pub other_timeout: u64,
    pub max_flows: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            tcp_timeout: 300 * Timestamp::NANOS_PER_SEC,
            udp_timeout: 60 * Timestamp::NANOS_PER_SEC,
            other_timeout: 60 * Timestamp::NANOS_PER_SEC,
            max_flows: 1_000_000,
        }
    }
}

/// The canonical flow key: the lower (address, port) end first, so both directions match.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo: Addr,
    pub hi: Addr,
    pub lo_port: u16,
    pub hi_port: u16,
    pub proto: u8,
    pub vlan: u16,
}

impl FlowKey {
    /// The key of a packet and whether its source is the key's `lo` end.
    #[must_use]
    pub fn of(pkt: &IpPacket) -> (Self, bool) {
        let (sp, dp) = pkt.ports.map_or((0, 0), |p| (p.src, p.dst));
        let src_lo = (pkt.src, sp) <= (pkt.dst, dp);
        let (lo, lo_port, hi, hi_port) =
            if src_lo { (pkt.src, sp, pkt.dst, dp) } else { (pkt.dst, dp, pkt.src, sp) };
        (Self { lo, hi, lo_port, hi_port, proto: pkt.proto, vlan: pkt.vlan }, src_lo)
    }
}

/// Why a flow ended.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EndReason {
    /// FIN both ways, then the linger passed.
    Fin,
    /// RST, then the linger passed.
    Rst,
    Idle,
    /// The table was full and this flow was the longest idle.
    Evicted,
    /// A new SYN reused the 5-tuple of this closed flow.
    Reused,
    EndOfInput,
}

impl EndReason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Idle => "idle",
            EndReason::Evicted => "evicted",
            EndReason::Reused => "reused",
            EndReason::EndOfInput => "end_of_input",
        }
    }
}

/// Direction index: packets to the server, packets to the client.
pub const TO_SERVER: usize = 0;
pub const TO_CLIENT: usize = 1;

const ST_SYN: u8 = 1;
const ST_SYNACK: u8 = 1 << 1;
const ST_FIN_TO_SERVER: u8 = 1 << 2;
const ST_FIN_TO_CLIENT: u8 = 1 << 3;
const ST_RST: u8 = 1 << 4;

/// A finished flow, as reports and the `--flows` file see it.
#[derive(Clone, Copy, Debug)]
pub struct FlowRecord {
    pub start: Timestamp,
    pub end: Timestamp,
    pub proto: u8,
    pub client: Addr,
    pub client_port: u16,
    pub server: Addr,
    pub server_port: u16,
    pub vlan: u16,
    pub verdict: Verdict,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// Non-first fragments counted in this flow (tshark counts them apart).
    pub fragments: u64,
    state: u8,
    pub handshake_rtt: Option<u64>,
    pub end_reason: EndReason,
    /// The caller's tag (its counter row).
    pub tag: u32,
}

impl FlowRecord {
    #[must_use]
    pub fn transport(&self) -> Transport {
        transport_of(self.proto)
    }

    /// The TCP state at the end, or `None` for other transports.
    #[must_use]
    pub fn tcp_state(&self) -> Option<&'static str> {
        if self.proto != PROTO_TCP {
            return None;
        }
        let s = self.state;
        Some(if s & ST_RST != 0 {
            "reset"
        } else if s & ST_FIN_TO_SERVER != 0 && s & ST_FIN_TO_CLIENT != 0 {
            "closed"
        } else if s & (ST_FIN_TO_SERVER | ST_FIN_TO_CLIENT) != 0 {
            "half_closed"
        } else if s & ST_SYN != 0 && s & ST_SYNACK != 0 {
            "established"
        } else if s & ST_SYN != 0 {
            "syn_sent"
        } else if s & ST_SYNACK != 0 {
            "syn_ack_seen"
        } else {
            "midstream"
        })
    }

    #[must_use]
    pub fn duration(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }
}

/// The transport a protocol number is counted under.
#[must_use]
pub fn transport_of(proto: u8) -> Transport {
    match proto {
        PROTO_TCP => Transport::Tcp,
        PROTO_UDP => Transport::Udp,
        _ => Transport::Ip,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Tcp = 0,
    Udp = 1,
    Other = 2,
    Closed = 3,
}

struct Slot {
    key: FlowKey,
    rec: FlowRecord,
    /// Whether the key's `lo` end is the server.
    server_is_lo: bool,
    syn_ts: Option<Timestamp>,
    last: Timestamp,
    class: Class,
    /// Bumped each time the slot is freed, so fragment entries can tell a reused slot.
    generation: u32,
    live: bool,
}

/// An entry of an expiry queue: a flow and its last-seen time when it was queued. A flow
/// touched since is requeued with its new time when it reaches the front; a flow that ended
/// (generation changed) or changed class is dropped there. So packets never touch the queues,
/// and each queue's front, once settled, is its longest-idle flow.
#[derive(Clone, Copy)]
struct Queued {
    slot: u32,
    generation: u32,
    last: Timestamp,
}

/// Expiry is checked at most this often in packet time; a flow found on lookup past its
/// timeout is ended there, so flow boundaries stay exact.
const SWEEP_INTERVAL: u64 = Timestamp::NANOS_PER_SEC / 10;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: Addr,
    dst: Addr,
    id: u32,
    proto: u8,
    vlan: u16,
}

#[derive(Clone, Copy)]
struct FragEntry {
    complete: bool,
    slot: u32,
    generation: u32,
    to_server: bool,
    tag: u32,
    born: Timestamp,
}

/// What the table did with one packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// Counted in a flow; `created` when this packet started it.
    Flow { slot: u32, to_server: bool, created: bool, tag: u32 },
    /// A non-first fragment whose flow has ended: counted under the flow's tag only.
    Tag { tag: u32, to_server: bool },
    /// A non-first fragment whose first fragment was never seen.
    Orphan,
}

/// Counters the table keeps about itself.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct FlowCounters {
    pub created: u64,
    /// Ended by an idle timeout, or when the linger after FIN/RST passed.
    pub expired: u64,
    /// Ended because a new SYN reused their closed 5-tuple.
    pub reused: u64,
    /// Still held when the input ended.
    pub at_end: u64,
    pub evicted: u64,
    pub fragments_attributed: u64,
    pub fragment_orphans: u64,
    pub fragment_overlaps: u64,
    pub fragment_entries_dropped: u64,
}

/// The flow table.
pub struct FlowTable<'t> {
    table: &'t ServiceTable,
    cfg: FlowConfig,
    index: FastMap<FlowKey, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    queues: [VecDeque<Queued>; 4],
    next_sweep: Timestamp,
    frags: FastMap<FragKey, FragEntry>,
    frag_order: VecDeque<(FragKey, Timestamp)>,
    now: Timestamp,
    ended: Vec<FlowRecord>,
    pub counters: FlowCounters,
}

impl<'t> FlowTable<'t> {
    #[must_use]
    pub fn new(table: &'t ServiceTable, cfg: FlowConfig) -> Self {
        let cap = cfg.max_flows.min(65_536);
        Self {
            table,
            cfg,
            index: FastMap::with_capacity_and_hasher(cap, foldhash::fast::RandomState::default()),
            slots: Vec::with_capacity(cap),
            free: Vec::new(),
            queues: [VecDeque::new(), VecDeque::new(), VecDeque::new(), VecDeque::new()],
            next_sweep: Timestamp(0),
            frags: FastMap::default(),
            frag_order: VecDeque::new(),
            now: Timestamp(0),
            ended: Vec::new(),
            counters: FlowCounters::default(),
        }
    }

    /// Flows currently held.
    #[must_use]
    pub fn active(&self) -> usize {
        self.index.len()
    }

    /// The packet clock: the latest packet time seen.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Advances the packet clock and expires idle flows. Returns false if `ts` went backwards.
    pub fn advance(&mut self, ts: Timestamp) -> bool {
        if ts < self.now {
            return false;
        }
        self.now = ts;
        if ts < self.next_sweep {
            return true;
        }
        self.next_sweep = Timestamp(ts.0.saturating_add(SWEEP_INTERVAL));
        for class in [Class::Tcp, Class::Udp, Class::Other, Class::Closed] {
            let timeout = self.timeout(class);
            while let Some(slot) = self.settled_front(class) {
                if self.slots[slot as usize].last.0.saturating_add(timeout) >= ts.0 {
                    break;
                }
                self.queues[class as usize].pop_front();
                let reason = self.closed_reason(slot).unwrap_or(EndReason::Idle);
                self.end(slot, reason);
                self.counters.expired += 1;
            }
        }
        while let Some(&(key, born)) = self.frag_order.front() {
            if born.0.saturating_add(FRAGMENT_TTL) >= ts.0 {
                break;
            }
            self.frag_order.pop_front();
            if self.frags.get(&key).is_some_and(|e| e.born == born) {
                self.frags.remove(&key);
            }
        }
        true
    }

    /// Drops stale entries and requeues touched flows until the queue's front is a live flow
    /// of this class whose queued time is its last-seen time: the class's longest-idle flow.
    fn settled_front(&mut self, class: Class) -> Option<u32> {
        let q = &mut self.queues[class as usize];
        while let Some(&e) = q.front() {
            let s = &self.slots[e.slot as usize];
            if !s.live || s.generation != e.generation || s.class != class {
                q.pop_front();
            } else if s.last > e.last {
                q.pop_front();
                q.push_back(Queued { last: s.last, ..e });
            } else {
                return Some(e.slot);
            }
        }
        None
    }

    fn timeout(&self, class: Class) -> u64 {
        match class {
            Class::Tcp => self.cfg.tcp_timeout,
            Class::Udp => self.cfg.udp_timeout,
            Class::Other => self.cfg.other_timeout,
            Class::Closed => CLOSED_LINGER.min(self.cfg.tcp_timeout),
        }
    }

    fn is_expired(&self, slot: u32, ts: Timestamp) -> bool {
        let s = &self.slots[slot as usize];
        s.last.0.saturating_add(self.timeout(s.class)) < ts.0
    }

    fn closed_reason(&self, slot: u32) -> Option<EndReason> {
        let st = self.slots[slot as usize].rec.state;
        if st & ST_RST != 0 {
            Some(EndReason::Rst)
        } else if st & ST_FIN_TO_SERVER != 0 && st & ST_FIN_TO_CLIENT != 0 {
            Some(EndReason::Fin)
        } else {
            None
        }
    }

    /// Counts one packet. Call [`advance`](Self::advance) first. A flow this packet creates
    /// gets its tag from `tag_of` (the caller's counter row for the flow's verdict).
    pub fn observe(
        &mut self,
        pkt: &IpPacket,
        ts: Timestamp,
        wire_len: u32,
        tag_of: impl FnOnce(&Verdict, u8) -> u32,
    ) -> Seen {
        match pkt.fragment {
            Fragment::NonFirst { id, last } => return self.fragment(pkt, id, Some(last), wire_len),
            // A second offset-0 fragment of a datagram already seen (overlap, CATALOGUE.md
            // #63): it belongs to the first one's flow, never to a second service.
            Fragment::First { id } if self.is_fragment_overlap(pkt) => {
                self.counters.fragment_overlaps += 1;
                return self.fragment(pkt, id, None, wire_len);
            }
            _ => {}
        }
        let (key, src_lo) = FlowKey::of(pkt);
        let syn = pkt.proto == PROTO_TCP && pkt.tcp_flags.is_syn();
        let (slot, created) = match self.index.get(&key) {
            Some(&slot) if syn && self.slots[slot as usize].class == Class::Closed => {
                self.end(slot, EndReason::Reused);
                self.counters.reused += 1;
                (self.create(key, src_lo, pkt, ts, tag_of), true)
            }
            // Past its timeout but not yet swept: it ended before this packet.
            Some(&slot) if self.is_expired(slot, ts) => {
                let reason = self.closed_reason(slot).unwrap_or(EndReason::Idle);
                self.end(slot, reason);
                self.counters.expired += 1;
                (self.create(key, src_lo, pkt, ts, tag_of), true)
            }
            Some(&slot) => (slot, false),
            None => (self.create(key, src_lo, pkt, ts, tag_of), true),
        };
        let to_server = self.count(slot, src_lo, pkt.tcp_flags, ts, wire_len);
        let s = &self.slots[slot as usize];
        let generation = s.generation;
        let tag = s.rec.tag;
        if let Fragment::First { id } = pkt.fragment {
            let fk = FragKey { src: pkt.src, dst: pkt.dst, id, proto: pkt.proto, vlan: pkt.vlan };
            let entry = FragEntry { complete: false, slot, generation, to_server, tag, born: ts };
            self.remember_fragment(fk, entry);
        }
        Seen::Flow { slot, to_server, created, tag }
    }

    /// The verdict of a live flow.
    #[must_use]
    pub fn verdict(&self, slot: u32) -> Option<Verdict> {
        self.slots.get(slot as usize).filter(|s| s.live).map(|s| s.rec.verdict)
    }

    /// Records that ended since the last call.
    pub fn drain_ended(&mut self) -> std::vec::Drain<'_, FlowRecord> {
        self.ended.drain(..)
    }

    /// Gives back the buffer of a burst of ended flows (a busy link going quiet, or the clock
    /// moved on by the wall clock, can end most of the table at once) once it is drained; the
    /// usual handful keeps its buffer, so this costs nothing per packet.
    pub fn trim_ended(&mut self) {
        if self.ended.is_empty() && self.ended.capacity() > ENDED_KEEP {
            self.ended.shrink_to(ENDED_KEEP);
        }
    }

    /// Whether ended records are waiting.
    #[must_use]
    pub fn has_ended(&self) -> bool {
        !self.ended.is_empty()
    }

    /// Ends every flow (end of input), oldest first by start time for a stable order.
    pub fn finish(&mut self) {
        let mut live: Vec<u32> = self.index.values().copied().collect();
        live.sort_by_key(|&i| {
            let s = &self.slots[i as usize];
            (s.rec.start, s.key)
        });
        for i in live {
            let reason = self.closed_reason(i).unwrap_or(EndReason::EndOfInput);
            self.end(i, reason);
            self.counters.at_end += 1;
        }
        self.frags.clear();
        self.frag_order.clear();
    }

    /// Attributes a fragment to its datagram's flow: a non-first one (`nonfirst` = whether it
    /// is the last), or an overlapping offset-0 one (`None`).
    fn fragment(&mut self, pkt: &IpPacket, id: u32, nonfirst: Option<bool>, wire_len: u32) -> Seen {
        let fk = FragKey { src: pkt.src, dst: pkt.dst, id, proto: pkt.proto, vlan: pkt.vlan };
        let Some(e) = self.frags.get_mut(&fk) else {
            self.counters.fragment_orphans += 1;
            return Seen::Orphan;
        };
        // The last fragment completes the datagram: a later offset-0 fragment with the same
        // id is a new datagram (IP ids wrap and are reused), not an overlap.
        e.complete |= nonfirst == Some(true);
        let e = *e;
        self.counters.fragments_attributed += 1;
        let live = self.slots.get(e.slot as usize).is_some_and(|s| s.live && s.generation == e.generation);
        if !live {
            return Seen::Tag { tag: e.tag, to_server: e.to_server };
        }
        let dir = if e.to_server { TO_SERVER } else { TO_CLIENT };
        let s = &mut self.slots[e.slot as usize];
        s.rec.packets[dir] += 1;
        s.rec.bytes[dir] += u64::from(wire_len);
        s.rec.fragments += u64::from(nonfirst.is_some());
        Seen::Flow { slot: e.slot, to_server: e.to_server, created: false, tag: e.tag }
    }

    fn remember_fragment(&mut self, fk: FragKey, entry: FragEntry) {
        if self.frags.len() >= MAX_FRAGMENT_ENTRIES {
            while let Some((old, born)) = self.frag_order.pop_front() {
                if self.frags.get(&old).is_some_and(|e| e.born == born) {
                    self.frags.remove(&old);
                    self.counters.fragment_entries_dropped += 1;
                    break;
                }
            }
        }
        self.frags.insert(fk, entry);
        self.frag_order.push_back((fk, entry.born));
    }

    /// Whether a first fragment repeats one of a datagram still incomplete (an overlap: not
    /// a second service hit).
    #[must_use]
    pub fn is_fragment_overlap(&self, pkt: &IpPacket) -> bool {
        match pkt.fragment {
            Fragment::First { id } => self
                .frags
                .get(&FragKey { src: pkt.src, dst: pkt.dst, id, proto: pkt.proto, vlan: pkt.vlan })
                .is_some_and(|e| !e.complete),
            _ => false,
        }
    }

    fn create(
        &mut self,
        key: FlowKey,
        src_lo: bool,
        pkt: &IpPacket,
        ts: Timestamp,
        tag_of: impl FnOnce(&Verdict, u8) -> u32,
    ) -> u32 {
        if self.index.len() >= self.cfg.max_flows {
            self.evict_one();
        }
        let verdict = match pkt.ports {
            Some(p) if pkt.proto == PROTO_TCP || pkt.proto == PROTO_UDP => {
                let opening = if pkt.proto != PROTO_TCP {
                    Opening::Other
                } else if pkt.tcp_flags.is_syn() {
                    Opening::Syn
                } else if pkt.tcp_flags.is_syn_ack() {
                    Opening::SynAck
                } else {
                    Opening::Other
                };
                services::decide(self.table, transport_of(pkt.proto), p.src, p.dst, opening)
            }
            _ => services::decide_ip(self.table, pkt.proto),
        };
        // The server is the packet's destination or source; map that onto the key's ends.
        let server_is_lo = verdict.server_is_dst != src_lo;
        let (client, client_port, server, server_port) = if server_is_lo {
            (key.hi, key.hi_port, key.lo, key.lo_port)
        } else {
            (key.lo, key.lo_port, key.hi, key.hi_port)
        };
        let class = match pkt.proto {
            PROTO_TCP => Class::Tcp,
            PROTO_UDP => Class::Udp,
            _ => Class::Other,
        };
        let rec = FlowRecord {
            start: ts,
            end: ts,
            proto: pkt.proto,
            client,
            client_port,
            server,
            server_port,
            vlan: key.vlan,
            verdict,
            packets: [0; 2],
            bytes: [0; 2],
            fragments: 0,
            state: 0,
            handshake_rtt: None,
            end_reason: EndReason::EndOfInput,
            tag: tag_of(&verdict, pkt.proto),
        };
        let slot = Slot { key, rec, server_is_lo, syn_ts: None, last: ts, class, generation: 0, live: true };
        let idx = if let Some(i) = self.free.pop() {
            let generation = self.slots[i as usize].generation;
            self.slots[i as usize] = Slot { generation, ..slot };
            i
        } else {
            let i = u32::try_from(self.slots.len()).unwrap_or(NIL - 1);
            self.slots.push(slot);
            i
        };
        let generation = self.slots[idx as usize].generation;
        self.queues[class as usize].push_back(Queued { slot: idx, generation, last: ts });
        self.index.insert(key, idx);
        self.counters.created += 1;
        idx
    }

    fn evict_one(&mut self) {
        let mut best: Option<(Timestamp, Class, u32)> = None;
        for class in [Class::Tcp, Class::Udp, Class::Other, Class::Closed] {
            if let Some(slot) = self.settled_front(class) {
                let last = self.slots[slot as usize].last;
                if best.is_none_or(|(b, _, _)| last < b) {
                    best = Some((last, class, slot));
                }
            }
        }
        if let Some((_, class, slot)) = best {
            self.queues[class as usize].pop_front();
            self.end(slot, EndReason::Evicted);
            self.counters.evicted += 1;
        }
    }

    /// Counts a packet in a flow; returns whether it went to the server.
    fn count(&mut self, slot: u32, src_lo: bool, flags: TcpFlags, ts: Timestamp, wire_len: u32) -> bool {
        let s = &mut self.slots[slot as usize];
        let to_server = src_lo != s.server_is_lo;
        let dir = if to_server { TO_SERVER } else { TO_CLIENT };
        s.rec.packets[dir] += 1;
        s.rec.bytes[dir] += u64::from(wire_len);
        s.rec.start = s.rec.start.min(ts);
        s.rec.end = s.rec.end.max(ts);
        s.last = s.last.max(ts);
        let mut new_class = s.class;
        if s.rec.proto == PROTO_TCP {
            if flags.is_syn() {
                s.rec.state |= ST_SYN;
                if s.syn_ts.is_none() {
                    s.syn_ts = Some(ts);
                }
            } else if flags.is_syn_ack() {
                s.rec.state |= ST_SYNACK;
                // The RTT as seen at the capture point: first SYN to first SYN/ACK.
                if let (Some(syn), None, false) = (s.syn_ts, s.rec.handshake_rtt, to_server) {
                    s.rec.handshake_rtt = Some(ts.0.saturating_sub(syn.0));
                }
            }
            if flags.has(TcpFlags::FIN) {
                s.rec.state |= if to_server { ST_FIN_TO_SERVER } else { ST_FIN_TO_CLIENT };
            }
            if flags.has(TcpFlags::RST) {
                s.rec.state |= ST_RST;
            }
            let st = s.rec.state;
            if st & ST_RST != 0 || (st & ST_FIN_TO_SERVER != 0 && st & ST_FIN_TO_CLIENT != 0) {
                new_class = Class::Closed;
            }
        }
        if new_class != s.class {
            // Its entry in the old class's queue goes stale; the new queue gets one.
            s.class = new_class;
            let e = Queued { slot, generation: s.generation, last: s.last };
            self.queues[new_class as usize].push_back(e);
        }
        to_server
    }

    fn end(&mut self, slot: u32, reason: EndReason) {
        let s = &mut self.slots[slot as usize];
        s.live = false;
        s.generation = s.generation.wrapping_add(1);
        let mut rec = s.rec;
        rec.end_reason = reason;
        let key = s.key;
        self.index.remove(&key);
        self.free.push(slot);
        self.ended.push(rec);
    }

    /// Whether the flow in `slot` decided its server by this rule (for tests).
    #[must_use]
    pub fn decided_by(&self, slot: u32) -> Option<DecidedBy> {
        self.verdict(slot).map(|v| v.decided_by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Addr, Fragment, IpPacket, Ports, TcpFlags};

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn pkt(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, proto: u8, flags: u8) -> IpPacket {
        IpPacket {
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            proto,
            ports: Some(Ports { src: sp, dst: dp }),
            tcp_flags: TcpFlags(flags),
            vlan: 0,
            fragment: Fragment::Whole,
        }
    }

    fn feed(t: &mut FlowTable<'_>, p: &IpPacket, secs: f64) -> Seen {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "test times")]
        let ts = Timestamp((secs * 1e9) as u64);
        t.advance(ts);
        t.observe(p, ts, 100, |_, _| 0)
    }

    fn table() -> FlowTable<'static> {
        FlowTable::new(ServiceTable::embedded(), FlowConfig::default())
    }

    #[test]
    fn tcp_lifecycle_and_reuse() {
        let mut t = table();
        let (c, s) = ((A, 3000), (B, 445));
        let to_s = |f| pkt(c.0, c.1, s.0, s.1, PROTO_TCP, f);
        let to_c = |f| pkt(s.0, s.1, c.0, c.1, PROTO_TCP, f);
        assert!(matches!(
            feed(&mut t, &to_s(TcpFlags::SYN), 1.0),
            Seen::Flow { created: true, to_server: true, .. }
        ));
        feed(&mut t, &to_c(TcpFlags::SYN | TcpFlags::ACK), 1.0005);
        feed(&mut t, &to_s(TcpFlags::ACK), 1.001);
        feed(&mut t, &to_s(TcpFlags::FIN | TcpFlags::ACK), 2.0);
        feed(&mut t, &to_c(TcpFlags::FIN | TcpFlags::ACK), 2.1);
        // The last ACK after both FINs still belongs to the closed flow.
        assert!(matches!(feed(&mut t, &to_s(TcpFlags::ACK), 2.2), Seen::Flow { created: false, .. }));
        assert_eq!(t.active(), 1);
        // A new SYN on the same 5-tuple starts a new flow and ends the old one.
        assert!(matches!(feed(&mut t, &to_s(TcpFlags::SYN), 3.0), Seen::Flow { created: true, .. }));
        let ended: Vec<FlowRecord> = t.drain_ended().collect();
        assert_eq!(ended.len(), 1);
        let r = &ended[0];
        assert_eq!(r.end_reason, EndReason::Reused);
        assert_eq!(r.packets, [4, 2]);
        assert_eq!(r.server_port, 445);
        assert_eq!(r.client_port, 3000);
        assert_eq!(r.verdict.decided_by, DecidedBy::Handshake);
        assert_eq!(r.tcp_state(), Some("closed"));
        assert_eq!(r.handshake_rtt, Some(500_000));
        assert_eq!(t.counters.created, 2);
    }

    #[test]
    fn a_burst_of_ended_flows_gives_its_buffer_back() {
        let mut t = table();
        for port in 0..20_000u16 {
            feed(&mut t, &pkt(A, 10_000 + port, B, 53, PROTO_UDP, 0), 1.0);
        }
        // The clock moves past every timeout at once, as the live backstop can make it.
        t.advance(Timestamp(1_000 * Timestamp::NANOS_PER_SEC));
        assert_eq!(t.drain_ended().count(), 20_000);
        assert!(t.ended.capacity() >= 20_000);
        t.trim_ended();
        assert!(t.ended.capacity() <= ENDED_KEEP);
    }

    #[test]
    fn closed_flows_linger_then_end_with_their_reason() {
        let mut t = table();
        feed(&mut t, &pkt(A, 3000, B, 445, PROTO_TCP, TcpFlags::RST), 1.0);
        feed(&mut t, &pkt(A, 53000, B, 53, PROTO_UDP, 0), 1.0);
        feed(&mut t, &pkt(A, 53000, B, 53, PROTO_UDP, 0), 1.0 + 12.0);
        let ended: Vec<FlowRecord> = t.drain_ended().collect();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].end_reason, EndReason::Rst);
        assert_eq!(ended[0].tcp_state(), Some("reset"));
    }

    #[test]
    fn udp_idle_timeout_on_packet_time() {
        let mut t = table();
        let q = pkt(A, 1028, B, 53, PROTO_UDP, 0);
        feed(&mut t, &q, 0.0);
        feed(&mut t, &q, 59.0);
        assert_eq!(t.counters.created, 1);
        // 61 s after the last packet: the old flow expired, this one is new.
        feed(&mut t, &q, 120.5);
        assert_eq!(t.counters.created, 2);
        assert_eq!(t.counters.expired, 1);
        let ended: Vec<FlowRecord> = t.drain_ended().collect();
        assert_eq!(ended[0].end_reason, EndReason::Idle);
        assert_eq!(ended[0].packets, [2, 0]);
    }

    #[test]
    fn cap_evicts_the_longest_idle_flow() {
        let mut t =
            FlowTable::new(ServiceTable::embedded(), FlowConfig { max_flows: 3, ..FlowConfig::default() });
        for i in 0..3u16 {
            feed(&mut t, &pkt(A, 2000 + i, B, 445, PROTO_TCP, TcpFlags::ACK), f64::from(i));
        }
        // Touch the oldest so the second becomes the longest idle.
        feed(&mut t, &pkt(A, 2000, B, 445, PROTO_TCP, TcpFlags::ACK), 3.0);
        feed(&mut t, &pkt(A, 2003, B, 445, PROTO_TCP, TcpFlags::ACK), 4.0);
        assert_eq!(t.active(), 3);
        assert_eq!(t.counters.evicted, 1);
        let ended: Vec<FlowRecord> = t.drain_ended().collect();
        assert_eq!(ended[0].client_port, 2001);
        assert_eq!(ended[0].end_reason, EndReason::Evicted);
        t.finish();
        let c = t.counters;
        assert_eq!(c.at_end, 3);
        assert_eq!(c.created, c.expired + c.evicted + c.reused + c.at_end);
    }

    #[test]
    fn fragments_follow_their_first_fragment() {
        let mut t = table();
        let mut first = pkt(B, 88, A, 49160, PROTO_UDP, 0);
        first.fragment = Fragment::First { id: 7 };
        let mut rest = first;
        rest.ports = None;
        rest.fragment = Fragment::NonFirst { id: 7, last: false };
        let mut orphan = rest;
        orphan.fragment = Fragment::NonFirst { id: 8, last: true };
        let Seen::Flow { slot, .. } = feed(&mut t, &first, 1.0) else { panic!("first fragment is a flow") };
        assert!(matches!(feed(&mut t, &rest, 1.0), Seen::Flow { slot: s, created: false, .. } if s == slot));
        assert_eq!(feed(&mut t, &orphan, 1.0), Seen::Orphan);
        // A second offset-0 fragment with other ports is an overlap: same flow, not a new one.
        let mut overlap = first;
        overlap.ports = Some(Ports { src: 3389, dst: 49160 });
        assert!(t.is_fragment_overlap(&overlap));
        assert!(
            matches!(feed(&mut t, &overlap, 1.0), Seen::Flow { slot: s, created: false, .. } if s == slot)
        );
        assert_eq!(t.counters.created, 1);
        t.finish();
        let r: Vec<FlowRecord> = t.drain_ended().collect();
        assert_eq!(
            (r[0].fragments, r[0].packets[TO_SERVER] + r[0].packets[TO_CLIENT]),
            (1, 3),
            "one non-first fragment; the overlap counts as a packet"
        );
    }
}
