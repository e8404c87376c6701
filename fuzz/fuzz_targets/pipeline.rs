//! The whole pipeline on one capture (CATALOGUE.md §5.2 target 3), structure-aware: arbitrary
//! records, each raw bytes or a well-formed frame with arbitrary fields and some bytes flipped,
//! written into a classic pcap in memory, read back by the reader, counted with tiny caps (64
//! flows, 1 s timeouts) so that eviction and expiry run every time, and rendered in all three
//! formats. Asserts the §3.6 invariants, that the JSON parses and that the CSV has a header and
//! a fixed column count.
#![no_main]

use arbitrary::Arbitrary;
use flowtag::capture::{CaptureReader, Timestamp};
use flowtag::flow::{FlowConfig, WARM};
use flowtag::output::table::TableOptions;
use flowtag::pipeline::{Packets, Pipeline};
use flowtag::report::{InputReport, InputStatus, Report};
use flowtag::services::ServiceTable;
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

#[derive(Arbitrary, Debug)]
struct Case {
    /// Packets counted a batch at a time (`Pipeline::push_batch`, which warms the table ahead,
    /// eviction candidates included), modulo `WARM + 1`; 0 counts them one by one (`push`).
    batch: u8,
    /// Index into the link types below.
    linktype: u8,
    snaplen: u32,
    nanos: bool,
    recs: Vec<Rec>,
}

#[derive(Arbitrary, Debug)]
struct Rec {
    ts_sec: u32,
    ts_frac: u32,
    /// Wire length minus captured length (0: the record is whole).
    cut: u16,
    body: Body,
    /// Bytes to overwrite (position, value), after the frame is built.
    flips: Vec<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Tcp {
        a: u8,
        b: u8,
        sport: Port,
        dport: Port,
        flags: u8,
        payload: u8,
        v6: bool,
        vlans: u8,
    },
    Udp {
        a: u8,
        b: u8,
        sport: Port,
        dport: Port,
        payload: u16,
        v6: bool,
    },
    Fragment {
        a: u8,
        b: u8,
        id: u16,
        offset: u16,
        more: bool,
        proto: u8,
        payload: u8,
    },
    /// A UDP datagram (the `Udp` body's fields, IPv4) inside tunnels, outermost first: so that
    /// the tunnels book, its row cap and the inner flows' keys are reached.
    Tunnelled {
        inner: Box<Body>,
        layers: Vec<Layer>,
    },
}

/// One tunnel around a packet, with the few fields that tell tunnels apart.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Layer {
    /// GRE over IPv4 between 192.0.2.`end` and 198.51.100.1; a key when `Some`.
    Gre { end: u8, key: Option<u32> },
    /// IPv4 in IPv4 (or in IPv6 when `v6`).
    IpIp { end: u8, v6: bool },
    /// VXLAN over IPv4, the packet inside an Ethernet frame.
    Vxlan { end: u8, vni: u32 },
}

/// Ports drawn mostly from the ones the table and the rule care about.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Port {
    Known(u8),
    Any(u16),
}

const PORTS: [u16; 16] = [0, 53, 67, 68, 88, 135, 137, 138, 139, 389, 445, 1024, 1433, 3268, 3389, 5000];

impl Port {
    fn get(self) -> u16 {
        match self {
            Port::Known(i) => PORTS[usize::from(i) % PORTS.len()],
            Port::Any(p) => p,
        }
    }
}

const LINKTYPES: [u32; 5] = [1, 101, 113, 276, 0];

fn ipv4(a: u8, b: u8, proto: u8, l4: &[u8], frag: u16, id: u16) -> Vec<u8> {
    let total = u16::try_from(20 + l4.len()).unwrap_or(u16::MAX);
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, a, 10, 0, 0, b]);
    v.extend_from_slice(l4);
    v
}

fn ipv6(a: u8, b: u8, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&u16::try_from(l4.len()).unwrap_or(u16::MAX).to_be_bytes());
    v.extend_from_slice(&[proto, 64]);
    for end in [a, b] {
        v.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, end]);
    }
    v.extend_from_slice(l4);
    v
}

/// The link header of `linktype` around an IP packet.
fn link(linktype: u32, ip: Vec<u8>, v6: bool, vlans: u8) -> Vec<u8> {
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut v = match linktype {
        1 => {
            let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            for i in 0..(vlans % 20) {
                h.extend_from_slice(&[0x81, 0x00, 0, i]);
            }
            h.extend_from_slice(&ethertype);
            h
        }
        113 => {
            let mut h = vec![0; 14];
            h.extend_from_slice(&ethertype);
            h
        }
        276 => {
            let mut h = ethertype.to_vec();
            h.extend_from_slice(&[0; 18]);
            h
        }
        0 => vec![if v6 { 30 } else { 2 }, 0, 0, 0],
        _ => Vec::new(),
    };
    v.extend_from_slice(&ip);
    v
}

/// `ip` (an IPv4 packet) inside `layer`, as an IP packet; true when the result is IPv6.
fn wrap(ip: Vec<u8>, layer: Layer) -> (Vec<u8>, bool) {
    let outer = |proto: u8, end: u8, l4: &[u8]| {
        let mut v = ipv4(0, 0, proto, l4, 0, 1);
        v[12..20].copy_from_slice(&[192, 0, 2, end, 198, 51, 100, 1]);
        v
    };
    match layer {
        Layer::Gre { end, key } => {
            let mut g = vec![if key.is_some() { 0x20 } else { 0 }, 0, 0x08, 0x00];
            if let Some(k) = key {
                g.extend_from_slice(&k.to_be_bytes());
            }
            g.extend_from_slice(&ip);
            (outer(47, end, &g), false)
        }
        Layer::IpIp { end, v6: true } => (ipv6(end, 1, 4, &ip), true),
        Layer::IpIp { end, v6: false } => (outer(4, end, &ip), false),
        Layer::Vxlan { end, vni } => {
            let mut u = vec![0xc0, 0x00, 0x12, 0xb5, 0, 0, 0, 0, 0x08, 0, 0, 0];
            u.extend_from_slice(&(vni << 8).to_be_bytes());
            u.extend_from_slice(&link(1, ip, false, 0));
            let n = u16::try_from(u.len()).unwrap_or(u16::MAX);
            u[4..6].copy_from_slice(&n.to_be_bytes());
            (outer(17, end, &u), false)
        }
    }
}

fn frame(linktype: u32, body: &Body) -> Vec<u8> {
    match *body {
        Body::Tunnelled { ref inner, ref layers } => {
            let Body::Udp { a, b, sport, dport, payload, .. } = **inner else {
                return frame(linktype, inner);
            };
            let n = usize::from(payload % 200);
            let mut l4 = vec![0u8; 8 + n];
            l4[0..2].copy_from_slice(&sport.get().to_be_bytes());
            l4[2..4].copy_from_slice(&dport.get().to_be_bytes());
            l4[4..6].copy_from_slice(&u16::try_from(8 + n).unwrap_or(0).to_be_bytes());
            let (mut ip, mut v6) = (ipv4(a % 8, b % 8, 17, &l4, 0, 1), false);
            // Past the decoder's depth of 4, but not without end.
            for &layer in layers.iter().rev().take(6) {
                if v6 {
                    break;
                }
                (ip, v6) = wrap(ip, layer);
            }
            link(linktype, ip, v6, 0)
        }
        Body::Raw(ref bytes) => bytes.clone(),
        Body::Tcp { a, b, sport, dport, flags, payload, v6, vlans } => {
            let mut l4 = vec![0u8; 20 + usize::from(payload)];
            l4[0..2].copy_from_slice(&sport.get().to_be_bytes());
            l4[2..4].copy_from_slice(&dport.get().to_be_bytes());
            l4[12] = 5 << 4;
            l4[13] = flags;
            let ip = if v6 { ipv6(a % 8, b % 8, 6, &l4) } else { ipv4(a % 8, b % 8, 6, &l4, 0, 1) };
            link(linktype, ip, v6, vlans)
        }
        Body::Udp { a, b, sport, dport, payload, v6 } => {
            let n = usize::from(payload % 2000);
            let mut l4 = vec![0u8; 8 + n];
            l4[0..2].copy_from_slice(&sport.get().to_be_bytes());
            l4[2..4].copy_from_slice(&dport.get().to_be_bytes());
            l4[4..6].copy_from_slice(&u16::try_from(8 + n).unwrap_or(0).to_be_bytes());
            let ip = if v6 { ipv6(a % 8, b % 8, 17, &l4) } else { ipv4(a % 8, b % 8, 17, &l4, 0, 1) };
            link(linktype, ip, v6, 0)
        }
        Body::Fragment { a, b, id, offset, more, proto, payload } => {
            let mut l4 = vec![0u8; usize::from(payload)];
            if let Some(p) = l4.get_mut(2..4) {
                p.copy_from_slice(&445u16.to_be_bytes());
            }
            let frag = (offset & 0x1fff) | if more { 0x2000 } else { 0 };
            let proto = [6, 17, 1][usize::from(proto % 3)];
            link(linktype, ipv4(a % 8, b % 8, proto, &l4, frag, id % 4), false, 0)
        }
    }
}

fn pcap(case: &Case) -> Vec<u8> {
    let linktype = LINKTYPES[usize::from(case.linktype) % LINKTYPES.len()];
    let magic: u32 = if case.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&case.snaplen.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for r in &case.recs {
        let mut data = frame(linktype, &r.body);
        data.truncate(4096);
        for &(at, v) in &r.flips {
            if !data.is_empty() {
                let i = usize::from(at) % data.len();
                data[i] = v;
            }
        }
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        for v in [r.ts_sec, r.ts_frac, caplen, caplen.saturating_add(u32::from(r.cut))] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&data);
    }
    out
}

fuzz_target!(|case: Case| {
    let bytes = pcap(&case);
    let len = bytes.len() as u64;
    let Ok(mut reader) = CaptureReader::from_reader(Box::new(Cursor::new(bytes)), Some(len)) else {
        return;
    };
    let table = ServiceTable::embedded();
    let cfg = FlowConfig {
        tcp_timeout: Timestamp::NANOS_PER_SEC,
        udp_timeout: Timestamp::NANOS_PER_SEC,
        other_timeout: Timestamp::NANOS_PER_SEC,
        max_flows: 64,
        ..FlowConfig::default()
    };
    let mut pipeline = Pipeline::new(table, cfg);
    let mut ended = 0u64;
    let mut read = 0u64;
    let mut status = InputStatus::Ok;
    let batch = usize::from(case.batch) % (WARM + 1);
    // Made without room for payloads, so that the batch's buffer grows as packets come.
    let mut pending = Packets::default();
    let mut on_end = |r: &flowtag::flow::FlowRecord| {
        assert!(r.end >= r.start);
        ended += 1;
    };
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                read += 1;
                if batch == 0 {
                    pipeline.push(&frame, &mut on_end);
                } else {
                    let (packet, payload) = pipeline.decode(&frame);
                    pending.push(packet, payload, &pipeline.reader.chain);
                    if pending.len() == batch {
                        pipeline.push_batch(&pending, &mut on_end);
                        pending.clear();
                    }
                }
                assert!(pipeline.flows.active() <= 64, "the flow cap holds");
            }
            Ok(None) => break,
            Err(_) => {
                status = InputStatus::Truncated;
                break;
            }
        }
    }
    pipeline.push_batch(&pending, &mut on_end);
    pipeline.finish(&mut on_end);
    assert_eq!(pipeline.flows.active(), 0);
    let c = pipeline.flows.counters;
    assert_eq!(ended, c.created, "every flow created ends exactly once");
    let link_types = reader.link_types().iter().map(|l| l.0).collect();
    let input = InputReport {
        packets: read,
        status,
        ..InputReport::new("fuzz".into(), Some(reader.format()), link_types)
    };
    let report = Report::build(
        &pipeline.stats,
        &c,
        table,
        vec![input],
        pipeline.first_ts.map(Timestamp::as_secs_f64),
        pipeline.last_ts.map(Timestamp::as_secs_f64),
    );
    assert!(report.conserved(), "{:?}", report.totals);
    assert_eq!(report.totals.packets, read, "every record read is counted once");
    // The tunnels section is a breakdown within its cap: no row more than the total.
    let t = &report.tunnels;
    assert!(t.rows.len() <= flowtag::stats::tunnels::MAX_TUNNEL_ROWS);
    assert!(t.rows.iter().all(|r| r.packets <= read && r.packets > 0), "{t:?}");
    assert!(t.malformed.values().sum::<u64>() <= read, "{t:?}");
    let mut json = Vec::new();
    flowtag::output::json::write(&mut json, &report).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["totals"]["packets"], read);
    let mut csv = Vec::new();
    flowtag::output::csv::write(&mut csv, &report).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(flowtag::output::csv::HEADER));
    let columns = flowtag::output::csv::HEADER.split(',').count();
    let mut packets = 0u64;
    for l in lines {
        let f = flowtag::output::csv::split_line(l);
        assert_eq!(f.len(), columns, "{l}");
        let n = f[5].parse::<u64>().unwrap();
        // A tunnel's row is a breakdown of the rows above (its packets are counted there).
        if f[0] == "tunnel" {
            assert!(n <= read, "{l}");
        } else {
            packets += n;
        }
    }
    assert_eq!(packets, read, "the CSV's rows add up to the total");
    let mut table_out = Vec::new();
    flowtag::output::table::write(&mut table_out, &report, TableOptions::default()).unwrap();
    let text = String::from_utf8(table_out).unwrap();
    assert!(text.contains("Packets: "), "{text}");
});
