//! NetBIOS over TCP/IP (RFC 1001/1002: name service on UDP 137, datagrams on UDP 138, sessions
//! on TCP 139) and the SMB1 messages Windows 2000 sends over it and over TCP 445. Strings are
//! OEM (FLAGS2 Unicode clear): valid SMB, and it keeps the alignment rules simple.

use std::net::Ipv4Addr;

/// RFC 1001 14.1 first-level encoding: 16 bytes (name padded with spaces, then the suffix
/// byte), each nibble as 'A' + nibble, as a 32-byte label, then the empty root label.
pub fn encode_name(name: &str, suffix: u8) -> Vec<u8> {
    let mut raw = [b' '; 16];
    for (i, b) in name.bytes().take(15).enumerate() {
        raw[i] = b.to_ascii_uppercase();
    }
    raw[15] = suffix;
    let mut v = vec![32];
    for b in raw {
        v.push(b'A' + (b >> 4));
        v.push(b'A' + (b & 0x0f));
    }
    v.push(0);
    v
}

/// Name query (RFC 1002 4.2.12). `broadcast` sets the B flag, as a B-node asking the LAN does.
pub fn name_query(id: u16, name: &str, suffix: u8, broadcast: bool) -> Vec<u8> {
    let flags: u16 = if broadcast { 0x0110 } else { 0x0100 };
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&encode_name(name, suffix));
    m.extend_from_slice(&[0, 0x20, 0, 1]); // NB, IN
    m
}

/// Positive name query response (RFC 1002 4.2.13), one address, B-node, unique name.
pub fn name_response(id: u16, name: &str, suffix: u8, addr: Ipv4Addr) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&0x8500u16.to_be_bytes()); // response, AA, RD
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(&encode_name(name, suffix));
    m.extend_from_slice(&[0, 0x20, 0, 1]);
    m.extend_from_slice(&300_000u32.to_be_bytes()); // TTL Windows uses: 3 days 11 h
    m.extend_from_slice(&[0, 6, 0, 0]);
    m.extend_from_slice(&addr.octets());
    m
}

/// A NetBIOS datagram (RFC 1002 4.4.2): direct unique (0x10) or direct group (0x11) carrying
/// an SMB mailslot message.
pub fn datagram(
    group: bool,
    id: u16,
    src: Ipv4Addr,
    from: (&str, u8),
    to: (&str, u8),
    user: &[u8],
) -> Vec<u8> {
    let names = [encode_name(from.0, from.1), encode_name(to.0, to.1)].concat();
    // Flags 0x02: first fragment, no more, sent by a B-node.
    let mut m = vec![if group { 0x11 } else { 0x10 }, 0x02];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&src.octets());
    m.extend_from_slice(&138u16.to_be_bytes());
    m.extend_from_slice(&((names.len() + user.len()) as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&names);
    m.extend_from_slice(user);
    m
}

/// Ids of the SMB header.
#[derive(Clone, Copy, Default)]
pub struct Ids {
    pub tid: u16,
    pub pid: u16,
    pub uid: u16,
    pub mid: u16,
}

pub mod cmd {
    pub const CLOSE: u8 = 0x04;
    pub const TRANSACTION: u8 = 0x25;
    pub const READ_ANDX: u8 = 0x2e;
    pub const WRITE_ANDX: u8 = 0x2f;
    pub const TREE_DISCONNECT: u8 = 0x71;
    pub const NEGOTIATE: u8 = 0x72;
    pub const SESSION_SETUP_ANDX: u8 = 0x73;
    pub const LOGOFF_ANDX: u8 = 0x74;
    pub const TREE_CONNECT_ANDX: u8 = 0x75;
    pub const NT_CREATE_ANDX: u8 = 0xa2;
}

/// An SMB1 message: 32-byte header, word block, byte block (MS-CIFS 2.2.3).
pub fn smb(command: u8, response: bool, ids: Ids, words: &[u8], bytes: &[u8]) -> Vec<u8> {
    assert!(words.len().is_multiple_of(2));
    let mut m = b"\xffSMB".to_vec();
    m.push(command);
    m.extend_from_slice(&[0, 0, 0, 0]); // status: success
    // Case-insensitive, canonicalised paths; 0x80 marks a reply.
    m.push(if response { 0x98 } else { 0x18 });
    // FLAGS2: long names, EAs, 32-bit NT status codes.
    m.extend_from_slice(&0x4003u16.to_le_bytes());
    m.extend_from_slice(&[0; 12]); // PID high, signature, reserved
    for v in [ids.tid, ids.pid, ids.uid, ids.mid] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.push((words.len() / 2) as u8);
    m.extend_from_slice(words);
    m.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    m.extend_from_slice(bytes);
    m
}

/// A NetBIOS session message: 1 byte type 0, then the length in 3 bytes (RFC 1002 4.3.1;
/// on TCP 445 all 24 bits are length).
pub fn nbss(message: &[u8]) -> Vec<u8> {
    let n = message.len();
    let mut m = vec![0, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(message);
    m
}

/// Session request on TCP 139 (RFC 1002 4.3.2).
pub fn session_request(called: &str, calling: &str) -> Vec<u8> {
    let names = [encode_name(called, 0x20), encode_name(calling, 0x00)].concat();
    let mut m = vec![0x81, 0, 0, names.len() as u8];
    m.extend_from_slice(&names);
    m
}

pub fn session_positive_response() -> Vec<u8> {
    vec![0x82, 0, 0, 0]
}

fn words(fields: &[&[u8]]) -> Vec<u8> {
    fields.concat()
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// "No further command" AndX block.
const ANDX_NONE: [u8; 4] = [0xff, 0, 0, 0];

pub fn negotiate_request(ids: Ids) -> Vec<u8> {
    // The six dialects Windows 2000 offers, oldest first.
    let mut b = vec![];
    for d in [
        "PC NETWORK PROGRAM 1.0",
        "LANMAN1.0",
        "Windows for Workgroups 3.1a",
        "LM1.2X002",
        "LANMAN2.1",
        "NT LM 0.12",
    ] {
        b.push(2);
        b.extend_from_slice(&cstr(d));
    }
    nbss(&smb(cmd::NEGOTIATE, false, ids, &[], &b))
}

/// NT LM 0.12 response without extended security: an 8-byte challenge and the domain name.
pub fn negotiate_response(ids: Ids, challenge: &[u8], domain: &str, time: u64) -> Vec<u8> {
    let w = words(&[
        &5u16.to_le_bytes(),           // dialect index: NT LM 0.12
        &[0x03],                       // user-level security, challenge/response
        &50u16.to_le_bytes(),          // max multiplex
        &1u16.to_le_bytes(),           // max VCs
        &16_644u32.to_le_bytes(),      // max buffer: the Windows 2000 server default
        &65_536u32.to_le_bytes(),      // max raw
        &0u32.to_le_bytes(),           // session key
        &0x0000_e3fdu32.to_le_bytes(), // capabilities (no Unicode, no extended security)
        &time.to_le_bytes(),           // FILETIME
        &0u16.to_le_bytes(),           // time zone: UTC
        &[8],                          // challenge length
    ]);
    let b = [challenge, &cstr(domain)].concat();
    nbss(&smb(cmd::NEGOTIATE, true, ids, &w, &b))
}

pub fn session_setup_request(ids: Ids, user: &str, domain: &str, lm: &[u8], nt: &[u8]) -> Vec<u8> {
    let w = words(&[
        &ANDX_NONE,
        &16_644u16.to_le_bytes(),
        &50u16.to_le_bytes(),
        &0u16.to_le_bytes(), // VC number
        &0u32.to_le_bytes(),
        &(lm.len() as u16).to_le_bytes(),
        &(nt.len() as u16).to_le_bytes(),
        &0u32.to_le_bytes(),
        &0x0000_00d4u32.to_le_bytes(), // NT SMBs, NT status, level II oplocks, RPC remote APIs
    ]);
    let b =
        [lm, nt, &cstr(user), &cstr(domain), &cstr("Windows 2000 2195"), &cstr("Windows 2000 5.0")].concat();
    nbss(&smb(cmd::SESSION_SETUP_ANDX, false, ids, &w, &b))
}

pub fn session_setup_response(ids: Ids, domain: &str) -> Vec<u8> {
    let w = words(&[&ANDX_NONE, &0u16.to_le_bytes()]);
    let b = [cstr("Windows 5.0"), cstr("Windows 2000 LAN Manager"), cstr(domain)].concat();
    nbss(&smb(cmd::SESSION_SETUP_ANDX, true, ids, &w, &b))
}

pub fn tree_connect_request(ids: Ids, path: &str, service: &str) -> Vec<u8> {
    let w = words(&[&ANDX_NONE, &0u16.to_le_bytes(), &1u16.to_le_bytes()]);
    let b = [vec![0], cstr(path), cstr(service)].concat();
    nbss(&smb(cmd::TREE_CONNECT_ANDX, false, ids, &w, &b))
}

pub fn tree_connect_response(ids: Ids, service: &str) -> Vec<u8> {
    let w = words(&[&ANDX_NONE, &1u16.to_le_bytes()]); // optional support: search bits
    let b = [cstr(service), cstr("NTFS")].concat();
    nbss(&smb(cmd::TREE_CONNECT_ANDX, true, ids, &w, &b))
}

pub fn nt_create_request(ids: Ids, name: &str) -> Vec<u8> {
    let name = cstr(name);
    let w = words(&[
        &ANDX_NONE,
        &[0],
        &(name.len() as u16).to_le_bytes(),
        &0x16u32.to_le_bytes(),        // request oplock, batch oplock, extended response
        &0u32.to_le_bytes(),           // root FID
        &0x0012_0089u32.to_le_bytes(), // generic read
        &0u64.to_le_bytes(),           // allocation size
        &0u32.to_le_bytes(),           // attributes
        &0x3u32.to_le_bytes(),         // share read|write
        &1u32.to_le_bytes(),           // open existing
        &0x40u32.to_le_bytes(),        // non-directory file
        &2u32.to_le_bytes(),           // impersonation
        &[0],
    ]);
    nbss(&smb(cmd::NT_CREATE_ANDX, false, ids, &w, &name))
}

pub fn nt_create_response(ids: Ids, fid: u16, size: u64, time: u64) -> Vec<u8> {
    let w = words(&[
        &ANDX_NONE,
        &[0], // no oplock
        &fid.to_le_bytes(),
        &1u32.to_le_bytes(), // opened
        &time.to_le_bytes(),
        &time.to_le_bytes(),
        &time.to_le_bytes(),
        &time.to_le_bytes(),
        &0x20u32.to_le_bytes(), // archive
        &size.next_multiple_of(4096).to_le_bytes(),
        &size.to_le_bytes(),
        &0u16.to_le_bytes(), // disk file
        &0u16.to_le_bytes(),
        &[0],
    ]);
    nbss(&smb(cmd::NT_CREATE_ANDX, true, ids, &w, &[]))
}

pub fn read_request(ids: Ids, fid: u16, offset: u32, count: u16) -> Vec<u8> {
    let w = words(&[
        &ANDX_NONE,
        &fid.to_le_bytes(),
        &offset.to_le_bytes(),
        &count.to_le_bytes(),
        &count.to_le_bytes(),
        &0u32.to_le_bytes(),
        &count.to_le_bytes(),
        &0u32.to_le_bytes(),
    ]);
    nbss(&smb(cmd::READ_ANDX, false, ids, &w, &[]))
}

pub fn read_response(ids: Ids, data: &[u8]) -> Vec<u8> {
    // Data starts after header (32), word count (1), 12 words (24), byte count (2) and one pad
    // byte that puts it on an even offset.
    let w = words(&[
        &ANDX_NONE,
        &0xffffu16.to_le_bytes(), // available: not a pipe
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &(data.len() as u16).to_le_bytes(),
        &60u16.to_le_bytes(),
        &[0; 10],
    ]);
    let b = [&[0u8][..], data].concat();
    nbss(&smb(cmd::READ_ANDX, true, ids, &w, &b))
}

pub fn write_request(ids: Ids, fid: u16, offset: u32, data: &[u8]) -> Vec<u8> {
    // Data after header (32), word count (1), 14 words (28), byte count (2), one pad byte.
    let w = words(&[
        &ANDX_NONE,
        &fid.to_le_bytes(),
        &offset.to_le_bytes(),
        &0u32.to_le_bytes(),
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &(data.len() as u16).to_le_bytes(),
        &64u16.to_le_bytes(),
        &0u32.to_le_bytes(),
    ]);
    let b = [&[0u8][..], data].concat();
    nbss(&smb(cmd::WRITE_ANDX, false, ids, &w, &b))
}

pub fn write_response(ids: Ids, count: u16) -> Vec<u8> {
    let w = words(&[&ANDX_NONE, &count.to_le_bytes(), &0xffffu16.to_le_bytes(), &[0; 4]]);
    nbss(&smb(cmd::WRITE_ANDX, true, ids, &w, &[]))
}

pub fn close_request(ids: Ids, fid: u16) -> Vec<u8> {
    let w = words(&[&fid.to_le_bytes(), &0xffff_ffffu32.to_le_bytes()]);
    nbss(&smb(cmd::CLOSE, false, ids, &w, &[]))
}

pub fn empty(command: u8, response: bool, ids: Ids) -> Vec<u8> {
    nbss(&smb(command, response, ids, &[], &[]))
}

pub fn logoff(response: bool, ids: Ids) -> Vec<u8> {
    nbss(&smb(cmd::LOGOFF_ANDX, response, ids, &ANDX_NONE, &[]))
}

/// A mailslot write (SMB Transaction, MS-MAIL 2.2.1) as NetBIOS datagrams carry it.
pub fn mailslot(name: &str, data: &[u8]) -> Vec<u8> {
    let name = cstr(name);
    // Header 32 + word count 1 + 17 words 34 + byte count 2, then the name, then the data.
    let off = (32 + 1 + 34 + 2 + name.len()) as u16;
    let w = words(&[
        &0u16.to_le_bytes(),
        &(data.len() as u16).to_le_bytes(),
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &[0, 0],
        &0u16.to_le_bytes(),
        &0u32.to_le_bytes(),
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &off.to_le_bytes(),
        &(data.len() as u16).to_le_bytes(),
        &off.to_le_bytes(),
        &[3, 0],
        &1u16.to_le_bytes(), // mailslot write
        &1u16.to_le_bytes(), // priority
        &2u16.to_le_bytes(), // class 2: unreliable, may be broadcast
    ]);
    let b = [name, data.to_vec()].concat();
    smb(cmd::TRANSACTION, false, Ids::default(), &w, &b)
}

/// Browser announcement (MS-BRWS 2.2.1, 2.2.6): host (1), domain (12) or local master (15).
pub fn browser_announcement(opcode: u8, update: u8, name: &str, server_type: u32, comment: &str) -> Vec<u8> {
    let mut d = vec![opcode, update];
    d.extend_from_slice(&720_000u32.to_le_bytes()); // announce every 12 minutes
    let mut n = [0u8; 16];
    n[..name.len()].copy_from_slice(name.as_bytes());
    d.extend_from_slice(&n);
    d.extend_from_slice(&[5, 0]); // OS 5.0
    d.extend_from_slice(&server_type.to_le_bytes());
    d.extend_from_slice(&[15, 1]); // browser protocol 15.1
    d.extend_from_slice(&0xaa55u16.to_le_bytes());
    d.extend_from_slice(&cstr(comment));
    mailslot("\\MAILSLOT\\BROWSE", &d)
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
}

/// NETLOGON "query for primary DC" (opcode 7, MS-ADTS 6.3.1.2 LOGON_PRIMARY_QUERY) to the
/// domain's NETLOGON mailslot; the answer goes to `reply_slot` on the asking host.
pub fn netlogon_pdc_query(host: &str, reply_slot: &str) -> Vec<u8> {
    let mut d = 7u16.to_le_bytes().to_vec();
    d.extend_from_slice(&cstr(host));
    d.extend_from_slice(&cstr(reply_slot));
    if d.len() % 2 == 1 {
        d.push(0);
    }
    d.extend_from_slice(&utf16z(host));
    d.extend_from_slice(&0x0000_000bu32.to_le_bytes()); // NT version 1 | 2 (5) | 8 (5EX with IP)
    d.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // LMNT token, LM20 token
    mailslot("\\MAILSLOT\\NET\\NETLOGON", &d)
}

/// LOGON_PRIMARY_RESPONSE (opcode 12).
pub fn netlogon_pdc_response(reply_slot: &str, pdc: &str, domain: &str) -> Vec<u8> {
    let mut d = 12u16.to_le_bytes().to_vec();
    d.extend_from_slice(&cstr(pdc));
    if d.len() % 2 == 1 {
        d.push(0);
    }
    d.extend_from_slice(&utf16z(pdc));
    d.extend_from_slice(&utf16z(domain));
    d.extend_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    mailslot(reply_slot, &d)
}

// ---- SMB 2 (MS-SMB2) ----

/// The 64-byte SMB2 sync header (MS-SMB2 2.2.1.2): command, credits, response flag, message
/// ID; no tree, no session, no signature.
fn smb2_header(command: u16, response: bool, message_id: u64) -> Vec<u8> {
    let mut h = vec![0xfe, b'S', b'M', b'B'];
    h.extend_from_slice(&64u16.to_le_bytes()); // structure size
    h.extend_from_slice(&0u16.to_le_bytes()); // credit charge
    h.extend_from_slice(&0u32.to_le_bytes()); // status (channel sequence in a request)
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // credits requested or granted
    h.extend_from_slice(&u32::from(response).to_le_bytes()); // flags: SMB2_FLAGS_SERVER_TO_REDIR
    h.extend_from_slice(&0u32.to_le_bytes()); // next command
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // reserved (process ID)
    h.extend_from_slice(&0u32.to_le_bytes()); // tree ID
    h.extend_from_slice(&0u64.to_le_bytes()); // session ID
    h.extend_from_slice(&[0; 16]); // signature
    h
}

/// SMB2 NEGOTIATE request (MS-SMB2 2.2.3) offering `dialects`, over NBSS.
pub fn smb2_negotiate_request(client_guid: &[u8], dialects: &[u16]) -> Vec<u8> {
    let mut m = smb2_header(0, false, 0);
    m.extend_from_slice(&36u16.to_le_bytes()); // structure size
    m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // security mode: signing enabled
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // capabilities
    m.extend_from_slice(client_guid);
    m.extend_from_slice(&0u64.to_le_bytes()); // client start time (no negotiate contexts)
    for d in dialects {
        m.extend_from_slice(&d.to_le_bytes());
    }
    nbss(&m)
}

/// The SPNEGO negTokenInit (RFC 4178 4.2.1) a server returns in its NEGOTIATE response:
/// mechanisms Kerberos (MS KRB5 and KRB5) and NTLMSSP.
fn spnego_init() -> Vec<u8> {
    use crate::ber::{ctx, oid, seq, tlv};
    let mechs = seq(&[
        oid(&[1, 2, 840, 48018, 1, 2, 2]),
        oid(&[1, 2, 840, 113_554, 1, 2, 2]),
        oid(&[1, 3, 6, 1, 4, 1, 311, 2, 2, 10]),
    ]);
    let init = ctx(0, &seq(&[ctx(0, &mechs)]));
    tlv(0x60, &[oid(&[1, 3, 6, 1, 5, 5, 2]), init].concat())
}

/// SMB2 NEGOTIATE response (MS-SMB2 2.2.4) choosing `dialect`, over NBSS. `time` and
/// `boot` are FILETIMEs.
pub fn smb2_negotiate_response(server_guid: &[u8], dialect: u16, time: u64, boot: u64) -> Vec<u8> {
    let blob = spnego_init();
    let mut m = smb2_header(0, true, 0);
    m.extend_from_slice(&65u16.to_le_bytes()); // structure size
    m.extend_from_slice(&1u16.to_le_bytes()); // security mode: signing enabled
    m.extend_from_slice(&dialect.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(server_guid);
    m.extend_from_slice(&1u32.to_le_bytes()); // capabilities: DFS
    for max in [65_536u32, 65_536, 65_536] {
        m.extend_from_slice(&max.to_le_bytes()); // transact, read, write sizes
    }
    m.extend_from_slice(&time.to_le_bytes());
    m.extend_from_slice(&boot.to_le_bytes());
    m.extend_from_slice(&128u16.to_le_bytes()); // security buffer: after the 64 + 64 bytes
    m.extend_from_slice(&(blob.len() as u16).to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&blob);
    nbss(&m)
}
