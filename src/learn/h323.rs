//! H.323 call signalling on TCP 1720 (H.225.0): the `h245Address` a SETUP or CONNECT
//! names, where the sender listens for the H.245 call-control connection (NetMeeting's
//! negotiated TCP port).
//!
//! Each message is a TPKT (RFC 1006: version 3, a reserved 0, a big-endian length that
//! counts the 4-byte header) around a Q.931 message (protocol discriminator 0x08, a call
//! reference of 0..=2 octets behind its length, the message type, then information
//! elements: one octet when bit 8 is set, else identifier, length and contents); the
//! User-user element (0x7e, a two-octet length in H.225.0 §7.2.2.1) holds protocol
//! discriminator 0x05 and the ALIGNED PER encoding of `H323-UserInformation`.
//!
//! No PER decoder: the two messages whose `h245Address` sits at a fixed place are read, and
//! only those. The first PER octet holds the `H323-UserInformation` and `h323-uu-pdu`
//! preamble bits (extension, optional fields: free) and the `h323-message-body` CHOICE
//! (extension bit 0, a 3-bit index: setup 0, connect 2), which must agree with the Q.931
//! message type (SETUP 0x05, CONNECT 0x07). `Setup-UUIE` and `Connect-UUIE` both begin with
//! an extension bit and then the presence bit of `h245Address` (H.225.0 Annex H: it is their
//! first OPTIONAL field; `Connect-UUIE` has no other root OPTIONAL field, so its octet's six
//! remaining bits are zero padding); then `protocolIdentifier`, an OBJECT IDENTIFIER behind a
//! one-octet length, `{itu-t(0) recommendation(0) h(8) 2250 version(0) v}` with v 1..=7;
//! then `h245Address`, a `TransportAddress` CHOICE whose octet is 0x00 for `ipAddress` (4
//! octets, then the port in 2) or 0x30 for `ip6Address` (16 octets, then the port). The
//! other messages that may carry it (CALL PROCEEDING, ALERTING, FACILITY, PROGRESS) put it
//! after an `EndpointType` or in an extension: they announce nothing here. H.245's own
//! OpenLogicalChannel media addresses (RTP/RTCP on UDP) are not read either.

use super::{Announced, Control, Kind, Role, Sink, be16, or_own};
use crate::decode::Addr;
use crate::services::Transport;

/// H.225.0's protocol identifier without its version: `0 0 8 2250 0` in BER contents octets.
const H225_OID: [u8; 5] = [0x00, 0x08, 0x91, 0x4a, 0x00];

/// Every TPKT of one payload; a cut last one is read as far as it goes.
pub(super) fn call_signalling(control: &Control, to_server: bool, p: &[u8], sink: &mut Sink<'_>) {
    let mut rest = p;
    while let Some(&[3, 0, _, _]) = rest.first_chunk::<4>() {
        let Some(len) = be16(rest, 2).map(usize::from) else { return };
        // A TPKT holds at least a header and a Q.931 header (RFC 1006 §6: 7 octets minimum).
        if len < 7 {
            return;
        }
        let Some(msg) = rest.get(4..len.min(rest.len())) else { return };
        if let Some((addr, port)) = message(msg, to_server) {
            let who = if to_server { Role::Client } else { Role::Server };
            let a = Announced {
                transport: Transport::Tcp,
                addr: or_own(addr, control, who),
                port,
                who,
                peer: Some(control.addr(who.other())),
                kind: Kind::H245,
            };
            if !sink.push(a) {
                return;
            }
        }
        let Some(next) = rest.get(len..) else { return };
        rest = next;
    }
}

/// One Q.931 message: the `h245Address` of a SETUP sent to the callee or a CONNECT sent to
/// the caller.
fn message(m: &[u8], to_server: bool) -> Option<(Addr, u16)> {
    let &[0x08, crl, ..] = m else { return None };
    if crl > 2 {
        return None;
    }
    let at = 2 + usize::from(crl);
    let index = match (*m.get(at)?, to_server) {
        (0x05, true) => 0,
        (0x07, false) => 2,
        _ => return None,
    };
    // The information elements, up to User-user.
    let mut at = at + 1;
    loop {
        let id = *m.get(at)?;
        if id & 0x80 != 0 {
            at += 1;
        } else if id == 0x7e {
            let len = usize::from(be16(m, at + 1)?);
            let uu = m.get(at + 3..(at + 3 + len).min(m.len()))?;
            return user_information(uu, index);
        } else {
            at += 2 + usize::from(*m.get(at + 1)?);
        }
    }
}

/// The User-user contents: protocol discriminator 0x05, then the PER bits described in the
/// module documentation.
fn user_information(uu: &[u8], index: u8) -> Option<(Addr, u16)> {
    let &[0x05, body, uuie, 6, ..] = uu else { return None };
    if body & 0x0f != index || uuie & 0x40 == 0 || (index == 2 && uuie & 0x3f != 0) {
        return None;
    }
    let oid = uu.get(4..10)?;
    if oid[..5] != H225_OID || !(1..=7).contains(&oid[5]) {
        return None;
    }
    let address = uu.get(10..)?;
    match address.first()? {
        0x00 => {
            let ip = *address.get(1..)?.first_chunk::<4>()?;
            Some((Addr::v4(ip), be16(address, 5)?))
        }
        0x30 => {
            let ip = *address.get(1..)?.first_chunk::<16>()?;
            Some((Addr(ip), be16(address, 17)?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{all, control, hex, prefixes_are_safe, v4};
    use super::*;
    use proptest::prelude::*;

    /// ndpi__h323.pcap frame 18 (10.1.6.18:1720 → 10.1.3.143:32803), CONNECT; tshark:
    /// `h245Address: ipAddress`, ip 10.1.6.18, port 1232, and the next connection (frame 22)
    /// goes to 10.1.6.18:1232 and carries H.245.
    const CONNECT: &str = "03000061 0802f7f4 07 28074d2e4a454d4543 7e004c 05 22 c0 06 0008914a0003
        00 0a010612 04d0 22c0000000000333313069005200f8fdf93ecd9ed6119ab2000476222017170c001100c0fef93ecd9ed6119ab20004762220170100010008800100";
    /// Frame 6 of the same capture: the SETUP, without an `h245Address` (its presence bit,
    /// 0x40 of the octet after 0x20, is clear).
    const SETUP: &str = "030000a0080277f40504038090a528086d2e6a656d6563007e00850520a8060008914a0004014006006d002e006a0065006d0065006322c00900003d1443616c6c67656e33323320706f67616373616d00000a302e39616c706861340000000a01061206b800f8fdf93ecd9ed6119ab2000476222017005d0d8007000a01038f80231100c0fef93ecd9ed6119ab2000476222017010001000100010002800100";

    fn c1720() -> Control {
        control(Transport::Tcp, (v4([10, 1, 3, 143]), 32803), (v4([10, 1, 6, 18]), 1720))
    }

    #[test]
    fn real_connect() {
        let p = hex(CONNECT);
        assert_eq!(
            all(&c1720(), false, &p),
            [Announced {
                transport: Transport::Tcp,
                addr: v4([10, 1, 6, 18]),
                port: 1232,
                who: Role::Server,
                peer: Some(v4([10, 1, 3, 143])),
                kind: Kind::H245,
            }]
        );
        assert!(all(&c1720(), true, &p).is_empty(), "a CONNECT from the caller");
        prefixes_are_safe(&c1720(), false, &p);
        assert!(all(&c1720(), true, &hex(SETUP)).is_empty(), "no h245Address");
    }

    /// The real SETUP with an `h245Address` of 10.1.3.143:5000 added (constructed: the
    /// presence bit set and the address after the protocol identifier).
    fn setup_with_address() -> Vec<u8> {
        let s = hex(SETUP);
        let mut p = s[..37].to_vec();
        assert_eq!(&p[27..30], &[0x05, 0x20, 0xa8]);
        p[29] |= 0x40;
        p.extend_from_slice(&hex("00 0a01038f 1388"));
        p.extend_from_slice(&s[37..]);
        let len = u16::try_from(p.len()).unwrap();
        p[2..4].copy_from_slice(&len.to_be_bytes());
        let uu = u16::try_from(p.len() - 27).unwrap();
        p[25..27].copy_from_slice(&uu.to_be_bytes());
        p
    }

    #[test]
    fn setup_and_near_misses() {
        let p = setup_with_address();
        let got = all(&c1720(), true, &p);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].addr, got[0].port, got[0].who), (v4([10, 1, 3, 143]), 5000, Role::Client));
        prefixes_are_safe(&c1720(), true, &p);
        assert!(all(&c1720(), false, &p).is_empty(), "a SETUP from the callee");

        let c = hex(CONNECT);
        let set = |at: usize, v: u8| {
            let mut b = c.clone();
            b[at] = v;
            b
        };
        let none = |b: &[u8], why: &str| assert!(all(&c1720(), false, b).is_empty(), "{why}");
        none(&set(0, 2), "TPKT version");
        none(&set(4, 0x09), "Q.931 protocol discriminator");
        none(&set(5, 3), "call reference length");
        none(&set(8, 0x01), "ALERTING");
        none(&set(21, 0x06), "protocol discriminator of the user information");
        none(&set(22, 0x23), "body is alerting");
        none(&set(22, 0x2a), "body choice extension");
        none(&set(23, 0x80), "no h245Address");
        none(&set(23, 0xc1), "padding bit set");
        none(&set(24, 7), "protocolIdentifier length");
        none(&set(28, 0x4b), "not H.225.0");
        none(&set(30, 0), "version 0");
        none(&set(31, 0x10), "ipSourceRoute");
        // Port 0 exactly.
        let mut zero = c.clone();
        zero[36..38].copy_from_slice(&[0, 0]);
        none(&zero, "port 0");
        // An element that runs past the message: the walk stops.
        none(&set(10, 0xff), "display element past the end");
        // IPv6.
        let mut v6 = c[..31].to_vec();
        v6.push(0x30);
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6.extend_from_slice(&[0x13, 0x88]);
        let got = all(&c1720(), false, &v6);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].addr, got[0].port),
            (Addr("2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets()), 5000)
        );
        // Two TPKTs in one segment: both read.
        let mut two = c.clone();
        two.extend_from_slice(&c);
        assert_eq!(all(&c1720(), false, &two).len(), 2);
    }

    proptest! {
        /// Arbitrary Q.931 bodies behind a TPKT header: no panic, at most one announcement per
        /// TPKT.
        #[test]
        fn arbitrary_messages(b in proptest::collection::vec(any::<u8>(), 0..600), to_server in any::<bool>()) {
            let mut p = vec![3, 0, 0, 0];
            p.extend_from_slice(&b);
            let len = u16::try_from(p.len()).unwrap();
            p[2..4].copy_from_slice(&len.to_be_bytes());
            prop_assert!(all(&c1720(), to_server, &p).len() <= 1);
        }

        /// One changed byte of the real CONNECT: at most one announcement.
        #[test]
        fn mutations(at in 0..97usize, v in any::<u8>()) {
            let mut p = hex(CONNECT);
            p[at] = v;
            prop_assert!(all(&c1720(), false, &p).len() <= 1);
        }
    }
}
