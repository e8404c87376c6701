//! `windows-lan.pcap`: ten minutes of a small Windows 2000 office LAN seen from a switch's
//! mirror port, 2003-01-15 09:00-09:10 UTC, when people arrive and log on.
//!
//! Who is on it: DC01 (domain controller: DNS, Kerberos, LDAP, RPC, DHCP, WINS, time, master
//! browser), FS01 (file server), SQL01 (SQL Server 2000), WEB01 (IIS 5 intranet), MAIL01
//! (Exchange SMTP), TS01 (terminal server), BK01 (backup server, IPsec to FS01), MGMT01 (the
//! admin's machine: SNMP polling, pings, a terminal session, a zone transfer), GW (Cisco
//! router), PRN01 (JetDirect printer, scan-to-mail), LNX01 (a Linux box with a Tomcat on 8080),
//! NT4WS (an old NT 4 machine that still uses NetBIOS sessions on TCP 139), and WS01-WS09
//! (Windows 2000 Professional; WS09 boots and gets its address by DHCP).
//!
//! No flow is silent for 60 s or more, and no 5-tuple is used by two flows, so the flow
//! counts hold for any idle timeout of at least 60 s.

use std::net::Ipv4Addr;

use crate::apps::{self, rr};
use crate::kerberos::{self as krb, REALM};
use crate::mssql;
use crate::netbios as nb;
use crate::pcap::{Format, Linktype};
use crate::rpc;
use crate::sessions::{drsuapi_calls, smb_login, smb_logoff, smb_read_file, smb_write_file};
use crate::tcp::{CLIENT, SERVER, Tcp};
use crate::trace::{Built, Encap, FlowId, Frag, HostId, LinkId, MS, SEC, T0, Trace, Transport, US};
use crate::wire::proto;

/// Cipher bytes of a ticket-granting ticket with a small PAC: its TGS-REQs still fit one
/// UDP datagram.
const TGT_LEN: usize = 700;

/// Capture length.
const SPAN: u64 = 600 * SEC;

struct Net {
    lan: LinkId,
    gw: HostId,
    dc: HostId,
    fs: HostId,
    sql: HostId,
    web: HostId,
    mail: HostId,
    ts: HostId,
    bk: HostId,
    mgmt: HostId,
    prn: HostId,
    lnx: HostId,
    nt4: HostId,
    ws: Vec<HostId>,
    /// WS09 before it has an address, and the two broadcast addresses.
    ws09_noaddr: HostId,
    bcast: HostId,
    all_ones: HostId,
}

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, last)
}

impl Net {
    fn new(tr: &mut Trace, lan: LinkId) -> Self {
        // OUIs: Cisco 00:0b:46, Dell 00:06:5b, Compaq 00:50:8b, HP JetDirect 00:01:e6,
        // Intel 00:02:b3, 3Com 00:01:02.
        let gw = tr.host("GW", [0x00, 0x0b, 0x46, 0x21, 0x9a, 0x01], ip(1), false);
        let dc = tr.host("DC01", [0x00, 0x50, 0x8b, 0x6e, 0x10, 0x0a], ip(10), true);
        let fs = tr.host("FS01", [0x00, 0x50, 0x8b, 0x6e, 0x10, 0x0b], ip(11), true);
        let sql = tr.host("SQL01", [0x00, 0x50, 0x8b, 0x6e, 0x10, 0x0c], ip(12), true);
        let web = tr.host("WEB01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x13], ip(13), true);
        let mail = tr.host("MAIL01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x14], ip(14), true);
        let ts = tr.host("TS01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x15], ip(15), true);
        let bk = tr.host("BK01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x16], ip(16), true);
        let mgmt = tr.host("MGMT01", [0x00, 0x02, 0xb3, 0x8c, 0x11, 0x20], ip(20), true);
        let prn = tr.host("PRN01", [0x00, 0x01, 0xe6, 0x5a, 0x0c, 0x1e], ip(30), false);
        let lnx = tr.host("LNX01", [0x00, 0x02, 0xb3, 0x10, 0x20, 0x50], ip(50), false);
        let nt4 = tr.host("NT4WS", [0x00, 0x01, 0x02, 0x7f, 0x33, 0x78], ip(120), true);
        let names = ["WS01", "WS02", "WS03", "WS04", "WS05", "WS06", "WS07", "WS08", "WS09"];
        let ws: Vec<HostId> = names
            .iter()
            .enumerate()
            .map(|(i, n)| tr.host(n, [0x00, 0x06, 0x5b, 0x1a, 0x2b, 0x65 + i as u8], ip(101 + i as u8), true))
            .collect();
        let ws09_noaddr = tr.host("WS09", [0x00, 0x06, 0x5b, 0x1a, 0x2b, 0x6d], Ipv4Addr::UNSPECIFIED, true);
        let bcast = tr.host("broadcast", [0xff; 6], ip(255), false);
        let all_ones = tr.host("broadcast", [0xff; 6], Ipv4Addr::BROADCAST, false);
        Self {
            lan,
            gw,
            dc,
            fs,
            sql,
            web,
            mail,
            ts,
            bk,
            mgmt,
            prn,
            lnx,
            nt4,
            ws,
            ws09_noaddr,
            bcast,
            all_ones,
        }
    }
}

/// A LAN round-trip time: mostly a fraction of a millisecond, now and then up to 3 ms.
fn rtt(tr: &mut Trace) -> u64 {
    if tr.rng.chance(85) { tr.rng.range(200, 900) * US } else { tr.rng.range(900, 3000) * US }
}

/// Opens a TCP connection from `c` (a new ephemeral port) to `s`:`port`, ARPing first if needed.
fn connect(tr: &mut Trace, net: &Net, c: HostId, s: HostId, port: u16, service: &'static str, t: u64) -> Tcp {
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, net.lan, (c, cp), (s, port), service);
    tr.arp_before(net.lan, c, s, t);
    let r = rtt(tr);
    Tcp::connect(tr, f, t, r)
}

/// A UDP flow between fixed ports.
fn udp_flow(
    tr: &mut Trace,
    net: &Net,
    c: (HostId, u16),
    s: (HostId, u16),
    service: &'static str,
    t: u64,
) -> FlowId {
    tr.arp_before(net.lan, c.0, s.0, t);
    tr.flow(Transport::Udp, net.lan, c, s, service)
}

/// One UDP request from a new ephemeral port and its answer; returns when the answer came.
#[allow(clippy::too_many_arguments, reason = "a request/response is exactly these things")]
fn udp_ask(
    tr: &mut Trace,
    net: &Net,
    c: HostId,
    s: HostId,
    port: u16,
    service: &'static str,
    t: u64,
    req: &[u8],
    resp: &[u8],
) -> u64 {
    let cp = tr.ephemeral(c);
    let f = udp_flow(tr, net, (c, cp), (s, port), service, t);
    tr.udp(f, true, t, req, Frag::NoDf);
    let at = t + rtt(tr) + tr.rng.range(50, 400) * US;
    tr.udp(f, false, at, resp, Frag::NoDf);
    at
}

fn dns_lookup(tr: &mut Trace, net: &Net, c: HostId, name: &str, addr: Ipv4Addr, t: u64) -> u64 {
    let id = tr.rng.range(1, 0xffff) as u16;
    let q = apps::dns(id, false, name, rr::A, &[]);
    let a = apps::dns(id, true, name, rr::A, &[apps::rr_a(&apps::QNAME, 1200, addr)]);
    udp_ask(tr, net, c, net.dc, 53, "DNS", t, &q, &a)
}

/// What a Windows 2000 machine does at logon: find a DC (DNS SRV, CLDAP ping), get tickets,
/// read the group policy objects over LDAP and SMB, look up DRSUAPI through the endpoint
/// mapper and call it, sync time, announce itself to the browser and NETLOGON.
fn logon(tr: &mut Trace, net: &Net, w: HostId, user: &str, mut t: u64) -> u64 {
    let name = tr.hosts[w.0].name;
    let lname = name.to_ascii_lowercase();
    let (dc, lan) = (net.dc, net.lan);
    let dc_ip = tr.hosts[dc.0].v4;
    // 1. Locate a DC.
    let q = "_ldap._tcp.dc._msdcs.corp.example.com";
    let id = tr.rng.range(1, 0xffff) as u16;
    let a = apps::dns(id, true, q, rr::SRV, &[apps::rr_srv(&apps::QNAME, 600, 389, "dc01.corp.example.com")]);
    t = udp_ask(tr, net, w, dc, 53, "DNS", t, &apps::dns(id, false, q, rr::SRV, &[]), &a) + 2 * MS;
    t = dns_lookup(tr, net, w, "dc01.corp.example.com", dc_ip, t) + MS;
    let cid = tr.rng.range(1, 200) as i64;
    let ping = apps::cldap_ping(cid, "corp.example.com", name);
    let reply = apps::cldap_ping_reply(cid, &mut tr.rng);
    t = udp_ask(
        tr, net, w, dc, 389, "LDAP",
        t, // CLDAP: the amended table labels UDP 389 LDAP (MS-ADTS §6.3.3)
        &ping, &reply,
    ) + 5 * MS;
    // Group policy's slow-link test: two pings to the DC.
    for n in 0..2u16 {
        let seq = (tr.rng.range(1, 200) as u16) << 8;
        tr.other_ip(
            lan,
            w,
            dc,
            t,
            proto::ICMP,
            &crate::wire::icmp_echo(false, 0x0200, seq + (n << 8), apps::PING_DATA),
        );
        let r = rtt(tr);
        tr.other_ip(
            lan,
            dc,
            w,
            t + r,
            proto::ICMP,
            &crate::wire::icmp_echo(true, 0x0200, seq + (n << 8), apps::PING_DATA),
        );
        t += r + 3 * MS;
    }
    // 2. Kerberos: AS-REQ without pre-authentication is refused, then with it.
    let req = krb::as_req(&mut tr.rng, user, name, false);
    let err = krb::krb_error(krb::err::PREAUTH_REQUIRED, "20030115090000Z", &["krbtgt", REALM]);
    t = udp_ask(tr, net, w, dc, 88, "Kerberos", t, &req, &err) + 3 * MS;
    let req = krb::as_req(&mut tr.rng, user, name, true);
    let rep = krb::kdc_rep(&mut tr.rng, false, user, &["krbtgt", REALM], TGT_LEN);
    t = udp_ask(tr, net, w, dc, 88, "Kerberos", t, &req, &rep) + 4 * MS;
    let fqdn = format!("{lname}.corp.example.com");
    for sname in [["host", fqdn.as_str()], ["ldap", "dc01.corp.example.com"]] {
        let req = krb::tgs_req(&mut tr.rng, &sname, name, TGT_LEN);
        let rep = krb::kdc_rep(&mut tr.rng, true, user, &sname, 900);
        t = udp_ask(tr, net, w, dc, 88, "Kerberos", t, &req, &rep) + 3 * MS;
    }
    // The CIFS ticket with the user's PAC is too big for UDP: the KDC says so, the client
    // asks again over TCP (RFC 4120 7.2.1).
    let sname = ["cifs", "dc01.corp.example.com"];
    let req = krb::tgs_req(&mut tr.rng, &sname, name, TGT_LEN);
    let err = krb::krb_error(krb::err::RESPONSE_TOO_BIG, "20030115090000Z", &sname);
    t = udp_ask(tr, net, w, dc, 88, "Kerberos", t, &req, &err) + MS;
    let mut c = connect(tr, net, w, dc, 88, "Kerberos", t);
    let rep = krb::kdc_rep(&mut tr.rng, true, user, &sname, 1500);
    c.exchange(tr, &krb::tcp_framed(&req), 4 * MS, &krb::tcp_framed(&rep));
    c.close(tr, CLIENT);
    t = c.t + 5 * MS;
    // 3. LDAP: SASL bind with Kerberos, then the group policy containers.
    let mut c = connect(tr, net, w, dc, 389, "LDAP", t);
    let creds = krb::spnego_init(&mut tr.rng, &["ldap", "dc01.corp.example.com"], 1080);
    let accept = krb::spnego_accept(&mut tr.rng);
    c.exchange(tr, &apps::ldap_bind_sasl(1, &creds), 6 * MS, &apps::ldap_bind_done(1, &accept));
    let base = "CN=Policies,CN=System,DC=corp,DC=example,DC=com";
    let f = apps::filter_eq("objectClass", b"groupPolicyContainer");
    let attrs = ["displayName", "gPCFileSysPath", "versionNumber", "flags", "gPCFunctionalityVersion"];
    let mut resp = vec![];
    for (i, gpo) in [
        "{31B2F340-016D-11D2-945F-00C04FB984F9}",
        "{6AC1786C-016F-11D2-945F-00C04FB984F9}",
        "{A3F1C2D4-77E1-4C5B-9A0E-2B8D6F1E4C21}",
    ]
    .iter()
    .enumerate()
    {
        let dn = format!("CN={gpo},{base}");
        let path = format!("\\\\corp.example.com\\sysvol\\corp.example.com\\Policies\\{gpo}");
        let names = ["Default Domain Policy", "Default Domain Controllers Policy", "Office Desktop"];
        resp.extend_from_slice(&apps::ldap_entry(
            2,
            &dn,
            &[
                ("displayName", vec![names[i].as_bytes().to_vec()]),
                ("gPCFileSysPath", vec![path.into_bytes()]),
                ("versionNumber", vec![format!("{}", 3 + i * 7).into_bytes()]),
                ("flags", vec![b"0".to_vec()]),
                ("gPCFunctionalityVersion", vec![b"2".to_vec()]),
            ],
        ));
    }
    resp.extend_from_slice(&apps::ldap_done(2));
    c.exchange(tr, &apps::ldap_search(2, base, 2, &f, &attrs), 8 * MS, &resp);
    let f = apps::filter_eq("sAMAccountName", user.as_bytes());
    let entry = apps::ldap_entry(
        3,
        &format!("CN={user},CN=Users,DC=corp,DC=example,DC=com"),
        &[
            ("distinguishedName", vec![format!("CN={user},CN=Users,DC=corp,DC=example,DC=com").into_bytes()]),
            (
                "memberOf",
                (0..6)
                    .map(|g| format!("CN=Group{g},CN=Users,DC=corp,DC=example,DC=com").into_bytes())
                    .collect(),
            ),
        ],
    );
    c.exchange(
        tr,
        &apps::ldap_search(3, "DC=corp,DC=example,DC=com", 2, &f, &["distinguishedName", "memberOf"]),
        3 * MS,
        &[entry, apps::ldap_done(3)].concat(),
    );
    c.send(tr, CLIENT, &apps::ldap_unbind(4));
    c.t += MS;
    c.close(tr, CLIENT);
    t = c.t + 10 * MS;
    // 4. Endpoint mapper: where is DRSUAPI? Then call it there.
    let mut c = connect(tr, net, w, dc, 135, "RPC", t);
    let assoc = 0x3a21 + tr.rng.range(0, 99) as u32;
    c.exchange(tr, &rpc::bind(1, rpc::EPM, None), MS, &rpc::bind_ack(1, 135, assoc, None));
    let req = rpc::request(2, 3, &rpc::ept_map_request(rpc::DRSUAPI), None);
    c.exchange(tr, &req, 2 * MS, &rpc::response(2, &rpc::ept_map_response(rpc::DRSUAPI, 1026, dc_ip), None));
    c.close(tr, CLIENT);
    // The bind names drsuapi ("RPC session ports" in data/rpc-interfaces.tsv), and the
    // ept_map reply announced the port: both say more than the range's "SQL session".
    let mut c = connect(tr, net, w, dc, 1026, "RPC session ports", c.t + 2 * MS);
    drsuapi_calls(tr, &mut c);
    c.close(tr, CLIENT);
    t = c.t + 20 * MS;
    // 5. SYSVOL over SMB: gpt.ini and the registry policy of each GPO.
    let mut c = connect(tr, net, w, dc, 445, "CIFS", t);
    let mut ids = smb_login(tr, &mut c, user, "\\\\DC01\\SYSVOL");
    for (i, size) in [(0u16, 59), (1, 2_400), (2, 60), (3, 900)] {
        let pause = tr.rng.range(2, 30) * MS;
        c.wait(tr, pause);
        let file = if size < 100 {
            "\\corp.example.com\\Policies\\gpt.ini"
        } else {
            "\\corp.example.com\\Policies\\Machine\\Registry.pol"
        };
        smb_read_file(tr, &mut c, &mut ids, file, size, 0x4000 + i);
    }
    smb_logoff(tr, &mut c, ids);
    t = c.t + 50 * MS;
    // 6. NetBIOS: WINS lookup of the file server, NETLOGON and browser datagrams, time.
    let f = udp_flow(tr, net, (w, 137), (dc, 137), "NetBT name lookups", t);
    let nid = tr.rng.range(0x8000, 0xffff) as u16;
    tr.udp(f, true, t, &nb::name_query(nid, "FS01", 0x20, false), Frag::NoDf);
    t += rtt(tr);
    tr.udp(f, false, t, &nb::name_response(nid, "FS01", 0x20, ip(11)), Frag::NoDf);
    t += 30 * MS;
    let wip = tr.hosts[w.0].v4;
    let slot = format!("\\MAILSLOT\\NET\\GETDC{}", tr.rng.range(100, 999));
    let f = udp_flow(tr, net, (w, 138), (dc, 138), "NetBT datagrams", t);
    let did = tr.rng.range(0x8000, 0xffff) as u16;
    tr.udp(
        f,
        true,
        t,
        &nb::datagram(false, did, wip, (name, 0), ("CORP", 0x1c), &nb::netlogon_pdc_query(name, &slot)),
        Frag::NoDf,
    );
    t += rtt(tr) + MS;
    tr.udp(
        f,
        false,
        t,
        &nb::datagram(
            false,
            did + 1,
            dc_ip,
            ("DC01", 0),
            (name, 0),
            &nb::netlogon_pdc_response(&slot, "DC01", "CORP"),
        ),
        Frag::NoDf,
    );
    t += 40 * MS;
    let f = udp_flow(tr, net, (w, 123), (dc, 123), "unknown", t);
    tr.udp(f, true, t, &apps::ntp(false, t, 0), Frag::NoDf);
    let r = t + rtt(tr);
    tr.udp(f, false, r, &apps::ntp(true, r, t), Frag::NoDf);
    t = r + 200 * MS;
    host_announcement(tr, net, w, t, 0x0001_1003);
    t + 10 * MS
}

/// A host announcement to the domain's master browser name, broadcast (MS-BRWS 2.2.1).
fn host_announcement(tr: &mut Trace, net: &Net, h: HostId, t: u64, server_type: u32) {
    let name = tr.hosts[h.0].name;
    let hip = tr.hosts[h.0].v4;
    let f = udp_flow(tr, net, (h, 138), (net.bcast, 138), "NetBT datagrams", t);
    let id = tr.rng.range(0x8000, 0xffff) as u16;
    let ann = nb::browser_announcement(1, 1, name, server_type, "");
    tr.udp(f, true, t, &nb::datagram(true, id, hip, (name, 0), ("CORP", 0x1d), &ann), Frag::NoDf);
}

/// DHCP DORA for WS09 as it boots: discover and request broadcast from 0.0.0.0, offer and
/// ack unicast to the new address (Windows 2000 does not set the broadcast flag).
fn dhcp_boot(tr: &mut Trace, net: &Net, t: u64) -> u64 {
    let ws09 = net.ws[8];
    let mac = tr.hosts[ws09.0].mac;
    let (dc_ip, addr) = (tr.hosts[net.dc.0].v4, tr.hosts[ws09.0].v4);
    let xid = tr.rng.next_u64() as u32;
    let msg = |m: u8, yi: Ipv4Addr| apps::Dhcp {
        msg: m,
        xid,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        yiaddr: yi,
        chaddr: mac,
        host: "WS09",
        addr,
        server: dc_ip,
    };
    let bcast = tr.flow(Transport::Udp, net.lan, (net.ws09_noaddr, 68), (net.all_ones, 67), "DHCP");
    let uni = tr.flow(Transport::Udp, net.lan, (ws09, 68), (net.dc, 67), "DHCP");
    tr.udp(bcast, true, t, &apps::dhcp(&msg(apps::dhcp_type::DISCOVER, Ipv4Addr::UNSPECIFIED)), Frag::NoDf);
    tr.udp(uni, false, t + 1200 * US, &apps::dhcp(&msg(apps::dhcp_type::OFFER, addr)), Frag::NoDf);
    tr.udp(
        bcast,
        true,
        t + 11 * MS,
        &apps::dhcp(&msg(apps::dhcp_type::REQUEST, Ipv4Addr::UNSPECIFIED)),
        Frag::NoDf,
    );
    tr.udp(uni, false, t + 12 * MS, &apps::dhcp(&msg(apps::dhcp_type::ACK, addr)), Frag::NoDf);
    t + 1500 * MS
}

/// A bound client renews its lease: unicast request, unicast ack.
fn dhcp_renew(tr: &mut Trace, net: &Net, w: HostId, t: u64) {
    let mac = tr.hosts[w.0].mac;
    let (dc_ip, addr) = (tr.hosts[net.dc.0].v4, tr.hosts[w.0].v4);
    let xid = tr.rng.next_u64() as u32;
    let name = tr.hosts[w.0].name;
    let msg = |m: u8, yi: Ipv4Addr| apps::Dhcp {
        msg: m,
        xid,
        ciaddr: addr,
        yiaddr: yi,
        chaddr: mac,
        host: name,
        addr,
        server: dc_ip,
    };
    let f = udp_flow(tr, net, (w, 68), (net.dc, 67), "DHCP", t);
    tr.udp(f, true, t, &apps::dhcp(&msg(apps::dhcp_type::REQUEST, Ipv4Addr::UNSPECIFIED)), Frag::NoDf);
    tr.udp(f, false, t + 900 * US, &apps::dhcp(&msg(apps::dhcp_type::ACK, addr)), Frag::NoDf);
}

/// Office work on the file server: open, read and save documents, with pauses under 40 s.
fn file_work(
    tr: &mut Trace,
    net: &Net,
    w: HostId,
    user: &str,
    t: u64,
    reads: &[usize],
    writes: &[usize],
) -> u64 {
    let fs_ip = tr.hosts[net.fs.0].v4;
    let t = dns_lookup(tr, net, w, "fs01.corp.example.com", fs_ip, t) + MS;
    let mut c = connect(tr, net, w, net.fs, 445, "CIFS", t);
    let mut ids = smb_login(tr, &mut c, user, "\\\\FS01\\DATA");
    let mut fid = 0x4100;
    for (i, &size) in reads.iter().enumerate() {
        let pause = tr.rng.range(3, 35) * SEC;
        c.wait(tr, pause);
        smb_read_file(tr, &mut c, &mut ids, &format!("\\Projects\\doc{i}.doc"), size, fid);
        fid += 1;
    }
    for (i, &size) in writes.iter().enumerate() {
        let pause = tr.rng.range(3, 35) * SEC;
        c.wait(tr, pause);
        smb_write_file(tr, &mut c, &mut ids, &format!("\\Projects\\notes{i}.txt"), size, fid);
        fid += 1;
    }
    let pause = tr.rng.range(2, 20) * SEC;
    c.wait(tr, pause);
    smb_logoff(tr, &mut c, ids);
    c.t
}

/// NT4WS finds FS01 by broadcast and reads a file over a NetBIOS session on TCP 139.
fn nt4_session(tr: &mut Trace, net: &Net, t: u64) {
    let (nt4, fs) = (net.nt4, net.fs);
    let q = udp_flow(tr, net, (nt4, 137), (net.bcast, 137), "NetBT name lookups", t);
    let a = udp_flow(tr, net, (nt4, 137), (fs, 137), "NetBT name lookups", t);
    tr.udp(q, true, t, &nb::name_query(0x0101, "FS01", 0x20, true), Frag::NoDf);
    tr.udp(a, false, t + 700 * US, &nb::name_response(0x0101, "FS01", 0x20, ip(11)), Frag::NoDf);
    let mut c = connect(tr, net, nt4, fs, 139, "NetBT sessions", t + 3 * MS);
    c.exchange(tr, &nb::session_request("FS01", "NT4WS"), 300 * US, &nb::session_positive_response());
    let mut ids = smb_login(tr, &mut c, "bob", "\\\\FS01\\DATA");
    c.wait(tr, 2 * SEC);
    smb_read_file(tr, &mut c, &mut ids, "\\Archive\\1999\\ledger.xls", 8_000, 0x4200);
    c.wait(tr, 25 * SEC);
    smb_logoff(tr, &mut c, ids);
}

/// Browsing the intranet: a page and its parts on one keep-alive connection, sometimes a
/// second connection for the images, as IE 5 does.
fn web_visit(
    tr: &mut Trace,
    net: &Net,
    w: HostId,
    server: HostId,
    port: u16,
    service: &'static str,
    t: u64,
) -> u64 {
    let sip = tr.hosts[server.0].v4;
    let hostname = if port == 80 { "web01.corp.example.com" } else { "lnx01.corp.example.com" };
    let t = dns_lookup(tr, net, w, hostname, sip, t) + MS;
    let mut c = connect(tr, net, w, server, port, service, t);
    let host = if port == 80 { "intranet".to_string() } else { format!("lnx01:{port}") };
    let pages = ["/default.asp", "/news/index.asp", "/hr/forms.asp", "/it/helpdesk.asp", "/phonebook.asp"];
    let visits = tr.rng.range(1, 2);
    for _ in 0..visits {
        let page = pages[tr.rng.range(0, 4) as usize];
        let r1 = tr.rng.range(1_500, 5_000);
        let body = apps::http_ok(&mut tr.rng, r1 as usize, "text/html");
        let r1 = tr.rng.range(5, 40);
        c.exchange(tr, &apps::http_get(page, &host), r1 * MS, &body);
        for part in ["/styles/corp.css", "/scripts/menu.js"] {
            let pause = tr.rng.range(1, 5) * MS;
            c.wait(tr, pause);
            if tr.rng.chance(60) {
                c.exchange(tr, &apps::http_get(part, &host), 2 * MS, &apps::http_not_modified());
            } else {
                let r1 = tr.rng.range(600, 2_500);
                let body = apps::http_ok(&mut tr.rng, r1 as usize, "text/css");
                c.exchange(tr, &apps::http_get(part, &host), 3 * MS, &body);
            }
        }
        let pause = tr.rng.range(5, 40) * SEC;
        c.wait(tr, pause);
    }
    c.close(tr, CLIENT);
    c.t
}

// Base64-looking lines, 76 characters each, as a scanned attachment would be.
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// An SMTP session: banner, EHLO, one message, QUIT.
#[allow(clippy::too_many_arguments, reason = "who talks to whom, saying what, when")]
fn smtp(tr: &mut Trace, net: &Net, from: HostId, helo: &str, sender: &str, rcpt: &str, size: usize, t: u64) {
    let mut c = connect(tr, net, from, net.mail, 25, "SMTP", t);
    c.t += 3 * MS;
    c.send(tr, SERVER, b"220 mail01.corp.example.com Microsoft ESMTP MAIL Service, Version: 5.0.2195.5329 ready at  Wed, 15 Jan 2003 09:04:12 +0000 \r\n");
    c.t += c.rtt + 2 * MS;
    let ehlo = format!("EHLO {helo}\r\n");
    c.exchange(tr, ehlo.as_bytes(), MS, b"250-mail01.corp.example.com Hello [192.168.1.30]\r\n250-SIZE 10485760\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 OK\r\n");
    c.exchange(
        tr,
        format!("MAIL FROM:<{sender}>\r\n").as_bytes(),
        MS,
        format!("250 2.1.0 {sender}....Sender OK\r\n").as_bytes(),
    );
    c.exchange(
        tr,
        format!("RCPT TO:<{rcpt}>\r\n").as_bytes(),
        MS,
        format!("250 2.1.5 {rcpt} \r\n").as_bytes(),
    );
    c.exchange(tr, b"DATA\r\n", MS, b"354 Start mail input; end with <CRLF>.<CRLF>\r\n");
    let mut msg = format!("From: {sender}\r\nTo: {rcpt}\r\nSubject: Scanned document\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n").into_bytes();
    while msg.len() < size {
        for _ in 0..76 {
            msg.push(B64[tr.rng.range(0, 63) as usize]);
        }
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b".\r\n");
    c.exchange(
        tr,
        &msg,
        15 * MS,
        b"250 2.6.0 <MAIL01xyz@mail01.corp.example.com> Queued mail for delivery\r\n",
    );
    c.exchange(
        tr,
        b"QUIT\r\n",
        MS,
        b"221 2.0.0 mail01.corp.example.com Service closing transmission channel\r\n",
    );
    c.close(tr, SERVER);
}

/// SNMP polls from MGMT01 every 60 s to the router and the printer, a new port each time.
fn snmp_polls(tr: &mut Trace, net: &Net) {
    let mut uptime = [31_337_000u32, 8_640_000u32];
    let mut octets = [[1_234_567_890u32, 987_654_321u32], [12_345_678, 2_345_678]];
    for round in 0..10u64 {
        for (k, agent) in [net.gw, net.prn].into_iter().enumerate() {
            let t = T0 + 20 * SEC + round * 60 * SEC + k as u64 * 150 * MS;
            let id = tr.rng.range(1, 0x7fff_ffff) as i64;
            let oids = vec![apps::SYS_UPTIME.to_vec(), apps::if_octets(false, 1), apps::if_octets(true, 1)];
            uptime[k] += 6000;
            octets[k][0] = octets[k][0].wrapping_add(tr.rng.range(100_000, 9_000_000) as u32);
            octets[k][1] = octets[k][1].wrapping_add(tr.rng.range(100_000, 9_000_000) as u32);
            let vals = vec![
                (oids[0].clone(), uptime[k]),
                (oids[1].clone(), octets[k][0]),
                (oids[2].clone(), octets[k][1]),
            ];
            let req = apps::snmp_get("public", id, &oids);
            let resp = apps::snmp_response("public", id, &vals);
            udp_ask(tr, net, net.mgmt, agent, 161, "SNMP", t, &req, &resp);
        }
    }
}

/// The admin's terminal session on TS01: keystrokes and mouse from the client, screen updates
/// from the server, never idle for more than 15 s.
fn terminal_session(tr: &mut Trace, net: &Net, t: u64, until: u64) {
    let mut c = connect(tr, net, net.mgmt, net.ts, 3389, "Terminal Services", t);
    c.exchange(tr, &mssql::x224_connect_request("admin"), 2 * MS, &mssql::x224_connect_confirm());
    // Logon screen, then the desktop: a few big updates.
    for _ in 0..4 {
        let r1 = tr.rng.range(30, 200);
        let up = mssql::mcs_data(&mut tr.rng, false, r1 as usize);
        let r1 = tr.rng.range(1_200, 2_800);
        let down = mssql::mcs_data(&mut tr.rng, true, r1 as usize);
        let r1 = tr.rng.range(5, 30);
        c.exchange(tr, &up, r1 * MS, &down);
    }
    while c.t < until {
        let pause = if tr.rng.chance(80) { tr.rng.range(300, 2500) * MS } else { tr.rng.range(2, 15) * SEC };
        c.wait(tr, pause);
        let r1 = tr.rng.range(12, 60);
        let up = mssql::mcs_data(&mut tr.rng, false, r1 as usize);
        let big = tr.rng.chance(5);
        let r1 = tr.rng.range(1_000, 2_500);
        let r2 = tr.rng.range(40, 450);
        let down = mssql::mcs_data(&mut tr.rng, true, if big { r1 } else { r2 } as usize);
        let r1 = tr.rng.range(2, 12);
        c.exchange(tr, &up, r1 * MS, &down);
    }
    c.wait(tr, SEC);
    c.close(tr, CLIENT);
}

/// The intranet's ASP pages query SQL01 over a pooled connection that stays open.
fn sql_pool(tr: &mut Trace, net: &Net, t: u64, until: u64) {
    let mut c = connect(tr, net, net.web, net.sql, 1433, "SQL", t);
    let mac = tr.hosts[net.web.0].mac;
    c.exchange(
        tr,
        &mssql::login7(
            "WEB01",
            "intranet",
            "S3cret!",
            "Internet Information Services",
            "SQL01",
            "intranet",
            mac,
        ),
        8 * MS,
        &mssql::login_ack(53, "intranet"),
    );
    let queries = [
        "SELECT id, name FROM news WHERE published = 1 ORDER BY id DESC",
        "SELECT id, name FROM phonebook WHERE dept = 'Sales'",
        "EXEC sp_get_menu @day = 3",
        "SELECT id, name FROM helpdesk_tickets WHERE status < 3",
    ];
    while c.t < until {
        let pause = tr.rng.range(5, 30) * SEC;
        c.wait(tr, pause);
        let q = queries[tr.rng.range(0, 3) as usize];
        let r1 = tr.rng.range(3, 12);
        let rows = mssql::result_rows(&mut tr.rng, 53, r1 as usize);
        let r1 = tr.rng.range(2, 30);
        c.exchange(tr, &mssql::sql_batch(53, q), r1 * MS, &rows);
    }
}

/// An Access front end on WS05 against SQL01: log in, a few queries, an update, disconnect.
fn sql_client(tr: &mut Trace, net: &Net, w: HostId, t: u64) {
    let mut c = connect(tr, net, w, net.sql, 1433, "SQL", t);
    let mac = tr.hosts[w.0].mac;
    c.exchange(
        tr,
        &mssql::login7("WS05", "CORP\\carol", "", "Microsoft Access", "SQL01", "orders", mac),
        9 * MS,
        &mssql::login_ack(57, "orders"),
    );
    for _ in 0..5 {
        let pause = tr.rng.range(2, 20) * SEC;
        c.wait(tr, pause);
        let r1 = tr.rng.range(10, 60);
        let rows = mssql::result_rows(&mut tr.rng, 57, r1 as usize);
        c.exchange(
            tr,
            &mssql::sql_batch(57, "SELECT id, name FROM customers WHERE region = 'north'"),
            12 * MS,
            &rows,
        );
    }
    c.exchange(
        tr,
        &mssql::sql_batch(57, "UPDATE orders SET status = 2 WHERE id = 10442"),
        6 * MS,
        &mssql::done_only(57, 1),
    );
    c.wait(tr, 3 * SEC);
    c.close(tr, CLIENT);
}

/// FS01 protects its backup traffic to BK01 with IPsec: a quick-mode rekey over UDP 500,
/// then ESP both ways.
fn ipsec_backup(tr: &mut Trace, net: &Net, t: u64) {
    let ike = udp_flow(tr, net, (net.fs, 500), (net.bk, 500), "IKE", t);
    let (ic, rc) = (tr.rng.bytes(8), tr.rng.bytes(8));
    let msgid = tr.rng.next_u64() as u32;
    let m1 = apps::isakmp_quick_mode(&mut tr.rng, &ic, &rc, msgid, 292);
    let m2 = apps::isakmp_quick_mode(&mut tr.rng, &ic, &rc, msgid, 284);
    let m3 = apps::isakmp_quick_mode(&mut tr.rng, &ic, &rc, msgid, 28);
    tr.udp(ike, true, t, &m1, Frag::NoDf);
    tr.udp(ike, false, t + 14 * MS, &m2, Frag::NoDf);
    tr.udp(ike, true, t + 17 * MS, &m3, Frag::NoDf);
    let esp = tr.flow(Transport::Esp, net.lan, (net.fs, 0), (net.bk, 0), "ESP");
    let (spi_out, spi_in) = (tr.rng.next_u64() as u32, tr.rng.next_u64() as u32);
    let mut at = t + 40 * MS;
    for n in 0..16u32 {
        let big = tr.rng.chance(35);
        let len = if big { 1380 } else { tr.rng.range(60, 600) as usize };
        let p = apps::esp(&mut tr.rng, spi_out, n + 1, len);
        tr.send(esp, true, at, &p, Frag::NoDf);
        if n % 2 == 1 {
            let p = apps::esp(&mut tr.rng, spi_in, n / 2 + 1, 40);
            tr.send(esp, false, at + 400 * US, &p, Frag::NoDf);
        }
        at += tr.rng.range(2, 400) * MS;
    }
}

/// A Tomcat on LNX01:8080 and a LAN chat program on two high UDP ports: traffic the table
/// does not know. The Tomcat's payload is HTTP, which labels it; the chat's says nothing.
fn unknown_traffic(tr: &mut Trace, net: &Net, t: u64) {
    web_visit(tr, net, net.ws[1], net.lnx, 8080, "HTTP", t);
    let (a, b) = (net.ws[5], net.ws[6]);
    let f = udp_flow(tr, net, (a, 40123), (b, 40124), "unknown", t + 30 * SEC);
    let mut at = t + 30 * SEC;
    for i in 0..12 {
        let len = tr.rng.range(40, 300) as usize;
        let msg = tr.rng.bytes(len);
        tr.udp(f, i % 3 != 2, at, &msg, Frag::NoDf);
        at += tr.rng.range(200, 5000) * MS;
    }
}

/// MGMT01 pings the router and the printer, and lists the zone with a zone transfer.
fn admin_checks(tr: &mut Trace, net: &Net) {
    for (start, target) in [(T0 + 100 * SEC, net.gw), (T0 + 400 * SEC, net.prn)] {
        tr.arp_before(net.lan, net.mgmt, target, start);
        for n in 0..4u16 {
            let at = start + u64::from(n) * SEC;
            let seq = (0x21 + n) << 8;
            tr.other_ip(
                net.lan,
                net.mgmt,
                target,
                at,
                proto::ICMP,
                &crate::wire::icmp_echo(false, 0x0200, seq, apps::PING_DATA),
            );
            let r = rtt(tr);
            tr.other_ip(
                net.lan,
                target,
                net.mgmt,
                at + r,
                proto::ICMP,
                &crate::wire::icmp_echo(true, 0x0200, seq, apps::PING_DATA),
            );
        }
    }
    // nslookup's "ls -d corp.example.com": AXFR over TCP 53.
    let mut c = connect(tr, net, net.mgmt, net.dc, 53, "DNS", T0 + 250 * SEC);
    let zone = "corp.example.com";
    let owner = apps::dns_name(zone);
    let mut rrs = vec![
        apps::rr_soa(&owner, 412),
        apps::rr_name(&owner, rr::NS, 3600, "dc01.corp.example.com"),
        apps::rr_name(&owner, rr::MX, 3600, "mail01.corp.example.com"),
    ];
    rrs[2].rdata.splice(0..0, [0, 10]);
    for (name, last) in [
        ("gw", 1),
        ("dc01", 10),
        ("fs01", 11),
        ("sql01", 12),
        ("web01", 13),
        ("mail01", 14),
        ("ts01", 15),
        ("bk01", 16),
        ("mgmt01", 20),
        ("prn01", 30),
        ("lnx01", 50),
        ("nt4ws", 120),
    ] {
        rrs.push(apps::rr_a(&apps::dns_name(&format!("{name}.{zone}")), 1200, ip(last)));
    }
    for i in 1..=9u8 {
        rrs.push(apps::rr_a(&apps::dns_name(&format!("ws{i:02}.{zone}")), 1200, ip(100 + i)));
    }
    for srv in [
        "_ldap._tcp",
        "_kerberos._tcp",
        "_kerberos._udp",
        "_kpasswd._tcp",
        "_kpasswd._udp",
        "_gc._tcp",
        "_ldap._tcp.dc._msdcs",
        "_ldap._tcp.pdc._msdcs",
        "_ldap._tcp.gc._msdcs",
    ] {
        let port = if srv.starts_with("_kerb") {
            88
        } else if srv.starts_with("_kpass") {
            464
        } else if srv.contains("gc") {
            3268
        } else {
            389
        };
        rrs.push(apps::rr_srv(&apps::dns_name(&format!("{srv}.{zone}")), 600, port, "dc01.corp.example.com"));
    }
    rrs.push(apps::rr_name(&apps::dns_name(&format!("intranet.{zone}")), 5, 3600, "web01.corp.example.com"));
    rrs.push(apps::rr_soa(&owner, 412));
    let id = tr.rng.range(1, 0xffff) as u16;
    c.exchange(
        tr,
        &apps::dns_tcp(&apps::dns(id, false, zone, rr::AXFR, &[])),
        4 * MS,
        &apps::dns_tcp(&apps::dns(id, true, zone, rr::AXFR, &rrs)),
    );
    c.close(tr, CLIENT);
}

pub fn windows_lan() -> Built {
    let what = "the demo: ten minutes (09:00-09:10 UTC, 2003-01-15) of a small Windows 2000 office LAN seen on a mirror port: people log on (DNS, CLDAP, Kerberos UDP and TCP, LDAP, endpoint mapper and a dynamic RPC port, SYSVOL over SMB, WINS, NETLOGON and browser datagrams, time), a PC boots with DHCP, file server sessions with bulk reads and writes, an NT 4 machine on NetBIOS sessions, intranet browsing, an ASP site and an Access client on SQL Server, an admin terminal session, SNMP polling, scan-to-mail over SMTP, IPsec (IKE + ESP) backups, pings, ARP, and some traffic no table knows (Tomcat on 8080, NTP, a LAN chat on high UDP ports)";
    let mut tr = Trace::new(crate::LAN_FILE, Format::PCAP, 2003, what);
    let iface = tr.iface(Linktype::ETHERNET);
    let lan = tr.link(iface, Encap::ethernet(), None);
    let net = Net::new(&mut tr, lan);

    // The servers announce themselves to the browser early on; DC01 as master browser also
    // sends its local master and domain announcements (one flow: same 5-tuple, ms apart).
    let f = udp_flow(&mut tr, &net, (net.dc, 138), (net.bcast, 138), "NetBT datagrams", T0 + 2 * SEC);
    let dc_ip = tr.hosts[net.dc.0].v4;
    for (k, (op, to)) in
        [(15u8, ("CORP", 0x1e)), (12, ("\u{1}\u{2}__MSBROWSE__\u{2}", 0x01))].into_iter().enumerate()
    {
        let ann = nb::browser_announcement(op, 3, if op == 12 { "CORP" } else { "DC01" }, 0x8005_102b, "");
        let d = nb::datagram(true, 0x9a00 + k as u16, dc_ip, ("DC01", 0), to, &ann);
        tr.udp(f, true, T0 + 2 * SEC + k as u64 * 3 * MS, &d, Frag::NoDf);
    }
    for (k, h) in [net.fs, net.sql, net.web].into_iter().enumerate() {
        host_announcement(&mut tr, &net, h, T0 + 40 * SEC + k as u64 * 97 * SEC, 0x0000_9003);
    }

    // Arrivals: logons between 09:00 and 09:04, then work.
    let people = ["alice", "bob", "carol", "dave", "erin", "frank"];
    let starts = [8u64, 35, 71, 118, 160, 205];
    for (i, (&user, &s)) in people.iter().zip(&starts).enumerate() {
        let w = net.ws[i];
        let done = logon(&mut tr, &net, w, user, T0 + s * SEC);
        let at = done + tr.rng.range(10, 40) * SEC;
        match i {
            0 => file_work(&mut tr, &net, w, user, at, &[61_440, 4_000], &[6_000]),
            1 => file_work(&mut tr, &net, w, user, at, &[5_000], &[]),
            2 => file_work(&mut tr, &net, w, user, at, &[14_000], &[4_000]),
            3 => file_work(&mut tr, &net, w, user, at, &[3_000], &[]),
            _ => web_visit(&mut tr, &net, w, net.web, 80, "HTTP", at),
        };
    }
    // WS09 boots: DHCP, then its user logs on.
    let t = dhcp_boot(&mut tr, &net, T0 + 250 * SEC);
    logon(&mut tr, &net, net.ws[8], "grace", t);
    dhcp_renew(&mut tr, &net, net.ws[2], T0 + 333 * SEC);
    // WS07 and WS08 were logged on before 09:00: they only browse and read.
    web_visit(&mut tr, &net, net.ws[6], net.web, 80, "HTTP", T0 + 95 * SEC);
    web_visit(&mut tr, &net, net.ws[7], net.web, 80, "HTTP", T0 + 310 * SEC);
    file_work(&mut tr, &net, net.ws[7], "heidi", T0 + 130 * SEC, &[4_000], &[]);
    nt4_session(&mut tr, &net, T0 + 180 * SEC);
    sql_pool(&mut tr, &net, T0 + 12 * SEC, T0 + SPAN - 20 * SEC);
    sql_client(&mut tr, &net, net.ws[4], T0 + 290 * SEC);
    terminal_session(&mut tr, &net, T0 + 60 * SEC, T0 + 300 * SEC);
    snmp_polls(&mut tr, &net);
    smtp(
        &mut tr,
        &net,
        net.prn,
        "PRN01",
        "scanner@corp.example.com",
        "alice@corp.example.com",
        6_000,
        T0 + 275 * SEC,
    );
    smtp(
        &mut tr,
        &net,
        net.lnx,
        "lnx01.corp.example.com",
        "root@lnx01.corp.example.com",
        "it@corp.example.com",
        1_500,
        T0 + 510 * SEC,
    );
    ipsec_backup(&mut tr, &net, T0 + 300 * SEC);
    unknown_traffic(&mut tr, &net, T0 + 440 * SEC);
    admin_checks(&mut tr, &net);
    tr.finish()
}
