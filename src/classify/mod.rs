//! Classify: what a flow is, from more than its port.
//!
//! What I own: what decides a flow's label besides the port rule ([`crate::services::decide`]):
//! the payload [`evidence`] of a flow's opening window (stateless checks of a packet's first
//! bytes), and the [`rules`] that turn what a check found into a label (confirmed, overruled,
//! or left to the port). The flow table calls them for the packets of a flow's opening window
//! (`FlowTable::observe_with`, the `WINDOW` of `flow`), on the thread that counts the flow,
//! with the payload bytes the reader kept for it ([`crate::pipeline::Packets`]).
//!
//! What I must not do: keep per-flow state (the flow table does), read past the captured
//! bytes, allocate, or print.

pub mod evidence;
pub mod rules;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
    use crate::decode::Tunnels;
    use crate::decode::{Decoded, IpPacket};
    use crate::services::ServiceTable;
    use evidence::Proto;

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

    /// What the checks find in the payload `Packet::decode` gives for a frame.
    fn seen(data: &[u8]) -> Option<(Proto, Option<bool>)> {
        let frame = Frame {
            ts: Timestamp(0),
            wire_len: u32::try_from(data.len()).unwrap_or(0),
            linktype: Linktype::ETHERNET,
            data,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        };
        let (packet, payload) =
            crate::pipeline::Reader::new(ServiceTable::embedded(), Tunnels::Open).decode(&frame);
        let Decoded::Ip(IpPacket { proto, ports: Some(p), .. }) = packet.decoded else { return None };
        evidence::inspect(crate::flow::transport_of(proto), (p.src, p.dst), payload)
            .map(|e| (e.proto, e.reply))
    }

    #[test]
    fn the_payload_is_found_on_the_fast_and_the_general_path() {
        let get = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
        for vlan in [false, true] {
            assert_eq!(
                seen(&frame_bytes(vlan, false, 0, get)),
                Some((Proto::Http, Some(false))),
                "vlan {vlan}"
            );
        }
        // A DNS query for example.com, type A.
        let dns = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        for vlan in [false, true] {
            assert_eq!(
                seen(&frame_bytes(vlan, true, 0, dns)),
                Some((Proto::Dns, Some(false))),
                "vlan {vlan}"
            );
        }
    }

    #[test]
    fn no_payload_or_a_later_fragment_shows_nothing() {
        assert_eq!(seen(&frame_bytes(false, false, 0, b"")), None);
        assert_eq!(seen(&frame_bytes(false, true, 0, b"")), None);
        // A later fragment's bytes are the middle of a datagram, not a transport header: the
        // reader keeps no payload for it.
        let get = b"GET / HTTP/1.1\r\n\r\n";
        let data = frame_bytes(false, false, 0x0010, get);
        let frame = Frame {
            ts: Timestamp(0),
            wire_len: u32::try_from(data.len()).unwrap_or(0),
            linktype: Linktype::ETHERNET,
            data: &data,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        };
        assert!(
            crate::pipeline::Reader::new(ServiceTable::embedded(), Tunnels::Open).decode(&frame).1.is_empty()
        );
    }

    #[test]
    fn a_protocol_s_place_in_all_is_its_discriminant() {
        for (i, p) in Proto::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "Proto::ALL is in declaration order");
        }
    }
}
