//! The small fixtures: each shows one thing a reader or classifier must get right.

use std::net::Ipv4Addr;

use crate::apps::{self, rr};
use crate::kerberos::{self as krb, REALM};
use crate::mssql;
use crate::netbios as nb;
use crate::pcap::{Format, Linktype};
use crate::rpc;
use crate::sessions::{filetime, smb_login, smb_logoff, smb_read_file, smb_short};
use crate::tcp::{CLIENT, SERVER, Tcp};
use crate::trace::{Built, Damage, Encap, Frag, HostId, LinkId, MS, SEC, T0, Trace, Transport, US};
use crate::wire::ethertype;

pub const WS01_MAC: [u8; 6] = [0x00, 0x06, 0x5b, 0x1a, 0x2b, 0x01];
pub const WS02_MAC: [u8; 6] = [0x00, 0x06, 0x5b, 0x1a, 0x2b, 0x02];
const FS01_MAC: [u8; 6] = [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x11];
const DC01_MAC: [u8; 6] = [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x10];
const WEB01_MAC: [u8; 6] = [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x13];

pub fn dc01(tr: &mut Trace) -> HostId {
    tr.host("DC01", DC01_MAC, Ipv4Addr::new(192, 168, 1, 10), true)
}

/// A trace on plain Ethernet with WS01 and one server.
pub fn ethernet(file: &'static str, seed: u64, format: Format, what: &str) -> (Trace, LinkId, HostId) {
    let mut tr = Trace::new(file, format, seed, what);
    let i = tr.iface(Linktype::ETHERNET);
    let c = tr.host("WS01", WS01_MAC, Ipv4Addr::new(192, 168, 1, 101), true);
    let l = tr.link(i, Encap::ethernet(), None);
    (tr, l, c)
}

/// The client and file server of most small fixtures.
fn ws01_fs01(tr: &mut Trace) -> (HostId, HostId) {
    let c = tr.host("WS01", WS01_MAC, Ipv4Addr::new(192, 168, 1, 101), true);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    (c, s)
}

/// One short SMB session per link in `links`, `v6[i]` choosing the IP version, 2 s apart.
fn smb_sessions(tr: &mut Trace, links: &[(LinkId, bool)], c: HostId, s: HostId) {
    for (i, &(link, v6)) in links.iter().enumerate() {
        let cp = tr.ephemeral(c);
        let flow = if v6 {
            tr.flow_v6(Transport::Tcp, link, (c, cp), (s, 445), "CIFS")
        } else {
            tr.flow(Transport::Tcp, link, (c, cp), (s, 445), "CIFS")
        };
        smb_short(tr, flow, T0 + 2 * SEC * i as u64 + SEC / 10, 400 * US);
    }
}

/// A fixture of one link type holding one or more short SMB sessions.
fn link_fixture(
    file: &'static str,
    seed: u64,
    lt: Linktype,
    what: &str,
    encaps: Vec<(Encap, bool)>,
) -> Built {
    link_fixture_in(Format::PCAP, file, seed, lt, what, encaps)
}

fn link_fixture_in(
    format: Format,
    file: &'static str,
    seed: u64,
    lt: Linktype,
    what: &str,
    encaps: Vec<(Encap, bool)>,
) -> Built {
    let mut tr = Trace::new(file, format, seed, what);
    let iface = tr.iface(lt);
    let (c, s) = ws01_fs01(&mut tr);
    let links: Vec<(LinkId, bool)> =
        encaps.into_iter().map(|(e, v6)| (tr.link(iface, e, Some(c)), v6)).collect();
    smb_sessions(&mut tr, &links, c, s);
    tr.finish()
}

fn eth(tags: &[(u16, u16)]) -> Encap {
    Encap::Ethernet { tags: tags.to_vec(), mpls: vec![], pppoe: None }
}

pub fn link_fixtures() -> Vec<Built> {
    let smb = "a short SMB session on TCP 445 (handshake, negotiate, session setup, tree connect, FIN both ways, last ACK)";
    vec![
        link_fixture(
            "link-ethernet-445.pcap",
            1,
            Linktype::ETHERNET,
            &format!("Ethernet II (linktype 1): {smb}"),
            vec![(Encap::ethernet(), false)],
        ),
        link_fixture(
            "link-vlan-445.pcap",
            2,
            Linktype::ETHERNET,
            &format!("Ethernet with one 802.1Q tag (0x8100, VLAN 10): {smb}"),
            vec![(eth(&[(ethertype::VLAN, 10)]), false)],
        ),
        link_fixture(
            "link-qinq-445.pcap",
            3,
            Linktype::ETHERNET,
            &format!("QinQ: 802.1ad outer tag (0x88a8, VLAN 100) then 802.1Q (0x8100, VLAN 10): {smb}"),
            vec![(eth(&[(ethertype::QINQ, 100), (ethertype::VLAN, 10)]), false)],
        ),
        link_fixture(
            "link-vlan5-445.pcap",
            4,
            Linktype::ETHERNET,
            &format!("five stacked VLAN tags (0x88a8 VLAN 100, then 0x8100 VLANs 200, 300, 400, 10): {smb}"),
            vec![(
                eth(&[
                    (ethertype::QINQ, 100),
                    (ethertype::VLAN, 200),
                    (ethertype::VLAN, 300),
                    (ethertype::VLAN, 400),
                    (ethertype::VLAN, 10),
                ]),
                false,
            )],
        ),
        link_fixture(
            "link-mpls-445.pcap",
            5,
            Linktype::ETHERNET,
            &format!(
                "Ethernet, MPLS (0x8847) two-label stack (labels 1001, 2002; bottom-of-stack on the second), IPv4: {smb}"
            ),
            vec![(Encap::Ethernet { tags: vec![], mpls: vec![1001, 2002], pppoe: None }, false)],
        ),
        link_fixture(
            "link-pppoe-445.pcap",
            6,
            Linktype::ETHERNET,
            &format!(
                "PPPoE session (0x8864, session 0x1234), PPP protocol 0x0021 (IPv4) then a second session over 0x0057 (IPv6); MSS 1452: {smb}, twice"
            ),
            vec![
                (Encap::Ethernet { tags: vec![], mpls: vec![], pppoe: Some(0x1234) }, false),
                (Encap::Ethernet { tags: vec![], mpls: vec![], pppoe: Some(0x1234) }, true),
            ],
        ),
        link_fixture(
            "link-sll-445.pcap",
            7,
            Linktype::LINUX_SLL,
            &format!("Linux cooked v1 (linktype 113), captured on the client: {smb}"),
            vec![(Encap::Sll, false)],
        ),
        link_fixture(
            "link-sll2-445.pcap",
            8,
            Linktype::LINUX_SLL2,
            &format!("Linux cooked v2 (linktype 276), interface index 2: {smb}"),
            vec![(Encap::Sll2 { ifindex: 2 }, false)],
        ),
        link_fixture(
            "link-raw-445.pcap",
            9,
            Linktype::RAW,
            &format!("raw IP (linktype 101), IPv4 then IPv6 in one file: {smb}, once over each"),
            vec![(Encap::Raw, false), (Encap::Raw, true)],
        ),
        link_fixture(
            "link-ipv4-445.pcap",
            10,
            Linktype::IPV4,
            &format!("LINKTYPE_IPV4 (228): {smb}"),
            vec![(Encap::Raw, false)],
        ),
        link_fixture(
            "link-ipv6-445.pcap",
            11,
            Linktype::IPV6,
            &format!("LINKTYPE_IPV6 (229): {smb} over IPv6"),
            vec![(Encap::Raw, true)],
        ),
        link_fixture(
            "link-dlt12-445.pcap",
            12,
            Linktype::DLT_RAW_12,
            &format!(
                "raw IP with link type 12 (DLT_RAW on most BSDs), IPv4 then IPv6: {smb}, once over each"
            ),
            vec![(Encap::Raw, false), (Encap::Raw, true)],
        ),
        link_fixture(
            "link-dlt14-445.pcap",
            13,
            Linktype::DLT_RAW_14,
            &format!("raw IP with link type 14 (DLT_RAW on OpenBSD), IPv4 then IPv6: {smb}, once over each"),
            vec![(Encap::Raw, false), (Encap::Raw, true)],
        ),
        link_fixture(
            "link-null-445.pcap",
            14,
            Linktype::NULL,
            &format!(
                "BSD loopback (linktype 0), family little-endian: AF_INET 2, then AF_INET6 as 24, 28 and 30: {smb}, four times"
            ),
            vec![
                (Encap::Null { af_inet6: 24, big_endian: false }, false),
                (Encap::Null { af_inet6: 24, big_endian: false }, true),
                (Encap::Null { af_inet6: 28, big_endian: false }, true),
                (Encap::Null { af_inet6: 30, big_endian: false }, true),
            ],
        ),
        // A BSD on SPARC or PowerPC: the whole file, NULL headers included, is big-endian, and
        // tcpdump reads the family in the file's order.
        link_fixture_in(
            Format::Pcap { nanos: false, big_endian: true },
            "link-null-be-445.pcap",
            39,
            Linktype::NULL,
            &format!(
                "BSD loopback (linktype 0) written big-endian, file and family alike: AF_INET 2, then AF_INET6 as 24, 28 and 30: {smb}, four times"
            ),
            vec![
                (Encap::Null { af_inet6: 24, big_endian: true }, false),
                (Encap::Null { af_inet6: 24, big_endian: true }, true),
                (Encap::Null { af_inet6: 28, big_endian: true }, true),
                (Encap::Null { af_inet6: 30, big_endian: true }, true),
            ],
        ),
        link_fixture(
            "link-loop-445.pcap",
            15,
            Linktype::LOOP,
            &format!(
                "OpenBSD loopback (linktype 108), family big-endian: AF_INET 2, then AF_INET6 24: {smb}, twice"
            ),
            vec![(Encap::Loop { af_inet6: 24 }, false), (Encap::Loop { af_inet6: 24 }, true)],
        ),
    ]
}

pub fn ipv6_exthdrs() -> Built {
    let what = "IPv6 with hop-by-hop options, routing (type 0, segments left 0) and destination options headers before TCP in every packet: a short SMB session on TCP 445";
    let (mut tr, link, c) = ethernet("ipv6-exthdrs-445.pcap", 20, Format::PCAP, what);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow_v6(Transport::Tcp, link, (c, cp), (s, 445), "CIFS");
    tr.flows[f.0].v6_ext = true;
    smb_short(&mut tr, f, T0 + SEC / 10, 350 * US);
    tr.finish()
}

/// Kerberos over UDP with IPv4 fragments: a TGS-REQ too big for one frame, in order.
pub fn frag_kerberos() -> Built {
    let what = "IPv4 fragments in order: a ~1800-byte Kerberos TGS-REQ over UDP 88 in 2 fragments (the first carries the UDP header), answered by an unfragmented KRB-ERROR RESPONSE_TOO_BIG";
    let (mut tr, link, c) = ethernet("ipv4-frag-kerberos-88.pcap", 21, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Udp, link, (c, cp), (dc, 88), "Kerberos");
    let req = krb::tgs_req(&mut tr.rng, &["cifs", "fs01.corp.example.com"], "WS01", 1350);
    tr.udp(f, true, T0 + SEC / 10, &req, Frag::InOrder);
    let err =
        krb::krb_error(krb::err::RESPONSE_TOO_BIG, "20030115090000Z", &["cifs", "fs01.corp.example.com"]);
    tr.udp(f, false, T0 + SEC / 10 + 2 * MS, &err, Frag::NoDf);
    tr.finish()
}

/// A reply whose fragments come last first: the non-first fragment, seen before its first
/// fragment, is an orphan.
pub fn frag_first_late() -> Built {
    let what = "IPv4 fragments out of order: an AS-REQ over UDP 88, then a ~1700-byte AS-REP in 2 fragments sent last fragment first (as Linux 2.4 did), so the non-first fragment arrives before the first one";
    let (mut tr, link, c) = ethernet("ipv4-frag-first-late-88.pcap", 22, Format::PCAP, what);
    let kdc = tr.host("KDC", [0x00, 0x02, 0xb3, 0x55, 0x66, 0x77], Ipv4Addr::new(192, 168, 1, 5), false);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Udp, link, (c, cp), (kdc, 88), "Kerberos");
    let req = krb::as_req(&mut tr.rng, "alice", "WS01", true);
    tr.udp(f, true, T0 + SEC / 10, &req, Frag::NoDf);
    let rep = krb::kdc_rep(&mut tr.rng, false, "alice", &["krbtgt", REALM], 1300);
    tr.udp(f, false, T0 + SEC / 10 + 3 * MS, &rep, Frag::Reversed);
    tr.finish()
}

/// A fragment whose first fragment never reaches the capture.
pub fn frag_orphan() -> Built {
    let what = "IPv4 fragment whose first fragment never appears: a TGS-REQ over UDP 88 (unfragmented), then only the second fragment of the ~1700-byte TGS-REP";
    let (mut tr, link, c) = ethernet("ipv4-frag-orphan-88.pcap", 23, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Udp, link, (c, cp), (dc, 88), "Kerberos");
    let req = krb::tgs_req(&mut tr.rng, &["host", "fs01.corp.example.com"], "WS01", 900);
    tr.udp(f, true, T0 + SEC / 10, &req, Frag::NoDf);
    let rep = krb::kdc_rep(&mut tr.rng, true, "alice", &["host", "fs01.corp.example.com"], 1300);
    tr.udp(f, false, T0 + SEC / 10 + 2 * MS, &rep, Frag::LoseFirst);
    tr.finish()
}

/// IPv6 fragment headers: a large DNS answer in three fragments.
pub fn ipv6_frag() -> Built {
    let what = "IPv6 fragments: a DNS query over UDP 53, answered by a ~3000-byte response cut into 3 fragments with a fragment header (the first carries the UDP header)";
    let (mut tr, link, c) = ethernet("ipv6-frag-53.pcap", 24, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow_v6(Transport::Udp, link, (c, cp), (dc, 53), "DNS");
    let q = "_ldap._tcp.corp.example.com";
    tr.udp(f, true, T0 + SEC / 10, &apps::dns(0x1a2b, false, q, rr::SRV, &[]), Frag::NoDf);
    let answers: Vec<apps::Rr> = (1..=70)
        .map(|i| apps::rr_srv(&apps::QNAME, 600, 389, &format!("dc{i:02}.corp.example.com")))
        .collect();
    let resp = apps::dns(0x1a2b, true, q, rr::SRV, &answers);
    tr.udp(f, false, T0 + SEC / 10 + MS, &resp, Frag::InOrder);
    tr.finish()
}

/// A client whose own port is in the table: the handshake says who the server is.
pub fn client_port_in_table() -> Built {
    let what = "client port in the table: WS01 TCP port 1234 (ISPMOD in the table) connects to WEB01 port 80 with a full handshake, GET, 200 OK, FIN both ways; must be HTTP, not ISPMOD";
    let (mut tr, link, c) = ethernet("client-port-in-table-80.pcap", 25, Format::PCAP, what);
    let web = tr.host("WEB01", WEB01_MAC, Ipv4Addr::new(192, 168, 1, 13), true);
    let f = tr.flow(Transport::Tcp, link, (c, 1234), (web, 80), "HTTP");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    let body = apps::http_ok(&mut tr.rng, 4200, "text/html");
    t.exchange(&mut tr, &apps::http_get("/default.htm", "web01"), 2 * MS, &body);
    t.wait(&mut tr, 300 * MS);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

/// NetBIOS name service from port 137 to port 137.
pub fn netbios_ns() -> Built {
    let what = "NetBIOS name query from UDP 137 to UDP 137 (WS01 asks the WINS server DC01 for FS01<20>) and the positive response, also 137 to 137";
    let (mut tr, link, c) = ethernet("netbios-ns-137.pcap", 26, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let f = tr.flow(Transport::Udp, link, (c, 137), (dc, 137), "NetBT name lookups");
    tr.udp(f, true, T0 + SEC / 10, &nb::name_query(0x8001, "FS01", 0x20, false), Frag::NoDf);
    let resp = nb::name_response(0x8001, "FS01", 0x20, Ipv4Addr::new(192, 168, 1, 11));
    tr.udp(f, false, T0 + SEC / 10 + 600 * US, &resp, Frag::NoDf);
    tr.finish()
}

/// Mid-stream SMB: the capture starts inside a file read; the server speaks first.
pub fn midstream_445() -> Built {
    let what = "TCP joined mid-stream, no SYN or SYN/ACK: WS01 port 3001 and FS01 port 445 in the middle of an SMB session (the first packet is from the server), read requests and replies, no FIN";
    let (mut tr, link, c) = ethernet("midstream-445.pcap", 27, Format::PCAP, what);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    let f = tr.flow(Transport::Tcp, link, (c, 3001), (s, 445), "CIFS");
    let mut t = Tcp::midstream(&mut tr, f, T0 + SEC / 10, 300 * US);
    let mut ids = nb::Ids { tid: 0x0801, pid: 0xfeff, uid: 0x0802, mid: 0x0140 };
    // The reply to a read sent before the capture started.
    let data = crate::sessions::file_bytes(&mut tr, 2048);
    t.send(&mut tr, SERVER, &nb::read_response(ids, &data));
    t.t += 300 * US;
    ids.mid += 1;
    for i in 0..3 {
        let data = crate::sessions::file_bytes(&mut tr, 4096);
        t.exchange(
            &mut tr,
            &nb::read_request(ids, 0x4001, 8192 + 4096 * i, 4096),
            400 * US,
            &nb::read_response(ids, &data),
        );
        ids.mid += 1;
    }
    t.wait(&mut tr, 300 * MS);
    tr.finish()
}

/// Mid-stream between two ports that are in no table.
pub fn midstream_unknown() -> Built {
    let what = "TCP joined mid-stream between two unknown high ports: 192.168.1.101:50000 talks to 192.168.1.50:40000, data both ways, no handshake, no FIN; with no SYN and neither port in the table, the lower port (40000) is the server";
    let (mut tr, link, c) = ethernet("midstream-unknown-40000.pcap", 28, Format::PCAP, what);
    let s = tr.host("LNX01", [0x00, 0x02, 0xb3, 0x10, 0x20, 0x50], Ipv4Addr::new(192, 168, 1, 50), false);
    let f = tr.flow(Transport::Tcp, link, (c, 50000), (s, 40000), "unknown");
    let mut t = Tcp::midstream(&mut tr, f, T0 + SEC / 10, 500 * US);
    for _ in 0..4 {
        let req = tr.rng.bytes(120);
        let resp = tr.rng.bytes(900);
        t.exchange(&mut tr, &req, 3 * MS, &resp);
        t.wait(&mut tr, 50 * MS);
    }
    t.wait(&mut tr, 300 * MS);
    tr.finish()
}

/// A handshake to a port in the dynamic range: the SYN shows which side is the server.
pub fn handshake_dynamic() -> Built {
    let what = "handshake to a dynamic RPC port: WS01 port 3500 connects to DC01 port 1026 (DRSUAPI, Kerberos-sealed DCE/RPC); both ports are in 1024-5000, the SYN proves 1026 is the server; the port alone would give the table's \"SQL session 1024 - 5000\", but the bind names drsuapi, which data/rpc-interfaces.tsv gives \"RPC session ports\"";
    let (mut tr, link, c) = ethernet("handshake-dynamic-1026.pcap", 29, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let f = tr.flow(Transport::Tcp, link, (c, 3500), (dc, 1026), "RPC session ports");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    crate::sessions::drsuapi_calls(&mut tr, &mut t);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

/// A whole SMB session with a file read, to be cut.
fn cut(file: &'static str, seed: u64, damage: Damage, what: &str) -> Built {
    let (mut tr, link, c) = ethernet(file, seed, Format::PCAP, what);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (s, 445), "CIFS");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    let mut ids = smb_login(&mut tr, &mut t, "alice", r"\\FS01\PUBLIC");
    smb_read_file(&mut tr, &mut t, &mut ids, "\report.doc", 6000, 0x4001);
    smb_logoff(&mut tr, &mut t, ids);
    tr.damage = damage;
    tr.finish()
}

pub fn cut_mid_packet() -> Built {
    cut(
        "cut-mid-packet-445.pcap",
        30,
        Damage::CutInData { packet: 12, keep: 700 },
        "truncated file: an SMB session on TCP 445 with a file read; the file ends 700 bytes into the data of record 13 (a 1514-byte read reply)",
    )
}

pub fn cut_record_header() -> Built {
    cut(
        "cut-record-header-445.pcap",
        31,
        Damage::CutInHeader { packet: 12, keep: 9 },
        "truncated file: the same kind of SMB session; the file ends 9 bytes into the 16-byte header of record 13",
    )
}

/// The same short SMB session in other file formats.
fn format_fixture(file: &'static str, seed: u64, format: Format, what: &str) -> Built {
    let (mut tr, link, c) = ethernet(file, seed, format, what);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    smb_sessions(&mut tr, &[(link, false)], c, s);
    tr.finish()
}

pub fn formats() -> Vec<Built> {
    let smb = "a short SMB session on TCP 445";
    vec![
        format_fixture(
            "pcap-nsec-445.pcap",
            32,
            Format::Pcap { nanos: true, big_endian: false },
            &format!("nanosecond pcap (magic a1b23c4d), timestamps with sub-µs digits: {smb}"),
        ),
        format_fixture(
            "pcap-big-endian-445.pcap",
            33,
            Format::Pcap { nanos: false, big_endian: true },
            &format!("big-endian µs pcap (magic bytes a1 b2 c3 d4 in file order): {smb}"),
        ),
        format_fixture(
            "pcapng-nsec-445.pcapng",
            34,
            Format::Pcapng { nanos: true },
            &format!("pcapng, one Ethernet interface with if_tsresol = 9 (ns): {smb}"),
        ),
        pcapng_two_links(),
    ]
}

fn pcapng_two_links() -> Built {
    let what = "pcapng with two interfaces of different link types: if0 Ethernet (1), if1 raw IP (101); a short SMB session on TCP 445 over each, interleaved in time";
    let mut tr = Trace::new("pcapng-two-links-445.pcapng", Format::Pcapng { nanos: false }, 35, what);
    let i0 = tr.iface(Linktype::ETHERNET);
    let i1 = tr.iface(Linktype::RAW);
    let (c, s) = ws01_fs01(&mut tr);
    let c2 = tr.host("WS02", [0x00, 0x06, 0x5b, 0x1a, 0x2b, 0x02], Ipv4Addr::new(192, 168, 1, 102), true);
    let l0 = tr.link(i0, Encap::ethernet(), None);
    let l1 = tr.link(i1, Encap::Raw, None);
    let cp = tr.ephemeral(c);
    let f0 = tr.flow(Transport::Tcp, l0, (c, cp), (s, 445), "CIFS");
    let cp2 = tr.ephemeral(c2);
    let f1 = tr.flow(Transport::Tcp, l1, (c2, cp2), (s, 445), "CIFS");
    smb_short(&mut tr, f0, T0 + SEC / 10, 400 * US);
    smb_short(&mut tr, f1, T0 + SEC / 10 + 2 * MS, 500 * US);
    tr.finish()
}

/// Two TCP connections, one after the other, on the same 5-tuple.
pub fn tcp_reuse() -> Built {
    let what = "TCP flow reuse: a complete SMB session (SYN ... FIN both ways, last ACK), then 5 s later a new SYN on the same 5-tuple and a second complete session; must be 2 flows";
    let (mut tr, link, c) = ethernet("tcp-reuse-445.pcap", 36, Format::PCAP, what);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    tr.reuse_ok = true;
    let cp = tr.ephemeral(c);
    let f1 = tr.flow(Transport::Tcp, link, (c, cp), (s, 445), "CIFS");
    let f2 = tr.flow(Transport::Tcp, link, (c, cp), (s, 445), "CIFS");
    smb_short(&mut tr, f1, T0 + SEC / 10, 400 * US);
    smb_short(&mut tr, f2, T0 + 5 * SEC, 400 * US);
    tr.finish()
}

/// A connection the client aborts with RST.
pub fn tcp_rst() -> Built {
    let what = "RST-terminated flow: WS01 fetches a page from WEB01 port 80, then aborts the connection with RST/ACK (as Internet Explorer did when a window closed); no FIN";
    let (mut tr, link, c) = ethernet("tcp-rst-80.pcap", 37, Format::PCAP, what);
    let web = tr.host("WEB01", WEB01_MAC, Ipv4Addr::new(192, 168, 1, 13), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (web, 80), "HTTP");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    let body = apps::http_ok(&mut tr.rng, 2500, "text/html");
    t.exchange(&mut tr, &apps::http_get("/news/today.htm", "web01"), 3 * MS, &body);
    t.wait(&mut tr, 900 * MS);
    t.reset(&mut tr, CLIENT);
    tr.finish()
}

/// The same UDP 5-tuple twice, 120 s apart.
pub fn udp_timeout() -> Built {
    let what = "UDP idle timeout: a DNS query and answer on UDP 53, then 120 s later the same 5-tuple again (query and answer); 2 flows under a 60 s UDP idle timeout (1 flow if the timeout were over 120 s)";
    let (mut tr, link, c) = ethernet("udp-timeout-53.pcap", 38, Format::PCAP, what);
    let dc = dc01(&mut tr);
    tr.reuse_ok = true;
    let cp = tr.ephemeral(c);
    for (i, name) in ["fs01.corp.example.com", "web01.corp.example.com"].into_iter().enumerate() {
        let f = tr.flow(Transport::Udp, link, (c, cp), (dc, 53), "DNS");
        let at = T0 + SEC / 10 + 120 * SEC * i as u64;
        let id = 0x2200 + i as u16;
        tr.udp(f, true, at, &apps::dns(id, false, name, rr::A, &[]), Frag::NoDf);
        let ans = [apps::rr_a(&apps::QNAME, 1200, Ipv4Addr::new(192, 168, 1, 11 + 2 * i as u8))];
        tr.udp(f, false, at + 700 * US, &apps::dns(id, true, name, rr::A, &ans), Frag::NoDf);
    }
    tr.finish()
}

/// A SYN to a port in the dynamic range that nobody answers: a scan, or a host that is down.
pub fn syn_unanswered() -> Built {
    let what = "a SYN nobody answers: WS01 port 3600 sends a SYN to DC01 port 1026 three times (retransmitted after 3 s and 6 s) and gets nothing back; 1026 is in the table only through the \"SQL session 1024 - 5000\" range, which labels a flow only once its server answers, so the flow is unknown (tcp/1026), and its handshake unanswered";
    let (mut tr, link, c) = ethernet("syn-unanswered-1026.pcap", 39, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let f = tr.flow(Transport::Tcp, link, (c, 3600), (dc, 1026), "unknown");
    Tcp::unanswered(&mut tr, f, T0 + SEC / 10, 3);
    tr.finish()
}

/// A SYN refused with a RST: nothing listens on the port.
pub fn syn_refused() -> Built {
    let what = "a refused SYN: WS01 port 3601 sends a SYN to DC01 port 1027, where nothing listens, and DC01 answers RST/ACK; a range port (SQL session) with no answer is not labelled, so the flow is unknown (tcp/1027), and its handshake refused";
    let (mut tr, link, c) = ethernet("syn-refused-1027.pcap", 40, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let f = tr.flow(Transport::Tcp, link, (c, 3601), (dc, 1027), "unknown");
    Tcp::refused(&mut tr, f, T0 + SEC / 10, 300 * US);
    tr.finish()
}

/// An LLMNR answer seen before (or without) its question: the capture point saw only the
/// unicast reply, as on a switch port that does not get the asker's multicast.
pub fn llmnr_reply_first() -> Built {
    let what = "an LLMNR reply seen first: FS01 answers WS01's question for \"fs01\" from UDP 5355 (LLMNR, RFC 4795) to WS01's ephemeral port 51000 (the multicast question is not in the capture); the first packet's source port is registered with IANA (llmnr) and its destination is not, so the source is the server: the flow is unknown udp/5355, not an unknown server port 51000";
    let (mut tr, link, c) = ethernet("llmnr-reply-first-5355.pcap", 41, Format::PCAP, what);
    let fs = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    let f = tr.flow(Transport::Udp, link, (c, 51000), (fs, 5355), "unknown");
    let ans = [apps::rr_a(&apps::QNAME, 30, Ipv4Addr::new(192, 168, 1, 11))];
    tr.udp(f, false, T0 + SEC / 10, &apps::dns(0x5a5a, true, "fs01", rr::A, &ans), Frag::NoDf);
    tr.finish()
}

// ---- Labels from payload evidence (issue 15): the payload names a seed service the port
// does not give, and wins. ----

/// HTTP on TCP 445: the payload, not the port, says what the flow is.
pub fn http_on_445() -> Built {
    let what = "HTTP on the CIFS port: WS01 fetches a page from WEB01, whose web server listens on TCP 445 (a port a firewall lets through, used for something else: a classic sign of tunnelling or misuse): handshake, GET, 200 OK, FIN both ways; the payload is HTTP, so the flow is HTTP, not CIFS (the port's label)";
    let (mut tr, link, c) = ethernet("http-on-445.pcap", 42, Format::PCAP, what);
    let web = tr.host("WEB01", WEB01_MAC, Ipv4Addr::new(192, 168, 1, 13), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (web, 445), "HTTP");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    let body = apps::http_ok(&mut tr.rng, 1800, "text/html");
    t.exchange(&mut tr, &apps::http_get("/default.htm", "web01:445"), 2 * MS, &body);
    t.wait(&mut tr, 300 * MS);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

/// SMB 2 on TCP 80: NBSS and an SMB2 NEGOTIATE exchange where the table says HTTP.
pub fn smb_on_80() -> Built {
    let what = "SMB on the HTTP port: WS01 connects to FS01 port 80, where a file server listens, and sends an SMB2 NEGOTIATE request (NBSS framing, dialects 2.0.2 and 2.1); FS01 answers with a NEGOTIATE response (dialect 2.1, SPNEGO token); FIN both ways; the payload is SMB, so the flow is CIFS, not HTTP (the port's label)";
    let (mut tr, link, c) = ethernet("smb-on-80.pcap", 43, Format::PCAP, what);
    let s = tr.host("FS01", FS01_MAC, Ipv4Addr::new(192, 168, 1, 11), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (s, 80), "CIFS");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    let (client_guid, server_guid) = (tr.rng.bytes(16), tr.rng.bytes(16));
    let now = filetime(t.t);
    // The server booted a day before the capture; FILETIME counts 100 ns units.
    let boot = now - 86_400 * 10_000_000;
    t.exchange(
        &mut tr,
        &nb::smb2_negotiate_request(&client_guid, &[0x0202, 0x0210]),
        400 * US,
        &nb::smb2_negotiate_response(&server_guid, 0x0210, now, boot),
    );
    t.wait(&mut tr, 250 * MS);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

/// A DCE/RPC bind to drsuapi on a port of the "SQL session 1024 - 5000" range.
pub fn dcerpc_bind_range() -> Built {
    let what = "a DCE/RPC bind on a range port: WS01 connects to DC01 port 1025 (answered handshake), binds to drsuapi (e3514235-4b06-11d1-ab04-00c04fc2dcd2 v4.0, MS-DRSR) with Kerberos, gets the bind_ack and makes two sealed calls, FIN both ways; the bind names the interface, which data/rpc-interfaces.tsv gives \"RPC session ports\", so the flow is that, not \"SQL session\" (the range's label)";
    let (mut tr, link, c) = ethernet("dcerpc-bind-range-1025.pcap", 44, Format::PCAP, what);
    let dc = dc01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (dc, 1025), "RPC session ports");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    crate::sessions::drsuapi_calls_on(&mut tr, &mut t, 1025);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

/// A DCE/RPC bind to netlogon on a port above the table's range.
pub fn dcerpc_bind_high() -> Built {
    let what = "a DCE/RPC bind on a high dynamic port: WS01 connects to DC02 port 49668 (Windows Server 2008 and later take dynamic ports from 49152-65535), binds to netlogon (12345678-1234-abcd-ef00-01234567cffb v1.0, MS-NRPC) without authentication, gets the bind_ack, calls NetrServerReqChallenge (opnum 4) and gets the server challenge, FIN both ways; no port row covers 49668 and the bind names the interface; the seed's \"NetLogon\" row is the datagram service on UDP 138, not a DCE/RPC one, so the flow is \"RPC session ports\" (data/rpc-interfaces.tsv says so too), its interface named in the flow record";
    let (mut tr, link, c) = ethernet("dcerpc-bind-high-49668.pcap", 45, Format::PCAP, what);
    let dc = tr.host("DC02", [0x00, 0x15, 0x5d, 0x01, 0x02, 0x0a], Ipv4Addr::new(192, 168, 1, 9), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (dc, 49668), "RPC session ports");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    t.exchange(&mut tr, &rpc::bind(1, rpc::NETLOGON, None), 600 * US, &rpc::bind_ack(1, 49668, 0x1d2f, None));
    let (challenge, server_challenge) = (tr.rng.bytes(8), tr.rng.bytes(8));
    let req = rpc::request(2, 4, &rpc::netr_server_req_challenge(r"\\DC02", "WS01", &challenge), None);
    let resp = rpc::response(2, &rpc::netr_server_req_challenge_reply(&server_challenge), None);
    t.exchange(&mut tr, &req, MS, &resp);
    t.wait(&mut tr, 250 * MS);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

/// TDS PRELOGIN to a named SQL Server instance on a port of the 1024-5000 range.
pub fn tds_range() -> Built {
    let what = "TDS on a range port: WS01 connects to SQL01 port 1050 (answered handshake), where the named instance SQL01\\SALES of SQL Server 2000 listens (named instances take a dynamic port; clients find it through the SQL Server Resolution Service on UDP 1434), and sends a TDS PRELOGIN; SQL01 answers with its PRELOGIN response (version 8.00.534, no encryption); FIN both ways; the payload is TDS, which confirms the range's \"SQL session\"";
    let (mut tr, link, c) = ethernet("tds-range-1050.pcap", 46, Format::PCAP, what);
    let sql = tr.host("SQL01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x14], Ipv4Addr::new(192, 168, 1, 14), true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (sql, 1050), "SQL session");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    t.exchange(&mut tr, &mssql::prelogin_request("SALES", 0x0a3c), 300 * US, &mssql::prelogin_response());
    t.wait(&mut tr, 250 * MS);
    t.close(&mut tr, CLIENT);
    tr.finish()
}

pub fn all() -> Vec<Built> {
    let mut v = link_fixtures();
    v.extend([
        ipv6_exthdrs(),
        frag_kerberos(),
        frag_first_late(),
        frag_orphan(),
        ipv6_frag(),
        client_port_in_table(),
        netbios_ns(),
        midstream_445(),
        midstream_unknown(),
        handshake_dynamic(),
        cut_mid_packet(),
        cut_record_header(),
        tcp_reuse(),
        tcp_rst(),
        udp_timeout(),
        syn_unanswered(),
        syn_refused(),
        llmnr_reply_first(),
        http_on_445(),
        smb_on_80(),
        dcerpc_bind_range(),
        dcerpc_bind_high(),
        tds_range(),
    ]);
    v.extend(crate::announced::all());
    v.extend(formats());
    v.sort_by_key(|b| b.file);
    v
}
