//! The rule: which side of a flow is the server, and which service the flow belongs to.
//!
//! One pure function over the table, the transport, the first packet's ports and TCP flags.
//! The order is fixed (README "Which side is the server"):
//! 1. `handshake`: a SYN without ACK names its destination the server; a SYN/ACK its source.
//! 2. `table`: the port with a single-port entry in the table; if both have one, the port
//!    below 1024, then the lower port.
//! 3. `known_port` (UDP): a first packet from a port IANA registers (`known_name`) to one it
//!    does not is a reply, and its source the server: a unicast LLMNR answer from 5355 to the
//!    asker's ephemeral port must not make that ephemeral port look like a server.
//! 4. `first_packet` (UDP and other IP protocols): the destination of the first packet.
//! 5. `lower_port` (TCP joined mid-stream): the lower port.
//!
//! The service is the table entry of (transport, server port). A range entry (SQL session
//! 1024 - 5000) labels a flow only when the server answered the handshake: Windows 2000
//! clients take their ephemeral ports from that same range, and a SYN nobody answered (a
//! scan, a host that is down) proves nothing about the port. A flow whose first packet is the
//! SYN/ACK is labelled at once; one that starts with a SYN is labelled by the flow table when
//! the SYN/ACK comes back (`FlowTable::answered`), and stays unknown otherwise.

use super::{MatchKind, ServiceId, ServiceTable, Transport};

/// How the server side of a flow was decided.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum DecidedBy {
    Handshake,
    Table,
    FirstPacket,
    LowerPort,
    KnownPort,
    /// A control channel announced the flow's endpoint (`learn`): its server and label.
    Learned,
}

impl DecidedBy {
    /// Every way, in declaration order: a way's place here is its discriminant.
    pub const ALL: [DecidedBy; 6] = [
        DecidedBy::Handshake,
        DecidedBy::Table,
        DecidedBy::FirstPacket,
        DecidedBy::LowerPort,
        DecidedBy::KnownPort,
        DecidedBy::Learned,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Handshake => "handshake",
            DecidedBy::Table => "table",
            DecidedBy::FirstPacket => "first_packet",
            DecidedBy::LowerPort => "lower_port",
            DecidedBy::KnownPort => "known_port",
            DecidedBy::Learned => "learned",
        }
    }
}

/// The outcome of the rule for one flow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Verdict {
    /// Whether the first packet's destination is the server.
    pub server_is_dst: bool,
    pub decided_by: DecidedBy,
    /// The server port (the IP protocol number for IP-protocol flows).
    pub server_port: u16,
    pub service: Option<ServiceId>,
}

/// What the first packet of a flow tells the rule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Opening {
    /// A TCP SYN without ACK.
    Syn,
    /// A TCP SYN with ACK.
    SynAck,
    /// Any other packet.
    Other,
}

/// Applies the rule to a TCP or UDP flow whose first packet went `src_port` → `dst_port`.
#[must_use]
pub fn decide(
    table: &ServiceTable,
    transport: Transport,
    src_port: u16,
    dst_port: u16,
    opening: Opening,
) -> Verdict {
    let (server_is_dst, decided_by) = match (transport, opening) {
        (Transport::Tcp, Opening::Syn) => (true, DecidedBy::Handshake),
        (Transport::Tcp, Opening::SynAck) => (false, DecidedBy::Handshake),
        _ => {
            let src = table.lookup(transport, src_port).kind == MatchKind::Single;
            let dst = table.lookup(transport, dst_port).kind == MatchKind::Single;
            match (src, dst) {
                (true, false) => (false, DecidedBy::Table),
                (false, true) => (true, DecidedBy::Table),
                (true, true) => (prefer_dst(src_port, dst_port), DecidedBy::Table),
                (false, false) if transport == Transport::Tcp => (dst_port <= src_port, DecidedBy::LowerPort),
                (false, false)
                    if transport == Transport::Udp
                        && super::is_known(transport, src_port)
                        && !super::is_known(transport, dst_port) =>
                {
                    (false, DecidedBy::KnownPort)
                }
                (false, false) => (true, DecidedBy::FirstPacket),
            }
        }
    };
    let server_port = if server_is_dst { dst_port } else { src_port };
    let m = table.lookup(transport, server_port);
    let service = match m.kind {
        MatchKind::Single => m.service,
        MatchKind::RangeOnly
            if opening == Opening::SynAck
                && transport == Transport::Tcp
                && range_applies(transport, server_port) =>
        {
            m.service
        }
        _ => None,
    };
    Verdict { server_is_dst, decided_by, server_port, service }
}

/// Whether a range entry may label an answered handshake to `port`: not where IANA registers
/// the port to a protocol of its own (pptp 1723, mysql 3306), which is then more likely than
/// the range's generic service; such a flow stays unknown, its port named.
#[must_use]
pub fn range_applies(transport: Transport, port: u16) -> bool {
    !super::is_known(transport, port)
}

/// Both ports are in the table: the well-known one (below 1024) is the server's, else the lower.
fn prefer_dst(src_port: u16, dst_port: u16) -> bool {
    match (src_port < 1024, dst_port < 1024) {
        (true, false) => false,
        (false, true) => true,
        _ => dst_port <= src_port,
    }
}

/// The rule for a flow of another IP protocol: labelled by protocol number (ESP, AH), the
/// first packet's destination is the server.
#[must_use]
pub fn decide_ip(table: &ServiceTable, proto: u8) -> Verdict {
    Verdict {
        server_is_dst: true,
        decided_by: DecidedBy::FirstPacket,
        server_port: u16::from(proto),
        service: table.lookup_proto(proto),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(v: Verdict) -> Option<&'static str> {
        v.service.map(|s| ServiceTable::embedded().name(s))
    }

    fn tcp(sp: u16, dp: u16, o: Opening) -> Verdict {
        decide(ServiceTable::embedded(), Transport::Tcp, sp, dp, o)
    }

    fn udp(sp: u16, dp: u16) -> Verdict {
        decide(ServiceTable::embedded(), Transport::Udp, sp, dp, Opening::Other)
    }

    #[test]
    fn handshake_decides_first() {
        // Client port 1234 is itself ISPMOD in the table: the SYN still says 80 is the server.
        let v = tcp(1234, 80, Opening::Syn);
        assert_eq!((v.server_is_dst, v.decided_by, v.server_port), (true, DecidedBy::Handshake, 80));
        assert_eq!(name(v), Some("Hypertext Transfer Protocol (HTTP)"));
        let v = tcp(445, 3000, Opening::SynAck);
        assert_eq!((v.server_is_dst, v.decided_by, v.server_port), (false, DecidedBy::Handshake, 445));
        assert_eq!(name(v), Some("Common Internet File System (CIFS)"));
    }

    #[test]
    fn table_prefers_the_port_below_1024_then_the_lower() {
        let v = tcp(1234, 80, Opening::Other);
        assert_eq!((v.decided_by, v.server_port), (DecidedBy::Table, 80));
        let v = tcp(80, 1234, Opening::Other);
        assert_eq!((v.decided_by, v.server_port, v.server_is_dst), (DecidedBy::Table, 80, false));
        // Only one side in the table.
        let v = tcp(445, 40000, Opening::Other);
        assert_eq!((v.decided_by, v.server_port), (DecidedBy::Table, 445));
        // Both well-known: the lower.
        let v = udp(138, 137);
        assert_eq!((v.decided_by, v.server_port), (DecidedBy::Table, 137));
        // Same port both sides (NetBIOS name service).
        let v = udp(137, 137);
        assert_eq!((v.decided_by, v.server_port), (DecidedBy::Table, 137));
        assert_eq!(name(v), Some("NetBT name lookups"));
        let v = udp(68, 67);
        assert_eq!((v.server_port, name(v)), (67, Some("DHCP server")));
    }

    #[test]
    fn ranges_label_only_with_an_answered_handshake() {
        // A SYN names the server, but only its answer proves the port is a service's.
        let v = tcp(3500, 1026, Opening::Syn);
        assert_eq!((v.decided_by, v.server_port, v.service), (DecidedBy::Handshake, 1026, None));
        // A flow first seen at the server's SYN/ACK was answered.
        let v = tcp(1026, 3500, Opening::SynAck);
        assert_eq!((v.decided_by, v.server_port, v.server_is_dst), (DecidedBy::Handshake, 1026, false));
        assert_eq!(name(v), Some("SQL session"));
        // Mid-stream between two ports only the range covers: the lower port, unlabelled.
        let v = tcp(3500, 1026, Opening::Other);
        assert_eq!((v.decided_by, v.server_port, v.service), (DecidedBy::LowerPort, 1026, None));
    }

    #[test]
    fn a_reply_from_a_registered_port_names_its_source_the_server() {
        // A unicast LLMNR answer, first seen: 5355 (llmnr) to the asker's ephemeral port.
        let v = udp(5355, 50_123);
        assert_eq!((v.decided_by, v.server_port, v.server_is_dst), (DecidedBy::KnownPort, 5355, false));
        // The question, first seen, still names its destination.
        let v = udp(50_123, 5355);
        assert_eq!((v.decided_by, v.server_port, v.server_is_dst), (DecidedBy::FirstPacket, 5355, true));
        // Two registered ports, or two unregistered ones: the first packet's destination.
        assert_eq!(udp(5353, 5355).decided_by, DecidedBy::FirstPacket);
        assert_eq!(udp(50_000, 50_001).server_port, 50_001);
        // TCP mid-stream keeps the lower port.
        assert_eq!(tcp(5355, 50_123, Opening::Other).decided_by, DecidedBy::LowerPort);
    }

    #[test]
    fn fallbacks() {
        let v = udp(50000, 50001);
        assert_eq!(
            (v.decided_by, v.server_port, v.server_is_dst, v.service),
            (DecidedBy::FirstPacket, 50001, true, None)
        );
        let v = udp(50001, 50000);
        assert_eq!((v.decided_by, v.server_port), (DecidedBy::FirstPacket, 50000));
        let v = tcp(50000, 40000, Opening::Other);
        assert_eq!((v.decided_by, v.server_port, v.server_is_dst), (DecidedBy::LowerPort, 40000, true));
        let v = decide_ip(ServiceTable::embedded(), 50);
        assert_eq!(name(v), Some("IPSec Encapsulating Security Payload (ESP)"));
        assert_eq!(decide_ip(ServiceTable::embedded(), 47).service, None);
    }
}
