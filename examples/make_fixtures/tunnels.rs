//! Tunnel fixtures (issue 17): Windows 2000 services inside GRE (RFC 2784/2890), PPTP's
//! enhanced GRE (RFC 2637), IP in IP (RFC 2003, RFC 4213, RFC 2473), VXLAN (RFC 7348), Teredo
//! (RFC 4380), L2TPv2 (RFC 2661) and IPsec NAT traversal (RFC 3948), plus a nest deeper than
//! flowtag opens and inner headers cut short.
//!
//! A tunnel is a link (`Encap::Tunnel`): the flows on it are the inner conversations, made by
//! the same builders as every other fixture (SMB, Kerberos, DNS, LDAP), and `frame` wraps each
//! inner packet in its tunnel headers when `Trace::finish` writes it, in time order, so that
//! sequence numbers count up and every outer length and checksum covers the final inner bytes.
//! What a tunnel carries that is not an inner flow's packet (PPP control, a PPTP
//! acknowledgement, L2TP control messages, IKE) is counted under the carrier: a `gre` flow
//! between the outer addresses, or the outer UDP flow.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::apps::{self, rr};
use crate::kerberos as krb;
use crate::pcap::{Format, Linktype};
use crate::sessions::smb_short;
use crate::tcp::{CLIENT, Tcp};
use crate::trace::{Built, Encap, Frag, HostId, Kind, LinkId, MS, SEC, T0, Trace, Transport, US};
use crate::wire::{self, ethertype, proto};

/// The tunnels around the packets of one link, outermost first.
#[derive(Clone)]
pub struct Tunnel {
    pub layers: Vec<Layer>,
    /// The inner hosts on the A side: their packets go from each layer's `a` to its `b`.
    pub a_side: Vec<HostId>,
}

/// One tunnel between two hosts (routers, VTEPs, the PPTP or L2TP ends), over IPv4 or IPv6.
#[derive(Clone, Copy)]
pub struct Layer {
    pub a: HostId,
    pub b: HostId,
    pub v6: bool,
    pub kind: LayerKind,
}

#[derive(Clone, Copy)]
pub enum LayerKind {
    /// RFC 2784 GRE, with RFC 2890's key and sequence number when asked for.
    Gre { key: Option<u32>, seq: bool },
    /// RFC 2637 §4.1 enhanced GRE: the key's low half is the receiver's call id (`call_a` is
    /// the one the A side assigned, which the B side's packets carry).
    Pptp { call_a: u16, call_b: u16 },
    /// Protocol 4 or 41, no header between (RFC 2003, RFC 4213 §3, RFC 2473).
    IpIp,
    /// RFC 7348 §5: UDP to 4789, an 8-byte header with the I flag, the inner Ethernet frame.
    Vxlan { vni: u32 },
    /// RFC 4380: IPv6 in UDP; the A side is the client's NAT on `port_a`, B the server's 3544.
    Teredo { port_a: u16 },
    /// RFC 2661 §3.1 data messages on UDP 1701, PPP inside; `[A's id, B's id]`: a message
    /// carries the receiver's tunnel and session ids.
    L2tp { tunnel: [u16; 2], session: [u16; 2] },
}

impl Layer {
    /// Bytes this tunnel adds in front of the inner IP packet.
    pub fn overhead(&self) -> usize {
        let ip = if self.v6 { 40 } else { 20 };
        ip + match self.kind {
            LayerKind::Gre { key, seq } => 4 + 4 * usize::from(key.is_some()) + 4 * usize::from(seq),
            LayerKind::Pptp { .. } => 16 + 4,
            LayerKind::IpIp => 0,
            LayerKind::Vxlan { .. } => 8 + 8 + 14,
            LayerKind::Teredo { .. } => 8,
            LayerKind::L2tp { .. } => 8 + 12 + 4,
        }
    }

    fn name(&self) -> &'static str {
        // As flowtag's `tunnel::Kind::as_str` names them.
        match self.kind {
            LayerKind::Gre { .. } => "gre",
            LayerKind::Pptp { .. } => "pptp",
            LayerKind::IpIp => "ipip",
            LayerKind::Vxlan { .. } => "vxlan",
            LayerKind::Teredo { .. } => "teredo",
            LayerKind::L2tp { .. } => "l2tp",
        }
    }
}

/// What the innermost tunnel carries.
#[derive(Clone)]
pub enum Payload {
    /// An IP packet (its version nibble says which).
    Ip(Vec<u8>),
    /// A PPP frame of another protocol (LCP 0xc021), in PPTP or L2TP.
    Ppp(u16, Vec<u8>),
    /// A PPTP acknowledgement with no payload (RFC 2637 §4.4).
    PptpAck,
}

/// A tunnelled record waiting for `finish` to frame it.
pub struct Pending {
    pub link: LinkId,
    pub from_a: bool,
    /// The inner hosts' MACs, for the Ethernet frame inside VXLAN.
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
    pub payload: Payload,
}

/// PPP protocol numbers (RFC 1332, RFC 5072, RFC 1661).
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_LCP: u16 = 0xc021;

fn is_v4(pkt: &[u8]) -> bool {
    pkt[0] >> 4 == 4
}

/// The whole frame of a tunnelled record: the payload wrapped innermost layer first, then
/// Ethernet between the outermost layer's two ends.
pub fn frame(tr: &mut Trace, p: &Pending) -> Vec<u8> {
    let Encap::Tunnel(t) = &tr.links[p.link.0].encap else { unreachable!("not a tunnel link") };
    let layers = t.layers.clone();
    let mut inner = p.payload.clone();
    for (i, l) in layers.iter().enumerate().rev() {
        let (s, d) = if p.from_a { (l.a, l.b) } else { (l.b, l.a) };
        let (sip, dip) = (tr.ip(s, l.v6), tr.ip(d, l.v6));
        let seq_key = (p.link.0, i, p.from_a);
        let (proto, body) = match l.kind {
            LayerKind::Gre { key, seq } => {
                let Payload::Ip(pkt) = &inner else { panic!("GRE here carries IP") };
                // RFC 2890 §2: K = bit 2, S = bit 3; version 0.
                let mut h = vec![if key.is_some() { 0x20 } else { 0 } | if seq { 0x10 } else { 0 }, 0];
                let et = if is_v4(pkt) { ethertype::IPV4 } else { ethertype::IPV6 };
                h.extend_from_slice(&et.to_be_bytes());
                if let Some(k) = key {
                    h.extend_from_slice(&k.to_be_bytes());
                }
                if seq {
                    let n = next_seq(tr, seq_key);
                    h.extend_from_slice(&n.to_be_bytes());
                }
                h.extend_from_slice(pkt);
                (proto::GRE, h)
            }
            LayerKind::Pptp { call_a, call_b } => {
                let call = if p.from_a { call_b } else { call_a };
                let ppp = ppp_frame(&inner, p.from_a);
                // The peer's last sequence number, acknowledged on every packet once there is
                // one (RFC 2637 §4.4 lets an ack ride on data).
                let ack = tr.tunnel_seq.get(&(p.link.0, i, !p.from_a)).map(|n| n - 1);
                let mut h = vec![
                    0x20 | if ppp.is_some() { 0x10 } else { 0 },
                    0x01 | if ack.is_some() { 0x80 } else { 0 },
                ];
                h.extend_from_slice(&0x880bu16.to_be_bytes());
                h.extend_from_slice(&(ppp.as_ref().map_or(0, Vec::len) as u16).to_be_bytes());
                h.extend_from_slice(&call.to_be_bytes());
                if ppp.is_some() {
                    let n = next_seq(tr, seq_key);
                    h.extend_from_slice(&n.to_be_bytes());
                }
                if let Some(a) = ack {
                    h.extend_from_slice(&a.to_be_bytes());
                }
                h.extend_from_slice(&ppp.unwrap_or_default());
                (proto::GRE, h)
            }
            LayerKind::IpIp => {
                let Payload::Ip(pkt) = &inner else { panic!("IP in IP carries IP") };
                (if is_v4(pkt) { proto::IPV4 } else { proto::IPV6 }, pkt.clone())
            }
            LayerKind::Vxlan { vni } => {
                let Payload::Ip(pkt) = &inner else { panic!("VXLAN here carries IP") };
                let et = if is_v4(pkt) { ethertype::IPV4 } else { ethertype::IPV6 };
                let mut eth = p.dmac.to_vec();
                eth.extend_from_slice(&p.smac);
                eth.extend_from_slice(&et.to_be_bytes());
                // RFC 7348 §5: the source port SHOULD be a hash of the inner headers, in
                // 49152-65535, so one inner flow direction keeps one port.
                let sport = 49152 + (inner_hash(&eth, pkt) % 16384) as u16;
                let mut v = vec![0x08, 0, 0, 0];
                v.extend_from_slice(&(vni << 8).to_be_bytes());
                v.extend_from_slice(&eth);
                v.extend_from_slice(pkt);
                (proto::UDP, udp_no_checksum(sport, 4789, &v))
            }
            LayerKind::Teredo { port_a } => {
                let Payload::Ip(pkt) = &inner else { panic!("Teredo carries IPv6") };
                let (sp, dp) = if p.from_a { (port_a, 3544) } else { (3544, port_a) };
                (proto::UDP, wire::udp(sip, dip, sp, dp, pkt))
            }
            LayerKind::L2tp { tunnel, session } => {
                let (tid, sid) = if p.from_a { (tunnel[1], session[1]) } else { (tunnel[0], session[0]) };
                let Some(ppp) = ppp_frame(&inner, true) else { panic!("L2TP data carries PPP") };
                // The A side (the LAC) sends length and sequence numbers (L and S, RFC 2661
                // §3.1); the LNS sends neither, as the RFC lets either end choose.
                let long = p.from_a;
                let mut h = vec![if long { 0x48 } else { 0x00 }, 0x02];
                let len = 6 + if long { 2 + 4 } else { 0 } + ppp.len();
                if long {
                    h.extend_from_slice(&(len as u16).to_be_bytes());
                }
                h.extend_from_slice(&tid.to_be_bytes());
                h.extend_from_slice(&sid.to_be_bytes());
                if long {
                    let ns = next_seq(tr, seq_key) as u16;
                    let nr = tr.tunnel_seq.get(&(p.link.0, i, !p.from_a)).copied().unwrap_or(0) as u16;
                    h.extend_from_slice(&ns.to_be_bytes());
                    h.extend_from_slice(&nr.to_be_bytes());
                }
                h.extend_from_slice(&ppp);
                (proto::UDP, wire::udp(sip, dip, 1701, 1701, &h))
            }
        };
        inner = Payload::Ip(ip_packet(tr, s, d, l.v6, proto, &body));
    }
    let Payload::Ip(pkt) = inner else { unreachable!() };
    let outer = layers[0];
    let (s, d) = if p.from_a { (outer.a, outer.b) } else { (outer.b, outer.a) };
    let et = if outer.v6 { ethertype::IPV6 } else { ethertype::IPV4 };
    ethernet(tr.hosts[s.0].mac, tr.hosts[d.0].mac, et, &pkt)
}

fn next_seq(tr: &mut Trace, key: (usize, usize, bool)) -> u32 {
    let n = tr.tunnel_seq.entry(key).or_insert(0);
    let v = *n;
    *n += 1;
    v
}

/// The PPP frame of a payload, `None` for a bare acknowledgement. From the A side with address
/// and control (ff 03), from the B side without them, as address-and-control-field compression
/// (RFC 1661 §6.6) negotiated in that direction drops them.
fn ppp_frame(p: &Payload, with_ac: bool) -> Option<Vec<u8>> {
    let (proto, data) = match p {
        Payload::Ip(pkt) => (if is_v4(pkt) { PPP_IPV4 } else { PPP_IPV6 }, pkt.as_slice()),
        Payload::Ppp(proto, data) => (*proto, data.as_slice()),
        Payload::PptpAck => return None,
    };
    let mut f = if with_ac { vec![0xff, 0x03] } else { vec![] };
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(data);
    Some(f)
}

/// FNV-1a (Fowler, Noll, Vo) over the inner Ethernet header, IP addresses and the first four
/// bytes after the IP header (the ports): the "hash of fields from the inner packet".
fn inner_hash(eth: &[u8], pkt: &[u8]) -> u32 {
    let (addrs, l4) = if is_v4(pkt) { (&pkt[12..20], &pkt[20..24]) } else { (&pkt[8..40], &pkt[40..44]) };
    let mut h: u32 = 0x811c_9dc5;
    for &b in eth.iter().chain(addrs).chain(l4) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// RFC 7348 §5: over IPv4 the VXLAN UDP checksum SHOULD be zero (none).
fn udp_no_checksum(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = sport.to_be_bytes().to_vec();
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// An outer IP packet from `s` to `d`, the IPv4 ID from `s`'s counter (the packet is made in
/// time order, in `finish`).
fn ip_packet(tr: &mut Trace, s: HostId, d: HostId, v6: bool, proto: u8, body: &[u8]) -> Vec<u8> {
    let ttl = if tr.hosts[s.0].windows { 128 } else { 255 };
    let mut pkt = if v6 {
        wire::ipv6_header(tr.hosts[s.0].v6, tr.hosts[d.0].v6, proto, ttl, body.len()).to_vec()
    } else {
        let id = tr.next_ip_id(s);
        wire::Ipv4Header {
            src: tr.hosts[s.0].v4,
            dst: tr.hosts[d.0].v4,
            proto,
            ttl,
            id,
            dont_fragment: false,
            more_fragments: false,
            frag: 0,
            payload_len: body.len(),
        }
        .bytes()
        .to_vec()
    };
    pkt.extend_from_slice(body);
    pkt
}

fn ethernet(smac: [u8; 6], dmac: [u8; 6], et: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = dmac.to_vec();
    f.extend_from_slice(&smac);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(l3);
    // The Ethernet minimum frame is 64 bytes with FCS; capture files show 60.
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// The `tunnel` column of expected.tsv for a flow on `link` whose client is `client`: each
/// layer, outermost first, as `kind a>b` (a: the outer address on the client's side) with
/// ` key=K` (GRE key) or ` vni=V`, joined by `; `; `-` when the link is not a tunnel.
pub fn describe(tr: &Trace, link: LinkId, client: HostId) -> String {
    let Encap::Tunnel(t) = &tr.links[link.0].encap else { return "-".to_string() };
    let from_a = t.a_side.contains(&client);
    let mut out = Vec::new();
    for l in &t.layers {
        let (x, y) = if from_a { (l.a, l.b) } else { (l.b, l.a) };
        let mut s = format!("{} {}>{}", l.name(), tr.ip(x, l.v6), tr.ip(y, l.v6));
        match l.kind {
            LayerKind::Gre { key: Some(k), .. } => write!(s, " key={k}").ok(),
            LayerKind::Vxlan { vni } => write!(s, " vni={vni}").ok(),
            _ => None,
        };
        out.push(s);
    }
    out.join("; ")
}

// ---- The fixtures ----

const ROUTER1_MAC: [u8; 6] = [0x00, 0x1b, 0x54, 0xaa, 0x00, 0x01];
const ROUTER2_MAC: [u8; 6] = [0x00, 0x1b, 0x54, 0xbb, 0x00, 0x01];

/// A trace on Ethernet: the capture sits on the link between two tunnel ends.
fn trace(file: &'static str, seed: u64, what: &str) -> (Trace, usize) {
    let mut tr = Trace::new(file, Format::PCAP, seed, what);
    let i = tr.iface(Linktype::ETHERNET);
    (tr, i)
}

/// Two routers on documentation addresses (RFC 5737), the ends of GRE and IP-in-IP tunnels.
fn routers(tr: &mut Trace) -> (HostId, HostId) {
    let a = tr.host("R1", ROUTER1_MAC, Ipv4Addr::new(192, 0, 2, 1), false);
    let b = tr.host("R2", ROUTER2_MAC, Ipv4Addr::new(198, 51, 100, 1), false);
    (a, b)
}

fn ws01(tr: &mut Trace) -> HostId {
    tr.host("WS01", crate::small::WS01_MAC, Ipv4Addr::new(192, 168, 1, 101), true)
}

fn fs01(tr: &mut Trace) -> HostId {
    tr.host("FS01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x11], Ipv4Addr::new(192, 168, 1, 11), true)
}

fn gre(a: HostId, b: HostId, key: Option<u32>, seq: bool) -> Layer {
    Layer { a, b, v6: false, kind: LayerKind::Gre { key, seq } }
}

fn tunnel_link(tr: &mut Trace, iface: usize, layers: Vec<Layer>, a_side: Vec<HostId>) -> LinkId {
    tr.link(iface, Encap::Tunnel(Tunnel { layers, a_side }), None)
}

/// An AS-REQ and its AS-REP on a UDP 88 flow.
fn as_exchange(tr: &mut Trace, f: crate::trace::FlowId, at: u64, user: &str) {
    let req = krb::as_req(&mut tr.rng, user, "WS01", true);
    tr.udp(f, true, at, &req, Frag::NoDf);
    let rep = krb::kdc_rep(&mut tr.rng, false, user, &["krbtgt", krb::REALM], 900);
    tr.udp(f, false, at + 2 * MS, &rep, Frag::NoDf);
}

pub fn gre_445() -> Built {
    let what = "GRE (RFC 2784: no key, no sequence number, no checksum) between two routers, R1 192.0.2.1 and R2 198.51.100.1, carrying IPv4: a short SMB session on TCP 445 from WS01 to FS01 inside; the flow is the inner one, CIFS";
    let (mut tr, i) = trace("gre-445.pcap", 60, what);
    let (r1, r2) = routers(&mut tr);
    let (c, s) = (ws01(&mut tr), fs01(&mut tr));
    let l = tunnel_link(&mut tr, i, vec![gre(r1, r2, None, false)], vec![c]);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, l, (c, cp), (s, 445), "CIFS");
    smb_short(&mut tr, f, T0 + SEC / 10, 400 * US);
    tr.finish()
}

pub fn gre_key_88() -> Built {
    let what = "two GRE tunnels between the same two routers (R1 192.0.2.1, R2 198.51.100.1) told apart by their keys, 100 and 200 (RFC 2890 §2.1); the tunnel with key 200 also numbers its packets (sequence numbers 0 and 1 each way, RFC 2890 §2.2). Each carries the same inner 5-tuple, 10.0.0.5:1050 to 10.0.0.9:88, a Kerberos AS-REQ and AS-REP over UDP (two sites with the same private addresses): two inner flows, one per key";
    let (mut tr, i) = trace("gre-key-88.pcap", 61, what);
    let (r1, r2) = routers(&mut tr);
    let c = tr.host("WS05", [0x00, 0x06, 0x5b, 0x1a, 0x2b, 0x05], Ipv4Addr::new(10, 0, 0, 5), true);
    let kdc = tr.host("DC09", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x09], Ipv4Addr::new(10, 0, 0, 9), true);
    tr.reuse_ok = true;
    for (n, (key, seq)) in [(100, false), (200, true)].into_iter().enumerate() {
        let l = tunnel_link(&mut tr, i, vec![gre(r1, r2, Some(key), seq)], vec![c]);
        let f = tr.flow(Transport::Udp, l, (c, 1050), (kdc, 88), "Kerberos");
        as_exchange(&mut tr, f, T0 + SEC / 10 + 50 * MS * n as u64, if n == 0 { "alice" } else { "bob" });
    }
    tr.finish()
}

/// A PPTP control message (RFC 2637 §2.1-§2.8): length, message type 1, the magic cookie,
/// the control message type, reserved, then `body`.
fn pptp_control(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut m = ((12 + body.len()) as u16).to_be_bytes().to_vec();
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&0x1a2b_3c4du32.to_be_bytes());
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(body);
    m
}

fn fixed(s: &str, n: usize) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(n, 0);
    v
}

/// Start-Control-Connection-Request (1) or -Reply (2), 156 bytes (RFC 2637 §2.1, §2.2).
fn pptp_sccr(reply: bool, host: &str) -> Vec<u8> {
    let mut b = 0x0100u16.to_be_bytes().to_vec(); // protocol version 1.0
    // Reply: result code 1 (successful channel establishment), error 0; request: reserved.
    b.extend_from_slice(if reply { &[1, 0] } else { &[0, 0] });
    b.extend_from_slice(&1u32.to_be_bytes()); // framing: asynchronous
    b.extend_from_slice(&1u32.to_be_bytes()); // bearer: analog
    b.extend_from_slice(&0u16.to_be_bytes()); // maximum channels (0 from a PNS)
    b.extend_from_slice(&0x0893u16.to_be_bytes()); // firmware revision (Windows 2000: build 2195)
    b.extend_from_slice(&fixed(host, 64));
    b.extend_from_slice(&fixed("Microsoft Windows NT", 64));
    pptp_control(if reply { 2 } else { 1 }, &b)
}

/// Outgoing-Call-Request (7), 168 bytes (RFC 2637 §2.7).
fn pptp_ocrq(call_id: u16, serial: u16) -> Vec<u8> {
    let mut b = call_id.to_be_bytes().to_vec();
    b.extend_from_slice(&serial.to_be_bytes());
    b.extend_from_slice(&300u32.to_be_bytes()); // minimum BPS
    b.extend_from_slice(&100_000_000u32.to_be_bytes()); // maximum BPS
    b.extend_from_slice(&3u32.to_be_bytes()); // bearer type: either
    b.extend_from_slice(&3u32.to_be_bytes()); // framing type: either
    b.extend_from_slice(&64u16.to_be_bytes()); // packet receive window
    b.extend_from_slice(&0u16.to_be_bytes()); // packet processing delay
    b.extend_from_slice(&0u16.to_be_bytes()); // phone number length
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&[0; 128]); // phone number, subaddress
    pptp_control(7, &b)
}

/// Outgoing-Call-Reply (8), 32 bytes (RFC 2637 §2.8): connected.
fn pptp_ocrp(call_id: u16, peer_call_id: u16) -> Vec<u8> {
    let mut b = call_id.to_be_bytes().to_vec();
    b.extend_from_slice(&peer_call_id.to_be_bytes());
    b.extend_from_slice(&[1, 0]); // result 1: connected; error 0
    b.extend_from_slice(&0u16.to_be_bytes()); // cause code
    b.extend_from_slice(&100_000_000u32.to_be_bytes()); // connect speed
    b.extend_from_slice(&64u16.to_be_bytes()); // packet receive window
    b.extend_from_slice(&0u16.to_be_bytes()); // packet processing delay
    b.extend_from_slice(&0u32.to_be_bytes()); // physical channel id
    pptp_control(8, &b)
}

/// LCP Echo-Request (9) or Echo-Reply (10) with a magic number (RFC 1661 §5.8).
fn lcp_echo(reply: bool, id: u8, magic: u32) -> Vec<u8> {
    let mut m = vec![if reply { 10 } else { 9 }, id, 0, 8];
    m.extend_from_slice(&magic.to_be_bytes());
    m
}

pub fn pptp_445() -> Built {
    let what = "PPTP (RFC 2637): WS01, dialled in from 203.0.113.50, opens the control connection to the VPN server RAS01 198.51.100.20 on TCP 1723 (Start-Control-Connection-Request and -Reply, Outgoing-Call-Request with call id 0x8001 and -Reply with call id 3, FIN both ways); then enhanced GRE (version 1, key = payload length + the receiver's call id, sequence and acknowledgement numbers) carries PPP: LCP Echo-Request and Echo-Reply (PPP control, 0xc021), and IPv4 (0x0021; with the ff 03 address and control bytes from WS01, without them from RAS01) holding a short SMB session on TCP 445 from WS01's VPN address 192.168.1.200 to FS01; RAS01's last packet is an acknowledgement alone (no payload). The SMB flow is CIFS; the control connection is TCP 1723, which no table row names (unknown); the GRE packets that carry no IP (LCP, the bare acknowledgement) count in a `gre` flow between the outer addresses";
    let (mut tr, i) = trace("pptp-445.pcap", 62, what);
    let wan = tr.host("WS01-WAN", crate::small::WS01_MAC, Ipv4Addr::new(203, 0, 113, 50), true);
    let ras = tr.host("RAS01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x20], Ipv4Addr::new(198, 51, 100, 20), true);
    let vpn = tr.host("WS01-VPN", crate::small::WS01_MAC, Ipv4Addr::new(192, 168, 1, 200), true);
    let s = fs01(&mut tr);
    let plain = tr.link(i, Encap::ethernet(), None);
    let (call_pns, call_pac) = (0x8001, 3);
    let l = tunnel_link(
        &mut tr,
        i,
        vec![Layer {
            a: wan,
            b: ras,
            v6: false,
            kind: LayerKind::Pptp { call_a: call_pns, call_b: call_pac },
        }],
        vec![vpn],
    );
    let cp = tr.ephemeral(wan);
    let ctl = tr.flow(Transport::Tcp, plain, (wan, cp), (ras, 1723), "unknown");
    let carrier = tr.flow(Transport::Gre, plain, (wan, 0), (ras, 0), "unknown");
    let mut c = Tcp::connect(&mut tr, ctl, T0 + SEC / 10, 30 * MS);
    c.exchange(&mut tr, &pptp_sccr(false, ""), MS, &pptp_sccr(true, "RAS01"));
    c.exchange(&mut tr, &pptp_ocrq(call_pns, 1), 2 * MS, &pptp_ocrp(call_pac, call_pns));
    let mut t = c.t + 5 * MS;
    let k = |to_server| Kind::Flow { flow: carrier, to_server };
    tr.tunnel_send(l, true, t, Payload::Ppp(PPP_LCP, lcp_echo(false, 1, 0x5e4d_3c2b)), k(true));
    t += 30 * MS;
    tr.tunnel_send(l, false, t, Payload::Ppp(PPP_LCP, lcp_echo(true, 1, 0x1a2b_3c4d)), k(false));
    t += 20 * MS;
    let cp = tr.ephemeral(vpn);
    let f = tr.flow(Transport::Tcp, l, (vpn, cp), (s, 445), "CIFS");
    let smb = smb_short(&mut tr, f, t, 30 * MS);
    tr.tunnel_send(l, false, smb.t + 100 * MS, Payload::PptpAck, k(false));
    c.t = smb.t + 200 * MS;
    c.close(&mut tr, CLIENT);
    tr.finish()
}

/// A short LDAP session on TCP 389: SASL bind with Kerberos, one search, unbind, FIN.
fn ldap_session(tr: &mut Trace, f: crate::trace::FlowId, t: u64) {
    let mut c = Tcp::connect(tr, f, t, 500 * US);
    let creds = krb::spnego_init(&mut tr.rng, &["ldap", "dc01.corp.example.com"], 1000);
    let accept = krb::spnego_accept(&mut tr.rng);
    c.exchange(tr, &apps::ldap_bind_sasl(1, &creds), 5 * MS, &apps::ldap_bind_done(1, &accept));
    let base = "DC=corp,DC=example,DC=com";
    let filter = apps::filter_eq("sAMAccountName", b"alice");
    let dn = "CN=alice,CN=Users,DC=corp,DC=example,DC=com";
    let mut resp = apps::ldap_entry(2, dn, &[("distinguishedName", vec![dn.as_bytes().to_vec()])]);
    resp.extend_from_slice(&apps::ldap_done(2));
    c.exchange(tr, &apps::ldap_search(2, base, 2, &filter, &["distinguishedName"]), 3 * MS, &resp);
    c.send(tr, CLIENT, &apps::ldap_unbind(3));
    c.wait(tr, 50 * MS);
    c.close(tr, CLIENT);
}

pub fn ipip_4in4_389() -> Built {
    let what = "IPv4 in IPv4 (IP protocol 4, RFC 2003) between R1 192.0.2.1 and R2 198.51.100.1: WS01 binds to DC01's LDAP on TCP 389 (SASL, Kerberos), searches for a user and unbinds; the flow is the inner one, LDAP";
    let (mut tr, i) = trace("ipip-4in4-389.pcap", 63, what);
    let (r1, r2) = routers(&mut tr);
    let c = ws01(&mut tr);
    let dc = crate::small::dc01(&mut tr);
    let l = tunnel_link(&mut tr, i, vec![Layer { a: r1, b: r2, v6: false, kind: LayerKind::IpIp }], vec![c]);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, l, (c, cp), (dc, 389), "LDAP");
    ldap_session(&mut tr, f, T0 + SEC / 10);
    tr.finish()
}

pub fn ipip_6in4_445() -> Built {
    let what = "IPv6 in IPv4 (IP protocol 41, a configured tunnel as RFC 4213 §3 describes) between R1 192.0.2.1 and R2 198.51.100.1: a short SMB session on TCP 445 over IPv6 from WS01 [2001:db8:0:1::65] to FS01 [2001:db8:0:1::b]; the flow is the inner one, CIFS";
    let (mut tr, i) = trace("ipip-6in4-445.pcap", 64, what);
    let (r1, r2) = routers(&mut tr);
    let (c, s) = (ws01(&mut tr), fs01(&mut tr));
    let l = tunnel_link(&mut tr, i, vec![Layer { a: r1, b: r2, v6: false, kind: LayerKind::IpIp }], vec![c]);
    let cp = tr.ephemeral(c);
    let f = tr.flow_v6(Transport::Tcp, l, (c, cp), (s, 445), "CIFS");
    smb_short(&mut tr, f, T0 + SEC / 10, 400 * US);
    tr.finish()
}

pub fn ipip_4in6_88() -> Built {
    let what = "IPv4 in IPv6 (next header 4, RFC 2473) between R1 [2001:db8:0:a::1] and R2 [2001:db8:0:b::1]: a Kerberos AS-REQ and AS-REP over UDP 88 from WS01 192.168.1.101 to DC01 192.168.1.10 inside; the flow is the inner one, Kerberos";
    let (mut tr, i) = trace("ipip-4in6-88.pcap", 65, what);
    let (r1, r2) = routers(&mut tr);
    // Distinct IPv6 addresses for the two routers (the default takes the last IPv4 octet).
    tr.hosts[r1.0].v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0xa, 0, 0, 0, 1);
    tr.hosts[r2.0].v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0xb, 0, 0, 0, 1);
    let c = ws01(&mut tr);
    let dc = crate::small::dc01(&mut tr);
    let l = tunnel_link(&mut tr, i, vec![Layer { a: r1, b: r2, v6: true, kind: LayerKind::IpIp }], vec![c]);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Udp, l, (c, cp), (dc, 88), "Kerberos");
    as_exchange(&mut tr, f, T0 + SEC / 10, "alice");
    tr.finish()
}

/// Two VXLAN tunnel endpoints on the underlay.
fn vteps(tr: &mut Trace) -> (HostId, HostId) {
    let a = tr.host("VTEP1", [0x00, 0x1c, 0x73, 0x00, 0x00, 0x01], Ipv4Addr::new(172, 16, 0, 1), false);
    let b = tr.host("VTEP2", [0x00, 0x1c, 0x73, 0x00, 0x00, 0x02], Ipv4Addr::new(172, 16, 0, 2), false);
    (a, b)
}

pub fn vxlan_vni_53() -> Built {
    let what = "VXLAN (RFC 7348, UDP 4789, I flag) between VTEP1 172.16.0.1 and VTEP2 172.16.0.2 in two segments, VNI 5001 and VNI 5002, whose tenants use the same addresses: in each, 10.0.0.5:1050 asks the DNS server 10.0.0.53:53 for a name (query and answer, inner Ethernet and IPv4). The outer source port is a hash of the inner headers (RFC 7348 §5), so it differs by direction but not by segment (the inner headers are the same): the outer IP and UDP headers of the two segments are the same and only the VNI tells the flows apart; the outer UDP checksum is zero, as §5 recommends over IPv4. Two inner flows with the same 5-tuple, one per VNI, both DNS";
    let (mut tr, i) = trace("vxlan-vni-53.pcap", 66, what);
    let (v1, v2) = vteps(&mut tr);
    let c = tr.host("VM05", [0x02, 0x00, 0x0a, 0x00, 0x00, 0x05], Ipv4Addr::new(10, 0, 0, 5), true);
    let dns = tr.host("VM53", [0x02, 0x00, 0x0a, 0x00, 0x00, 0x35], Ipv4Addr::new(10, 0, 0, 53), true);
    tr.reuse_ok = true;
    for (n, (vni, name)) in
        [(5001, "fs01.corp.example.com"), (5002, "web01.shop.example.com")].into_iter().enumerate()
    {
        let l = tunnel_link(
            &mut tr,
            i,
            vec![Layer { a: v1, b: v2, v6: false, kind: LayerKind::Vxlan { vni } }],
            vec![c],
        );
        let f = tr.flow(Transport::Udp, l, (c, 1050), (dns, 53), "DNS");
        let at = T0 + SEC / 10 + 20 * MS * n as u64;
        let id = 0x4100 + n as u16;
        tr.udp(f, true, at, &apps::dns(id, false, name, rr::A, &[]), Frag::NoDf);
        let ans = [apps::rr_a(&apps::QNAME, 600, Ipv4Addr::new(10, 0, 0, 11 + n as u8))];
        tr.udp(f, false, at + 600 * US, &apps::dns(id, true, name, rr::A, &ans), Frag::NoDf);
    }
    tr.finish()
}

/// RFC 4380 §5.1.1 authentication indicator with no client id and no authentication value:
/// 00 01, id-len 0, au-len 0, the nonce, confirmation 0.
fn teredo_auth(nonce: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(nonce);
    v.push(0);
    v
}

/// An ICMPv6 message in an IPv6 packet, checksum filled in (RFC 4443 §2.3).
fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    let sum = wire::l4_checksum(IpAddr::V6(src), IpAddr::V6(dst), proto::ICMPV6, &m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut p = wire::ipv6_header(src, dst, proto::ICMPV6, 255, m.len()).to_vec();
    p.extend_from_slice(&m);
    p
}

pub fn teredo_53() -> Built {
    let what = "Teredo (RFC 4380): WS01, behind a NAT whose public side is 203.0.113.5, qualifies with the Teredo server 198.51.100.7: a router solicitation (from fe80::8000:ffff:ffff:fffd to ff02::2) with an authentication indicator, from the NAT's port 40000 to UDP 3544, and the router advertisement back with the authentication indicator and the origin indication (the client's mapped port and address, obfuscated) and the Teredo prefix 2001:0:c633:6407::/64; then WS01, at its Teredo address 2001:0:c633:6407:8000:63bf:34ff:8efa, asks DC01's DNS [2001:db8:0:1::a] port 53 for a name, over IPv6 UDP through the 3544 port (query and answer). The solicitation and advertisement are ICMPv6 inside the tunnel (other IP); the DNS flow is the inner one";
    let (mut tr, i) = trace("teredo-53.pcap", 67, what);
    let nat = tr.host("NAT01", [0x00, 0x0d, 0x88, 0x00, 0x00, 0x05], Ipv4Addr::new(203, 0, 113, 5), false);
    let srv = tr.host("TEREDO", [0x00, 0x1b, 0x54, 0xcc, 0x00, 0x07], Ipv4Addr::new(198, 51, 100, 7), false);
    let c = ws01(&mut tr);
    let dc = crate::small::dc01(&mut tr);
    let port_a = 40000u16;
    // 2001:0000 : server IPv4 : flags (cone, 0x8000) : port ^ 0xffff : mapped IPv4 ^ all ones.
    let mapped = u32::from(tr.hosts[nat.0].v4);
    let server = u32::from(tr.hosts[srv.0].v4);
    let teredo = Ipv6Addr::new(
        0x2001,
        0,
        (server >> 16) as u16,
        server as u16,
        0x8000,
        !port_a,
        (!mapped >> 16) as u16,
        !mapped as u16,
    );
    tr.hosts[c.0].v6 = teredo;
    let plain = tr.link(i, Encap::ethernet(), None);
    let l = tunnel_link(
        &mut tr,
        i,
        vec![Layer { a: nat, b: srv, v6: false, kind: LayerKind::Teredo { port_a } }],
        vec![c],
    );
    // Qualification (RFC 4380 §5.2.1): RS from the cone link-local address, RA back.
    let nonce = tr.rng.bytes(8);
    let client_ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x8000, 0xffff, 0xffff, 0xfffd);
    let server_ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x8000, 0xf227, 0xbec4, 0x22f8);
    let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
    let mut rs = teredo_auth(&nonce);
    rs.extend_from_slice(&icmpv6(client_ll, all_routers, &[133, 0, 0, 0, 0, 0, 0, 0]));
    let (nat_ip, srv_ip) = (tr.ip(nat, false), tr.ip(srv, false));
    let udp = wire::udp(nat_ip, srv_ip, port_a, 3544, &rs);
    let ip = outer_v4(&tr, nat, srv, proto::UDP, &udp);
    tr.raw_ip(plain, nat, srv, T0 + SEC / 10, &ip, Kind::OtherIp);
    let mut ra_msg = vec![134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // Prefix information (RFC 4861 §4.6.2): the Teredo prefix, /64.
    ra_msg.extend_from_slice(&[3, 4, 64, 0]);
    ra_msg.extend_from_slice(&[0xff; 8]); // valid and preferred lifetime: infinity
    ra_msg.extend_from_slice(&[0; 4]);
    ra_msg.extend_from_slice(
        &Ipv6Addr::new(0x2001, 0, (server >> 16) as u16, server as u16, 0, 0, 0, 0).octets(),
    );
    let mut ra = teredo_auth(&nonce);
    // Origin indication (§5.1.1): 00 00, the mapped port and address, each bit inverted.
    ra.extend_from_slice(&[0, 0]);
    ra.extend_from_slice(&(!port_a).to_be_bytes());
    ra.extend_from_slice(&(!mapped).to_be_bytes());
    ra.extend_from_slice(&icmpv6(server_ll, client_ll, &ra_msg));
    let udp = wire::udp(srv_ip, nat_ip, 3544, port_a, &ra);
    let ip = outer_v4(&tr, srv, nat, proto::UDP, &udp);
    tr.raw_ip(plain, srv, nat, T0 + SEC / 10 + 40 * MS, &ip, Kind::OtherIp);
    let cp = tr.ephemeral(c);
    let f = tr.flow_v6(Transport::Udp, l, (c, cp), (dc, 53), "DNS");
    let at = T0 + SEC / 10 + 200 * MS;
    let q = "dc01.corp.example.com";
    tr.udp(f, true, at, &apps::dns(0x7e01, false, q, rr::AAAA, &[]), Frag::NoDf);
    let ans = [apps::rr_aaaa(&apps::QNAME, 1200, Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 10))];
    tr.udp(f, false, at + 60 * MS, &apps::dns(0x7e01, true, q, rr::AAAA, &ans), Frag::NoDf);
    tr.finish()
}

/// An IPv4 packet made here; its ID is set by `finish` (`Trace::raw_ip`).
fn outer_v4(tr: &Trace, s: HostId, d: HostId, proto: u8, body: &[u8]) -> Vec<u8> {
    let mut p = wire::Ipv4Header {
        src: tr.hosts[s.0].v4,
        dst: tr.hosts[d.0].v4,
        proto,
        ttl: if tr.hosts[s.0].windows { 128 } else { 64 },
        id: [0, 0],
        dont_fragment: false,
        more_fragments: false,
        frag: 0,
        payload_len: body.len(),
    }
    .bytes()
    .to_vec();
    p.extend_from_slice(body);
    p
}

/// An L2TP attribute-value pair (RFC 2661 §4.1), mandatory bit set, vendor 0 (IETF).
fn avp(attr: u16, value: &[u8]) -> Vec<u8> {
    let mut v = (0x8000 | (6 + value.len()) as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&attr.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// An L2TP control message (RFC 2661 §3.1: T, L and S set, version 2) with its AVPs; a
/// zero-length body is a ZLB acknowledgement (§5.8).
fn l2tp_control(tunnel: u16, ns: u16, nr: u16, avps: &[Vec<u8>]) -> Vec<u8> {
    let body = avps.concat();
    let mut m = vec![0xc8, 0x02];
    m.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&tunnel.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&ns.to_be_bytes());
    m.extend_from_slice(&nr.to_be_bytes());
    m.extend_from_slice(&body);
    m
}

pub fn l2tp_445() -> Built {
    let what = "L2TPv2 on UDP 1701 (RFC 2661) between WS01, dialled in from 203.0.113.60, and the VPN server RAS01 198.51.100.20 (1701 on both sides): control messages (T bit) SCCRQ with assigned tunnel id 7, SCCRP with id 12, SCCCN and a ZLB acknowledgement, then data messages carrying PPP (ff 03, protocol 0x0021) with IPv4 inside: a short SMB session on TCP 445 from WS01's VPN address 192.168.1.201 to FS01. WS01's data messages carry the length and sequence fields (L and S bits), RAS01's do not. The control messages count in the UDP 1701 flow between the outer addresses (L2TP); the SMB flow is the inner one, CIFS";
    let (mut tr, i) = trace("l2tp-445.pcap", 68, what);
    let wan = tr.host("WS01-WAN", crate::small::WS01_MAC, Ipv4Addr::new(203, 0, 113, 60), true);
    let ras = tr.host("RAS01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x20], Ipv4Addr::new(198, 51, 100, 20), true);
    let vpn = tr.host("WS01-VPN", crate::small::WS01_MAC, Ipv4Addr::new(192, 168, 1, 201), true);
    let s = fs01(&mut tr);
    let plain = tr.link(i, Encap::ethernet(), None);
    let (tid_a, tid_b, sid_a, sid_b) = (7, 12, 1, 2);
    let l = tunnel_link(
        &mut tr,
        i,
        vec![Layer {
            a: wan,
            b: ras,
            v6: false,
            kind: LayerKind::L2tp { tunnel: [tid_a, tid_b], session: [sid_a, sid_b] },
        }],
        vec![vpn],
    );
    let ctl = tr.flow(Transport::Udp, plain, (wan, 1701), (ras, 1701), "L2TP");
    let mut t = T0 + SEC / 10;
    let sccrq = l2tp_control(
        0,
        0,
        0,
        &[
            avp(0, &1u16.to_be_bytes()),
            avp(2, &[1, 0]),
            avp(3, &3u32.to_be_bytes()),
            avp(7, b"ws01"),
            avp(9, &tid_a.to_be_bytes()),
        ],
    );
    tr.udp(ctl, true, t, &sccrq, Frag::NoDf);
    t += 30 * MS;
    let sccrp = l2tp_control(
        tid_a,
        0,
        1,
        &[
            avp(0, &2u16.to_be_bytes()),
            avp(2, &[1, 0]),
            avp(3, &3u32.to_be_bytes()),
            avp(7, b"RAS01"),
            avp(9, &tid_b.to_be_bytes()),
        ],
    );
    tr.udp(ctl, false, t, &sccrp, Frag::NoDf);
    t += 30 * MS;
    tr.udp(ctl, true, t, &l2tp_control(tid_b, 1, 1, &[avp(0, &3u16.to_be_bytes())]), Frag::NoDf);
    t += 30 * MS;
    tr.udp(ctl, false, t, &l2tp_control(tid_a, 1, 2, &[]), Frag::NoDf);
    t += 50 * MS;
    let cp = tr.ephemeral(vpn);
    let f = tr.flow(Transport::Tcp, l, (vpn, cp), (s, 445), "CIFS");
    smb_short(&mut tr, f, t, 30 * MS);
    tr.finish()
}

/// An ISAKMP header (RFC 2408 §3.1) and `body`: version 1.0.
fn isakmp(
    icookie: &[u8],
    rcookie: &[u8],
    next: u8,
    exchange: u8,
    flags: u8,
    msgid: u32,
    body: &[u8],
) -> Vec<u8> {
    let mut m = icookie.to_vec();
    m.extend_from_slice(rcookie);
    m.extend_from_slice(&[next, 0x10, exchange, flags]);
    m.extend_from_slice(&msgid.to_be_bytes());
    m.extend_from_slice(&((28 + body.len()) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A generic payload header (RFC 2408 §3.2) around `body`.
fn payload(next: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![next, 0];
    p.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// Main mode message 1 or 2: an SA payload with one proposal of one transform (3DES, SHA,
/// pre-shared key, group 2; RFC 2409 appendix A), then the vendor id of RFC 3947 (NAT-T).
fn main_mode_sa(icookie: &[u8], rcookie: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = [(1u16, 5u16), (2, 2), (3, 1), (4, 2)]
        .iter()
        .flat_map(|&(t, v)| [(0x8000 | t).to_be_bytes(), v.to_be_bytes()].concat())
        .collect();
    // Transform: last (0), number 1, KEY_IKE (1), reserved, attributes.
    let transform = payload(0, &[&[1, 1, 0, 0][..], &attrs].concat());
    // Proposal: number 1, protocol ISAKMP (1), SPI size 0, one transform.
    let proposal = payload(0, &[&[1, 1, 0, 1][..], &transform].concat());
    // SA: DOI 1 (IPsec), situation 1 (identity only); next payload 13 (vendor id).
    let sa = payload(13, &[&1u32.to_be_bytes()[..], &1u32.to_be_bytes(), &proposal].concat());
    let vid = payload(
        0,
        &[0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f],
    );
    isakmp(icookie, rcookie, 1, 2, 0, 0, &[sa, vid].concat())
}

pub fn nat_t_4500() -> Built {
    let what = "IPsec NAT traversal (RFC 3947, RFC 3948): WS01 behind a NAT (public address 203.0.113.7) and the VPN gateway GW01 198.51.100.30. IKE main mode messages 1 and 2 on UDP 500 (SA proposal and the NAT-T vendor id), then IKE on UDP 4500 behind the non-ESP marker (four zero bytes): main mode 5 and 6 and quick mode 1-3, encrypted; a NAT-keepalive (one 0xff byte, RFC 3948 §2.3); then ESP in UDP both ways on the same 4500 port pair (SPIs 0x7a3c1e05 and 0x2b9d4c11, sequence numbers from 1, encrypted payload). The IKE flows on 500 and 4500 are IKE; the ESP packets are a flow of their own, written as `esp` with the UDP endpoints, ESP";
    let (mut tr, i) = trace("nat-t-4500.pcap", 69, what);
    let nat = tr.host("NAT01", [0x00, 0x0d, 0x88, 0x00, 0x00, 0x07], Ipv4Addr::new(203, 0, 113, 7), false);
    let gw = tr.host("GW01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x30], Ipv4Addr::new(198, 51, 100, 30), true);
    let plain = tr.link(i, Encap::ethernet(), None);
    let ike500 = tr.flow(Transport::Udp, plain, (nat, 500), (gw, 500), "IKE");
    let ike4500 = tr.flow(Transport::Udp, plain, (nat, 4500), (gw, 4500), "IKE");
    let esp = tr.flow(Transport::EspInUdp, plain, (nat, 4500), (gw, 4500), "ESP");
    let (ic, rc) = (tr.rng.bytes(8), tr.rng.bytes(8));
    let mut t = T0 + SEC / 10;
    let rtt = 20 * MS;
    tr.udp(ike500, true, t, &main_mode_sa(&ic, &[0; 8]), Frag::NoDf);
    tr.udp(ike500, false, t + rtt, &main_mode_sa(&ic, &rc), Frag::NoDf);
    t += 2 * rtt + 5 * MS;
    // (Messages 3 and 4, KE and nonce with NAT-D, are not in the capture: it is short.)
    let non_esp = |m: Vec<u8>| [vec![0, 0, 0, 0], m].concat();
    let msgid = tr.rng.next_u64() as u32;
    for (n, (exchange, id, len)) in
        [(2u8, 0u32, 68usize), (2, 0, 68), (32, msgid, 292), (32, msgid, 284), (32, msgid, 28)]
            .into_iter()
            .enumerate()
    {
        // Encrypted (flag E): identification and hash in main mode (next payload 5, ID),
        // hash first in quick mode (8).
        let next = if exchange == 2 { 5 } else { 8 };
        let body = tr.rng.bytes(len);
        let m = non_esp(isakmp(&ic, &rc, next, exchange, 0x01, id, &body));
        tr.udp(ike4500, n % 2 == 0, t, &m, Frag::NoDf);
        t += rtt;
    }
    tr.udp(ike4500, true, t, &[0xff], Frag::NoDf);
    t += 100 * MS;
    let (spi_out, spi_in) = (0x7a3c_1e05, 0x2b9d_4c11);
    for n in 1..=4u32 {
        let m = apps::esp(&mut tr.rng, spi_out, n, 60 + 40 * n as usize);
        tr.udp(esp, true, t, &m, Frag::NoDf);
        let m = apps::esp(&mut tr.rng, spi_in, n, 100 + 60 * n as usize);
        tr.udp(esp, false, t + rtt, &m, Frag::NoDf);
        t += 2 * rtt + 10 * MS;
    }
    tr.finish()
}

pub fn vxlan_in_gre_445() -> Built {
    let what = "VXLAN inside GRE: R1 192.0.2.1 and R2 198.51.100.1 carry, in plain GRE, the underlay between VTEP1 172.16.0.1 and VTEP2 172.16.0.2, whose VXLAN (UDP 4789, VNI 7000) carries Ethernet and IPv4: a short SMB session on TCP 445 from WS01 to FS01. Two tunnels deep; the flow is the innermost one, CIFS";
    let (mut tr, i) = trace("vxlan-in-gre-445.pcap", 70, what);
    let (r1, r2) = routers(&mut tr);
    let (v1, v2) = vteps(&mut tr);
    let (c, s) = (ws01(&mut tr), fs01(&mut tr));
    let layers = vec![
        gre(r1, r2, None, false),
        Layer { a: v1, b: v2, v6: false, kind: LayerKind::Vxlan { vni: 7000 } },
    ];
    let l = tunnel_link(&mut tr, i, layers, vec![c]);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, l, (c, cp), (s, 445), "CIFS");
    smb_short(&mut tr, f, T0 + SEC / 10, 400 * US);
    tr.finish()
}

/// A plain GRE header (RFC 2784) for IPv4, then `inner`.
fn gre_ipv4(inner: &[u8]) -> Vec<u8> {
    [&[0, 0, 0x08, 0x00][..], inner].concat()
}

/// An IPv4 packet built here with a fixed ID (it is inside a payload `finish` does not see).
fn inner_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16, ttl: u8, body: &[u8]) -> Vec<u8> {
    let h = wire::Ipv4Header {
        src,
        dst,
        proto,
        ttl,
        id: id.to_be_bytes(),
        dont_fragment: false,
        more_fragments: false,
        frag: 0,
        payload_len: body.len(),
    };
    [&h.bytes()[..], body].concat()
}

pub fn tunnel_too_deep_88() -> Built {
    let what = "a nest one deeper than flowtag opens: plain GRE five deep (GRE in IPv4 in GRE ..., five pairs of routers, the outermost R1 192.0.2.1 and R2 198.51.100.1, then 10.1.1.1-10.1.1.2, 10.2.2.1-10.2.2.2, 10.3.3.1-10.3.3.2 and 10.4.4.1-10.4.4.2) around a Kerberos AS-REQ over UDP 88 from 10.0.0.5 to 10.0.0.9, and its AS-REP back. flowtag opens four levels; the fifth GRE header, between 10.4.4.1 and 10.4.4.2, is not opened, so both packets count in that `gre` flow (inside four tunnels), not in a Kerberos flow";
    let (mut tr, i) = trace("tunnel-too-deep-88.pcap", 71, what);
    let (r1, r2) = routers(&mut tr);
    let mut layers = vec![gre(r1, r2, None, false)];
    let mut ends = vec![];
    for n in 1..=4u8 {
        let mac = |side: u8| [0x00, 0x1b, 0x54, 0x10 + n, 0x00, side];
        let a = tr.host("RA", mac(1), Ipv4Addr::new(10, n, n, 1), false);
        let b = tr.host("RB", mac(2), Ipv4Addr::new(10, n, n, 2), false);
        ends.push((a, b));
    }
    for &(a, b) in &ends[..3] {
        layers.push(gre(a, b, None, false));
    }
    let (a4, b4) = ends[3];
    let l = tunnel_link(&mut tr, i, layers, vec![a4]);
    let carrier = tr.flow(Transport::Gre, l, (a4, 0), (b4, 0), "unknown");
    let (ws, kdc) = (Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 9));
    let req = krb::as_req(&mut tr.rng, "alice", "WS05", true);
    let udp = wire::udp(IpAddr::V4(ws), IpAddr::V4(kdc), 1050, 88, &req);
    tr.send(
        carrier,
        true,
        T0 + SEC / 10,
        &gre_ipv4(&inner_v4(ws, kdc, proto::UDP, 0x3a12, 128, &udp)),
        Frag::NoDf,
    );
    let rep = krb::kdc_rep(&mut tr.rng, false, "alice", &["krbtgt", krb::REALM], 700);
    let udp = wire::udp(IpAddr::V4(kdc), IpAddr::V4(ws), 88, 1050, &rep);
    let at = T0 + SEC / 10 + 3 * MS;
    tr.send(carrier, false, at, &gre_ipv4(&inner_v4(kdc, ws, proto::UDP, 0x5c01, 128, &udp)), Frag::NoDf);
    tr.finish()
}

pub fn tunnel_inner_truncated_445() -> Built {
    let what = "inner headers cut short inside whole GRE packets between R1 192.0.2.1 and R2 198.51.100.1: a short SMB session on TCP 445 from WS01 to FS01 in GRE, and in the middle of it two GRE packets from R1 whose payload is cut: one holds only the first 12 bytes of an IPv4 header (no addresses), the other a whole IPv4 header (total length 28) and only 8 bytes of a TCP header. The outer packets are well formed; the two cut ones count in the `gre` flow between the outer addresses (tshark calls them malformed), the SMB session is CIFS";
    let (mut tr, i) = trace("tunnel-inner-truncated-445.pcap", 72, what);
    let (r1, r2) = routers(&mut tr);
    let (c, s) = (ws01(&mut tr), fs01(&mut tr));
    let plain = tr.link(i, Encap::ethernet(), None);
    let l = tunnel_link(&mut tr, i, vec![gre(r1, r2, None, false)], vec![c]);
    let carrier = tr.flow(Transport::Gre, plain, (r1, 0), (r2, 0), "unknown");
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, l, (c, cp), (s, 445), "CIFS");
    let t = T0 + SEC / 10;
    smb_short(&mut tr, f, t, 400 * US);
    let (cv4, sv4) = (tr.hosts[c.0].v4, tr.hosts[s.0].v4);
    let h = wire::TcpHeader {
        sport: cp,
        dport: 445,
        seq: 0x1000,
        ack: 0x2000,
        flags: wire::tcpflag::ACK,
        window: 17_520,
        options: vec![],
    };
    let seg = wire::tcp(IpAddr::V4(cv4), IpAddr::V4(sv4), &h, &[]);
    let whole = inner_v4(cv4, sv4, proto::TCP, 0x4101, 128, &seg);
    tr.send(carrier, true, t + 3 * MS + 100 * US, &gre_ipv4(&whole[..12]), Frag::NoDf);
    let cut = inner_v4(cv4, sv4, proto::TCP, 0x4201, 128, &seg[..8]);
    tr.send(carrier, true, t + 4 * MS + 100 * US, &gre_ipv4(&cut), Frag::NoDf);
    tr.finish()
}

pub fn all() -> Vec<Built> {
    vec![
        gre_445(),
        gre_key_88(),
        pptp_445(),
        ipip_4in4_389(),
        ipip_6in4_445(),
        ipip_4in6_88(),
        vxlan_vni_53(),
        teredo_53(),
        l2tp_445(),
        nat_t_4500(),
        vxlan_in_gre_445(),
        tunnel_too_deep_88(),
        tunnel_inner_truncated_445(),
    ]
}
