//! Property tests (CATALOGUE.md §5.4), in process: decode never panics on any bytes or on any
//! prefix of a valid frame of every link type we read, and a prefix is either the frame's own
//! ports or a truncation kind; the pipeline keeps its books on arbitrary frame sequences with
//! tiny caps (64 flows, 1 s timeouts, so eviction and expiry run), and its JSON parses, its CSV
//! has a fixed column count and adds up, and the table carries the same totals. A valid packet
//! in 1..=5 random tunnels (GRE with and without a key, IP in IP, VXLAN; IPv4 or IPv6 carriers)
//! decodes to itself to depth 4 and to its depth-4 carrier past it, and any prefix of it is
//! counted (under a carrier, tagged, where a tunnel header or the packet inside was cut) or a
//! named truncation.

use flowtag::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
use flowtag::decode::{Addr, Anomalies, Decoded, Ports, Skip, decode, decode_into};
use flowtag::flow::FlowConfig;
use flowtag::output::table::TableOptions;
use flowtag::pipeline::Pipeline;
use flowtag::report::{InputReport, Report};
use flowtag::services::ServiceTable;
use flowtag::tunnel::{Chain, Kind, MAX_DEPTH, Problem, Tunnel};
use proptest::prelude::*;

/// Every supported link type, and two that are not.
fn all_linktypes() -> Vec<Linktype> {
    let mut v = Linktype::SUPPORTED.to_vec();
    v.extend([Linktype(147), Linktype(65_535)]);
    v
}

fn frame(linktype: Linktype, data: &[u8], wire_len: usize, ts: u64) -> Frame<'_> {
    Frame {
        ts: Timestamp(ts),
        wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
        linktype,
        data,
        flags: RecordFlags::default(),
        endian: Endian::Little,
    }
}

/// The transport of a valid packet.
#[derive(Clone, Debug)]
enum L4 {
    Tcp { sport: u16, dport: u16, flags: u8, options: u8, payload: usize },
    Udp { sport: u16, dport: u16, payload: usize },
    Other { proto: u8, payload: usize },
}

impl L4 {
    fn proto(&self) -> u8 {
        match self {
            L4::Tcp { .. } => 6,
            L4::Udp { .. } => 17,
            L4::Other { proto, .. } => *proto,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match *self {
            L4::Tcp { sport, dport, flags, options, payload } => {
                let opts = usize::from(options % 11) * 4;
                let mut v = vec![1u8; 20 + opts + payload];
                v[0..2].copy_from_slice(&sport.to_be_bytes());
                v[2..4].copy_from_slice(&dport.to_be_bytes());
                v[12] = u8::try_from((20 + opts) / 4).unwrap() << 4;
                v[13] = flags;
                v
            }
            L4::Udp { sport, dport, payload } => {
                let mut v = vec![2u8; 8 + payload];
                v[0..2].copy_from_slice(&sport.to_be_bytes());
                v[2..4].copy_from_slice(&dport.to_be_bytes());
                v[4..6].copy_from_slice(&u16::try_from(8 + payload).unwrap().to_be_bytes());
                v
            }
            L4::Other { payload, .. } => vec![3u8; payload],
        }
    }

    fn ports(&self) -> Option<Ports> {
        match *self {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport, .. } => {
                Some(Ports { src: sport, dst: dport })
            }
            L4::Other { .. } => None,
        }
    }
}

/// A valid packet: IP version, extension headers (IPv6), transport, and its link framing.
#[derive(Clone, Debug)]
struct Valid {
    v6: bool,
    ext: u8,
    l4: L4,
    link: u8,
    vlans: u8,
    a: u8,
}

impl Valid {
    fn ip(&self) -> Vec<u8> {
        let l4 = self.l4.bytes();
        if self.v6 {
            // Destination-options headers (8 bytes each) before the transport.
            let n = usize::from(self.ext % 8);
            let mut body = Vec::new();
            for i in 0..n {
                body.extend_from_slice(&[if i + 1 == n { self.l4.proto() } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
            }
            body.extend_from_slice(&l4);
            let mut v = vec![0x60, 0, 0, 0];
            v.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
            v.push(if n > 0 { 60 } else { self.l4.proto() });
            v.push(64);
            v.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, self.a]);
            v.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe]);
            v.extend_from_slice(&body);
            v
        } else {
            let mut v = vec![0x45, 0];
            v.extend_from_slice(&u16::try_from(20 + l4.len()).unwrap().to_be_bytes());
            v.extend_from_slice(&[0, 1, 0, 0, 64, self.l4.proto(), 0, 0, 10, 0, 0, self.a, 10, 0, 0, 254]);
            v.extend_from_slice(&l4);
            v
        }
    }

    /// The frame on its link type: every framing the decoder knows.
    fn frame(&self) -> (Linktype, Vec<u8>) {
        let ip = self.ip();
        let et: [u8; 2] = if self.v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
        let with = |mut head: Vec<u8>| {
            head.extend_from_slice(&ip);
            head
        };
        let eth = |mid: &[u8]| {
            let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            h.extend_from_slice(mid);
            h
        };
        match self.link % 12 {
            0 => (Linktype::ETHERNET, with(eth(&et))),
            1 => {
                // A stack of 802.1ad/802.1Q tags within the cap.
                let mut mid = Vec::new();
                for i in 0..=(self.vlans % 16) {
                    mid.extend_from_slice(&[
                        if i == 0 { 0x88 } else { 0x81 },
                        if i == 0 { 0xa8 } else { 0x00 },
                    ]);
                    mid.extend_from_slice(&[0, i + 1]);
                }
                mid.extend_from_slice(&et);
                (Linktype::ETHERNET, with(eth(&mid)))
            }
            2 => (Linktype::ETHERNET, with(eth(&[0x88, 0x47, 0, 1, 0, 64, 0, 2, 1, 64]))),
            3 => {
                let ppp: [u8; 2] = if self.v6 { [0x00, 0x57] } else { [0x00, 0x21] };
                let mut mid = vec![0x88, 0x64, 0x11, 0, 0, 1, 0, 0];
                mid.extend_from_slice(&ppp);
                (Linktype::ETHERNET, with(eth(&mid)))
            }
            4 => {
                let mut h = vec![0u8; 14];
                h.extend_from_slice(&et);
                (Linktype::LINUX_SLL, with(h))
            }
            5 => {
                let mut h = et.to_vec();
                h.extend_from_slice(&[0; 18]);
                (Linktype::LINUX_SLL2, with(h))
            }
            6 => (Linktype::NULL, with(vec![if self.v6 { 30 } else { 2 }, 0, 0, 0])),
            7 => (Linktype::LOOP, with(vec![0, 0, 0, if self.v6 { 24 } else { 2 }])),
            8 => (Linktype::RAW, ip),
            9 => (Linktype::RAW_DLT12, ip),
            10 => (Linktype::RAW_DLT14, ip),
            _ => (if self.v6 { Linktype::IPV6 } else { Linktype::IPV4 }, ip),
        }
    }
}

fn l4() -> impl Strategy<Value = L4> {
    prop_oneof![
        (1..=u16::MAX, 1..=u16::MAX, any::<u8>(), any::<u8>(), 0..64usize).prop_map(
            |(sport, dport, flags, options, payload)| L4::Tcp { sport, dport, flags, options, payload }
        ),
        (1..=u16::MAX, 1..=u16::MAX, 0..64usize).prop_map(|(sport, dport, payload)| L4::Udp {
            sport,
            dport,
            payload
        }),
        // Not 4, 41 or 47: those carry a tunnel, whose header of their own the tunnel tests
        // and the tunnel fuzz target make.
        (prop::sample::select(vec![1u8, 2, 50, 58, 89, 103, 132]), 0..32usize)
            .prop_map(|(proto, payload)| L4::Other { proto, payload }),
    ]
}

fn valid() -> impl Strategy<Value = Valid> {
    (any::<bool>(), any::<u8>(), l4(), any::<u8>(), any::<u8>(), 1..8u8)
        .prop_map(|(v6, ext, l4, link, vlans, a)| Valid { v6, ext, l4, link, vlans, a })
}

/// Skip reasons a frame cut short may get: the truncation kinds, an extension chain that runs
/// past the end, and a record with no bytes at all.
const TRUNCATION: [Skip; 5] =
    [Skip::TruncatedLink, Skip::L3Truncated, Skip::L4Truncated, Skip::Ipv6ExtBad, Skip::PcapRecordBad];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics_on_any_bytes(
        lt in prop::sample::select(all_linktypes()),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        extra in 0..2000usize,
    ) {
        let mut a = Anomalies::default();
        let d = decode(&frame(lt, &bytes, bytes.len() + extra, 0), &mut a);
        if bytes.is_empty() {
            prop_assert_eq!(d, Decoded::Skip(Skip::PcapRecordBad));
        } else if !lt.is_supported() {
            prop_assert_eq!(d, Decoded::Skip(Skip::UnsupportedLinktype));
        }
        if let Decoded::Ip(p) = d {
            prop_assert!(p.ports.is_none() || p.proto == 6 || p.proto == 17);
        }
    }

    #[test]
    fn every_prefix_of_a_valid_frame_is_its_own_ports_or_a_truncation(v in valid()) {
        let (lt, f) = v.frame();
        let mut a = Anomalies::default();
        let whole = decode(&frame(lt, &f, f.len(), 0), &mut a);
        let Decoded::Ip(p) = whole else {
            return Err(TestCaseError::fail(format!("a valid frame decodes as IP: {whole:?} {v:?}")));
        };
        prop_assert_eq!(p.ports, v.l4.ports());
        prop_assert_eq!(p.proto, v.l4.proto());
        prop_assert_eq!(a, Anomalies::default(), "no tags on a valid frame");
        for n in 0..f.len() {
            // Cut by a snaplen (the wire length kept) and cut on the wire.
            for wire in [f.len(), n] {
                let mut a = Anomalies::default();
                match decode(&frame(lt, &f[..n], wire, 0), &mut a) {
                    Decoded::Ip(q) => {
                        prop_assert!(q.ports.is_none() || q.ports == p.ports, "prefix {}: {:?}", n, q);
                        prop_assert_eq!(q.proto, p.proto);
                    }
                    Decoded::Skip(s) => prop_assert!(TRUNCATION.contains(&s), "prefix {}: {:?} {:?}", n, s, v),
                    Decoded::NonIp => prop_assert!(false, "prefix {} of an IP frame is non-IP: {:?}", n, v),
                }
            }
        }
    }
}

/// One frame of a sequence: valid, valid with a byte changed, or noise; time steps that may go
/// backwards.
#[derive(Clone, Debug)]
enum Item {
    Valid(Valid, i64),
    Flipped(Valid, usize, u8, i64),
    Noise(Linktype, Vec<u8>, i64),
}

fn item() -> impl Strategy<Value = Item> {
    let dt = -2_000i64..3_000;
    prop_oneof![
        4 => (valid(), dt.clone()).prop_map(|(v, dt)| Item::Valid(v, dt)),
        2 => (valid(), any::<usize>(), any::<u8>(), dt.clone()).prop_map(|(v, at, b, dt)| Item::Flipped(v, at, b, dt)),
        1 => (prop::sample::select(all_linktypes()), prop::collection::vec(any::<u8>(), 0..80), dt)
            .prop_map(|(lt, b, dt)| Item::Noise(lt, b, dt)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_books_balance_on_any_frame_sequence(items in prop::collection::vec(item(), 0..300)) {
        let table = ServiceTable::embedded();
        let ns = Timestamp::NANOS_PER_SEC;
        let cfg = FlowConfig { tcp_timeout: ns, udp_timeout: ns, other_timeout: ns, max_flows: 64, ..FlowConfig::default() };
        let mut pipeline = Pipeline::new(table, cfg);
        let mut ended = 0u64;
        let mut clock: i64 = 1_000_000_000_000_000_000;
        let mut bytes = 0u64;
        for it in &items {
            let (lt, data, dt) = match it {
                Item::Valid(v, dt) => { let (lt, f) = v.frame(); (lt, f, *dt) }
                Item::Flipped(v, at, b, dt) => {
                    let (lt, mut f) = v.frame();
                    let i = at % f.len();
                    f[i] = *b;
                    (lt, f, *dt)
                }
                Item::Noise(lt, b, dt) => (*lt, b.clone(), *dt),
            };
            // Time in milliseconds: steps of up to 3 s forwards and 2 s back.
            clock += dt * 1_000_000;
            let ts = u64::try_from(clock).unwrap();
            bytes += data.len() as u64;
            pipeline.push(&frame(lt, &data, data.len(), ts), &mut |r| {
                assert!(r.end >= r.start, "negative duration {r:?}");
                ended += 1;
            });
            prop_assert!(pipeline.flows.active() <= 64);
        }
        pipeline.finish(&mut |_| ended += 1);
        let c = pipeline.flows.counters;
        prop_assert_eq!(ended, c.created, "every flow ends exactly once");
        let packets = items.len() as u64;
        let input = InputReport { packets, bytes, ..InputReport::new("prop".into(), Some("pcap"), vec![]) };
        let report = Report::build(&pipeline.stats, &c, table, vec![input], None, None);
        prop_assert!(report.conserved(), "{:?}", report.totals);
        prop_assert_eq!(report.totals.packets, packets);
        prop_assert_eq!(report.totals.bytes, bytes);

        let mut json = Vec::new();
        flowtag::output::json::write(&mut json, &report).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        crate::support::check_totals(&doc);

        let mut csv = Vec::new();
        flowtag::output::csv::write(&mut csv, &report).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let mut lines = csv.lines();
        let header = lines.next().unwrap();
        prop_assert_eq!(header, flowtag::output::csv::HEADER);
        let columns = header.split(',').count();
        let (mut sum, mut tunnelled) = (0u64, 0u64);
        for l in lines {
            let f = flowtag::output::csv::split_line(l);
            prop_assert_eq!(f.len(), columns, "{}", l);
            // Tunnel rows are a breakdown of the others (their packets are counted there).
            let (kind, n) = (f[0].as_str(), f[5].parse::<u64>().unwrap());
            if kind == "tunnel" {
                tunnelled = tunnelled.max(n);
            } else {
                sum += n;
            }
        }
        prop_assert_eq!(sum, packets, "the CSV's rows add up to the total");
        prop_assert!(tunnelled <= packets, "a tunnel's packets are some of the total's");

        let mut text = Vec::new();
        flowtag::output::table::write(&mut text, &report, TableOptions::default()).unwrap();
        let text = String::from_utf8(text).unwrap();
        let want = format!("Packets: {} = ", flowtag::output::units::thousands(packets));
        prop_assert!(text.contains(&want), "{}", text);
    }
}

// ---- Tunnels (issue 17): a valid packet in 1..=5 random tunnel layers ---------------------

/// One tunnel around a packet, its carrier IPv4 or IPv6.
#[derive(Clone, Debug)]
enum Layer {
    /// RFC 2784 GRE, with an RFC 2890 key when `Some`.
    Gre { key: Option<u32>, v6: bool },
    /// IP in IP: protocol 4 or 41 by the packet inside (4in4, 6in4, 4in6, 6in6).
    IpIp { v6: bool },
    /// RFC 7348 VXLAN over UDP 4789, the packet in an Ethernet frame.
    Vxlan { vni: u32, sport: u16, v6: bool },
}

impl Layer {
    fn v6(&self) -> bool {
        match *self {
            Layer::Gre { v6, .. } | Layer::IpIp { v6 } | Layer::Vxlan { v6, .. } => v6,
        }
    }

    /// The carrier's addresses, told apart by the layer's place `i`.
    fn ends(&self, i: u8) -> (Addr, Addr) {
        if self.v6() {
            let a = |x: u8| Addr([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x, i]);
            (a(1), a(2))
        } else {
            (Addr::v4([192, 0, 2, i]), Addr::v4([198, 51, 100, i]))
        }
    }

    fn tunnel(&self) -> Tunnel {
        match *self {
            Layer::Gre { key, .. } => Tunnel { kind: Kind::Gre, key },
            Layer::IpIp { .. } => Tunnel { kind: Kind::IpInIp, key: None },
            Layer::Vxlan { vni, .. } => Tunnel { kind: Kind::Vxlan, key: Some(vni) },
        }
    }

    /// The carrier's protocol and ports, for a packet of version `inner_v6` inside.
    fn carrier(&self, inner_v6: bool) -> (u8, Option<Ports>) {
        match *self {
            Layer::Gre { .. } => (47, None),
            Layer::IpIp { .. } => (if inner_v6 { 41 } else { 4 }, None),
            Layer::Vxlan { sport, .. } => (17, Some(Ports { src: sport, dst: 4789 })),
        }
    }

    /// `ip` (IPv6 when `inner_v6`) inside this layer, placed `i`-th from the outside.
    fn wrap(&self, ip: &[u8], inner_v6: bool, i: u8) -> Vec<u8> {
        let ethertype: [u8; 2] = if inner_v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
        let payload = match *self {
            Layer::Gre { key, .. } => {
                let mut g = vec![if key.is_some() { 0x20 } else { 0 }, 0, ethertype[0], ethertype[1]];
                if let Some(k) = key {
                    g.extend_from_slice(&k.to_be_bytes());
                }
                g.extend_from_slice(ip);
                g
            }
            Layer::IpIp { .. } => ip.to_vec(),
            Layer::Vxlan { vni, sport, .. } => {
                let mut u = sport.to_be_bytes().to_vec();
                u.extend_from_slice(&[0x12, 0xb5, 0, 0, 0, 0, 0x08, 0, 0, 0]);
                u.extend_from_slice(&(vni << 8).to_be_bytes());
                u.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
                u.extend_from_slice(&ethertype);
                u.extend_from_slice(ip);
                let n = u16::try_from(u.len()).unwrap();
                u[4..6].copy_from_slice(&n.to_be_bytes());
                u
            }
        };
        let (proto, _) = self.carrier(inner_v6);
        let (src, dst) = self.ends(i);
        if self.v6() {
            let mut v = vec![0x60, 0, 0, 0];
            v.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
            v.extend_from_slice(&[proto, 64]);
            v.extend_from_slice(&src.0);
            v.extend_from_slice(&dst.0);
            v.extend_from_slice(&payload);
            v
        } else {
            let mut v = vec![0x45, 0];
            v.extend_from_slice(&u16::try_from(20 + payload.len()).unwrap().to_be_bytes());
            v.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0]);
            v.extend_from_slice(&src.0[12..]);
            v.extend_from_slice(&dst.0[12..]);
            v.extend_from_slice(&payload);
            v
        }
    }
}

fn layer() -> impl Strategy<Value = Layer> {
    prop_oneof![
        (any::<Option<u32>>(), any::<bool>()).prop_map(|(key, v6)| Layer::Gre { key, v6 }),
        any::<bool>().prop_map(|v6| Layer::IpIp { v6 }),
        (0..1u32 << 24, 1..=u16::MAX, any::<bool>()).prop_map(|(vni, sport, v6)| Layer::Vxlan {
            vni,
            sport,
            v6
        }),
    ]
}

/// A valid packet whose ports are not a tunnel's: its bytes would be read as one (a UDP payload
/// of 2s on 1701 is an L2TP data message, on 4500 an ESP packet).
fn valid_untunnelled() -> impl Strategy<Value = Valid> {
    valid().prop_filter("tunnel ports", |v| {
        v.l4.ports().is_none_or(|p| [p.src, p.dst].iter().all(|q| ![1701, 3544, 4500, 4789].contains(q)))
    })
}

/// The packet counted when tunnels are followed to some depth: its addresses, protocol, ports.
type View = (Addr, Addr, u8, Option<Ports>);

/// `inner` in `layers` (outermost first), on Ethernet; and per depth k (0..=layers), the
/// packet counted when the tunnels are followed k deep.
fn tunnelled(inner: &Valid, layers: &[Layer]) -> (Vec<u8>, Vec<View>) {
    let mut ip = inner.ip();
    let mut v6 = inner.v6;
    let a = inner.a;
    let ends = if v6 {
        let a = |x: u8| Addr([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x]);
        (a(inner.a), a(0xfe))
    } else {
        (Addr::v4([10, 0, 0, a]), Addr::v4([10, 0, 0, 254]))
    };
    let mut views = vec![(ends.0, ends.1, inner.l4.proto(), inner.l4.ports())];
    for (i, l) in layers.iter().enumerate().rev() {
        let i = u8::try_from(i).unwrap() + 1;
        let (proto, ports) = l.carrier(v6);
        let (src, dst) = l.ends(i);
        ip = l.wrap(&ip, v6, i);
        views.push((src, dst, proto, ports));
        v6 = l.v6();
    }
    views.reverse();
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    f.extend_from_slice(&ip);
    (f, views)
}

fn decode_open(data: &[u8], wire: usize) -> (Decoded, Anomalies, Chain) {
    let (mut d, mut a, mut chain) = (Decoded::NonIp, Anomalies::default(), Chain::default());
    decode_into(&frame(Linktype::ETHERNET, data, wire, 0), &mut a, &mut d, Some(&mut chain));
    (d, a, chain)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// To depth 4 the inner packet is counted, with its tunnels in the chain; a fifth is
    /// counted as its depth-4 carrier, tagged `tunnel_too_deep`. Every strict prefix of the
    /// frame (cut by a snaplen, or on the wire) is counted (as the packet the tunnels could be
    /// followed to, tagged if a header or the packet inside was cut) or a named truncation.
    #[test]
    fn tunnels_to_depth_four_and_every_prefix(
        inner in valid_untunnelled(),
        layers in prop::collection::vec(layer(), 1..=5),
    ) {
        let (f, views) = tunnelled(&inner, &layers);
        let (d, a, chain) = decode_open(&f, f.len());
        let depth = layers.len().min(MAX_DEPTH);
        let Decoded::Ip(p) = d else {
            return Err(TestCaseError::fail(format!("not IP: {d:?}")));
        };
        let (src, dst, proto, ports) = views[depth];
        prop_assert_eq!((p.src, p.dst, p.proto, p.ports), (src, dst, proto, ports), "depth {}", depth);
        prop_assert_eq!(chain.depth(), depth);
        for (i, (level, layer)) in chain.levels().zip(&layers).enumerate() {
            prop_assert_eq!(level.tunnel, layer.tunnel(), "level {}", i);
            prop_assert_eq!((level.src, level.dst), (views[i].0, views[i].1), "level {}", i);
        }
        if layers.len() > MAX_DEPTH {
            prop_assert_eq!(chain.problem(), Some(Problem::TooDeep));
            prop_assert_eq!(a, Anomalies::TUNNEL_TOO_DEEP);
        } else {
            prop_assert_eq!(chain.problem(), None);
            prop_assert_eq!(a, Anomalies::default(), "no tags on a valid nest");
        }
        for n in 0..f.len() {
            for wire in [f.len(), n] {
                let (d, a, c) = decode_open(&f[..n], wire);
                match d {
                    Decoded::Ip(q) => {
                        // Counted as the packet `k` tunnels in: that packet's own addresses.
                        let k = c.depth();
                        prop_assert!(k <= depth, "prefix {}: {:?}", n, c);
                        let (src, dst, proto, ports) = views[k];
                        prop_assert_eq!((q.src, q.dst, q.proto), (src, dst, proto), "prefix {}", n);
                        prop_assert!(q.ports.is_none() || q.ports == ports, "prefix {}: {:?}", n, q);
                        for (level, layer) in c.levels().zip(&layers) {
                            prop_assert_eq!(level.tunnel, layer.tunnel(), "prefix {}", n);
                        }
                        if c.problem().is_some() {
                            let tags = Anomalies::TUNNEL_MALFORMED.0 | Anomalies::TUNNEL_TOO_DEEP.0;
                            prop_assert!(a.0 & tags != 0, "prefix {}: {:?} untagged", n, c);
                        }
                    }
                    Decoded::Skip(s) => prop_assert!(TRUNCATION.contains(&s), "prefix {}: {:?}", n, s),
                    Decoded::NonIp => prop_assert!(false, "prefix {} of an IP frame is non-IP", n),
                }
            }
        }
    }
}
