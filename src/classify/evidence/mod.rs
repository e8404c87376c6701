//! Evidence: which protocol the first payload bytes of a packet carry, whatever its ports say.
//!
//! What I own: stateless checks of at most [`LOOK`] bytes of one packet's transport payload,
//! one function per protocol family ([`windows`]: the protocols behind Windows 2000's own
//! services; [`internet`]: the Internet protocols the seed table lists), and [`inspect`], which
//! tries them in a fixed order. A check says yes only on bytes that a real implementation of
//! the protocol sends in a flow's first packets (a request or its reply), and is strict enough
//! not to fire on random bytes: every check has tests on real bytes, on random bytes and on
//! near misses.
//!
//! What I must not do: look at ports to decide (a port is what evidence is checked against;
//! the few checks whose signature is too weak alone, such as TFTP and RTP, say so and take
//! the ports as a hint only), keep state, allocate, panic, or read past the slice.

pub mod internet;
pub mod windows;

use crate::services::Transport;

/// Most payload bytes any check reads.
pub const LOOK: usize = 128;

/// A protocol recognised in a payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Proto {
    /// NetBIOS session service (RFC 1002) carrying SMB1 (`\xffSMB`).
    Smb1,
    /// NetBIOS session service, or direct-hosted SMB on 445, carrying SMB2/3 (`\xfeSMB`, or
    /// the transform header `\xfdSMB`).
    Smb2,
    /// A NetBIOS session service message without SMB (session request, positive response,
    /// keepalive) — NBSS on TCP 139.
    Nbss,
    /// Connection-oriented DCE/RPC v5 (C706 ch. 12) bind or alter-context, with the first
    /// presentation context's abstract syntax (the interface UUID), or another PDU type.
    DceRpcCo,
    /// Connectionless DCE/RPC v4 (C706 ch. 12) over UDP, with its interface UUID.
    DceRpcCl,
    /// TPKT (RFC 1006) carrying X.224: Terminal Services (RDP) on TCP 3389.
    Tpkt,
    /// Tabular Data Stream (MS-TDS): SQL Server.
    Tds,
    /// Kerberos v5 (RFC 4120): an AS/TGS request or reply, an error; on TCP with the 4-byte
    /// length prefix.
    Kerberos,
    /// LDAP (RFC 4511) over TCP: a BER LDAPMessage.
    Ldap,
    /// Connectionless LDAP over UDP (the same LDAPMessage in one datagram): AD's DC locator.
    Cldap,
    /// DNS (RFC 1035) over UDP, or TCP with the 2-byte length prefix.
    Dns,
    /// HTTP/1.x request or response line.
    Http,
    /// TLS or SSL 3.0 record (handshake), or SSL 2.0 client hello.
    Tls,
    /// SMTP greeting (`220 `) with ESMTP or SMTP, or a client command (`EHLO`/`HELO`).
    Smtp,
    /// FTP greeting (`220`) naming FTP, or a client command (`USER`, ...).
    Ftp,
    /// IMAP greeting (`* OK`) or tagged client command.
    Imap,
    /// IRC client registration (`NICK`, `USER`, `PASS`) or a server numeric/notice line.
    Irc,
    /// Telnet option negotiation (IAC WILL/WONT/DO/DONT).
    Telnet,
    /// SNMP v1/v2c/v3 message (BER sequence, version, community).
    Snmp,
    /// NetBIOS name service (RFC 1002 §4.2) on UDP 137.
    NbNs,
    /// NetBIOS datagram service (RFC 1002 §4.4) on UDP 138.
    NbDgm,
    /// DHCP/BOOTP (RFC 2131): op 1/2 and the magic cookie.
    Dhcp,
    /// IKE / ISAKMP (RFC 2408, RFC 7296) header.
    Ike,
    /// RADIUS (RFC 2865/2866) packet.
    Radius,
    /// TFTP (RFC 1350) request (RRQ/WRQ with a NUL-terminated file name and mode). Weak alone.
    Tftp,
    /// L2TP (RFC 2661) control or data message header.
    L2tp,
    /// RTP (RFC 3550) version 2 header. Weak alone.
    Rtp,
}

impl Proto {
    /// Every protocol, in declaration order (a flow keeps a protocol as its index).
    pub const ALL: [Proto; 27] = [
        Proto::Smb1,
        Proto::Smb2,
        Proto::Nbss,
        Proto::DceRpcCo,
        Proto::DceRpcCl,
        Proto::Tpkt,
        Proto::Tds,
        Proto::Kerberos,
        Proto::Ldap,
        Proto::Cldap,
        Proto::Dns,
        Proto::Http,
        Proto::Tls,
        Proto::Smtp,
        Proto::Ftp,
        Proto::Imap,
        Proto::Irc,
        Proto::Telnet,
        Proto::Snmp,
        Proto::NbNs,
        Proto::NbDgm,
        Proto::Dhcp,
        Proto::Ike,
        Proto::Radius,
        Proto::Tftp,
        Proto::L2tp,
        Proto::Rtp,
    ];

    /// The protocol's short name in flow records and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Smb1 => "smb",
            Proto::Smb2 => "smb2",
            Proto::Nbss => "nbss",
            Proto::DceRpcCo | Proto::DceRpcCl => "dcerpc",
            Proto::Tpkt => "tpkt",
            Proto::Tds => "tds",
            Proto::Kerberos => "kerberos",
            Proto::Ldap => "ldap",
            Proto::Cldap => "cldap",
            Proto::Dns => "dns",
            Proto::Http => "http",
            Proto::Tls => "tls",
            Proto::Smtp => "smtp",
            Proto::Ftp => "ftp",
            Proto::Imap => "imap",
            Proto::Irc => "irc",
            Proto::Telnet => "telnet",
            Proto::Snmp => "snmp",
            Proto::NbNs => "nbns",
            Proto::NbDgm => "nbdgm",
            Proto::Dhcp => "dhcp",
            Proto::Ike => "isakmp",
            Proto::Radius => "radius",
            Proto::Tftp => "tftp",
            Proto::L2tp => "l2tp",
            Proto::Rtp => "rtp",
        }
    }
}

/// What a payload shows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Evidence {
    pub proto: Proto,
    /// For DCE/RPC binds and connectionless calls: the interface UUID in its wire order (the
    /// first three fields little-endian as DCE/RPC writes them with the usual data
    /// representation; big-endian if the PDU's data representation says so, converted to
    /// the canonical byte order of the textual form: `12345778-1234-abcd-ef00-0123456789ab`
    /// is `[0x12, 0x34, 0x57, 0x78, 0x12, 0x34, 0xab, 0xcd, 0xef, 0x00, ...]`).
    pub interface: Option<[u8; 16]>,
    /// Whether the bytes are a server's reply (a DNS response, an HTTP status line, a TLS
    /// ServerHello, an SMTP greeting...), when the protocol tells: the server side of a flow
    /// whose first packet is a reply is its source. `None` when the bytes cannot tell.
    pub reply: Option<bool>,
}

impl Evidence {
    #[must_use]
    pub const fn of(proto: Proto) -> Self {
        Self { proto, interface: None, reply: None }
    }

    #[must_use]
    pub const fn reply(proto: Proto, reply: bool) -> Self {
        Self { proto, interface: None, reply: Some(reply) }
    }
}

/// The protocol `payload` (the first bytes of one packet's TCP or UDP payload, as captured)
/// carries, if a check recognises it. `ports` (source, destination) is a hint for the weak
/// checks only.
#[must_use]
pub fn inspect(transport: Transport, ports: (u16, u16), payload: &[u8]) -> Option<Evidence> {
    let payload = payload.get(..LOOK).unwrap_or(payload);
    if payload.is_empty() {
        return None;
    }
    match transport {
        Transport::Tcp => windows::tcp(payload).or_else(|| internet::tcp(payload)),
        Transport::Udp => windows::udp(payload).or_else(|| internet::udp(ports, payload)),
        Transport::Ip => None,
    }
}
