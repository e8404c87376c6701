//! The tunnel-header parsers (`tunnel::over_ip`, `tunnel::over_udp`) on arbitrary bytes, and
//! nesting followed to depth 4 as decode will follow it. Input: one selector byte (bit 0: start
//! after an IP header or after a UDP header; the rest picks the protocol or port pair from the
//! tunnel ones, or a byte of the input as an arbitrary one), then the payload, copied into a
//! Vec of exactly its size so that any read past it is out of bounds. Each inner IPv4, IPv6 or
//! Ethernet packet is taken apart by a tiny local header skip (IHL, IPv6's fixed 40 bytes,
//! EtherType) to reach the next tunnel header, so that loops of nested GRE, lengths that lie
//! and headers cut anywhere are all reached. Asserts: no panic; deterministic; every inner
//! slice is a sub-slice of its input that ends where the input ends.
#![no_main]

use flowtag::tunnel::{Decap, Inner, over_ip, over_udp};
use libfuzzer_sys::fuzz_target;

const PROTOS: [u8; 4] = [4, 41, 47, 17];
const PORTS: [u16; 5] = [4789, 3544, 1701, 4500, 53];
const DEPTH: usize = 4;

fn ends_inside(outer: &[u8], inner: &[u8]) {
    let (r, s) = (outer.as_ptr_range(), inner.as_ptr_range());
    assert!(s.start >= r.start && s.end == r.end, "inner slice not a tail of its input");
}

/// One step: a tunnel header, checked against the bytes it was given.
fn step<'a>(bytes: &'a [u8], parse: impl Fn(&'a [u8]) -> Option<Decap<'a>>) -> Option<Inner<'a>> {
    let got = parse(bytes);
    assert_eq!(parse(bytes), got);
    let (_, inner) = got?.ok()?;
    if let Inner::Ethernet(b) | Inner::Ipv4(b) | Inner::Ipv6(b) | Inner::Esp(b) = inner {
        ends_inside(bytes, b);
    }
    Some(inner)
}

/// The transport header after an IP header: protocol and the bytes after the IP header.
fn skip_ip(inner: Inner<'_>) -> Option<(u8, &[u8])> {
    match inner {
        Inner::Ipv4(b) => {
            let ihl = usize::from(b.first()? & 0x0f) * 4;
            Some((*b.get(9)?, b.get(ihl.max(20)..)?))
        }
        Inner::Ipv6(b) => Some((*b.get(6)?, b.get(40..)?)),
        Inner::Ethernet(b) => match u16::from_be_bytes(*b.get(12..)?.first_chunk()?) {
            0x0800 => skip_ip(Inner::Ipv4(b.get(14..)?)),
            0x86dd => skip_ip(Inner::Ipv6(b.get(14..)?)),
            _ => None,
        },
        Inner::Esp(_) | Inner::NotIp => None,
    }
}

/// Follows tunnels from (proto, payload) to the fixed depth.
fn follow(mut proto: u8, mut payload: &[u8]) {
    for _ in 0..DEPTH {
        let inner = if proto == 17 {
            let Some((ports, rest)) = payload.split_first_chunk::<4>() else { return };
            let src = u16::from_be_bytes([ports[0], ports[1]]);
            let dst = u16::from_be_bytes([ports[2], ports[3]]);
            // The UDP header's length and checksum, 4 more bytes.
            let Some(rest) = rest.get(4..) else { return };
            step(rest, |b| over_udp(src, dst, b))
        } else {
            step(payload, |b| over_ip(proto, b))
        };
        let Some((p, next)) = inner.and_then(skip_ip) else { return };
        (proto, payload) = (p, next);
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, payload)) = input.split_first() else { return };
    let data = payload.to_vec();
    let pick = usize::from(selector >> 1);
    if selector & 1 == 0 {
        let proto = PROTOS.get(pick).copied().unwrap_or_else(|| data.first().copied().unwrap_or(0));
        follow(proto, &data);
    } else {
        // A UDP start: the ports come from the selector, or from the payload's own header.
        let port = PORTS.get(pick % 8).copied();
        match port {
            Some(p) => {
                step(&data, |b| over_udp(40000, p, b));
                step(&data, |b| over_udp(p, 40000, b));
            }
            None => follow(17, &data),
        }
        let inner = port.and_then(|p| step(&data, |b| over_udp(p, p, b)));
        if let Some((p, next)) = inner.and_then(skip_ip) {
            follow(p, next);
        }
    }
});
