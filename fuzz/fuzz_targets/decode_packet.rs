//! Packet decode on arbitrary bytes (CATALOGUE.md §5.2 target 1). Input: one selector byte
//! (link type in the low nibble, how many bytes the snaplen "cut" in the high nibble), then the
//! packet. The packet is copied into a Vec of exactly its size, so any read past the captured
//! bytes is out of bounds. The same bytes also go through every payload evidence check
//! (`classify::evidence::inspect`), as a TCP and as a UDP payload, with the weak checks' port
//! hints on and off.
#![no_main]

use flowtag::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
use flowtag::classify::evidence::inspect;
use flowtag::decode::{Anomalies, Decoded, Fragment, PROTO_TCP, PROTO_UDP, decode};
use flowtag::services::Transport;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, packet)) = input.split_first() else { return };
    // Every supported link type, and one that is not (147, a user type).
    let n = Linktype::SUPPORTED.len();
    let linktype =
        Linktype::SUPPORTED.get(usize::from(selector & 0x0f) % (n + 1)).copied().unwrap_or(Linktype(147));
    let data = packet.to_vec();
    let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
    // 0: wire length = captured length; otherwise up to 15 * 97 bytes were cut by the snaplen.
    let wire_len = caplen.saturating_add(u32::from(selector >> 4) * 97);
    let frame = Frame {
        ts: Timestamp(0),
        wire_len,
        linktype,
        data: &data,
        flags: RecordFlags::default(),
        endian: Endian::Little,
    };
    let mut tags = Anomalies::default();
    let d = decode(&frame, &mut tags);
    // Deterministic and stateless: the same bytes decode the same way.
    let mut again = Anomalies::default();
    assert_eq!(decode(&frame, &mut again), d);
    assert_eq!(again, tags);
    match d {
        Decoded::Ip(p) => {
            if p.ports.is_some() {
                assert!(p.proto == PROTO_TCP || p.proto == PROTO_UDP, "ports on protocol {}", p.proto);
                assert!(!matches!(p.fragment, Fragment::NonFirst { .. }), "ports on a non-first fragment");
            }
            if matches!(p.fragment, Fragment::NonFirst { .. }) {
                assert!(tags.contains(Anomalies::FRAGMENT_NONFIRST));
            }
            if p.proto == PROTO_TCP && !matches!(p.fragment, Fragment::NonFirst { .. }) {
                assert!(p.ports.is_some(), "a TCP packet that is not a later fragment has ports");
            }
        }
        Decoded::NonIp => assert!(linktype != Linktype::RAW, "raw IP is IP or a skip"),
        Decoded::Skip(s) => assert!(!s.as_str().is_empty()),
    }
    if linktype == Linktype(147) {
        assert!(matches!(d, Decoded::Skip(_)), "an unsupported link type is never decoded");
    }
    // Evidence is stateless and reads nothing past the slice (the Vec is exactly its size).
    for transport in [Transport::Tcp, Transport::Udp] {
        for ports in [(50_000, 50_002), (1024, 69), (5004, 5006)] {
            let e = inspect(transport, ports, &data);
            assert_eq!(inspect(transport, ports, &data), e);
        }
    }
});
