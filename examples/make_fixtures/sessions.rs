//! Whole conversations, shared by the small fixtures and the LAN demo.

use crate::kerberos as krb;
use crate::netbios::{self as nb, Ids};
use crate::rpc;
use crate::tcp::{CLIENT, Tcp};
use crate::trace::{FlowId, MS, SEC, T0, Trace, US};

/// FILETIME (100 ns since 1601) of a packet time, for SMB replies.
pub fn filetime(ts: u64) -> u64 {
    ts / 100 + 116_444_736_000_000_000
}

/// A short SMB session on TCP 445: handshake, negotiate, session setup, tree connect, the
/// client's delayed ACK, then FIN both ways and the last ACK. 13 packets.
pub fn smb_short(tr: &mut Trace, flow: FlowId, t: u64, rtt: u64) -> Tcp {
    let mut c = Tcp::connect(tr, flow, t, rtt);
    smb_login(tr, &mut c, "alice", "\\\\FS01\\PUBLIC");
    c.wait(tr, 250 * MS);
    c.close(tr, CLIENT);
    c
}

/// Negotiate, session setup and tree connect: three request/response pairs.
pub fn smb_login(tr: &mut Trace, c: &mut Tcp, user: &str, share: &str) -> Ids {
    let mut ids = Ids { tid: 0, pid: 0xfeff, uid: 0, mid: 0 };
    let challenge = tr.rng.bytes(8);
    let ft = filetime(c.t.max(T0));
    c.exchange(
        tr,
        &nb::negotiate_request(ids),
        300 * US,
        &nb::negotiate_response(ids, &challenge, "CORP", ft),
    );
    ids.mid += 1;
    let (lm, nt) = (tr.rng.bytes(24), tr.rng.bytes(24));
    let req = nb::session_setup_request(ids, user, "CORP", &lm, &nt);
    ids.uid = 0x0800 + tr.rng.range(0, 0xff) as u16;
    c.exchange(tr, &req, 2 * MS, &nb::session_setup_response(ids, "CORP"));
    ids.mid += 1;
    let req = nb::tree_connect_request(ids, share, "?????");
    ids.tid = 0x0800 + tr.rng.range(0, 0xff) as u16;
    let service = if share.ends_with("IPC$") { "IPC" } else { "A:" };
    c.exchange(tr, &req, 500 * US, &nb::tree_connect_response(ids, service));
    ids.mid += 1;
    ids
}

/// Reads `size` bytes of `name` in 61440-byte Read AndX calls (the Windows 2000 large-read
/// size), so the replies go out as runs of full 1514-byte frames.
pub fn smb_read_file(tr: &mut Trace, c: &mut Tcp, ids: &mut Ids, name: &str, size: usize, fid: u16) {
    let ft = filetime(c.t);
    c.exchange(
        tr,
        &nb::nt_create_request(*ids, name),
        800 * US,
        &nb::nt_create_response(*ids, fid, size as u64, ft),
    );
    ids.mid += 1;
    let mut off = 0;
    while off < size {
        let n = (size - off).min(61_440);
        let data = file_bytes(tr, n);
        c.exchange(
            tr,
            &nb::read_request(*ids, fid, off as u32, n as u16),
            400 * US,
            &nb::read_response(*ids, &data),
        );
        ids.mid += 1;
        off += n;
    }
    c.exchange(tr, &nb::close_request(*ids, fid), 200 * US, &nb::empty(nb::cmd::CLOSE, true, *ids));
    ids.mid += 1;
}

/// Writes `size` bytes to `name` in 4096-byte Write AndX calls (the Windows 2000 client's
/// size for a plain copy).
pub fn smb_write_file(tr: &mut Trace, c: &mut Tcp, ids: &mut Ids, name: &str, size: usize, fid: u16) {
    let ft = filetime(c.t);
    c.exchange(tr, &nb::nt_create_request(*ids, name), 900 * US, &nb::nt_create_response(*ids, fid, 0, ft));
    ids.mid += 1;
    let mut off = 0;
    while off < size {
        let n = (size - off).min(4096);
        let data = file_bytes(tr, n);
        c.exchange(
            tr,
            &nb::write_request(*ids, fid, off as u32, &data),
            300 * US,
            &nb::write_response(*ids, n as u16),
        );
        ids.mid += 1;
        off += n;
    }
    c.exchange(tr, &nb::close_request(*ids, fid), 1500 * US, &nb::empty(nb::cmd::CLOSE, true, *ids));
    ids.mid += 1;
}

/// Tree disconnect, logoff, FIN.
pub fn smb_logoff(tr: &mut Trace, c: &mut Tcp, ids: Ids) {
    c.exchange(
        tr,
        &nb::empty(nb::cmd::TREE_DISCONNECT, false, ids),
        200 * US,
        &nb::empty(nb::cmd::TREE_DISCONNECT, true, ids),
    );
    let mut ids = ids;
    ids.mid += 1;
    c.exchange(tr, &nb::logoff(false, ids), 200 * US, &nb::logoff(true, ids));
    c.wait(tr, SEC / 4);
    c.close(tr, CLIENT);
}

const WORDS: [&str; 12] =
    ["budget", "the", "quarter", "of", "sales", "and", "report", "Q4", "invoice", "total", "north", "2002"];

/// File contents: text-like bytes, the way most office documents compress badly.
pub fn file_bytes(tr: &mut Trace, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 16);
    while v.len() < n {
        v.extend_from_slice(WORDS[tr.rng.range(0, 11) as usize].as_bytes());
        v.push(if tr.rng.chance(10) { b'\n' } else { b' ' });
    }
    v.truncate(n);
    v
}

/// Bind to DRSUAPI with Kerberos and make two sealed calls, on the dynamic port 1026.
pub fn drsuapi_calls(tr: &mut Trace, t: &mut Tcp) {
    drsuapi_calls_on(tr, t, 1026);
}

/// The same on `port`, which the bind_ack names as its secondary address.
pub fn drsuapi_calls_on(tr: &mut Trace, t: &mut Tcp, port: u16) {
    let ap = krb::gss_ap_req(
        &mut tr.rng,
        &["E3514235-4B06-11D1-AB04-00C04FC2DCD2", "dc01.corp.example.com"],
        1050,
    );
    let rep = krb::gss_ap_rep(&mut tr.rng);
    t.exchange(
        tr,
        &rpc::bind(1, rpc::DRSUAPI, Some(&ap)),
        3 * MS,
        &rpc::bind_ack(1, port, 0x5a3c, Some(&rep)),
    );
    for (call, (opnum, req_len, resp_len)) in
        [(0u16, 60usize, 100usize), (12, 220, 340)].into_iter().enumerate()
    {
        let v1 = rpc::krb5_seal_verifier(&mut tr.rng);
        let v2 = rpc::krb5_seal_verifier(&mut tr.rng);
        let req = rpc::request(call as u32 + 2, opnum, &tr.rng.bytes(req_len), Some(&v1));
        let resp = rpc::response(call as u32 + 2, &tr.rng.bytes(resp_len), Some(&v2));
        t.exchange(tr, &req, 2 * MS, &resp);
    }
    t.wait(tr, 250 * MS);
}
