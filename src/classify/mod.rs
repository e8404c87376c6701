//! Classify: what a flow is, from more than its port.
//!
//! What I own: the stage between the flow table and the stats rows that decides a flow's label:
//! the port rule ([`crate::services::decide`]), and the payload evidence of a flow's first
//! packets ([`evidence`]), carried from the reading thread to the counting one as a 2-byte
//! [`Clue`], and the [`rules`] that turn a clue into a label: the flow table judges a flow by
//! the clue of the packet that starts it (`FlowTable::observe_clued`). What is not built yet
//! (issue 15): computing clues on the per-packet path within the speed budget (on mix-10M,
//! checking every packet with payload costs a third more user time on one thread, and a
//! 2^16-slot filter of 5-tuples already checked did not help with 450,000 flows), and the
//! opening window that lets a TCP flow started by its handshake be relabelled by its first
//! payload, with its counts so far moved and its early packet sizes committed once settled.
//!
//! What I must not do: keep per-flow state (the flow table does), read past the captured
//! bytes, allocate, or print.

pub mod evidence;
pub mod rules;

use crate::decode::{Decoded, Fragment, IpPacket, Span};
use crate::services::Transport;
use evidence::{Evidence, Proto};

/// What a packet's payload showed, in four bytes, so that it can travel with the decoded
/// packet to the thread that counts its flow (the payload itself stays in the reader's
/// buffer). `Clue::NONE` for packets without payload or whose payload no check recognised.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Clue {
    /// [`Proto`] as its index + 1; 0 for none.
    proto: u8,
    /// [`REPLY_KNOWN`] and [`REPLY`].
    flags: u8,
}

const REPLY_KNOWN: u8 = 1;
const REPLY: u8 = 1 << 1;

impl Clue {
    pub const NONE: Self = Self { proto: 0, flags: 0 };

    /// Runs the payload checks on one decoded packet's transport payload (`span` of `data`).
    /// Non-first fragments carry no transport header, so they never give a clue.
    #[must_use]
    pub fn of_packet(decoded: &Decoded, span: Span, data: &[u8]) -> Self {
        let Decoded::Ip(IpPacket { proto, ports: Some(ports), fragment, .. }) = decoded else {
            return Self::NONE;
        };
        if span.len == 0 || matches!(fragment, Fragment::NonFirst { .. }) {
            return Self::NONE;
        }
        let transport = crate::flow::transport_of(*proto);
        if transport == Transport::Ip {
            return Self::NONE;
        }
        evidence::inspect(transport, (ports.src, ports.dst), span.of(data)).map_or(Self::NONE, Self::of)
    }

    #[must_use]
    pub fn of(e: Evidence) -> Self {
        // `Proto::ALL` lists the protocols in declaration order, so a protocol's place in it
        // is its discriminant.
        let proto = e.proto as u8 + 1;
        let flags = match e.reply {
            None => 0,
            Some(false) => REPLY_KNOWN,
            Some(true) => REPLY_KNOWN | REPLY,
        };
        Self { proto, flags }
    }

    /// The protocol the payload showed.
    #[must_use]
    pub fn proto(self) -> Option<Proto> {
        Proto::ALL.get(usize::from(self.proto).checked_sub(1)?).copied()
    }

    /// Whether the payload was a server's reply, when it could tell.
    #[must_use]
    pub fn reply(self) -> Option<bool> {
        (self.flags & REPLY_KNOWN != 0).then_some(self.flags & REPLY != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
    use crate::decode::{Anomalies, decode_with_payload};

    /// Ethernet (optionally one VLAN tag) + IPv4 + TCP (flags PSH/ACK) or UDP + `payload`.
    fn frame_bytes(vlan: bool, udp: bool, frag: u16, payload: &[u8]) -> Vec<u8> {
        let mut l4 = if udp {
            let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
            let mut h = vec![0xc3, 0x50, 0, 53, 0, 0, 0, 0];
            h[4..6].copy_from_slice(&len.to_be_bytes());
            h
        } else {
            let mut h = vec![0u8; 20];
            h[0..2].copy_from_slice(&50_000u16.to_be_bytes());
            h[2..4].copy_from_slice(&80u16.to_be_bytes());
            h[12] = 5 << 4;
            h[13] = 0x18;
            h
        };
        l4.extend_from_slice(payload);
        let total = u16::try_from(20 + l4.len()).unwrap_or(u16::MAX);
        let mut ip =
            vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, if udp { 17 } else { 6 }, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&l4);
        let mut f = vec![0u8; 12];
        if vlan {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
        // Ethernet padding past the IP length is not payload.
        f.extend_from_slice(&[0xee; 6]);
        f
    }

    fn clue(data: &[u8]) -> Clue {
        let frame = Frame {
            ts: Timestamp(0),
            wire_len: u32::try_from(data.len()).unwrap_or(0),
            linktype: Linktype::ETHERNET,
            data,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        };
        let mut a = Anomalies::default();
        let (d, span) = decode_with_payload(&frame, &mut a);
        Clue::of_packet(&d, span, data)
    }

    #[test]
    fn the_payload_is_found_on_the_fast_and_the_general_path() {
        let get = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
        for vlan in [false, true] {
            let c = clue(&frame_bytes(vlan, false, 0, get));
            assert_eq!((c.proto(), c.reply()), (Some(Proto::Http), Some(false)), "vlan {vlan}");
        }
        // A DNS query for example.com, type A.
        let dns = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        for vlan in [false, true] {
            let c = clue(&frame_bytes(vlan, true, 0, dns));
            assert_eq!((c.proto(), c.reply()), (Some(Proto::Dns), Some(false)), "vlan {vlan}");
        }
    }

    #[test]
    fn no_payload_or_a_later_fragment_gives_no_clue() {
        assert_eq!(clue(&frame_bytes(false, false, 0, b"")), Clue::NONE);
        assert_eq!(clue(&frame_bytes(false, true, 0, b"")), Clue::NONE);
        // A later fragment's bytes are the middle of a datagram, not a transport header.
        let get = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(clue(&frame_bytes(false, false, 0x0010, get)), Clue::NONE);
    }

    #[test]
    fn every_proto_survives_the_round_trip() {
        for (i, p) in Proto::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "Proto::ALL is in declaration order");
        }
        for p in Proto::ALL {
            for reply in [None, Some(false), Some(true)] {
                let c = Clue::of(Evidence { proto: p, interface: None, reply });
                assert_eq!((c.proto(), c.reply()), (Some(p), reply));
            }
        }
        assert_eq!((Clue::NONE.proto(), Clue::NONE.reply()), (None, None));
    }
}
