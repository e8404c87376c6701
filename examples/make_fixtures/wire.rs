//! Header builders. Each function returns one header (or a whole small packet) with every
//! length and checksum already filled in, so the callers only say what they mean.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EtherType values (IEEE registry).
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// IEEE 802.1ad service tag, the outer tag of a QinQ stack.
    pub const QINQ: u16 = 0x88a8;
}

/// IP protocol numbers (IANA).
pub mod proto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const IPV6_ROUTE: u8 = 43;
    pub const IPV6_FRAG: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_OPTS: u8 = 60;
}

/// TCP flag bits.
pub mod tcpflag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// The Internet checksum (RFC 1071), fed in pieces; a piece may have odd length.
#[derive(Default)]
pub struct Checksum {
    acc: u64,
    odd: Option<u8>,
}

impl Checksum {
    pub fn add(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            match self.odd.take() {
                Some(hi) => self.acc += u64::from(u16::from_be_bytes([hi, b])),
                None => self.odd = Some(b),
            }
        }
        self
    }

    pub fn finish(&self) -> u16 {
        let mut acc = self.acc;
        if let Some(hi) = self.odd {
            acc += u64::from(hi) << 8;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }
}

/// TCP/UDP checksum over the pseudo-header of RFC 793 (IPv4) or RFC 8200 section 8.1 (IPv6).
pub fn l4_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut c = Checksum::default();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            c.add(&s.octets()).add(&d.octets()).add(&[0, proto]);
            c.add(&(segment.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            c.add(&s.octets()).add(&d.octets());
            c.add(&(segment.len() as u32).to_be_bytes()).add(&[0, 0, 0, proto]);
        }
        _ => panic!("mixed IPv4/IPv6 addresses in one packet"),
    }
    c.add(segment).finish()
}

pub struct TcpHeader {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Already padded to a multiple of 4 bytes.
    pub options: Vec<u8>,
}

/// A whole TCP segment with a correct checksum.
pub fn tcp(src: IpAddr, dst: IpAddr, h: &TcpHeader, payload: &[u8]) -> Vec<u8> {
    assert!(h.options.len().is_multiple_of(4) && h.options.len() <= 40);
    let hlen = 20 + h.options.len();
    let mut s = Vec::with_capacity(hlen + payload.len());
    s.extend_from_slice(&h.sport.to_be_bytes());
    s.extend_from_slice(&h.dport.to_be_bytes());
    s.extend_from_slice(&h.seq.to_be_bytes());
    s.extend_from_slice(&h.ack.to_be_bytes());
    s.push(((hlen / 4) as u8) << 4);
    s.push(h.flags);
    s.extend_from_slice(&h.window.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    s.extend_from_slice(&h.options);
    s.extend_from_slice(payload);
    let sum = l4_checksum(src, dst, proto::TCP, &s);
    s[16..18].copy_from_slice(&sum.to_be_bytes());
    s
}

/// The options of a Windows 2000 SYN or SYN/ACK: MSS, NOP, NOP, SACK permitted. No window
/// scaling and no timestamps: Windows 2000 sends them only when Tcp1323Opts is set.
pub fn syn_options(mss: u16) -> Vec<u8> {
    let m = mss.to_be_bytes();
    vec![2, 4, m[0], m[1], 1, 1, 4, 2]
}

/// A whole UDP datagram with a correct length and checksum.
pub fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut d = Vec::with_capacity(len);
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&(len as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    // RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
    let sum = match l4_checksum(src, dst, proto::UDP, &d) {
        0 => 0xffff,
        s => s,
    };
    d[6..8].copy_from_slice(&sum.to_be_bytes());
    d
}

/// ICMP echo request (type 8) or reply (type 0).
pub fn icmp_echo(reply: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![if reply { 0 } else { 8 }, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let sum = Checksum::default().add(&m).finish();
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// An IPv4 header without options. `frag` is the offset in 8-byte units.
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ttl: u8,
    pub id: [u8; 2],
    pub dont_fragment: bool,
    pub more_fragments: bool,
    pub frag: u16,
    pub payload_len: usize,
}

impl Ipv4Header {
    pub fn bytes(&self) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + self.payload_len) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&self.id);
        let mut ff = self.frag & 0x1fff;
        if self.dont_fragment {
            ff |= 0x4000;
        }
        if self.more_fragments {
            ff |= 0x2000;
        }
        h[6..8].copy_from_slice(&ff.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.proto;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        set_ipv4_checksum(&mut h);
        h
    }
}

/// Recomputes the header checksum of the 20-byte IPv4 header at the start of `h`.
pub fn set_ipv4_checksum(h: &mut [u8]) {
    h[10..12].copy_from_slice(&[0, 0]);
    let sum = Checksum::default().add(&h[..20]).finish();
    h[10..12].copy_from_slice(&sum.to_be_bytes());
}

pub fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, next: u8, hop_limit: u8, payload_len: usize) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[0] = 0x60;
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = next;
    h[7] = hop_limit;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

/// Hop-by-hop or destination options header (RFC 8200 4.3, 4.6) holding one PadN option that
/// fills it to `8 * (1 + ext_len)` bytes.
pub fn ipv6_options_header(next: u8, ext_len: u8) -> Vec<u8> {
    let total = 8 * (1 + usize::from(ext_len));
    let mut h = vec![next, ext_len];
    // PadN (type 1): its length byte counts the zero bytes after it.
    h.push(1);
    h.push((total - 4) as u8);
    h.resize(total, 0);
    h
}

/// Routing header type 0 with one address and Segments Left 0. With nothing left to visit,
/// RFC 8200 4.4 says a node ignores the header, and the final destination is the one in the
/// IPv6 header, so upper-layer checksums use it.
pub fn ipv6_routing_header(next: u8, via: Ipv6Addr) -> Vec<u8> {
    let mut h = vec![next, 2, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&via.octets());
    h
}

/// Fragment header (RFC 8200 4.5). `offset` is in 8-byte units.
pub fn ipv6_fragment_header(next: u8, offset: u16, more: bool, id: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[0] = next;
    h[2..4].copy_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
    h[4..8].copy_from_slice(&id.to_be_bytes());
    h
}

/// ARP for IPv4 over Ethernet (RFC 826). `op` 1 = request, 2 = reply.
pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa.octets());
    a.extend_from_slice(&tha);
    a.extend_from_slice(&tpa.octets());
    a
}
