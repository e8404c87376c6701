//! Learn: the endpoints a control channel announces in clear, from one packet's payload.
//!
//! What I own: stateless parsers of the messages that name the next flow's port before it
//! starts, one function per announcer — the DCE/RPC endpoint mapper's `ept_map` replies on
//! TCP and UDP 135 (`epm`), FTP's `PORT`/`EPRT` commands and `227`/`229` replies on TCP 21
//! (`ftp`), TFTP's read and write requests on UDP 69 (`tftp`), and the H.245 address of
//! H.323 call signalling on TCP 1720 (`h323`) — and [`announcements`], which picks the one
//! the control flow's server port calls for. Each parser is strict: it returns an endpoint only
//! when every field it reads is present and right, and only ports fully present in the bytes
//! it was given (a line must end, a tower must be whole). A message cut by the segment or the
//! snaplen gives what its whole parts announce and nothing from the cut part.
//!
//! What I must not do: keep state (the expectation table, its lifetimes and the labels live
//! with the flows), allocate, panic, read past the slice or more than [`LOOK`] bytes, or
//! return port 0. Reassembly is not done here: a reply split across TCP segments gives what
//! its first segment holds (the endpoint mapper's replies are one segment in every capture we
//! have; a later segment starts mid-stub and is not recognised).

mod epm;
pub mod expect;
mod ftp;
mod h323;
mod tftp;

use crate::decode::Addr;
use crate::services::Transport;

/// Most payload bytes a parser reads: one Ethernet MTU. An endpoint-mapper reply with four
/// towers is about 400 bytes; FTP and TFTP announcements are one short line or datagram.
pub const LOOK: usize = 1500;

/// The well-known ports of the control channels (IANA; /etc/services: epmap 135, ftp 21,
/// tftp 69, h323hostcall 1720).
pub const EPMAP_PORT: u16 = 135;
pub const FTP_PORT: u16 = 21;
pub const TFTP_PORT: u16 = 69;
pub const H323_CALL_PORT: u16 = 1720;

/// The control flow a payload travels on: who is its client and who its server, as the flow
/// table decided.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Control {
    pub transport: Transport,
    pub client: Addr,
    pub client_port: u16,
    pub server: Addr,
    pub server_port: u16,
}

impl Control {
    /// The address of one side.
    #[must_use]
    pub const fn addr(&self, who: Role) -> Addr {
        match who {
            Role::Client => self.client,
            Role::Server => self.server,
        }
    }
}

/// A side of the control flow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    #[must_use]
    pub const fn other(self) -> Self {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// What the announced flow carries: enough for the flow side to pick its label.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    /// An RPC server endpoint the endpoint mapper handed out (TCP or UDP, see
    /// [`Announced::transport`]) for `interface`, in canonical byte order (the textual
    /// form's bytes left to right), as `ServiceTable::rpc_interface` takes it.
    Epm { interface: [u8; 16] },
    /// An FTP data connection (RFC 959 §3.2, RFC 2428).
    FtpData,
    /// A TFTP transfer (RFC 1350 §4).
    Tftp,
    /// H.245 call control on the port H.225 call signalling named (H.225.0 `h245Address`).
    H245,
}

/// One endpoint announced by a control channel: the announced flow will have `addr`:`port`
/// on `transport` as one end, and that end is the one its first packet goes to (the
/// listening side of a connection; for TFTP, the client port the server's first reply is
/// sent to).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Announced {
    pub transport: Transport,
    /// The address as announced; when the announcement names none (EPSV, TFTP) or names the
    /// unspecified address (`0.0.0.0`, which endpoint-mapper towers and some PASV replies
    /// carry), the control flow's address of side `who`. It may be neither of the control
    /// flow's addresses: an FTP server behind NAT announces its private address, and the
    /// endpoint mapper may name another of its interfaces.
    pub addr: Addr,
    /// Never 0: an announcement of port 0 (endpoint-mapper requests, `PORT ...,0,0`) is not
    /// returned.
    pub port: u16,
    /// Which side of the control flow owns the announced endpoint: the server (endpoint
    /// mapper, PASV, EPSV, H.245 address in CONNECT) or the client (PORT, EPRT: the FTP server
    /// connects back; TFTP: the transfer comes to the client's port; H.245 address in SETUP).
    pub who: Role,
    /// The other end of the announced flow, when the announcement says who it is: the
    /// control flow's other host (any port: FTP's active data connections come from port 20
    /// or any other, a TFTP server answers from a new port), or `None` when any host may
    /// connect (an endpoint-mapper mapping serves every client).
    pub peer: Option<Addr>,
    pub kind: Kind,
}

impl Announced {
    /// A placeholder to fill output arrays with (port 0: never a real announcement).
    pub const EMPTY: Self = Self {
        transport: Transport::Tcp,
        addr: Addr([0; 16]),
        port: 0,
        who: Role::Server,
        peer: None,
        kind: Kind::FtpData,
    };
}

impl Default for Announced {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// The endpoints one packet's transport payload (`payload`, as captured, possibly cut)
/// announces, sent to the server (`to_server`) or to the client on the control flow
/// `control`. The parser is chosen by the control flow's transport and server port (TCP and
/// UDP 135, TCP 21, UDP 69, TCP 1720); other flows announce nothing. Writes at most
/// `out.len()` announcements into `out`, in the order the payload gives them, and returns
/// how many.
pub fn announcements(control: &Control, to_server: bool, payload: &[u8], out: &mut [Announced]) -> usize {
    let payload = payload.get(..LOOK).unwrap_or(payload);
    let mut sink = Sink { out, n: 0 };
    match (control.transport, control.server_port) {
        (Transport::Tcp, EPMAP_PORT) if !to_server => epm::co_reply(control, payload, &mut sink),
        (Transport::Udp, EPMAP_PORT) if !to_server => epm::cl_reply(control, payload, &mut sink),
        (Transport::Tcp, FTP_PORT) => ftp::control(control, to_server, payload, &mut sink),
        (Transport::Udp, TFTP_PORT) if to_server => tftp::request(control, payload, &mut sink),
        (Transport::Tcp, H323_CALL_PORT) => h323::call_signalling(control, to_server, payload, &mut sink),
        _ => {}
    }
    sink.n
}

/// Where parsers put what they find; full means stop.
struct Sink<'a> {
    out: &'a mut [Announced],
    n: usize,
}

impl Sink<'_> {
    /// Adds `a` unless its port is 0; false once `out` is full (the parser stops).
    fn push(&mut self, a: Announced) -> bool {
        if a.port != 0 {
            let Some(slot) = self.out.get_mut(self.n) else { return false };
            *slot = a;
            self.n += 1;
        }
        self.n < self.out.len()
    }
}

/// `addr`, or the control flow's address of side `who` when it is unspecified
/// (`0.0.0.0` or `::`).
fn or_own(addr: Addr, control: &Control, who: Role) -> Addr {
    if addr == Addr::v4([0; 4]) || addr == Addr([0; 16]) { control.addr(who) } else { addr }
}

// ---------------------------------------------------------------------------------------
// Small readers: every one returns None past the slice.

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*b.get(at..)?.first_chunk::<2>()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*b.get(at..)?.first_chunk::<2>()?))
}

fn u16_in(b: &[u8], at: usize, little: bool) -> Option<u16> {
    if little { le16(b, at) } else { be16(b, at) }
}

fn u32_in(b: &[u8], at: usize, little: bool) -> Option<u32> {
    let s = *b.get(at..)?.first_chunk::<4>()?;
    Some(if little { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) })
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::{Addr, Announced, Control, Transport, announcements};

    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    pub fn v4(a: [u8; 4]) -> Addr {
        Addr::v4(a)
    }

    pub fn v6(s: &str) -> Addr {
        Addr(s.parse::<std::net::Ipv6Addr>().unwrap().octets())
    }

    pub fn control(transport: Transport, client: (Addr, u16), server: (Addr, u16)) -> Control {
        Control {
            transport,
            client: client.0,
            client_port: client.1,
            server: server.0,
            server_port: server.1,
        }
    }

    /// Everything `payload` announces (up to 64).
    pub fn all(c: &Control, to_server: bool, payload: &[u8]) -> Vec<Announced> {
        let mut out = [Announced::EMPTY; 64];
        let n = announcements(c, to_server, payload, &mut out);
        out[..n].to_vec()
    }

    /// Every prefix of `whole` is safe, and announces only what `whole` announces (in order,
    /// a prefix of its list): no port that is not fully present.
    pub fn prefixes_are_safe(c: &Control, to_server: bool, whole: &[u8]) {
        let full = all(c, to_server, whole);
        for n in 0..whole.len() {
            let got = all(c, to_server, &whole[..n]);
            assert!(full.starts_with(&got), "prefix of {n} bytes announced {got:?}, the whole {full:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{all, control, v4};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_is_never_overrun_and_full_stops() {
        // Three FTP commands in one segment (a client that pipelines), into a slice of two.
        let c = control(Transport::Tcp, (v4([10, 0, 0, 1]), 40000), (v4([10, 0, 0, 2]), 21));
        let p = b"PORT 10,0,0,1,4,1\r\nPORT 10,0,0,1,4,2\r\nPORT 10,0,0,1,4,3\r\n";
        assert_eq!(all(&c, true, p).len(), 3);
        let mut out = [Announced::EMPTY; 2];
        assert_eq!(announcements(&c, true, p, &mut out), 2);
        assert_eq!((out[0].port, out[1].port), (1025, 1026));
        assert_eq!(announcements(&c, true, p, &mut []), 0);
    }

    #[test]
    fn only_the_control_ports() {
        let p = b"PORT 10,0,0,1,4,1\r\n";
        let c = control(Transport::Tcp, (v4([10, 0, 0, 1]), 40000), (v4([10, 0, 0, 2]), 2121));
        assert!(all(&c, true, p).is_empty(), "FTP on another port");
        let c = control(Transport::Udp, (v4([10, 0, 0, 1]), 40000), (v4([10, 0, 0, 2]), 21));
        assert!(all(&c, true, p).is_empty(), "FTP on UDP");
    }

    use crate::XorShift;

    /// Each announcer on 100,000 random payloads of 1..1500 bytes whose first bytes are the
    /// fixed ones its parser checks first (a response PDU header, a TFTP opcode, a TPKT and
    /// Q.931 CONNECT header, `PORT `), the rest random: the later checks must reject them.
    #[test]
    fn random_bytes_rarely_announce() {
        let heads: [(Transport, u16, bool, &[u8]); 6] = [
            (Transport::Tcp, EPMAP_PORT, false, &[5, 0, 2, 3, 0x10, 0, 0, 0, 0xdc, 5, 0, 0]),
            (Transport::Udp, EPMAP_PORT, false, &[4, 2, 0, 0, 0x10, 0, 0]),
            (Transport::Tcp, FTP_PORT, true, b"PORT "),
            (Transport::Tcp, FTP_PORT, false, b"227 "),
            (Transport::Udp, TFTP_PORT, true, &[0, 1]),
            (Transport::Tcp, H323_CALL_PORT, false, &[3, 0, 5, 0xdc, 8, 2, 0, 0, 7]),
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut buf = vec![0u8; LOOK];
        let mut out = [Announced::EMPTY; 16];
        for (transport, port, to_server, head) in heads {
            let c = control(transport, (v4([10, 0, 0, 1]), 40000), (v4([10, 0, 0, 2]), port));
            let mut fired = 0;
            for _ in 0..100_000 {
                let len = head.len() + usize::try_from(rng.next() % 1400).unwrap();
                for b in &mut buf[..len] {
                    *b = rng.next().to_le_bytes()[3];
                }
                buf[..head.len()].copy_from_slice(head);
                fired += usize::from(announcements(&c, to_server, &buf[..len], &mut out) > 0);
            }
            eprintln!("{transport:?} {port} {head:02x?}: {fired} of 100,000 random payloads announce");
            assert!(fired < 10, "{fired}");
        }
    }

    proptest! {
        /// No bytes make any announcer panic, whatever the control flow, and every
        /// announcement has a port.
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..1600), to_server in any::<bool>(), which in 0..5usize) {
            let (transport, port) = [
                (Transport::Tcp, EPMAP_PORT),
                (Transport::Udp, EPMAP_PORT),
                (Transport::Tcp, FTP_PORT),
                (Transport::Udp, TFTP_PORT),
                (Transport::Tcp, H323_CALL_PORT),
            ][which];
            let c = control(transport, (v4([10, 0, 0, 1]), 40000), (v4([10, 0, 0, 2]), port));
            for a in all(&c, to_server, &b) {
                prop_assert!(a.port != 0);
            }
        }
    }
}
