//! Application messages other than NetBIOS/SMB and Kerberos: DNS, LDAP and CLDAP, DHCP, SNMP,
//! NTP, HTTP, SMTP, FTP, TFTP, ISAKMP, ESP, ICMP echo data. Each is well-formed enough that Wireshark
//! dissects it without a malformed-packet warning; contents are plausible, not meaningful.

use std::net::Ipv4Addr;

use crate::ber::{app, boolean, enumerated, int, null, octets, oid, seq, set, tlv};
use crate::trace::Rng;

pub mod rr {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const SOA: u16 = 6;
    pub const MX: u16 = 15;
    /// RFC 3596 §2.1.
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const AXFR: u16 = 252;
}

/// A domain name as uncompressed labels.
pub fn dns_name(name: &str) -> Vec<u8> {
    let mut v = vec![];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

/// A resource record: owner, type, TTL, data.
pub struct Rr {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// Pointer to the question name, which always starts at offset 12.
pub const QNAME: [u8; 2] = [0xc0, 0x0c];

pub fn rr_a(owner: &[u8], ttl: u32, a: Ipv4Addr) -> Rr {
    Rr { owner: owner.to_vec(), rtype: rr::A, ttl, rdata: a.octets().to_vec() }
}

pub fn rr_aaaa(owner: &[u8], ttl: u32, a: std::net::Ipv6Addr) -> Rr {
    Rr { owner: owner.to_vec(), rtype: rr::AAAA, ttl, rdata: a.octets().to_vec() }
}

pub fn rr_srv(owner: &[u8], ttl: u32, port: u16, target: &str) -> Rr {
    let mut d = vec![0, 0, 0, 100];
    d.extend_from_slice(&port.to_be_bytes());
    d.extend_from_slice(&dns_name(target));
    Rr { owner: owner.to_vec(), rtype: rr::SRV, ttl, rdata: d }
}

pub fn rr_soa(owner: &[u8], serial: u32) -> Rr {
    let mut d = dns_name("dc01.corp.example.com");
    d.extend_from_slice(&dns_name("hostmaster.corp.example.com"));
    for v in [serial, 900, 600, 86_400, 3600] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    Rr { owner: owner.to_vec(), rtype: rr::SOA, ttl: 3600, rdata: d }
}

pub fn rr_name(owner: &[u8], rtype: u16, ttl: u32, target: &str) -> Rr {
    Rr { owner: owner.to_vec(), rtype, ttl, rdata: dns_name(target) }
}

/// A DNS message with one question. `answers` empty and `response` false is a query.
pub fn dns(id: u16, response: bool, qname: &str, qtype: u16, answers: &[Rr]) -> Vec<u8> {
    // Query: RD. Response: QR, AA, RD, RA (the DC is authoritative for its zone).
    let flags: u16 = if response { 0x8580 } else { 0x0100 };
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(qname));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for r in answers {
        m.extend_from_slice(&r.owner);
        m.extend_from_slice(&r.rtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&r.ttl.to_be_bytes());
        m.extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&r.rdata);
    }
    m
}

/// DNS over TCP (RFC 1035 4.2.2): a 2-byte length first.
pub fn dns_tcp(msg: &[u8]) -> Vec<u8> {
    [(msg.len() as u16).to_be_bytes().to_vec(), msg.to_vec()].concat()
}

// ---- LDAP (RFC 2251) and CLDAP ----

pub fn ldap(id: i64, op: &[u8]) -> Vec<u8> {
    seq(&[int(id), op.to_vec()])
}

pub fn ldap_bind_sasl(id: i64, creds: &[u8]) -> Vec<u8> {
    let sasl = tlv(0xa3, &[octets(b"GSS-SPNEGO"), octets(creds)].concat());
    ldap(id, &app(0, &[int(3), octets(b""), sasl].concat()))
}

pub fn ldap_bind_done(id: i64, creds: &[u8]) -> Vec<u8> {
    ldap(id, &app(1, &[enumerated(0), octets(b""), octets(b""), tlv(0x87, creds)].concat()))
}

pub fn filter_eq(attr: &str, value: &[u8]) -> Vec<u8> {
    tlv(0xa3, &[octets(attr.as_bytes()), octets(value)].concat())
}

pub fn filter_and(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0xa0, &parts.concat())
}

/// Search request; `scope` 0 base, 1 one level, 2 subtree.
pub fn ldap_search(id: i64, base: &str, scope: i64, filter: &[u8], attrs: &[&str]) -> Vec<u8> {
    let attrs: Vec<Vec<u8>> = attrs.iter().map(|a| octets(a.as_bytes())).collect();
    let body = [
        octets(base.as_bytes()),
        enumerated(scope),
        enumerated(0),
        int(0),
        int(0),
        boolean(false),
        filter.to_vec(),
        seq(&attrs),
    ]
    .concat();
    ldap(id, &app(3, &body))
}

pub fn ldap_entry(id: i64, dn: &str, attrs: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let list: Vec<Vec<u8>> = attrs
        .iter()
        .map(|(name, vals)| {
            let vals: Vec<Vec<u8>> = vals.iter().map(|v| octets(v)).collect();
            seq(&[octets(name.as_bytes()), set(&vals)])
        })
        .collect();
    ldap(id, &app(4, &[octets(dn.as_bytes()), seq(&list)].concat()))
}

pub fn ldap_done(id: i64) -> Vec<u8> {
    ldap(id, &app(5, &[enumerated(0), octets(b""), octets(b"")].concat()))
}

pub fn ldap_unbind(id: i64) -> Vec<u8> {
    ldap(id, &[0x42, 0x00])
}

/// The "LDAP ping" a Windows 2000 client sends over UDP 389 to find a domain controller
/// (MS-ADTS 6.3.3): a base search on the root for the Netlogon attribute.
pub fn cldap_ping(id: i64, domain: &str, host: &str) -> Vec<u8> {
    let f = filter_and(&[
        filter_eq("DnsDomain", domain.as_bytes()),
        filter_eq("Host", host.as_bytes()),
        filter_eq("NtVer", &[6, 0, 0, 0]),
    ]);
    ldap_search(id, "", 0, &f, &["Netlogon"])
}

/// Compressed-name encoding as the Netlogon structures use it, without compression.
fn netlogon_name(s: &str) -> Vec<u8> {
    dns_name(s)
}

/// NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9) as the value of the Netlogon attribute.
pub fn cldap_ping_reply(id: i64, rng: &mut Rng) -> Vec<u8> {
    let mut v = 23u16.to_le_bytes().to_vec(); // LOGON_SAM_LOGON_RESPONSE_EX
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&0x0000_03fdu32.to_le_bytes()); // PDC, GC, LDAP, DS, KDC, timeserv, closest, writable
    v.extend_from_slice(&rng.bytes(16)); // domain GUID
    for n in ["corp.example.com", "corp.example.com", "dc01.corp.example.com"] {
        v.extend_from_slice(&netlogon_name(n));
    }
    for n in ["CORP", "DC01", "", "Default-First-Site-Name", "Default-First-Site-Name"] {
        if n.is_empty() {
            v.push(0);
        } else {
            v.extend_from_slice(&netlogon_name(n));
        }
    }
    v.extend_from_slice(&5u32.to_le_bytes()); // NtVersion: 1 | 4 (V5EX)
    v.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let entry = ldap_entry(id, "", &[("netlogon", vec![v])]);
    [entry, ldap_done(id)].concat()
}

// ---- DHCP (RFC 2131, 2132) ----

pub mod dhcp_type {
    pub const DISCOVER: u8 = 1;
    pub const OFFER: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const ACK: u8 = 5;
}

pub struct Dhcp {
    pub msg: u8,
    pub xid: u32,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub chaddr: [u8; 6],
    pub host: &'static str,
    /// Requested address (client) or leased address (server).
    pub addr: Ipv4Addr,
    pub server: Ipv4Addr,
}

pub fn dhcp(d: &Dhcp) -> Vec<u8> {
    let reply = matches!(d.msg, dhcp_type::OFFER | dhcp_type::ACK);
    let mut m = vec![if reply { 2 } else { 1 }, 1, 6, 0];
    m.extend_from_slice(&d.xid.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]); // secs, flags (Windows 2000 does not ask for broadcast)
    m.extend_from_slice(&d.ciaddr.octets());
    m.extend_from_slice(&d.yiaddr.octets());
    m.extend_from_slice(&[0; 8]); // siaddr, giaddr
    m.extend_from_slice(&d.chaddr);
    m.extend_from_slice(&[0; 10 + 64 + 128]);
    m.extend_from_slice(&[99, 130, 83, 99]); // magic cookie
    let mut opt = |code: u8, v: &[u8]| {
        m.push(code);
        m.push(v.len() as u8);
        m.extend_from_slice(v);
    };
    opt(53, &[d.msg]);
    if reply {
        opt(54, &d.server.octets());
        opt(51, &691_200u32.to_be_bytes()); // 8 days, the Windows 2000 DHCP server default
        opt(1, &[255, 255, 255, 0]);
        opt(3, &[192, 168, 1, 1]);
        opt(6, &d.server.octets());
        opt(15, b"corp.example.com\0");
        opt(44, &d.server.octets());
        opt(46, &[8]); // H-node
    } else {
        let mut id = vec![1];
        id.extend_from_slice(&d.chaddr);
        opt(61, &id);
        if d.msg == dhcp_type::REQUEST && d.ciaddr.is_unspecified() {
            opt(50, &d.addr.octets());
            opt(54, &d.server.octets());
        }
        opt(12, d.host.as_bytes());
        opt(60, b"MSFT 5.0");
        opt(55, &[1, 15, 3, 6, 44, 46, 47, 31, 33, 43]);
    }
    m.push(255);
    // BOOTP minimum of 300 bytes, which Windows pads to.
    if m.len() < 300 {
        m.resize(300, 0);
    }
    m
}

// ---- SNMP v1 (RFC 1157) ----

pub const SYS_UPTIME: [u64; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];

/// ifInOctets.i, ifOutOctets.i
pub fn if_octets(dir_out: bool, index: u64) -> Vec<u64> {
    vec![1, 3, 6, 1, 2, 1, 2, 2, 1, if dir_out { 16 } else { 10 }, index]
}

pub fn snmp_get(community: &str, req: i64, oids: &[Vec<u64>]) -> Vec<u8> {
    let binds: Vec<Vec<u8>> = oids.iter().map(|o| seq(&[oid(o), null()])).collect();
    seq(&[int(0), octets(community.as_bytes()), tlv(0xa0, &[int(req), int(0), int(0), seq(&binds)].concat())])
}

/// GetResponse: TimeTicks for sysUpTime, Counter32 for the rest.
pub fn snmp_response(community: &str, req: i64, values: &[(Vec<u64>, u32)]) -> Vec<u8> {
    let binds: Vec<Vec<u8>> = values
        .iter()
        .map(|(o, v)| {
            let tag = if o.as_slice() == SYS_UPTIME { 0x43 } else { 0x41 };
            let mut b = crate::ber::int_bytes(i64::from(*v));
            if b.len() > 1 && b[0] == 0 && b[1] & 0x80 == 0 {
                b.remove(0);
            }
            seq(&[oid(o), tlv(tag, &b)])
        })
        .collect();
    seq(&[int(0), octets(community.as_bytes()), tlv(0xa2, &[int(req), int(0), int(0), seq(&binds)].concat())])
}

// ---- NTP (RFC 2030 SNTP, as w32time in Windows 2000 speaks it) ----

/// NTP timestamp (seconds since 1900, 32.32 fixed point) of a packet time.
fn ntp_time(ts_ns: u64) -> u64 {
    let secs = ts_ns / 1_000_000_000 + 2_208_988_800;
    let frac = ((ts_ns % 1_000_000_000) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

pub fn ntp(server: bool, ts_ns: u64, orig: u64) -> Vec<u8> {
    let mut m = vec![if server { 0x1c } else { 0x1b }, if server { 2 } else { 0 }, 6, 0xec];
    m.extend_from_slice(&[0; 8]); // root delay, dispersion
    m.extend_from_slice(if server { &[192, 168, 1, 1] } else { &[0, 0, 0, 0] });
    let t = ntp_time(ts_ns);
    m.extend_from_slice(&(if server { t - (300 << 32) } else { 0 }).to_be_bytes());
    m.extend_from_slice(&(if server { ntp_time(orig) } else { 0 }).to_be_bytes());
    m.extend_from_slice(&(if server { t } else { 0 }).to_be_bytes());
    m.extend_from_slice(&t.to_be_bytes());
    m
}

// ---- HTTP, SMTP ----

pub fn http_get(path: &str, host: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nAccept: image/gif, image/x-xbitmap, image/jpeg, image/pjpeg, */*\r\nAccept-Language: en-us\r\nAccept-Encoding: gzip, deflate\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 5.01; Windows NT 5.0)\r\nHost: {host}\r\nConnection: Keep-Alive\r\n\r\n"
    )
    .into_bytes()
}

const WORDS: [&str; 10] =
    ["<p>", "news", "</p>", "the", "<a href=\"/hr/\">HR</a>", "canteen", "menu", "<br>", "IT", "helpdesk"];

/// IIS 5.0 reply with an HTML-ish body of `len` bytes.
pub fn http_ok(rng: &mut Rng, len: usize, content_type: &str) -> Vec<u8> {
    let mut body = b"<html><head><title>CORP intranet</title></head><body>\r\n".to_vec();
    while body.len() < len {
        body.extend_from_slice(WORDS[rng.range(0, 9) as usize].as_bytes());
        body.push(b' ');
    }
    body.truncate(len);
    let head = format!(
        "HTTP/1.1 200 OK\r\nServer: Microsoft-IIS/5.0\r\nDate: Wed, 15 Jan 2003 09:02:11 GMT\r\nContent-Type: {content_type}\r\nAccept-Ranges: bytes\r\nLast-Modified: Mon, 13 Jan 2003 16:20:05 GMT\r\nETag: \"0a1b2c3d4ebc21:8a4\"\r\nContent-Length: {len}\r\n\r\n"
    );
    [head.into_bytes(), body].concat()
}

pub fn http_not_modified() -> Vec<u8> {
    b"HTTP/1.1 304 Not Modified\r\nServer: Microsoft-IIS/5.0\r\nDate: Wed, 15 Jan 2003 09:02:12 GMT\r\nETag: \"0a1b2c3d4ebc21:8a4\"\r\nContent-Length: 0\r\n\r\n".to_vec()
}

// ---- FTP (RFC 959, RFC 2428), TFTP (RFC 1350) ----

/// One FTP command or reply line.
pub fn ftp(line: &str) -> Vec<u8> {
    format!("{line}\r\n").into_bytes()
}

/// The `h1,h2,h3,h4,p1,p2` of a PORT command or 227 reply (RFC 959 4.1.2).
pub fn ftp_hostport(ip: Ipv4Addr, port: u16) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{a},{b},{c},{d},{},{}", port >> 8, port & 0xff)
}

/// A TFTP read request in octet mode (RFC 1350 5: opcode 1, file name, mode).
pub fn tftp_rrq(file: &str) -> Vec<u8> {
    [&[0, 1][..], file.as_bytes(), b"\0octet\0"].concat()
}

/// A TFTP DATA packet (opcode 3, block number, up to 512 bytes).
pub fn tftp_data(block: u16, data: &[u8]) -> Vec<u8> {
    [&[0, 3][..], &block.to_be_bytes(), data].concat()
}

/// A TFTP ACK (opcode 4, block number).
pub fn tftp_ack(block: u16) -> Vec<u8> {
    [&[0, 4][..], &block.to_be_bytes()].concat()
}

// ---- IPsec ----

/// ISAKMP quick mode message with its payloads encrypted (RFC 2408 3.1, flags E).
pub fn isakmp_quick_mode(
    rng: &mut Rng,
    icookie: &[u8],
    rcookie: &[u8],
    msgid: u32,
    body_len: usize,
) -> Vec<u8> {
    let mut m = icookie.to_vec();
    m.extend_from_slice(rcookie);
    m.extend_from_slice(&[8, 0x10, 32, 0x01]); // next: hash, version 1.0, quick mode, encrypted
    m.extend_from_slice(&msgid.to_be_bytes());
    m.extend_from_slice(&((28 + body_len) as u32).to_be_bytes());
    m.extend_from_slice(&rng.bytes(body_len));
    m
}

/// ESP (RFC 2406): SPI, sequence number, then IV, cipher text and a 12-byte HMAC-96.
pub fn esp(rng: &mut Rng, spi: u32, seq_no: u32, inner_len: usize) -> Vec<u8> {
    let mut m = spi.to_be_bytes().to_vec();
    m.extend_from_slice(&seq_no.to_be_bytes());
    // 3DES-CBC: 8-byte IV, payload + 2 trailer bytes padded to 8.
    let ct = (inner_len + 2).next_multiple_of(8);
    m.extend_from_slice(&rng.bytes(8 + ct + 12));
    m
}

/// The 32 bytes Windows ping sends.
pub const PING_DATA: &[u8; 32] = b"abcdefghijklmnopqrstuvwabcdefghi";
