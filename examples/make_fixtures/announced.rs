//! Fixtures for ports announced on the wire (issue 16): a control exchange names the port the
//! next flow will use (the DCE/RPC endpoint mapper, FTP's PASV, EPSV and EPRT, TFTP's new
//! server port), and that flow's payload says nothing a payload check could recognise, so
//! only a classifier that learned the announcement can label it.

use std::net::Ipv4Addr;

use crate::apps;
use crate::pcap::Format;
use crate::rpc::{self, Over};
use crate::small::{WS02_MAC, ethernet};
use crate::tcp::{CLIENT, SERVER, Tcp};
use crate::trace::{Built, Frag, HostId, MS, Rng, SEC, T0, Trace, Transport, US};

const EX01_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 12);
const WS02_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 102);
const FTP01_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);
const LNX02_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 52);

/// Bytes no payload check can place: random, but the first byte is 0xd7, which is not the
/// first byte of DCE/RPC (5 or 4), TPKT (3), NBSS (0, 0x81-0x85), TDS (0x01-0x12), BER
/// (0x30, 0x60-0x7f), TLS (0x14-0x17), RTP (version 2: 0x80-0xbf) or any ASCII text
/// protocol. Encrypted or proprietary payloads look like this to a passive observer.
fn opaque(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut b = rng.bytes(n);
    if let Some(first) = b.first_mut() {
        *first = 0xd7;
    }
    b
}

fn ws02(tr: &mut Trace) -> HostId {
    tr.host("WS02", WS02_MAC, WS02_IP, true)
}

/// A Linux FTP server.
fn ftp01(tr: &mut Trace) -> HostId {
    tr.host("FTP01", [0x00, 0x02, 0xb3, 0x10, 0x20, 0x20], FTP01_IP, false)
}

/// A Linux workstation.
fn lnx02(tr: &mut Trace) -> HostId {
    tr.host("LNX02", [0x00, 0x02, 0xb3, 0x10, 0x20, 0x52], LNX02_IP, false)
}

/// The endpoint mapper over TCP, then two flows to the port it announced.
pub fn epm_tcp() -> Built {
    let what = "endpoint mapper over TCP, then the announced port: WS01 binds the endpoint mapper on EX01 TCP 135 (e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0) and calls ept_map (opnum 3) with a tower for Exchange's emsmdb (a4f1db00-ca47-1067-b31f-00dd010662da, port 0); the reply's tower names emsmdb on TCP 1032 at 192.168.1.12, EX01's address. WS01 then connects to EX01 port 1032 (answered handshake) and exchanges opaque bytes (not a DCE/RPC header); later WS02, whose connection started before the capture, talks to EX01 port 1032 mid-stream (no handshake, the client's packet first). The port-135 flow binds epmapper, which data/rpc-interfaces.tsv gives \"RPC user manager, service manager, port mapper\"; both flows to 1032 are emsmdb's \"Client/Server Communication\", which only the learned endpoint can say (the range would call the first \"SQL session\", and nothing labels the second)";
    let (mut tr, link, c) = ethernet("epm-tcp-135.pcap", 50, Format::PCAP, what);
    let c2 = ws02(&mut tr);
    let ex = tr.host("EX01", [0x00, 0x06, 0x5b, 0x3c, 0x4d, 0x12], EX01_IP, true);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (ex, 135), "port mapper");
    let mut t = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    t.exchange(&mut tr, &rpc::bind(1, rpc::EPM, None), 400 * US, &rpc::bind_ack(1, 135, 0x10e3, None));
    let req = rpc::request(2, 3, &rpc::ept_map_request(rpc::EMSMDB), None);
    let resp = rpc::response(2, &rpc::ept_map_response(rpc::EMSMDB, 1032, EX01_IP), None);
    t.exchange(&mut tr, &req, 500 * US, &resp);
    t.close(&mut tr, CLIENT);

    let cp = tr.ephemeral(c);
    let g = tr.flow(Transport::Tcp, link, (c, cp), (ex, 1032), "Client/Server Communication");
    let mut u = Tcp::connect(&mut tr, g, t.t + 5 * MS, 300 * US);
    for (req, resp) in [(180, 420), (260, 1900), (120, 300)] {
        let (q, r) = (opaque(&mut tr.rng, req), opaque(&mut tr.rng, resp));
        u.exchange(&mut tr, &q, 2 * MS, &r);
        u.wait(&mut tr, 40 * MS);
    }
    u.wait(&mut tr, 300 * MS);
    u.close(&mut tr, CLIENT);

    let cp = tr.ephemeral(c2);
    let h = tr.flow(Transport::Tcp, link, (c2, cp), (ex, 1032), "Client/Server Communication");
    let mut w = Tcp::midstream(&mut tr, h, u.t + SEC, 400 * US);
    for (req, resp) in [(200, 700), (150, 250)] {
        let (q, r) = (opaque(&mut tr.rng, req), opaque(&mut tr.rng, resp));
        w.exchange(&mut tr, &q, 3 * MS, &r);
        w.wait(&mut tr, 60 * MS);
    }
    w.wait(&mut tr, 300 * MS);
    tr.finish()
}

/// The endpoint mapper over connectionless DCE/RPC, then datagrams to the announced port.
pub fn epm_udp() -> Built {
    let what = "endpoint mapper over UDP, then the announced port: WS01 asks WS02's endpoint mapper on UDP 135 with a connectionless DCE/RPC ept_map request (interface epmapper e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0, opnum 3, tower for the Messenger service's msgsvcsend 5a7b91f8-ff00-11d0-a9b2-00c04fb6e6fc over UDP, port 0); the response's tower names msgsvcsend on UDP 1030 at 192.168.1.102, WS02's address (MS-MSRP 2.1.1: msgsvcsend runs over ncadg_ip_udp). WS01 then sends opaque datagrams (not a DCE/RPC header) from a new port to WS02 UDP 1030, and WS02 answers each. The port-135 flow calls epmapper, which data/rpc-interfaces.tsv gives \"RPC user manager, service manager, port mapper\"; msgsvcsend is not in that table, so the learned flow to 1030 is \"RPC session ports\"";
    let (mut tr, link, c) = ethernet("epm-udp-135.pcap", 51, Format::PCAP, what);
    let s = ws02(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Udp, link, (c, cp), (s, 135), "port mapper");
    let act = rpc::random_uuid(&mut tr.rng);
    // The server's boot time, in seconds since 1970: a day before the capture.
    let boot = (T0 / SEC - 86_400) as u32;
    let at = T0 + SEC / 10;
    let req = rpc::cl_request(rpc::EPM, &act, 3, &rpc::ept_map_request_over(Over::Udp, rpc::MSGSVCSEND));
    tr.udp(f, true, at, &req, Frag::NoDf);
    let stub = rpc::ept_map_response_over(Over::Udp, rpc::MSGSVCSEND, 1030, WS02_IP);
    tr.udp(f, false, at + 700 * US, &rpc::cl_response(rpc::EPM, &act, boot, 3, &stub), Frag::NoDf);

    let cp = tr.ephemeral(c);
    let g = tr.flow(Transport::Udp, link, (c, cp), (s, 1030), "RPC session ports");
    let mut at = at + 4 * MS;
    for (req, resp) in [(240, 96), (180, 96), (320, 96)] {
        let (q, r) = (opaque(&mut tr.rng, req), opaque(&mut tr.rng, resp));
        tr.udp(g, true, at, &q, Frag::NoDf);
        tr.udp(g, false, at + 800 * US, &r, Frag::NoDf);
        at += 150 * MS;
    }
    tr.finish()
}

/// Lets `t`'s clock run to `to` (sending any delayed ACK that falls due), if it is behind.
fn advance(tr: &mut Trace, t: &mut Tcp, to: u64) {
    if to > t.t {
        t.wait(tr, to - t.t);
    }
}

/// An FTP control connection's login, as a Linux FTP server answers it.
fn ftp_login(tr: &mut Trace, t: &mut Tcp, user: &str, pass: &str) {
    t.send(tr, SERVER, &apps::ftp("220 FTP01 FTP server ready."));
    t.t += t.rtt + tr.rng.range(200, 900) * US;
    let login = [
        (format!("USER {user}"), "331 Please specify the password."),
        (format!("PASS {pass}"), "230 Login successful."),
        ("TYPE I".to_string(), "200 Switching to Binary mode."),
    ];
    for (cmd, reply) in login {
        t.exchange(tr, &apps::ftp(&cmd), 300 * US, &apps::ftp(reply));
    }
}

/// RETR on the control connection `ctl` and the file on the data connection `data`, sent by
/// `sender` (the side of `data` that is the FTP server), who then closes it; then 226, QUIT.
/// The data connection must be open already.
fn ftp_retr(tr: &mut Trace, ctl: &mut Tcp, data: &mut Tcp, sender: usize, file: &str, size: usize) {
    advance(tr, ctl, data.t);
    ctl.send(tr, CLIENT, &apps::ftp(&format!("RETR {file}")));
    ctl.t += ctl.rtt + 400 * US;
    let opening = format!("150 Opening BINARY mode data connection for {file} ({size} bytes).");
    ctl.send(tr, SERVER, &apps::ftp(&opening));
    advance(tr, data, ctl.t + 100 * US);
    let bytes = opaque(&mut tr.rng, size);
    data.send(tr, sender, &bytes);
    data.t += data.rtt;
    data.close(tr, sender);
    advance(tr, ctl, data.t + 200 * US);
    ctl.send(tr, SERVER, &apps::ftp("226 Transfer complete."));
    ctl.t += ctl.rtt + tr.rng.range(500, 2000) * US;
    ctl.exchange(tr, &apps::ftp("QUIT"), 200 * US, &apps::ftp("221 Goodbye."));
    ctl.close(tr, SERVER);
}

/// FTP passive mode over IPv4: the 227 reply names the server's data port.
pub fn ftp_pasv() -> Built {
    let what = "FTP passive mode: WS01 (Internet Explorer, anonymous) logs on to FTP01 on TCP 21 and sends PASV; the 227 reply names 192,168,1,20,157,248 (FTP01 port 40440); WS01 connects there (answered handshake), sends RETR on the control connection, and FTP01 sends the file's 6000 opaque bytes on the data connection and closes it; 226, QUIT. The control flow is FTP; the data flow is FTP-data, learned from the 227 reply (its port is in no table and its bytes say nothing)";
    let (mut tr, link, c) = ethernet("ftp-pasv-21.pcap", 53, Format::PCAP, what);
    let s = ftp01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (s, 21), "FTP");
    let mut ctl = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    ftp_login(&mut tr, &mut ctl, "anonymous", "IEUser@");
    let port = 40440;
    let reply = format!("227 Entering Passive Mode ({}).", apps::ftp_hostport(FTP01_IP, port));
    ctl.exchange(&mut tr, &apps::ftp("PASV"), 200 * US, &apps::ftp(&reply));
    let dp = tr.ephemeral(c);
    let d = tr.flow(Transport::Tcp, link, (c, dp), (s, port), "FTP-data");
    let mut data = Tcp::connect(&mut tr, d, ctl.t, 300 * US);
    ftp_retr(&mut tr, &mut ctl, &mut data, SERVER, "/pub/notes.doc", 6000);
    tr.finish()
}

/// FTP extended passive mode over IPv6: the 229 reply names a port and no address.
pub fn ftp_epsv_ipv6() -> Built {
    let what = "FTP extended passive mode over IPv6 (RFC 2428): LNX02 logs on to FTP01 on TCP 21 over IPv6 and sends EPSV; the 229 reply names port 41002 and no address, so the data connection goes to the control connection's server address, [2001:db8:0:1::14]:41002; LNX02 connects there (answered handshake), sends RETR, and FTP01 sends 3000 opaque bytes and closes it; 226, QUIT. The control flow is FTP; the data flow is FTP-data, learned from the 229 reply";
    let (mut tr, link, _) = ethernet("ftp-epsv-ipv6-21.pcap", 54, Format::PCAP, what);
    let c = lnx02(&mut tr);
    let s = ftp01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow_v6(Transport::Tcp, link, (c, cp), (s, 21), "FTP");
    let mut ctl = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    ftp_login(&mut tr, &mut ctl, "alice", "s3cret-2003");
    let port = 41002;
    let reply = format!("229 Entering Extended Passive Mode (|||{port}|).");
    ctl.exchange(&mut tr, &apps::ftp("EPSV"), 200 * US, &apps::ftp(&reply));
    let dp = tr.ephemeral(c);
    let d = tr.flow_v6(Transport::Tcp, link, (c, dp), (s, port), "FTP-data");
    let mut data = Tcp::connect(&mut tr, d, ctl.t, 300 * US);
    ftp_retr(&mut tr, &mut ctl, &mut data, SERVER, "/home/alice/build.tar", 3000);
    tr.finish()
}

/// FTP active mode with EPRT: the server connects back, and not from port 20.
pub fn ftp_eprt() -> Built {
    let what = "FTP active mode with EPRT (RFC 2428): LNX02 logs on to FTP01 on TCP 21 and sends EPRT naming address family 1 (IPv4), its own address 192.168.1.52 and a port it listens on; after RETR, FTP01 connects to that port (its SYN makes FTP01 the data flow's client and LNX02's port its server) from an ephemeral port, not 20 (servers such as vsftpd with connect_from_port_20=NO do this), sends 4000 opaque bytes and closes; 226, QUIT. The control flow is FTP; the data flow is FTP-data, learned from the EPRT command, whichever side its handshake makes the server";
    let (mut tr, link, _) = ethernet("ftp-eprt-21.pcap", 55, Format::PCAP, what);
    let c = lnx02(&mut tr);
    let s = ftp01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (s, 21), "FTP");
    let mut ctl = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    ftp_login(&mut tr, &mut ctl, "alice", "s3cret-2003");
    let listen = tr.ephemeral(c);
    ctl.exchange(
        &mut tr,
        &apps::ftp(&format!("EPRT |1|{LNX02_IP}|{listen}|")),
        200 * US,
        &apps::ftp("200 EPRT command successful. Consider using EPSV."),
    );
    let from = tr.ephemeral(s);
    assert_ne!(from, 20);
    let d = tr.flow(Transport::Tcp, link, (s, from), (c, listen), "FTP-data");
    // FTP01 connects once it has read RETR: one round trip after the command goes out.
    let mut data = Tcp::connect(&mut tr, d, ctl.t + ctl.rtt + 300 * US, 300 * US);
    ftp_retr(&mut tr, &mut ctl, &mut data, CLIENT, "/home/alice/report.pdf", 4000);
    tr.finish()
}

/// A PASV reply whose data connection comes far too late to be the one announced.
pub fn ftp_pasv_expired() -> Built {
    let what = "an expectation that expires: WS01 logs on to FTP01 on TCP 21 and sends PASV; the 227 reply names FTP01 port 40560; WS01 keeps the control connection alive with NOOP every 90 s and connects to port 40560 only 300 s after the 227 reply (FTP01 still accepts), then RETR, 2000 opaque bytes, 226, QUIT. 300 s is past any reasonable lifetime for an FTP data expectation (60 s here), so the data flow is unknown; the control flow is FTP";
    let (mut tr, link, c) = ethernet("ftp-pasv-expired-21.pcap", 56, Format::PCAP, what);
    let s = ftp01(&mut tr);
    let cp = tr.ephemeral(c);
    let f = tr.flow(Transport::Tcp, link, (c, cp), (s, 21), "FTP");
    let mut ctl = Tcp::connect(&mut tr, f, T0 + SEC / 10, 300 * US);
    ftp_login(&mut tr, &mut ctl, "anonymous", "IEUser@");
    let port = 40560;
    let reply = format!("227 Entering Passive Mode ({}).", apps::ftp_hostport(FTP01_IP, port));
    ctl.exchange(&mut tr, &apps::ftp("PASV"), 200 * US, &apps::ftp(&reply));
    // The 227 reply reached the capture point one round trip before the clock.
    let announced = ctl.t - ctl.rtt;
    for i in 1..=3 {
        advance(&mut tr, &mut ctl, announced + 90 * SEC * i);
        ctl.exchange(&mut tr, &apps::ftp("NOOP"), 100 * US, &apps::ftp("200 NOOP ok."));
    }
    ctl.wait(&mut tr, MS);
    let dp = tr.ephemeral(c);
    let d = tr.flow(Transport::Tcp, link, (c, dp), (s, port), "unknown");
    let mut data = Tcp::connect(&mut tr, d, announced + 300 * SEC, 300 * US);
    ftp_retr(&mut tr, &mut ctl, &mut data, SERVER, "/pub/old.zip", 2000);
    tr.finish()
}

/// A TFTP read: the request goes to port 69, the transfer comes from a new server port.
pub fn tftp_read() -> Built {
    let what = "a TFTP read (RFC 1350): LNX02 sends a read request (RRQ, octet mode) from UDP 49200 to BOOT01 port 69; BOOT01 answers from a new port, 50001, to 49200 (RFC 1350 4: each side picks a new transfer ID), with 3 DATA blocks (512, 512, 276 bytes) that LNX02 acknowledges one by one. The request flow is TFTP (port 69); the transfer flow is TFTP too, learned from the request: BOOT01:50001 is its server, though its first packet comes from there";
    let (mut tr, link, _) = ethernet("tftp-read-69.pcap", 52, Format::PCAP, what);
    let c = lnx02(&mut tr);
    let s = tr.host("BOOT01", [0x00, 0x02, 0xb3, 0x10, 0x20, 0x21], Ipv4Addr::new(192, 168, 1, 21), false);
    let f = tr.flow(Transport::Udp, link, (c, 49200), (s, 69), "TFTP");
    let mut at = T0 + SEC / 10;
    tr.udp(f, true, at, &apps::tftp_rrq("pxelinux.cfg/default"), Frag::NoDf);
    let g = tr.flow(Transport::Udp, link, (c, 49200), (s, 50001), "TFTP");
    at += 2 * MS;
    let file = crate::sessions::file_bytes(&mut tr, 1300);
    for (i, block) in file.chunks(512).enumerate() {
        let n = i as u16 + 1;
        tr.udp(g, false, at, &apps::tftp_data(n, block), Frag::NoDf);
        tr.udp(g, true, at + 400 * US, &apps::tftp_ack(n), Frag::NoDf);
        at += 900 * US;
    }
    tr.finish()
}

pub fn all() -> Vec<Built> {
    vec![epm_tcp(), epm_udp(), tftp_read(), ftp_pasv(), ftp_epsv_ipv6(), ftp_eprt(), ftp_pasv_expired()]
}
