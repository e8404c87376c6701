//! Decode: the only module that reads packet headers (and the only one that imports etherparse).
//!
//! What I own: turning one [`Frame`] into a small `Copy` [`Decoded`] value: the IP addresses,
//! transport, ports and TCP flags of the outermost IP header, the VLAN id, fragment position,
//! and the anomaly tags, or exactly one named [`Skip`] reason when the packet is malformed.
//! Link layers: Ethernet with any mix of 802.1Q/802.1ad/QinQ tags (up to [`MAX_VLAN_TAGS`]),
//! MPLS label stacks, PPPoE sessions, Linux SLL and SLL2, raw IP (LINKTYPE 101, 228, 229 and
//! DLT 12/14), BSD NULL and LOOP. Tunnels (GRE, PPTP, IP in IP, VXLAN, Teredo, L2TP, NAT-T:
//! the headers are `tunnel`'s) are followed to [`MAX_DEPTH`], and the packet is the innermost
//! one, the tunnels it came through written to a [`Chain`]; [`Tunnels::Outer`] keeps the outer
//! header, as tshark's `outer` view in the corpus does.
//!
//! What I must not do: allocate, keep state between packets, or trust a length field.
//! Every read of wire bytes is bounds-checked; a short header is a [`Skip`], never a panic.
//!
//! etherparse does the checked IPv4 and IPv6 header views and names the EtherTypes and IP
//! numbers. The link layers, the
//! IPv6 extension walk and the TCP/UDP port reads are ours, because etherparse stops after three VLAN tags, gives no
//! transport for a first fragment, and rejects headers cut by the snaplen (CATALOGUE.md §1).

use crate::capture::{Frame, Linktype, RecordFlags};
use crate::tunnel::{self, Chain, Inner, Level, MAX_DEPTH, Problem};
use etherparse::{EtherType, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice};

/// VLAN tags we walk before calling a frame `vlan_too_deep`. tcpdump decodes ten; a frame of
/// fifty tags with no payload (a tag loop) must stop in constant time.
pub const MAX_VLAN_TAGS: usize = 16;
/// MPLS labels we walk before giving up.
pub const MAX_MPLS_LABELS: usize = 16;
/// IPv6 extension headers we walk before calling the chain `ipv6_ext_bad`.
pub const MAX_IPV6_EXTENSIONS: usize = 16;

/// Why a packet could not be attributed: exactly one per malformed packet (CATALOGUE.md §3.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Skip {
    TruncatedLink,
    L3Truncated,
    VlanTooDeep,
    IpBadVersion,
    Ipv4BadIhl,
    IpLenInconsistent,
    Ipv6ExtBad,
    L4Truncated,
    TcpBadDoff,
    /// A capture record with no captured bytes (caplen 0).
    PcapRecordBad,
    UnsupportedLinktype,
    /// A non-first IP fragment whose first fragment was not seen (decided in `flow`).
    FragmentOrphan,
}

impl Skip {
    pub const ALL: [Skip; 12] = [
        Skip::TruncatedLink,
        Skip::L3Truncated,
        Skip::VlanTooDeep,
        Skip::IpBadVersion,
        Skip::Ipv4BadIhl,
        Skip::IpLenInconsistent,
        Skip::Ipv6ExtBad,
        Skip::L4Truncated,
        Skip::TcpBadDoff,
        Skip::PcapRecordBad,
        Skip::UnsupportedLinktype,
        Skip::FragmentOrphan,
    ];

    /// The reason's name in reports (Zeek/Suricata-style).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::TruncatedLink => "truncated_link",
            Skip::L3Truncated => "l3_truncated",
            Skip::VlanTooDeep => "vlan_too_deep",
            Skip::IpBadVersion => "ip_bad_version",
            Skip::Ipv4BadIhl => "ipv4_bad_ihl",
            Skip::IpLenInconsistent => "ip_len_inconsistent",
            Skip::Ipv6ExtBad => "ipv6_ext_bad",
            Skip::L4Truncated => "l4_truncated",
            Skip::TcpBadDoff => "tcp_bad_doff",
            Skip::PcapRecordBad => "pcap_record_bad",
            Skip::UnsupportedLinktype => "unsupported_linktype",
            Skip::FragmentOrphan => "fragment_orphan",
        }
    }

    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Secondary tags that do not change attribution (CATALOGUE.md §3.4). A set of bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Anomalies(pub u16);

impl Anomalies {
    pub const SNAPLEN_TRUNCATED: Self = Self(1);
    pub const UDP_BAD_LEN: Self = Self(1 << 1);
    pub const PORT_ZERO: Self = Self(1 << 2);
    pub const FRAGMENT_NONFIRST: Self = Self(1 << 3);
    pub const FRAG_OVERLAP_SUSPECT: Self = Self(1 << 4);
    pub const PCAP_LEN_LT_CAPLEN: Self = Self(1 << 5);
    pub const PCAP_LEN_IMPLAUSIBLE: Self = Self(1 << 6);
    pub const BAD_TIMESTAMP: Self = Self(1 << 7);
    pub const TS_BACKWARDS: Self = Self(1 << 8);
    /// The IP length field claims more bytes than the frame had on the wire.
    pub const IP_LEN_EXCEEDS_FRAME: Self = Self(1 << 9);
    /// A tunnel header that could not be looked through, or a malformed packet inside one:
    /// counted under the carrier (see [`Problem`]).
    pub const TUNNEL_MALFORMED: Self = Self(1 << 10);
    /// Inside more than [`MAX_DEPTH`] tunnels: counted under the innermost one followed.
    pub const TUNNEL_TOO_DEEP: Self = Self(1 << 11);

    /// Every tag, bit i at place i (`stats` counts them by bit position).
    pub const ALL: [(Self, &'static str); 12] = [
        (Self::SNAPLEN_TRUNCATED, "snaplen_truncated"),
        (Self::UDP_BAD_LEN, "udp_bad_len"),
        (Self::PORT_ZERO, "port_zero"),
        (Self::FRAGMENT_NONFIRST, "fragment_nonfirst"),
        (Self::FRAG_OVERLAP_SUSPECT, "frag_overlap_suspect"),
        (Self::PCAP_LEN_LT_CAPLEN, "pcap_len_lt_caplen"),
        (Self::PCAP_LEN_IMPLAUSIBLE, "pcap_len_implausible"),
        (Self::BAD_TIMESTAMP, "bad_timestamp"),
        (Self::TS_BACKWARDS, "ts_backwards"),
        (Self::IP_LEN_EXCEEDS_FRAME, "ip_len_exceeds_frame"),
        (Self::TUNNEL_MALFORMED, "tunnel_malformed"),
        (Self::TUNNEL_TOO_DEEP, "tunnel_too_deep"),
    ];

    #[must_use]
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }

    /// The record-level anomalies the capture reader found.
    #[must_use]
    pub fn from_record(flags: RecordFlags) -> Self {
        let mut a = Self::default();
        if flags.contains(RecordFlags::LEN_LT_CAPLEN) {
            a.insert(Self::PCAP_LEN_LT_CAPLEN);
        }
        if flags.contains(RecordFlags::LEN_IMPLAUSIBLE) {
            a.insert(Self::PCAP_LEN_IMPLAUSIBLE);
        }
        if flags.contains(RecordFlags::BAD_TIMESTAMP) {
            a.insert(Self::BAD_TIMESTAMP);
        }
        if flags.contains(RecordFlags::CLIPPED_TO_SNAPLEN) {
            a.insert(Self::SNAPLEN_TRUNCATED);
        }
        a
    }
}

/// An IPv4 or IPv6 address in 16 bytes; IPv4 is stored as an IPv4-mapped IPv6 address so that
/// both families share one fixed-size flow key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    #[must_use]
    pub fn v4(a: [u8; 4]) -> Self {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12..].copy_from_slice(&a);
        Self(b)
    }

    /// The IPv4 address of an IPv4-mapped address (how IPv4 is held), as a number.
    #[must_use]
    #[inline]
    pub fn ipv4(&self) -> Option<u32> {
        let b = &self.0;
        let head = u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let mid = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        (head == 0 && mid == u32::from_ne_bytes([0, 0, 0xff, 0xff]))
            .then(|| u32::from_be_bytes([b[12], b[13], b[14], b[15]]))
    }

    #[must_use]
    pub fn to_ip(self) -> std::net::IpAddr {
        let v6 = std::net::Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => std::net::IpAddr::V6(v6),
        }
    }
}

/// Where a packet sits in a fragmented IP datagram.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Fragment {
    /// Not fragmented.
    Whole,
    /// Offset 0 with more fragments to come: carries the transport header.
    First { id: u32 },
    /// Offset > 0: no transport header; belongs to the datagram of `id`. `last` when no more
    /// fragments follow (MF clear).
    NonFirst { id: u32, last: bool },
}

/// A transport header's fields that flows and classification need.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ports {
    pub src: u16,
    pub dst: u16,
}

/// TCP flag bits as on the wire (byte 13 of the header).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;

    #[must_use]
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// A SYN without ACK: the client's opening segment.
    #[must_use]
    pub fn is_syn(self) -> bool {
        self.has(Self::SYN) && !self.has(Self::ACK)
    }

    #[must_use]
    pub fn is_syn_ack(self) -> bool {
        self.has(Self::SYN) && self.has(Self::ACK)
    }
}

/// An IP packet as the flow table sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IpPacket {
    pub src: Addr,
    pub dst: Addr,
    /// The IP protocol of the transport (after IPv6 extension headers).
    pub proto: u8,
    /// Ports for TCP and UDP when the packet carries the transport header.
    pub ports: Option<Ports>,
    pub tcp_flags: TcpFlags,
    /// The outermost VLAN id (0 when untagged).
    pub vlan: u16,
    pub fragment: Fragment,
    /// The tunnels the packet came through, as one number (0: none): set by the reading side
    /// from the packet's [`Chain`] (see `pipeline`'s `Reader`), a part of its flow's key.
    pub tunnel: u64,
}

/// What a frame is, after decoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Decoded {
    Ip(IpPacket),
    /// A well-formed frame that carries something other than IP (ARP, LLC, PPP control...).
    NonIp,
    Skip(Skip),
}

/// IP protocol numbers we treat specially.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

const ETH_HEADER: usize = 14;
const VLAN_TAG: usize = 4;
/// RFC 3032 §5: MPLS unicast and multicast (etherparse names neither).
const ETHERTYPE_MPLS_UNICAST: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// PPP protocol numbers (RFC 1332 §2 IPv4, RFC 5072 §3 IPv6): PPPoE here, PPTP and L2TP in
/// `tunnel`.
pub(crate) const PPP_IPV4: u16 = 0x0021;
pub(crate) const PPP_IPV6: u16 = 0x0057;
/// BSD address families for IPv6 differ by OS: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [24, 28, 30];

/// How far decoding looks: into tunnels (the default), or at the outer header only.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Tunnels {
    #[default]
    Open,
    Outer,
}

/// Decodes one frame, into its tunnels. Adds anomaly tags to `anomalies`.
#[must_use]
pub fn decode(frame: &Frame<'_>, anomalies: &mut Anomalies) -> Decoded {
    // The span is never read here, so the inlined fast path does not compute it.
    let mut unused = Span::default();
    let mut d = Decoded::NonIp;
    if common_case(frame, anomalies, &mut unused, &mut d, true) {
        return d;
    }
    general(frame, anomalies, &mut unused, Some(&mut Chain::default()))
}

/// Where a packet's transport payload (after the TCP or UDP header, within the IP length) lies
/// in its frame's captured bytes; empty when there is none or it was not captured.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    /// The bytes of `data` (the frame's) that the span covers; empty if they are not there.
    #[must_use]
    pub fn of<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.start..self.start.saturating_add(self.len)).unwrap_or_default()
    }
}

/// [`decode`] written into `out` (a batch's slot, so that the decoded packet is not moved
/// again); returns where the transport payload lies, for the payload checks
/// (`classify::evidence`) and the announcements (`learn`): none for a later fragment, whose
/// bytes are the middle of a datagram.
/// Tunnels are opened when there is a `chain` (`None`: [`Tunnels::Outer`]): an empty one, to
/// which those the packet came through go (untouched for a packet in none).
#[inline]
pub fn decode_into(
    frame: &Frame<'_>,
    anomalies: &mut Anomalies,
    out: &mut Decoded,
    chain: Option<&mut Chain>,
) -> Span {
    let mut payload = Span::default();
    if !common_case(frame, anomalies, &mut payload, out, chain.is_some()) {
        *out = general(frame, anomalies, &mut payload, chain);
    }
    payload
}

/// Most traffic: untagged Ethernet, IPv4 without options or fragmentation, TCP or UDP with
/// sane lengths and non-zero ports, possibly cut by the snaplen. Decoded here from fixed
/// offsets in one pass, written straight into `out` (returned by value, the decoded packet was
/// copied once more: 27 instructions a packet more on mix-1M, by callgrind); anything else (or anything odd) returns false,
/// `out` untouched, and goes the general way, which gives the same answer for these frames (a
/// property test holds the two to it).
#[inline]
fn common_case(
    frame: &Frame<'_>,
    anomalies: &mut Anomalies,
    payload: &mut Span,
    out: &mut Decoded,
    open: bool,
) -> bool {
    common_ipv4(frame, anomalies, payload, out, open).is_some()
}

/// Whether a UDP port is one a tunnel is recognised on ([`tunnel::over_udp`]): such datagrams
/// go the general way, which looks inside. One compare for most ports: the four lie within
/// 1701..=4789.
#[inline]
fn tunnel_port(port: u16) -> bool {
    port.wrapping_sub(tunnel::L2TP_PORT) <= tunnel::VXLAN_PORT - tunnel::L2TP_PORT
        && matches!(port, tunnel::L2TP_PORT | tunnel::TEREDO_PORT | tunnel::NAT_T_PORT | tunnel::VXLAN_PORT)
}

/// [`common_case`]'s work, `None` where the frame is not one.
// Measured: left to the compiler with two callers (decode, decode_into), it stayed
// out of line, and mix-10M took 5% longer on one thread.
#[inline(always)]
fn common_ipv4(
    frame: &Frame<'_>,
    anomalies: &mut Anomalies,
    payload: &mut Span,
    out: &mut Decoded,
    open: bool,
) -> Option<()> {
    // Ethernet (14) + IPv4 without options (20) + the TCP header up to its flags (14).
    const NEED: usize = ETH_HEADER + 20 + 14;
    let d = frame.data;
    let h = d.first_chunk::<NEED>()?;
    if frame.linktype != Linktype::ETHERNET || h[12..15] != [0x08, 0x00, 0x45] {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let frag = u16::from_be_bytes([h[20], h[21]]);
    let proto = h[23];
    // Fragments (MF or an offset) and lengths shorter than the header go the general way.
    if frag & 0x3FFF != 0 || total < 20 {
        return None;
    }
    let have = d.len() - ETH_HEADER;
    let cut = usize::try_from(frame.wire_len).unwrap_or(usize::MAX).saturating_sub(d.len());
    // As `payload_len`: a length past the captured bytes is fine only within what the snaplen
    // cut.
    let (len, snapped) = if total <= have {
        (total, false)
    } else if total - have <= cut {
        (have, true)
    } else {
        return None;
    };
    let cut_l4 = total - len;
    let l4 = &d[ETH_HEADER + 20..ETH_HEADER + len];
    let (sp, dp) = (u16::from_be_bytes([h[34], h[35]]), u16::from_be_bytes([h[36], h[37]]));
    // As `tcp` and `transport`'s UDP arm, for a whole datagram, keeping only the clean cases.
    let (tcp_flags, header, end) = match proto {
        PROTO_TCP => {
            let doff = usize::from(h[46] >> 4) * 4;
            if l4.len() < 14 || doff < 20 || (doff > l4.len() && doff > l4.len() + cut_l4) {
                return None;
            }
            (TcpFlags(h[47]), doff, l4.len())
        }
        PROTO_UDP => {
            let ulen = usize::from(u16::from_be_bytes([h[38], h[39]]));
            if l4.len() < 6 || ulen < 8 || ulen > l4.len() + cut_l4 {
                return None;
            }
            if open && (tunnel_port(sp) || tunnel_port(dp)) {
                return None;
            }
            (TcpFlags(0), 8, ulen.min(l4.len()))
        }
        _ => return None,
    };
    let len = end.saturating_sub(header);
    if sp == 0 || dp == 0 {
        return None;
    }
    if snapped {
        anomalies.insert(Anomalies::SNAPLEN_TRUNCATED);
    }
    *out = Decoded::Ip(IpPacket {
        src: Addr::v4([h[26], h[27], h[28], h[29]]),
        dst: Addr::v4([h[30], h[31], h[32], h[33]]),
        proto,
        ports: Some(Ports { src: sp, dst: dp }),
        tcp_flags,
        vlan: 0,
        fragment: Fragment::Whole,
        tunnel: 0,
    });
    if len > 0 {
        *payload = Span { start: ETH_HEADER + 20 + header, len };
    }
    Some(())
}

/// Every frame the common case does not take. Out of line: [`decode_into`] is inlined into
/// its callers for the common case's sake.
#[inline(never)]
fn general(
    frame: &Frame<'_>,
    anomalies: &mut Anomalies,
    span: &mut Span,
    chain: Option<&mut Chain>,
) -> Decoded {
    let data = frame.data;
    if data.is_empty() {
        return Decoded::Skip(Skip::PcapRecordBad);
    }
    // Bytes of the packet the capture did not keep: a header running past the captured bytes
    // by no more than this was cut by the snaplen, which is harmless (CATALOGUE.md #49).
    let cut = usize::try_from(frame.wire_len).unwrap_or(usize::MAX).saturating_sub(data.len());
    let net = match link(frame.linktype, data) {
        Ok(n) => n,
        Err(d) => return d,
    };
    let mut payload: &[u8] = &[];
    let mut d = ip(net.kind, net.bytes, cut, net.vlan, anomalies, &mut payload);
    if let Some(chain) = chain {
        (d, payload) = follow(d, payload, cut, anomalies, chain);
    }
    // Only a TCP or UDP payload is looked at (other protocols leave theirs here for `follow`).
    if !matches!(d, Decoded::Ip(IpPacket { ports: Some(_), .. })) {
        return d;
    }
    // The payload is a slice of `data`: its place is the distance between their starts.
    let start = payload.as_ptr().addr().wrapping_sub(data.as_ptr().addr());
    if !payload.is_empty() && start <= data.len() {
        *span = Span { start, len: payload.len() };
    }
    d
}

/// IP protocol 50 (RFC 4303): what NAT traversal carries in UDP.
const PROTO_ESP: u8 = 50;

/// Follows the tunnels of a decoded packet `d`, whose payload (after its TCP or UDP header, or
/// after the IP header for another protocol) is `payload`, to [`MAX_DEPTH`]: returns the
/// innermost packet and its payload, the tunnels written to `chain`. A tunnel whose payload is
/// not IP (PPP control, an Ethernet frame of ARP) or cannot be read leaves the packet as its
/// carrier: tshark's innermost view counts it there too.
fn follow<'a>(
    mut d: Decoded,
    mut payload: &'a [u8],
    cut: usize,
    anomalies: &mut Anomalies,
    chain: &mut Chain,
) -> (Decoded, &'a [u8]) {
    while let Decoded::Ip(pkt) = d {
        let (sp, dp) = pkt.ports.map_or((0, 0), |p| (p.src, p.dst));
        let decap = match pkt.fragment {
            // A later fragment's bytes are the middle of a datagram (see `flow` for its flow).
            Fragment::NonFirst { .. } => None,
            _ if pkt.proto == PROTO_UDP => pkt.ports.and_then(|_| tunnel::over_udp(sp, dp, payload)),
            _ if pkt.proto == PROTO_TCP => None,
            _ => tunnel::over_ip(pkt.proto, payload),
        };
        let (t, inner) = match decap {
            None => break,
            Some(Ok(found)) => found,
            Some(Err(bad)) => {
                chain.fail(Problem::Bad(bad));
                anomalies.insert(Anomalies::TUNNEL_MALFORMED);
                break;
            }
        };
        if chain.depth() == MAX_DEPTH {
            chain.fail(Problem::TooDeep);
            anomalies.insert(Anomalies::TUNNEL_TOO_DEEP);
            break;
        }
        // In a first fragment the inner packet runs on in the later ones: its lengths cannot be
        // checked against the bytes here (as a first fragment's transport header's are not).
        let first = matches!(pkt.fragment, Fragment::First { .. });
        let inner_cut = if first { usize::MAX / 2 } else { cut };
        let mut tags = Anomalies::default();
        let mut l4: &[u8] = &[];
        let next = match inner {
            Inner::Ipv4(b) => ip(Net::V4, b, inner_cut, pkt.vlan, &mut tags, &mut l4),
            Inner::Ipv6(b) => ip(Net::V6, b, inner_cut, pkt.vlan, &mut tags, &mut l4),
            Inner::Ethernet(b) => match link(Linktype::ETHERNET, b) {
                // The key's VLAN stays the capture link's; the tunnel tells the segments apart.
                Ok(net) => ip(net.kind, net.bytes, inner_cut, pkt.vlan, &mut tags, &mut l4),
                Err(e) => e,
            },
            // Encrypted: a protocol-50 packet between the NAT-T ends, with no more to see.
            Inner::Esp(_) => Decoded::Ip(IpPacket {
                src: pkt.src,
                dst: pkt.dst,
                proto: PROTO_ESP,
                ports: None,
                tcp_flags: TcpFlags(0),
                vlan: pkt.vlan,
                fragment: Fragment::Whole,
                tunnel: 0,
            }),
            Inner::NotIp => Decoded::NonIp,
        };
        match next {
            Decoded::Ip(_) => {
                if first {
                    tags.remove(Anomalies::SNAPLEN_TRUNCATED);
                    if chain.depth() == 0
                        && let Fragment::First { id } = pkt.fragment
                    {
                        chain.outer_first = Some(id);
                    }
                }
                let level = Level {
                    tunnel: t,
                    src: pkt.src,
                    dst: pkt.dst,
                    src_port: sp,
                    dst_port: dp,
                    proto: pkt.proto,
                };
                chain.push(level);
                anomalies.insert(tags);
                d = next;
                // (Left empty for ESP, which has nothing to look at.)
                payload = l4;
            }
            Decoded::NonIp => break,
            Decoded::Skip(s) => {
                chain.fail(Problem::Inner(s));
                anomalies.insert(Anomalies::TUNNEL_MALFORMED);
                break;
            }
        }
    }
    (d, payload)
}

/// An IPv4 or IPv6 header and what follows it, decoded by its version's decoder.
fn ip<'a>(
    kind: Net,
    b: &'a [u8],
    cut: usize,
    vlan: u16,
    anomalies: &mut Anomalies,
    l4: &mut &'a [u8],
) -> Decoded {
    match kind {
        Net::V4 => ipv4(b, cut, vlan, anomalies, l4),
        Net::V6 => ipv6(b, cut, vlan, anomalies, l4),
    }
}

#[derive(Clone, Copy)]
enum Net {
    V4,
    V6,
}

struct NetSlice<'a> {
    kind: Net,
    bytes: &'a [u8],
    vlan: u16,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Finds the network layer of a frame.
fn link(linktype: Linktype, data: &[u8]) -> Result<NetSlice<'_>, Decoded> {
    match linktype {
        Linktype::ETHERNET => {
            let ethertype = be16(data, 12).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
            ethertype_payload(ethertype, &data[ETH_HEADER..], 0, false)
        }
        // Linux cooked capture v1: 16 bytes, protocol (an EtherType for IP) in the last two.
        Linktype::LINUX_SLL => {
            let proto = be16(data, 14).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
            let rest = data.get(16..).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
            ethertype_payload(proto, rest, 0, false)
        }
        // Linux cooked capture v2: 20 bytes, protocol first.
        Linktype::LINUX_SLL2 => {
            let rest = data.get(20..).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
            let proto = be16(data, 0).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
            ethertype_payload(proto, rest, 0, false)
        }
        Linktype::RAW | Linktype::RAW_DLT12 | Linktype::RAW_DLT14 => raw_ip(data, 0),
        Linktype::IPV4 => Ok(NetSlice { kind: Net::V4, bytes: data, vlan: 0 }),
        Linktype::IPV6 => Ok(NetSlice { kind: Net::V6, bytes: data, vlan: 0 }),
        // The family is in the capturing host's byte order, which the file does not record:
        // accept either order, as tcpdump does.
        Linktype::NULL | Linktype::LOOP => {
            let b = data.get(..4).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
            let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let rest = &data[4..];
            let family = if linktype == Linktype::LOOP { be } else { le.min(be) };
            // Some Linux tools wrote an EtherType where the family belongs; Wireshark accepts
            // it (PcapPlusPlus's null_loopback capture has one).
            if family == AF_INET || family == u32::from(EtherType::IPV4.0) {
                Ok(NetSlice { kind: Net::V4, bytes: rest, vlan: 0 })
            } else if AF_INET6.contains(&family) || family == u32::from(EtherType::IPV6.0) {
                Ok(NetSlice { kind: Net::V6, bytes: rest, vlan: 0 })
            } else {
                // Older Linux captures put the EtherType in bytes 2-3 (Wireshark reads it).
                match EtherType(u16::from_be_bytes([b[2], b[3]])) {
                    EtherType::IPV4 => Ok(NetSlice { kind: Net::V4, bytes: rest, vlan: 0 }),
                    EtherType::IPV6 => Ok(NetSlice { kind: Net::V6, bytes: rest, vlan: 0 }),
                    _ => Err(Decoded::NonIp),
                }
            }
        }
        _ => Err(Decoded::Skip(Skip::UnsupportedLinktype)),
    }
}

/// Raw IP: the version nibble says which.
fn raw_ip(data: &[u8], vlan: u16) -> Result<NetSlice<'_>, Decoded> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Ok(NetSlice { kind: Net::V4, bytes: data, vlan }),
        Some(6) => Ok(NetSlice { kind: Net::V6, bytes: data, vlan }),
        Some(_) => Err(Decoded::Skip(Skip::IpBadVersion)),
        None => Err(Decoded::Skip(Skip::L3Truncated)),
    }
}

/// Follows an EtherType through VLAN tags, MPLS labels and PPPoE to IP.
fn ethertype_payload(
    mut ethertype: u16,
    mut rest: &[u8],
    mut vlan: u16,
    mut tagged: bool,
) -> Result<NetSlice<'_>, Decoded> {
    let mut tags = 0usize;
    loop {
        match EtherType(ethertype) {
            EtherType::IPV4 => {
                return Ok(NetSlice { kind: Net::V4, bytes: rest, vlan });
            }
            EtherType::IPV6 => {
                return Ok(NetSlice { kind: Net::V6, bytes: rest, vlan });
            }
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return Err(Decoded::Skip(Skip::VlanTooDeep));
                }
                let tci = be16(rest, 0).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
                ethertype = be16(rest, 2).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
                if !tagged {
                    vlan = tci & 0x0fff;
                    tagged = true;
                }
                rest = &rest[VLAN_TAG..];
            }
            EtherType(ETHERTYPE_MPLS_UNICAST | ETHERTYPE_MPLS_MULTICAST) => {
                return mpls(rest, vlan);
            }
            EtherType(ETHERTYPE_PPPOE_SESSION) => {
                // RFC 2516: 6-byte PPPoE header, then the 2-byte PPP protocol.
                let proto = be16(rest, 6).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
                let ip = &rest[8..];
                return match proto {
                    PPP_IPV4 => Ok(NetSlice { kind: Net::V4, bytes: ip, vlan }),
                    PPP_IPV6 => Ok(NetSlice { kind: Net::V6, bytes: ip, vlan }),
                    _ => Err(Decoded::NonIp),
                };
            }
            _ => return Err(Decoded::NonIp),
        }
    }
}

/// RFC 3032 label stack: 4 bytes per label, bottom of stack in bit 8. What follows has no
/// type field; IP is recognised by its version nibble (as tshark and tcpdump do).
fn mpls(mut rest: &[u8], vlan: u16) -> Result<NetSlice<'_>, Decoded> {
    for _ in 0..MAX_MPLS_LABELS {
        let label = be32(rest, 0).ok_or(Decoded::Skip(Skip::TruncatedLink))?;
        rest = &rest[4..];
        if label & 0x100 != 0 {
            return match rest.first().map(|b| b >> 4) {
                Some(4) => Ok(NetSlice { kind: Net::V4, bytes: rest, vlan }),
                Some(6) => Ok(NetSlice { kind: Net::V6, bytes: rest, vlan }),
                Some(_) => Err(Decoded::NonIp),
                None => Err(Decoded::Skip(Skip::L3Truncated)),
            };
        }
    }
    Err(Decoded::Skip(Skip::TruncatedLink))
}

/// The bytes of an IP payload that belong to the packet, given what the header claims
/// (`claimed`), what was captured (`have`) and what the snaplen cut (`cut`).
fn payload_len(claimed: usize, have: usize, cut: usize, anomalies: &mut Anomalies) -> usize {
    if claimed <= have {
        claimed
    } else if claimed - have <= cut {
        anomalies.insert(Anomalies::SNAPLEN_TRUNCATED);
        have
    } else {
        // The header claims bytes the wire never carried. The ports are still the packet's
        // own: tcpdump prints them ("truncated-ip - N bytes missing") and tshark counts the
        // packet in its stream (5 such packets sit mid-session in nDPI's telnet capture), so
        // it is attributed and tagged rather than dropped.
        anomalies.insert(Anomalies::IP_LEN_EXCEEDS_FRAME);
        have
    }
}

fn ipv4<'a>(b: &'a [u8], cut: usize, vlan: u16, anomalies: &mut Anomalies, l4: &mut &'a [u8]) -> Decoded {
    if b.len() < 20 {
        return Decoded::Skip(if b.is_empty() || b[0] >> 4 == 4 || cut > 0 {
            Skip::L3Truncated
        } else {
            Skip::IpBadVersion
        });
    }
    let h = match Ipv4HeaderSlice::from_slice(b) {
        Ok(h) => h,
        Err(etherparse::err::ipv4::HeaderSliceError::Len(_)) => {
            return Decoded::Skip(Skip::L3Truncated);
        }
        Err(etherparse::err::ipv4::HeaderSliceError::Content(e)) => {
            return Decoded::Skip(match e {
                etherparse::err::ipv4::HeaderError::UnexpectedVersion { .. } => Skip::IpBadVersion,
                etherparse::err::ipv4::HeaderError::HeaderLengthSmallerThanHeader { .. } => Skip::Ipv4BadIhl,
            });
        }
    };
    let hlen = usize::from(h.ihl()) * 4;
    let total = usize::from(h.total_len());
    // Total length 0 is what TCP segmentation offload leaves in locally captured packets;
    // Wireshark then trusts the captured length, and so do we.
    let total = if total == 0 { b.len() } else { total };
    if total < hlen {
        return Decoded::Skip(Skip::IpLenInconsistent);
    }
    let len = payload_len(total, b.len(), cut, anomalies);
    let payload = &b[hlen..len];
    let src = Addr::v4(h.source());
    let dst = Addr::v4(h.destination());
    let proto = h.protocol().0;
    let offset = h.fragments_offset().value();
    let fragment = if offset != 0 {
        Fragment::NonFirst { id: u32::from(h.identification()), last: !h.more_fragments() }
    } else if h.more_fragments() {
        Fragment::First { id: u32::from(h.identification()) }
    } else {
        Fragment::Whole
    };
    let cut_l4 = total.saturating_sub(len);
    transport(src, dst, proto, payload, cut_l4, vlan, fragment, anomalies, l4)
}

fn ipv6<'a>(b: &'a [u8], cut: usize, vlan: u16, anomalies: &mut Anomalies, l4: &mut &'a [u8]) -> Decoded {
    let h = match Ipv6HeaderSlice::from_slice(b) {
        Ok(h) => h,
        Err(etherparse::err::ipv6::HeaderSliceError::Len(_)) => {
            return Decoded::Skip(if b.first().is_some_and(|v| v >> 4 != 6) {
                Skip::IpBadVersion
            } else {
                Skip::L3Truncated
            });
        }
        Err(etherparse::err::ipv6::HeaderSliceError::Content(_)) => {
            return Decoded::Skip(Skip::IpBadVersion);
        }
    };
    let src = Addr(h.source());
    let dst = Addr(h.destination());
    let total = 40 + usize::from(h.payload_length());
    // Payload length 0 means a jumbogram (RFC 2675) or offload: trust the captured bytes.
    let total = if h.payload_length() == 0 { b.len() } else { total };
    let len = payload_len(total, b.len(), cut, anomalies);
    let cut_l4 = total - len;
    let mut next = h.next_header().0;
    let mut rest = &b[40..len];
    let mut fragment = Fragment::Whole;
    // RFC 8200 §4: walk the extension headers to the upper-layer header.
    for i in 0..=MAX_IPV6_EXTENSIONS {
        if i == MAX_IPV6_EXTENSIONS {
            return Decoded::Skip(Skip::Ipv6ExtBad);
        }
        let ext_len = match next {
            // Hop-by-Hop must come first (RFC 8200 §4.3).
            0 if i > 0 => return Decoded::Skip(Skip::Ipv6ExtBad),
            // Hop-by-Hop, Routing, Destination Options, Mobility, HIP, Shim6: (len + 1) * 8.
            0 | 43 | 60 | 135 | 139 | 140 => match rest.get(1) {
                Some(&l) => (usize::from(l) + 1) * 8,
                None => return Decoded::Skip(Skip::Ipv6ExtBad),
            },
            // Fragment header: 8 bytes, offset in the upper 13 bits of bytes 2-3.
            44 => {
                let (Some(off), Some(id)) = (be16(rest, 2), be32(rest, 4)) else {
                    return Decoded::Skip(Skip::Ipv6ExtBad);
                };
                if off >> 3 != 0 {
                    fragment = Fragment::NonFirst { id, last: off & 1 == 0 };
                } else if off & 1 != 0 {
                    fragment = Fragment::First { id };
                }
                8
            }
            // Authentication Header: (len + 2) * 4 (RFC 4302).
            51 => match rest.get(1) {
                Some(&l) => (usize::from(l) + 2) * 4,
                None => return Decoded::Skip(Skip::Ipv6ExtBad),
            },
            _ => break,
        };
        let Some(&nh) = rest.first() else {
            return Decoded::Skip(Skip::Ipv6ExtBad);
        };
        if ext_len > rest.len() {
            return Decoded::Skip(Skip::Ipv6ExtBad);
        }
        rest = &rest[ext_len..];
        next = nh;
        if matches!(fragment, Fragment::NonFirst { .. }) {
            break;
        }
    }
    transport(src, dst, next, rest, cut_l4, vlan, fragment, anomalies, l4)
}

#[expect(clippy::too_many_arguments, reason = "one call site per IP version; a struct adds noise")]
fn transport<'a>(
    src: Addr,
    dst: Addr,
    proto: u8,
    payload: &'a [u8],
    cut: usize,
    vlan: u16,
    fragment: Fragment,
    anomalies: &mut Anomalies,
    l4: &mut &'a [u8],
) -> Decoded {
    let mut pkt =
        IpPacket { src, dst, proto, ports: None, tcp_flags: TcpFlags(0), vlan, fragment, tunnel: 0 };
    if matches!(fragment, Fragment::NonFirst { .. }) {
        anomalies.insert(Anomalies::FRAGMENT_NONFIRST);
        return Decoded::Ip(pkt);
    }
    // A first fragment carries the transport header but not the whole datagram: its lengths
    // cannot be checked against the payload.
    let whole = matches!(fragment, Fragment::Whole);
    match IpNumber(proto) {
        IpNumber::TCP => match tcp(payload, cut, whole) {
            Ok((ports, flags)) => {
                pkt.ports = Some(ports);
                pkt.tcp_flags = flags;
                let doff = payload.get(12).map_or(20, |off| usize::from(off >> 4) * 4);
                *l4 = payload.get(doff..).unwrap_or_default();
            }
            Err(s) => return Decoded::Skip(s),
        },
        IpNumber::UDP => {
            let (Some(sp), Some(dp), Some(ulen)) = (be16(payload, 0), be16(payload, 2), be16(payload, 4))
            else {
                return Decoded::Skip(Skip::L4Truncated);
            };
            let ulen = usize::from(ulen);
            // RFC 768: length covers header and data. Ports are still the datagram's own, so a
            // bad length is tagged but the packet is attributed (tcpdump and tshark show the ports).
            if ulen < 8 || (whole && ulen > payload.len() + cut) {
                anomalies.insert(Anomalies::UDP_BAD_LEN);
            }
            pkt.ports = Some(Ports { src: sp, dst: dp });
            // The datagram's own length bounds its data (what follows is padding).
            *l4 = payload.get(8..ulen.clamp(8, payload.len().max(8))).unwrap_or_default();
        }
        _ => {
            // Not looked at as a payload; `follow` reads it for a tunnel.
            *l4 = payload;
            return Decoded::Ip(pkt);
        }
    }
    if let Some(p) = pkt.ports
        && (p.src == 0 || p.dst == 0)
    {
        anomalies.insert(Anomalies::PORT_ZERO);
    }
    Decoded::Ip(pkt)
}

/// TCP ports and flags. A header cut by the snaplen still gives its ports and flags (tshark's
/// ports.tsv counts such a SYN); a header the IP length itself leaves no room for is malformed.
fn tcp(b: &[u8], cut: usize, whole: bool) -> Result<(Ports, TcpFlags), Skip> {
    let (Some(sp), Some(dp), Some(&off), Some(&flags)) = (be16(b, 0), be16(b, 2), b.get(12), b.get(13))
    else {
        return Err(Skip::L4Truncated);
    };
    let doff = usize::from(off >> 4) * 4;
    if doff < 20 {
        return Err(Skip::TcpBadDoff);
    }
    // Options cut by the snaplen are harmless; a first fragment must hold the whole header.
    if doff > b.len() && (!whole || doff > b.len() + cut) {
        return Err(Skip::L4Truncated);
    }
    Ok((Ports { src: sp, dst: dp }, TcpFlags(flags)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_tags_are_listed_by_bit() {
        for (i, (bit, _)) in Anomalies::ALL.iter().enumerate() {
            assert_eq!(bit.0, 1 << i);
        }
    }

    /// The common case's answer, `None` where it leaves the frame to the general way.
    fn fast_path(frame: &Frame<'_>, anomalies: &mut Anomalies, payload: &mut Span) -> Option<Decoded> {
        let mut d = Decoded::NonIp;
        common_case(frame, anomalies, payload, &mut d, true).then_some(d)
    }
    use crate::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};

    fn frame(linktype: Linktype, data: &[u8], wire_len: usize) -> Frame<'_> {
        Frame {
            ts: Timestamp(0),
            wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
            linktype,
            data,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        }
    }

    fn run(linktype: Linktype, data: &[u8]) -> (Decoded, Anomalies) {
        let mut a = Anomalies::default();
        let d = decode(&frame(linktype, data, data.len()), &mut a);
        (d, a)
    }

    /// IPv4 header (checksum left 0: decode does not check it) + payload.
    fn ipv4(proto: u8, payload: &[u8], frag: u16) -> Vec<u8> {
        let total = u16::try_from(20 + payload.len()).unwrap_or(u16::MAX);
        let mut v = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v[6..8].copy_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn tcp(sp: u16, dp: u16, flags: u8) -> Vec<u8> {
        let mut v = vec![0u8; 20];
        v[0..2].copy_from_slice(&sp.to_be_bytes());
        v[2..4].copy_from_slice(&dp.to_be_bytes());
        v[12] = 5 << 4;
        v[13] = flags;
        v
    }

    fn udp(sp: u16, dp: u16, data: usize) -> Vec<u8> {
        let mut v = vec![0u8; 8 + data];
        v[0..2].copy_from_slice(&sp.to_be_bytes());
        v[2..4].copy_from_slice(&dp.to_be_bytes());
        v[4..6].copy_from_slice(&u16::try_from(8 + data).unwrap_or(0).to_be_bytes());
        v
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn ip(d: Decoded) -> IpPacket {
        match d {
            Decoded::Ip(p) => p,
            other => panic!("expected IP, got {other:?}"),
        }
    }

    proptest::proptest! {
        /// The common case decodes exactly as the general path does, or leaves the frame to
        /// it: valid Ethernet/IPv4 TCP and UDP frames with random bytes overwritten, cut at
        /// random, and a random wire length.
        #[test]
        fn common_case_agrees_with_the_general_path(
            udp_frame in proptest::bool::ANY,
            frag in proptest::prop_oneof![
                proptest::strategy::Just(0u16),
                proptest::strategy::Just(0x4000),
                proptest::strategy::Just(0x2000),
                proptest::strategy::Just(1),
                proptest::num::u16::ANY,
            ],
            sp in 0u16..3,
            dp in proptest::num::u16::ANY,
            pad in 0usize..40,
            edits in proptest::collection::vec((0usize..60, proptest::num::u8::ANY), 0..4),
            cut in 0usize..90,
            extra in 0usize..3000,
        ) {
            let l4 = if udp_frame { udp(sp, dp, pad) } else { tcp(sp, dp, TcpFlags::SYN) };
            let mut f = eth(0x0800, &ipv4(if udp_frame { 17 } else { 6 }, &l4, frag));
            f.extend(std::iter::repeat_n(0, pad));
            for (at, b) in edits {
                if let Some(x) = f.get_mut(at) {
                    *x = b;
                }
            }
            let wire = f.len() + extra;
            f.truncate(f.len().saturating_sub(cut));
            let fr = frame(Linktype::ETHERNET, &f, wire);
            let (mut a1, mut a2) = (Anomalies::default(), Anomalies::default());
            let (mut s1, mut s2) = (Span::default(), Span::default());
            if let Some(fast) = fast_path(&fr, &mut a1, &mut s1) {
                let slow = general(&fr, &mut a2, &mut s2, Some(&mut Chain::default()));
                proptest::prop_assert_eq!(fast, slow);
                proptest::prop_assert_eq!(a1, a2);
                proptest::prop_assert_eq!(s1, s2, "the payload's place");
            } else {
                proptest::prop_assert_eq!(a1, Anomalies::default());
            }
        }
    }

    #[test]
    fn common_case_takes_the_usual_frames() {
        let mut a = Anomalies::default();
        let f = eth(0x0800, &ipv4(6, &tcp(1234, 445, TcpFlags::SYN), 0));
        assert!(fast_path(&frame(Linktype::ETHERNET, &f, f.len()), &mut a, &mut Span::default()).is_some());
        let f = eth(0x0800, &ipv4(17, &udp(1234, 53, 30), 0));
        // Cut by the snaplen: still the common case, tagged.
        let d = fast_path(&frame(Linktype::ETHERNET, &f[..50], f.len()), &mut a, &mut Span::default());
        assert!(d.is_some());
        assert!(a.contains(Anomalies::SNAPLEN_TRUNCATED));
        // VLAN-tagged, fragments and IPv6 are not.
        let f = eth(0x0800, &ipv4(6, &tcp(1234, 445, 0), 0x2000));
        assert!(fast_path(&frame(Linktype::ETHERNET, &f, f.len()), &mut a, &mut Span::default()).is_none());
    }

    #[test]
    fn ethernet_tcp_syn() {
        let f = eth(0x0800, &ipv4(6, &tcp(1234, 80, TcpFlags::SYN), 0));
        let p = ip(run(Linktype::ETHERNET, &f).0);
        assert_eq!(p.ports, Some(Ports { src: 1234, dst: 80 }));
        assert!(p.tcp_flags.is_syn());
        assert_eq!(p.src, Addr::v4([10, 0, 0, 1]));
        assert_eq!(p.fragment, Fragment::Whole);
        assert_eq!(p.vlan, 0);
    }

    #[test]
    fn vlan_stacks_up_to_the_cap_then_too_deep() {
        let inner = ipv4(6, &tcp(49152, 445, TcpFlags::ACK), 0);
        let stacked = |n: usize| {
            let mut payload = Vec::new();
            for i in 0..n {
                let next: u16 = if i + 1 == n { 0x0800 } else { 0x8100 };
                payload.extend_from_slice(&(100 + u16::try_from(i).unwrap_or(0)).to_be_bytes());
                payload.extend_from_slice(&next.to_be_bytes());
            }
            payload.extend_from_slice(&inner);
            eth(0x88a8, &payload)
        };
        // etherparse stops after 3 tags (CATALOGUE.md §1 finding 2); ten must still be TCP 445.
        let p = ip(run(Linktype::ETHERNET, &stacked(10)).0);
        assert_eq!(p.ports.map(|p| p.dst), Some(445));
        assert_eq!(p.vlan, 100, "the outermost tag's id");
        assert_eq!(run(Linktype::ETHERNET, &stacked(MAX_VLAN_TAGS + 1)).0, Decoded::Skip(Skip::VlanTooDeep));
    }

    #[test]
    fn mpls_pppoe_sll_sll2_null_loop_raw() {
        let v4 = ipv4(17, &udp(1025, 137, 4), 0);
        let mut mpls = vec![0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64];
        mpls.extend_from_slice(&v4);
        let mut pppoe = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21];
        pppoe.extend_from_slice(&v4);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&v4);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&v4);
        let mut null_le = vec![2, 0, 0, 0];
        null_le.extend_from_slice(&v4);
        let mut loop_be = vec![0, 0, 0, 2];
        loop_be.extend_from_slice(&v4);
        for (lt, f) in [
            (Linktype::ETHERNET, eth(0x8847, &mpls)),
            (Linktype::ETHERNET, eth(0x8864, &pppoe)),
            (Linktype::LINUX_SLL, sll),
            (Linktype::LINUX_SLL2, sll2),
            (Linktype::NULL, null_le),
            (Linktype::LOOP, loop_be),
            (Linktype::RAW, v4.clone()),
            (Linktype::RAW_DLT12, v4.clone()),
            (Linktype::IPV4, v4.clone()),
        ] {
            let p = ip(run(lt, &f).0);
            assert_eq!(p.ports, Some(Ports { src: 1025, dst: 137 }), "{lt}");
        }
        assert_eq!(run(Linktype(147), &v4).0, Decoded::Skip(Skip::UnsupportedLinktype));
        assert_eq!(run(Linktype::ETHERNET, &eth(0x0806, &[0; 28])).0, Decoded::NonIp);
    }

    #[test]
    fn fragments_first_carries_ports_nonfirst_does_not() {
        // MF set, offset 0: the first fragment's UDP header is read (CATALOGUE.md #64).
        let first = eth(0x0800, &ipv4(17, &udp(88, 49160, 1472), 0x2000));
        let p = ip(run(Linktype::ETHERNET, &first).0);
        assert_eq!(p.fragment, Fragment::First { id: 0x1234 });
        assert_eq!(p.ports, Some(Ports { src: 88, dst: 49160 }));
        let (d, a) = run(Linktype::ETHERNET, &eth(0x0800, &ipv4(17, &[0u8; 100], 185)));
        let p = ip(d);
        assert_eq!(p.fragment, Fragment::NonFirst { id: 0x1234, last: true });
        assert_eq!(p.ports, None);
        assert!(a.contains(Anomalies::FRAGMENT_NONFIRST));
        // Its bytes are the middle of a datagram: no payload to check or learn from; the
        // first fragment's payload is its own.
        let later = eth(0x0800, &ipv4(17, &[0u8; 100], 185));
        let (mut out, mut tags) = (Decoded::NonIp, Anomalies::default());
        let span = decode_into(
            &frame(Linktype::ETHERNET, &later, later.len()),
            &mut tags,
            &mut out,
            Some(&mut Chain::default()),
        );
        assert_eq!((out, span), (d, Span::default()));
        let span = decode_into(
            &frame(Linktype::ETHERNET, &first, first.len()),
            &mut tags,
            &mut out,
            Some(&mut Chain::default()),
        );
        assert!(span.len > 0, "{span:?}");
        // A first fragment too short for the TCP header.
        let tiny = eth(0x0800, &ipv4(6, &[0u8; 8], 0x2000));
        assert_eq!(run(Linktype::ETHERNET, &tiny).0, Decoded::Skip(Skip::L4Truncated));
    }

    #[test]
    fn ipv4_header_lies() {
        let mut ihl3 = ipv4(6, &tcp(1, 445, 0), 0);
        ihl3[0] = 0x43;
        assert_eq!(run(Linktype::RAW, &ihl3).0, Decoded::Skip(Skip::Ipv4BadIhl));
        let mut short_total = ipv4(6, &tcp(1, 445, 0), 0);
        short_total[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(run(Linktype::RAW, &short_total).0, Decoded::Skip(Skip::IpLenInconsistent));
        let mut long_total = ipv4(6, &tcp(1, 445, 0), 0);
        long_total[2..4].copy_from_slice(&1500u16.to_be_bytes());
        // caplen == wire len: the header lies (CATALOGUE.md #45). tshark and tcpdump still show
        // the ports, so the packet is attributed and tagged.
        let (d, a) = run(Linktype::RAW, &long_total);
        assert_eq!(ip(d).ports.map(|p| p.dst), Some(445));
        assert!(a.contains(Anomalies::IP_LEN_EXCEEDS_FRAME));
        // ...but a snaplen cut is harmless (#49).
        let mut a = Anomalies::default();
        let d = decode(&frame(Linktype::RAW, &long_total, 1500), &mut a);
        assert_eq!(ip(d).ports.map(|p| p.dst), Some(445));
        assert!(a.contains(Anomalies::SNAPLEN_TRUNCATED));
        let mut v5 = ipv4(6, &tcp(1, 445, 0), 0);
        v5[0] = 0x55;
        assert_eq!(run(Linktype::ETHERNET, &eth(0x0800, &v5)).0, Decoded::Skip(Skip::IpBadVersion));
        assert_eq!(run(Linktype::ETHERNET, &eth(0x0800, &[])).0, Decoded::Skip(Skip::L3Truncated));
        assert_eq!(run(Linktype::ETHERNET, &[0u8; 10]).0, Decoded::Skip(Skip::TruncatedLink));
        assert_eq!(run(Linktype::ETHERNET, &[]).0, Decoded::Skip(Skip::PcapRecordBad));
    }

    #[test]
    fn tcp_offsets_and_snaplen_cut_options() {
        let mut doff3 = tcp(1, 445, 0);
        doff3[12] = 3 << 4;
        assert_eq!(run(Linktype::RAW, &ipv4(6, &doff3, 0)).0, Decoded::Skip(Skip::TcpBadDoff));
        let mut doff15 = tcp(1, 445, 0);
        doff15[12] = 15 << 4;
        assert_eq!(run(Linktype::RAW, &ipv4(6, &doff15, 0)).0, Decoded::Skip(Skip::L4Truncated));
        // A SYN whose options the snaplen cut: ports and flags still count (zeek tcp-truncated-header).
        let mut syn = tcp(1040, 1433, TcpFlags::SYN);
        syn[12] = 8 << 4;
        syn.extend_from_slice(&[1u8; 12]);
        let full = ipv4(6, &syn, 0);
        let cut = &full[..full.len() - 10];
        let mut a = Anomalies::default();
        let p = ip(decode(&frame(Linktype::RAW, cut, full.len()), &mut a));
        assert_eq!(p.ports, Some(Ports { src: 1040, dst: 1433 }));
        assert!(p.tcp_flags.is_syn());
    }

    #[test]
    fn udp_bad_length_is_tagged_but_attributed() {
        let mut u = udp(1025, 53, 10);
        u[4..6].copy_from_slice(&0u16.to_be_bytes());
        let (d, a) = run(Linktype::RAW, &ipv4(17, &u, 0));
        assert_eq!(ip(d).ports.map(|p| p.dst), Some(53));
        assert!(a.contains(Anomalies::UDP_BAD_LEN));
        let (_, a) = run(Linktype::RAW, &ipv4(17, &udp(0, 0, 0), 0));
        assert!(a.contains(Anomalies::PORT_ZERO));
        assert_eq!(run(Linktype::RAW, &ipv4(17, &[0u8; 5], 0)).0, Decoded::Skip(Skip::L4Truncated));
    }

    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&u16::try_from(payload.len()).unwrap_or(0).to_be_bytes());
        v.push(next);
        v.push(64);
        v.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn ipv6_extension_chains() {
        // Hop-by-hop → destination options → TCP 445.
        let mut p = vec![60, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&tcp(50000, 445, TcpFlags::SYN));
        let d = ip(run(Linktype::IPV6, &ipv6(0, &p)).0);
        assert_eq!(d.ports.map(|p| p.dst), Some(445));
        assert_eq!(d.proto, 6);
        // Hop-by-hop anywhere but first is malformed (RFC 8200 §4.3).
        let mut q = vec![0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&tcp(50000, 445, 0));
        assert_eq!(run(Linktype::IPV6, &ipv6(60, &q)).0, Decoded::Skip(Skip::Ipv6ExtBad));
        // A chain longer than the cap.
        let mut chain = Vec::new();
        for _ in 0..40 {
            chain.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        chain.extend_from_slice(&tcp(1, 445, 0));
        assert_eq!(run(Linktype::IPV6, &ipv6(60, &chain)).0, Decoded::Skip(Skip::Ipv6ExtBad));
        // An extension header that runs past the end.
        assert_eq!(
            run(Linktype::IPV6, &ipv6(60, &[6, 200, 0, 0, 0, 0, 0, 0])).0,
            Decoded::Skip(Skip::Ipv6ExtBad)
        );
        // A first fragment (fragment header, offset 0, M=1) still gives the UDP ports.
        let mut f = vec![17, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        f.extend_from_slice(&udp(5000, 389, 100));
        let d = ip(run(Linktype::IPV6, &ipv6(44, &f)).0);
        assert_eq!(d.fragment, Fragment::First { id: 0xdead_beef });
        assert_eq!(d.ports.map(|p| p.dst), Some(389));
        // No next header (59) is IP without a transport, not malformed.
        assert_eq!(ip(run(Linktype::IPV6, &ipv6(59, &[1, 2, 3])).0).ports, None);
    }

    #[test]
    fn every_prefix_of_valid_frames_decodes_without_panic() {
        let frames = [
            eth(0x0800, &ipv4(6, &tcp(1234, 80, TcpFlags::SYN), 0)),
            eth(
                0x8100,
                &[0, 5, 0x86, 0xdd].iter().copied().chain(ipv6(17, &udp(1, 2, 3))).collect::<Vec<_>>(),
            ),
        ];
        for f in &frames {
            let mut a = Anomalies::default();
            let whole = ip(decode(&frame(Linktype::ETHERNET, f, f.len()), &mut a));
            for n in 0..f.len() {
                // Cut by a snaplen (wire length kept) and cut on the wire (wire length = n).
                for wire in [f.len(), n] {
                    let mut a = Anomalies::default();
                    match decode(&frame(Linktype::ETHERNET, &f[..n], wire), &mut a) {
                        Decoded::Skip(_) => {}
                        Decoded::Ip(p) => {
                            assert_eq!(p.ports, whole.ports, "prefix {n}: ports are the frame's own");
                        }
                        Decoded::NonIp => panic!("prefix {n} of an IP frame decoded as non-IP"),
                    }
                }
            }
        }
    }
}
