//! Kerberos V5 messages (RFC 4120) as a Windows 2000 client and KDC exchange them, with the
//! encrypted parts (tickets, authenticators, the KDC's reply part) as random bytes of the
//! usual sizes: Wireshark shows those as opaque cipher text, as it does for real traffic it
//! holds no keys for. Also the SPNEGO/GSS-API wrappers (RFC 4178, RFC 1964) around an AP-REQ
//! that LDAP and SMB use.

use crate::ber::{app, bits, cat, ctx, general_string, generalized_time, int, octets, oid, seq};
use crate::trace::Rng;

pub const REALM: &str = "CORP.EXAMPLE.COM";
/// RC4-HMAC, the etype Windows 2000 prefers.
const RC4_HMAC: i64 = 23;
/// "Never expires" as Windows 2000 asks for it.
const TILL: &str = "20370913024805Z";

fn principal(name_type: i64, parts: &[&str]) -> Vec<u8> {
    let names: Vec<Vec<u8>> = parts.iter().map(|p| general_string(p)).collect();
    seq(&[ctx(0, &int(name_type)), ctx(1, &seq(&names))])
}

fn encrypted(rng: &mut Rng, kvno: Option<i64>, len: usize) -> Vec<u8> {
    let mut parts = vec![ctx(0, &int(RC4_HMAC))];
    if let Some(k) = kvno {
        parts.push(ctx(1, &int(k)));
    }
    parts.push(ctx(2, &octets(&rng.bytes(len))));
    seq(&parts)
}

/// A ticket for `sname`; `len` bytes of cipher (a Windows 2000 TGT with its PAC is about 1 KB).
pub fn ticket(rng: &mut Rng, sname: &[&str], len: usize) -> Vec<u8> {
    app(
        1,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &general_string(REALM)),
            ctx(2, &principal(2, sname)),
            ctx(3, &encrypted(rng, Some(2), len)),
        ]),
    )
}

/// AP-REQ (RFC 4120 5.5.1) presenting a ticket.
pub fn ap_req(rng: &mut Rng, sname: &[&str], ticket_len: usize) -> Vec<u8> {
    let t = ticket(rng, sname, ticket_len);
    app(
        14,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(14)),
            ctx(2, &bits(&[0x20, 0, 0, 0])),
            ctx(3, &t),
            ctx(4, &encrypted(rng, None, 155)),
        ]),
    )
}

pub fn ap_rep(rng: &mut Rng) -> Vec<u8> {
    app(15, &seq(&[ctx(0, &int(5)), ctx(1, &int(15)), ctx(2, &encrypted(rng, None, 107))]))
}

fn req_body(rng: &mut Rng, cname: Option<&str>, sname: &[&str], host: &str) -> Vec<u8> {
    let mut parts = vec![ctx(0, &bits(&[0x40, 0x81, 0x00, 0x10]))]; // forwardable, renewable, canonicalize, renewable-ok
    if let Some(c) = cname {
        parts.push(ctx(1, &principal(1, &[c])));
    }
    parts.push(ctx(2, &general_string(REALM)));
    parts.push(ctx(3, &principal(2, sname)));
    parts.push(ctx(5, &generalized_time(TILL)));
    parts.push(ctx(6, &generalized_time(TILL)));
    parts.push(ctx(7, &int((rng.next_u64() & 0x7fff_ffff) as i64)));
    // RC4-HMAC, RC4-HMAC-EXP (-133), RC4-HMAC-OLD-EXP (-128), DES-CBC-MD5, DES-CBC-CRC.
    parts.push(ctx(8, &seq(&[int(23), int(-133), int(-128), int(3), int(1)])));
    // Windows 2000 adds its NetBIOS name as an address (type 20), padded to 16 bytes.
    let nb = format!("{host:<16}");
    parts.push(ctx(9, &seq(&[seq(&[ctx(0, &int(20)), ctx(1, &octets(nb.as_bytes()))])])));
    seq(&parts)
}

/// AS-REQ for a TGT; with `preauth` it carries PA-ENC-TIMESTAMP.
pub fn as_req(rng: &mut Rng, user: &str, host: &str, preauth: bool) -> Vec<u8> {
    let mut parts = vec![ctx(1, &int(5)), ctx(2, &int(10))];
    if preauth {
        let ts = encrypted(rng, None, 52);
        parts.push(ctx(3, &seq(&[seq(&[ctx(1, &int(2)), ctx(2, &octets(&ts))])])));
    }
    parts.push(ctx(4, &req_body(rng, Some(user), &["krbtgt", REALM], host)));
    app(10, &seq(&parts))
}

/// TGS-REQ for `sname`, presenting a TGT of `tgt_len` bytes of cipher.
pub fn tgs_req(rng: &mut Rng, sname: &[&str], host: &str, tgt_len: usize) -> Vec<u8> {
    let ap = ap_req(rng, &["krbtgt", REALM], tgt_len);
    let pa = seq(&[seq(&[ctx(1, &int(1)), ctx(2, &octets(&ap))])]);
    app(
        12,
        &seq(&[ctx(1, &int(5)), ctx(2, &int(12)), ctx(3, &pa), ctx(4, &req_body(rng, None, sname, host))]),
    )
}

/// AS-REP (`tgs` false) or TGS-REP: a ticket for `sname` and the encrypted reply part.
pub fn kdc_rep(rng: &mut Rng, tgs: bool, user: &str, sname: &[&str], ticket_len: usize) -> Vec<u8> {
    let (tag, kind) = if tgs { (13, 13) } else { (11, 11) };
    let t = ticket(rng, sname, ticket_len);
    app(
        tag,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(kind)),
            ctx(3, &general_string(REALM)),
            ctx(4, &principal(1, &[user])),
            ctx(5, &t),
            ctx(6, &encrypted(rng, Some(1), 230)),
        ]),
    )
}

pub mod err {
    pub const PREAUTH_REQUIRED: i64 = 25;
    pub const RESPONSE_TOO_BIG: i64 = 52;
}

/// KRB-ERROR (RFC 4120 5.9.1).
pub fn krb_error(code: i64, stime: &str, sname: &[&str]) -> Vec<u8> {
    app(
        30,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(30)),
            ctx(4, &generalized_time(stime)),
            ctx(5, &int(394_000)),
            ctx(6, &int(code)),
            ctx(9, &general_string(REALM)),
            ctx(10, &principal(2, sname)),
        ]),
    )
}

/// Kerberos over TCP (RFC 4120 7.2.2): a 4-byte length first.
pub fn tcp_framed(msg: &[u8]) -> Vec<u8> {
    cat(&[(msg.len() as u32).to_be_bytes().to_vec(), msg.to_vec()])
}

const KRB5_OID: [u64; 7] = [1, 2, 840, 113_554, 1, 2, 2];
/// The OID Windows 2000 sends for Kerberos, with a byte-order mistake it kept for compatibility.
const MS_KRB5_OID: [u64; 7] = [1, 2, 840, 48_018, 1, 2, 2];
const SPNEGO_OID: [u64; 6] = [1, 3, 6, 1, 5, 5];

fn spnego_oid() -> Vec<u8> {
    let mut arcs = SPNEGO_OID.to_vec();
    arcs.push(2);
    oid(&arcs)
}

/// GSS-API initial context token (RFC 2743 3.1) with a Kerberos AP-REQ (RFC 1964 1.1).
fn gss_krb5(tok_id: [u8; 2], inner: &[u8]) -> Vec<u8> {
    app(0, &cat(&[oid(&KRB5_OID), tok_id.to_vec(), inner.to_vec()]))
}

/// SPNEGO NegTokenInit carrying a Kerberos AP-REQ for `sname`, as in an LDAP SASL bind or a
/// DCE/RPC bind from Windows 2000.
pub fn spnego_init(rng: &mut Rng, sname: &[&str], ticket_len: usize) -> Vec<u8> {
    let tok = gss_krb5([1, 0], &ap_req(rng, sname, ticket_len));
    let init = seq(&[ctx(0, &seq(&[oid(&MS_KRB5_OID), oid(&KRB5_OID)])), ctx(2, &octets(&tok))]);
    app(0, &cat(&[spnego_oid(), ctx(0, &init)]))
}

/// SPNEGO NegTokenResp: accept-completed with the Kerberos AP-REP.
pub fn spnego_accept(rng: &mut Rng) -> Vec<u8> {
    let tok = gss_krb5([2, 0], &ap_rep(rng));
    ctx(1, &seq(&[ctx(0, &crate::ber::enumerated(0)), ctx(1, &oid(&MS_KRB5_OID)), ctx(2, &octets(&tok))]))
}

/// GSS-API Kerberos AP-REQ token (what a DCE/RPC bind with RPC_C_AUTHN_GSS_KERBEROS carries).
pub fn gss_ap_req(rng: &mut Rng, sname: &[&str], ticket_len: usize) -> Vec<u8> {
    gss_krb5([1, 0], &ap_req(rng, sname, ticket_len))
}

/// GSS-API Kerberos AP-REP token.
pub fn gss_ap_rep(rng: &mut Rng) -> Vec<u8> {
    gss_krb5([2, 0], &ap_rep(rng))
}
