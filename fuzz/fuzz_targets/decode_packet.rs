//! Packet decode on arbitrary bytes (CATALOGUE.md §5.2 target 1). Input: one selector byte
//! (link type in the low nibble, how many bytes the snaplen "cut" in the high nibble), then the
//! packet. The packet is copied into a Vec of exactly its size, so any read past the captured
//! bytes is out of bounds. The same bytes also go through every payload evidence check
//! (`classify::evidence::inspect`), as a TCP and as a UDP payload, with the weak checks' port
//! hints on and off. Tunnels are opened (`decode_into` with a [`Chain`]), as `flowtag read` opens
//! them, and the outer view (no chain) is decoded too: the chain is never deeper than
//! `MAX_DEPTH`, a packet counted under a tunnel is IP, the tunnel tags match what stopped the
//! way in, and the transport payload's span lies within the frame.
#![no_main]

use flowtag::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
use flowtag::classify::evidence::inspect;
use flowtag::decode::{Anomalies, Decoded, Fragment, PROTO_TCP, PROTO_UDP, decode, decode_into};
use flowtag::services::Transport;
use flowtag::tunnel::{Chain, MAX_DEPTH, Problem};
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
    check_tunnels(&frame, d, tags);
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

/// Decodes `frame` the way the pipeline does, tunnels opened and not; `d` and `tags` are what
/// `decode` (tunnels opened, the chain dropped) gave.
fn check_tunnels(frame: &Frame<'_>, d: Decoded, tags: Anomalies) {
    let tunnel_tags = Anomalies(Anomalies::TUNNEL_MALFORMED.0 | Anomalies::TUNNEL_TOO_DEEP.0);
    let mut chain = Chain::default();
    let (mut got, mut got_tags) = (Decoded::NonIp, Anomalies::default());
    let span = decode_into(frame, &mut got_tags, &mut got, Some(&mut chain));
    assert_eq!((got, got_tags), (d, tags), "decode_into and decode agree");
    assert!(chain.depth() <= MAX_DEPTH, "{chain:?}");
    assert_eq!(chain.levels().count(), chain.depth());
    assert_eq!(chain.innermost().is_some(), chain.depth() > 0);
    if chain.depth() > 0 {
        assert!(matches!(got, Decoded::Ip(_)), "counted under a tunnel but not IP: {got:?}");
    }
    match chain.problem() {
        None => assert_eq!(got_tags.0 & tunnel_tags.0, 0, "tunnel tags without a problem: {chain:?}"),
        Some(Problem::TooDeep) => {
            assert_eq!(chain.depth(), MAX_DEPTH, "too deep before the limit");
            assert!(got_tags.contains(Anomalies::TUNNEL_TOO_DEEP));
        }
        Some(Problem::Bad(_) | Problem::Inner(_)) => assert!(got_tags.contains(Anomalies::TUNNEL_MALFORMED)),
    }
    assert_eq!(chain.is_empty(), chain.depth() == 0 && chain.problem().is_none());
    // The payload the evidence checks and announcements read: within the captured bytes.
    assert!(span.start.checked_add(span.len).is_some_and(|end| end <= frame.data.len()), "{span:?}");
    assert_eq!(span.of(frame.data).len(), span.len);
    if span.len > 0 {
        assert!(matches!(got, Decoded::Ip(p) if p.ports.is_some()), "a payload without ports");
    }
    // The outer view opens nothing and tags nothing as a tunnel's.
    let (mut outer, mut outer_tags) = (Decoded::NonIp, Anomalies::default());
    let span = decode_into(frame, &mut outer_tags, &mut outer, None);
    assert_eq!(outer_tags.0 & tunnel_tags.0, 0);
    assert!(span.start.checked_add(span.len).is_some_and(|end| end <= frame.data.len()), "{span:?}");
    if chain.is_empty() {
        assert_eq!((outer, outer_tags), (got, got_tags), "a packet in no tunnel decodes the same either way");
    }
}
