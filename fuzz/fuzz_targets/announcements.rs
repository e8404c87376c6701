//! The parsers of announced endpoints (`learn::announcements`) on arbitrary payloads. Input:
//! one selector byte (which control channel: TCP/UDP 135, TCP 21, UDP 69, TCP 1720, or an
//! unrelated port, in the low 3 bits; the direction in bit 3; the output's size, 0..=15, in
//! the high nibble), one byte that picks where to cut the payload, then the payload, copied
//! into a Vec of exactly its size so that any read past it is out of bounds. Asserts: no
//! panic; at most `out.len()` announcements, none with port 0; deterministic; each of the
//! transport and kind its channel can announce; a payload cut short announces a prefix of
//! what the whole announces (no port that is not fully present).
#![no_main]

use flowtag::decode::Addr;
use flowtag::learn::{Announced, Control, Kind, Role, announcements};
use flowtag::services::Transport;
use libfuzzer_sys::fuzz_target;

const CHANNELS: [(Transport, u16); 6] = [
    (Transport::Tcp, 135),
    (Transport::Udp, 135),
    (Transport::Tcp, 21),
    (Transport::Udp, 69),
    (Transport::Tcp, 1720),
    (Transport::Tcp, 80),
];

fn run(c: &Control, to_server: bool, payload: &[u8], cap: usize) -> Vec<Announced> {
    let mut out = [Announced::EMPTY; 16];
    let out = &mut out[..cap];
    let n = announcements(c, to_server, payload, out);
    assert!(n <= cap);
    out[..n].to_vec()
}

fuzz_target!(|input: &[u8]| {
    let Some((&[selector, cut], payload)) = input.split_first_chunk::<2>() else { return };
    let (transport, port) = CHANNELS[usize::from(selector & 0x07) % CHANNELS.len()];
    let to_server = selector & 0x08 != 0;
    let cap = usize::from(selector >> 4);
    let c = Control {
        transport,
        client: Addr::v4([10, 0, 0, 1]),
        client_port: 40000,
        server: Addr::v4([10, 0, 0, 2]),
        server_port: port,
    };
    let data = payload.to_vec();
    let got = run(&c, to_server, &data, cap);
    assert_eq!(run(&c, to_server, &data, cap), got);
    for a in &got {
        assert_ne!(a.port, 0);
        let ok = match a.kind {
            Kind::Epm { .. } => port == 135 && !to_server && a.who == Role::Server && a.peer.is_none(),
            Kind::FtpData => port == 21 && a.transport == Transport::Tcp,
            Kind::Tftp => port == 69 && to_server && a.transport == Transport::Udp && a.port == c.client_port,
            Kind::H245 => port == 1720 && a.transport == Transport::Tcp,
        };
        assert!(ok, "{a:?} on {transport:?} {port}");
    }
    // Cut anywhere: only what the whole announces, in the same order.
    let full = run(&c, to_server, &data, 16);
    let at = usize::from(cut) * data.len() / 255;
    let short = data[..at].to_vec();
    let part = run(&c, to_server, &short, 16);
    assert!(full.starts_with(&part), "cut at {at}: {part:?}, whole {full:?}");
});
