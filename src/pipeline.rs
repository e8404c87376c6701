//! Pipeline: one frame through decode, flow and stats. The per-packet path.
//!
//! What I own: the order of the steps and the bookkeeping that makes every frame counted
//! exactly once (a service or unknown row, other IP, non-IP, or a named skip reason), plus
//! the anomaly tags and the packet clock's backwards steps.
//!
//! What I must not do: read files, print, or allocate per packet.

use crate::capture::{Frame, Timestamp};
use crate::classify::evidence::LOOK;
use crate::decode::{self, Anomalies, Decoded, Fragment, IpPacket, Skip, Tunnels};
use crate::flow::{Carried, FlowConfig, FlowRecord, FlowTable, Lookup, Seen, WARM, transport_of};
use crate::learn::expect::{Learned, Learner};
use crate::services::ServiceTable;
use crate::stats::{Stats, Tag};
use crate::tunnel::Chain;

/// A decoded frame: everything the rest of the pipeline needs, owned and `Copy`, so it can
/// be handed to another thread after the reader's buffer has moved on.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    /// The record's own time (first and last times of the input are taken from it).
    pub ts: Timestamp,
    /// The time the packet counts at in its flow: its own, or the input's clock when the
    /// reader flagged its timestamp as out of range (see [`Clock::tag`]).
    pub at: Timestamp,
    /// The input's clock when this packet was read (the latest time so far, this packet's
    /// included): flows age on it, so a packet with an earlier time than the clock cannot
    /// revive a flow that already timed out.
    pub clock: Timestamp,
    /// The first fragments (offset 0) the input has read, this packet included: the fragment
    /// table's bound counts them (see [`MAX_FRAGMENT_ENTRIES`](crate::flow::MAX_FRAGMENT_ENTRIES)).
    pub firsts: u64,
    pub wire_len: u32,
    pub anomalies: Anomalies,
    /// Where the first bytes of its transport payload are kept in its batch ([`Packets`]).
    pub head: Head,
    /// The label a control channel's announcement gives the flow this packet starts, if any
    /// (set on the reading thread by a [`Learner`], which sees every packet).
    pub learned: Option<Learned>,
    /// Its tunnels (0: none): the place after its [`Chain`] in its batch ([`Packets::chain`]),
    /// or, from [`Reader::decode`], 1 for the reader's [`Reader::chain`].
    pub tunnel: u32,
    pub decoded: Decoded,
}

impl Packet {
    /// A packet with its record's figures, not decoded yet.
    #[inline]
    fn of_record(frame: &Frame<'_>) -> Self {
        Self {
            ts: frame.ts,
            at: frame.ts,
            clock: frame.ts,
            firsts: 0,
            wire_len: frame.wire_len,
            anomalies: Anomalies::from_record(frame.flags),
            head: Head::NONE,
            learned: None,
            tunnel: 0,
            decoded: Decoded::NonIp,
        }
    }
}

/// How a batch keeps the first bytes of a packet's payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Keep {
    /// Copied into the batch: the frame's bytes are gone once the next one is read.
    Copy,
    /// Left in the frame, which stays where it is until the batch is counted (a reader's
    /// pinned frames, see [`CaptureReader::pin`](crate::capture::CaptureReader::pin)):
    /// its place in the frame now, then its place in those bytes ([`Packets::place_last`]).
    /// Most payloads are never looked at (their flow is past its opening window): a copy of
    /// each one cost a twentieth of the time on one thread.
    InFrame,
}

/// Where a packet's first payload bytes are kept in its batch, and how many (at most
/// [`LOOK`]); none for a packet without payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Head {
    at: u32,
    len: u8,
}

impl Head {
    pub const NONE: Self = Self { at: 0, len: 0 };

    /// The bytes of `bytes` it covers (none when they are not there).
    #[must_use]
    #[inline]
    pub fn of(self, bytes: &[u8]) -> &[u8] {
        let at = self.at as usize;
        bytes.get(at..at + usize::from(self.len)).unwrap_or_default()
    }
}

const _: () = assert!(LOOK <= u8::MAX as usize);

/// Decoded packets on their way to be counted, with the first [`LOOK`] bytes of each one's
/// transport payload: the payload checks of `classify` run on the counting side, where a
/// flow's state says whether it is still in its opening window, after the reader's buffer has
/// moved on. The bytes are kept one after another in one buffer that has room for the batch
/// from the start: a copy of at most [`LOOK`] bytes a packet with payload, no allocation, and
/// only the bytes there are touched (a fixed [`LOOK`] a packet made a full batch of the
/// sharded reader twice the memory).
#[derive(Clone, Debug, Default)]
pub struct Packets {
    pub list: Vec<Packet>,
    heads: Vec<u8>,
    /// The tunnels of the packets that came through some (few), by [`Packet::tunnel`].
    chains: Vec<Chain>,
}

impl Packets {
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self { list: Vec::with_capacity(n), heads: Vec::with_capacity(n * LOOK), chains: Vec::new() }
    }

    /// The tunnels packet `p` of this batch came through, if any.
    #[must_use]
    #[inline]
    pub fn chain(&self, p: &Packet) -> Option<&Chain> {
        if p.tunnel == 0 { None } else { self.chain_at(p.tunnel) }
    }

    /// The chain a packet's [`Packet::tunnel`] names: out of line, so that the test above is a
    /// branch the common case skips (computed at once, it was 9 instructions a packet).
    #[cold]
    #[inline(never)]
    fn chain_at(&self, tunnel: u32) -> Option<&Chain> {
        self.chains.get(tunnel as usize - 1)
    }

    /// Keeps the last packet's tunnels.
    #[cold]
    fn keep_chain(&mut self, chain: &Chain) {
        self.chains.push(*chain);
        let n = u32::try_from(self.chains.len()).unwrap_or(0);
        if let Some(p) = self.list.last_mut() {
            p.tunnel = n;
        }
    }

    /// Decodes a frame into the batch, its clock tags set on `clock`, and keeps the first
    /// bytes of its payload, or with [`Keep::InFrame`] their place in the frame: [`Reader::decode`]
    /// and [`push`](Self::push) without moving the decoded packet (a hundred bytes) twice.
    /// Returns its anomaly tags.
    #[inline]
    pub fn push_frame(&mut self, frame: &Frame<'_>, reader: &mut Reader<'_>, keep: Keep) -> Anomalies {
        self.list.push(Packet::of_record(frame));
        let i = self.list.len() - 1;
        let Some(p) = self.list.get_mut(i) else { return Anomalies::default() };
        let payload = reader.decode_in_place(p, frame);
        reader.clock.tag(p);
        let anomalies = p.anomalies;
        p.learned = reader.learn(p, payload);
        let tunnelled = p.tunnel != 0;
        if !payload.is_empty() {
            match keep {
                Keep::Copy => self.keep(i, payload),
                Keep::InFrame => {
                    // The payload is a slice of the frame's bytes: its place is the distance
                    // between their starts.
                    let at = payload.as_ptr().addr().wrapping_sub(frame.data.as_ptr().addr());
                    let len = payload.len().min(LOOK);
                    if let (Ok(at), Ok(len)) = (u32::try_from(at), u8::try_from(len)) {
                        p.head = Head { at, len };
                    }
                }
            }
        }
        if tunnelled {
            self.keep_chain(&reader.chain);
        }
        anomalies
    }

    /// Moves the last packet's payload place by `by`: from its frame's start (see
    /// [`Keep::InFrame`]) to the start of the bytes the batch will be counted against (where
    /// its frame starts in them). `None`: they do not hold it; its payload is not looked at.
    #[inline]
    pub fn place_last(&mut self, by: Option<usize>) {
        if let Some(p) = self.list.last_mut().filter(|p| p.head.len > 0) {
            match by.and_then(|by| u32::try_from(by).ok()).and_then(|by| p.head.at.checked_add(by)) {
                Some(at) => p.head.at = at,
                None => p.head = Head::NONE,
            }
        }
    }

    /// Keeps the first bytes of the `i`th packet's payload.
    #[inline]
    fn keep(&mut self, i: usize, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let Ok(at) = u32::try_from(self.heads.len()) else { return };
        if let Some(p) = self.list.get_mut(i) {
            // Within the capacity made for the batch (a `Default` batch grows).
            let head = payload.get(..LOOK).unwrap_or(payload);
            self.heads.extend_from_slice(head);
            #[allow(clippy::cast_possible_truncation)] // at most LOOK, asserted to fit
            let len = head.len() as u8;
            p.head = Head { at, len };
        }
    }

    /// Queues a packet and keeps the first bytes of its `payload`, and its tunnels: `chain`
    /// (read only for a packet in some, see [`Packet::tunnel`]).
    #[inline]
    pub fn push(&mut self, packet: Packet, payload: &[u8], chain: &Chain) {
        self.list.push(Packet { head: Head::NONE, tunnel: 0, ..packet });
        self.keep(self.list.len() - 1, payload);
        if packet.tunnel != 0 {
            self.keep_chain(chain);
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    #[must_use]
    pub fn capacity(&self) -> usize {
        self.list.capacity()
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.heads.clear();
        self.chains.clear();
    }
}

/// The reading side of one input stream: what is done to each packet, in reading order, before
/// it goes to be counted (on this thread or a worker): its clock tags ([`Clock`]), and the
/// endpoints control channels announce, learned and matched ([`Learner`]). One per input
/// stream, whoever counts the packets: so what a packet brings is the same on any `--threads`.
#[derive(Debug)]
pub struct Reader<'t> {
    table: &'t ServiceTable,
    pub clock: Clock,
    pub learner: Learner,
    /// How far decoding looks (`--tunnels`).
    pub tunnels: Tunnels,
    /// The tunnels of the packet decoded last, when its [`Packet::tunnel`] is not 0.
    pub chain: Chain,
    /// Where decoding writes a packet's tunnels: empty but for a moment (see
    /// [`tunnelled`](Self::tunnelled)), so that a packet in none costs one test.
    scratch: Chain,
    /// Turns a packet's tunnels into the number its flow key holds ([`IpPacket::tunnel`]).
    contexts: foldhash::fast::RandomState,
}

impl<'t> Reader<'t> {
    #[must_use]
    pub fn new(table: &'t ServiceTable, tunnels: Tunnels) -> Self {
        Self {
            table,
            clock: Clock::default(),
            learner: Learner::new(table),
            tunnels,
            chain: Chain::NONE,
            scratch: Chain::NONE,
            contexts: foldhash::fast::RandomState::default(),
        }
    }

    /// Decodes a frame, with its clock tags and what it learns and brings; also returns the
    /// transport payload's bytes as captured (empty for none, and for a later fragment, whose
    /// bytes are the middle of a datagram). Its tunnels, if any, are in [`chain`](Self::chain).
    #[inline]
    pub fn decode<'f>(&mut self, frame: &Frame<'f>) -> (Packet, &'f [u8]) {
        let mut packet = Packet::of_record(frame);
        // Written in place: a decoded packet returned by value and read back at once stalled
        // on store forwarding (a fifth of the reading thread's time with --threads 2).
        let payload = self.decode_in_place(&mut packet, frame);
        self.clock.tag(&mut packet);
        packet.learned = self.learn(&packet, payload);
        (packet, payload)
    }

    /// Decodes `frame` into `packet`; returns its transport payload (see [`decode`](Self::decode)).
    #[expect(
        clippy::inline_always,
        reason = "left to the compiler, it stayed out of line with decoding's common case inlined in \
                  it: 14M more instructions on mix-1M (callgrind)"
    )]
    #[inline(always)]
    fn decode_in_place<'f>(&mut self, packet: &mut Packet, frame: &Frame<'f>) -> &'f [u8] {
        let (anomalies, decoded) = (&mut packet.anomalies, &mut packet.decoded);
        let chain = (self.tunnels == Tunnels::Open).then_some(&mut self.scratch);
        let span = decode::decode_into(frame, anomalies, decoded, chain);
        if !self.scratch.is_empty() {
            self.tunnelled(packet);
        }
        span.of(frame.data)
    }

    /// Marks a packet that came through tunnels (see [`Packet::tunnel`]), and gives its key
    /// their number: a keyed hash of each tunnel as both directions see it
    /// ([`Level::canonical`](crate::tunnel::Level::canonical)), seeded per run so that nobody
    /// can aim two tunnels at one number (which would join their inner flows). Not 0.
    #[cold]
    fn tunnelled(&mut self, packet: &mut Packet) {
        self.chain = std::mem::replace(&mut self.scratch, Chain::NONE);
        packet.tunnel = 1;
        if let Decoded::Ip(ip) = &mut packet.decoded
            && self.chain.depth() > 0
        {
            use std::hash::{BuildHasher, Hash, Hasher};
            let mut h = self.contexts.build_hasher();
            for level in self.chain.levels() {
                level.canonical().hash(&mut h);
            }
            ip.tunnel = h.finish() | 1;
        }
    }

    /// The label an announcement gives the flow `packet` starts, if any; learns what its
    /// `payload` announces.
    #[inline]
    pub fn learn(&mut self, packet: &Packet, payload: &[u8]) -> Option<Learned> {
        match &packet.decoded {
            Decoded::Ip(ip) if ip.ports.is_some() => {
                self.learner.observe(self.table, ip, payload, packet.clock)
            }
            _ => None,
        }
    }
}

/// The input's clock: the latest packet time read, in reading order. Packets earlier than it
/// are tagged `ts_backwards`. One clock per input stream, whoever counts the packets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    pub latest: Option<Timestamp>,
    /// First fragments read (see [`Packet::firsts`]).
    pub firsts: u64,
}

impl Clock {
    /// Sets the packet's `at`, `clock` and `firsts`, tags `ts_backwards`, and advances the
    /// clock.
    ///
    /// A timestamp the reader flagged as out of range (ts_sec 0xFFFFFFFF, a fraction past one
    /// second) is garbage: it must not move the clock, or one such record would end every open
    /// flow at once and leave the clock in the year 2106, so that every later packet looks
    /// backwards and nothing idles out again. Such a packet counts in its flow at the clock's
    /// time (at its own time only before any good one, without starting the clock).
    pub fn tag(&mut self, packet: &mut Packet) {
        let bad = packet.anomalies.contains(Anomalies::BAD_TIMESTAMP);
        match self.latest {
            Some(t) if bad => packet.at = t,
            None if bad => {}
            Some(t) if packet.ts < t => packet.anomalies.insert(Anomalies::TS_BACKWARDS),
            _ => self.latest = Some(packet.ts),
        }
        packet.clock = self.latest.unwrap_or_default();
        if let Decoded::Ip(IpPacket { fragment: Fragment::First { .. }, .. }) = packet.decoded {
            self.firsts += 1;
        }
        packet.firsts = self.firsts;
    }
}

/// The classifier state of one run.
pub struct Pipeline<'t> {
    pub flows: FlowTable<'t>,
    pub stats: Stats,
    /// First and last packet time seen (by value, not by order).
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// The reading side, for the frames this pipeline decodes itself.
    pub reader: Reader<'t>,
}

impl<'t> Pipeline<'t> {
    #[must_use]
    pub fn new(table: &'t ServiceTable, cfg: FlowConfig) -> Self {
        Self {
            flows: FlowTable::new(table, cfg),
            stats: Stats::new(),
            first_ts: None,
            last_ts: None,
            reader: Reader::new(table, cfg.tunnels),
        }
    }

    /// Counts one frame that passed the filter; flows that ended meanwhile go to `on_end`.
    /// Returns the frame's anomaly tags (already counted), for callers that warn about some.
    pub fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) -> Anomalies {
        let (packet, payload) = self.decode(frame);
        self.push_decoded(&packet, payload, on_end);
        packet.anomalies
    }

    /// Decodes a frame into `batch` with its clock tags set on this pipeline's input clock,
    /// for [`push_batch`](Self::push_batch) (see [`Packets::push_frame`]).
    #[inline]
    pub fn decode_into(&mut self, frame: &Frame<'_>, batch: &mut Packets, keep: Keep) -> Anomalies {
        batch.push_frame(frame, &mut self.reader, keep)
    }

    /// Decodes a frame and sets its clock tags on this pipeline's input clock, for
    /// [`push_batch`](Self::push_batch); also returns its transport payload (see
    /// [`Reader::decode`]).
    #[inline]
    pub fn decode<'f>(&mut self, frame: &Frame<'f>) -> (Packet, &'f [u8]) {
        self.reader.decode(frame)
    }

    /// Counts decoded packets in order, as [`push_decoded`](Self::push_decoded) does one by
    /// one, but loads the flow-table lines of [`WARM`] packets at a time first, so that
    /// their cache misses overlap instead of stalling one packet after another.
    pub fn push_batch(&mut self, batch: &Packets, on_end: &mut impl FnMut(&FlowRecord)) {
        self.push_batch_in(batch, &batch.heads, on_end);
    }

    /// [`push_batch`](Self::push_batch) for a batch whose payload places are in `bytes`
    /// (see [`Keep::InFrame`]).
    pub fn push_batch_in(&mut self, batch: &Packets, bytes: &[u8], on_end: &mut impl FnMut(&FlowRecord)) {
        for chunk in batch.list.chunks(WARM) {
            let mut lookups = [None; WARM];
            // The chunk's first and last times, once for the chunk (in `count` they were 6
            // instructions a packet).
            let (mut first, mut last) = (Timestamp(u64::MAX), Timestamp(0));
            for (p, l) in chunk.iter().zip(&mut lookups) {
                (first, last) = (first.min(p.ts), last.max(p.ts));
                if let Decoded::Ip(pkt) = &p.decoded {
                    *l = Some(self.flows.lookup(pkt));
                }
            }
            if !chunk.is_empty() {
                self.saw(first, last);
            }
            self.flows.warm(lookups.iter().flatten());
            for (p, l) in chunk.iter().zip(&lookups) {
                self.count(p, p.head.of(bytes), l.as_ref(), batch.chain(p), on_end);
            }
        }
    }

    /// Counts one decoded packet (its clock tags already set, see [`Clock`]) with its
    /// transport payload's first bytes.
    /// Its tunnels, if any ([`Packet::tunnel`]), are in this pipeline's [`Reader::chain`]
    /// (where [`decode`](Self::decode) put them).
    pub fn push_decoded(&mut self, packet: &Packet, payload: &[u8], on_end: &mut impl FnMut(&FlowRecord)) {
        let chain = (packet.tunnel != 0).then_some(self.reader.chain);
        self.saw(packet.ts, packet.ts);
        self.count(packet, payload.get(..LOOK).unwrap_or(payload), None, chain.as_ref(), on_end);
    }

    /// Widens the times seen to `first` and `last`.
    #[inline]
    fn saw(&mut self, first: Timestamp, last: Timestamp) {
        self.first_ts = Some(self.first_ts.map_or(first, |t| t.min(first)));
        self.last_ts = Some(self.last_ts.map_or(last, |t| t.max(last)));
    }

    /// Counts one decoded packet, with its flow lookup if it was made already (its time is
    /// in `first_ts` and `last_ts` already).
    #[inline]
    fn count(
        &mut self,
        packet: &Packet,
        payload: &[u8],
        lookup: Option<&Lookup>,
        chain: Option<&Chain>,
        on_end: &mut impl FnMut(&FlowRecord),
    ) {
        // Fields by value, the decoded headers by reference (a copy of the whole packet was a
        // fiftieth of the counting side's instructions).
        let &Packet { at, clock, firsts, wire_len, mut anomalies, learned, .. } = packet;
        self.flows.advance(clock);
        match &packet.decoded {
            Decoded::Ip(pkt) => {
                if pkt.fragment != Fragment::Whole {
                    self.flows.first_fragments_read(firsts);
                    if self.flows.is_fragment_overlap(pkt) {
                        anomalies.insert(Anomalies::FRAG_OVERLAP_SUSPECT);
                    }
                }
                let Self { flows, stats, .. } = self;
                let lookup = lookup.copied().unwrap_or_else(|| flows.lookup(pkt));
                let carried = Carried { payload, learned, chain };
                // Set where a flow starts (read so, not from `Seen`, which the common path then
                // kept whole: 13 instructions a packet).
                let mut created = false;
                let seen = flows.observe_with(pkt, &lookup, at, wire_len, carried, |v, proto| {
                    created = true;
                    stats.flow_started(v.service, transport_of(proto), v.server_port).0
                });
                // Right after `observe_with`, whose branches it then joins (with the tunnels'
                // count in between, `Seen` was built and matched: 11 instructions a packet).
                match seen {
                    Seen::Flow { to_server, tag, .. } | Seen::Tag { tag, to_server } => {
                        self.stats.count_packet(Tag(tag), pkt.proto, to_server, wire_len);
                    }
                    Seen::Orphan => self.stats.count_skip(Skip::FragmentOrphan, wire_len),
                }
                if let Some(c) = chain {
                    self.stats.tunnels.count(c, wire_len, created);
                }
                if self.flows.has_due() {
                    self.settle();
                }
            }
            Decoded::NonIp => self.stats.count_non_ip(wire_len),
            &Decoded::Skip(reason) => self.stats.count_skip(reason, wire_len),
        }
        self.stats.count_anomalies(anomalies);
        if self.flows.has_ended() {
            self.drain(on_end);
        }
    }

    /// Settles what the flow table owes the counters after this packet: flows whose label
    /// changed (a range port's server answered the handshake, or the opening window's payload
    /// showed another service) move their counts so far to their new row, where every later
    /// packet counts.
    #[cold]
    fn settle(&mut self) {
        let Self { flows, stats, .. } = self;
        while let Some(r) = flows.take_due() {
            let tag = stats.move_flow(Tag(r.tag), &r);
            flows.relabel(r.slot, r.service, tag.0, r.confidence);
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

    /// Brings the fragment table's window to `firsts` first fragments read (see
    /// [`Clock::firsts`]): a shard learns of the input's first fragments only from its own
    /// packets, so it is told at the end of each batch and of the input.
    pub fn first_fragments_read(&mut self, firsts: u64) {
        self.flows.first_fragments_read(firsts);
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

    /// The input's clock: the latest packet time read (`None` before the first packet).
    #[must_use]
    pub fn clock(&self) -> Option<Timestamp> {
        self.reader.clock.latest
    }

    /// Starts a new timeline, for an input that begins long before the packets read so far
    /// (files given out of order): ends every flow as at the end of input (to `on_end`) and
    /// forgets the clock, so the new input's flows age on their own times. Without it, the
    /// clock stays ahead and every later packet finds its flow past its timeout.
    pub fn restart(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        self.finish(on_end);
        self.flows.restart_clock();
        self.reader.clock = Clock::default();
    }

    /// Ends every flow (end of input) and hands them to `on_end`.
    pub fn finish(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        // In batches, so that the records of a full table are never all held at once.
        while self.flows.finish_some(4096) {
            self.drain(on_end);
        }
        self.drain(on_end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Endian, Linktype, RecordFlags};
    use crate::decode::TcpFlags;

    /// A raw IPv4 TCP segment of 40 bytes.
    fn seg(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, flags: u8) -> Vec<u8> {
        let mut v = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0];
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&sp.to_be_bytes());
        v.extend_from_slice(&dp.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        v
    }

    fn push(p: &mut Pipeline<'_>, bytes: &[u8], secs: u64) {
        let frame = Frame {
            ts: Timestamp(secs * Timestamp::NANOS_PER_SEC),
            wire_len: 40,
            linktype: Linktype::RAW,
            data: bytes,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        };
        p.push(&frame, &mut |_| {});
    }

    #[test]
    fn a_range_port_is_labelled_only_once_its_server_answers() {
        let table = ServiceTable::embedded();
        let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let mut p = Pipeline::new(table, FlowConfig::default());
        // A SYN nobody answers (a scan): an unknown port, not "SQL session".
        push(&mut p, &seg(c, 40_000, s, 1026, TcpFlags::SYN), 1);
        push(&mut p, &seg(c, 40_000, s, 1026, TcpFlags::SYN), 2);
        assert!(p.stats.services.is_empty());
        assert_eq!((p.stats.unknown[0].port, p.stats.unknown[0].total.packets), (1026, 2));
        // Another client's handshake to 1027 is answered: the SYN moves with its flow.
        push(&mut p, &seg(c, 40_001, s, 1027, TcpFlags::SYN), 3);
        push(&mut p, &seg(s, 1027, c, 40_001, TcpFlags::SYN | TcpFlags::ACK), 3);
        push(&mut p, &seg(c, 40_001, s, 1027, TcpFlags::ACK), 3);
        p.finish(&mut |_| {});
        let rows = &p.stats.services;
        assert_eq!(rows.len(), 1);
        assert_eq!(table.name(rows[0].service), "SQL session");
        assert_eq!((rows[0].flows, rows[0].total.packets, rows[0].total.bytes), (1, 3, 120));
        assert_eq!((rows[0].dir[0].packets, rows[0].dir[1].packets), (2, 1));
        assert_eq!(rows[0].packet_size.quantiles().map(|q| (q.p50, q.max)), Some((40, 40)));
        let moved = p.stats.unknown.iter().find(|u| u.port == 1027).expect("the row it left");
        assert_eq!((moved.flows, moved.total.packets), (0, 0));
        // Every packet is counted once.
        let counted: u64 = rows.iter().map(|r| r.total.packets).sum::<u64>()
            + p.stats.unknown.iter().map(|u| u.total.packets).sum::<u64>();
        assert_eq!(counted, p.stats.total.packets);
    }
}
