//! Tunnel: one tunnel header recognised, and the bytes it carries handed back.
//!
//! What I own: stateless parsers of the tunnel headers flowtag looks through, one header at a
//! time — GRE (RFC 2784/2890) and PPTP's enhanced GRE (RFC 2637) with the PPP frame inside,
//! IP in IP (protocols 4 and 41) after an IP header ([`over_ip`]); VXLAN (RFC 7348), Teredo
//! (RFC 4380), L2TPv2 data messages (RFC 2661) and IPsec NAT traversal (RFC 3948) after a UDP
//! header, by port ([`over_udp`]). Each hands back the tunnel's identity ([`Tunnel`]: its kind
//! and its key, VNI or call id) and the inner bytes ([`Inner`]), a sub-slice of its input that
//! runs to the input's end: the inner IP header's own lengths say where the inner packet stops,
//! and checking them is the caller's decode, as for an outer packet. Also the record of the
//! tunnels one packet came through ([`Chain`], one [`Level`] a tunnel, outermost first), which
//! `decode` fills as it follows them, and what went wrong on the way ([`Problem`]).
//!
//! What I must not do: follow nesting (`decode` does, to [`MAX_DEPTH`], by calling again on
//! the inner bytes), keep state, allocate, panic, read past the slice, or decide by anything but
//! the bytes and the carrier's protocol or ports. On a tunnel port a header that is not that
//! protocol's is `None` (plain UDP, counted as today); [`Bad`] is only for a header that is the
//! protocol's but cut short or of a kind not supported.

use crate::decode::{Addr, PPP_IPV4, PPP_IPV6};

/// IP protocol numbers that carry a tunnel (IANA protocol numbers registry).
pub const PROTO_IPV4: u8 = 4;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_GRE: u8 = 47;

/// UDP ports of the tunnels recognised by port, as tshark's default dissector table has them.
/// RFC 7348 §5: VXLAN's IANA port.
pub const VXLAN_PORT: u16 = 4789;
/// RFC 4380 §5.2.1: the Teredo server's port.
pub const TEREDO_PORT: u16 = 3544;
/// RFC 2661 §8.1: L2TP over UDP, port 1701.
pub const L2TP_PORT: u16 = 1701;
/// RFC 3948 §2: IKE and ESP share UDP 4500 once a NAT is detected (RFC 7296 §2.23).
pub const NAT_T_PORT: u16 = 4500;

/// GRE protocol types (EtherTypes): RFC 2784 §2.4 takes them from the EtherType registry;
/// 0x6558 is Transparent Ethernet Bridging (RFC 1701 §3.3), as ERSPAN-less mirror sessions and
/// NVGRE (RFC 7637) carry whole frames; 0x880B is PPP, PPTP's only one (RFC 2637 §4.1).
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_TEB: u16 = 0x6558;
const ETHERTYPE_PPP: u16 = 0x880B;

/// Which tunnel a header belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Kind {
    Gre,
    /// PPTP's enhanced GRE (GRE version 1).
    Pptp,
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (4in4, 6in4, 4in6, 6in6).
    IpInIp,
    Vxlan,
    Teredo,
    L2tp,
    /// ESP inside UDP 4500.
    NatT,
}

impl Kind {
    /// The kind's name in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gre => "gre",
            Kind::Pptp => "pptp",
            Kind::IpInIp => "ipip",
            Kind::Vxlan => "vxlan",
            Kind::Teredo => "teredo",
            Kind::L2tp => "l2tp",
            Kind::NatT => "nat_t",
        }
    }

    /// The UDP port the kind is recognised on, for a tunnel over UDP.
    #[must_use]
    pub fn udp_port(self) -> Option<u16> {
        match self {
            Kind::Vxlan => Some(VXLAN_PORT),
            Kind::Teredo => Some(TEREDO_PORT),
            Kind::L2tp => Some(L2TP_PORT),
            Kind::NatT => Some(NAT_T_PORT),
            Kind::Gre | Kind::Pptp | Kind::IpInIp => None,
        }
    }
}

/// A tunnel's identity as its header gives it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Tunnel {
    pub kind: Kind,
    /// What tells two tunnels between the same endpoints apart: the GRE key (RFC 2890 §2.1),
    /// the VXLAN VNI, the PPTP call id (the key's low half), L2TP's `tunnel id << 16 |
    /// session id`. `None` where the header has none.
    pub key: Option<u32>,
}

impl Tunnel {
    /// The key both directions carry: the GRE key or VXLAN VNI; not PPTP's call id nor L2TP's
    /// tunnel and session ids, which name the receiving end's (RFC 2637 §4.1, RFC 2661 §3.1).
    #[must_use]
    pub fn shared_key(self) -> Option<u32> {
        match self.kind {
            Kind::Pptp | Kind::L2tp => None,
            _ => self.key,
        }
    }
}

/// What a tunnel header carries; every slice runs from after the header to the input's end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Inner<'a> {
    /// A whole Ethernet frame (GRE 0x6558, VXLAN).
    Ethernet(&'a [u8]),
    /// An IPv4 packet, as the header's protocol field says (its version is not checked here).
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// An ESP packet from its SPI on (NAT-T): encrypted, nothing more to see.
    Esp(&'a [u8]),
    /// The tunnel's own payload is not IP: another GRE protocol type, a PPP control or
    /// compressed frame (MPPE), a PPTP acknowledgement with no payload.
    NotIp,
}

/// A header that is the tunnel's but cannot be looked through.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Bad {
    /// Fewer bytes than the GRE header's flags call for.
    GreTruncated,
    /// GRE version 2..=7 (RFC 2784 §2.3.1: only 0; 1 is PPTP).
    GreVersion,
    /// The routing-present bit of RFC 1701, which RFC 2784 §2.5.1 says to discard.
    GreRouting,
    /// Strict-source-route or recursion bits set (RFC 2784 §2.5.1: bits 4 and 5 must be 0).
    GreReserved,
    /// A GRE version 1 header that is not PPTP's (RFC 2637 §4.1: protocol 0x880B, key set,
    /// checksum, routing, recursion and flags clear).
    PptpHeader,
    /// Fewer bytes than the PPTP header's flags call for.
    PptpTruncated,
    /// A PPP frame in PPTP or L2TP cut before its protocol field ends.
    PppTruncated,
    /// A VXLAN header of fewer than 8 bytes.
    VxlanTruncated,
    /// Teredo indicators or the IPv6 header after them cut short.
    TeredoTruncated,
    /// An L2TP data header cut short, or its offset padding running past the packet.
    L2tpTruncated,
    /// An L2TP length field smaller than the header it is part of.
    L2tpLength,
}

impl Bad {
    pub const ALL: [Bad; 11] = [
        Bad::GreTruncated,
        Bad::GreVersion,
        Bad::GreRouting,
        Bad::GreReserved,
        Bad::PptpHeader,
        Bad::PptpTruncated,
        Bad::PppTruncated,
        Bad::VxlanTruncated,
        Bad::TeredoTruncated,
        Bad::L2tpTruncated,
        Bad::L2tpLength,
    ];

    /// The reason's name in reports (like `decode::Skip::as_str`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Bad::GreTruncated => "gre_truncated",
            Bad::GreVersion => "gre_version",
            Bad::GreRouting => "gre_routing",
            Bad::GreReserved => "gre_reserved",
            Bad::PptpHeader => "pptp_bad_header",
            Bad::PptpTruncated => "pptp_truncated",
            Bad::PppTruncated => "ppp_truncated",
            Bad::VxlanTruncated => "vxlan_truncated",
            Bad::TeredoTruncated => "teredo_truncated",
            Bad::L2tpTruncated => "l2tp_truncated",
            Bad::L2tpLength => "l2tp_bad_length",
        }
    }

    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Tunnels one packet is followed through, nested; a packet inside more is counted under the
/// innermost of these, tagged `tunnel_too_deep`.
pub const MAX_DEPTH: usize = 4;

/// One tunnel a packet came through: the tunnel and the IP header (and UDP ports) carrying it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Level {
    pub tunnel: Tunnel,
    /// The carrying IP header's addresses, as the packet has them.
    pub src: Addr,
    pub dst: Addr,
    /// The carrying UDP header's ports (0 for a tunnel right over IP).
    pub src_port: u16,
    pub dst_port: u16,
    /// The carrying IP header's protocol: 17 (UDP), 47 (GRE), 4 or 41 (IP in IP).
    pub proto: u8,
}

impl Level {
    /// The tunnel as both directions see it: its kind and key, and its ends in order (lower
    /// address first), with the ports that tell its contexts apart. VXLAN's source port is
    /// left out: each end picks it from a hash of the inner headers (RFC 7348 §5), so the two
    /// directions of one inner flow differ there. Teredo, L2TP and NAT-T keep theirs: behind a
    /// NAT, the port is what tells two clients of one address apart. PPTP's call id and L2TP's
    /// tunnel and session ids are left out too: each end names the other's (RFC 2637 §4.1,
    /// RFC 2661 §3.1), so they differ by direction; the outer addresses tell the tunnels apart.
    #[must_use]
    pub fn canonical(&self) -> Self {
        let (sp, dp) = if self.tunnel.kind == Kind::Vxlan { (0, 0) } else { (self.src_port, self.dst_port) };
        let tunnel = Tunnel { kind: self.tunnel.kind, key: self.tunnel.shared_key() };
        let (src, src_port, dst, dst_port) = if (self.src, sp) <= (self.dst, dp) {
            (self.src, sp, self.dst, dp)
        } else {
            (self.dst, dp, self.src, sp)
        };
        Self { tunnel, src, dst, src_port, dst_port, proto: self.proto }
    }

    /// The other direction's view: ends swapped.
    #[must_use]
    pub fn reversed(&self) -> Self {
        Self { src: self.dst, dst: self.src, src_port: self.dst_port, dst_port: self.src_port, ..*self }
    }
}

/// What stopped a packet's tunnels from being followed further: it is counted under the
/// last header that could be read (the carrier), tagged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Problem {
    /// A tunnel header that is the tunnel's but cannot be looked through.
    Bad(Bad),
    /// The packet inside is malformed: the reason decoding it gave.
    Inner(crate::decode::Skip),
    /// More than [`MAX_DEPTH`] tunnels.
    TooDeep,
}

impl Problem {
    /// The name in reports: the header's reason, `inner_` and the decoding one, or
    /// `too_deep`.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            Problem::Bad(b) => b.as_str().to_owned(),
            Problem::Inner(s) => format!("inner_{}", s.as_str()),
            Problem::TooDeep => "too_deep".to_owned(),
        }
    }
}

/// The tunnels one packet came through, outermost first, and what stopped the way in.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Chain {
    levels: [Option<Level>; MAX_DEPTH],
    depth: u8,
    /// A tunnel or a problem was written: one byte for the per-packet test.
    touched: bool,
    problem: Option<Problem>,
    /// The outermost IP header was the first fragment of a datagram (its identification):
    /// the datagram's later fragments carry no tunnel header and belong to the inner flow.
    pub outer_first: Option<u32>,
}

impl Chain {
    /// Empty: no tunnel.
    pub const NONE: Self =
        Self { levels: [None; MAX_DEPTH], depth: 0, touched: false, problem: None, outer_first: None };

    /// The tunnels, outermost first.
    pub fn levels(&self) -> impl Iterator<Item = &Level> {
        self.levels.iter().take(usize::from(self.depth)).flatten()
    }

    #[must_use]
    pub fn depth(&self) -> usize {
        usize::from(self.depth)
    }

    /// The innermost tunnel.
    #[must_use]
    pub fn innermost(&self) -> Option<&Level> {
        self.levels.get(usize::from(self.depth).checked_sub(1)?)?.as_ref()
    }

    /// Whether there is anything to tell: a tunnel, or a problem.
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.touched
    }

    /// What stopped the way in, if anything did.
    #[must_use]
    pub fn problem(&self) -> Option<Problem> {
        self.problem
    }

    /// Records what stopped the way in.
    pub fn fail(&mut self, problem: Problem) {
        self.problem = Some(problem);
        self.touched = true;
    }

    /// Adds a tunnel inside the others; false (and nothing added) past [`MAX_DEPTH`].
    pub fn push(&mut self, level: Level) -> bool {
        let Some(slot) = self.levels.get_mut(usize::from(self.depth)) else { return false };
        *slot = Some(level);
        self.depth += 1;
        self.touched = true;
        true
    }
}

/// What a recognised header gives: the tunnel and its payload, or why it cannot be looked into.
pub type Decap<'a> = Result<(Tunnel, Inner<'a>), Bad>;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?.first_chunk().map(|c| u16::from_be_bytes(*c))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..)?.first_chunk().map(|c| u32::from_be_bytes(*c))
}

/// The bytes from `at` on; past the end, the empty slice *at* the end (not a dangling one), so
/// that every inner slice is a sub-slice of the input ending where it ends.
fn tail(b: &[u8], at: usize) -> &[u8] {
    b.get(at.min(b.len())..).unwrap_or_default()
}

/// After an IPv4 or IPv6 header whose protocol (or last next-header) is `proto`, with
/// `payload` the bytes after it: GRE (47, versions 0 and 1), IPv4 in IP (4), IPv6 in IP (41).
/// `None`: `proto` is not a tunnel protocol.
#[inline]
#[must_use]
pub fn over_ip(proto: u8, payload: &[u8]) -> Option<Decap<'_>> {
    let ipip = Tunnel { kind: Kind::IpInIp, key: None };
    match proto {
        PROTO_GRE => Some(gre(payload)),
        // RFC 2003 (IPv4 in IPv4), RFC 4213 §3 (6in4), RFC 2473 (IPv4 or IPv6 in IPv6): no
        // header between the two; the inner header is checked by the caller's decode.
        PROTO_IPV4 => Some(Ok((ipip, Inner::Ipv4(payload)))),
        PROTO_IPV6 => Some(Ok((ipip, Inner::Ipv6(payload)))),
        _ => None,
    }
}

/// GRE's first two bytes (RFC 2784 §2, RFC 2890 §2, RFC 2637 §4.1).
const GRE_C: u16 = 0x8000;
const GRE_R: u16 = 0x4000;
const GRE_K: u16 = 0x2000;
const GRE_S: u16 = 0x1000;
/// Strict source route and the first recursion bit of RFC 1701: RFC 2784 §2.5.1's bits 4-5.
const GRE_BITS_4_5: u16 = 0x0C00;
/// PPTP's acknowledgement-present bit (RFC 2637 §4.1, bit 8).
const GRE_A: u16 = 0x0080;
const GRE_VERSION: u16 = 0x0007;

fn gre(b: &[u8]) -> Decap<'_> {
    let Some(flags) = be16(b, 0) else { return Err(Bad::GreTruncated) };
    match flags & GRE_VERSION {
        0 => gre_v0(b, flags),
        1 => pptp(b, flags),
        _ => Err(Bad::GreVersion),
    }
}

fn gre_v0(b: &[u8], flags: u16) -> Decap<'_> {
    // RFC 2784 §2.5.1: a receiver that does not implement RFC 1701 discards bits 1-5 set;
    // bits 2 and 3 are RFC 2890's key and sequence. Bits 6-12 "MUST be ignored on receipt".
    if flags & GRE_R != 0 {
        return Err(Bad::GreRouting);
    }
    if flags & GRE_BITS_4_5 != 0 {
        return Err(Bad::GreReserved);
    }
    let Some(proto) = be16(b, 2) else { return Err(Bad::GreTruncated) };
    // The optional fields come in this order: checksum + reserved1 (4, RFC 2784 §2.5),
    // key (4, RFC 2890 §2.1), sequence number (4, RFC 2890 §2.2). The checksum is not
    // verified, as decode verifies no checksum (offloaded captures carry wrong ones).
    let mut at = 4;
    if flags & GRE_C != 0 {
        at += 4;
    }
    let key = if flags & GRE_K != 0 {
        let Some(k) = be32(b, at) else { return Err(Bad::GreTruncated) };
        at += 4;
        Some(k)
    } else {
        None
    };
    if flags & GRE_S != 0 {
        at += 4;
    }
    let Some(inner) = b.get(at..) else { return Err(Bad::GreTruncated) };
    let tunnel = Tunnel { kind: Kind::Gre, key };
    let inner = match proto {
        ETHERTYPE_IPV4 => Inner::Ipv4(inner),
        ETHERTYPE_IPV6 => Inner::Ipv6(inner),
        ETHERTYPE_TEB => Inner::Ethernet(inner),
        // ERSPAN (0x88BE), MPLS (0x8847), WCCP (0x883E), keepalives (0): not looked into.
        _ => Inner::NotIp,
    };
    Ok((tunnel, inner))
}

fn pptp(b: &[u8], flags: u16) -> Decap<'_> {
    // RFC 2637 §4.1: C, R, s and Recur are 0, K is 1; flags (bits 9-12) are 0.
    let must_be_clear = GRE_C | GRE_R | 0x0800 | 0x0700 | 0x0078;
    if flags & must_be_clear != 0 || flags & GRE_K == 0 {
        return Err(Bad::PptpHeader);
    }
    let Some(proto) = be16(b, 2) else { return Err(Bad::PptpTruncated) };
    if proto != ETHERTYPE_PPP {
        return Err(Bad::PptpHeader);
    }
    // Key: payload length (16 bits), then call id (16 bits, the peer's id for this session).
    let Some(payload_len) = be16(b, 4) else { return Err(Bad::PptpTruncated) };
    let Some(call_id) = be16(b, 6) else { return Err(Bad::PptpTruncated) };
    // Then the sequence number if S, the acknowledgement number if A, 4 bytes each.
    let mut at = 8;
    if flags & GRE_S != 0 {
        at += 4;
    }
    if flags & GRE_A != 0 {
        at += 4;
    }
    let Some(ppp) = b.get(at..) else { return Err(Bad::PptpTruncated) };
    let tunnel = Tunnel { kind: Kind::Pptp, key: Some(u32::from(call_id)) };
    // A packet without S carries no payload: an acknowledgement only (RFC 2637 §4.4).
    if flags & GRE_S == 0 || payload_len == 0 {
        return Ok((tunnel, Inner::NotIp));
    }
    ppp_inner(ppp).map(|inner| (tunnel, inner))
}

/// A PPP frame as PPTP and L2TP carry it (RFC 1661 §2, RFC 1662 §3.1): the address and control
/// bytes ff 03 unless address-and-control-field compression dropped them (RFC 1661 §6.6), then
/// the protocol, one byte when protocol-field compression is on (§6.5: a one-byte field is one
/// whose first byte is odd, as every protocol number's low byte is odd and high byte even).
fn ppp_inner(b: &[u8]) -> Result<Inner<'_>, Bad> {
    let mut at = 0;
    if b.first() == Some(&0xff) {
        if b.get(1) != Some(&0x03) {
            return if b.len() < 2 { Err(Bad::PppTruncated) } else { Ok(Inner::NotIp) };
        }
        at = 2;
    }
    let Some(&first) = b.get(at) else { return Err(Bad::PppTruncated) };
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        let Some(p) = be16(b, at) else { return Err(Bad::PppTruncated) };
        (p, 2)
    };
    let inner = tail(b, at + len);
    Ok(match proto {
        PPP_IPV4 => Inner::Ipv4(inner),
        PPP_IPV6 => Inner::Ipv6(inner),
        // LCP, IPCP, CCP-compressed (0x00FD, MPPE) frames and the rest.
        _ => Inner::NotIp,
    })
}

/// After a UDP header with these ports, `payload` being the UDP payload: VXLAN (4789),
/// Teredo (3544), L2TPv2 data (1701), NAT-T ESP (4500), tried on the destination port first.
/// `None`: neither port is a tunnel's, or the payload is not that tunnel's data (an L2TP
/// control message, IKE or a keepalive on 4500, non-Teredo traffic on 3544): plain UDP.
#[inline]
#[must_use]
pub fn over_udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Option<Decap<'_>> {
    by_port(dst_port, payload)
        .or_else(|| if src_port == dst_port { None } else { by_port(src_port, payload) })
}

fn by_port(port: u16, payload: &[u8]) -> Option<Decap<'_>> {
    match port {
        VXLAN_PORT => vxlan(payload),
        TEREDO_PORT => teredo(payload),
        L2TP_PORT => l2tp(payload),
        NAT_T_PORT => nat_t(payload),
        _ => None,
    }
}

/// RFC 7348 §5: flags (8 bits, only I = 0x08 set), 24 reserved bits, the 24-bit VNI, 8
/// reserved bits, then the inner Ethernet frame. The RFC says to ignore the reserved bits on
/// receipt; by port we require them zero, as the I flag alone is weak evidence. (This turns
/// away VXLAN-GBP's group policy bits, draft-smith-vxlan-group-policy, and VXLAN-GPE, which has
/// its own port 4790.)
fn vxlan(b: &[u8]) -> Option<Decap<'_>> {
    // Every header byte present must fit: the flags byte exactly, the reserved bytes zero, the
    // VNI anything. A header cut after a fitting prefix is VXLAN's, truncated.
    const MASK: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff];
    const WANT: [u8; 8] = [0x08, 0, 0, 0, 0, 0, 0, 0];
    let fits = b.iter().zip(MASK.iter().zip(WANT)).all(|(&x, (&m, w))| x & m == w);
    if !fits || b.is_empty() {
        return None;
    }
    let Some(vni) = be32(b, 4) else { return Some(Err(Bad::VxlanTruncated)) };
    let tunnel = Tunnel { kind: Kind::Vxlan, key: Some(vni >> 8) };
    Some(Ok((tunnel, Inner::Ethernet(tail(b, 8)))))
}

const IPV6_HEADER: usize = 40;

/// RFC 4380 §5.1.1: an IPv6 packet, first the optional authentication indicator (00 01, ID
/// length, AU length, client id, authentication value, 8-byte nonce, confirmation byte) and
/// then the optional origin indication (00 00, obfuscated port and IPv4 address: 8 bytes).
/// Teredo data is told by its IPv6 version nibble after them; anything else is not Teredo.
fn teredo(b: &[u8]) -> Option<Decap<'_>> {
    let mut at = 0;
    let mut indicated = false;
    if be16(b, 0) == Some(0x0001) {
        let (Some(&id_len), Some(&au_len)) = (b.get(2), b.get(3)) else {
            return Some(Err(Bad::TeredoTruncated));
        };
        at = 4 + usize::from(id_len) + usize::from(au_len) + 8 + 1;
        indicated = true;
    }
    if be16(b, at) == Some(0x0000) {
        at += 8;
        indicated = true;
    }
    let Some(&first) = b.get(at) else {
        // Indicators with nothing (or not all of them) behind: cut by the snaplen.
        return indicated.then_some(Err(Bad::TeredoTruncated));
    };
    if first >> 4 != 6 {
        return None;
    }
    let inner = tail(b, at);
    if inner.len() < IPV6_HEADER {
        return Some(Err(Bad::TeredoTruncated));
    }
    Some(Ok((Tunnel { kind: Kind::Teredo, key: None }, Inner::Ipv6(inner))))
}

/// L2TPv2's first two bytes (RFC 2661 §3.1): T L x x S x O P, x x x x Ver.
const L2TP_T: u16 = 0x8000;
const L2TP_L: u16 = 0x4000;
const L2TP_S: u16 = 0x0800;
const L2TP_O: u16 = 0x0200;
/// The x bits: "MUST be set to 0 on outgoing messages"; by port we require it.
const L2TP_RESERVED: u16 = 0x3000 | 0x0400 | 0x00f0;
const L2TP_VERSION: u16 = 0x000f;

/// RFC 2661 §3.1 data messages: flags and version 2, length if L, tunnel id, session id, Ns and
/// Nr if S, offset size and that many bytes of padding if O, then PPP (without HDLC framing,
/// RFC 2661 §2: address and control may still be there). Control messages (T set) and other
/// versions (3 is L2TPv3, RFC 3931) are not looked into.
fn l2tp(b: &[u8]) -> Option<Decap<'_>> {
    let flags = be16(b, 0)?;
    if flags & L2TP_T != 0 || flags & L2TP_RESERVED != 0 || flags & L2TP_VERSION != 2 {
        return None;
    }
    let truncated = Some(Err(Bad::L2tpTruncated));
    let mut at = 2;
    let length = if flags & L2TP_L != 0 {
        let Some(l) = be16(b, at) else { return truncated };
        at += 2;
        Some(l)
    } else {
        None
    };
    let (Some(tunnel_id), Some(session_id)) = (be16(b, at), be16(b, at + 2)) else { return truncated };
    at += 4;
    if flags & L2TP_S != 0 {
        at += 4;
    }
    if flags & L2TP_O != 0 {
        let Some(offset) = be16(b, at) else { return truncated };
        at += 2 + usize::from(offset);
    }
    if length.is_some_and(|l| usize::from(l) < at) {
        return Some(Err(Bad::L2tpLength));
    }
    let Some(ppp) = b.get(at..) else { return truncated };
    let tunnel = Tunnel { kind: Kind::L2tp, key: Some((u32::from(tunnel_id) << 16) | u32::from(session_id)) };
    Some(ppp_inner(ppp).map(|inner| (tunnel, inner)))
}

/// RFC 3948 §2.2: four zero bytes (the non-ESP marker) start an IKE message, and §2.3: a single
/// 0xff byte is a NAT-keepalive: both are UDP 4500's own traffic. Anything else is an ESP packet
/// whose SPI is above 255 (RFC 4303 §2.1: 1-255 are reserved) and whose sequence number is not
/// zero (RFC 4303 §3.3.3: the first packet sent has 1).
fn nat_t(b: &[u8]) -> Option<Decap<'_>> {
    let spi = be32(b, 0)?;
    let seq = be32(b, 4)?;
    if spi <= 255 || seq == 0 {
        return None;
    }
    Some(Ok((Tunnel { kind: Kind::NatT, key: None }, Inner::Esp(b))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn ip(payload: &[u8], proto: u8) -> Decap<'_> {
        over_ip(proto, payload).expect("a tunnel protocol")
    }

    const GRE: Tunnel = Tunnel { kind: Kind::Gre, key: None };
    const IPIP: Tunnel = Tunnel { kind: Kind::IpInIp, key: None };

    /// The start of an inner IPv4 header (version 4, IHL 5), enough to tell slices apart.
    const V4: [u8; 4] = [0x45, 0, 0, 20];
    /// The start of an inner IPv6 header (version 6).
    const V6: [u8; 4] = [0x60, 0, 0, 0];

    // --- GRE, from the corpus ------------------------------------------------------------

    /// zeek__gre-sample.pcap frame 1, the outer IPv4 packet's payload (`tshark -x`, from byte
    /// 34): a bare RFC 2784 header (no C, K or S; protocol 0x0800), then an ICMP echo request
    /// from 66.59.111.190 to 172.28.2.3.
    const GRE_ICMP: &str =
        "0000 0800 45000054000040004001da90423b6fbeac1c0203080046c9cb6801007072e63e97190c00
        08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637";
    /// The same file's frame 33: a DNS query (UDP 37675 -> 53, ANY www.gleeble.org) inside.
    const GRE_DNS: &str = "0000 0800 4500003d000040004011da97423b6fbeac1c0203932b00350029171dbdaa0100000100
        00000000000377777707676c6565626c65036f72670000ff0001";

    #[test]
    fn gre_corpus_carries_ipv4() {
        for h in [GRE_ICMP, GRE_DNS] {
            let p = hex(h);
            assert_eq!(ip(&p, PROTO_GRE), Ok((GRE, Inner::Ipv4(&p[4..]))));
        }
        // What is inside: ICMP (1) and UDP (17), as tshark says.
        for (h, proto) in [(GRE_ICMP, 1), (GRE_DNS, 17)] {
            let p = hex(h);
            let Ok((_, Inner::Ipv4(i))) = ip(&p, PROTO_GRE) else { panic!("{h}") };
            assert_eq!(i[9], proto);
        }
    }

    // --- GRE, by hand (RFC 2784 §2, RFC 2890 §2) -------------------------------------------

    #[test]
    fn gre_with_checksum_key_and_sequence() {
        let mut p = vec![
            0xb0, 0x00, // C, K and S set; version 0
            0x08, 0x00, // protocol type IPv4
            0x12, 0x34, 0x00, 0x00, // checksum (not verified), reserved1
            0x00, 0x00, 0x03, 0xe9, // key 1001
            0x00, 0x00, 0x00, 0x07, // sequence number 7
        ];
        p.extend_from_slice(&V4);
        assert_eq!(ip(&p, 47), Ok((Tunnel { kind: Kind::Gre, key: Some(1001) }, Inner::Ipv4(&p[16..]))));
        // Key without sequence, carrying IPv6.
        let mut p = vec![0x20, 0x00, 0x86, 0xdd, 0xde, 0xad, 0xbe, 0xef];
        p.extend_from_slice(&V6);
        assert_eq!(
            ip(&p, 47),
            Ok((Tunnel { kind: Kind::Gre, key: Some(0xdead_beef) }, Inner::Ipv6(&p[8..])))
        );
        // Sequence without key: no key to report.
        let p = [0x10, 0x00, 0x08, 0x00, 0, 0, 0, 1, 0x45];
        assert_eq!(ip(&p, 47), Ok((GRE, Inner::Ipv4(&p[8..]))));
    }

    #[test]
    fn gre_transparent_ethernet_and_other_protocols() {
        // 0x6558: a whole Ethernet frame, as a mirror session sends.
        let p = [0x20, 0x00, 0x65, 0x58, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(ip(&p, 47), Ok((Tunnel { kind: Kind::Gre, key: Some(5) }, Inner::Ethernet(&p[8..]))));
        // ERSPAN type II (0x88BE) and a keepalive (protocol 0): GRE, but nothing we look into.
        assert_eq!(ip(&[0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1], 47), Ok((GRE, Inner::NotIp)));
        assert_eq!(ip(&[0, 0, 0, 0], 47), Ok((GRE, Inner::NotIp)));
        // Bits 6-12 are ignored on receipt (RFC 2784 §2.5.1).
        let p = [0x02, 0x00, 0x08, 0x00, 0x45];
        assert_eq!(ip(&p, 47), Ok((GRE, Inner::Ipv4(&p[4..]))));
    }

    #[test]
    fn gre_near_misses() {
        assert_eq!(ip(&[0x40, 0x00, 0x08, 0x00, 0x45], 47), Err(Bad::GreRouting));
        assert_eq!(ip(&[0x08, 0x00, 0x08, 0x00, 0x45], 47), Err(Bad::GreReserved)); // strict source route
        assert_eq!(ip(&[0x04, 0x00, 0x08, 0x00, 0x45], 47), Err(Bad::GreReserved)); // recursion
        assert_eq!(ip(&[0x00, 0x02, 0x08, 0x00, 0x45], 47), Err(Bad::GreVersion));
        assert_eq!(ip(&[0x00, 0x07, 0x08, 0x00, 0x45], 47), Err(Bad::GreVersion));
        // One byte short: of the fixed header, of the key, of the sequence number.
        assert_eq!(ip(&[0x00, 0x00, 0x08], 47), Err(Bad::GreTruncated));
        assert_eq!(ip(&[0x00], 47), Err(Bad::GreTruncated));
        assert_eq!(ip(&[], 47), Err(Bad::GreTruncated));
        assert_eq!(ip(&[0x20, 0x00, 0x08, 0x00, 0, 0, 0], 47), Err(Bad::GreTruncated));
        assert_eq!(ip(&[0x10, 0x00, 0x08, 0x00, 0, 0, 0], 47), Err(Bad::GreTruncated));
        assert_eq!(ip(&[0x80, 0x00, 0x08, 0x00, 0, 0, 0], 47), Err(Bad::GreTruncated));
        // Exactly the header: an empty inner packet, for decode to call truncated.
        let p = [0x10, 0x00, 0x08, 0x00, 0, 0, 0, 1];
        assert_eq!(ip(&p, 47), Ok((GRE, Inner::Ipv4(&p[8..]))));
        // Not a tunnel protocol at all.
        assert_eq!(over_ip(6, &[0x00, 0x00, 0x08, 0x00]), None);
        assert_eq!(over_ip(17, &[]), None);
    }

    // --- PPTP (RFC 2637 §4.1), by hand: ndpi__pptp.pcap has only the TCP 1723 control ------

    /// Enhanced GRE with S and A, then a PPP frame with address and control.
    fn pptp_packet(ppp: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x30, 0x81, // K and S set, A set, version 1
            0x88, 0x0b, // protocol type PPP
            0x00, 0x00, // payload length, set below
            0x40, 0x00, // call id 0x4000
            0x00, 0x00, 0x00, 0x02, // sequence number
            0x00, 0x00, 0x00, 0x01, // acknowledgement number
        ];
        p[4..6].copy_from_slice(&u16::try_from(ppp.len()).unwrap().to_be_bytes());
        p.extend_from_slice(ppp);
        p
    }

    const PPTP: Tunnel = Tunnel { kind: Kind::Pptp, key: Some(0x4000) };

    #[test]
    fn pptp_carries_ppp() {
        // ff 03 (address, control), 0x0021 IPv4.
        let p = pptp_packet(&[0xff, 0x03, 0x00, 0x21, 0x45, 0, 0, 20]);
        assert_eq!(ip(&p, 47), Ok((PPTP, Inner::Ipv4(&p[20..]))));
        // Address and control compressed away, protocol 0x0057 IPv6.
        let p = pptp_packet(&[0x00, 0x57, 0x60, 0, 0, 0]);
        assert_eq!(ip(&p, 47), Ok((PPTP, Inner::Ipv6(&p[18..]))));
        // Both compressions (RFC 1661 §6.5, §6.6), as Windows clients negotiate: 21, then IPv4.
        let p = pptp_packet(&[0x21, 0x45, 0, 0, 20]);
        assert_eq!(ip(&p, 47), Ok((PPTP, Inner::Ipv4(&p[17..]))));
        // MPPE-compressed (CCP datagram 0x00FD) and LCP (0xC021): not IP.
        assert_eq!(ip(&pptp_packet(&[0xff, 0x03, 0x00, 0xfd, 0x90, 0x01]), 47), Ok((PPTP, Inner::NotIp)));
        assert_eq!(ip(&pptp_packet(&[0xff, 0x03, 0xc0, 0x21, 0x01]), 47), Ok((PPTP, Inner::NotIp)));
        // An acknowledgement alone: no S, no sequence number, no payload.
        let ack = [0x20, 0x81, 0x88, 0x0b, 0, 0, 0x40, 0x00, 0, 0, 0, 9];
        assert_eq!(ip(&ack, 47), Ok((PPTP, Inner::NotIp)));
    }

    #[test]
    fn pptp_near_misses() {
        let ok = pptp_packet(&[0xff, 0x03, 0x00, 0x21, 0x45]);
        let with = |at: usize, v: u8| {
            let mut p = ok.clone();
            p[at] = v;
            p
        };
        assert_eq!(ip(&with(0, 0x10), 47), Err(Bad::PptpHeader)); // K clear
        assert_eq!(ip(&with(0, 0xb0), 47), Err(Bad::PptpHeader)); // C set
        assert_eq!(ip(&with(1, 0x89), 47), Err(Bad::PptpHeader)); // a flag bit set
        assert_eq!(ip(&with(3, 0x00), 47), Err(Bad::PptpHeader)); // protocol 0x8800, not PPP
        assert_eq!(ip(&with(1, 0x82), 47), Err(Bad::GreVersion));
        for cut in [3, 7, 15] {
            assert_eq!(ip(&ok[..cut], 47), Err(Bad::PptpTruncated), "cut at {cut}");
        }
        // PPP cut inside address/control or the protocol field.
        assert_eq!(ip(&ok[..17], 47), Err(Bad::PppTruncated));
        assert_eq!(ip(&ok[..19], 47), Err(Bad::PppTruncated));
        assert_eq!(ip(&ok[..16], 47), Err(Bad::PppTruncated));
        // ff not followed by 03 is not a PPP header we know.
        assert_eq!(ip(&with(17, 0x00), 47), Ok((PPTP, Inner::NotIp)));
    }

    // --- IP in IP (RFC 2003, RFC 4213 §3, RFC 2473), by hand ---------------------------------

    #[test]
    fn ip_in_ip_all_four_ways() {
        // The outer header's protocol alone says what follows; 4in4 and 4in6 are both
        // protocol 4 (the outer version is the caller's), 6in4 and 6in6 both 41.
        assert_eq!(ip(&V4, PROTO_IPV4), Ok((IPIP, Inner::Ipv4(&V4[..]))));
        assert_eq!(ip(&V6, PROTO_IPV6), Ok((IPIP, Inner::Ipv6(&V6[..]))));
        // No inner check here: a wrong version is decode's ip_bad_version, an empty one its
        // l3_truncated, as for an outer packet.
        assert_eq!(ip(&V6, PROTO_IPV4), Ok((IPIP, Inner::Ipv4(&V6[..]))));
        assert_eq!(ip(&[], PROTO_IPV6), Ok((IPIP, Inner::Ipv6(&[]))));
    }

    // --- VXLAN (RFC 7348 §5), from the corpus -----------------------------------------------

    /// ndpi__vxlan.pcap frame 1, UDP 60887 -> 4789 payload: flags 0x08, VNI 1111 (0x000457),
    /// then an Ethernet frame with a DNS query for facebook.com (10.10.20.4 -> 8.8.8.8).
    const VXLAN_DNS: &str = "0800000000045700 667a50aaff9a1eea692a6fcf0800 4500003a35b040004011d6e50a0a1404
        08080808ad950035002617e290c6010000010000000000000866616365626f6f6b03636f6d0000010001";

    #[test]
    fn vxlan_corpus_and_near_misses() {
        let p = hex(VXLAN_DNS);
        let want = Some(Ok((Tunnel { kind: Kind::Vxlan, key: Some(1111) }, Inner::Ethernet(&p[8..]))));
        assert_eq!(over_udp(60887, 4789, &p), want);
        assert_eq!(over_udp(4789, 60887, &p), want);
        assert_eq!(over_udp(60887, 4790, &p), None);
        let with = |at: usize, v: u8| {
            let mut q = p.clone();
            q[at] = v;
            q
        };
        assert_eq!(over_udp(1, 4789, &with(0, 0x00)), None); // I flag clear
        assert_eq!(over_udp(1, 4789, &with(0, 0x88)), None); // G (GBP) flag
        assert_eq!(over_udp(1, 4789, &with(2, 0x01)), None); // reserved
        assert_eq!(over_udp(1, 4789, &with(7, 0x01)), None); // last reserved byte
        assert_eq!(over_udp(1, 4789, &p[..7]), Some(Err(Bad::VxlanTruncated)));
        assert_eq!(over_udp(1, 4789, &p[..1]), Some(Err(Bad::VxlanTruncated)));
        assert_eq!(over_udp(1, 4789, &[]), None);
        // A header and nothing behind it: an empty frame, decode's truncated_link.
        assert_eq!(over_udp(1, 4789, &p[..8]).unwrap().unwrap().1, Inner::Ethernet(&p[8..8]));
    }

    // --- Teredo (RFC 4380 §5.1.1), from the corpus ------------------------------------------

    /// zeek__Teredo.pcap frame 6, UDP 3797 -> 3544: authentication indicator (00 01, ID and AU
    /// lengths 0, nonce cd5669400b22df88, confirmation 00), then an IPv6 router solicitation.
    const TEREDO_AUTH: &str = "0001 00 00 cd5669400b22df88 00
        6000000000183afffe800000000000008000fffffffffffdff020000000000000000000000000002
        8500a91d0000000001020000000000008000f12ab9c82815";
    /// Frame 7, 3544 -> 3797: authentication, then the origin indication (00 00, port 00f1,
    /// address 2ab9c828, both obfuscated), then the router advertisement.
    const TEREDO_AUTH_ORIGIN: &str = "0001 00 00 cd5669400b22df88 00 0000 00f1 2ab9c828
        6000000000303afffe800000000000008000f227bec861affe800000000000008000fffffffffffd
        86001f570000000000000000000007d003044040ffffffffffffffff000000002001000041379e500000000000000000";
    /// Frame 31, 3544 -> 3797: origin indication only, then a bubble (IPv6, no next header).
    const TEREDO_ORIGIN: &str = "0000 7f7b ac55fed9
        6000000000003b00fe80000000000000708dfe834114a5122001000041379e508000f12ab9c82815";

    const TEREDO: Tunnel = Tunnel { kind: Kind::Teredo, key: None };

    #[test]
    fn teredo_corpus() {
        for (h, at) in [(TEREDO_AUTH, 13), (TEREDO_AUTH_ORIGIN, 21), (TEREDO_ORIGIN, 8)] {
            let p = hex(h);
            assert_eq!(over_udp(3797, 3544, &p), Some(Ok((TEREDO, Inner::Ipv6(&p[at..])))));
            assert_eq!(over_udp(3544, 3797, &p), Some(Ok((TEREDO, Inner::Ipv6(&p[at..])))));
        }
        // A plain IPv6 packet, no indicator (as relays send): the bubble alone.
        let p = hex(TEREDO_ORIGIN);
        assert_eq!(over_udp(3544, 3797, &p[8..]), Some(Ok((TEREDO, Inner::Ipv6(&p[8..])))));
    }

    #[test]
    fn teredo_near_misses() {
        let p = hex(TEREDO_AUTH_ORIGIN);
        let with = |at: usize, v: u8| {
            let mut q = p.clone();
            q[at] = v;
            q
        };
        assert_eq!(over_udp(3797, 3544, &with(21, 0x45)), None); // IPv4 behind the indicators
        assert_eq!(over_udp(3797, 3544, &with(13, 0x01)), None); // neither origin nor IPv6
        assert_eq!(over_udp(3797, 3544, &with(1, 0x02)), None); // no such indicator
        assert_eq!(over_udp(3797, 3544, &with(2, 0x01)), None); // ID length 1 lands mid-nonce
        assert_eq!(over_udp(3797, 3544, &p), over_udp(3544, 3544, &p));
        assert_eq!(over_udp(3797, 3545, &p), None);
        // One byte short of the IPv6 header; cut inside each indicator.
        assert_eq!(over_udp(1, 3544, &p[..21 + 39]), Some(Err(Bad::TeredoTruncated)));
        for cut in [2, 3, 12, 13, 20, 21] {
            assert_eq!(over_udp(1, 3544, &p[..cut]), Some(Err(Bad::TeredoTruncated)), "cut at {cut}");
        }
        // Too short to say anything.
        assert_eq!(over_udp(1, 3544, &[0x00]), None);
        assert_eq!(over_udp(1, 3544, &[]), None);
    }

    // --- L2TPv2 data messages (RFC 2661 §3.1), by hand: the corpus has no L2TP ---------------

    fn l2tp_ls() -> Vec<u8> {
        vec![
            0x48, 0x02, // L and S set, T clear (data); version 2
            0x00, 0x18, // length 24: the whole message
            0x00, 0x05, // tunnel id 5
            0x00, 0x09, // session id 9
            0x00, 0x03, // Ns
            0x00, 0x04, // Nr
            0xff, 0x03, 0x00, 0x21, // PPP: address, control, protocol IPv4
            0x45, 0, 0, 20, 0, 0, 0, 0, // the inner IPv4 header's start
        ]
    }

    const L2TP: Tunnel = Tunnel { kind: Kind::L2tp, key: Some(5 << 16 | 9) };

    #[test]
    fn l2tp_data_messages() {
        let p = l2tp_ls();
        assert_eq!(over_udp(1701, 1701, &p), Some(Ok((L2TP, Inner::Ipv4(&p[16..])))));
        // The smallest: no L, S or O; PPP without address and control, IPv6.
        let p = [0x00, 0x02, 0, 5, 0, 9, 0x00, 0x57, 0x60];
        assert_eq!(over_udp(40000, 1701, &p), Some(Ok((L2TP, Inner::Ipv6(&p[8..])))));
        // O set: offset size 2, then two bytes of padding.
        let p = [0x02, 0x02, 0, 5, 0, 9, 0x00, 0x02, 0xaa, 0xbb, 0x21, 0x45];
        assert_eq!(over_udp(1701, 40000, &p), Some(Ok((L2TP, Inner::Ipv4(&p[11..])))));
        // P (priority) is a data message's bit too.
        let p = [0x01, 0x02, 0, 5, 0, 9, 0xc0, 0x21, 0x01];
        assert_eq!(over_udp(1701, 1701, &p), Some(Ok((L2TP, Inner::NotIp))));
    }

    #[test]
    fn l2tp_near_misses() {
        let p = l2tp_ls();
        let with = |at: usize, v: u8| {
            let mut q = p.clone();
            q[at] = v;
            q
        };
        assert_eq!(over_udp(1701, 1701, &with(0, 0xc8)), None); // T: a control message (SCCRQ...)
        assert_eq!(over_udp(1701, 1701, &with(1, 0x03)), None); // version 3, L2TPv3
        assert_eq!(over_udp(1701, 1701, &with(1, 0x01)), None); // version 1, L2F
        assert_eq!(over_udp(1701, 1701, &with(0, 0x68)), None); // a reserved x bit
        assert_eq!(over_udp(1701, 1701, &with(1, 0x12)), None); // a reserved x bit
        assert_eq!(over_udp(1701, 1701, &with(3, 0x0b)), Some(Err(Bad::L2tpLength)));
        for cut in [3, 7, 11] {
            assert_eq!(over_udp(1701, 1701, &p[..cut]), Some(Err(Bad::L2tpTruncated)), "cut at {cut}");
        }
        assert_eq!(over_udp(1701, 1701, &p[..13]), Some(Err(Bad::PppTruncated)));
        // Offset padding running past the packet.
        let q = [0x02, 0x02, 0, 5, 0, 9, 0x00, 0x08, 0xaa];
        assert_eq!(over_udp(1701, 1701, &q), Some(Err(Bad::L2tpTruncated)));
        assert_eq!(over_udp(1701, 1701, &[0x00]), None);
        assert_eq!(over_udp(1702, 1700, &p), None);
    }

    // --- NAT-T (RFC 3948 §2.2), from the corpus ---------------------------------------------

    /// ndpi__ipsec_isakmp_esp.pcap frame 7, UDP 14500 -> 4500, the payload's first 40 bytes:
    /// ESP, SPI 0x04888fe4, sequence number 1.
    const NATT_ESP: &str = "04888fe4 00000001 ebb003de6868ab030f434570c3f6eea189e9578c1413f49b3294687616c5";
    /// Frame 1, 14500 -> 4500, the first 32 bytes: the non-ESP marker, then an IKEv2 header.
    const NATT_IKE: &str = "00000000 b64ef32131a4895286babd39048869552e20230800000001";

    #[test]
    fn nat_t_corpus_and_near_misses() {
        let esp = hex(NATT_ESP);
        let want = Some(Ok((Tunnel { kind: Kind::NatT, key: None }, Inner::Esp(&esp[..]))));
        assert_eq!(over_udp(14500, 4500, &esp), want);
        assert_eq!(over_udp(4500, 14500, &esp), want);
        assert_eq!(over_udp(14500, 4500, &hex(NATT_IKE)), None);
        assert_eq!(over_udp(14500, 4500, &[0xff]), None); // NAT-keepalive, RFC 3948 §2.3
        assert_eq!(over_udp(14500, 4500, &esp[..7]), None);
        let mut q = esp.clone();
        q[..4].copy_from_slice(&255u32.to_be_bytes()); // a reserved SPI
        assert_eq!(over_udp(14500, 4500, &q), None);
        let mut q = esp.clone();
        q[4..8].copy_from_slice(&[0; 4]); // sequence number 0
        assert_eq!(over_udp(14500, 4500, &q), None);
        // ISAKMP on 500 is not a tunnel.
        assert_eq!(over_udp(500, 500, &esp), None);
    }

    #[test]
    fn names_are_unique_and_indexed() {
        for (i, b) in Bad::ALL.iter().enumerate() {
            assert_eq!(b.index(), i);
            assert!(Bad::ALL[..i].iter().all(|o| o.as_str() != b.as_str()));
        }
    }

    fn inner_bytes<'a>(i: &Inner<'a>) -> Option<&'a [u8]> {
        match *i {
            Inner::Ethernet(b) | Inner::Ipv4(b) | Inner::Ipv6(b) | Inner::Esp(b) => Some(b),
            Inner::NotIp => None,
        }
    }

    fn ends_with_input(input: &[u8], inner: &[u8]) -> bool {
        let (r, s) = (input.as_ptr_range(), inner.as_ptr_range());
        s.end == r.end && s.start >= r.start
    }

    proptest! {
        /// Arbitrary bytes after any protocol and any ports (tunnel ports weighted in): no
        /// panic, and any inner slice is a sub-slice of the input that ends where it ends.
        #[test]
        fn arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..128),
            proto in prop_oneof![Just(4u8), Just(41u8), Just(47u8), any::<u8>()],
            src in prop_oneof![Just(4789u16), Just(3544u16), Just(1701u16), Just(4500u16), any::<u16>()],
            dst in prop_oneof![Just(4789u16), Just(3544u16), Just(1701u16), Just(4500u16), any::<u16>()],
        ) {
            for (_, inner) in [over_ip(proto, &bytes), over_udp(src, dst, &bytes)].into_iter().flatten().flatten() {
                if let Some(b) = inner_bytes(&inner) {
                    prop_assert!(ends_with_input(&bytes, b));
                }
            }
        }

        /// A packet that parses, cut anywhere: what the cut gives, if it parses, is the whole's
        /// tunnel and the same kind of inner bytes from the same offset.
        #[test]
        fn cut_headers(which in 0..6usize, cut in 0..64usize) {
            let whole = match which {
                0 => pptp_packet(&[0xff, 0x03, 0x00, 0x21, 0x45]),
                1 => l2tp_ls(),
                2 => hex(TEREDO_AUTH_ORIGIN),
                3 => hex(VXLAN_DNS),
                4 => vec![0xb0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0x45],
                _ => hex(NATT_ESP),
            };
            let part = &whole[..cut.min(whole.len())];
            let port = [0, 1701, 3544, 4789, 0, 4500][which];
            let parse = |b| if which == 0 || which == 4 { over_ip(47, b) } else { over_udp(1, port, b) };
            let Some(Ok((wt, wi))) = parse(&whole) else { panic!("the whole of {which} parses") };
            if let Some(Ok((t, inner))) = parse(part) {
                prop_assert_eq!(t, wt);
                prop_assert_eq!(std::mem::discriminant(&inner), std::mem::discriminant(&wi));
                if let (Some(b), Some(w)) = (inner_bytes(&inner), inner_bytes(&wi)) {
                    prop_assert!(ends_with_input(part, b));
                    prop_assert_eq!(part.len() - b.len(), whole.len() - w.len());
                }
            }
        }
    }
}
