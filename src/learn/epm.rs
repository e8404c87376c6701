//! The DCE/RPC endpoint mapper's `ept_map` replies (C706 Appendix O, opnum 3; MS-RPCE
//! §2.2.1.2): the towers that say on which TCP or UDP port, at which address, an interface's
//! server listens.
//!
//! The reply's stub is NDR (C706 ch. 14) in the PDU's data representation: the context handle
//! (20 bytes), `num_towers` (u32), then `towers`, a conformant varying array of pointers to
//! `twr_t` (max_count, offset, actual_count, one referent id per element, then each non-null
//! tower: its conformance, `tower_length`, and `tower_length` octets, 4-byte aligned). The
//! tower octets are not NDR: C706 Appendix L encodes the floor count and the left- and
//! right-hand side lengths little-endian whatever the data representation, and the port and
//! address big-endian (network order). A TCP or UDP tower has five floors: the interface
//! (`0x0d`, UUID, major version), the transfer syntax (`0x0d` ...), the RPC protocol (`0x0b`
//! connection-oriented, `0x0a` connectionless), the port (`0x07` TCP, `0x08` UDP, `0x1f` HTTP
//! for `ncacn_http`, which is TCP too) and the IPv4 address (`0x09`).
//!
//! A connection-oriented response does not name its operation (only its request did, by
//! call id): the stub must have the `ept_map` reply's shape throughout, which an `ept_lookup`
//! reply or another interface's does not. A connectionless response names the interface and
//! the operation: only the endpoint mapper's opnum 3 is read. Big-endian data representations
//! are read as such (the NDR integers; the towers are little-endian either way). Requests are
//! never read: their tower names the wanted protocol with port 0.

use super::{Announced, Control, Kind, Role, Sink, le16, or_own, u16_in, u32_in};
use crate::decode::Addr;
use crate::services::Transport;

/// The endpoint mapper interface, `e1af8308-5d1f-11c9-91a4-08002b14a0fa` (C706 Appendix O),
/// in canonical byte order.
pub(super) const EPM_INTERFACE: [u8; 16] =
    [0xe1, 0xaf, 0x83, 0x08, 0x5d, 0x1f, 0x11, 0xc9, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa];

/// `ept_map`'s operation number (C706 Appendix O; MS-RPCE §3.1.1.5.1 lists ept_insert 0,
/// ept_delete 1, ept_lookup 2, ept_map 3).
const EPT_MAP: u16 = 3;

/// Most towers one reply may hold. MS-RPCE §3.1.1.5.1.2 (`ept_map`): the server returns at
/// most `max_towers`, and Windows clients ask for 1 to 4; 500 is the `range` MS-RPCE's IDL
/// puts on `max_towers` for `ept_lookup`'s `max_ents` and is far above any real reply.
const MAX_TOWERS: u32 = 500;

/// Longest tower octet string read: a TCP tower is 75 bytes; named-pipe and NetBIOS towers,
/// the longest kinds, stay under 300.
const MAX_TOWER_LEN: u32 = 1024;

/// C706 §12.6.3.1 `packed_drep`: integer representation 0x10 little-endian or 0x00
/// big-endian, ASCII characters; floating point 0..=3; the third byte reserved. Returns
/// "little-endian".
fn drep(b: &[u8]) -> Option<bool> {
    let little = match *b.first()? {
        0x10 => true,
        0x00 => false,
        _ => return None,
    };
    (*b.get(1)? <= 3 && *b.get(2)? == 0).then_some(little)
}

/// A connection-oriented response PDU (C706 §12.6.4.10: the 16-byte common header,
/// alloc_hint, p_cont_id, cancel_count, a reserved byte, then the stub), first fragment.
pub(super) fn co_reply(control: &Control, p: &[u8], sink: &mut Sink<'_>) {
    let Some(h) = p.first_chunk::<24>() else { return };
    // rpc_vers 5, minor 0 or 1, ptype 2 (response), PFC_FIRST_FRAG: only the first fragment
    // holds the start of the stub.
    if h[0] != 5 || h[1] > 1 || h[2] != 2 || h[3] & 0x01 == 0 || h[7] != 0 {
        return;
    }
    let Some(little) = drep(&h[4..7]) else { return };
    let (Some(frag), Some(auth)) = (u16_in(h, 8, little), u16_in(h, 10, little)) else { return };
    // The auth verifier (an 8-byte sec_trailer and auth_length bytes) ends the PDU
    // (C706 §13.2.6.1).
    let trailer = if auth == 0 { 0 } else { 8 + usize::from(auth) };
    let Some(stub_end) = usize::from(frag).checked_sub(trailer) else { return };
    if stub_end < 24 {
        return;
    }
    let Some(stub) = p.get(24..stub_end.min(p.len())) else { return };
    towers(control, stub, little, sink);
}

/// A connectionless response (C706 §12.5.3.1: an 80-byte header, then the body), the first
/// fragment, of the endpoint mapper's `ept_map`.
pub(super) fn cl_reply(control: &Control, p: &[u8], sink: &mut Sink<'_>) {
    let Some(h) = p.first_chunk::<80>() else { return };
    // rpc_vers 4, ptype 2 (response); flags1 0x80 reserved, flags2 only 0x01 and 0x02.
    if h[0] != 4 || h[1] != 2 || h[2] & 0x80 != 0 || h[3] & 0xfc != 0 {
        return;
    }
    let Some(little) = drep(&h[4..7]) else { return };
    let mut interface = [0u8; 16];
    interface.copy_from_slice(&h[24..40]);
    if little {
        canonical(&mut interface);
    }
    let (Some(opnum), Some(len), Some(fragnum)) =
        (u16_in(h, 68, little), u16_in(h, 74, little), u16_in(h, 76, little))
    else {
        return;
    };
    if interface != EPM_INTERFACE || opnum != EPT_MAP || fragnum != 0 {
        return;
    }
    let end = (80 + usize::from(len)).min(p.len());
    let Some(body) = p.get(80..end) else { return };
    towers(control, body, little, sink);
}

/// A UUID as DCE/RPC stores it with a little-endian representation (the first three fields
/// byte-reversed, C706 Appendix A) to canonical order.
fn canonical(u: &mut [u8; 16]) {
    u[..4].reverse();
    u[4..6].reverse();
    u[6..8].reverse();
}

/// The `ept_map` reply stub: every whole TCP or UDP tower in it, until the stub ends, a
/// tower is cut, or `sink` is full. A structure that is not the reply's stops the parse.
fn towers(control: &Control, stub: &[u8], little: bool, sink: &mut Sink<'_>) {
    let u32_at = |at: usize| u32_in(stub, at, little);
    // After the 20-byte context handle.
    let (Some(num), Some(max), Some(offset), Some(actual)) = (u32_at(20), u32_at(24), u32_at(28), u32_at(32))
    else {
        return;
    };
    // A varying array of the reply starts at offset 0 and holds num_towers elements
    // (`length_is(*num_towers)`), at most `size_is(max_towers)`.
    if offset != 0 || actual != num || actual > max || max > MAX_TOWERS {
        return;
    }
    let Ok(count) = usize::try_from(actual) else { return };
    // The referent ids, then each non-null pointer's tower, in order (NDR defers embedded
    // pointees to after the array). A repeated referent id would mean no second copy for a
    // full pointer; Windows numbers them 3, 4, ... and the strict tower checks reject a
    // misread, so ids are not compared.
    let mut at = 36 + 4 * count;
    for i in 0..count {
        let Some(referent) = u32_at(36 + 4 * i) else { return };
        if referent == 0 {
            continue;
        }
        at = at.next_multiple_of(4);
        let (Some(conformance), Some(len)) = (u32_at(at), u32_at(at + 4)) else { return };
        if conformance != len || len > MAX_TOWER_LEN {
            return;
        }
        let Ok(len) = usize::try_from(len) else { return };
        let Some(octets) = stub.get(at + 8..at + 8 + len) else { return };
        at += 8 + len;
        if let Some(a) = tower(control, octets)
            && !sink.push(a)
        {
            return;
        }
    }
}

/// One floor (C706 Appendix L): the left-hand side (a protocol id and its data) and the
/// right-hand side, each behind a little-endian u16 length. Returns both and the offset past
/// the floor.
fn floor(t: &[u8], at: usize) -> Option<(&[u8], &[u8], usize)> {
    let lhs_len = usize::from(le16(t, at)?);
    let lhs = t.get(at + 2..at + 2 + lhs_len)?;
    let rhs_at = at + 2 + lhs_len;
    let rhs_len = usize::from(le16(t, rhs_at)?);
    let rhs = t.get(rhs_at + 2..rhs_at + 2 + rhs_len)?;
    Some((lhs, rhs, rhs_at + 2 + rhs_len))
}

/// A five-floor TCP or UDP tower, exactly as long as its octets.
fn tower(control: &Control, t: &[u8]) -> Option<Announced> {
    if le16(t, 0)? != 5 {
        return None;
    }
    let (iface, iface_minor, at) = floor(t, 2)?;
    let (syntax, syntax_minor, at) = floor(t, at)?;
    let (rpc, rpc_minor, at) = floor(t, at)?;
    let (port, port_rhs, at) = floor(t, at)?;
    let (ip, ip_rhs, at) = floor(t, at)?;
    // Floors 1 and 2: protocol 0x0d, a UUID and a major version; the minor version on the
    // right.
    let uuid_floor = |lhs: &[u8], rhs: &[u8]| lhs.len() == 19 && lhs[0] == 0x0d && rhs.len() == 2;
    if at != t.len() || !uuid_floor(iface, iface_minor) || !uuid_floor(syntax, syntax_minor) {
        return None;
    }
    // Floor 3: the RPC protocol and its minor version.
    if rpc_minor.len() != 2 || port_rhs.len() != 2 || ip != [0x09] || ip_rhs.len() != 4 {
        return None;
    }
    let transport = match (rpc, port) {
        ([0x0b], [0x07 | 0x1f]) => Transport::Tcp,
        ([0x0a], [0x08]) => Transport::Udp,
        _ => return None,
    };
    // The UUID in a tower is little-endian, whatever the PDU's data representation.
    let mut interface = *iface.get(1..17)?.first_chunk::<16>()?;
    canonical(&mut interface);
    let addr = Addr::v4(*ip_rhs.first_chunk::<4>()?);
    Some(Announced {
        transport,
        addr: or_own(addr, control, Role::Server),
        port: u16::from_be_bytes(*port_rhs.first_chunk::<2>()?),
        who: Role::Server,
        peer: None,
        kind: Kind::Epm { interface },
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{all, control, hex, prefixes_are_safe, v4};
    use super::*;
    use proptest::prelude::*;

    /// suricata__dcerpc-zerologon.pcap, frame 8 (172.16.5.58:135 → 172.16.0.10:50555): the
    /// `ept_map` reply for netlogon (12345678-1234-abcd-ef00-01234567cffb), one tower, TCP
    /// 49668 at 172.16.5.58 (tshark: "Floor 4 TCP Port:49668", "Floor 5 IP:172.16.5.58").
    const MAP_REPLY: &str = "05000203 10000000 9800 0000 01000000 80000000 0000 0000
        00000000 48450468443dad43ad06e9e13075aaf1 01000000
        01000000 00000000 01000000 03000000
        4b000000 4b000000 0500
        1300 0d785634123412cdabef0001234567cffb0100 0200 0000
        1300 0d045d888aeb1cc9119fe808002b10486002 00 0200 0000
        0100 0b 0200 0000
        0100 07 0200 c204
        0100 09 0400 ac10053a
        00 00000000";

    const NETLOGON: [u8; 16] =
        [0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0xab, 0xcd, 0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0xcf, 0xfb];

    fn tcp135() -> Control {
        control(Transport::Tcp, (v4([172, 16, 0, 10]), 50555), (v4([172, 16, 5, 58]), 135))
    }

    fn udp135() -> Control {
        control(Transport::Udp, (v4([172, 16, 0, 10]), 50556), (v4([172, 16, 5, 58]), 135))
    }

    /// The same tower in a connectionless v4 response to `ept_map` (little-endian header;
    /// constructed after C706 §12.5.3.1, no corpus capture has one): the stub of
    /// [`MAP_REPLY`] with floors 3 and 4 made connectionless and UDP.
    fn cl_reply_bytes(port: [u8; 2]) -> Vec<u8> {
        let co = hex(MAP_REPLY);
        let mut stub = co[24..].to_vec();
        // Floor 3 at stub offset 36 + 4 + 8 + 2 + 25 + 25 + 2 = 102; floor 4's lhs at 109.
        assert_eq!((stub[102], stub[109]), (0x0b, 0x07));
        stub[102] = 0x0a;
        stub[109] = 0x08;
        stub[112..114].copy_from_slice(&port);
        let mut h = hex("04 02 08 00 100000 00");
        h.extend_from_slice(&[0; 16]); // object
        let mut epm = EPM_INTERFACE;
        canonical(&mut epm);
        h.extend_from_slice(&epm);
        h.extend_from_slice(&[0x11; 16]); // activity
        h.extend_from_slice(&hex("00000000 03000000 00000000 0300 ffff ffff"));
        h.extend_from_slice(&u16::try_from(stub.len()).unwrap().to_le_bytes());
        h.extend_from_slice(&hex("0000 00 00"));
        assert_eq!(h.len(), 80);
        h.extend_from_slice(&stub);
        h
    }

    /// `b` with NDR integers big-endian: the header's and the stub's, the towers unchanged.
    fn big_endian(co: &[u8]) -> Vec<u8> {
        let mut b = co.to_vec();
        b[4] = 0x00;
        for at in [8, 10] {
            b[at..at + 2].reverse();
        }
        for at in [12, 16, 44, 48, 52, 56, 60, 64, 68] {
            b[at..at + 4].reverse();
        }
        b
    }

    #[test]
    fn real_tcp_reply() {
        let p = hex(MAP_REPLY);
        let got = all(&tcp135(), false, &p);
        assert_eq!(
            got,
            [Announced {
                transport: Transport::Tcp,
                addr: v4([172, 16, 5, 58]),
                port: 49668,
                who: Role::Server,
                peer: None,
                kind: Kind::Epm { interface: NETLOGON },
            }]
        );
        assert!(all(&tcp135(), true, &p).is_empty(), "requests are not read");
        assert!(all(&udp135(), false, &p).is_empty(), "a connection-oriented PDU on UDP");
        prefixes_are_safe(&tcp135(), false, &p);
        // Cut anywhere before the last byte of the address floor: nothing.
        assert!(all(&tcp135(), false, &p[..p.len() - 6]).is_empty());
    }

    #[test]
    fn udp_reply_and_big_endian() {
        let cl = cl_reply_bytes([0x04, 0x01]);
        let got = all(&udp135(), false, &cl);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].transport, got[0].port, got[0].kind),
            (Transport::Udp, 1025, Kind::Epm { interface: NETLOGON })
        );
        assert!(all(&tcp135(), false, &cl).is_empty());
        prefixes_are_safe(&udp135(), false, &cl);
        let mut other_op = cl.clone();
        other_op[68] = 2;
        assert!(all(&udp135(), false, &other_op).is_empty(), "ept_lookup");
        let mut other_if = cl.clone();
        other_if[30] ^= 1;
        assert!(all(&udp135(), false, &other_if).is_empty(), "not the endpoint mapper");

        let be = big_endian(&hex(MAP_REPLY));
        assert_eq!(all(&tcp135(), false, &be), all(&tcp135(), false, &hex(MAP_REPLY)), "big-endian NDR");
    }

    #[test]
    fn unspecified_address_is_the_servers() {
        let mut p = hex(MAP_REPLY);
        let at = p.len() - 9;
        p[at..at + 4].copy_from_slice(&[0; 4]);
        assert_eq!(all(&tcp135(), false, &p)[0].addr, v4([172, 16, 5, 58]));
        // Another host's address is reported as stated.
        p[at..at + 4].copy_from_slice(&[192, 0, 2, 1]);
        assert_eq!(all(&tcp135(), false, &p)[0].addr, v4([192, 0, 2, 1]));
    }

    /// The reply with `n` copies of its tower (referent ids 3, 4, ...), `max_count` `max`.
    fn many(n: u32, max: u32) -> Vec<u8> {
        let p = hex(MAP_REPLY);
        // Conformance, length, 75 octets and one byte of alignment padding.
        let tower = &p[64..148];
        let mut b = p[..44].to_vec();
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&max.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        for i in 0..n {
            b.extend_from_slice(&(3 + i).to_le_bytes());
        }
        for _ in 0..n {
            b.extend_from_slice(tower);
        }
        b.extend_from_slice(&[0; 4]);
        let frag = u16::try_from(b.len()).unwrap_or(u16::MAX);
        b[8..10].copy_from_slice(&frag.to_le_bytes());
        b
    }

    #[test]
    fn several_towers_and_hostile_counts() {
        assert_eq!(all(&tcp135(), false, &many(4, 4)).len(), 4);
        assert_eq!(all(&tcp135(), false, &many(4, 500)).len(), 4);
        // Sixteen towers fit in 1,500 bytes; the sink stops at its size.
        let sixteen = many(16, 16);
        assert_eq!(all(&tcp135(), false, &sixteen).len(), 16);
        let mut out = [Announced::EMPTY; 3];
        assert_eq!(super::super::announcements(&tcp135(), false, &sixteen, &mut out), 3);
        prefixes_are_safe(&tcp135(), false, &many(4, 4));

        let p = hex(MAP_REPLY);
        let set = |at: usize, v: &[u8]| {
            let mut b = p.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        let none = |b: &[u8], why: &str| assert!(all(&tcp135(), false, b).is_empty(), "{why}");
        none(&many(4, 3), "actual_count above max_count");
        none(&many(2, 501), "max_count above 500");
        none(&set(44, &[0xff, 0xff, 0xff, 0xff]), "num_towers 2^32-1");
        none(&set(48, &[0xff, 0xff, 0xff, 0x7f]), "max_count 2^31-1");
        none(&set(56, &[2, 0, 0, 0]), "actual_count disagrees with num_towers");
        none(&set(52, &[1, 0, 0, 0]), "a varying array's offset");
        none(&set(64, &[0xff, 0xff, 0xff, 0xff]), "tower conformance");
        none(&set(64, &[0xff, 0xff, 0, 0]), "tower conformance and length disagree");
        none(&set(64, &[0x00, 0x10, 0, 0, 0x00, 0x10, 0, 0]), "tower length 4096");
        none(&set(64, &[0x4c, 0, 0, 0, 0x4c, 0, 0, 0]), "tower longer than its floors");
        none(&set(72, &[0xff, 0xff]), "floor count 65535");
        none(&set(72, &[4, 0]), "floor count 4");
        none(&set(74, &[0xff, 0xff]), "lhs length 65535");
        none(&set(76, &[0x0c]), "floor 1 not a UUID");
        none(&set(141, &[0xff, 0xff]), "rhs length 65535");
        none(&set(133, &[0x08]), "UDP port under the connection-oriented protocol");
        none(&set(140, &[0x0a]), "address floor not IPv4");
        none(&set(136, &[0, 0]), "port 0");
        none(&set(2, &[0]), "a request");
        none(&set(3, &[0x02]), "a later fragment");
        none(&set(4, &[0x20]), "integer representation");
        none(&set(8, &[0x17, 0]), "frag_length below the header");
        // A null tower pointer is skipped: no tower follows it.
        let mut null = many(2, 2);
        null[60..64].copy_from_slice(&[0; 4]);
        assert_eq!(all(&tcp135(), false, &null).len(), 1);
        // The auth verifier is not the stub: with auth_length covering the tower, none.
        none(&set(10, &[0x60, 0]), "tower inside the auth verifier");
    }

    proptest! {
        /// Arbitrary stubs behind a valid header: no panic, and every tower returned has a
        /// port.
        #[test]
        fn arbitrary_stubs(stub in proptest::collection::vec(any::<u8>(), 0..1500), little in any::<bool>()) {
            let mut p = hex(MAP_REPLY)[..24].to_vec();
            if !little {
                p[4] = 0;
            }
            p.extend_from_slice(&stub);
            let frag = u16::try_from(p.len()).unwrap();
            let f = if little { frag.to_le_bytes() } else { frag.to_be_bytes() };
            p[8..10].copy_from_slice(&f);
            p[10..12].copy_from_slice(&[0, 0]);
            for a in all(&tcp135(), false, &p) {
                prop_assert!(a.port != 0);
            }
        }

        /// One changed byte of a real reply: no panic; what comes out is a whole tower.
        #[test]
        fn mutations(at in 0..160usize, v in any::<u8>()) {
            let mut p = hex(MAP_REPLY);
            if let Some(b) = p.get_mut(at) {
                *b = v;
            }
            prop_assert!(all(&tcp135(), false, &p).len() <= 1);
            let mut c = cl_reply_bytes([4, 1]);
            if let Some(b) = c.get_mut(at) {
                *b = v;
            }
            prop_assert!(all(&udp135(), false, &c).len() <= 1);
        }
    }
}
