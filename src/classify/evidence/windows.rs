//! Checks for the protocols behind Windows 2000's own services: NBSS and SMB, DCE/RPC,
//! TPKT/X.224, TDS, Kerberos, LDAP and CLDAP, NetBIOS name and datagram services, SNMP.
//!
//! Each check reads only fixed fields the specification gives (versions, reserved bits,
//! known type codes, lengths that must agree with each other and with the payload) and says
//! yes only when all of them are present and right. A payload may be a prefix of its message
//! (a PDU split across TCP segments, a capture cut by the snaplen, [`super::LOOK`]): a length
//! field is therefore checked to cover the payload, never to equal it, unless the message
//! always travels whole (NBSS control messages, TDS attention).

use super::{Evidence, Proto};

/// A TCP payload.
#[must_use]
pub fn tcp(payload: &[u8]) -> Option<Evidence> {
    // Each protocol's first byte is fixed, or nearly: dispatch on it, so that the middle of a
    // transfer (most segments) costs one branch, not a call to every check.
    match *payload.first()? {
        // An NBSS session message (SMB1/2 inside), or Kerberos's length prefix.
        0x00 => nbss(payload).or_else(|| kerberos_tcp(payload)),
        0x81..=0x85 => nbss(payload),
        0x05 => dcerpc_co(payload),
        // TPKT version 3, or TDS's RPC packet type 3.
        0x03 => tpkt(payload).or_else(|| tds(payload)),
        0x01 | 0x02 | 0x04 | 0x06 | 0x07 | 0x0e..=0x12 => tds(payload),
        0x30 => ldap(payload, Proto::Ldap),
        _ => None,
    }
}

/// A UDP payload.
#[must_use]
pub fn udp(payload: &[u8]) -> Option<Evidence> {
    // In the same order as ever, but each check only where its first byte can be: NBNS starts
    // with a transaction id (any byte), the others with a fixed type or tag.
    let b0 = *payload.first()?;
    nbns(payload)
        .or_else(|| (0x10..=0x16).contains(&b0).then(|| nbdgm(payload)).flatten())
        .or_else(|| (b0 == 0x04).then(|| dcerpc_cl(payload)).flatten())
        .or_else(|| (0x6a..=0x7e).contains(&b0).then(|| kerberos(payload)).flatten())
        .or_else(|| (b0 == 0x30).then(|| ldap(payload, Proto::Cldap).or_else(|| snmp(payload))).flatten())
}

// ---------------------------------------------------------------------------------------
// Small readers: every one returns None past the slice.

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..)?.first_chunk::<2>()?;
    Some(usize::from(u16::from_be_bytes(*s)))
}

fn le16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..)?.first_chunk::<2>()?;
    Some(usize::from(u16::from_le_bytes(*s)))
}

fn u16_in(b: &[u8], at: usize, little: bool) -> Option<usize> {
    if little { le16(b, at) } else { be16(b, at) }
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..)?.first_chunk::<4>()?;
    Some(u32::from_le_bytes(*s))
}

fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// A BER/DER element header: (tag, header length, content length). Single-byte tags and
/// definite lengths only: LDAP (RFC 4511 §5.1), SNMP (RFC 3417 §8) and Kerberos (DER,
/// RFC 4120 §5) never use the indefinite form nor tags above 30 in the fields we read. Long
/// lengths of up to four bytes; AD writes `0x84 00 00 00 cc` for short ones, so non-minimal
/// long forms are accepted.
fn tlv(b: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = byte(b, 0)?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = byte(b, 1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = b.get(2..2 + n)?;
    let len = bytes.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
    // No first message we judge comes near 16 MiB; the cap keeps every sum of lengths far
    // from overflowing a 32-bit usize.
    (len < 1 << 24).then_some((tag, 2 + n, len))
}

/// Header plus content length of a BER element.
fn total(hl: usize, cl: usize) -> usize {
    hl.saturating_add(cl)
}

/// A NetBIOS name as RFC 1002 §4.1 writes it: the first-level encoding of the 16-byte name
/// is 32 bytes in `'A'..='P'` behind the length byte 0x20, then the scope as DNS labels, then
/// 0x00. Returns the offset just past the name; None when it is malformed or cut short.
fn nb_name(b: &[u8], at: usize) -> Option<usize> {
    if byte(b, at)? != 0x20 {
        return None;
    }
    let half = b.get(at + 1..at + 33)?;
    if !half.iter().all(|c| (b'A'..=b'P').contains(c)) {
        return None;
    }
    let mut i = at + 33;
    // RFC 1002 §4.1: the whole encoded name, scope included, fits in 255 bytes.
    while i - at <= 255 {
        let l = byte(b, i)?;
        if l == 0 {
            return Some(i + 1);
        }
        if l > 63 {
            return None;
        }
        i += 1 + usize::from(l);
    }
    None
}

/// A DCE/RPC UUID in the canonical (textual) byte order. With a little-endian data
/// representation the first three fields (u32, u16, u16) are stored byte-reversed
/// (C706 appendix A, §12.6.3.1 `packed_drep`).
fn uuid(b: &[u8], at: usize, little: bool) -> Option<[u8; 16]> {
    let mut u = *b.get(at..)?.first_chunk::<16>()?;
    if little {
        u[..4].reverse();
        u[4..6].reverse();
        u[6..8].reverse();
    }
    Some(u)
}

/// C706 §14.1 `packed_drep`: byte 0 is the integer (high nibble: 0 big-endian, 1 little)
/// and character (low nibble: 0 ASCII) representation, byte 1 the floating point one
/// (0 IEEE, 1 VAX, 2 Cray, 3 IBM), the rest reserved as 0. Returns "little-endian".
fn drep(b: &[u8]) -> Option<bool> {
    let little = match byte(b, 0)? {
        0x10 => true,
        0x00 => false,
        _ => return None,
    };
    (byte(b, 1)? <= 3 && byte(b, 2)? == 0).then_some(little)
}

// ---------------------------------------------------------------------------------------
// NBSS (RFC 1002 §4.3) and SMB.

/// RFC 1002 §4.3.1 session packet types; direct-hosted SMB on 445 uses the same 4-byte
/// header with type 0 and a 24-bit length (MS-SMB2 §2.1).
fn nbss(p: &[u8]) -> Option<Evidence> {
    let &[kind, b1, b2, b3] = p.first_chunk::<4>()?;
    let len = usize::from(b1) << 16 | usize::from(b2) << 8 | usize::from(b3);
    match kind {
        0x00 => smb(p, len),
        0x81 => session_request(p, len),
        // Positive response and keepalive: a bare header, always alone in its segment.
        0x82 if p == [0x82, 0, 0, 0] => Some(Evidence::reply(Proto::Nbss, true)),
        0x85 if p == [0x85, 0, 0, 0] => Some(Evidence::of(Proto::Nbss)),
        // Negative response: one error code (§4.3.4: 0x80 not listening on called name,
        // 0x81 not listening for calling name, 0x82 called name not present, 0x83 no
        // resources, 0x8F unspecified error).
        0x83 if matches!(p, [0x83, 0, 0, 1, 0x80..=0x83 | 0x8f]) => Some(Evidence::reply(Proto::Nbss, true)),
        // Retarget response: IP address and port (§4.3.5).
        0x84 if p.len() == 10 && b1 == 0 && len == 6 => Some(Evidence::reply(Proto::Nbss, true)),
        _ => None,
    }
}

/// RFC 1002 §4.3.2: the called and the calling name, each second-level encoded; no flag
/// bits (the two names are far below 64 KiB).
fn session_request(p: &[u8], len: usize) -> Option<Evidence> {
    if byte(p, 1)? != 0 || len < 68 {
        return None;
    }
    let called = nb_name(p, 4)?;
    let calling = nb_name(p, called)?;
    (calling == 4 + len).then_some(Evidence::reply(Proto::Nbss, false))
}

/// MS-CIFS §2.2.2.1: the SMB1 command codes.
fn smb1_command(c: u8) -> bool {
    matches!(
        c,
        0x00..=0x14
            | 0x1a..=0x35
            | 0x70..=0x75
            | 0x7e
            | 0x80..=0x84
            | 0xa0..=0xa2
            | 0xa4
            | 0xa5
            | 0xc0..=0xc3
            | 0xd0..=0xda
    )
}

/// An NBSS session message (type 0) whose 3-byte length covers the payload and whose
/// payload starts with one of the SMB protocol identifiers.
fn smb(p: &[u8], len: usize) -> Option<Evidence> {
    if len + 4 < p.len() {
        return None;
    }
    let body = p.get(4..)?;
    let magic = body.first_chunk::<4>()?;
    match magic {
        // MS-CIFS §2.2.3.1: a 32-byte header, then WordCount and ByteCount.
        [0xff, b'S', b'M', b'B'] => {
            if len < 35 || !smb1_command(byte(body, 4)?) {
                return None;
            }
            // Flags: SMB_FLAGS_REPLY (0x80) marks a server's response.
            let flags = byte(body, 9)?;
            Some(Evidence::reply(Proto::Smb1, flags & 0x80 != 0))
        }
        // MS-SMB2 §2.2.1: StructureSize 64, Command 0..=0x12, Flags with only the defined
        // bits (SERVER_TO_REDIR 0x1, ASYNC 0x2, RELATED 0x4, SIGNED 0x8, PRIORITY 0x70,
        // DFS_OPERATIONS 0x1000_0000, REPLAY_OPERATION 0x2000_0000).
        [0xfe, b'S', b'M', b'B'] => {
            if len < 64 || le16(body, 4)? != 64 || le16(body, 12)? > 0x12 {
                return None;
            }
            let flags = le32(body, 16)?;
            if flags & !0x3000_007f != 0 {
                return None;
            }
            Some(Evidence::reply(Proto::Smb2, flags & 1 != 0))
        }
        // MS-SMB2 §2.2.41 transform header (52 bytes): Reserved 0, Flags/EncryptionAlgorithm
        // 1, and the encrypted message is exactly OriginalMessageSize bytes.
        [0xfd, b'S', b'M', b'B'] => {
            let original = usize::try_from(le32(body, 36)?).ok()?;
            let ok = le16(body, 40)? == 0
                && le16(body, 42)? == 1
                && original >= 64
                && original.checked_add(52) == Some(len);
            ok.then_some(Evidence::of(Proto::Smb2))
        }
        // MS-SMB2 §2.2.42 compression transform header: CompressionAlgorithm 0..=5
        // (NONE, LZNT1, LZ77, LZ77+Huffman, Pattern_V1, LZ4), Flags 0 or 1 (chained).
        [0xfc, b'S', b'M', b'B'] => {
            let ok = len >= 16 && le16(body, 8)? <= 5 && le16(body, 10)? <= 1;
            ok.then_some(Evidence::of(Proto::Smb2))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// DCE/RPC.

/// Connection-oriented DCE/RPC v5 (C706 §12.6.3.1 common header, 16 bytes).
fn dcerpc_co(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<16>()?;
    // rpc_vers 5, rpc_vers_minor 0 or 1.
    if h[0] != 5 || h[1] > 1 {
        return None;
    }
    let (ptype, pfc_flags) = (h[2], h[3]);
    let little = drep(&h[4..8])?;
    // The fourth packed_drep byte is reserved as well.
    if h[7] != 0 {
        return None;
    }
    let frag = u16_in(h, 8, little)?;
    let auth = u16_in(h, 10, little)?;
    // The smallest PDU of each connection-oriented type (C706 §12.6.4; auth3 16 and its
    // 4-byte pad from MS-RPCE §2.2.2.10), and whether it is the server's.
    let (min, reply) = match ptype {
        0 => (24, false),       // request
        2 => (24, true),        // response
        3 => (32, true),        // fault
        11 | 14 => (72, false), // bind, alter_context: one context, one transfer syntax
        12 | 15 => (28, true),  // bind_ack, alter_context_resp
        13 => (18, true),       // bind_nak
        16 => (20, false),      // auth3
        17 => (16, true),       // shutdown (server to client)
        18 | 19 => (16, false), // co_cancel, orphaned
        _ => return None,
    };
    // The auth verifier is an 8-byte sec_trailer plus auth_length bytes (C706 §13.2.6.1).
    let trailer = if auth == 0 { 0 } else { 8 + auth };
    if frag < min + trailer || frag < p.len() {
        return None;
    }
    let mut ev = Evidence::reply(Proto::DceRpcCo, reply);
    if matches!(ptype, 11 | 14) {
        // p_context_list (C706 §12.6.4.3): n_context_elem >= 1, then the first p_cont_elem
        // with n_transfer_syn >= 1 and its abstract syntax at offset 32. Only a first
        // fragment (PFC_FIRST_FRAG) carries it.
        if pfc_flags & 0x01 == 0 || byte(p, 24)? == 0 || byte(p, 30)? == 0 {
            return None;
        }
        ev.interface = Some(uuid(p, 32, little)?);
    }
    Some(ev)
}

/// Connectionless DCE/RPC v4 (C706 §12.5.3.1): an 80-byte header, the interface UUID at
/// offset 24.
fn dcerpc_cl(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<80>()?;
    if h[0] != 4 {
        return None;
    }
    // flags1 0x80 is reserved for future use; flags2 defines only 0x01 (reserved for
    // implementations) and 0x02 (cancel pending).
    if h[2] & 0x80 != 0 || h[3] & 0xfc != 0 {
        return None;
    }
    let little = drep(&h[4..7])?;
    let reply = match h[1] {
        0 | 1 | 7 | 8 => Some(false), // request, ping, ack, cancel
        2..=6 | 10 => Some(true),     // response, fault, working, nocall, reject, cancel_ack
        9 => None,                    // fack: either side
        _ => return None,
    };
    // The body length: with no authentication the header and body are the whole datagram.
    let body = u16_in(h, 74, little)?;
    if h[78] == 0 && 80 + body < p.len() {
        return None;
    }
    Some(Evidence { proto: Proto::DceRpcCl, interface: Some(uuid(h, 24, little)?), reply })
}

// ---------------------------------------------------------------------------------------
// TPKT (RFC 1006 §6) and X.224 (ITU-T X.224 §13, MS-RDPBCGR §2.2.1.1).

fn tpkt(p: &[u8]) -> Option<Evidence> {
    let &[3, 0, _, _, li, code] = p.first_chunk::<6>()? else { return None };
    let len = be16(p, 2)?;
    if len < p.len() {
        return None;
    }
    let li = usize::from(li);
    match code {
        // Connection request / confirm: LI counts every byte after it, class 0 allows no
        // user data, so TPKT length = LI + 5. DST-REF is zero in a request (X.224 §13.3.4).
        // The class option's upper nibble is the class, 0..=4.
        0xe0 | 0xd0 => {
            let ok = li >= 6 && len == li + 5 && (code == 0xd0 || be16(p, 6)? == 0) && byte(p, 10)? >> 4 <= 4;
            ok.then_some(Evidence::reply(Proto::Tpkt, code == 0xd0))
        }
        // Data (X.224 §13.7): LI 2, then EOT and a zero TPDU-NR in class 0.
        0xf0 => {
            let ok = li == 2 && len >= 7 && matches!(byte(p, 6)?, 0x00 | 0x80);
            ok.then_some(Evidence::of(Proto::Tpkt))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// TDS (MS-TDS §2.2.3): an 8-byte packet header, then a type-specific message.

fn tds(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<8>()?;
    let (kind, status) = (h[0], h[1]);
    let len = be16(h, 2)?;
    // §2.2.3.1.2 Status: EOM 0x01, IGNORE 0x02 (only with EOM), 0x04 (seen from real
    // clients on non-final RPC packets), RESETCONNECTION 0x08 and RESETCONNECTIONSKIPTRAN
    // 0x10 (never both). §2.2.3.1.7 Window: unused, 0.
    if status & 0xe0 != 0 || status & 0x03 == 0x02 || status & 0x18 == 0x18 || h[7] != 0 {
        return None;
    }
    // §2.2.3.1.3 Length: header included; a negotiated packet is at most 32,767 bytes. A
    // segment may hold several packets of one message: the next starts with the same type.
    if !(8..=0x8000).contains(&len) || (len < p.len() && byte(p, len)? != kind) {
        return None;
    }
    let data = p.get(8..)?;
    let data_len = len - 8;
    // The reset bits go with batches, RPCs and transaction manager requests only.
    let resets = status & 0x18 != 0;
    let ok = match kind {
        0x01 => {
            all_headers(data, data_len).is_some_and(|at| data.get(at..).is_some_and(|t| ucs2_text(t, 1)))
                || ucs2_text(data, 4)
        }
        0x03 => all_headers(data, data_len)
            .map_or_else(|| rpc_call(data), |at| data.get(at..).is_some_and(rpc_call)),
        0x0e => all_headers(data, data_len).is_some_and(|at| le16(data, at).is_some_and(|t| t <= 10)),
        0x04 => !resets && status & 0x02 == 0 && tabular(data, data_len),
        0x06 => !resets && p.len() == 8 && len == 8,
        0x10 => !resets && login7(data, data_len, status),
        0x11 => !resets && (data.starts_with(b"NTLMSSP\0") || matches!(data.first(), Some(0x60 | 0xa1))),
        0x12 => !resets && prelogin(data, data_len),
        _ => false,
    };
    ok.then_some(Evidence::reply(Proto::Tds, kind == 0x04))
}

/// §2.2.5.3 ALL_HEADERS (TDS 7.2+): TotalLength u32, then headers of HeaderLength u32 and
/// HeaderType u16 (1 query notifications, 2 transaction descriptor, 3 trace activity).
/// Returns the offset past it.
fn all_headers(data: &[u8], data_len: usize) -> Option<usize> {
    let total = usize::try_from(le32(data, 0)?).ok()?;
    let first = usize::try_from(le32(data, 4)?).ok()?;
    let ok = total <= data_len
        && first >= 6
        && first < total
        && total - first >= 4
        && (1..=3).contains(&le16(data, 8)?);
    ok.then_some(total)
}

/// At least `n` UTF-16LE characters of printable ASCII or whitespace (SQL text, names).
fn ucs2_text(b: &[u8], n: usize) -> bool {
    let Some(chars) = b.get(..2 * n) else { return false };
    chars.chunks_exact(2).all(|c| c[1] == 0 && (c[0].is_ascii_graphic() || c[0].is_ascii_whitespace()))
}

/// §2.2.6.6 RPCRequest: NameLenProcID u16 then the name in UTF-16LE, or 0xFFFF and a
/// well-known ProcID (1..=15).
fn rpc_call(b: &[u8]) -> bool {
    match le16(b, 0) {
        Some(0xffff) => le16(b, 2).is_some_and(|id| (1..=15).contains(&id)),
        Some(n @ 1..=128) => b.get(2..).is_some_and(|name| ucs2_text(name, n.min(4))),
        _ => false,
    }
}

/// §2.2.6.5 PRELOGIN: option tokens (type, offset u16, length u16) ended by 0xFF; VERSION
/// (type 0, 6 bytes) first; the data follows the token list at offset 5n + 1; every option
/// lies inside the message.
fn prelogin(data: &[u8], data_len: usize) -> bool {
    if data.first_chunk::<5>().is_none_or(|t| t[0] != 0 || t[3..] != [0, 6]) {
        return false;
    }
    let mut n = 0;
    loop {
        let Some(t) = data.get(5 * n..) else { return false };
        match t.first() {
            Some(0xff) => break,
            Some(0..=8) => {}
            _ => return false,
        }
        let (Some(off), Some(len)) = (be16(t, 1), be16(t, 3)) else { return false };
        if off + len > data_len {
            return false;
        }
        n += 1;
    }
    be16(data, 1) == Some(5 * n + 1)
}

/// §2.2.6.4 LOGIN7: Length u32 (the whole login record, in this packet unless it goes on
/// in the next), TDSVersion with major 7.0..=7.4 (0x70..=0x74 in its last byte) or 8.0.
fn login7(data: &[u8], data_len: usize, status: u8) -> bool {
    let (Some(record), Some(version)) = (le32(data, 0), le32(data, 4)) else { return false };
    let Ok(record) = usize::try_from(record) else { return false };
    let whole = record == data_len || (status & 0x01 == 0 && record > data_len);
    whole && record >= 94 && ((0x70..=0x74).contains(&(version >> 24)) || version == 0x0800_0000)
}

/// §2.2.7 tokens a server's first tabular result starts with: the PRELOGIN response (whose
/// data is option tokens), ENVCHANGE 0xE3 (type 1..=20), ERROR 0xAA / INFO 0xAB (class
/// 0..=25), LOGINACK 0xAD (interface 0 or 1), COLMETADATA 0x81 (count >= 1), DONE 0xFD /
/// DONEPROC 0xFE / DONEINPROC 0xFF (status with only the defined bits).
fn tabular(data: &[u8], data_len: usize) -> bool {
    let Some(&token) = data.first() else { return false };
    let at = |i| byte(data, i);
    match token {
        0x00 => prelogin(data, data_len),
        0xe3 => at(3).is_some_and(|t| (1..=20).contains(&t)),
        0xaa | 0xab => at(8).is_some_and(|class| class <= 25),
        0xad => at(3).is_some_and(|i| i <= 1),
        0x81 => le16(data, 1).is_some_and(|n| n >= 1),
        0xfd..=0xff => le16(data, 1).is_some_and(|s| s & !0x0137 == 0),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Kerberos (RFC 4120 §5.4.1, §5.4.2, §5.9.1).

/// A KDC message: [APPLICATION n] SEQUENCE whose first fields are pvno 5 and msg-type n.
/// KDC-REQ numbers them [1] and [2], KDC-REP and KRB-ERROR [0] and [1]; DER writes each as
/// exactly `a? 03 02 01 vv`. The message covers the payload.
fn kerberos(p: &[u8]) -> Option<Evidence> {
    let (tag, hl, cl) = tlv(p)?;
    let (msg_type, reply) = match tag {
        0x6a => (10, false), // AS-REQ
        0x6b => (11, true),  // AS-REP
        0x6c => (12, false), // TGS-REQ
        0x6d => (13, true),  // TGS-REP
        0x7e => (30, true),  // KRB-ERROR
        _ => return None,
    };
    if total(hl, cl) < p.len() {
        return None;
    }
    let inner = p.get(hl..)?;
    let (seq, shl, scl) = tlv(inner)?;
    if seq != 0x30 || total(shl, scl) != cl {
        return None;
    }
    let (pvno, mtype) = if reply { (0xa0, 0xa1) } else { (0xa1, 0xa2) };
    inner
        .get(shl..)?
        .starts_with(&[pvno, 3, 2, 1, 5, mtype, 3, 2, 1, msg_type])
        .then_some(Evidence::reply(Proto::Kerberos, reply))
}

/// RFC 4120 §7.2.2: over TCP each message follows a 4-byte big-endian length whose high
/// bit is reserved (0); it equals the message's DER length.
fn kerberos_tcp(p: &[u8]) -> Option<Evidence> {
    let len = u32::from_be_bytes(*p.first_chunk::<4>()?);
    let msg = p.get(4..)?;
    let (_, hl, cl) = tlv(msg)?;
    if len & 0x8000_0000 != 0 || usize::try_from(len).ok()? != total(hl, cl) {
        return None;
    }
    kerberos(msg)
}

// ---------------------------------------------------------------------------------------
// LDAP (RFC 4511 §4.1.1, §4.2..§4.14) and CLDAP.

/// An LDAPMessage: SEQUENCE { messageID INTEGER (0..2^31-1), protocolOp, controls [0] }.
/// The protocolOp lies inside the SEQUENCE and its first content is what its definition
/// says. A segment or a CLDAP datagram may hold more than one message (a searchResEntry
/// and its searchResDone): the SEQUENCE covers the payload or another message follows.
fn ldap(p: &[u8], proto: Proto) -> Option<Evidence> {
    let (seq, hl, cl) = tlv(p)?;
    let end = total(hl, cl);
    if seq != 0x30 || (end < p.len() && byte(p, end)? != 0x30) {
        return None;
    }
    let body = p.get(hl..)?;
    let (int, ihl, icl) = tlv(body)?;
    if int != 0x02 || !(1..=4).contains(&icl) || byte(body, ihl)? & 0x80 != 0 {
        return None;
    }
    let mut at = ihl + icl;
    // RFC 1798 §3 CLDAP (LDAPv2) puts a `user` LDAPDN between messageID and protocolOp.
    if proto == Proto::Cldap && byte(body, at)? == 0x04 {
        let (_, uhl, ucl) = tlv(body.get(at..)?)?;
        at += total(uhl, ucl);
    }
    let op = body.get(at..)?;
    let (tag, ohl, ocl) = tlv(op)?;
    if at + total(ohl, ocl) > cl {
        return None;
    }
    let first = || byte(op, ohl);
    // LDAPResult (§4.1.9) starts with resultCode ENUMERATED, one byte for every code.
    let result = || op.get(ohl..ohl + 2) == Some(&[0x0a, 0x01]);
    let (ok, reply) = match tag {
        0x60 => {
            (op.get(ohl..ohl + 2) == Some(&[0x02, 0x01]) && matches!(byte(op, ohl + 2), Some(1..=3)), false)
        } // bindRequest: version
        0x42 => (ocl == 0, false), // unbindRequest: NULL
        0x4a => (true, false),     // delRequest: LDAPDN
        0x50 => ((1..=4).contains(&ocl) && first()? & 0x80 == 0, false), // abandonRequest: MessageID
        0x63 | 0x66 | 0x68 | 0x6c | 0x6e => (first() == Some(0x04), false), // search, modify, add, modDN, compare
        0x77 => (first() == Some(0x80), false),                             // extendedReq: requestName [0]
        0x64 | 0x73 => (first() == Some(0x04), true),                       // searchResEntry, searchResRef
        0x61 | 0x65 | 0x67 | 0x69 | 0x6b | 0x6d | 0x6f | 0x78 => (result(), true), // results
        0x79 => (ocl == 0 || matches!(first(), Some(0x80 | 0x81)), true),   // intermediateResponse
        _ => return None,
    };
    ok.then_some(Evidence::reply(proto, reply))
}

// ---------------------------------------------------------------------------------------
// NetBIOS name service (RFC 1002 §4.2.1) and datagram service (§4.4.1).

fn nbns(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<12>()?;
    let flags = be16(h, 2)?;
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let [qd, an, ns, ar] = [be16(h, 4)?, be16(h, 6)?, be16(h, 8)?, be16(h, 10)?];
    // OPCODE: query 0, registration 5, release 6, WACK 7, refresh 8 (9 in Microsoft's
    // implementation), multi-homed registration 15. NM_FLAGS bits 0x0060 are reserved 0.
    if !matches!(opcode, 0 | 5..=9 | 15) || flags & 0x0060 != 0 {
        return None;
    }
    // Every NBNS packet has one question (requests) or one answer (responses), at most one
    // authority and one additional record. A request has AA, RA and RCODE zero.
    let counts = if response {
        qd == 0 && an == 1 && ns <= 1 && ar <= 1
    } else {
        qd == 1 && an == 0 && ns == 0 && ar <= 1 && flags & 0x048f == 0
    };
    if !counts {
        return None;
    }
    let end = nb_name(p, 12)?;
    // QUESTION_TYPE / RR_TYPE NB 0x20 or NBSTAT 0x21, class IN.
    let ok = matches!(be16(p, end)?, 0x20 | 0x21) && be16(p, end + 2)? == 1;
    ok.then_some(Evidence::reply(Proto::NbNs, response))
}

fn nbdgm(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<10>()?;
    // FLAGS: 4 reserved bits 0, SNT (2 bits), F (first), M (more).
    if h[1] & 0xf0 != 0 {
        return None;
    }
    match h[0] {
        // Direct unique, direct group, broadcast: DGM_LENGTH counts the names and user data
        // after the 14-byte header; PACKET_OFFSET is 0 in a first fragment.
        0x10..=0x12 => {
            let dgm_len = be16(p, 10)?;
            let offset = be16(p, 12)?;
            if (h[1] & 0x02 != 0 && offset != 0) || dgm_len < 68 || 14 + dgm_len < p.len() {
                return None;
            }
            let source = nb_name(p, 14)?;
            let dest = nb_name(p, source)?;
            (dest <= 14 + dgm_len).then_some(Evidence::of(Proto::NbDgm))
        }
        // Error: ERROR_CODE 0x82 destination name not present, 0x83 invalid source name,
        // 0x84 invalid destination name.
        0x13 if p.len() == 11 && matches!(byte(p, 10), Some(0x82..=0x84)) => Some(Evidence::of(Proto::NbDgm)),
        // Query request, positive and negative query response: the destination name only.
        0x14..=0x16 => (nb_name(p, 10)? == p.len()).then_some(Evidence::reply(Proto::NbDgm, h[0] != 0x14)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// SNMP (RFC 1157 §4, RFC 3416 §3, RFC 3412 §6).

/// Message ::= SEQUENCE { version INTEGER, ... } covering the datagram. v1 (0) and v2c (1):
/// community OCTET STRING, then one PDU (tags 0xa0..=0xa4 in v1, 0xa0..=0xa3 and
/// 0xa5..=0xa8 in v2c) ending exactly where the message ends. v3: HeaderData SEQUENCE of
/// msgID, msgMaxSize, msgFlags (one byte) and msgSecurityModel, then msgSecurityParameters.
fn snmp(p: &[u8]) -> Option<Evidence> {
    let (seq, hl, cl) = tlv(p)?;
    if seq != 0x30 || total(hl, cl) < p.len() {
        return None;
    }
    let body = p.get(hl..)?;
    let &[0x02, 0x01, version] = body.first_chunk::<3>()? else { return None };
    let rest = body.get(3..)?;
    if version == 3 {
        let (hd, hhl, hcl) = tlv(rest)?;
        let header = rest.get(hhl..)?;
        let (id, ihl, icl) = tlv(header)?;
        let (max, mhl, mcl) = tlv(header.get(total(ihl, icl)..)?)?;
        let at = total(ihl, icl) + total(mhl, mcl);
        let &[0x04, 0x01, _, 0x02, 0x01, _] = header.get(at..)?.first_chunk::<6>()? else { return None };
        let ok = hd == 0x30 && id == 0x02 && max == 0x02 && at + 6 == hcl && byte(rest, hhl + hcl)? == 0x04;
        return ok.then_some(Evidence::of(Proto::Snmp));
    }
    let (community, chl, ccl) = tlv(rest)?;
    let pdu_at = total(chl, ccl);
    let pdu = rest.get(pdu_at..)?;
    let (tag, phl, pcl) = tlv(pdu)?;
    let valid = match version {
        0 => (0xa0..=0xa4).contains(&tag),
        1 => matches!(tag, 0xa0..=0xa3 | 0xa5..=0xa8),
        _ => false,
    };
    // Trap-PDU (v1) starts with the enterprise OID, every other PDU with request-id.
    let first = if tag == 0xa4 { 0x06 } else { 0x02 };
    let ok = valid && community == 0x04 && 3 + pdu_at + total(phl, pcl) == cl && byte(pdu, phl)? == first;
    // A Response (0xa2) or Report (0xa8) answers; the rest are sent to the server (an
    // agent's port 161 or a manager's trap port 162).
    ok.then_some(Evidence::reply(Proto::Snmp, matches!(tag, 0xa2 | 0xa8)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::evidence::{LOOK, inspect};
    use crate::services::Transport;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    /// `b` with byte `i` set to `v`.
    fn with(b: &[u8], i: usize, v: u8) -> Vec<u8> {
        let mut b = b.to_vec();
        b[i] = v;
        b
    }

    fn proto(e: Option<Evidence>) -> Option<Proto> {
        e.map(|e| e.proto)
    }

    fn uuid_text(s: &str) -> [u8; 16] {
        hex(&s.replace('-', "")).try_into().unwrap()
    }

    // Real bytes from the shared corpus (tshark -T fields -e tcp.payload / udp.payload).

    /// NBSS session request: called `FDEDFGCACACA...` (`SMB2-...`), calling name, 72 bytes.
    const NBSS_REQUEST: &str = "81000044 20 4644454446474341434143414341434143414341434143414341434143414341 00 20454545464644454c464545504641434e464744424547454244414646464241 4100";
    /// SMB1 NEGOTIATE request and response (prefixes).
    const SMB1_NEGOTIATE: &str =
        "0000009b ff534d42 72 00000000 18 53c8 0000 0000000000000000 0000 ffff fffe 0000 0000 00780002";
    const SMB1_NEGOTIATE_REPLY: &str =
        "00000195 ff534d42 72 00000000 98 43c8 0000 0000000000000000 0000 0000 fffe 0000 0000 110500030a00";
    /// SMB2 NEGOTIATE request and response (prefixes).
    const SMB2_NEGOTIATE: &str =
        "000000ae fe534d42 4000 0000 00000000 0000 0000 00000000 00000000 0100000000000000 fffe0000 00000000";
    const SMB2_NEGOTIATE_REPLY: &str =
        "000001c0 fe534d42 4000 0000 00000000 0000 0100 01000000 00000000 0000000000000000 00000000 00000000";
    /// DCE/RPC bind to the endpoint mapper (zerologon capture), whole.
    const BIND: &str = "05000b03 10000000 4800 0000 01000000 b810 b810 00000000 01 00 0000 0000 01 00
        0883afe11f5dc91191a408002b14a0fa 03000000 045d888aeb1cc9119fe808002b104860 02000000";
    const BIND_ACK: &str = "05000c03 10000000 3c00 0000 01000000 b810b81057e00000 0400 3133350000000100
        000000000000045d888aeb1cc9119fe808002b10486002000000";
    const REQUEST: &str =
        "05000003 10000000 6800 0000 01000000 50000000 0000 0400 e85a00000c000000000000000c000000";
    /// alter_context with an auth verifier (0x8c bytes), DRSUAPI, a 128-byte prefix of 220.
    const ALTER: &str = "05000e03 10000000 dc00 8c00 02000000 d016d016 00000000 01000000 0100 0100
        354251e3064bd111ab0400c04fc2dcd2 04000000 33057171babe37498319b5dbef9ccc36 01000000
        0906000000000000 a18189308186a0030a0101a25f045d6f5b3059a003020105a10302010fa24d304ba003020112a244";
    /// Connectionless request (big-endian data representation) and response (little-endian)
    /// naming the same interface.
    const CL_REQUEST: &str = "04 00 20 00 000000 00 dea000006c9711d1827100010101014d dea000016c9711d1827100a02442df7d 35fda900358a12128004001c060b26ed 00000000 00000001 00000000 0000 ffff ffff 0232 0000 00 00 0000032d0000021e0000032d000000000000021e010100440100000109f1a530c75f6d47b67f8073439deaad0002001c";
    const CL_RESPONSE: &str = "04 02 0a 00 100000 00 0000a0de976cd111827100010101014d 0100a0de976cd111827100a02442df7d 00a9fd358a3512128004001c060b26ed 00000000 01000000 00000000 0000 ffff ffff 5a00 0000 00 00 00000000460000002d03000000000000460000008101001e0100000109f1a530c75f6d47b67f8073439deaad0002000e";
    /// RDP: X.224 connection request with a cookie and RDP_NEG_REQ, the confirm, a data TPDU.
    const X224_CR: &str = "0300002f 2a e0 0000 0000 00 436f6f6b69653a206d737473686173683d465442434f5c4137300d0a 0100080001000000";
    const X224_CC: &str = "03000013 0e d0 0000 1234 00 0300080002000000";
    const X224_DT: &str = "0300000c 02 f0 80 0401000100";
    /// TDS: PRELOGIN and its response, LOGIN7 (prefix), the login response (prefix), a TDS
    /// 7.1 SQL batch (prefix), DONE, RPC with ALL_HEADERS and without (prefixes).
    const PRELOGIN: &str = "12010034 00000000 000015000601001b000102001c000c0300280004ff 080001550000 00 4d5353514c53657276657200 d8030000";
    const PRELOGIN_REPLY: &str =
        "04010025 00000100 000015000601001b000102001c000103001d0000ff 080007f70000 02 00";
    const LOGIN7: &str = "100100ea 00000100 e2000000 01000071 00000000 00000007 b0060000 00000000 e0030000 00000000 09080000 5600 0b00";
    const LOGIN_REPLY: &str =
        "04010181 00340100 e3 1b00 01 06 6d0061007300740065007200 06 6d0061007300740065007200 ab6a00";
    const SQL_BATCH: &str =
        "010100ee 00000100 730065006c0065006300740020006e0061006d0065002000660072006f006d00";
    const DONE: &str = "04010022 00350100 fd 0100 f900 0000000000000000 fd 0000 ba00 0000000000000000";
    const RPC: &str = "030900b9 00000100 16000000 12000000 0200 0000000000000000 01000000 0e00 70005f0047006500740042006f006700";
    const RPC_71: &str = "0309043a 00000100 0d00 730070005f006500780065006300750074006500730071006c00 0200";
    /// Kerberos over UDP: AS-REQ and AS-REP (prefixes); over TCP: AS-REQ, KRB-ERROR, TGS-REP.
    const AS_REQ: &str =
        "6a81af 3081ac a103020105 a20302010a a30e300c300aa10402020095a2020400 a4818f30818ca00703050000000010";
    const AS_REP: &str =
        "6b8202e4 308202e0 a003020105 a10302010b a23930373035a103020113a22e042c302a3028a003020112";
    const TCP_AS_REQ: &str =
        "000000eb 6a81e8 3081e5 a103020105 a20302010a a31530133011a10402020080a20904073005a0030101ff";
    const TCP_KRB_ERROR: &str =
        "00000112 7e82010e 3082010a a003020105 a10302011e a411180f32303139303230353033333834385a";
    const TCP_TGS_REP: &str =
        "000005a0 6d82059c 30820598 a003020105 a10302010d a3101b0e484150505943524146542e4f5247";
    /// LDAP: a simple bind (whole), AD's bindResponse (whole) and a searchRequest (prefix).
    const LDAP_BIND: &str = "3032 020101 602d 020103 041c78787878787878787878784078782e7878782e78787878782e6e6574 800a70617373776f72386431";
    const LDAP_BIND_REPLY: &str = "30840000002b 020455d69f61 61840000001f 0a0100 0400 0400 8716a1143012a0030a0100a10b06092a864882f712010202";
    const LDAP_SEARCH: &str = "3081ce 02044ea42c2f 6381a0 041564633d41444841434b494e472c64633d4c4f43414c 0a0102 0a0100 020100 020100 010100";
    /// CLDAP: AD's DC locator search (prefix) and its reply: a searchResEntry and a
    /// searchResDone in one datagram (whole).
    const CLDAP_SEARCH: &str =
        "308400000083 020101 63840000007a 0400 0a0100 0a0100 020100 020100 010100 a08400000053";
    const CLDAP_REPLY: &str = "308186 020101 648180 0400 307c307a04086e65746c6f676f6e316e046c17000000bd1100007497781f053bd7428bb28cf3d97a7f6a02733405686f77746f0861626172746c6574036e657400c018046f626564c0180853342d484f57544f00044f42454400001744656661756c742d46697273742d536974652d4e616d6500c04905000000ffffffff
        300c 020101 6507 0a0100 0400 0400";
    /// NBNS: a broadcast name query (whole) and a node status response (prefix).
    const NBNS_QUERY: &str = "a749 0110 0001 0000 0000 0000 2046494644464546434546454245 4e46504549464a4341434143414341434141410000200001";
    const NBNS_REPLY: &str = "20a8 8400 0000 0001 0000 0000 20 434b414141414141414141414141414141414141414141414141414141414141 00 0021 0001 0000000000";
    /// NBDGM: a broadcast datagram to \MAILSLOT\BROWSE (prefix).
    const NBDGM: &str = "11 0e c2f4 0a000509 008a 00bb 0000 20 454f46474643444a434143414341434143414341434143414341434143414341 00 20 4647454a4548454a454d4542454f46454650454846434550464646414341424e 00 ff534d4225";
    /// SNMP v1 GetNextRequest and GetResponse, whole.
    const SNMP_GETNEXT: &str =
        "3029 020100 04067075626c6963 a11c 02044b781a6e 020100 020100 300e300c06082b060102010105000500";
    const SNMP_RESPONSE: &str = "3037 020100 04067075626c6963 a22a 02044b781a6e 020100 020100 301c301a06082b06010201010600040e476c6f626f6d616e746963734851";

    fn tcp_is(bytes: &[u8], p: Proto, reply: Option<bool>) {
        let e = tcp(bytes).unwrap_or_else(|| panic!("{p:?} not recognised"));
        assert_eq!((e.proto, e.reply), (p, reply));
    }

    fn udp_is(bytes: &[u8], p: Proto, reply: Option<bool>) {
        let e = udp(bytes).unwrap_or_else(|| panic!("{p:?} not recognised"));
        assert_eq!((e.proto, e.reply), (p, reply));
    }

    #[test]
    fn nbss_session_service() {
        let req = hex(NBSS_REQUEST);
        tcp_is(&req, Proto::Nbss, Some(false));
        tcp_is(&[0x82, 0, 0, 0], Proto::Nbss, Some(true));
        tcp_is(&[0x83, 0, 0, 1, 0x82], Proto::Nbss, Some(true));
        tcp_is(&[0x85, 0, 0, 0], Proto::Nbss, None);
        assert_eq!(tcp(&with(&req, 1, 1)), None, "flag bits in a short request");
        assert_eq!(tcp(&with(&req, 3, 0x45)), None, "length disagrees with the names");
        assert_eq!(tcp(&with(&req, 10, b'Q')), None, "not a first-level encoded name");
        assert_eq!(tcp(&with(&req, 4, 0x21)), None, "name length byte");
        assert_eq!(tcp(&req[..60]), None, "cut inside the calling name");
        assert_eq!(tcp(&[0x82, 0, 0, 0, 0]), None, "a positive response has no body");
        assert_eq!(tcp(&[0x82, 0, 0, 1]), None);
        assert_eq!(tcp(&[0x83, 0, 0, 1, 0x84]), None, "unknown error code");
        assert_eq!(tcp(&[0x86, 0, 0, 0]), None, "unknown packet type");
    }

    #[test]
    fn smb_over_nbss() {
        let neg = hex(SMB1_NEGOTIATE);
        tcp_is(&neg, Proto::Smb1, Some(false));
        tcp_is(&hex(SMB1_NEGOTIATE_REPLY), Proto::Smb1, Some(true));
        assert_eq!(tcp(&with(&neg, 8, 0xfe)), None, "unknown SMB1 command");
        assert_eq!(tcp(&with(&neg, 5, b's')), None, "protocol identifier");
        assert_eq!(tcp(&with(&neg, 3, 0x20)), None, "shorter than the SMB1 header");
        assert_eq!(tcp(&with(&with(&neg, 2, 0), 3, 0x23)), None, "length shorter than the payload");
        assert_eq!(tcp(&with(&neg, 0, 0x01)), None, "not a session message");
        assert_eq!(tcp(&neg[..12]), None, "cut before the flags");

        let neg2 = hex(SMB2_NEGOTIATE);
        tcp_is(&neg2, Proto::Smb2, Some(false));
        tcp_is(&hex(SMB2_NEGOTIATE_REPLY), Proto::Smb2, Some(true));
        assert_eq!(tcp(&with(&neg2, 8, 0x41)), None, "StructureSize 64");
        assert_eq!(tcp(&with(&neg2, 16, 0x13)), None, "unknown SMB2 command");
        assert_eq!(tcp(&with(&neg2, 20, 0x80)), None, "undefined flag bit");
        assert_eq!(tcp(&neg2[..20]), None, "cut before the flags");

        // MS-SMB2 §2.2.41: a transform header for a 64-byte message: 52 + 64 bytes.
        let mut t = hex("00000074 fd534d42");
        t.extend([0x5a; 32]);
        t.extend(hex("40000000 0000 0100 1122334455667788"));
        tcp_is(&t, Proto::Smb2, None);
        assert_eq!(tcp(&with(&t, 3, 0x75)), None, "length disagrees with OriginalMessageSize");
        assert_eq!(tcp(&with(&t, 46, 2)), None, "Flags/EncryptionAlgorithm");
        let c = hex("00000100 fc534d42 00100000 0100 0000 00000000");
        tcp_is(&c, Proto::Smb2, None);
        assert_eq!(tcp(&with(&c, 12, 9)), None, "unknown compression algorithm");
    }

    #[test]
    fn dcerpc_connection_oriented() {
        let bind = hex(BIND);
        let e = tcp(&bind).unwrap();
        assert_eq!((e.proto, e.reply), (Proto::DceRpcCo, Some(false)));
        assert_eq!(
            e.interface,
            Some(uuid_text("e1af8308-5d1f-11c9-91a4-08002b14a0fa")),
            "the endpoint mapper"
        );
        tcp_is(&hex(BIND_ACK), Proto::DceRpcCo, Some(true));
        assert_eq!(tcp(&hex(BIND_ACK)).unwrap().interface, None);
        tcp_is(&hex(REQUEST), Proto::DceRpcCo, Some(false));
        let alter = hex(ALTER);
        assert_eq!(tcp(&alter).unwrap().interface, Some(uuid_text("e3514235-4b06-11d1-ab04-00c04fc2dcd2")));

        // The same bind with a big-endian data representation: lengths and UUID as written.
        let mut be = bind.clone();
        be[4] = 0x00;
        be[8..10].copy_from_slice(&[0, 0x48]);
        be[32..48].copy_from_slice(&uuid_text("e1af8308-5d1f-11c9-91a4-08002b14a0fa"));
        assert_eq!(tcp(&be).unwrap().interface, tcp(&bind).unwrap().interface);

        assert_eq!(tcp(&with(&bind, 0, 4)), None, "rpc_vers");
        assert_eq!(tcp(&with(&bind, 1, 2)), None, "rpc_vers_minor");
        assert_eq!(tcp(&with(&bind, 2, 1)), None, "a connectionless-only type");
        assert_eq!(tcp(&with(&bind, 2, 20)), None, "unknown type");
        assert_eq!(tcp(&with(&bind, 4, 0x20)), None, "integer representation");
        assert_eq!(tcp(&with(&bind, 5, 4)), None, "floating point representation");
        assert_eq!(tcp(&with(&bind, 6, 1)), None, "reserved drep byte");
        assert_eq!(tcp(&with(&bind, 8, 0x40)), None, "frag_length shorter than the PDU");
        assert_eq!(tcp(&with(&bind, 10, 0x40)), None, "auth_length beyond frag_length");
        assert_eq!(tcp(&with(&bind, 3, 0x02)), None, "a bind's later fragment");
        assert_eq!(tcp(&with(&bind, 24, 0)), None, "no presentation context");
        assert_eq!(tcp(&bind[..40]), None, "cut before the abstract syntax");
        assert_eq!(tcp(&bind[..15]), None, "cut inside the header");
    }

    #[test]
    fn dcerpc_connectionless() {
        let iface = Some(uuid_text("dea00001-6c97-11d1-8271-00a02442df7d"));
        let req = hex(CL_REQUEST);
        let e = udp(&req).unwrap();
        assert_eq!((e.proto, e.reply, e.interface), (Proto::DceRpcCl, Some(false), iface));
        let resp = hex(CL_RESPONSE);
        let e = udp(&resp).unwrap();
        assert_eq!(
            (e.proto, e.reply, e.interface),
            (Proto::DceRpcCl, Some(true), iface),
            "little-endian drep"
        );
        assert_eq!(tcp(&req), None);
        assert_eq!(udp(&with(&req, 0, 5)), None, "rpc_vers");
        assert_eq!(udp(&with(&req, 1, 11)), None, "a connection-oriented type");
        assert_eq!(udp(&with(&req, 3, 0x04)), None, "reserved flags2 bit");
        assert_eq!(udp(&with(&req, 4, 0x01)), None, "EBCDIC");
        assert_eq!(udp(&with(&req, 6, 0x01)), None, "reserved drep byte");
        assert_eq!(udp(&with(&with(&req, 74, 0), 75, 0x10)), None, "body length shorter than the datagram");
        assert_eq!(udp(&req[..79]), None, "cut inside the header");
    }

    #[test]
    fn tpkt_x224() {
        let cr = hex(X224_CR);
        tcp_is(&cr, Proto::Tpkt, Some(false));
        tcp_is(&hex(X224_CC), Proto::Tpkt, Some(true));
        tcp_is(&hex(X224_DT), Proto::Tpkt, None);
        assert_eq!(tcp(&with(&cr, 0, 2)), None, "TPKT version");
        assert_eq!(tcp(&with(&cr, 1, 1)), None, "TPKT reserved byte");
        assert_eq!(tcp(&with(&cr, 4, 0x2b)), None, "LI disagrees with the TPKT length");
        assert_eq!(tcp(&with(&cr, 3, 0x2e)), None, "TPKT length shorter than the payload");
        assert_eq!(tcp(&with(&cr, 5, 0x80)), None, "a disconnect request");
        assert_eq!(tcp(&with(&cr, 6, 1)), None, "DST-REF in a request");
        assert_eq!(tcp(&with(&cr, 10, 0x50)), None, "class 5");
        assert_eq!(tcp(&cr[..10]), None, "cut before the class");
        assert_eq!(tcp(&with(&hex(X224_DT), 6, 0x81)), None, "TPDU-NR in class 0");
    }

    #[test]
    fn tds_messages() {
        tcp_is(&hex(PRELOGIN), Proto::Tds, Some(false));
        tcp_is(&hex(PRELOGIN_REPLY), Proto::Tds, Some(true));
        tcp_is(&hex(LOGIN7), Proto::Tds, Some(false));
        tcp_is(&hex(LOGIN_REPLY), Proto::Tds, Some(true));
        tcp_is(&hex(SQL_BATCH), Proto::Tds, Some(false));
        tcp_is(&hex(DONE), Proto::Tds, Some(true));
        tcp_is(&hex(RPC), Proto::Tds, Some(false));
        tcp_is(&hex(RPC_71), Proto::Tds, Some(false));
        tcp_is(&hex("06010008 00000100"), Proto::Tds, Some(false));

        let pre = hex(PRELOGIN);
        assert_eq!(tcp(&with(&pre, 7, 1)), None, "Window");
        assert_eq!(tcp(&with(&pre, 1, 0x21)), None, "undefined status bit");
        assert_eq!(tcp(&with(&pre, 1, 0x02)), None, "IGNORE without EOM");
        assert_eq!(tcp(&with(&pre, 1, 0x09)), None, "RESETCONNECTION on a prelogin");
        assert_eq!(tcp(&with(&pre, 0, 0x05)), None, "unknown type");
        assert_eq!(tcp(&with(&pre, 3, 0x30)), None, "length disagrees with the payload");
        assert_eq!(tcp(&with(&pre, 8, 1)), None, "VERSION first");
        assert_eq!(tcp(&with(&pre, 10, 0x16)), None, "data not right after the token list");
        assert_eq!(tcp(&with(&pre, 22, 0x60)), None, "option beyond the message");
        assert_eq!(tcp(&pre[..8]), None, "header only");
        assert_eq!(tcp(&with(&hex(LOGIN7), 15, 0x60)), None, "TDS version");
        assert_eq!(tcp(&with(&hex(LOGIN7), 8, 0xe3)), None, "login record length");
        assert_eq!(tcp(&with(&hex(DONE), 10, 0x80)), None, "undefined DONE status bit");
        assert_eq!(tcp(&with(&hex(LOGIN_REPLY), 8, 0xe5)), None, "not a first token");
        assert_eq!(tcp(&with(&hex(SQL_BATCH), 9, 1)), None, "not UTF-16 text");
        assert_eq!(tcp(&with(&hex(RPC), 16, 7)), None, "unknown ALL_HEADERS type, no procedure name");
        assert_eq!(tcp(&hex("06010008 0000010000")), None, "attention has no data");
    }

    #[test]
    fn kerberos_udp_and_tcp() {
        let as_req = hex(AS_REQ);
        udp_is(&as_req, Proto::Kerberos, Some(false));
        udp_is(&hex(AS_REP), Proto::Kerberos, Some(true));
        let tcp_req = hex(TCP_AS_REQ);
        tcp_is(&tcp_req, Proto::Kerberos, Some(false));
        tcp_is(&hex(TCP_KRB_ERROR), Proto::Kerberos, Some(true));
        tcp_is(&hex(TCP_TGS_REP), Proto::Kerberos, Some(true));
        assert_eq!(tcp(&as_req), None, "no record mark");
        assert_eq!(udp(&tcp_req), None, "a record mark on UDP");

        assert_eq!(udp(&with(&as_req, 10, 4)), None, "pvno 4");
        assert_eq!(udp(&with(&as_req, 15, 0x0b)), None, "msg-type disagrees with the tag");
        assert_eq!(udp(&with(&as_req, 0, 0x6e)), None, "AP-REQ is not a KDC message");
        assert_eq!(udp(&with(&as_req, 6, 0xa0)), None, "KDC-REQ numbers pvno [1]");
        assert_eq!(udp(&with(&as_req, 5, 0xab)), None, "SEQUENCE disagrees with the APPLICATION length");
        assert_eq!(udp(&with(&with(&as_req, 2, 0x20), 5, 0x1d)), None, "message shorter than the datagram");
        assert_eq!(tcp(&with(&tcp_req, 3, 0xec)), None, "record mark disagrees");
        assert_eq!(tcp(&with(&tcp_req, 0, 0x80)), None, "reserved high bit");
        assert_eq!(udp(&as_req[..14]), None, "cut inside msg-type");
    }

    #[test]
    fn ldap_and_cldap() {
        let bind = hex(LDAP_BIND);
        tcp_is(&bind, Proto::Ldap, Some(false));
        tcp_is(&hex(LDAP_BIND_REPLY), Proto::Ldap, Some(true));
        tcp_is(&hex(LDAP_SEARCH), Proto::Ldap, Some(false));
        udp_is(&hex(CLDAP_SEARCH), Proto::Cldap, Some(false));
        udp_is(&hex(CLDAP_REPLY), Proto::Cldap, Some(true));
        tcp_is(&hex("30050201034200"), Proto::Ldap, Some(false));
        // RFC 1798 CLDAP: a `user` DN before the operation.
        udp_is(&hex("300d 020101 0400 6306 0400 0a0100"), Proto::Cldap, Some(false));

        assert_eq!(tcp(&with(&bind, 0, 0x31)), None, "SEQUENCE");
        assert_eq!(tcp(&with(&bind, 2, 0x0a)), None, "messageID INTEGER");
        assert_eq!(tcp(&with(&bind, 4, 0x81)), None, "negative messageID");
        assert_eq!(tcp(&with(&bind, 5, 0x62)), None, "no such operation");
        assert_eq!(tcp(&with(&bind, 9, 4)), None, "LDAP version 4");
        assert_eq!(tcp(&with(&bind, 6, 0x2e)), None, "operation longer than the message");
        assert_eq!(tcp(&with(&bind, 1, 0x31)), None, "message shorter than the segment, no message after");
        assert_eq!(tcp(&hex("30050201034201")), None, "unbind carries no value");
        assert_eq!(tcp(&with(&hex(LDAP_BIND_REPLY), 18, 0x02)), None, "resultCode ENUMERATED");
        assert_eq!(tcp(&bind[..6]), None, "cut before the operation");
    }

    #[test]
    fn netbios_name_service() {
        let q = hex(NBNS_QUERY);
        udp_is(&q, Proto::NbNs, Some(false));
        udp_is(&hex(NBNS_REPLY), Proto::NbNs, Some(true));
        assert_eq!(tcp(&q), None);
        assert_eq!(udp(&with(&q, 3, 0x70)), None, "reserved NM_FLAGS bits");
        assert_eq!(udp(&with(&q, 2, 0x19)), None, "opcode 3");
        assert_eq!(udp(&with(&q, 3, 0x91)), None, "RA or RCODE in a request");
        assert_eq!(udp(&with(&q, 5, 2)), None, "two questions");
        assert_eq!(udp(&with(&q, 7, 1)), None, "an answer in a request");
        assert_eq!(udp(&with(&q, 20, b'Q')), None, "not a first-level encoded name");
        assert_eq!(udp(&with(&q, 12, 0x1f)), None, "name length");
        assert_eq!(udp(&with(&q, 47, 0x05)), None, "question type");
        assert_eq!(udp(&q[..47]), None, "cut before the question type");
    }

    #[test]
    fn netbios_datagram_service() {
        let d = hex(NBDGM);
        udp_is(&d, Proto::NbDgm, None);
        let mut query = hex("14 02 0001 0a000509 008a");
        query.extend_from_slice(&d[14..48]);
        udp_is(&query, Proto::NbDgm, Some(false));
        udp_is(&with(&query, 0, 0x15), Proto::NbDgm, Some(true));
        udp_is(&hex("13 02 0001 0a000509 008a 82"), Proto::NbDgm, None);
        assert_eq!(udp(&with(&d, 0, 0x17)), None, "unknown message type");
        assert_eq!(udp(&with(&d, 1, 0x1e)), None, "reserved flag bits");
        assert_eq!(udp(&with(&d, 11, 0x40)), None, "DGM_LENGTH shorter than the names");
        assert_eq!(udp(&with(&d, 13, 1)), None, "offset in a first fragment");
        assert_eq!(udp(&with(&d, 50, b'z')), None, "destination name encoding");
        assert_eq!(udp(&d[..60]), None, "cut inside the destination name");
        let mut long = query.clone();
        long.push(0);
        assert_eq!(udp(&long), None, "bytes after a query's name");
        assert_eq!(udp(&hex("13 02 0001 0a000509 008a 85")), None, "unknown error code");
    }

    #[test]
    fn snmp_messages() {
        let get = hex(SNMP_GETNEXT);
        udp_is(&get, Proto::Snmp, Some(false));
        udp_is(&hex(SNMP_RESPONSE), Proto::Snmp, Some(true));
        udp_is(&with(&get, 4, 1), Proto::Snmp, Some(false));
        udp_is(&with(&with(&get, 4, 1), 13, 0xa8), Proto::Snmp, Some(true));
        // v3: HeaderData (msgID, msgMaxSize 1500, flags reportable, USM), USM parameters.
        udp_is(&hex("3017 020103 300e 02021234 020205dc 040104 020103 0400 3000"), Proto::Snmp, None);
        assert_eq!(udp(&with(&get, 4, 2)), None, "version 2");
        assert_eq!(udp(&with(&get, 5, 0x05)), None, "community OCTET STRING");
        assert_eq!(udp(&with(&get, 13, 0xa9)), None, "unknown PDU");
        assert_eq!(udp(&with(&get, 13, 0xa5)), None, "GetBulk in v1");
        assert_eq!(udp(&with(&get, 14, 0x1b)), None, "PDU ends before the message");
        assert_eq!(udp(&with(&get, 15, 0x06)), None, "request-id INTEGER");
        assert_eq!(udp(&with(&get, 1, 0x28)), None, "message shorter than the datagram");
        assert_eq!(udp(&get[..13]), None, "cut before the PDU");
    }

    use crate::XorShift;

    /// Fires per 200,000 payloads of 1..128 bytes; `first` forces the first byte (0 = not).
    fn random_fires(seed: u64, first: &[u8]) -> (usize, usize) {
        let mut rng = XorShift(seed);
        let (mut on_tcp, mut on_udp) = (0, 0);
        let mut buf = [0u8; LOOK];
        for i in 0..200_000 {
            let len = 1 + usize::try_from(rng.next() % 127).unwrap();
            for b in &mut buf[..len] {
                *b = rng.next().to_le_bytes()[3];
            }
            if let Some(&f) = first.get(i % first.len().max(1)) {
                buf[0] = f;
            }
            on_tcp += usize::from(tcp(&buf[..len]).is_some());
            on_udp += usize::from(udp(&buf[..len]).is_some());
        }
        (on_tcp, on_udp)
    }

    #[test]
    fn random_bytes_rarely_fire() {
        #[expect(clippy::cast_precision_loss, reason = "counts below 200,000")]
        let pct = |n: usize| n as f64 * 100.0 / 200_000.0;
        let (t, u) = random_fires(0x9e37_79b9_7f4a_7c15, &[]);
        eprintln!(
            "windows checks on 200,000 uniform random payloads: tcp {t} ({:.4}%), udp {u} ({:.4}%)",
            pct(t),
            pct(u)
        );
        assert!(t < 20 && u < 20, "fewer than 0.01% fire: tcp {t}, udp {u}");
        // The first byte each check keys on, the rest random: the later fields must still
        // reject almost everything.
        let firsts =
            [0x00, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x01, 0x30, 0x6a, 0x6b, 0x7e, 0x81, 0x83];
        let (t, u) = random_fires(0x2545_f491_4f6c_dd1d, &firsts);
        eprintln!("with a protocol's first byte: tcp {t} ({:.4}%), udp {u} ({:.4}%)", pct(t), pct(u));
        assert!(t < 20 && u < 20, "fewer than 0.01% fire: tcp {t}, udp {u}");
    }

    proptest! {
        /// No bytes make a check panic or read past the slice, through `inspect` or directly.
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..200), sport in any::<u16>(), dport in any::<u16>()) {
            let _ = tcp(&b);
            let _ = udp(&b);
            let _ = inspect(Transport::Tcp, (sport, dport), &b);
            let _ = inspect(Transport::Udp, (sport, dport), &b);
        }

        /// Every prefix and every one-byte change of a real message is safe, and a check that
        /// says yes on a prefix names the same protocol as on the whole message.
        #[test]
        fn prefixes_and_mutations_of_real_bytes(which in 0..SAMPLES.len(), cut in 0..LOOK, at in 0..LOOK, v in any::<u8>()) {
            let (is_tcp, text) = SAMPLES[which];
            let whole = hex(text);
            let check = if is_tcp { tcp } else { udp };
            let p = proto(check(&whole));
            prop_assert!(p.is_some());
            let prefix = &whole[..cut.min(whole.len())];
            let q = proto(check(prefix));
            prop_assert!(q.is_none() || q == p);
            let mut m = whole.clone();
            if let Some(b) = m.get_mut(at) {
                *b = v;
            }
            let _ = check(&m);
        }
    }

    const SAMPLES: [(bool, &str); 28] = [
        (true, NBSS_REQUEST),
        (true, SMB1_NEGOTIATE),
        (true, SMB1_NEGOTIATE_REPLY),
        (true, SMB2_NEGOTIATE),
        (true, SMB2_NEGOTIATE_REPLY),
        (true, BIND),
        (true, BIND_ACK),
        (true, REQUEST),
        (true, ALTER),
        (false, CL_REQUEST),
        (false, CL_RESPONSE),
        (true, X224_CR),
        (true, X224_CC),
        (true, PRELOGIN),
        (true, LOGIN7),
        (true, RPC),
        (false, AS_REQ),
        (false, AS_REP),
        (true, TCP_AS_REQ),
        (true, TCP_KRB_ERROR),
        (true, LDAP_BIND),
        (true, LDAP_SEARCH),
        (false, CLDAP_SEARCH),
        (false, CLDAP_REPLY),
        (false, NBNS_QUERY),
        (false, NBDGM),
        (false, SNMP_GETNEXT),
        (false, SNMP_RESPONSE),
    ];
}
