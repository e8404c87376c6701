//! The flow table fed arbitrary packet sequences (CATALOGUE.md §5.2 target 4), times going
//! forwards and backwards, IPv4 and IPv6 hosts, against a trivial model: a BTreeMap of the
//! live flows and the packets and bytes each has counted. After every step: the table holds
//! what the model holds, never more than its cap, created = expired + evicted + reused + live;
//! every ended record is a flow the model had, with exactly the packets and bytes the model
//! counted for it.
#![no_main]

use arbitrary::Arbitrary;
use flowtag::capture::Timestamp;
use flowtag::decode::{Addr, Fragment, IpPacket, PROTO_TCP, PROTO_UDP, Ports, TcpFlags};
use flowtag::flow::{FlowConfig, FlowKey, FlowRecord, FlowTable, Seen};
use flowtag::services::ServiceTable;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

#[derive(Arbitrary, Debug)]
struct Ops {
    max_flows: u8,
    tcp_timeout: u8,
    udp_timeout: u8,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Packet {
        src: u8,
        dst: u8,
        sport: u8,
        dport: u8,
        proto: u8,
        flags: u8,
        vlan: bool,
        dt: i16,
        len: u16,
    },
    /// Moves the clock only (an idle stretch), by tenths of a second.
    Idle(u16),
}

const PORTS: [u16; 8] = [0, 88, 137, 139, 445, 1025, 3389, 50_000];

/// One of four IPv4 hosts, or (bit 6 set) one of four IPv6 hosts, whose keys the table keeps
/// out of line.
fn addr(x: u8) -> Addr {
    if x & 0x40 == 0 {
        Addr::v4([10, 0, 0, x % 4])
    } else {
        Addr((0x2001_0db8_u128 << 96 | u128::from(x % 4)).to_be_bytes())
    }
}

fn key_of(r: &FlowRecord) -> FlowKey {
    let ports = (r.proto == PROTO_TCP || r.proto == PROTO_UDP)
        .then_some(Ports { src: r.client_port, dst: r.server_port });
    let pkt = IpPacket {
        src: r.client,
        dst: r.server,
        proto: r.proto,
        ports,
        tcp_flags: TcpFlags(0),
        vlan: r.vlan,
        fragment: Fragment::Whole,
        tunnel: 0,
    };
    FlowKey::of(&pkt).0
}

fuzz_target!(|input: Ops| {
    let tenth = Timestamp::NANOS_PER_SEC / 10;
    let cfg = FlowConfig {
        tcp_timeout: (u64::from(input.tcp_timeout) + 1) * tenth,
        udp_timeout: (u64::from(input.udp_timeout) + 1) * tenth,
        other_timeout: 10 * tenth,
        max_flows: usize::from(input.max_flows % 32) + 1,
        ..FlowConfig::default()
    };
    let mut table = FlowTable::new(ServiceTable::embedded(), cfg);
    // The model: live flows and their (packets, bytes).
    let mut live: BTreeMap<FlowKey, (u64, u64)> = BTreeMap::new();
    let mut now: i64 = 1_000_000_000 * 10;
    let (mut packets, mut ended_packets) = (0u64, 0u64);
    let mut settle = |table: &mut FlowTable<'_>, live: &mut BTreeMap<FlowKey, (u64, u64)>| {
        for rec in table.drain_ended() {
            let key = key_of(&rec);
            let Some((p, b)) = live.remove(&key) else {
                panic!("ended a flow the model does not hold: {rec:?}");
            };
            assert_eq!(rec.packets[0] + rec.packets[1], p, "packets of {rec:?}");
            assert_eq!(rec.bytes[0] + rec.bytes[1], b, "bytes of {rec:?}");
            assert!(rec.end >= rec.start);
            ended_packets += p;
        }
    };
    for op in &input.ops {
        match *op {
            Op::Idle(d) => {
                now += i64::from(d);
                let _ = table.advance(Timestamp(u64::try_from(now).unwrap_or(0) * tenth));
                settle(&mut table, &mut live);
            }
            Op::Packet { src, dst, sport, dport, proto, flags, vlan, dt, len } => {
                now = (now + i64::from(dt)).max(0);
                let ts = Timestamp(u64::try_from(now).unwrap_or(0) * tenth);
                let proto = [PROTO_TCP, PROTO_UDP, 1][usize::from(proto % 3)];
                let ports = (proto != 1).then_some(Ports {
                    src: PORTS[usize::from(sport % 8)],
                    dst: PORTS[usize::from(dport % 8)],
                });
                let pkt = IpPacket {
                    src: addr(src),
                    dst: addr(dst),
                    proto,
                    ports,
                    tcp_flags: TcpFlags(flags),
                    vlan: u16::from(vlan),
                    fragment: Fragment::Whole,
                    tunnel: 0,
                };
                let _ = table.advance(ts);
                // Flows the clock ended are settled before the packet is looked up.
                settle(&mut table, &mut live);
                let seen = table.observe(&pkt, ts, u32::from(len), |_, _| 0);
                // Anything that packet ended (reuse, an expired flow found on lookup, eviction)
                // left the table before the new flow came in.
                let (key, _) = FlowKey::of(&pkt);
                settle(&mut table, &mut live);
                match seen {
                    Seen::Flow { created: true, .. } => {
                        live.insert(key, (1, u64::from(len)));
                    }
                    Seen::Flow { created: false, .. } => {
                        let e =
                            live.get_mut(&key).expect("a packet counted in a flow the model does not hold");
                        e.0 += 1;
                        e.1 += u64::from(len);
                    }
                    other => panic!("a whole packet is always counted in a flow: {other:?}"),
                }
                packets += 1;
            }
        }
        assert!(table.active() <= cfg.max_flows, "cap {} exceeded: {}", cfg.max_flows, table.active());
        assert_eq!(table.active(), live.len(), "table and model hold the same flows");
        let c = table.counters;
        assert_eq!(c.created, c.expired + c.evicted + c.reused + live.len() as u64);
    }
    table.finish();
    settle(&mut table, &mut live);
    assert!(live.is_empty(), "every flow ends at the end: {live:?}");
    assert_eq!(ended_packets, packets, "every packet is in exactly one flow record");
    let c = table.counters;
    assert_eq!(c.created, c.expired + c.evicted + c.reused + c.at_end);
});
