//! Property tests (CATALOGUE.md §5.4), in process: decode never panics on any bytes or on any
//! prefix of a valid frame of every link type we read, and a prefix is either the frame's own
//! ports or a truncation kind; the pipeline keeps its books on arbitrary frame sequences with
//! tiny caps (64 flows, 1 s timeouts, so eviction and expiry run), and its JSON parses, its CSV
//! has a fixed column count and adds up, and the table carries the same totals.

use flowtag::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
use flowtag::decode::{Anomalies, Decoded, Ports, Skip, decode};
use flowtag::flow::FlowConfig;
use flowtag::output::table::TableOptions;
use flowtag::pipeline::Pipeline;
use flowtag::report::{InputReport, Report};
use flowtag::services::ServiceTable;
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
