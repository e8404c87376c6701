//! TFTP's read and write requests on UDP 69 (RFC 1350 §4, §5).
//!
//! A request goes from the client's port P to the server's port 69; the server answers from
//! a port of its own choosing, new for the transfer, to P, and the whole transfer runs
//! between those two ports. The request therefore announces the client's endpoint, P, as the
//! one the transfer's first packet goes to, from the server's host on any port.
//!
//! A request is opcode 1 (RRQ) or 2 (WRQ), a file name and a mode each ended by a NUL byte;
//! the mode is `netascii`, `octet` or `mail` in any case (RFC 1350 §5); options may follow
//! (RFC 2347). The file name must be non-empty printable ASCII, as the payload evidence check
//! requires; requests with empty names (which ndpi__tftp.pcap holds, unanswered) announce
//! nothing.

use super::{Announced, Control, Kind, Role, Sink};
use crate::services::Transport;

/// One datagram to UDP 69.
pub(super) fn request(control: &Control, p: &[u8], sink: &mut Sink<'_>) {
    if !matches!(p.first_chunk::<2>(), Some([0, 1 | 2])) {
        return;
    }
    let Some(rest) = p.get(2..) else { return };
    let mut strings = rest.split(|&c| c == 0);
    let (Some(name), Some(mode)) = (strings.next(), strings.next()) else { return };
    // The mode must be ended by its NUL: `split` yields a last piece without one.
    if p.get(2 + name.len() + 1 + mode.len()) != Some(&0) {
        return;
    }
    if name.is_empty() || !name.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        return;
    }
    if ![&b"netascii"[..], b"octet", b"mail"].iter().any(|m| mode.eq_ignore_ascii_case(m)) {
        return;
    }
    sink.push(Announced {
        transport: Transport::Udp,
        addr: control.client,
        port: control.client_port,
        who: Role::Client,
        peer: Some(control.server),
        kind: Kind::Tftp,
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{all, control, hex, prefixes_are_safe, v4};
    use super::*;
    use crate::decode::Addr;
    use proptest::prelude::*;

    /// ndpi__tftp.pcap: frame 3, RRQ `rfc1350.txt` octet from 192.168.0.253:50618 to
    /// 192.168.0.10:69 (tshark: the transfer is 192.168.0.10:3445 ↔ 50618, 98 packets);
    /// frame 103, WRQ `zz.bin` netascii from 172.28.5.91:44618 (transfer from 62058);
    /// frame 108, WRQ with blksize and tsize options from 192.168.2.45:35840 (OACK from
    /// 47649).
    const RRQ: (&str, [u8; 4], u16, [u8; 4]) =
        ("0001726663313335302e747874006f6374657400", [192, 168, 0, 253], 50618, [192, 168, 0, 10]);
    const WRQ: (&str, [u8; 4], u16, [u8; 4]) =
        ("00027a7a2e62696e006e6574617363696900", [172, 28, 5, 91], 44618, [172, 28, 5, 170]);
    const WRQ_OPTIONS: (&str, [u8; 4], u16, [u8; 4]) = (
        "0002656d7074793130304b42006f6374657400626c6b73697a650031343638007473697a650031303030303000",
        [192, 168, 2, 45],
        35840,
        [192, 168, 2, 200],
    );
    /// ndpi__tftp.pcap frame 2: RRQ with an empty file name (no answer follows).
    const EMPTY_NAME: &str = "0001006f6374657400";

    fn c69(client: [u8; 4], port: u16, server: [u8; 4]) -> Control {
        control(Transport::Udp, (v4(client), port), (v4(server), 69))
    }

    #[test]
    fn real_requests() {
        for (text, client, port, server) in [RRQ, WRQ, WRQ_OPTIONS] {
            let c = c69(client, port, server);
            let p = hex(text);
            let got = all(&c, true, &p);
            assert_eq!(
                got,
                [Announced {
                    transport: Transport::Udp,
                    addr: v4(client),
                    port,
                    who: Role::Client,
                    peer: Some(v4(server)),
                    kind: Kind::Tftp,
                }]
            );
            assert!(all(&c, false, &p).is_empty(), "from the server");
            prefixes_are_safe(&c, true, &p);
        }
        let c = c69([172, 28, 4, 53], 54632, [172, 16, 5, 170]);
        assert!(all(&c, true, &hex(EMPTY_NAME)).is_empty());
    }

    #[test]
    fn near_misses() {
        let c = c69([10, 0, 0, 1], 2070, [10, 0, 0, 2]);
        let none = |p: &[u8], why: &str| assert!(all(&c, true, p).is_empty(), "{why}");
        assert_eq!(all(&c, true, b"\x00\x01pxelinux.0\x00OCTET\x00").len(), 1);
        none(b"\x00\x03pxelinux.0\x00octet\x00", "DATA");
        none(b"\x01\x01pxelinux.0\x00octet\x00", "opcode 257");
        none(b"\x00\x01pxelinux.0\x00binary\x00", "mode");
        none(b"\x00\x01pxelinux.0\x00octet", "mode not ended");
        none(b"\x00\x01pxelinux.0", "name not ended");
        none(b"\x00\x01a\x01b\x00octet\x00", "control byte in the name");
        let tcp = control(Transport::Tcp, (v4([10, 0, 0, 1]), 2070), (v4([10, 0, 0, 2]), 69));
        assert!(all(&tcp, true, b"\x00\x01a\x00octet\x00").is_empty(), "TCP 69");
        let port0 = control(Transport::Udp, (Addr::v4([10, 0, 0, 1]), 0), (v4([10, 0, 0, 2]), 69));
        assert!(all(&port0, true, b"\x00\x01a\x00octet\x00").is_empty(), "client port 0");
    }

    proptest! {
        #[test]
        fn arbitrary_requests(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let c = c69([10, 0, 0, 1], 2070, [10, 0, 0, 2]);
            let mut p = vec![0, 1];
            p.extend_from_slice(&b);
            prop_assert!(all(&c, true, &p).len() <= 1);
        }
    }
}
