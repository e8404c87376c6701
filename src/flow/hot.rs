//! A flow's line: all of a flow that counting a packet reads and writes, its IPv4 key and its
//! verdict included, in one 64-byte cache line.
//!
//! After the index entry, a packet touches this line only. What does not fit stays out of
//! line and is touched rarely: the key of an IPv6 flow (the line holds its index in the
//! table's wide keys), the handshake times (a TCP flow's first packets), and the high halves
//! of the counters (see [`Extra`]), which are u32 here and carry into `Extra` when they wrap.

use super::FlowKey;
use crate::capture::Timestamp;
use crate::classify::rules::Confidence;
use crate::decode::Addr;
use crate::services::{DecidedBy, ServiceId, Verdict};

/// The timeout class of a flow: which expiry queue it is in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Class {
    Tcp = 0,
    Udp = 1,
    Other = 2,
    Closed = 3,
}

impl Class {
    pub(super) const ALL: [Class; 4] = [Class::Tcp, Class::Udp, Class::Other, Class::Closed];
}

/// A key as the line holds it: two words compared at once. `ends` carries the ports, VLAN
/// and protocol, and [`WIDE`] for an IPv6 key, whose `addrs` is then its index among the wide
/// keys instead of the two IPv4 addresses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Packed {
    pub(super) addrs: u64,
    pub(super) ends: u64,
}

/// `ends` bit of a key whose addresses are held out of line.
const WIDE: u64 = 1 << 56;

impl Packed {
    /// The packed form of `k`; an IPv6 key's `addrs` is left 0 for the caller to fill in.
    pub(super) fn of(k: &FlowKey) -> Self {
        if let (Some(lo), Some(hi), 0) = (k.lo.ipv4(), k.hi.ipv4(), k.tunnel) {
            return Self::narrow(lo, hi, k.lo_port, k.hi_port, k.vlan, k.proto);
        }
        let ends = Self::narrow(0, 0, k.lo_port, k.hi_port, k.vlan, k.proto).ends;
        Self { addrs: 0, ends: ends | WIDE }
    }

    /// The packed key of two IPv4 ends, the lower first.
    #[inline]
    pub(super) fn narrow(lo: u32, hi: u32, lo_port: u16, hi_port: u16, vlan: u16, proto: u8) -> Self {
        let ends =
            u64::from(lo_port) | u64::from(hi_port) << 16 | u64::from(vlan) << 32 | u64::from(proto) << 48;
        Self { addrs: u64::from(lo) << 32 | u64::from(hi), ends }
    }

    pub(super) fn is_wide(self) -> bool {
        self.ends & WIDE != 0
    }

    /// The key back, given the wide keys for an IPv6 one.
    #[allow(clippy::cast_possible_truncation)] // fields packed by `of`
    pub(super) fn unpack(self, wide: &[FlowKey]) -> FlowKey {
        if self.is_wide() {
            return wide[self.addrs as usize];
        }
        let e = self.ends;
        FlowKey {
            lo: Addr::v4(((self.addrs >> 32) as u32).to_be_bytes()),
            hi: Addr::v4((self.addrs as u32).to_be_bytes()),
            lo_port: e as u16,
            hi_port: (e >> 16) as u16,
            vlan: (e >> 32) as u16,
            proto: (e >> 48) as u8,
            tunnel: 0,
        }
    }
}

/// The high halves of a flow's counters, and its fragment count: kept only for the flows that
/// need them (a direction past 2^32 bytes or packets, or fragments seen).
#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Extra {
    pub(super) packets_hi: [u32; 2],
    pub(super) bytes_hi: [u32; 2],
    /// Non-first fragments counted in this flow.
    pub(super) fragments: u64,
    /// The latest own packet time of a flow up to its latest packet behind the input's clock
    /// (time going back), whose line's `last` is then the clock's time, on which it ages: the
    /// time its record ends at unless a later packet (one of `touched` counted) came since.
    pub(super) own_last: Option<Timestamp>,
    /// Packets counted in the flow (low halves) when `own_last` was set.
    pub(super) touched: u32,
}

impl Extra {
    /// A flow's packets and bytes by direction: `h`'s low halves joined to these high ones.
    pub(super) fn totals(&self, h: &Hot) -> ([u64; 2], [u64; 2]) {
        let join = |hi: u32, lo: u32| u64::from(hi) << 32 | u64::from(lo);
        let packets = [join(self.packets_hi[0], h.packets[0]), join(self.packets_hi[1], h.packets[1])];
        (packets, [join(self.bytes_hi[0], h.bytes[0]), join(self.bytes_hi[1], h.bytes[1])])
    }

    /// Carries the wraps [`Hot::add`] reported for direction `dir`.
    pub(super) fn carry(&mut self, dir: usize, (packets, bytes): (bool, bool)) {
        self.packets_hi[dir] += u32::from(packets);
        self.bytes_hi[dir] += u32::from(bytes);
    }
}

// `bits`: the class in the low two bits, then how the server was decided, then flags.
const CLASS_MASK: u8 = 0b11;
const DECIDED_SHIFT: u8 = 2;
const DECIDED_MASK: u8 = 0b11 << DECIDED_SHIFT;
const SERVER_IS_LO: u8 = 1 << 4;
const LIVE: u8 = 1 << 5;
const SERVER_IS_DST: u8 = 1 << 6;
const HAS_EXTRA: u8 = 1 << 7;
/// The high bit of how the server was decided, in `state` (whose low five bits are TCP flags
/// seen): `bits` has room for two.
pub(super) const DECIDED_HI: u8 = 1 << 7;
/// How the label was decided ([`Confidence`]), in bits 5 and 6 of `state`.
const CONFIDENCE_SHIFT: u8 = 5;
const CONFIDENCE_MASK: u8 = 0b11 << CONFIDENCE_SHIFT;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Hot {
    pub(super) last: Timestamp,
    /// Low halves, by direction (to server, to client).
    pub(super) packets: [u32; 2],
    pub(super) bytes: [u32; 2],
    /// The caller's tag (its counter row).
    pub(super) tag: u32,
    /// The wire sizes of the flow's first [`WINDOW`] packets, which a relabel moves from the
    /// old row's size distribution to the new one's (0: a size over 64 KiB, which stays).
    pub(super) held: [u16; WINDOW],
    pub(super) key: Packed,
    service: Option<ServiceId>,
    server_port: u16,
    /// TCP flags seen (`ST_*`).
    pub(super) state: u8,
    bits: u8,
}

const _: () = assert!(std::mem::size_of::<Hot>() == 64, "Hot must stay one cache line");

impl Hot {
    /// A live flow's line, its counters at zero.
    pub(super) fn new(
        key: Packed,
        ts: Timestamp,
        class: Class,
        verdict: Verdict,
        server_is_lo: bool,
    ) -> Self {
        // Its place in `DecidedBy::ALL`, in three bits.
        let decided = verdict.decided_by as u8;
        let mut bits = class as u8 | (decided & 0b11) << DECIDED_SHIFT | LIVE;
        if server_is_lo {
            bits |= SERVER_IS_LO;
        }
        if verdict.server_is_dst {
            bits |= SERVER_IS_DST;
        }
        Self {
            last: ts,
            packets: [0; 2],
            bytes: [0; 2],
            tag: 0,
            held: [0; WINDOW],
            key,
            service: verdict.service,
            server_port: verdict.server_port,
            state: if decided > 0b11 { DECIDED_HI } else { 0 },
            bits,
        }
    }

    pub(super) fn class(&self) -> Class {
        Class::ALL[usize::from(self.bits & CLASS_MASK)]
    }

    pub(super) fn set_class(&mut self, c: Class) {
        self.bits = self.bits & !CLASS_MASK | c as u8;
    }

    pub(super) fn verdict(&self) -> Verdict {
        let code = (self.bits & DECIDED_MASK) >> DECIDED_SHIFT
            | if self.state & DECIDED_HI != 0 { 0b100 } else { 0 };
        let decided_by = DecidedBy::ALL.get(usize::from(code)).copied().unwrap_or(DecidedBy::Learned);
        Verdict {
            server_is_dst: self.bits & SERVER_IS_DST != 0,
            decided_by,
            server_port: self.server_port,
            service: self.service,
        }
    }

    /// A label given after the flow started (a range port's server answered).
    pub(super) fn set_service(&mut self, service: Option<ServiceId>) {
        self.service = service;
    }

    /// How the label was decided, as kept: a learned label reads `Payload` here (settled).
    #[inline]
    pub(super) fn settled(&self) -> bool {
        !matches!(
            Confidence::ALL[usize::from((self.state & CONFIDENCE_MASK) >> CONFIDENCE_SHIFT)],
            Confidence::Port | Confidence::Range
        )
    }

    pub(super) fn confidence(&self) -> Confidence {
        match Confidence::ALL[usize::from((self.state & CONFIDENCE_MASK) >> CONFIDENCE_SHIFT)] {
            Confidence::Payload if self.verdict().decided_by == DecidedBy::Learned => Confidence::Learned,
            c => c,
        }
    }

    /// Sets how the label was decided (`Learned` is kept as `Payload`, see [`Confidence`]).
    pub(super) fn set_confidence(&mut self, c: Confidence) {
        let c = if c == Confidence::Learned { Confidence::Payload } else { c };
        self.state = self.state & !CONFIDENCE_MASK | (c as u8) << CONFIDENCE_SHIFT;
    }

    pub(super) fn proto(&self) -> u8 {
        #[allow(clippy::cast_possible_truncation)] // the protocol's byte of `ends`
        let p = (self.key.ends >> 48) as u8;
        p
    }

    /// Whether the key's `lo` end is the server.
    pub(super) fn server_is_lo(&self) -> bool {
        self.bits & SERVER_IS_LO != 0
    }

    pub(super) fn live(&self) -> bool {
        self.bits & LIVE != 0
    }

    /// Marks the flow ended.
    pub(super) fn retire(&mut self) {
        self.bits &= !(LIVE | HAS_EXTRA);
    }

    pub(super) fn has_extra(&self) -> bool {
        self.bits & HAS_EXTRA != 0
    }

    pub(super) fn set_has_extra(&mut self) {
        self.bits |= HAS_EXTRA;
    }

    /// Adds a packet in direction `dir`; returns which low halves wrapped (packets, bytes),
    /// whose carry the caller adds to the flow's [`Extra`].
    #[inline]
    pub(super) fn add(&mut self, dir: usize, wire_len: u32) -> (bool, bool) {
        let (p, pw) = self.packets[dir].overflowing_add(1);
        let (b, bw) = self.bytes[dir].overflowing_add(wire_len);
        self.packets[dir] = p;
        self.bytes[dir] = b;
        (pw, bw)
    }
}

/// Packets of a flow in its opening window: their sizes are kept in its line, and their payload
/// is checked for evidence of what the flow carries, until the label is settled. Six covers a
/// TCP handshake (three packets) and the first request and reply, and a UDP exchange's first
/// datagrams; it is what fits in the line (the two fields that moved out for it, the start
/// time and the generation, are read only when a flow starts, ends, goes back in time or
/// meets a stale queue entry).
pub const WINDOW: usize = 6;

/// A flow's start, beside its line: touched when the flow starts and ends, by a TCP flow's
/// handshake, and by the payload checks of its opening window, not by its other packets. Half
/// a cache line, so that one load brings it.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C, align(32))]
pub(super) struct Start {
    pub(super) handshake: Handshake,
    /// The first packet time (the earliest, if packets came out of order).
    pub(super) first: Timestamp,
    /// Bumped each time the slot is freed, so fragment and queue entries can tell a reused slot.
    pub(super) generation: u32,
    /// The label the port gave, once payload evidence changed it (`relabelled`).
    pub(super) port_service: Option<ServiceId>,
    /// The protocol the payload showed, as its place in `Proto::ALL` plus one; 0 for none.
    pub(super) evidence: u8,
    pub(super) relabelled: bool,
    /// The port's label was a service the evidence's protocol does not stand for.
    pub(super) contradicted: bool,
    /// A DCE/RPC interface is held for this flow (`FlowTable::interfaces`).
    pub(super) named: bool,
}

const _: () = assert!(std::mem::size_of::<Start>() == 32);

/// What a TCP flow's first packets tell, in one word: nothing yet (0), its first SYN's time
/// plus one (the top bit clear), or then the RTT from that SYN to the first SYN/ACK towards
/// the client (the top bit set). Eight bytes a flow where an enum of the three took sixteen.
///
/// A SYN stamped at or past 2^63 - 1 ns (the year 2262: a garbage timestamp) is not timed,
/// so the top bit is free; an RTT is then the difference of two times below 2^63.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(super) struct Handshake(u64);

const RTT_BIT: u64 = 1 << 63;

impl Handshake {
    pub(super) const NONE: Self = Self(0);

    /// The raw word (for loads ahead of use).
    pub(super) fn word(self) -> u64 {
        self.0
    }

    /// The first SYN, seen at `ts` (nothing, for a garbage time past 2262).
    pub(super) fn syn(ts: Timestamp) -> Self {
        if ts.0 < RTT_BIT - 1 { Self(ts.0 + 1) } else { Self::NONE }
    }

    /// The RTT, in nanoseconds.
    pub(super) fn rtt(ns: u64) -> Self {
        Self(RTT_BIT | ns.min(RTT_BIT - 1))
    }

    pub(super) fn syn_time(self) -> Option<Timestamp> {
        (self.0 != 0 && self.0 & RTT_BIT == 0).then(|| Timestamp(self.0 - 1))
    }

    pub(super) fn rtt_ns(self) -> Option<u64> {
        (self.0 & RTT_BIT != 0).then_some(self.0 & !RTT_BIT)
    }
}

const _: () = assert!(std::mem::size_of::<Handshake>() == 8);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(v6: bool, x: u128) -> Addr {
        if v6 {
            Addr(x.to_be_bytes())
        } else {
            Addr::v4(u32::try_from(x & 0xffff_ffff).unwrap_or(0).to_be_bytes())
        }
    }

    proptest! {
        /// Packing keeps every field of an IPv4 key, tells IPv6 keys apart, and two keys pack
        /// the same only if they are the same.
        #[test]
        fn keys_pack_and_unpack(a in any::<u128>(), b in any::<u128>(), v6 in any::<bool>(),
                                lp in any::<u16>(), hp in any::<u16>(), vlan in any::<u16>(), proto in any::<u8>(),
                                other in any::<(u16, u16, u8)>()) {
            let k = FlowKey { lo: addr(v6, a), hi: addr(v6 && b % 2 == 0, b), lo_port: lp, hi_port: hp, proto, vlan, tunnel: 0 };
            let p = Packed::of(&k);
            let wide = p.is_wide();
            prop_assert_eq!(wide, k.lo.ipv4().is_none() || k.hi.ipv4().is_none());
            let held = vec![k];
            prop_assert_eq!(p.unpack(&held), k);
            let k2 = FlowKey { lo_port: other.0, hi_port: other.1, proto: other.2, ..k };
            prop_assert_eq!(Packed::of(&k2) == p, k2 == k || wide && (k2.lo_port, k2.hi_port, k2.proto) == (lp, hp, proto));
        }
    }

    proptest! {
        /// Each of the three states reads back as itself and as neither other one.
        #[test]
        fn handshakes_pack_and_unpack(ts in 0..RTT_BIT - 1, ns in 0..RTT_BIT) {
            let syn = Handshake::syn(Timestamp(ts));
            prop_assert_eq!((syn.syn_time(), syn.rtt_ns()), (Some(Timestamp(ts)), None));
            let rtt = Handshake::rtt(ns);
            prop_assert_eq!((rtt.syn_time(), rtt.rtt_ns()), (None, Some(ns)));
        }
    }

    #[test]
    fn a_handshake_holds_its_edges() {
        assert_eq!((Handshake::NONE.syn_time(), Handshake::NONE.rtt_ns()), (None, None));
        assert_eq!(Handshake::default(), Handshake::NONE);
        assert_eq!(Handshake::syn(Timestamp(0)).syn_time(), Some(Timestamp(0)));
        assert_eq!(Handshake::syn(Timestamp(RTT_BIT - 2)).syn_time(), Some(Timestamp(RTT_BIT - 2)));
        // Garbage times past 2262 are not timed, rather than read back as an RTT.
        for ts in [RTT_BIT - 1, RTT_BIT, u64::MAX] {
            assert_eq!(Handshake::syn(Timestamp(ts)), Handshake::NONE);
        }
        assert_eq!(Handshake::rtt(0).rtt_ns(), Some(0));
        assert_eq!(Handshake::rtt(u64::MAX).rtt_ns(), Some(RTT_BIT - 1));
    }

    #[test]
    fn a_line_keeps_its_verdict_and_flags() {
        for (i, decided_by) in DecidedBy::ALL.into_iter().enumerate() {
            assert_eq!(decided_by as usize, i, "DecidedBy::ALL is in declaration order");
            let v = Verdict {
                server_is_dst: i % 2 == 0,
                decided_by,
                server_port: 445,
                service: Some(ServiceId(7)),
            };
            let class = Class::ALL[i % Class::ALL.len()];
            let mut h = Hot::new(Packed { addrs: 1, ends: 2 }, Timestamp(5), class, v, i >= 2);
            assert_eq!((h.verdict(), h.class(), h.server_is_lo(), h.live()), (v, class, i >= 2, true));
            // TCP flags seen leave the verdict as it was.
            h.state |= 0b1_1111;
            assert_eq!(h.verdict(), v);
            h.set_class(Class::Closed);
            h.set_has_extra();
            assert_eq!((h.verdict(), h.class(), h.has_extra()), (v, Class::Closed, true));
            h.retire();
            assert!(!h.live() && !h.has_extra());
        }
    }

    #[test]
    fn counters_report_their_wraps() {
        let v = Verdict { server_is_dst: true, decided_by: DecidedBy::Table, server_port: 80, service: None };
        let mut h = Hot::new(Packed { addrs: 0, ends: 0 }, Timestamp(0), Class::Tcp, v, false);
        h.bytes[1] = u32::MAX - 9;
        assert_eq!(h.add(1, 9), (false, false));
        assert_eq!(h.add(1, 2), (false, true));
        assert_eq!((h.packets[1], h.bytes[1]), (2, 1));
        h.packets[0] = u32::MAX;
        assert_eq!(h.add(0, 0), (true, false));
        assert_eq!(h.packets[0], 0);
    }
}
