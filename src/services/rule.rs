//! The rule: which side of a flow is the server, and which service the flow belongs to.
//!
//! One pure function over the table, the transport, the first packet's ports and TCP flags.
//! The order is fixed (README "Which side is the server"):
//! 1. `handshake`: a SYN without ACK names its destination the server; a SYN/ACK its source.
//! 2. `table`: the port with a single-port entry in the table; if both have one, the port
//!    below 1024, then the lower port.
//! 3. `first_packet` (UDP and other IP protocols): the destination of the first packet.
//! 4. `lower_port` (TCP joined mid-stream): the lower port.
//!
//! The service is the table entry of (transport, server port). A range entry (SQL session
//! 1024 - 5000) labels a flow only when the handshake proved that port is the server's:
//! Windows 2000 clients take their ephemeral ports from that same range.

use super::{MatchKind, ServiceId, ServiceTable, Transport};

/// How the server side of a flow was decided.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum DecidedBy {
    Handshake,
    Table,
    FirstPacket,
    LowerPort,
}

impl DecidedBy {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Handshake => "handshake",
            DecidedBy::Table => "table",
            DecidedBy::FirstPacket => "first_packet",
            DecidedBy::LowerPort => "lower_port",
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
                (false, false) if transport == Transport::Tcp => {
                    (dst_port <= src_port, DecidedBy::LowerPort)
                }
                (false, false) => (true, DecidedBy::FirstPacket),
            }
        }
    };
    let server_port = if server_is_dst { dst_port } else { src_port };
    let m = table.lookup(transport, server_port);
    let service = match m.kind {
        MatchKind::Single => m.service,
        MatchKind::RangeOnly if decided_by == DecidedBy::Handshake => m.service,
        _ => None,
    };
    Verdict {
        server_is_dst,
        decided_by,
        server_port,
        service,
    }
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
