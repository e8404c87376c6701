//! A trace is one fixture file in the making: its hosts, links and flows, and the packets
//! written so far, each tagged with the flow and direction it belongs to. Because the
//! generator knows what every packet is, the expected figures are counted from those tags
//! while the file is written, never by parsing the file back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::pcap::{self, Format, Linktype};
pub use crate::tunnels::{Layer, Payload, Pending, Tunnel};
use crate::wire::{self, ethertype, proto};

/// 2003-01-15 09:00:00 UTC, where every fixture's clock starts.
pub const T0: u64 = 1_042_621_200 * SEC;
pub const SEC: u64 = 1_000_000_000;
pub const MS: u64 = 1_000_000;
pub const US: u64 = 1_000;

/// splitmix64 (Steele, Lea, Flood 2014): tiny, seedable and the same on every platform, so
/// the fixtures come out byte-identical on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias is irrelevant here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(1, 100) <= percent
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct HostId(pub usize);
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LinkId(pub usize);
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct FlowId(pub usize);

pub struct Host {
    pub name: &'static str,
    pub mac: [u8; 6],
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
    /// Windows 2000 (TTL 128, IP ID counter kept in host byte order) or not (TTL 64).
    pub windows: bool,
    ip_id: u16,
    next_port: u16,
}

/// Ports from the Windows 2000 port table that fall in the ephemeral range. A real client
/// would happily use them; the generator skips them so that a fixture tests one thing at a
/// time (client-port-in-table-80.pcap is the one place a client sits on a table port).
const TABLE_PORTS_IN_EPHEMERAL_RANGE: [u16; 18] = [
    1234, 1433, 1500, 1645, 1646, 1701, 1720, 1731, 1801, 1812, 1813, 2053, 2101, 2103, 2105, 2500, 3389,
    3527,
];

/// How the IP packets of a link are framed.
pub enum Encap {
    /// Ethernet II, optionally with VLAN tags `(TPID, VID)` outermost first, an MPLS label
    /// stack, or a PPPoE session header. Frames are padded to the 60-byte minimum.
    Ethernet {
        tags: Vec<(u16, u16)>,
        mpls: Vec<u32>,
        pppoe: Option<u16>,
    },
    Sll,
    Sll2 {
        ifindex: u32,
    },
    /// BSD loopback: AF_ value in the byte order of the machine that wrote the file (the file's
    /// own); AF_INET is 2 everywhere, AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD) or 30
    /// (macOS).
    Null {
        af_inet6: u32,
        big_endian: bool,
    },
    /// OpenBSD loopback: the same AF_ value, always big-endian.
    Loop {
        af_inet6: u32,
    },
    Raw,
    /// IP packets inside one or more tunnels (see `tunnels.rs`), the outermost carrier framed
    /// on Ethernet between its two ends. Framed in `finish`, in time order, because sequence
    /// numbers, outer IP IDs and outer checksums depend on what came before and on the inner
    /// packet's final bytes.
    Tunnel(Tunnel),
}

impl Encap {
    pub fn ethernet() -> Self {
        Self::Ethernet { tags: vec![], mpls: vec![], pppoe: None }
    }

    pub fn mtu(&self) -> usize {
        match self {
            // RFC 2516: 8 bytes of PPPoE and PPP header inside a 1500-byte Ethernet payload.
            Self::Ethernet { pppoe: Some(_), .. } => 1492,
            Self::Tunnel(t) => 1500 - t.layers.iter().map(Layer::overhead).sum::<usize>(),
            _ => 1500,
        }
    }
}

pub struct Link {
    pub iface: usize,
    pub encap: Encap,
    /// The host the capture was taken on, for the Linux "cooked" packet type.
    pub local: Option<HostId>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Transport {
    Tcp,
    Udp,
    Esp,
    /// ESP inside UDP (RFC 3948): UDP on the wire, a flow of its own named `esp` with the UDP
    /// endpoints.
    EspInUdp,
    /// A GRE carrier whose payload cannot be looked into (a PPTP acknowledgement, PPP control,
    /// a nest too deep, a cut inner header): an IP-protocol flow like ESP, named `gre`.
    Gre,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Esp | Self::EspInUdp => "esp",
            Self::Gre => "gre",
        }
    }

    fn proto(self) -> u8 {
        match self {
            Self::Tcp => proto::TCP,
            Self::Udp | Self::EspInUdp => proto::UDP,
            Self::Esp => proto::ESP,
            Self::Gre => proto::GRE,
        }
    }
}

pub struct Flow {
    pub transport: Transport,
    pub link: LinkId,
    pub client: HostId,
    pub cport: u16,
    pub server: HostId,
    pub sport: u16,
    pub v6: bool,
    /// Put hop-by-hop, routing and destination options headers before the upper layer.
    pub v6_ext: bool,
    /// The service the port table gives this flow, as the README states it.
    pub service: &'static str,
}

/// How to cut an IP datagram into fragments, and which of them reach the file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Frag {
    /// Not fragmented; DF set (as Windows 2000 does for TCP, path MTU discovery on).
    No,
    /// Not fragmented, DF clear (UDP, ICMP).
    NoDf,
    /// Fragmented to the link MTU, fragments in order.
    InOrder,
    /// Fragmented, last fragment first (as Linux 2.4 sent them).
    Reversed,
    /// Fragmented, but the first fragment never reaches the capture.
    LoseFirst,
}

/// What a packet counts as.
#[derive(Clone, Copy)]
pub enum Kind {
    Flow { flow: FlowId, to_server: bool },
    OtherIp,
    NonIp,
}

struct Record {
    ts: u64,
    iface: usize,
    data: Vec<u8>,
    kind: Kind,
    /// IP datagram identity; fragments of one datagram share it.
    datagram: u64,
    /// `Some(first?)` for fragments.
    fragment: Option<bool>,
    /// Where the IPv4 header is, so the IP ID can be set once the packets are in time order.
    /// In a tunnelled record, the offset is in `pending`'s IP packet.
    ipv4_at: Option<(usize, HostId)>,
    /// A tunnelled record's contents, framed in `finish`.
    pending: Option<Pending>,
}

/// Where to damage a finished file.
#[derive(Clone, Copy)]
pub enum Damage {
    None,
    /// Keep `keep` bytes of the data of the record at this packet index (0-based).
    CutInData {
        packet: usize,
        keep: usize,
    },
    /// Keep `keep` bytes of the 16-byte record header at this packet index.
    CutInHeader {
        packet: usize,
        keep: usize,
    },
}

pub struct Trace {
    pub file: &'static str,
    pub format: Format,
    pub what: String,
    pub linktypes: Vec<Linktype>,
    pub links: Vec<Link>,
    pub hosts: Vec<Host>,
    pub flows: Vec<Flow>,
    records: Vec<Record>,
    pub rng: Rng,
    next_datagram: u64,
    next_v6_frag_id: u32,
    pub damage: Damage,
    /// Whether flows may share a 5-tuple (flow reuse, idle timeout fixtures).
    pub reuse_ok: bool,
    /// Last ARP exchange per host pair, for `arp_before`.
    arp_last: BTreeMap<(HostId, HostId), u64>,
    /// Tunnel sequence numbers sent so far per (link, layer, from the A side), for GRE, PPTP
    /// and L2TP data messages.
    pub tunnel_seq: BTreeMap<(usize, usize, bool), u32>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }
}

pub struct FlowRow {
    pub transport: Transport,
    pub client: String,
    pub server: String,
    pub server_port: Option<u16>,
    pub service: &'static str,
    /// The tunnels around the flow, outermost first (`tunnels::describe`), or `-`.
    pub tunnel: String,
    /// 1-based number of the flow's first counted packet in the file.
    pub first_frame: usize,
    pub to_server: Count,
    pub to_client: Count,
}

/// A finished fixture: its bytes and what a classifier must find in it.
pub struct Built {
    pub file: &'static str,
    pub what: String,
    pub format: Format,
    pub linktypes: Vec<Linktype>,
    pub bytes: Vec<u8>,
    /// Whole packets a reader can read (before any damage).
    pub packets: usize,
    pub wire_bytes: u64,
    pub rows: Vec<FlowRow>,
    pub other_ip: Count,
    pub non_ip: Count,
    pub orphan_fragments: Count,
    pub damage: Option<String>,
    pub first_ts: u64,
    pub last_ts: u64,
}

impl Trace {
    pub fn new(file: &'static str, format: Format, seed: u64, what: impl Into<String>) -> Self {
        Self {
            file,
            format,
            what: what.into(),
            linktypes: vec![],
            links: vec![],
            hosts: vec![],
            flows: vec![],
            records: vec![],
            rng: Rng::new(seed),
            next_datagram: 0,
            next_v6_frag_id: 0x3a00_0000 | (seed as u32 & 0xffff),
            damage: Damage::None,
            reuse_ok: false,
            arp_last: BTreeMap::new(),
            tunnel_seq: BTreeMap::new(),
        }
    }

    pub fn iface(&mut self, lt: Linktype) -> usize {
        self.linktypes.push(lt);
        self.linktypes.len() - 1
    }

    pub fn link(&mut self, iface: usize, encap: Encap, local: Option<HostId>) -> LinkId {
        self.links.push(Link { iface, encap, local });
        LinkId(self.links.len() - 1)
    }

    pub fn host(&mut self, name: &'static str, mac: [u8; 6], v4: Ipv4Addr, windows: bool) -> HostId {
        // Documentation prefix 2001:db8::/32 (RFC 3849), same last octet as the IPv4 address.
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, u16::from(v4.octets()[3]));
        let ip_id = self.rng.range(0x0100, 0x7fff) as u16;
        // Windows 2000 hands out ports from 1025 up; others from the Linux default range.
        let next_port = if windows { 1025 + self.rng.range(20, 300) as u16 } else { 32768 };
        self.hosts.push(Host { name, mac, v4, v6, windows, ip_id, next_port });
        HostId(self.hosts.len() - 1)
    }

    /// A new client port on `h`: the next one for Windows, a random one otherwise.
    pub fn ephemeral(&mut self, h: HostId) -> u16 {
        if !self.hosts[h.0].windows {
            return self.rng.range(32768, 60999) as u16;
        }
        let host = &mut self.hosts[h.0];
        loop {
            let p = host.next_port;
            host.next_port = if p >= 5000 { 1025 } else { p + 1 };
            if !TABLE_PORTS_IN_EPHEMERAL_RANGE.contains(&p) {
                return p;
            }
        }
    }

    pub fn flow(
        &mut self,
        transport: Transport,
        link: LinkId,
        client: (HostId, u16),
        server: (HostId, u16),
        service: &'static str,
    ) -> FlowId {
        self.flows.push(Flow {
            transport,
            link,
            client: client.0,
            cport: client.1,
            server: server.0,
            sport: server.1,
            v6: false,
            v6_ext: false,
            service,
        });
        FlowId(self.flows.len() - 1)
    }

    pub fn flow_v6(
        &mut self,
        transport: Transport,
        link: LinkId,
        client: (HostId, u16),
        server: (HostId, u16),
        service: &'static str,
    ) -> FlowId {
        let f = self.flow(transport, link, client, server, service);
        self.flows[f.0].v6 = true;
        f
    }

    pub fn ip(&self, h: HostId, v6: bool) -> IpAddr {
        let host = &self.hosts[h.0];
        if v6 { IpAddr::V6(host.v6) } else { IpAddr::V4(host.v4) }
    }

    /// The (source, destination) hosts and IPs of a packet of `flow` in one direction.
    pub fn ends(&self, flow: FlowId, to_server: bool) -> (HostId, HostId, IpAddr, IpAddr) {
        let f = &self.flows[flow.0];
        let (s, d) = if to_server { (f.client, f.server) } else { (f.server, f.client) };
        (s, d, self.ip(s, f.v6), self.ip(d, f.v6))
    }

    /// One UDP datagram of `flow`.
    pub fn udp(&mut self, flow: FlowId, to_server: bool, at: u64, payload: &[u8], frag: Frag) {
        let (_, _, src, dst) = self.ends(flow, to_server);
        let f = &self.flows[flow.0];
        let (sp, dp) = if to_server { (f.cport, f.sport) } else { (f.sport, f.cport) };
        let d = wire::udp(src, dst, sp, dp, payload);
        self.send(flow, to_server, at, &d, frag);
    }

    /// One transport-layer packet (TCP segment, UDP datagram, ESP packet) of `flow`.
    pub fn send(&mut self, flow: FlowId, to_server: bool, at: u64, l4: &[u8], frag: Frag) {
        let (s, d, _, _) = self.ends(flow, to_server);
        let f = &self.flows[flow.0];
        let (link, v6, ext, p) = (f.link, f.v6, f.v6_ext, f.transport.proto());
        self.ip_packet(link, s, d, v6, ext, p, l4, frag, at, Kind::Flow { flow, to_server });
    }

    /// A packet that is IP but neither TCP, UDP nor ESP (ICMP here).
    pub fn other_ip(&mut self, link: LinkId, src: HostId, dst: HostId, at: u64, proto: u8, payload: &[u8]) {
        self.ip_packet(link, src, dst, false, false, proto, payload, Frag::NoDf, at, Kind::OtherIp);
    }

    /// An ARP request from `src` for `dst` and its reply, `rtt` apart.
    pub fn arp(&mut self, link: LinkId, src: HostId, dst: HostId, at: u64, rtt: u64) {
        let (a, b) = (&self.hosts[src.0], &self.hosts[dst.0]);
        let req = wire::arp(1, a.mac, a.v4, [0; 6], b.v4);
        let rep = wire::arp(2, b.mac, b.v4, a.mac, a.v4);
        let bcast = [0xff; 6];
        let (amac, bmac) = (a.mac, b.mac);
        let (f1, _) = self.frame(link, amac, bcast, &req, ethertype::ARP, src, None);
        let (f2, _) = self.frame(link, bmac, amac, &rep, ethertype::ARP, dst, Some(src));
        self.push(at, link, f1, Kind::NonIp, None, None);
        self.push(at + rtt, link, f2, Kind::NonIp, None, None);
        self.arp_last.insert(pair(src, dst), at);
    }

    /// ARP for `dst` just before `at`, unless the pair did so in the last two minutes
    /// (the Windows 2000 ARP cache keeps an unused entry for 2 minutes).
    pub fn arp_before(&mut self, link: LinkId, src: HostId, dst: HostId, at: u64) {
        if self.hosts[dst.0].mac == [0xff; 6] || self.hosts[src.0].v4.is_unspecified() {
            return;
        }
        let recent = self.arp_last.get(&pair(src, dst)).is_some_and(|&t| at < t + 120 * SEC);
        if !recent {
            let gap = self.rng.range(150, 400) * US;
            self.arp(link, src, dst, at - 2 * gap, gap);
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one place that sees every IP-level choice")]
    fn ip_packet(
        &mut self,
        link: LinkId,
        s: HostId,
        d: HostId,
        v6: bool,
        ext: bool,
        p: u8,
        l4: &[u8],
        frag: Frag,
        at: u64,
        kind: Kind,
    ) {
        let (src, dst) = (&self.hosts[s.0], &self.hosts[d.0]);
        let (smac, dmac, ttl) = (src.mac, dst.mac, if src.windows { 128 } else { 64 });
        let mtu = self.links[link.0].encap.mtu();
        let datagram = self.next_datagram;
        self.next_datagram += 1;
        // 100 Mbit/s: 80 ns per byte between back-to-back fragments.
        let gap = |len: usize| (len as u64 + 38) * 80;
        if v6 {
            let (sa, da) = (src.v6, dst.v6);
            let mut packets: Vec<Vec<u8>> = vec![];
            if matches!(frag, Frag::No | Frag::NoDf) {
                let mut body = vec![];
                let mut next = p;
                if ext {
                    // RFC 8200 4.1 order: hop-by-hop, destination options, routing, ...; we use
                    // hop-by-hop, routing, destination options (for the final destination).
                    let dopt = wire::ipv6_options_header(next, 0);
                    let rt = wire::ipv6_routing_header(proto::IPV6_OPTS, da);
                    let hbh = wire::ipv6_options_header(proto::IPV6_ROUTE, 0);
                    body.extend_from_slice(&hbh);
                    body.extend_from_slice(&rt);
                    body.extend_from_slice(&dopt);
                    next = proto::HOPOPT;
                }
                body.extend_from_slice(l4);
                let mut pkt = wire::ipv6_header(sa, da, next, ttl, body.len()).to_vec();
                pkt.extend_from_slice(&body);
                packets.push(pkt);
            } else {
                assert!(!ext, "fragmenting with extension headers is not needed");
                let id = self.next_v6_frag_id;
                self.next_v6_frag_id += 1;
                // Each fragment's data is a multiple of 8 bytes, except the last.
                let per = (mtu - 40 - 8) / 8 * 8;
                for (i, chunk) in l4.chunks(per).enumerate() {
                    let off = i * per;
                    let more = off + chunk.len() < l4.len();
                    let mut pkt = wire::ipv6_header(sa, da, proto::IPV6_FRAG, ttl, 8 + chunk.len()).to_vec();
                    pkt.extend_from_slice(&wire::ipv6_fragment_header(p, (off / 8) as u16, more, id));
                    pkt.extend_from_slice(chunk);
                    packets.push(pkt);
                }
            }
            self.push_fragments(
                link,
                smac,
                dmac,
                s,
                d,
                ethertype::IPV6,
                &packets,
                frag,
                at,
                kind,
                datagram,
                &gap,
            );
        } else {
            let (sa, da) = (src.v4, dst.v4);
            let mut packets = vec![];
            let header = |frag_off: usize, more: bool, len: usize, df: bool| wire::Ipv4Header {
                src: sa,
                dst: da,
                proto: p,
                ttl,
                id: [0, 0], // set in time order by `finish`
                dont_fragment: df,
                more_fragments: more,
                frag: (frag_off / 8) as u16,
                payload_len: len,
            };
            if matches!(frag, Frag::No | Frag::NoDf) {
                assert!(20 + l4.len() <= mtu, "{} bytes do not fit the MTU; fragment them", l4.len());
                let mut pkt = header(0, false, l4.len(), frag == Frag::No).bytes().to_vec();
                pkt.extend_from_slice(l4);
                packets.push(pkt);
            } else {
                let per = (mtu - 20) / 8 * 8;
                for (i, chunk) in l4.chunks(per).enumerate() {
                    let off = i * per;
                    let more = off + chunk.len() < l4.len();
                    let mut pkt = header(off, more, chunk.len(), false).bytes().to_vec();
                    pkt.extend_from_slice(chunk);
                    packets.push(pkt);
                }
            }
            self.push_fragments(
                link,
                smac,
                dmac,
                s,
                d,
                ethertype::IPV4,
                &packets,
                frag,
                at,
                kind,
                datagram,
                &gap,
            );
        }
    }

    #[allow(clippy::too_many_arguments, reason = "internal step of ip_packet")]
    fn push_fragments(
        &mut self,
        link: LinkId,
        smac: [u8; 6],
        dmac: [u8; 6],
        s: HostId,
        d: HostId,
        et: u16,
        packets: &[Vec<u8>],
        frag: Frag,
        at: u64,
        kind: Kind,
        datagram: u64,
        gap: &dyn Fn(usize) -> u64,
    ) {
        let fragmented = packets.len() > 1;
        assert!(
            fragmented || matches!(frag, Frag::No | Frag::NoDf),
            "asked to fragment a datagram that fits"
        );
        let mut order: Vec<usize> = (0..packets.len()).collect();
        match frag {
            Frag::Reversed => order.reverse(),
            Frag::LoseFirst => {
                order.remove(0);
            }
            _ => {}
        }
        let mut t = at;
        for i in order {
            if let Encap::Tunnel(tun) = &self.links[link.0].encap {
                let from_a = tun.a_side.contains(&s);
                let p = Pending { link, from_a, smac, dmac, payload: Payload::Ip(packets[i].clone()) };
                let ipv4_at = (et == ethertype::IPV4).then_some((0, s));
                self.push_pending(t, p, kind, Some(datagram), ipv4_at);
                if fragmented && let Some(r) = self.records.last_mut() {
                    r.fragment = Some(i == 0);
                }
                t += gap(packets[i].len());
                continue;
            }
            let (f, l2) = self.frame(link, smac, dmac, &packets[i], et, s, Some(d));
            let ipv4_at = (et == ethertype::IPV4).then_some((l2, s));
            let len = f.len();
            self.push(t, link, f, kind, Some(datagram), ipv4_at);
            if fragmented && let Some(r) = self.records.last_mut() {
                r.fragment = Some(i == 0);
            }
            t += gap(len);
        }
    }

    #[allow(clippy::too_many_arguments, reason = "every framing needs a different subset")]
    /// The frame, and the offset of the L3 packet in it.
    fn frame(
        &self,
        link: LinkId,
        smac: [u8; 6],
        dmac: [u8; 6],
        l3: &[u8],
        et: u16,
        s: HostId,
        d: Option<HostId>,
    ) -> (Vec<u8>, usize) {
        let l = &self.links[link.0];
        let v6 = et == ethertype::IPV6;
        // Linux packet type: 0 to us, 1 broadcast, 3 to someone else, 4 sent by us.
        let pkttype: u8 = if l.local == Some(s) {
            4
        } else if dmac == [0xff; 6] {
            1
        } else if l.local.is_some() && d == l.local {
            0
        } else {
            3
        };
        let mut f = Vec::with_capacity(l3.len() + 40);
        let mut at = 0;
        match &l.encap {
            Encap::Ethernet { tags, mpls, pppoe } => {
                f.extend_from_slice(&dmac);
                f.extend_from_slice(&smac);
                for &(tpid, vid) in tags {
                    f.extend_from_slice(&tpid.to_be_bytes());
                    f.extend_from_slice(&vid.to_be_bytes());
                }
                if let Some(session) = pppoe {
                    f.extend_from_slice(&ethertype::PPPOE_SESSION.to_be_bytes());
                    // RFC 2516: version 1, type 1, code 0 (session data), length of the PPP frame.
                    f.extend_from_slice(&[0x11, 0x00]);
                    f.extend_from_slice(&session.to_be_bytes());
                    f.extend_from_slice(&((l3.len() + 2) as u16).to_be_bytes());
                    // PPP protocol numbers (RFC 1332, RFC 5072): 0x0021 IPv4, 0x0057 IPv6.
                    f.extend_from_slice(if v6 { &[0x00, 0x57] } else { &[0x00, 0x21] });
                } else if !mpls.is_empty() {
                    f.extend_from_slice(&ethertype::MPLS.to_be_bytes());
                    for (i, &label) in mpls.iter().enumerate() {
                        // RFC 3032: label (20 bits), traffic class (3), bottom of stack (1), TTL (8).
                        let bos = u32::from(i + 1 == mpls.len());
                        f.extend_from_slice(&((label << 12) | (bos << 8) | 64).to_be_bytes());
                    }
                } else {
                    f.extend_from_slice(&et.to_be_bytes());
                }
                at = f.len();
                f.extend_from_slice(l3);
                // The Ethernet minimum frame is 64 bytes with FCS; capture files show 60.
                if f.len() < 60 {
                    f.resize(60, 0);
                }
            }
            Encap::Sll => {
                f.extend_from_slice(&u16::from(pkttype).to_be_bytes());
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.extend_from_slice(&6u16.to_be_bytes());
                f.extend_from_slice(&smac);
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&et.to_be_bytes());
                at = f.len();
                f.extend_from_slice(l3);
            }
            Encap::Sll2 { ifindex } => {
                f.extend_from_slice(&et.to_be_bytes());
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&ifindex.to_be_bytes());
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.push(pkttype);
                f.push(6);
                f.extend_from_slice(&smac);
                f.extend_from_slice(&[0, 0]);
                at = f.len();
                f.extend_from_slice(l3);
            }
            Encap::Null { af_inet6, big_endian } => {
                let af = if v6 { *af_inet6 } else { 2 };
                f.extend_from_slice(&if *big_endian { af.to_be_bytes() } else { af.to_le_bytes() });
                at = f.len();
                f.extend_from_slice(l3);
            }
            Encap::Loop { af_inet6 } => {
                f.extend_from_slice(&(if v6 { *af_inet6 } else { 2 }).to_be_bytes());
                at = f.len();
                f.extend_from_slice(l3);
            }
            Encap::Raw => f.extend_from_slice(l3),
            Encap::Tunnel(_) => unreachable!("tunnelled packets are framed in finish"),
        }
        (f, at)
    }

    fn push(
        &mut self,
        ts: u64,
        link: LinkId,
        data: Vec<u8>,
        kind: Kind,
        datagram: Option<u64>,
        ipv4_at: Option<(usize, HostId)>,
    ) {
        // A µs file cannot hold finer times; keeping them would only make sorting lie.
        let ts = match self.format {
            Format::Pcap { nanos: true, .. } | Format::Pcapng { nanos: true } => ts,
            _ => ts / US * US,
        };
        let iface = self.links[link.0].iface;
        let datagram = datagram.unwrap_or(u64::MAX);
        self.records.push(Record { ts, iface, data, kind, datagram, fragment: None, ipv4_at, pending: None });
    }

    /// A record whose frame `finish` makes through the tunnel link `p.link`.
    fn push_pending(
        &mut self,
        ts: u64,
        p: Pending,
        kind: Kind,
        datagram: Option<u64>,
        ipv4_at: Option<(usize, HostId)>,
    ) {
        let link = p.link;
        self.push(ts, link, vec![], kind, datagram, ipv4_at);
        if let Some(r) = self.records.last_mut() {
            r.pending = Some(p);
        }
    }

    /// Something a tunnel carries that is not an IP packet of a flow (PPP control, a PPTP
    /// acknowledgement), sent through tunnel link `link` from the `from_a` side and counted
    /// under `kind`.
    pub fn tunnel_send(&mut self, link: LinkId, from_a: bool, at: u64, payload: Payload, kind: Kind) {
        let p = Pending { link, from_a, smac: [0; 6], dmac: [0; 6], payload };
        self.push_pending(at, p, kind, None, None);
    }

    /// A whole IP packet made by the caller (the version nibble says which), framed on `link`
    /// from `s` to `d` and counted under `kind`; an IPv4 header gets its ID in `finish`.
    pub fn raw_ip(&mut self, link: LinkId, s: HostId, d: HostId, at: u64, l3: &[u8], kind: Kind) {
        let v4 = l3[0] >> 4 == 4;
        let et = if v4 { ethertype::IPV4 } else { ethertype::IPV6 };
        let (smac, dmac) = (self.hosts[s.0].mac, self.hosts[d.0].mac);
        let (f, l2) = self.frame(link, smac, dmac, l3, et, s, Some(d));
        // A datagram of its own, so that `finish` gives it an IP ID of its own.
        let datagram = self.next_datagram;
        self.next_datagram += 1;
        self.push(at, link, f, kind, Some(datagram), v4.then_some((l2, s)));
    }

    /// Puts the packets in time order, numbers the IP IDs, writes the file and counts.
    pub fn finish(mut self) -> Built {
        self.check_tuples();
        // Stable: packets with the same time stay in the order they were made.
        self.records.sort_by_key(|r| r.ts);
        let mut ids: BTreeMap<u64, [u8; 2]> = BTreeMap::new();
        let mut records = std::mem::take(&mut self.records);
        for r in &mut records {
            if let Some((at, h)) = r.ipv4_at {
                let id = *ids.entry(r.datagram).or_insert_with(|| self.next_ip_id(h));
                let bytes = match &mut r.pending {
                    Some(Pending { payload: Payload::Ip(l3), .. }) => l3,
                    _ => &mut r.data,
                };
                bytes[at + 4..at + 6].copy_from_slice(&id);
                wire::set_ipv4_checksum(&mut bytes[at..at + 20]);
            }
            // The inner packet is final now; the tunnel headers around it come in time order.
            if let Some(p) = r.pending.take() {
                r.data = crate::tunnels::frame(&mut self, &p);
            }
        }
        self.records = records;
        let packets: Vec<pcap::Packet<'_>> = self
            .records
            .iter()
            .map(|r| pcap::Packet { ts_ns: r.ts, iface: r.iface, data: &r.data })
            .collect();
        let (mut bytes, offsets) = pcap::write(self.format, &self.linktypes, &packets);
        let (whole, damage) = match self.damage {
            Damage::None => (self.records.len(), None),
            Damage::CutInData { packet, keep } => {
                let len = self.records[packet].data.len();
                assert!(keep < len);
                bytes.truncate(offsets[packet] + 16 + keep);
                (
                    packet,
                    Some(format!("file ends {keep} bytes into the {len}-byte data of record {}", packet + 1)),
                )
            }
            Damage::CutInHeader { packet, keep } => {
                assert!(keep < 16);
                bytes.truncate(offsets[packet] + keep);
                (
                    packet,
                    Some(format!("file ends {keep} bytes into the 16-byte header of record {}", packet + 1)),
                )
            }
        };
        self.count(bytes, whole, damage)
    }

    /// The next IP ID of host `h`, as its stack would put it on the wire.
    pub fn next_ip_id(&mut self, h: HostId) -> [u8; 2] {
        let host = &mut self.hosts[h.0];
        host.ip_id = host.ip_id.wrapping_add(1);
        // Windows before XP kept the counter in host byte order, so on the wire it goes up by
        // 256 per packet.
        if host.windows { host.ip_id.to_le_bytes() } else { host.ip_id.to_be_bytes() }
    }

    fn count(&self, bytes: Vec<u8>, whole: usize, damage: Option<String>) -> Built {
        let mut per_flow: BTreeMap<FlowId, FlowRow> = BTreeMap::new();
        let (mut other_ip, mut non_ip, mut orphan) = (Count::default(), Count::default(), Count::default());
        let mut firsts_seen = BTreeSet::new();
        let mut wire_bytes = 0;
        for (i, r) in self.records[..whole].iter().enumerate() {
            let len = r.data.len();
            wire_bytes += len as u64;
            match r.kind {
                Kind::OtherIp => other_ip.add(len),
                Kind::NonIp => non_ip.add(len),
                Kind::Flow { flow, to_server } => {
                    match r.fragment {
                        Some(true) => {
                            firsts_seen.insert(r.datagram);
                        }
                        Some(false) if !firsts_seen.contains(&r.datagram) => {
                            orphan.add(len);
                            continue;
                        }
                        _ => {}
                    }
                    let row = per_flow.entry(flow).or_insert_with(|| self.row(flow, i + 1));
                    if to_server {
                        row.to_server.add(len);
                    } else {
                        row.to_client.add(len);
                    }
                }
            }
        }
        let mut rows: Vec<FlowRow> = per_flow.into_values().collect();
        rows.sort_by_key(|r| r.first_frame);
        let recs = &self.records[..whole];
        Built {
            file: self.file,
            what: self.what.clone(),
            format: self.format,
            linktypes: self.linktypes.clone(),
            bytes,
            packets: whole,
            wire_bytes,
            rows,
            other_ip,
            non_ip,
            orphan_fragments: orphan,
            damage,
            first_ts: recs.first().map_or(0, |r| r.ts),
            last_ts: recs.last().map_or(0, |r| r.ts),
        }
    }

    fn row(&self, flow: FlowId, first_frame: usize) -> FlowRow {
        let f = &self.flows[flow.0];
        let ep = |h: HostId, port: u16| {
            let mut s = String::new();
            match (self.ip(h, f.v6), f.transport) {
                (ip, Transport::Esp | Transport::Gre) => write!(s, "{ip}"),
                (IpAddr::V4(ip), _) => write!(s, "{ip}:{port}"),
                (IpAddr::V6(ip), _) => write!(s, "[{ip}]:{port}"),
            }
            .ok();
            s
        };
        FlowRow {
            transport: f.transport,
            client: ep(f.client, f.cport),
            server: ep(f.server, f.sport),
            server_port: (!matches!(f.transport, Transport::Esp | Transport::Gre)).then_some(f.sport),
            service: f.service,
            tunnel: crate::tunnels::describe(self, f.link, f.client),
            first_frame,
            to_server: Count::default(),
            to_client: Count::default(),
        }
    }

    /// Two flows on one 5-tuple would be one flow to a classifier; only fixtures that mean it
    /// (`reuse_ok`) may do that.
    fn check_tuples(&self) {
        if self.reuse_ok {
            return;
        }
        let mut seen = BTreeMap::new();
        for (i, f) in self.flows.iter().enumerate() {
            let a = (self.ip(f.client, f.v6), f.cport);
            let b = (self.ip(f.server, f.v6), f.sport);
            let key = (f.transport, a.min(b), a.max(b));
            if let Some(j) = seen.insert(key, i) {
                panic!("{}: flows {j} and {i} share the 5-tuple {key:?}", self.file);
            }
        }
    }
}

fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    (a.min(b), a.max(b))
}
