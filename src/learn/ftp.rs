//! FTP's data-connection announcements on the control connection (TCP 21).
//!
//! The client's `PORT h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2) and `EPRT |1|addr|port|` /
//! `|2|addr|port|` (RFC 2428 §2) name the client's address and port, to which the server
//! connects (from port 20 or any other: RFC 959 §3.2 makes 20 only the default); the
//! server's `227` reply to PASV (RFC 959 §4.2.2; RFC 1123 §4.1.2.6: the client scans the text
//! for the six numbers, whatever surrounds them) and `229 ... (|||port|)` reply to EPSV
//! (RFC 2428 §3, no address: the control connection's) name the server's.
//!
//! Only whole lines are read (ended by LF, as every command and reply is, RFC 959 §4.1): a
//! line cut by the segment end could have lost digits of its port. A segment may hold several
//! lines (pipelined commands, a multi-line reply before a 227): each is read.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Announced, Control, Kind, Role, Sink, or_own};
use crate::decode::Addr;
use crate::services::Transport;

/// Every whole line of one control-connection payload.
pub(super) fn control(control: &Control, to_server: bool, p: &[u8], sink: &mut Sink<'_>) {
    let mut rest = p;
    while let Some(end) = rest.iter().position(|&c| c == b'\n') {
        let (line, next) = rest.split_at(end);
        rest = next.get(1..).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let found = if to_server { command(line) } else { reply(line) };
        if let Some((addr, port)) = found {
            let who = if to_server { Role::Client } else { Role::Server };
            let a = Announced {
                transport: Transport::Tcp,
                addr: addr.map_or(control.addr(who), |a| or_own(a, control, who)),
                port,
                who,
                peer: Some(control.addr(who.other())),
                kind: Kind::FtpData,
            };
            if !sink.push(a) {
                return;
            }
        }
    }
}

/// A client's `PORT` or `EPRT` line: the address and port it names. Command names are
/// case-insensitive (RFC 959 §5.3.1).
fn command(line: &[u8]) -> Option<(Option<Addr>, u16)> {
    let (verb, args) = line.split_at_checked(5)?;
    if verb.eq_ignore_ascii_case(b"PORT ") {
        let (addr, port, rest) = six(trim(args))?;
        rest.is_empty().then_some((Some(addr), port))
    } else if verb.eq_ignore_ascii_case(b"EPRT ") {
        let (addr, port, after) = extended(trim(args))?;
        after.is_empty().then_some((Some(addr?), port))
    } else {
        None
    }
}

/// A server's `227` or `229` line. The code is followed by a space (the last line of a
/// reply, RFC 959 §4.2).
fn reply(line: &[u8]) -> Option<(Option<Addr>, u16)> {
    let (code, text) = line.split_at_checked(4)?;
    match code {
        b"227 " => {
            // RFC 1123 §4.1.2.6: the numbers start at the first digit of the text.
            let start = text.iter().position(u8::is_ascii_digit)?;
            let (addr, port, rest) = six(text.get(start..)?)?;
            // The number list ends there: a digit or comma after p2 is a malformed list.
            (!matches!(rest.first(), Some(b'0'..=b'9' | b','))).then_some((Some(addr), port))
        }
        b"229 " => {
            let open = text.iter().position(|&c| c == b'(')?;
            let (addr, port, after) = extended(text.get(open + 1..)?)?;
            // EPSV's reply names no network protocol nor address (RFC 2428 §3).
            (addr.is_none() && after.starts_with(b")")).then_some((None, port))
        }
        _ => None,
    }
}

/// Trailing spaces, which some clients send before CRLF.
fn trim(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    b.get(..end).unwrap_or_default()
}

/// A decimal number of 1..=`digits` digits at the start of `b`, and the rest.
fn number(b: &[u8], digits: usize) -> Option<(u32, &[u8])> {
    let n = b.iter().take(digits + 1).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > digits {
        return None;
    }
    let v = b.get(..n)?.iter().fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    Some((v, b.get(n..)?))
}

/// `h1,h2,h3,h4,p1,p2` (each 0..=255): the IPv4 address, the port p1 * 256 + p2, and what
/// follows.
fn six(b: &[u8]) -> Option<(Addr, u16, &[u8])> {
    let mut v = [0u8; 6];
    let mut rest = b;
    for (i, slot) in v.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b",")?;
        }
        let (n, r) = number(rest, 3)?;
        *slot = u8::try_from(n).ok()?;
        rest = r;
    }
    Some((Addr::v4([v[0], v[1], v[2], v[3]]), u16::from_be_bytes([v[4], v[5]]), rest))
}

/// RFC 2428's `<d><net-prt><d><net-addr><d><tcp-port><d>`: the delimiter is one character
/// in ASCII 33..=126 (`|` recommended), net-prt 1 (IPv4) or 2 (IPv6) with the address in its
/// textual form, or both empty (EPSV's reply). Returns the address (None when empty), the
/// port, and what follows the closing delimiter.
fn extended(b: &[u8]) -> Option<(Option<Addr>, u16, &[u8])> {
    let &d = b.first()?;
    if !(33..=126).contains(&d) || d.is_ascii_digit() {
        return None;
    }
    let mut fields = b.get(1..)?.splitn(4, |&c| c == d);
    let (proto, addr, port, after) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let (n, rest) = number(port, 5)?;
    if !rest.is_empty() {
        return None;
    }
    let port = u16::try_from(n).ok()?;
    let text = std::str::from_utf8(addr).ok()?;
    let addr = match proto {
        b"" if addr.is_empty() => None,
        b"1" => Some(Addr::v4(text.parse::<Ipv4Addr>().ok()?.octets())),
        b"2" => Some(Addr(text.parse::<Ipv6Addr>().ok()?.octets())),
        _ => return None,
    };
    Some((addr, port, after))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{all, control, hex, prefixes_are_safe, v4, v6};
    use super::*;
    use proptest::prelude::*;

    /// suricata__ftp-download-active.pcap, frame 13 (172.23.0.3:58252 → 172.23.0.2:21):
    /// `PORT 172,23,0,3,174,127`; tshark: active port 44671, and the server connects from
    /// 20 to it (frame 16).
    const PORT: &str = "504f5254203137322c32332c302c332c3137342c3132370d0a";
    /// zeek__ftp-ipv6.pcap, frame 28 (server → client): `229 Entering Extended Passive Mode
    /// (|||57086|)`; tshark: passive port 57086, the next connection goes to it.
    const EPSV_REPLY: &str =
        "32323920456e746572696e6720457874656e6465642050617373697665204d6f646520287c7c7c35373038367c290d0a";
    /// zeek__ftp-ipv6.pcap, frame 90: `EPRT |2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49189|`;
    /// tshark: port 49189, and the server connects to it from 55785.
    const EPRT: &str = "45505254207c327c323030313a3437303a316631313a3831663a633939393a6439343a616137633a326533657c34393138397c0d0a";

    fn v4c() -> Control {
        control(Transport::Tcp, (v4([172, 23, 0, 3]), 58252), (v4([172, 23, 0, 2]), 21))
    }

    fn v6c() -> Control {
        control(
            Transport::Tcp,
            (v6("2001:470:1f11:81f:c999:d94:aa7c:2e3e"), 49185),
            (v6("2001:470:4867:99::21"), 21),
        )
    }

    fn one(c: &Control, to_server: bool, p: &[u8]) -> Option<(Addr, u16, Role, Option<Addr>)> {
        let got = all(c, to_server, p);
        assert!(got.len() <= 1);
        got.first().map(|a| {
            assert_eq!((a.transport, a.kind), (Transport::Tcp, Kind::FtpData));
            (a.addr, a.port, a.who, a.peer)
        })
    }

    #[test]
    fn real_port_eprt_epsv() {
        let (client, server) = (v4([172, 23, 0, 3]), v4([172, 23, 0, 2]));
        assert_eq!(one(&v4c(), true, &hex(PORT)), Some((client, 44671, Role::Client, Some(server))));
        assert_eq!(one(&v4c(), false, &hex(PORT)), None, "a command from the server");
        let c6 = v6c();
        assert_eq!(
            one(&c6, false, &hex(EPSV_REPLY)),
            Some((c6.server, 57086, Role::Server, Some(c6.client)))
        );
        assert_eq!(one(&c6, true, &hex(EPRT)), Some((c6.client, 49189, Role::Client, Some(c6.server))));
        for (c, to_server, p) in [(v4c(), true, PORT), (v6c(), false, EPSV_REPLY), (v6c(), true, EPRT)] {
            prefixes_are_safe(&c, to_server, &hex(p));
        }
    }

    #[test]
    fn pasv_replies() {
        // Constructed (no corpus capture has PASV): vsftpd's and wu-ftpd's forms.
        let c = v4c();
        let addr = v4([192, 168, 0, 1]);
        let got = |s: &str| one(&c, false, s.as_bytes()).map(|a| (a.0, a.1));
        assert_eq!(got("227 Entering Passive Mode (192,168,0,1,195,80).\r\n"), Some((addr, 50000)));
        assert_eq!(got("227 Entering Passive Mode 192,168,0,1,195,80\r\n"), Some((addr, 50000)));
        assert_eq!(got("227 =192,168,0,1,195,80\n"), Some((addr, 50000)));
        assert_eq!(got("227 Entering Passive Mode (0,0,0,0,195,80).\r\n"), Some((c.server, 50000)));
        assert_eq!(got("227 Entering Passive Mode (192,168,0,1,195,80)."), None, "line not ended");
        assert_eq!(got("227 Entering Passive Mode (192,168,0,1,195,800).\r\n"), None, "p2 above 255");
        assert_eq!(got("227 Entering Passive Mode (192,168,0,1,195,80,1).\r\n"), None, "seven numbers");
        assert_eq!(got("227 Entering Passive Mode (192,168,0,1,195).\r\n"), None, "five numbers");
        assert_eq!(got("227 Entering Passive Mode (192,168,0,1,0,0).\r\n"), None, "port 0");
        assert_eq!(got("227-Entering Passive Mode (192,168,0,1,195,80).\r\n"), None, "not a last line");
        assert_eq!(got("226 Entering Passive Mode (192,168,0,1,195,80).\r\n"), None, "another code");
        assert_eq!(got("229 Entering Extended Passive Mode (|||0|)\r\n"), None, "port 0");
        assert_eq!(got("229 Entering Extended Passive Mode (|||65536|)\r\n"), None, "port above 65535");
        assert_eq!(got("229 Entering Extended Passive Mode (|1|10.0.0.1|2000|)\r\n"), None, "an address");
        assert_eq!(got("229 Entering Extended Passive Mode (|||2000)\r\n"), None, "unclosed");
        assert_eq!(got("229 Entering Extended Passive Mode (!!!2000!)\r\n").map(|a| a.1), Some(2000));
        // After a multi-line reply in the same segment.
        let two = "230-Welcome\r\n230 Logged in\r\n227 Entering Passive Mode (10,0,0,2,4,1)\r\n";
        assert_eq!(got(two), Some((v4([10, 0, 0, 2]), 1025)));
    }

    #[test]
    fn commands() {
        let c = v4c();
        let got = |s: &str| one(&c, true, s.as_bytes()).map(|a| (a.0, a.1));
        assert_eq!(got("port 10,0,0,1,4,1\r\n"), Some((v4([10, 0, 0, 1]), 1025)));
        assert_eq!(got("PORT 10,0,0,1,4,1  \r\n"), Some((v4([10, 0, 0, 1]), 1025)));
        assert_eq!(got("EPRT |1|132.235.1.2|6275|\r\n"), Some((v4([132, 235, 1, 2]), 6275)));
        assert_eq!(got("EPRT |2|1080::8:800:200C:417A|5282|\r\n"), Some((v6("1080::8:800:200C:417A"), 5282)));
        assert_eq!(got("PORT 10,0,0,1,4,1"), None, "line not ended");
        assert_eq!(got("PORT 10,0,0,1,4\r\n"), None, "five numbers");
        assert_eq!(got("PORT 10,0,0,1,4,1,\r\n"), None, "trailing comma");
        assert_eq!(got("PORT 10,0,0,256,4,1\r\n"), None, "h4 above 255");
        assert_eq!(got("PORT 10,0,0,1,4,0001\r\n"), None, "four digits");
        assert_eq!(got("PORT 10,0,0,1,0,0\r\n"), None, "port 0");
        assert_eq!(got("PORT  10,0,0,1,4,1\r\n"), None, "two spaces");
        assert_eq!(got("PORTS 10,0,0,1,4,1\r\n"), None, "another verb");
        assert_eq!(got("EPRT |3|10.0.0.1|5000|\r\n"), None, "net-prt 3");
        assert_eq!(got("EPRT |1|10.0.0.256|5000|\r\n"), None, "bad IPv4");
        assert_eq!(got("EPRT |2|1080::8::1|5000|\r\n"), None, "bad IPv6");
        assert_eq!(got("EPRT |1|10.0.0.1|5000\r\n"), None, "unclosed");
        assert_eq!(got("EPRT |||5000|\r\n"), None, "no address in EPRT");
        assert_eq!(got("EPRT 1110.0.0.1150001\r\n"), None, "a digit as delimiter");
        assert_eq!(got("EPRT |1|10.0.0.1|70000|\r\n"), None, "port above 65535");
    }

    proptest! {
        /// Arbitrary lines after each verb or code: no panic, ports never 0.
        #[test]
        fn arbitrary_lines(prefix in 0..4usize, b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let head: &[u8] = [&b"PORT "[..], b"EPRT ", b"227 ", b"229 ("][prefix];
            let mut p = head.to_vec();
            p.extend_from_slice(&b);
            p.extend_from_slice(b"\r\n");
            for to_server in [true, false] {
                for a in all(&v4c(), to_server, &p) {
                    prop_assert!(a.port != 0);
                }
            }
        }

        /// Any port and address round-trip through PORT and 227.
        #[test]
        fn round_trip(a in any::<[u8; 4]>(), port in 1..=u16::MAX) {
            let [p1, p2] = port.to_be_bytes();
            let args = format!("{},{},{},{},{p1},{p2}", a[0], a[1], a[2], a[3]);
            let want = (if a == [0; 4] { v4c().client } else { v4(a) }, port);
            prop_assert_eq!(one(&v4c(), true, format!("PORT {args}\r\n").as_bytes()).map(|x| (x.0, x.1)), Some(want));
            let want = (if a == [0; 4] { v4c().server } else { v4(a) }, port);
            prop_assert_eq!(one(&v4c(), false, format!("227 Entering Passive Mode ({args})\r\n").as_bytes()).map(|x| (x.0, x.1)), Some(want));
        }
    }
}
