//! Expectations: the endpoints control channels announced, until a flow comes to them.
//!
//! What I own: a bounded table of announced endpoints — (transport, address, port) → the
//! service the flow that comes there is — with a lifetime on packet time per announcer, and
//! the matching of each packet against it. It runs on the reading thread, which sees every
//! packet of the input in order, so what it learns and what it matches are the same whatever
//! `--threads` splits the flows into: the label travels with the packet ([`Learned`]) to the
//! thread that counts the flow, which applies it when the packet starts a flow.
//!
//! What I must not do: parse bytes (the announcers of [`super`] do), know about flows, or grow
//! without bound: at [`MAX_EXPECTATIONS`] the oldest announcement is dropped, and counted.
//!
//! Lifetimes (packet time, from the announcement; an announcement of the same endpoint again
//! renews it):
//! - endpoint mapper: an hour, for every client: the mapping names a server endpoint that stays
//!   valid while the service runs (Windows keeps a dynamic RPC endpoint for the process's
//!   life), and any number of connections may come to it;
//! - FTP data (PASV, EPSV, PORT, EPRT): 60 s, one connection, from the control flow's other
//!   host only; an FTP client connects at once after 227/229, and a server after PORT;
//! - TFTP: 60 s, one transfer, from the request's server host (from a new port, RFC 1350 §4);
//! - H.245: 60 s, one connection, from the call's other host;
//! - the call itself: an hour from its last H.225 message with an H.245 address, during which
//!   a UDP flow between its two hosts on ports no table row names is its media ("NetMeeting
//!   RTP"; RTP and RTCP take dynamic ports that only H.245, in PER, names).

use super::{Announced, Control, Kind};
use crate::capture::Timestamp;
use crate::classify::evidence::Proto;
use crate::classify::rules::Rules;
use crate::decode::{Addr, IpPacket, PROTO_TCP, PROTO_UDP, Ports};
use crate::services::{RPC_SESSION_PORTS, ServiceId, ServiceTable, Transport};
use std::collections::{HashMap, VecDeque};

/// Most endpoints remembered at once, over every announcer. An endpoint mapper hands out a
/// few per server; an FTP session one per transfer. A flood of announcements keeps the newest.
pub const MAX_EXPECTATIONS: usize = 4096;

const EPM_LIFETIME: u64 = 3600 * Timestamp::NANOS_PER_SEC;
const ONE_SHOT_LIFETIME: u64 = 60 * Timestamp::NANOS_PER_SEC;
const CALL_LIFETIME: u64 = 3600 * Timestamp::NANOS_PER_SEC;
/// Most H.323 calls remembered at once; past it, expired ones are forgotten, and a new call
/// is not remembered (counted as dropped).
pub const MAX_CALLS: usize = 1024;

/// The label a packet brings to the flow it starts: learned from an announcement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Learned {
    pub service: ServiceId,
    /// Whether the packet's destination is the flow's server.
    pub server_is_dst: bool,
}

#[derive(Clone, Copy, Debug)]
struct Expect {
    service: ServiceId,
    /// The end of the announced flow the key names is its server (not for TFTP, whose key is
    /// the client's port the transfer comes to).
    key_is_server: bool,
    /// Only this host may be the other end.
    peer: Option<Addr>,
    /// Matched by one flow only.
    one_shot: bool,
    expires: Timestamp,
    /// Its place in `order`, to tell a renewed entry from a stale queue entry.
    serial: u64,
}

type Key = (Transport, Addr, u16);

/// What learning did, for the report.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct LearnCounters {
    /// Endpoints announced (a renewal counts again).
    pub announced: u64,
    /// Expectations dropped at [`MAX_EXPECTATIONS`] before their time.
    pub dropped: u64,
}

impl LearnCounters {
    pub fn merge(&mut self, o: &LearnCounters) {
        self.announced += o.announced;
        self.dropped += o.dropped;
    }
}

/// The expectation table of one input stream.
#[derive(Debug)]
pub struct Learner {
    ftp_data: Option<ServiceId>,
    tftp: Option<ServiceId>,
    h245: Option<ServiceId>,
    rpc: Option<ServiceId>,
    rtp: Option<ServiceId>,
    rules: Rules,
    /// H.323 calls by their two hosts (the lower address first): when they end.
    calls: HashMap<(Addr, Addr), Timestamp>,
    map: HashMap<Key, Expect>,
    order: VecDeque<(Key, u64)>,
    serial: u64,
    pub counters: LearnCounters,
}

impl Learner {
    #[must_use]
    pub fn new(table: &ServiceTable) -> Self {
        Self {
            ftp_data: table.id_of("FTP-data"),
            tftp: table.id_of("Remote Install TFTP – (Trivial File Transfer Protocol)"),
            h245: table.id_of("NetMeeting H.323 call setup"),
            rpc: table.id_of(RPC_SESSION_PORTS),
            rtp: table.id_of("NetMeeting RTP - ( real time protocol) audio stream"),
            rules: Rules::new(table, crate::decode::Tunnels::Open),
            calls: HashMap::new(),
            map: HashMap::new(),
            order: VecDeque::new(),
            serial: 0,
            counters: LearnCounters::default(),
        }
    }

    /// Learns what `pkt`'s payload announces, if it travels on a control channel, and returns
    /// the label an expectation gives the flow `pkt` belongs to, if any. Called for every TCP
    /// and UDP packet in reading order; costs a few compares while nothing was announced.
    #[inline]
    pub fn observe(
        &mut self,
        table: &ServiceTable,
        pkt: &IpPacket,
        payload: &[u8],
        ts: Timestamp,
    ) -> Option<Learned> {
        let ports = pkt.ports?;
        // Most packets: nothing announced to match, and no payload to learn from on a control
        // port.
        if self.map.is_empty()
            && self.calls.is_empty()
            && (payload.is_empty() || !on_a_control_port(ports.src) && !on_a_control_port(ports.dst))
        {
            return None;
        }
        self.observe_announced(table, pkt, ports, payload, ts)
    }

    /// [`observe`](Self::observe) past its first test, for a packet with these `ports`.
    #[inline(never)]
    fn observe_announced(
        &mut self,
        table: &ServiceTable,
        pkt: &IpPacket,
        ports: Ports,
        payload: &[u8],
        ts: Timestamp,
    ) -> Option<Learned> {
        let transport = match pkt.proto {
            PROTO_TCP => Transport::Tcp,
            PROTO_UDP => Transport::Udp,
            _ => return None,
        };
        if is_control(transport, ports.dst) || is_control(transport, ports.src) {
            // A control flow's own packets are never an announced flow's (its announcement
            // names the control flow's client port for TFTP: the request must not take it).
            if !payload.is_empty() {
                self.learn(table, transport, pkt, payload, ts);
            }
            return None;
        }
        if self.map.is_empty() && self.calls.is_empty() {
            return None;
        }
        self.matching(table, transport, pkt, ts)
    }

    #[cold]
    #[inline(never)]
    fn learn(
        &mut self,
        table: &ServiceTable,
        transport: Transport,
        pkt: &IpPacket,
        payload: &[u8],
        ts: Timestamp,
    ) {
        let Some(ports) = pkt.ports else { return };
        // The control flow's server is the end on the control port (the destination when
        // both are).
        let to_server = is_control(transport, ports.dst);
        let control = if to_server {
            Control {
                transport,
                client: pkt.src,
                client_port: ports.src,
                server: pkt.dst,
                server_port: ports.dst,
            }
        } else {
            Control {
                transport,
                client: pkt.dst,
                client_port: ports.dst,
                server: pkt.src,
                server_port: ports.src,
            }
        };
        let mut out = [Announced::EMPTY; 8];
        let n = super::announcements(&control, to_server, payload, &mut out);
        for a in out.iter().take(n) {
            self.expect(table, a, ts);
            if a.kind == Kind::H245 {
                self.call(control.client, control.server, ts);
            }
        }
    }

    /// Remembers an H.323 call between two hosts, for its media.
    fn call(&mut self, a: Addr, b: Addr, ts: Timestamp) {
        let key = if a <= b { (a, b) } else { (b, a) };
        if self.calls.len() >= MAX_CALLS && !self.calls.contains_key(&key) {
            self.calls.retain(|_, end| *end >= ts);
            if self.calls.len() >= MAX_CALLS {
                self.counters.dropped += 1;
                return;
            }
        }
        self.calls.insert(key, Timestamp(ts.0.saturating_add(CALL_LIFETIME)));
    }

    fn expect(&mut self, table: &ServiceTable, a: &Announced, ts: Timestamp) {
        let (service, one_shot, lifetime, key_is_server) = match a.kind {
            Kind::Epm { interface } => {
                // Only a DCE/RPC service labels a DCE/RPC flow (see `classify::rules`).
                let own = table
                    .rpc_interface(&interface)
                    .map(|r| r.service)
                    .filter(|s| self.rules.stands_for(Proto::DceRpcCo, *s));
                (own.or(self.rpc), false, EPM_LIFETIME, true)
            }
            Kind::FtpData => (self.ftp_data, true, ONE_SHOT_LIFETIME, true),
            Kind::Tftp => (self.tftp, true, ONE_SHOT_LIFETIME, false),
            Kind::H245 => (self.h245, true, ONE_SHOT_LIFETIME, true),
        };
        let Some(service) = service else { return };
        self.counters.announced += 1;
        let key = (a.transport, a.addr, a.port);
        self.serial += 1;
        let e = Expect {
            service,
            key_is_server,
            peer: a.peer,
            one_shot,
            expires: Timestamp(ts.0.saturating_add(lifetime)),
            serial: self.serial,
        };
        if self.map.insert(key, e).is_none() && self.map.len() > MAX_EXPECTATIONS {
            self.drop_oldest();
        }
        self.order.push_back((key, self.serial));
        // Stale queue entries (renewed or matched keys) are skipped as they reach the front;
        // when they make the queue twice the table, it keeps only the live ones (amortised
        // O(1): the table holds at most MAX_EXPECTATIONS).
        if self.order.len() > 2 * MAX_EXPECTATIONS {
            let map = &self.map;
            self.order.retain(|(k, serial)| map.get(k).is_some_and(|e| e.serial == *serial));
        }
    }

    /// Drops the oldest live expectation (counted) or a stale queue entry.
    fn drop_oldest(&mut self) {
        while let Some((key, serial)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|e| e.serial == serial) {
                self.map.remove(&key);
                self.counters.dropped += 1;
                return;
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn matching(
        &mut self,
        table: &ServiceTable,
        transport: Transport,
        pkt: &IpPacket,
        ts: Timestamp,
    ) -> Option<Learned> {
        let ports = pkt.ports?;
        // The announced end is the packet's destination (a first packet), or its source (a
        // flow met mid-stream, its first packet from that end).
        for (at_dst, end, port, other) in
            [(true, pkt.dst, ports.dst, pkt.src), (false, pkt.src, ports.src, pkt.dst)]
        {
            let key = (transport, end, port);
            let Some(e) = self.map.get(&key).copied() else { continue };
            if e.expires < ts {
                self.map.remove(&key);
                continue;
            }
            if e.peer.is_some_and(|p| p != other) {
                continue;
            }
            if e.one_shot {
                self.map.remove(&key);
            }
            // The key's end is the server (or, for TFTP, the client).
            let server_is_dst = at_dst == e.key_is_server;
            return Some(Learned { service: e.service, server_is_dst });
        }
        self.media(table, transport, pkt, ts)
    }

    /// A UDP packet between the two hosts of an H.323 call, on ports no table row names: the
    /// call's media, its server the first packet's destination (the ports say nothing).
    fn media(
        &mut self,
        table: &ServiceTable,
        transport: Transport,
        pkt: &IpPacket,
        ts: Timestamp,
    ) -> Option<Learned> {
        let (ports, service) = (pkt.ports?, self.rtp?);
        if transport != Transport::Udp || self.calls.is_empty() {
            return None;
        }
        let key = if pkt.src <= pkt.dst { (pkt.src, pkt.dst) } else { (pkt.dst, pkt.src) };
        let end = *self.calls.get(&key)?;
        if end < ts {
            self.calls.remove(&key);
            return None;
        }
        let listed = |p: u16| table.lookup(transport, p).kind == crate::services::MatchKind::Single;
        (!listed(ports.src) && !listed(ports.dst)).then_some(Learned { service, server_is_dst: true })
    }

    /// Expectations held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Whether `port` is a control channel's on TCP or UDP (see [`is_control`]).
#[inline]
fn on_a_control_port(port: u16) -> bool {
    matches!(port, super::EPMAP_PORT | super::FTP_PORT | super::H323_CALL_PORT | super::TFTP_PORT)
}

/// Whether `port` is a control channel's on `transport` (see [`super::announcements`]).
#[inline]
fn is_control(transport: Transport, port: u16) -> bool {
    matches!(
        (transport, port),
        (Transport::Tcp | Transport::Udp, super::EPMAP_PORT)
            | (Transport::Tcp, super::FTP_PORT | super::H323_CALL_PORT)
            | (Transport::Udp, super::TFTP_PORT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Fragment, Ports, TcpFlags};
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes on every control channel, both ways, at any times: no panic, the
        /// table within its bound, and what it matches only ever a service it names.
        #[test]
        fn arbitrary_control_traffic_keeps_the_bounds(
            msgs in proptest::collection::vec((0..5usize, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..600), 0..200u64), 1..40),
        ) {
            let t = ServiceTable::embedded();
            let mut l = Learner::new(t);
            let controls = [(PROTO_TCP, 135), (PROTO_UDP, 135), (PROTO_TCP, 21), (PROTO_UDP, 69), (PROTO_TCP, 1720)];
            for (c, to_server, bytes, at) in &msgs {
                let (proto, port) = controls[*c];
                let p = if *to_server {
                    pkt(CLIENT, 40000, SERVER, port, proto)
                } else {
                    pkt(SERVER, port, CLIENT, 40000, proto)
                };
                prop_assert_eq!(l.observe(t, &p, bytes, secs(*at)), None);
                prop_assert!(l.len() <= MAX_EXPECTATIONS);
                let probe = pkt(CLIENT, 40001, SERVER, 1026, PROTO_TCP);
                if let Some(got) = l.observe(t, &probe, &[], secs(*at)) {
                    prop_assert!(!t.name(got.service).is_empty());
                }
            }
        }
    }

    const CLIENT: [u8; 4] = [192, 168, 1, 101];
    const SERVER: [u8; 4] = [192, 168, 1, 20];
    const OTHER: [u8; 4] = [192, 168, 1, 99];

    fn pkt(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, proto: u8) -> IpPacket {
        IpPacket {
            src: Addr::v4(src),
            dst: Addr::v4(dst),
            proto,
            ports: Some(Ports { src: sp, dst: dp }),
            tcp_flags: TcpFlags(0),
            vlan: 0,
            fragment: Fragment::Whole,
            tunnel: 0,
        }
    }

    fn secs(s: u64) -> Timestamp {
        Timestamp(s * Timestamp::NANOS_PER_SEC)
    }

    fn name(t: &ServiceTable, l: Option<Learned>) -> Option<(&str, bool)> {
        l.map(|l| (t.name(l.service), l.server_is_dst))
    }

    #[test]
    fn a_pasv_reply_labels_one_connection_from_its_client_within_a_minute() {
        let t = ServiceTable::embedded();
        let mut l = Learner::new(t);
        let reply = b"227 Entering Passive Mode (192,168,1,20,195,80).\r\n";
        // The reply itself travels on the control flow: not an announced flow's packet.
        assert_eq!(l.observe(t, &pkt(SERVER, 21, CLIENT, 40000, PROTO_TCP), reply, secs(1)), None);
        assert_eq!((l.len(), l.counters.announced), (1, 1));
        // Another host's connection to that port is not the announced one.
        assert_eq!(l.observe(t, &pkt(OTHER, 41000, SERVER, 50000, PROTO_TCP), &[], secs(2)), None);
        // The client's is FTP-data, with the announced end its server; once.
        let first = l.observe(t, &pkt(CLIENT, 40001, SERVER, 50000, PROTO_TCP), &[], secs(2));
        assert_eq!(name(t, first), Some(("FTP-data", true)));
        assert_eq!(l.observe(t, &pkt(CLIENT, 40002, SERVER, 50000, PROTO_TCP), &[], secs(2)), None);
        // A second announcement that nobody uses in time expires.
        l.observe(t, &pkt(SERVER, 21, CLIENT, 40000, PROTO_TCP), reply, secs(10));
        assert_eq!(l.observe(t, &pkt(CLIENT, 40003, SERVER, 50000, PROTO_TCP), &[], secs(71)), None);
        assert!(l.is_empty());
    }

    #[test]
    fn a_tftp_request_names_the_client_port_the_transfer_comes_to() {
        let t = ServiceTable::embedded();
        let mut l = Learner::new(t);
        let rrq = b"\x00\x01pxeboot.n12\x00octet\x00";
        assert_eq!(l.observe(t, &pkt(CLIENT, 49200, SERVER, 69, PROTO_UDP), rrq, secs(1)), None);
        // The server answers from a new port: the client's end is the announced one, the
        // server the source.
        let data = l.observe(t, &pkt(SERVER, 50001, CLIENT, 49200, PROTO_UDP), &[], secs(1));
        assert_eq!(name(t, data), Some(("Remote Install TFTP – (Trivial File Transfer Protocol)", false)));
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
    }

    #[test]
    fn an_h323_call_labels_its_h245_connection_and_its_media() {
        let t = ServiceTable::embedded();
        let mut l = Learner::new(t);
        // ndpi__h323.pcap frame 18: the CONNECT from 10.1.6.18:1720 names h245Address
        // 10.1.6.18:1232 (as in `learn::h323`'s tests).
        let connect = hex("03000061 0802f7f4 07 28074d2e4a454d4543 7e004c 05 22 c0 06 0008914a0003
            00 0a010612 04d0 22c0000000000333313069005200f8fdf93ecd9ed6119ab2000476222017170c001100c0fef93ecd9ed6119ab20004762220170100010008800100");
        let (answering, calling) = ([10, 1, 6, 18], [10, 1, 3, 143]);
        assert_eq!(l.observe(t, &pkt(answering, 1720, calling, 32803, PROTO_TCP), &connect, secs(1)), None);
        let h245 = l.observe(t, &pkt(calling, 32804, answering, 1232, PROTO_TCP), &[], secs(2));
        assert_eq!(name(t, h245), Some(("NetMeeting H.323 call setup", true)));
        // UDP between the two hosts on dynamic ports is the call's media; a table port is not,
        // nor another host, nor after the call's hour.
        let rtp = l.observe(t, &pkt(calling, 49170, answering, 5004, PROTO_UDP), &[], secs(3));
        assert_eq!(name(t, rtp), Some(("NetMeeting RTP - ( real time protocol) audio stream", true)));
        assert_eq!(l.observe(t, &pkt(calling, 49171, answering, 53, PROTO_UDP), &[], secs(3)), None);
        assert_eq!(l.observe(t, &pkt(OTHER, 49172, answering, 5006, PROTO_UDP), &[], secs(3)), None);
        assert_eq!(l.observe(t, &pkt(answering, 5008, calling, 49174, PROTO_UDP), &[], secs(3700)), None);
    }

    #[test]
    fn a_flood_of_announcements_keeps_the_newest_and_counts_the_rest() {
        let t = ServiceTable::embedded();
        let mut l = Learner::new(t);
        let n = MAX_EXPECTATIONS + 100;
        for i in 0..n {
            let port = u16::try_from(1024 + i).unwrap_or(u16::MAX);
            let line = format!("227 Entering Passive Mode (192,168,1,20,{},{}).\r\n", port >> 8, port & 0xff);
            l.observe(t, &pkt(SERVER, 21, CLIENT, 40000, PROTO_TCP), line.as_bytes(), secs(1));
        }
        assert_eq!(l.len(), MAX_EXPECTATIONS);
        assert_eq!((l.counters.announced, l.counters.dropped), (n as u64, 100));
        // The oldest went first: 1024 is forgotten, the newest is there.
        assert_eq!(l.observe(t, &pkt(CLIENT, 40001, SERVER, 1024, PROTO_TCP), &[], secs(2)), None);
        let last = u16::try_from(1024 + n - 1).unwrap_or(u16::MAX);
        assert!(l.observe(t, &pkt(CLIENT, 40001, SERVER, last, PROTO_TCP), &[], secs(2)).is_some());
        // The same endpoint announced over and over is one expectation.
        let mut l = Learner::new(t);
        for _ in 0..3 * MAX_EXPECTATIONS {
            l.observe(
                t,
                &pkt(SERVER, 21, CLIENT, 40000, PROTO_TCP),
                b"229 Entering Extended Passive Mode (|||6446|)\r\n",
                secs(1),
            );
        }
        assert_eq!((l.len(), l.counters.dropped), (1, 0));
        assert!(l.order.len() <= 2 * MAX_EXPECTATIONS);
    }
}
