//! DCE/RPC over TCP (connection-oriented, C706 chapter 12) as a Windows 2000 client uses it at
//! logon: ask the endpoint mapper on TCP 135 where DRSUAPI listens (ept_map, with real
//! protocol towers), then bind to that dynamic port with Kerberos and make sealed calls.
//! Also connectionless DCE/RPC over UDP (C706 chapter 12.5) for the endpoint mapper on UDP
//! 135, and Netlogon's NetrServerReqChallenge, whose stubs tshark dissects in full.

use std::net::Ipv4Addr;

use crate::trace::Rng;

/// UUID in DCE little-endian wire order.
fn uuid(s: &str) -> [u8; 16] {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    let mut raw = [0u8; 16];
    for (i, r) in raw.iter_mut().enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        *r = digit(hex[2 * i]) << 4 | digit(hex[2 * i + 1]);
    }
    raw[0..4].reverse();
    raw[4..6].reverse();
    raw[6..8].reverse();
    raw
}

pub const EPM: (&str, u16) = ("e1af8308-5d1f-11c9-91a4-08002b14a0fa", 3);
pub const DRSUAPI: (&str, u16) = ("e3514235-4b06-11d1-ab04-00c04fc2dcd2", 4);
/// MS-NRPC 2.1: the Netlogon Remote Protocol, v1.0.
pub const NETLOGON: (&str, u16) = ("12345678-1234-abcd-ef00-01234567cffb", 1);
/// MS-OXCRPC 1.9: emsmdb, Exchange's client interface (v0.81; the major version is 0).
pub const EMSMDB: (&str, u16) = ("a4f1db00-ca47-1067-b31f-00dd010662da", 0);
/// MS-MSRP 2.1.1: msgsvcsend, the Messenger service's NetrSendMessage, over NCADG_IP_UDP.
pub const MSGSVCSEND: (&str, u16) = ("5a7b91f8-ff00-11d0-a9b2-00c04fb6e6fc", 1);
const NDR: &str = "8a885d04-1ceb-11c9-9fe8-08002b104860";

mod ptype {
    pub const REQUEST: u8 = 0;
    pub const RESPONSE: u8 = 2;
    pub const BIND: u8 = 11;
    pub const BIND_ACK: u8 = 12;
}

/// RPC_C_AUTHN_GSS_KERBEROS, packet privacy.
const AUTH_KERBEROS: u8 = 16;
const LEVEL_PRIVACY: u8 = 6;

/// A PDU: 16-byte common header, body, and optionally an auth trailer (sec_trailer + value).
fn pdu(kind: u8, call_id: u32, body: &[u8], auth: Option<&[u8]>) -> Vec<u8> {
    let mut m = vec![5, 0, kind, 0x03, 0x10, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&call_id.to_le_bytes());
    m.extend_from_slice(body);
    let mut auth_len = 0;
    if let Some(value) = auth {
        // The trailer starts on a 4-byte boundary; the padding length is recorded in it.
        let pad = (4 - m.len() % 4) % 4;
        m.resize(m.len() + pad, 0);
        m.extend_from_slice(&[AUTH_KERBEROS, LEVEL_PRIVACY, pad as u8, 0]);
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(value);
        auth_len = value.len();
    }
    let len = m.len() as u16;
    m[8..10].copy_from_slice(&len.to_le_bytes());
    m[10..12].copy_from_slice(&(auth_len as u16).to_le_bytes());
    m
}

pub fn bind(call_id: u32, iface: (&str, u16), auth: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]); // one context
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&uuid(iface.0));
    b.extend_from_slice(&iface.1.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&uuid(NDR));
    b.extend_from_slice(&2u32.to_le_bytes());
    pdu(ptype::BIND, call_id, &b, auth)
}

pub fn bind_ack(call_id: u32, port: u16, assoc: u32, auth: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![];
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&5840u16.to_le_bytes());
    b.extend_from_slice(&assoc.to_le_bytes());
    let addr = format!("{port}\0");
    b.extend_from_slice(&(addr.len() as u16).to_le_bytes());
    b.extend_from_slice(addr.as_bytes());
    // Pad so the result list starts on a 4-byte boundary of the PDU (header is 16 bytes).
    while (16 + b.len()) % 4 != 0 {
        b.push(0);
    }
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&[0, 0, 0, 0]); // acceptance
    b.extend_from_slice(&uuid(NDR));
    b.extend_from_slice(&2u32.to_le_bytes());
    pdu(ptype::BIND_ACK, call_id, &b, auth)
}

pub fn request(call_id: u32, opnum: u16, stub: &[u8], auth: Option<&[u8]>) -> Vec<u8> {
    let mut b = (stub.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&opnum.to_le_bytes());
    b.extend_from_slice(stub);
    pdu(ptype::REQUEST, call_id, &b, auth)
}

pub fn response(call_id: u32, stub: &[u8], auth: Option<&[u8]>) -> Vec<u8> {
    let mut b = (stub.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(stub);
    pdu(ptype::RESPONSE, call_id, &b, auth)
}

/// The transport of a protocol tower: its RPC protocol floor and its port floor.
#[derive(Clone, Copy)]
pub enum Over {
    /// NCACN_IP_TCP: floor 3 is 0x0b (connection-oriented RPC), floor 4 0x07 (TCP port).
    Tcp,
    /// NCADG_IP_UDP: floor 3 is 0x0a (connectionless RPC), floor 4 0x08 (UDP port).
    Udp,
}

/// A protocol tower (C706 appendix L) for `iface` over TCP or UDP.
fn tower(over: Over, iface: (&str, u16), port: u16, ip: Ipv4Addr) -> Vec<u8> {
    let (rpc, transport) = match over {
        Over::Tcp => (0x0b, 0x07),
        Over::Udp => (0x0a, 0x08),
    };
    let mut t = 5u16.to_le_bytes().to_vec();
    let mut floor = |lhs: &[u8], rhs: &[u8]| {
        t.extend_from_slice(&(lhs.len() as u16).to_le_bytes());
        t.extend_from_slice(lhs);
        t.extend_from_slice(&(rhs.len() as u16).to_le_bytes());
        t.extend_from_slice(rhs);
    };
    let syntax = |u: &str, major: u16| [&[0x0d][..], &uuid(u), &major.to_le_bytes()].concat();
    floor(&syntax(iface.0, iface.1), &[0, 0]);
    floor(&syntax(NDR, 2), &[0, 0]);
    floor(&[rpc], &[0, 0]); // RPC protocol, minor version 0
    floor(&[transport], &port.to_be_bytes()); // TCP or UDP port, big-endian
    floor(&[0x09], &ip.octets()); // IPv4 address
    t
}

/// twr_t as NDR: conformance, length, the octets, padded to 4.
fn ndr_tower(t: &[u8]) -> Vec<u8> {
    let mut v = (t.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(&(t.len() as u32).to_le_bytes());
    v.extend_from_slice(t);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

/// ept_map (opnum 3) request stub: which port serves `iface`?
pub fn ept_map_request(iface: (&str, u16)) -> Vec<u8> {
    ept_map_request_over(Over::Tcp, iface)
}

/// ept_map request stub asking for `iface` over TCP or UDP: the tower's port and address are 0.
pub fn ept_map_request_over(over: Over, iface: (&str, u16)) -> Vec<u8> {
    let mut s = 1u32.to_le_bytes().to_vec(); // object: referent 1, nil UUID
    s.extend_from_slice(&[0; 16]);
    s.extend_from_slice(&2u32.to_le_bytes()); // map_tower referent
    s.extend_from_slice(&ndr_tower(&tower(over, iface, 0, Ipv4Addr::UNSPECIFIED)));
    s.extend_from_slice(&[0; 20]); // entry handle
    s.extend_from_slice(&4u32.to_le_bytes()); // max towers
    s
}

pub fn ept_map_response(iface: (&str, u16), port: u16, ip: Ipv4Addr) -> Vec<u8> {
    ept_map_response_over(Over::Tcp, iface, port, ip)
}

/// ept_map response stub: one tower naming `iface` on `port` at `ip`, status 0.
pub fn ept_map_response_over(over: Over, iface: (&str, u16), port: u16, ip: Ipv4Addr) -> Vec<u8> {
    let mut s = vec![0; 20];
    s.extend_from_slice(&1u32.to_le_bytes()); // num towers
    s.extend_from_slice(&4u32.to_le_bytes()); // max count
    s.extend_from_slice(&0u32.to_le_bytes()); // offset
    s.extend_from_slice(&1u32.to_le_bytes()); // actual count
    s.extend_from_slice(&3u32.to_le_bytes()); // referent of tower 1
    s.extend_from_slice(&ndr_tower(&tower(over, iface, port, ip)));
    s.extend_from_slice(&0u32.to_le_bytes()); // status
    s
}

/// The RFC 4757 wrap token that seals a DCE/RPC call with RC4-HMAC: GSS header, then
/// TOK_ID 02 01, SGN_ALG 11 00, SEAL_ALG 10 00, filler, sequence, checksum and confounder.
pub fn krb5_seal_verifier(rng: &mut Rng) -> Vec<u8> {
    let mut inner = crate::ber::oid(&[1, 2, 840, 113_554, 1, 2, 2]);
    inner.extend_from_slice(&[0x02, 0x01, 0x11, 0x00, 0x10, 0x00, 0xff, 0xff]);
    inner.extend_from_slice(&rng.bytes(24));
    crate::ber::tlv(0x60, &inner)
}

/// A connectionless (datagram, NCADG) PDU: the 80-byte header of C706 12.5.3.1, then the
/// body. `kind` is a [`ptype`]; little-endian data representation, no authentication, one
/// fragment. `boot` is the server's boot time (0 in a client's first call), `act` the
/// client's activity UUID, which pairs a response with its request.
fn cl_pdu(kind: u8, iface: (&str, u16), act: &[u8; 16], boot: u32, opnum: u16, body: &[u8]) -> Vec<u8> {
    // flags1: 0x20 idempotent on requests (ept.idl declares ept_map [idempotent]); none on
    // the response.
    let flags1 = if kind == ptype::REQUEST { 0x20 } else { 0 };
    let mut m = vec![4, kind, flags1, 0, 0x10, 0, 0, 0];
    m.extend_from_slice(&[0; 16]); // object: nil
    m.extend_from_slice(&uuid(iface.0));
    m.extend_from_slice(act);
    m.extend_from_slice(&boot.to_le_bytes());
    m.extend_from_slice(&u32::from(iface.1).to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // sequence number: the activity's first call
    m.extend_from_slice(&opnum.to_le_bytes());
    m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // interface and activity hints: none
    m.extend_from_slice(&(body.len() as u16).to_le_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]); // fragment 0, auth protocol none, serial low
    assert_eq!(m.len(), 80);
    m.extend_from_slice(body);
    m
}

pub fn cl_request(iface: (&str, u16), act: &[u8; 16], opnum: u16, stub: &[u8]) -> Vec<u8> {
    cl_pdu(ptype::REQUEST, iface, act, 0, opnum, stub)
}

pub fn cl_response(iface: (&str, u16), act: &[u8; 16], boot: u32, opnum: u16, stub: &[u8]) -> Vec<u8> {
    cl_pdu(ptype::RESPONSE, iface, act, boot, opnum, stub)
}

/// A `[string] wchar_t*` in NDR: maximum count, offset 0, actual count, UTF-16LE with its
/// terminating NUL. No padding after it: NDR aligns each item to its own size before it, so
/// what follows decides (an 8-byte `CHAR` array follows directly).
fn ndr_wstring(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().chain([0]).collect();
    let n = units.len() as u32;
    let mut v = n.to_le_bytes().to_vec();
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&n.to_le_bytes());
    v.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    v
}

/// Pads an NDR stream to a 4-byte boundary (before a 32-bit item).
fn align4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// NetrServerReqChallenge (MS-NRPC 3.5.4.4.1, opnum 4) request stub: PrimaryName (a unique
/// pointer), ComputerName, and the 8-byte client challenge.
pub fn netr_server_req_challenge(server: &str, computer: &str, challenge: &[u8]) -> Vec<u8> {
    let mut s = 0x0002_0000u32.to_le_bytes().to_vec(); // referent of PrimaryName
    s.extend_from_slice(&ndr_wstring(server));
    align4(&mut s);
    s.extend_from_slice(&ndr_wstring(computer));
    s.extend_from_slice(challenge);
    s
}

/// Its response stub: the server challenge and NTSTATUS 0 (STATUS_SUCCESS).
pub fn netr_server_req_challenge_reply(challenge: &[u8]) -> Vec<u8> {
    [challenge, &0u32.to_le_bytes()].concat()
}

/// A fresh UUID-sized random value (an activity ID, a GUID).
pub fn random_uuid(rng: &mut Rng) -> [u8; 16] {
    let mut u = [0; 16];
    u.copy_from_slice(&rng.bytes(16));
    u
}
