//! Checks for the Internet protocols the seed table lists: DNS, HTTP, TLS, SMTP, FTP, IMAP,
//! IRC, Telnet, DHCP, IKE, RADIUS, TFTP, L2TP, RTP.
//!
//! Each check reads the fixed fields its specification gives (version numbers, reserved bits,
//! known type codes, lengths that must agree) and says no on anything else. The text
//! protocols need their exact keyword at the start of the payload; the binary ones need
//! enough fixed bits that random bytes almost never pass (the tests measure it). Two are weak
//! alone and take the ports as a hint: TFTP (one port 69) and RTP (both ports even and at
//! least 1024); RTP still fires on about 2% of random payloads with that hint (see the
//! tests), so a caller must not let it override a port's service.
//!
//! A slice may be cut short (snaplen, or [`LOOK`]): a length field larger than the slice is
//! accepted where the check says so, never read past.

use super::{Evidence, LOOK, Proto};

/// A TCP payload.
#[must_use]
pub fn tcp(payload: &[u8]) -> Option<Evidence> {
    let &first = payload.first()?;
    // Cheap gates first: most segments are the middle of a transfer, and the text checks
    // would otherwise look for a line end in every one of them. Every text protocol here
    // begins with at least four printable characters ("GET ", "220 ", "USER", "* OK",
    // ":srv", "a001"); a TLS record with its content type; Telnet with IAC.
    let text = payload.get(..4).is_some_and(|h| h.iter().all(|c| (0x20..0x7f).contains(c)));
    if text {
        // IRC and FTP before the IMAP tag check, which "USER LOGIN ..." would also match.
        return http(payload)
            .or_else(|| greeting(payload))
            .or_else(|| irc(payload))
            .or_else(|| ftp_client(payload))
            .or_else(|| smtp_client(payload))
            .or_else(|| imap(payload))
            .or_else(|| dns_tcp(payload));
    }
    match first {
        0xff => telnet(payload),
        0x14..=0x17 | 0x80..=0xff => tls(payload).or_else(|| dns_tcp(payload)),
        _ => dns_tcp(payload),
    }
}

/// A UDP payload; `ports` (source, destination) is a hint for the weak checks (TFTP, RTP).
#[must_use]
pub fn udp(ports: (u16, u16), payload: &[u8]) -> Option<Evidence> {
    // Strongest signatures first, so that a weaker one never takes a packet a stronger one
    // explains.
    // Each check only where its first bytes can be (DHCP's op, RADIUS's code, L2TP's
    // version, RTP's version bits, TFTP's opcode); IKE (a random SPI) and DNS (a random id)
    // start with any byte.
    let b0 = *payload.first()?;
    let l2tp_version = payload.get(1).is_some_and(|b| b & 0x0f == 2);
    let rtp_version = (0x80..=0xbf).contains(&b0);
    let radius_code = matches!(b0, 1..=5 | 11..=13 | 40..=45);
    (matches!(b0, 1 | 2).then(|| dhcp(payload)).flatten())
        .or_else(|| ike(payload))
        .or_else(|| l2tp_version.then(|| l2tp(payload)).flatten())
        .or_else(|| radius_code.then(|| radius(payload)).flatten())
        .or_else(|| dns(payload, None))
        .or_else(|| rtp_version.then(|| rtcp(payload)).flatten())
        .or_else(|| (b0 == 0).then(|| tftp(ports, payload)).flatten())
        .or_else(|| rtp_version.then(|| rtp(ports, payload)).flatten())
}

// ---------------------------------------------------------------------------------------------
// Byte helpers: every read is checked.

fn be16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..)?.first_chunk::<2>().map(|c| u16::from_be_bytes(*c))
}

fn byte(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

/// Whether the slice was cut by [`inspect`](super::inspect) (which never shows more than
/// [`LOOK`] bytes), so a length field may exceed it.
const fn cut(seen: usize) -> bool {
    seen >= LOOK
}

/// Whether a length field that counts a whole datagram agrees with the `seen` bytes: equal, or
/// larger when the slice was cut at [`LOOK`]. A snaplen below `LOOK` payload bytes therefore
/// costs recall on the checks that use this (RADIUS, L2TP, RTCP), never precision.
const fn agrees(declared: usize, seen: usize) -> bool {
    declared == seen || (cut(seen) && declared > seen)
}

fn starts_with_ci(b: &[u8], prefix: &[u8]) -> bool {
    b.get(..prefix.len()).is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// The first line of a text payload (up to CR or LF, or all of it when cut), and whether it
/// ended with a line break inside the slice.
fn first_line(b: &[u8]) -> (&[u8], bool) {
    match b.iter().position(|&c| c == b'\r' || c == b'\n') {
        Some(i) => (b.get(..i).unwrap_or(b), true),
        None => (b, false),
    }
}

/// What follows the first line break (CRLF or a bare LF), if there is one.
fn after_line(b: &[u8]) -> Option<&[u8]> {
    let i = b.iter().position(|&c| c == b'\n')?;
    b.get(i + 1..)
}

/// Printable ASCII without space: a token of a text protocol.
const fn visible(c: u8) -> bool {
    c.is_ascii_graphic()
}

/// A whole line's bytes are text (printable ASCII, space, tab, or UTF-8 high bytes), no
/// control characters.
fn texty(line: &[u8]) -> bool {
    line.iter().all(|&c| c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80)
}

// ---------------------------------------------------------------------------------------------
// DNS (RFC 1035 §4.1).

/// Most resource records a plausible message in a flow's first packets declares.
const DNS_MAX_RECORDS: usize = 512;

/// A DNS message at the start of `m`; `declared` is the TCP length prefix (RFC 1035 §4.2.2).
fn dns(m: &[u8], declared: Option<usize>) -> Option<Evidence> {
    let flags = be16(m, 2)?;
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let (aa, tc) = (flags & 0x0400 != 0, flags & 0x0200 != 0);
    let rcode = flags & 0x000f;
    // RFC 1035 §4.1.1: Z "must be zero"; of the three former Z bits only this one is left
    // (AD and CD are RFC 4035 §3.2). Opcodes: QUERY, IQUERY, STATUS, NOTIFY (RFC 1996),
    // UPDATE (RFC 2136). RCODEs above 10 do not fit the header (RFC 6895 §2.3).
    if flags & 0x0040 != 0 || !matches!(opcode, 0 | 1 | 2 | 4 | 5) || rcode > 10 {
        return None;
    }
    let count = |at: usize| be16(m, at).map(usize::from);
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    if !response && (aa || tc || rcode != 0) {
        return None;
    }
    // One question is what every implementation sends (RFC 1035 §4.1.2 allows more; none
    // does). An error response may drop it; IQUERY (RFC 1035 §6.4, obsolete) has none.
    let questions_ok = qd == 1 || (qd == 0 && response && rcode != 0) || (qd == 0 && opcode == 1 && an == 1);
    if !questions_ok {
        return None;
    }
    // A standard query carries no answers or authority, at most OPT and TSIG/SIG(0) in the
    // additional section (RFC 6891 §6.1.1, RFC 8945 §5.1).
    if !response && opcode == 0 && (an != 0 || ns != 0 || ar > 2) {
        return None;
    }
    let records = an + ns + ar;
    // A question takes at least 5 bytes (root name, type, class), a record at least 11.
    let least = 12 + 5 * qd + 11 * records;
    if records > DNS_MAX_RECORDS || declared.is_some_and(|d| d < least) {
        return None;
    }
    if qd == 1 && !dns_question(m.get(12..)?) {
        return None;
    }
    Some(Evidence::reply(Proto::Dns, response))
}

/// The first question (RFC 1035 §4.1.2): a name of labels of at most 63 bytes ending in the
/// root label, then QTYPE and QCLASS, as far as the bytes go.
fn dns_question(q: &[u8]) -> bool {
    let mut at = 0usize;
    loop {
        let Some(len) = byte(q, at) else {
            // Cut inside the name: the labels so far were well formed.
            return at > 0;
        };
        if len == 0 {
            break;
        }
        // RFC 1035 §4.1.4: a pointer needs an earlier name to point to, and the first name
        // has none; 0x40 and 0x80 are the retired extended label types (RFC 6891 §5).
        if len > 63 {
            return false;
        }
        let label = q.get(at + 1..).unwrap_or_default();
        let label = label.get(..usize::from(len)).unwrap_or(label);
        // Names are text in practice (host names, service labels, UTF-8); a control byte is not.
        if label.iter().any(|&c| c < 0x20 || c == 0x7f) {
            return false;
        }
        // RFC 1001 §14.1: a 32-byte label of 'A'..='P' is a NetBIOS name (NBNS), not DNS.
        if at == 0 && len == 32 && label.len() == 32 && label.iter().all(|c| (b'A'..=b'P').contains(c)) {
            return false;
        }
        at += 1 + usize::from(len);
        if at > 255 {
            // RFC 1035 §2.3.4: names are at most 255 bytes.
            return false;
        }
    }
    let qtype = be16(q, at + 1);
    let qclass = be16(q, at + 3);
    // QCLASS IN, CH, HS, NONE (RFC 2136), ANY; mDNS uses the top bit as the unicast-response
    // flag (RFC 6762 §5.4).
    qtype != Some(0) && qclass.is_none_or(|c| matches!(c & 0x7fff, 1 | 3 | 4 | 254 | 255))
}

/// DNS over TCP: the 2-byte length prefix, then the message (RFC 1035 §4.2.2).
fn dns_tcp(p: &[u8]) -> Option<Evidence> {
    let len = usize::from(be16(p, 0)?);
    if len < 12 {
        return None;
    }
    dns(p.get(2..)?, Some(len))
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.x (RFC 9112 §3, §4).

/// Request methods: RFC 9110 §9, PATCH (RFC 5789), WebDAV (RFC 4918, RFC 3253, RFC 5323),
/// Exchange's WebDAV batch and notification extensions, and the RPC over HTTP verbs
/// (MS-RPCH §2.1.2.1) Outlook uses.
const HTTP_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"CHECKOUT",
    b"CHECKIN",
    b"UNCHECKOUT",
    b"MKACTIVITY",
    b"MERGE",
    b"VERSION-CONTROL",
    b"MKWORKSPACE",
    b"LABEL",
    b"UPDATE",
    b"BCOPY",
    b"BDELETE",
    b"BMOVE",
    b"BPROPFIND",
    b"BPROPPATCH",
    b"POLL",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"X-MS-ENUMATTS",
    b"RPC_IN_DATA",
    b"RPC_OUT_DATA",
];

fn http(p: &[u8]) -> Option<Evidence> {
    if p.starts_with(b"HTTP/1.") {
        return http_status(p);
    }
    let sp = p.iter().take(16).position(|&c| c == b' ')?;
    let method = p.get(..sp)?;
    if !HTTP_METHODS.contains(&method) {
        return None;
    }
    let rest = p.get(sp + 1..)?;
    // request-target (RFC 9112 §3.2): origin-form "/...", asterisk-form "*", absolute-form
    // "http://...", authority-form "host:port" (CONNECT), "[v6]:port".
    let first = *rest.first()?;
    if !(first == b'/' || first == b'*' || first == b'[' || first.is_ascii_alphanumeric()) {
        return None;
    }
    let end = rest.iter().position(|&c| !visible(c)).unwrap_or(rest.len());
    let tail = rest.get(end..)?;
    // " HTTP/1.0" or " HTTP/1.1", then CRLF (or a bare LF, RFC 9112 §2.2), as far as the bytes go.
    let ok = [&b" HTTP/1.0\r\n"[..], b" HTTP/1.1\r\n", b" HTTP/1.0\n", b" HTTP/1.1\n"].iter().any(|v| {
        v.starts_with(tail.get(..v.len()).unwrap_or(tail)) && (tail.len() >= v.len() || cut_text(p))
    });
    ok.then_some(Evidence::reply(Proto::Http, false))
}

/// Whether a text payload that stops before its line ends may have been cut: only at
/// [`LOOK`], since request lines are far shorter than any real snaplen.
const fn cut_text(p: &[u8]) -> bool {
    cut(p.len())
}

/// status-line (RFC 9112 §4): "HTTP/1.x NNN " with a 3-digit code 1xx..5xx.
fn http_status(p: &[u8]) -> Option<Evidence> {
    let minor = byte(p, 7)?;
    if !(minor == b'0' || minor == b'1') || byte(p, 8)? != b' ' {
        return None;
    }
    let [c0, c1, c2] = *p.get(9..)?.first_chunk::<3>()?;
    if !(b'1'..=b'5').contains(&c0) || !c1.is_ascii_digit() || !c2.is_ascii_digit() {
        return None;
    }
    // The reason phrase may be empty; some servers then drop its SP too.
    matches!(byte(p, 12), None | Some(b' ' | b'\r' | b'\n')).then_some(Evidence::reply(Proto::Http, true))
}

// ---------------------------------------------------------------------------------------------
// TLS and SSL (RFC 5246 §6.2.1, §7.4; RFC 8446 §5.1, §4; SSL 2.0 client hello, RFC 6101 E.1).

const TLS_CHANGE_CIPHER_SPEC: u8 = 20;
const TLS_ALERT: u8 = 21;
const TLS_HANDSHAKE: u8 = 22;
const TLS_APPLICATION_DATA: u8 = 23;
/// RFC 5246 §6.2.3: a record's ciphertext is at most 2^14 + 2048 bytes.
const TLS_MAX_RECORD: usize = (1 << 14) + 2048;

fn tls(p: &[u8]) -> Option<Evidence> {
    if let Some(e) = sslv2_client_hello(p) {
        return Some(e);
    }
    let h = p.first_chunk::<5>()?;
    let version = u16::from_be_bytes([h[1], h[2]]);
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    if !(0x0300..=0x0304).contains(&version) || len == 0 || len > TLS_MAX_RECORD {
        return None;
    }
    // A second record in the same segment must look like one too (RFC 5246 §6.2.1).
    let next = p.get(5 + len..).unwrap_or_default();
    let next_ok = next.is_empty()
        || (matches!(next.first(), Some(20..=23)) && next.get(1..3).is_none_or(|v| v == &h[1..3]));
    if !next_ok {
        return None;
    }
    // No TLS record layer ever carried 0x0304 (RFC 8446 §5.1 freezes it at 0x0303), so the
    // records that have no inner structure to check need one of the versions really sent.
    let strict = (0x0300..=0x0303).contains(&version);
    match h[0] {
        TLS_HANDSHAKE => tls_handshake(p.get(5..)?, len),
        // RFC 5246 §7.1: one byte, value 1; RFC 8446 §5 (middlebox compatibility) too.
        TLS_CHANGE_CIPHER_SPEC if strict && len == 1 && byte(p, 5).is_none_or(|b| b == 1) => {
            Some(Evidence::of(Proto::Tls))
        }
        // RFC 5246 §7.2: a plaintext alert is 2 bytes, level warning(1) or fatal(2); an
        // encrypted one is longer.
        TLS_ALERT if strict && (len > 2 || (len == 2 && matches!(byte(p, 5), None | Some(1 | 2)))) => {
            Some(Evidence::of(Proto::Tls))
        }
        TLS_APPLICATION_DATA if strict => Some(Evidence::of(Proto::Tls)),
        _ => None,
    }
}

/// The first handshake message of a record (RFC 5246 §7.4, RFC 8446 §4).
fn tls_handshake(body: &[u8], record_len: usize) -> Option<Evidence> {
    let Some(&kind) = body.first() else {
        // Cut right after the record header: the header alone is strong enough.
        return Some(Evidence::of(Proto::Tls));
    };
    let Some(l) = body.get(1..4) else {
        return matches!(kind, 1 | 2).then_some(Evidence::of(Proto::Tls));
    };
    let hs_len = (usize::from(l[0]) << 16) | (usize::from(l[1]) << 8) | usize::from(l[2]);
    match kind {
        1 | 2 => {
            // A hello is one message of at least version, random, session id length and a
            // cipher suite, and fits its record (RFC 5246 §7.4.1.2, §7.4.1.3).
            if hs_len < 38 || hs_len + 4 > record_len {
                return None;
            }
            let hello_version = be16(body, 4);
            if hello_version.is_some_and(|v| !(0x0300..=0x0303).contains(&v)) {
                return None;
            }
            // legacy_session_id: at most 32 bytes.
            if byte(body, 38).is_some_and(|n| n > 32) {
                return None;
            }
            Some(Evidence::reply(Proto::Tls, kind == 2))
        }
        // Later messages of the handshake flight (certificate, key exchange, hello done,
        // certificate request/verify, finished, new session ticket): at least their header
        // must fit the record. An encrypted Finished lands here or is rejected; it is TLS
        // either way.
        4 | 11..=16 | 20 if hs_len + 4 <= record_len => Some(Evidence::of(Proto::Tls)),
        _ => None,
    }
}

/// SSL 2.0 CLIENT-HELLO in a 2-byte record header, as SSL 3.0/TLS clients sent it for
/// compatibility (RFC 6101 E.1, RFC 5246 E.2).
fn sslv2_client_hello(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<11>()?;
    if h[0] & 0x80 == 0 || h[2] != 1 {
        return None;
    }
    let len = (usize::from(h[0] & 0x7f) << 8) | usize::from(h[1]);
    let version = u16::from_be_bytes([h[3], h[4]]);
    let ciphers = usize::from(u16::from_be_bytes([h[5], h[6]]));
    let session = usize::from(u16::from_be_bytes([h[7], h[8]]));
    let challenge = usize::from(u16::from_be_bytes([h[9], h[10]]));
    let ok = (version == 0x0002 || (0x0300..=0x0303).contains(&version))
        && ciphers > 0
        && ciphers % 3 == 0
        && (session == 0 || session == 16)
        && (16..=32).contains(&challenge)
        && len == 9 + ciphers + session + challenge;
    ok.then_some(Evidence::reply(Proto::Tls, false))
}

// ---------------------------------------------------------------------------------------------
// SMTP (RFC 5321 §4.2, §4.3.1) and FTP (RFC 959 §4.2) greetings; client commands.

/// A "220" greeting: SMTP when its first line names SMTP (or ESMTP), FTP when it names FTP;
/// one naming neither is no evidence (both use 220).
fn greeting(p: &[u8]) -> Option<Evidence> {
    if !(p.starts_with(b"220 ") || p.starts_with(b"220-")) {
        return None;
    }
    let (line, _) = first_line(p);
    if !texty(line) {
        return None;
    }
    // SMTP first: "220 ftp.example.com ESMTP" is a mail server on a host named ftp.
    if contains_ci(line, b"SMTP") {
        Some(Evidence::reply(Proto::Smtp, true))
    } else if contains_ci(line, b"FTP") {
        Some(Evidence::reply(Proto::Ftp, true))
    } else {
        None
    }
}

/// "EHLO domain" / "HELO domain" (RFC 5321 §4.1.1.1); verbs are case-insensitive (§2.4).
fn smtp_client(p: &[u8]) -> Option<Evidence> {
    if !(starts_with_ci(p, b"EHLO ") || starts_with_ci(p, b"HELO ")) {
        return None;
    }
    let (line, _) = first_line(p);
    let arg = line.get(5..)?;
    (!arg.is_empty() && arg.iter().copied().all(visible)).then_some(Evidence::reply(Proto::Smtp, false))
}

/// A client's first FTP commands (RFC 959 §4.1.1, RFC 2389 §3 FEAT, RFC 4217 §6.1 AUTH).
/// "USER name" takes exactly one parameter; IRC's USER takes four (see [`irc`]).
fn ftp_client(p: &[u8]) -> Option<Evidence> {
    let (line, ended) = first_line(p);
    if !ended {
        return None;
    }
    let ok = if starts_with_ci(line, b"USER ") {
        line.get(5..).is_some_and(|n| !n.is_empty() && n.iter().copied().all(visible))
    } else {
        line.eq_ignore_ascii_case(b"FEAT")
            || line.eq_ignore_ascii_case(b"AUTH TLS")
            || line.eq_ignore_ascii_case(b"AUTH SSL")
    };
    ok.then_some(Evidence::reply(Proto::Ftp, false))
}

// ---------------------------------------------------------------------------------------------
// IMAP (RFC 3501 §7.1.1 greeting, §6 commands).

fn imap(p: &[u8]) -> Option<Evidence> {
    let (line, ended) = first_line(p);
    if p.starts_with(b"* OK") || p.starts_with(b"* PREAUTH") {
        return (texty(line) && contains_ci(line, b"IMAP")).then_some(Evidence::reply(Proto::Imap, true));
    }
    // tag = 1*<ASTRING-CHAR except "+"> (RFC 3501 §9): no specials, no wildcards.
    let sp = line.iter().take(33).position(|&c| c == b' ')?;
    let tag = line.get(..sp)?;
    // A three-digit "tag" is an FTP or SMTP reply code ("230 Login successful.").
    let reply_code = tag.len() == 3 && tag.iter().all(u8::is_ascii_digit);
    let tag_ok =
        !tag.is_empty() && !reply_code && tag.iter().all(|&c| visible(c) && !br#"(){%*"\]+"#.contains(&c));
    if !tag_ok {
        return None;
    }
    let cmd = line.get(sp + 1..)?;
    let ok = ((cmd.eq_ignore_ascii_case(b"CAPABILITY") || cmd.eq_ignore_ascii_case(b"STARTTLS")) && ended)
        // LOGIN userid password (§6.2.3): two arguments.
        || (starts_with_ci(cmd, b"LOGIN ") && imap_two_args(cmd.get(6..).unwrap_or_default()))
        || (starts_with_ci(cmd, b"AUTHENTICATE ") && cmd.len() > 13);
    ok.then_some(Evidence::reply(Proto::Imap, false))
}

/// At least two non-empty space-separated arguments.
fn imap_two_args(args: &[u8]) -> bool {
    let mut words = args.split(|&c| c == b' ');
    words.next().is_some_and(|w| !w.is_empty()) && words.next().is_some_and(|w| !w.is_empty())
}

// ---------------------------------------------------------------------------------------------
// IRC (RFC 1459 §2.3, §4.1; RFC 2812 §3.1).

fn irc(p: &[u8]) -> Option<Evidence> {
    if starts_with_ci(p, b"NICK ") {
        return irc_nick(p).then_some(Evidence::reply(Proto::Irc, false));
    }
    if starts_with_ci(p, b"USER ") {
        return irc_user(p).then_some(Evidence::reply(Proto::Irc, false));
    }
    // PASS comes first in registration (RFC 2812 §3.1.1), NICK right after; FTP's PASS is
    // never followed by NICK.
    if starts_with_ci(p, b"PASS ") {
        let (line, ended) = first_line(p);
        let next = after_line(p)?;
        return (ended && texty(line) && starts_with_ci(next, b"NICK ") && irc_nick(next))
            .then_some(Evidence::reply(Proto::Irc, false));
    }
    // Old servers greet with "NOTICE AUTH :*** Looking up your hostname".
    if p.starts_with(b"NOTICE AUTH ") {
        return Some(Evidence::reply(Proto::Irc, true));
    }
    irc_server_line(p).then_some(Evidence::reply(Proto::Irc, true))
}

/// "NICK nickname": letter or special, then letters, digits, specials, '-' (RFC 2812 §2.3.1;
/// servers today allow more than 9).
fn irc_nick(p: &[u8]) -> bool {
    let (line, ended) = first_line(p);
    let Some(nick) = line.get(5..) else { return false };
    let nick = nick.strip_prefix(b":").unwrap_or(nick);
    let special = |c: u8| b"[]\\`_^{|}".contains(&c);
    let Some((&first, rest)) = nick.split_first() else { return false };
    (ended || cut_text(p))
        && nick.len() <= 32
        && (first.is_ascii_alphabetic() || special(first))
        && rest.iter().all(|&c| c.is_ascii_alphanumeric() || special(c) || c == b'-')
}

/// "USER user mode unused :realname": four parameters (RFC 2812 §3.1.3; RFC 1459 §4.1.3
/// names them username hostname servername realname).
fn irc_user(p: &[u8]) -> bool {
    let (line, _) = first_line(p);
    let Some(params) = line.get(5..) else { return false };
    if !texty(params) {
        return false;
    }
    let mut rest = params;
    for _ in 0..3 {
        let Some(sp) = rest.iter().position(|&c| c == b' ') else { return false };
        let (word, tail) = rest.split_at(sp);
        if word.is_empty() || word.starts_with(b":") {
            return false;
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    !rest.is_empty()
}

/// ":server NNN " (a numeric reply, RFC 1459 §2.4) or ":server NOTICE ".
fn irc_server_line(p: &[u8]) -> bool {
    let Some(rest) = p.strip_prefix(b":") else { return false };
    let (line, _) = first_line(rest);
    let Some(sp) = line.iter().position(|&c| c == b' ') else { return false };
    let (prefix, tail) = line.split_at(sp);
    if prefix.is_empty() || !prefix.iter().copied().all(visible) {
        return false;
    }
    let numeric = matches!(
        tail.first_chunk::<5>(),
        Some([b' ', a, b, c, b' ']) if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()
    );
    numeric || tail.starts_with(b" NOTICE ")
}

// ---------------------------------------------------------------------------------------------
// Telnet (RFC 854 option negotiation, RFC 855 subnegotiation).

const IAC: u8 = 255;
const SE: u8 = 240;
const SB: u8 = 250;

/// Options with an assigned code (IANA telnet-options: 0..=49, 138..=140, 255 EXOPL).
const fn telnet_option(o: u8) -> bool {
    matches!(o, 0..=49 | 138..=140 | 255)
}

fn telnet(p: &[u8]) -> Option<Evidence> {
    let mut at = 0usize;
    let mut triples = 0usize;
    loop {
        match (byte(p, at), byte(p, at + 1), byte(p, at + 2)) {
            (None, ..) => break,
            (Some(IAC), Some(251..=254), Some(o)) if telnet_option(o) => {
                triples += 1;
                at += 3;
            }
            (Some(IAC), Some(SB), Some(o)) if telnet_option(o) => {
                // Up to IAC SE, or to the end when cut.
                let body = p.get(at + 3..).unwrap_or_default();
                match body.windows(2).position(|w| w == [IAC, SE]) {
                    Some(i) => at += 3 + i + 2,
                    None => break,
                }
            }
            // Data after the negotiations (a banner, "login:") needs two whole triples first;
            // a lone triple is accepted only as the whole payload.
            (Some(c), ..) if c != IAC && at > 0 => {
                return (triples >= 2).then_some(Evidence::of(Proto::Telnet));
            }
            // A negotiation cut at the end of the slice.
            (Some(IAC), Some(251..=254) | None, None) if at > 0 => break,
            _ => return None,
        }
    }
    (triples >= 1).then_some(Evidence::of(Proto::Telnet))
}

// ---------------------------------------------------------------------------------------------
// DHCP / BOOTP (RFC 2131 §2, RFC 951 §3).

const DHCP_MAGIC: [u8; 4] = [99, 130, 83, 99];

fn dhcp(p: &[u8]) -> Option<Evidence> {
    // Through chaddr (offset 44): [`LOOK`] bytes never reach the magic cookie at 236, so the
    // check leans on the fields before it: Ethernet (htype 1, hlen 6), at most 16 relay hops
    // (RFC 1542 §4.1.1), the 15 flag bits that MUST be zero, and the 10 unused chaddr bytes.
    let h = p.first_chunk::<44>()?;
    let op = h[0];
    if !matches!(op, 1 | 2) || h[1] != 1 || h[2] != 6 || h[3] > 16 {
        return None;
    }
    if u16::from_be_bytes([h[10], h[11]]) & 0x7fff != 0 || h[34..44].iter().any(|&b| b != 0) {
        return None;
    }
    // BOOTP without the cookie is not DHCP (RFC 2131 §3).
    if p.get(236..240).is_some_and(|c| c != DHCP_MAGIC) {
        return None;
    }
    Some(Evidence::reply(Proto::Dhcp, op == 2))
}

// ---------------------------------------------------------------------------------------------
// IKE / ISAKMP (RFC 2408 §3.1, RFC 7296 §3.1); NAT traversal (RFC 3948 §2.2).

fn ike(p: &[u8]) -> Option<Evidence> {
    // On UDP 4500 IKE follows a 4-byte non-ESP marker of zeros (an ESP SPI is never 0).
    match p.first_chunk::<4>() {
        Some([0, 0, 0, 0]) => ike_header(p.get(4..)?),
        _ => ike_header(p),
    }
}

fn ike_header(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<28>()?;
    let next = h[16];
    let version = h[17];
    let exchange = h[18];
    let flags = h[19];
    let len = usize::try_from(u32::from_be_bytes([h[24], h[25], h[26], h[27]])).ok()?;
    // The initiator's SPI (cookie) is never zero (RFC 2408 §3.1, RFC 7296 §3.1).
    if h[..8].iter().all(|&b| b == 0) || len < 28 || len < p.len() || len > 65_535 {
        return None;
    }
    let responder_spi_zero = h[8..16].iter().all(|&b| b == 0);
    match version {
        // IKEv1: payloads SA..VID (RFC 2408 §3.1), NAT-D/NAT-OA (RFC 3947 §3); exchanges
        // Base..Informational, Quick Mode and New Group Mode (RFC 2409 §5.5, §5.6); flags
        // E, C, A only.
        0x10 => {
            let ok = matches!(next, 1..=13 | 20 | 21 | 130 | 131)
                && matches!(exchange, 1..=5 | 32 | 33)
                && flags & !0x07 == 0;
            // Only the very first message has no responder cookie.
            ok.then(|| {
                if responder_spi_zero { Evidence::reply(Proto::Ike, false) } else { Evidence::of(Proto::Ike) }
            })
        }
        // IKEv2: payloads SA..EAP (33..=48) and SKF (RFC 7383); exchanges IKE_SA_INIT..
        // INFORMATIONAL, IKE_SESSION_RESUME (RFC 5723), IKE_INTERMEDIATE (RFC 9242),
        // IKE_FOLLOWUP_KE (RFC 9370); flags I, V, R only (RFC 7296 §3.1).
        0x20 => {
            let ok =
                matches!(next, 33..=48 | 53) && matches!(exchange, 34..=38 | 43 | 44) && flags & !0x38 == 0;
            ok.then_some(Evidence::reply(Proto::Ike, flags & 0x20 != 0))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// RADIUS (RFC 2865 §3, §5; RFC 2866 §3; RFC 5176 §3).

/// Attributes whose value is a 4-byte integer, address or time (RFC 2865 §5, RFC 2866 §5):
/// their length is exactly 6.
const RADIUS_FIXED4: &[u8] = &[
    4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 27, 28, 29, 37, 38, 40, 41, 42, 43, 45, 46, 47, 48, 49, 51, 52,
    53, 55, 61, 62,
];

fn radius(p: &[u8]) -> Option<Evidence> {
    let h = p.first_chunk::<20>()?;
    let code = h[0];
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Access-Request/Accept/Reject, Accounting-Request/Response, Access-Challenge,
    // Status-Server/Client, and the dynamic authorization codes 40..=45 (RFC 5176).
    if !matches!(code, 1..=5 | 11..=13 | 40..=45) || !(20..=4096).contains(&len) || !agrees(len, p.len()) {
        return None;
    }
    // Attributes (RFC 2865 §5): type, length >= 2, value; walk what the bytes show.
    let end = len.min(p.len());
    let mut at = 20usize;
    let mut whole = 0usize;
    while at < end {
        let (Some(kind), Some(alen)) = (byte(p, at), byte(p, at + 1)) else { break };
        let alen = usize::from(alen);
        // Type 0 is not assigned; an empty text/string value is not allowed (§5: "MUST NOT
        // be sent" for zero-length strings); fixed-size values have their size.
        let ok = kind != 0
            && alen >= 3
            && (!RADIUS_FIXED4.contains(&kind) || alen == 6)
            && (kind != 80 || alen == 18)
            && (kind != 26 || alen >= 7);
        if !ok {
            return None;
        }
        at += alen;
        if at <= end {
            whole += 1;
        }
    }
    // Attributes must end where the packet does; a cut packet must show two whole ones (a
    // request starts with short ones: User-Name, NAS-IP-Address, NAS-Port).
    if at != end && !(cut(p.len()) && at > end && whole >= 2) {
        return None;
    }
    let reply = match code {
        2 | 3 | 5 | 11 | 41 | 42 | 44 | 45 => Some(true),
        1 | 4 | 40 | 43 => Some(false),
        _ => None,
    };
    Some(Evidence { proto: Proto::Radius, interface: None, reply })
}

// ---------------------------------------------------------------------------------------------
// TFTP (RFC 1350 §5; options, RFC 2347).

const TFTP_PORT: u16 = 69;

fn tftp(ports: (u16, u16), p: &[u8]) -> Option<Evidence> {
    // Two bytes of opcode and two strings are a weak signature: only on the TFTP port
    // (RFC 1350 §4: the request goes to 69; the transfer moves to other ports).
    if ports.0 != TFTP_PORT && ports.1 != TFTP_PORT {
        return None;
    }
    let op = be16(p, 0)?;
    if !matches!(op, 1 | 2) {
        return None;
    }
    let rest = p.get(2..)?;
    let name_end = rest.iter().position(|&c| c == 0);
    let name = rest.get(..name_end.unwrap_or(rest.len()))?;
    if name.is_empty() || !name.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        return None;
    }
    let Some(name_end) = name_end else {
        return cut(p.len()).then_some(Evidence::reply(Proto::Tftp, false));
    };
    let mode_bytes = rest.get(name_end + 1..)?;
    let mode_end = mode_bytes.iter().position(|&c| c == 0);
    let mode = mode_bytes.get(..mode_end.unwrap_or(mode_bytes.len()))?;
    let known = [&b"netascii"[..], b"octet", b"mail"];
    let ok = match mode_end {
        Some(_) => known.iter().any(|m| mode.eq_ignore_ascii_case(m)),
        None => {
            cut(p.len())
                && known.iter().any(|m| m.get(..mode.len()).is_some_and(|k| k.eq_ignore_ascii_case(mode)))
        }
    };
    ok.then_some(Evidence::reply(Proto::Tftp, false))
}

// ---------------------------------------------------------------------------------------------
// L2TP (RFC 2661 §3.1, §4.1, §3.2).

/// PPP protocols the first data messages carry: IPv4, IPv6, IPCP, IPV6CP, LCP, PAP, CHAP,
/// CCP (RFC 1661 §2, IANA PPP DLL protocol numbers).
const PPP_PROTOCOLS: &[u16] = &[0x0021, 0x0057, 0x8021, 0x8057, 0xc021, 0xc023, 0xc223, 0x80fd];

fn l2tp(p: &[u8]) -> Option<Evidence> {
    let flags = byte(p, 0)?;
    let ver = byte(p, 1)?;
    // Reserved bits (the x's of §3.1) are zero and the version is 2.
    if flags & 0x34 != 0 || ver != 2 {
        return None;
    }
    let has_length = flags & 0x40 != 0;
    let has_sequence = flags & 0x08 != 0;
    let has_offset = flags & 0x02 != 0;
    if flags & 0x80 != 0 {
        // Control messages: L=1, S=1, O=0, P=0 (§3.1).
        if flags != 0xc8 {
            return None;
        }
        let len = usize::from(be16(p, 2)?);
        if len < 12 || !agrees(len, p.len()) {
            return None;
        }
        if len == 12 {
            // A zero-length body acknowledgement (ZLB, §5.8).
            return Some(Evidence::of(Proto::L2tp));
        }
        // The first AVP is Message Type: M set, not hidden, length 8, vendor 0, attribute 0
        // (§4.4.1), with a defined message type (§3.2).
        let Some([0x80, 0x08, 0, 0, 0, 0, hi, lo]) = p.get(12..)?.first_chunk::<8>().copied() else {
            return None;
        };
        let kind = u16::from_be_bytes([hi, lo]);
        if !matches!(kind, 1..=4 | 6..=12 | 14..=16) {
            return None;
        }
        let reply = match kind {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        };
        return Some(Evidence { proto: Proto::L2tp, interface: None, reply });
    }
    // Data message: optional Length, tunnel and session IDs, optional Ns/Nr, optional
    // Offset Size and padding, then a PPP frame.
    let mut at = 2usize;
    if has_length {
        let len = usize::from(be16(p, at)?);
        if !agrees(len, p.len()) {
            return None;
        }
        at += 2;
    }
    at += 4;
    if has_sequence {
        at += 4;
    }
    if has_offset {
        at += 2 + usize::from(be16(p, at)?);
    }
    let ppp = p.get(at..)?;
    let proto = match ppp.first_chunk::<4>() {
        Some([0xff, 0x03, hi, lo]) => u16::from_be_bytes([*hi, *lo]),
        // Address and control field compression (RFC 1661 §6.6).
        _ => be16(ppp, 0)?,
    };
    PPP_PROTOCOLS.contains(&proto).then_some(Evidence::of(Proto::L2tp))
}

// ---------------------------------------------------------------------------------------------
// RTP and RTCP (RFC 3550 §5.1, §6.4; payload types RFC 3551 §6).

/// Static payload types in use (RFC 3551 §6 tables 4 and 5) and the dynamic range.
const fn rtp_payload_type(pt: u8) -> bool {
    matches!(pt, 0 | 3..=18 | 25 | 26 | 28 | 31..=34 | 96..=127)
}

fn rtp(ports: (u16, u16), p: &[u8]) -> Option<Evidence> {
    // RFC 3550 §11: RTP uses an even port; the header has no more than 2 bits of version to
    // check, so the port parity (and a non-system port) is required as a hint.
    let (a, b) = ports;
    if a % 2 != 0 || b % 2 != 0 || a < 1024 || b < 1024 {
        return None;
    }
    let h = p.first_chunk::<12>()?;
    if h[0] >> 6 != 2 || !rtp_payload_type(h[1] & 0x7f) {
        return None;
    }
    let padding = h[0] & 0x20 != 0;
    let extension = h[0] & 0x10 != 0;
    let mut header = 12 + 4 * usize::from(h[0] & 0x0f);
    if header > p.len() {
        return None;
    }
    if extension {
        // §5.3.1: profile-defined 16 bits, then the length in 32-bit words.
        let words = usize::from(be16(p, header + 2)?);
        header += 4 + 4 * words;
        if header > p.len() && !cut(p.len()) {
            return None;
        }
    }
    // §5.1: with P set, the last byte counts the padding, itself included.
    if padding && !cut(p.len()) {
        let pad = usize::from(*p.last()?);
        if pad == 0 || header + pad > p.len() {
            return None;
        }
    }
    Some(Evidence::of(Proto::Rtp))
}

/// A compound RTCP packet (RFC 3550 §6.1): it starts with SR (200) or RR (201), every packet
/// is version 2 with a known type, only the last is padded, and the lengths add up to the
/// datagram.
fn rtcp(p: &[u8]) -> Option<Evidence> {
    if !matches!(byte(p, 1)?, 200 | 201) {
        return None;
    }
    let mut at = 0usize;
    while at < p.len() {
        let (Some(b0), Some(pt)) = (byte(p, at), byte(p, at + 1)) else { return None };
        // SR, RR, SDES, BYE, APP (RFC 3550 §12.1), RTPFB and PSFB (RFC 4585 §6.1).
        if b0 >> 6 != 2 || !(200..=206).contains(&pt) {
            return None;
        }
        let count = usize::from(b0 & 0x1f);
        let words = usize::from(be16(p, at + 2)?);
        // §6.4.1, §6.4.2: the sender's SSRC and info (6 words) or the SSRC (1), and 6 words
        // per report block; profile-specific extensions after them are allowed but unused in
        // practice, so the length must be exactly that.
        let fits = match pt {
            200 => words == 6 + 6 * count,
            201 => words == 1 + 6 * count,
            _ => words >= 1,
        };
        if !fits {
            return None;
        }
        let next = at + 4 * (words + 1);
        if b0 & 0x20 != 0 && next < p.len() {
            return None;
        }
        at = next;
    }
    agrees(at, p.len()).then_some(Evidence::of(Proto::Rtp))
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::classify::evidence::inspect;
    use crate::services::Transport;
    use proptest::prelude::*;

    const NO_HINT: (u16, u16) = (40_001, 40_003);

    fn t(p: &[u8]) -> Option<(Proto, Option<bool>)> {
        tcp(p).map(|e| (e.proto, e.reply))
    }

    fn u(p: &[u8]) -> Option<(Proto, Option<bool>)> {
        udp(NO_HINT, p).map(|e| (e.proto, e.reply))
    }

    fn up(ports: (u16, u16), p: &[u8]) -> Option<(Proto, Option<bool>)> {
        udp(ports, p).map(|e| (e.proto, e.reply))
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    // --- DNS ----------------------------------------------------------------------------

    /// www.example.com A IN, RD set.
    fn dns_query() -> Vec<u8> {
        cat(&[
            &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0],
            b"\x03www\x07example\x03com\x00",
            &[0, 1, 0, 1],
        ])
    }

    fn dns_response() -> Vec<u8> {
        let mut r = dns_query();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 216, 34]);
        r
    }

    #[test]
    fn dns_accepts_query_and_response_on_udp_and_tcp() {
        assert_eq!(u(&dns_query()), Some((Proto::Dns, Some(false))));
        assert_eq!(u(&dns_response()), Some((Proto::Dns, Some(true))));
        let q = dns_query();
        let framed = cat(&[&u16::try_from(q.len()).unwrap().to_be_bytes(), &q]);
        assert_eq!(t(&framed), Some((Proto::Dns, Some(false))));
        // Cut inside the name.
        assert_eq!(u(&dns_query()[..16]), Some((Proto::Dns, Some(false))));
        // mDNS-style QU question (class top bit).
        let mut qu = dns_query();
        let n = qu.len();
        qu[n - 2] = 0x80;
        assert_eq!(u(&qu).map(|x| x.0), Some(Proto::Dns));
    }

    #[test]
    fn dns_rejects_near_misses() {
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut q = dns_query();
            f(&mut q);
            u(&q)
        };
        assert_eq!(bad(&|q| q[3] |= 0x40), None, "Z bit");
        assert_eq!(bad(&|q| q[2] = 3 << 3), None, "opcode 3");
        assert_eq!(bad(&|q| q[5] = 2), None, "two questions");
        assert_eq!(bad(&|q| q[7] = 1), None, "a query with an answer");
        assert_eq!(bad(&|q| q[12] = 64), None, "label longer than 63");
        assert_eq!(bad(&|q| q[12] = 0xc0), None, "pointer in the first name");
        assert_eq!(bad(&|q| q[14] = 1), None, "control byte in a label");
        assert_eq!(bad(&|q| q[3] = 0x0b), None, "RCODE 11");
        assert_eq!(bad(&|q| *q.last_mut().unwrap() = 7), None, "QCLASS 7");
        assert_eq!(u(&dns_query()[..11]), None, "cut before the header ends");
        // NBNS name query: 32-byte first-level encoded name (RFC 1001 §14.1).
        let nb = cat(&[
            &[0x80, 0x01, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0x20],
            b"EBEBEBEBEBEBEBEBEBEBEBEBEBEBEBAA",
            &[0, 0, 0x20, 0, 1],
        ]);
        assert_eq!(u(&nb), None);
        // TCP: a length prefix too small for the records the header declares.
        let r = dns_response();
        let framed = cat(&[&[0, 20], &r]);
        assert_eq!(t(&framed), None);
        let framed = cat(&[&[0, 8], &r]);
        assert_eq!(t(&framed), None);
    }

    // --- HTTP ---------------------------------------------------------------------------

    #[test]
    fn http_accepts_requests_and_status_lines() {
        let req = |s: &[u8]| t(s);
        assert_eq!(req(b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n"), Some((Proto::Http, Some(false))));
        assert_eq!(req(b"PROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\n"), Some((Proto::Http, Some(false))));
        assert_eq!(
            req(b"RPC_IN_DATA /rpc/rpcproxy.dll?ex:6001 HTTP/1.1\r\n"),
            Some((Proto::Http, Some(false)))
        );
        assert_eq!(req(b"CONNECT example.com:443 HTTP/1.0\r\n\r\n"), Some((Proto::Http, Some(false))));
        assert_eq!(req(b"OPTIONS * HTTP/1.1\r\n"), Some((Proto::Http, Some(false))));
        assert_eq!(req(b"HTTP/1.1 200 OK\r\nServer: x\r\n"), Some((Proto::Http, Some(true))));
        assert_eq!(req(b"HTTP/1.0 404 Not Found\r\n"), Some((Proto::Http, Some(true))));
        assert_eq!(req(b"HTTP/1.1 204\r\n"), Some((Proto::Http, Some(true))));
        // A target longer than the look-ahead.
        let mut long = b"GET /".to_vec();
        long.resize(LOOK, b'a');
        assert_eq!(req(&long), Some((Proto::Http, Some(false))));
    }

    #[test]
    fn http_rejects_near_misses() {
        for s in [
            &b"GET / HTTP/2.0\r\n"[..],
            b"FETCH / HTTP/1.1\r\n",
            b"get / HTTP/1.1\r\n",
            b"GET /\r\n",
            b"GET / HTTP/1.1",
            b"GET  / HTTP/1.1\r\n",
            b"GET /",
            b"HTTP/1.1 600 Odd\r\n",
            b"HTTP/1.2 200 OK\r\n",
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
        ] {
            assert_eq!(t(s), None, "{}", String::from_utf8_lossy(s));
        }
    }

    // --- TLS ----------------------------------------------------------------------------

    fn client_hello() -> Vec<u8> {
        let body = cat(&[&[3, 3], &[7; 32], &[0], &[0, 2, 0x13, 0x01], &[1, 0]]);
        let hs = cat(&[&[1, 0, 0, u8::try_from(body.len()).unwrap()], &body]);
        cat(&[&[22, 3, 1, 0, u8::try_from(hs.len()).unwrap()], &hs])
    }

    fn server_hello() -> Vec<u8> {
        let body = cat(&[&[3, 3], &[9; 32], &[32], &[5; 32], &[0x13, 0x01], &[0]]);
        let hs = cat(&[&[2, 0, 0, u8::try_from(body.len()).unwrap()], &body]);
        cat(&[&[22, 3, 3, 0, u8::try_from(hs.len()).unwrap()], &hs, &[20, 3, 3, 0, 1, 1]])
    }

    #[test]
    fn tls_accepts_hellos_and_sslv2() {
        assert_eq!(t(&client_hello()), Some((Proto::Tls, Some(false))));
        assert_eq!(t(&server_hello()), Some((Proto::Tls, Some(true))));
        assert_eq!(t(&client_hello()[..9]), Some((Proto::Tls, Some(false))), "cut");
        assert_eq!(t(&[23, 3, 3, 0, 40, 1, 2, 3]).map(|x| x.0), Some(Proto::Tls));
        assert_eq!(t(&[21, 3, 1, 0, 2, 2, 40]).map(|x| x.0), Some(Proto::Tls));
        let v2 = cat(&[&[0x80, 46, 1, 3, 1, 0, 21, 0, 0, 0, 16], &[0; 21], &[1; 16]]);
        assert_eq!(t(&v2), Some((Proto::Tls, Some(false))));
    }

    #[test]
    fn tls_rejects_near_misses() {
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut h = client_hello();
            f(&mut h);
            t(&h)
        };
        assert_eq!(bad(&|h| h[2] = 5), None, "record version 0x0305");
        assert_eq!(bad(&|h| h[1] = 2), None, "record version 0x0201");
        assert_eq!(bad(&|h| h[5] = 3), None, "handshake type 3");
        assert_eq!(bad(&|h| h[8] = 0xff), None, "hello longer than its record");
        assert_eq!(bad(&|h| h[10] = 4), None, "hello version 0x0304");
        assert_eq!(bad(&|h| h[43] = 33), None, "session id of 33 bytes");
        assert_eq!(bad(&|h| h.extend_from_slice(&[99, 3, 1])), None, "a second record of type 99");
        assert_eq!(t(&[23, 3, 4, 0, 40, 1]), None, "application data with version 0x0304");
        assert_eq!(t(&[22, 3, 1, 0, 0]), None, "empty record");
        assert_eq!(t(&[22, 3, 1, 0x48, 1, 1]), None, "record over 2^14 + 2048");
        assert_eq!(t(&[21, 3, 1, 0, 2, 3, 40]), None, "alert level 3");
        let v2 = cat(&[&[0x80, 47, 1, 3, 1, 0, 21, 0, 0, 0, 16], &[0; 21], &[1; 16]]);
        assert_eq!(t(&v2), None, "SSLv2 length disagrees");
    }

    // --- SMTP, FTP, IMAP, IRC -------------------------------------------------------------

    #[test]
    fn greetings_are_kept_apart() {
        assert_eq!(t(b"220 mail.example.com ESMTP Postfix\r\n"), Some((Proto::Smtp, Some(true))));
        assert_eq!(t(b"220-smtp.example.com Microsoft SMTP MAIL ready\r\n"), Some((Proto::Smtp, Some(true))));
        assert_eq!(t(b"220 ftp.example.com ESMTP\r\n"), Some((Proto::Smtp, Some(true))));
        assert_eq!(t(b"220 Microsoft FTP Service\r\n"), Some((Proto::Ftp, Some(true))));
        assert_eq!(t(b"220 ProFTPD 1.3.5 Server (Debian)\r\n"), Some((Proto::Ftp, Some(true))));
        assert_eq!(t(b"220 Welcome\r\n"), None, "names neither");
        assert_eq!(t(b"220 Welcome\r\n220 FTP\r\n"), None, "only the first line counts");
        assert_eq!(t(b"221 SMTP bye\r\n"), None);
        assert_eq!(t(b"220SMTP\r\n"), None);
    }

    #[test]
    fn client_commands() {
        assert_eq!(t(b"EHLO client.example.com\r\n"), Some((Proto::Smtp, Some(false))));
        assert_eq!(t(b"helo [10.0.0.1]\r\n"), Some((Proto::Smtp, Some(false))));
        assert_eq!(t(b"EHLO \r\n"), None);
        assert_eq!(t(b"USER anonymous\r\n"), Some((Proto::Ftp, Some(false))));
        assert_eq!(t(b"AUTH TLS\r\n"), Some((Proto::Ftp, Some(false))));
        assert_eq!(t(b"FEAT\r\n"), Some((Proto::Ftp, Some(false))));
        assert_eq!(t(b"USER anonymous"), None, "no line end");
        assert_eq!(t(b"FEATURE\r\n"), None);
        assert_eq!(t(b"USER guest 0 * :Real Name\r\n"), Some((Proto::Irc, Some(false))));
        assert_eq!(t(b"USER a b\r\n"), None, "neither FTP nor IRC");
        assert_eq!(t(b"USER a b c\r\n"), None, "three parameters");
        assert_eq!(t(b"PASS secret\r\n"), None, "FTP's PASS alone is no evidence");
    }

    #[test]
    fn imap() {
        assert_eq!(
            t(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n"),
            Some((Proto::Imap, Some(true)))
        );
        assert_eq!(t(b"a001 CAPABILITY\r\n"), Some((Proto::Imap, Some(false))));
        assert_eq!(t(b"A1 login user pass\r\n"), Some((Proto::Imap, Some(false))));
        assert_eq!(t(b"1 STARTTLS\r\n"), Some((Proto::Imap, Some(false))));
        assert_eq!(t(b"* OK ready\r\n"), None, "no IMAP in the greeting");
        assert_eq!(t(b"+OK POP3 ready\r\n"), None);
        assert_eq!(t(b"a001 CAPABILITIES\r\n"), None);
        assert_eq!(t(b"a+1 CAPABILITY\r\n"), None, "'+' in a tag");
        assert_eq!(t(b"a001 LOGIN \r\n"), None);
        assert_eq!(t(b"a001 LOGIN user\r\n"), None, "one argument");
        assert_eq!(t(b"230 Login successful.\r\n"), None, "an FTP reply");
        assert_eq!(t(b"230 LOGIN ok now\r\n"), None, "a reply code is no tag");
        assert_eq!(t(b"a001 CAPABILITY"), None, "no line end");
    }

    #[test]
    fn irc() {
        assert_eq!(t(b"NICK alice\r\nUSER alice 0 * :Alice\r\n"), Some((Proto::Irc, Some(false))));
        assert_eq!(t(b"PASS secret\r\nNICK bob\r\nUSER b 0 * :B\r\n"), Some((Proto::Irc, Some(false))));
        assert_eq!(t(b":irc.example.net 001 alice :Welcome\r\n"), Some((Proto::Irc, Some(true))));
        assert_eq!(t(b":irc.example.net NOTICE * :*** Looking up\r\n"), Some((Proto::Irc, Some(true))));
        assert_eq!(t(b"NOTICE AUTH :*** Looking up your hostname\r\n"), Some((Proto::Irc, Some(true))));
        assert_eq!(t(b"NICK 1abc\r\n"), None, "nick starts with a digit");
        assert_eq!(t(b"NICK ali ce\r\n"), None);
        assert_eq!(t(b":srv 01 x\r\n"), None, "two-digit numeric");
        assert_eq!(t(b": 001 x\r\n"), None, "empty prefix");
        assert_eq!(t(b"PASS secret\r\nUSER x\r\n"), None);
    }

    // --- Telnet -------------------------------------------------------------------------

    #[test]
    fn telnet() {
        let e = Some((Proto::Telnet, None));
        assert_eq!(t(&[255, 253, 24, 255, 253, 32, 255, 253, 35, 255, 253, 39]), e);
        assert_eq!(t(&[255, 251, 1, 255, 251, 3, b'l', b'o', b'g', b'i', b'n', b':']), e);
        assert_eq!(t(&[255, 250, 24, 1, 255, 240, 255, 253, 1]), e);
        assert_eq!(t(&[255, 251, 1]), e);
        assert_eq!(t(&[255, 253, 24, b'l', b'o', b'g']), None, "one triple then data");
        assert_eq!(t(&[255, 241, 255, 253, 1]), None, "IAC NOP first");
        assert_eq!(t(&[255, 253, 96]), None, "unassigned option");
        assert_eq!(t(&[255, 253]), None, "no whole triple");
        assert_eq!(t(&[255, 253, 1, 255, 200, 1]), None);
    }

    // --- DHCP ---------------------------------------------------------------------------

    fn dhcp_discover() -> Vec<u8> {
        let mut d = vec![0u8; 240];
        d[..4].copy_from_slice(&[1, 1, 6, 0]);
        d[4..8].copy_from_slice(&[0x39, 0x03, 0xf3, 0x26]);
        d[10] = 0x80;
        d[28..34].copy_from_slice(&[0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42]);
        d[236..240].copy_from_slice(&DHCP_MAGIC);
        d.extend_from_slice(&[53, 1, 1, 255]);
        d
    }

    #[test]
    fn dhcp() {
        assert_eq!(u(&dhcp_discover()), Some((Proto::Dhcp, Some(false))));
        assert_eq!(u(&dhcp_discover()[..LOOK]), Some((Proto::Dhcp, Some(false))));
        let mut offer = dhcp_discover();
        offer[0] = 2;
        assert_eq!(u(&offer), Some((Proto::Dhcp, Some(true))));
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut d = dhcp_discover();
            f(&mut d);
            u(&d)
        };
        assert_eq!(bad(&|d| d[0] = 3), None, "op 3");
        assert_eq!(bad(&|d| d[2] = 16), None, "hlen 16");
        assert_eq!(bad(&|d| d[3] = 17), None, "17 hops");
        assert_eq!(bad(&|d| d[11] = 1), None, "MBZ flag bit");
        assert_eq!(bad(&|d| d[40] = 1), None, "chaddr padding");
        assert_eq!(bad(&|d| d[236] = 0), None, "magic cookie");
        assert_eq!(u(&dhcp_discover()[..43]), None, "cut before chaddr ends");
    }

    // --- IKE ----------------------------------------------------------------------------

    fn ikev2_sa_init() -> Vec<u8> {
        let mut h =
            vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 36];
        h.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0]);
        h
    }

    #[test]
    fn ike() {
        assert_eq!(u(&ikev2_sa_init()), Some((Proto::Ike, Some(false))));
        let mut resp = ikev2_sa_init();
        resp[19] = 0x20;
        resp[8] = 9;
        assert_eq!(u(&resp), Some((Proto::Ike, Some(true))));
        let natt = cat(&[&[0, 0, 0, 0], &ikev2_sa_init()]);
        assert_eq!(u(&natt), Some((Proto::Ike, Some(false))));
        let mut v1 = ikev2_sa_init();
        v1[16..20].copy_from_slice(&[1, 0x10, 2, 0]);
        assert_eq!(u(&v1), Some((Proto::Ike, Some(false))));
        assert_eq!(u(&ikev2_sa_init()[..30]), Some((Proto::Ike, Some(false))), "cut");
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut h = ikev2_sa_init();
            f(&mut h);
            u(&h)
        };
        assert_eq!(bad(&|h| h[..8].fill(0)), None, "zero initiator SPI");
        assert_eq!(bad(&|h| h[17] = 0x30), None, "version 3");
        assert_eq!(bad(&|h| h[18] = 99), None, "exchange 99");
        assert_eq!(bad(&|h| h[16] = 1), None, "IKEv1 payload in IKEv2");
        assert_eq!(bad(&|h| h[19] = 0x80), None, "reserved flag");
        assert_eq!(bad(&|h| h[27] = 30), None, "length shorter than the datagram");
        assert_eq!(bad(&|h| h[27] = 20), None, "length below the header");
    }

    // --- RADIUS -------------------------------------------------------------------------

    fn access_request() -> Vec<u8> {
        let attrs = cat(&[b"\x01\x07alice", &[4, 6, 10, 0, 0, 1], &[5, 6, 0, 0, 0, 7]]);
        let len = 20 + attrs.len();
        cat(&[&[1, 42, 0, u8::try_from(len).unwrap()], &[0xab; 16], &attrs])
    }

    #[test]
    fn radius() {
        assert_eq!(u(&access_request()), Some((Proto::Radius, Some(false))));
        let mut ack = vec![5, 42, 0, 20];
        ack.extend_from_slice(&[0xcd; 16]);
        assert_eq!(u(&ack), Some((Proto::Radius, Some(true))));
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut r = access_request();
            f(&mut r);
            u(&r)
        };
        assert_eq!(bad(&|r| r[0] = 6), None, "code 6");
        assert_eq!(bad(&|r| r[3] += 1), None, "length longer than the datagram");
        assert_eq!(bad(&|r| r[3] -= 6), None, "length shorter than the datagram");
        assert_eq!(bad(&|r| r[21] = 1), None, "attribute length 1");
        assert_eq!(bad(&|r| r[28] = 7), None, "NAS-IP-Address of 5 bytes");
        assert_eq!(bad(&|r| r[20] = 0), None, "attribute type 0");
        assert_eq!(u(&access_request()[..19]), None);
    }

    // --- TFTP ---------------------------------------------------------------------------

    #[test]
    fn tftp() {
        let rrq = b"\x00\x01pxelinux.0\x00octet\x00tsize\x000\x00";
        assert_eq!(up((2070, 69), rrq), Some((Proto::Tftp, Some(false))));
        assert_eq!(up((2070, 69), b"\x00\x02boot.img\x00NetASCII\x00"), Some((Proto::Tftp, Some(false))));
        assert_eq!(up((2070, 70), rrq), None, "not on port 69");
        assert_eq!(up((2070, 69), b"\x00\x03pxelinux.0\x00octet\x00"), None, "DATA");
        assert_eq!(up((2070, 69), b"\x00\x01pxelinux.0\x00binary\x00"), None, "mode");
        assert_eq!(up((2070, 69), b"\x00\x01\x00octet\x00"), None, "empty name");
        assert_eq!(up((2070, 69), b"\x00\x01a\x01b\x00octet\x00"), None, "control byte in the name");
        assert_eq!(up((2070, 69), b"\x00\x01pxelinux.0\x00octet"), None, "mode not terminated");
    }

    // --- L2TP ---------------------------------------------------------------------------

    fn sccrq() -> Vec<u8> {
        vec![
            0xc8, 0x02, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, // header
            0x80, 8, 0, 0, 0, 0, 0, 1, // Message Type SCCRQ
            0x80, 8, 0, 0, 0, 2, 1, 0, // Protocol Version 1.0
        ]
    }

    #[test]
    fn l2tp() {
        assert_eq!(u(&sccrq()), Some((Proto::L2tp, Some(false))));
        assert_eq!(u(&[0xc8, 0x02, 0, 12, 0, 5, 0, 0, 0, 1, 0, 1]).map(|x| x.0), Some(Proto::L2tp), "ZLB");
        let data = [0x40, 0x02, 0, 12, 0, 5, 0, 9, 0xff, 0x03, 0xc0, 0x21];
        assert_eq!(u(&data).map(|x| x.0), Some(Proto::L2tp));
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut m = sccrq();
            f(&mut m);
            u(&m)
        };
        assert_eq!(bad(&|m| m[1] = 3), None, "version 3");
        assert_eq!(bad(&|m| m[0] = 0x88), None, "control without L");
        assert_eq!(bad(&|m| m[0] = 0xca), None, "control with O");
        assert_eq!(bad(&|m| m[3] = 30), None, "length disagrees");
        assert_eq!(bad(&|m| m[19] = 5), None, "message type 5");
        assert_eq!(bad(&|m| m[12] = 0xc0), None, "hidden Message Type");
        assert_eq!(u(&[0x40, 0x02, 0, 12, 0, 5, 0, 9, 0xff, 0x03, 0x12, 0x34]), None, "unknown PPP protocol");
    }

    // --- RTP / RTCP ---------------------------------------------------------------------

    const RTP_PORTS: (u16, u16) = (16_384, 16_386);

    #[test]
    fn rtp_and_rtcp() {
        let mut pcmu = vec![0x80, 0x00, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef];
        pcmu.extend_from_slice(&[0xff; 40]);
        assert_eq!(up(RTP_PORTS, &pcmu), Some((Proto::Rtp, None)));
        assert_eq!(up((16_385, 16_386), &pcmu), None, "odd port");
        assert_eq!(up((500, 16_386), &pcmu), None, "system port");
        let mut v1 = pcmu.clone();
        v1[0] = 0x40;
        assert_eq!(up(RTP_PORTS, &v1), None, "version 1");
        let mut pt72 = pcmu.clone();
        pt72[1] = 72;
        assert_eq!(up(RTP_PORTS, &pt72), None, "payload type 72 (RTCP's range)");
        let mut csrc = pcmu.clone();
        csrc[0] = 0x8f;
        assert_eq!(up(RTP_PORTS, &csrc), None, "15 CSRCs do not fit");
        let mut padded = pcmu.clone();
        padded[0] = 0xa0;
        *padded.last_mut().unwrap() = 0;
        assert_eq!(up(RTP_PORTS, &padded), None, "padding count 0");

        // RR with no report blocks, then SDES with one CNAME chunk (RFC 3550 §6.4.2, §6.5).
        let rtcp = [
            0x80, 201, 0, 1, 1, 2, 3, 4, // RR
            0x81, 202, 0, 3, 1, 2, 3, 4, 1, 4, b'a', b'b', b'c', b'd', 0, 0, // SDES
        ];
        assert_eq!(u(&rtcp), Some((Proto::Rtp, None)), "RTCP needs no port hint");
        let mut short = rtcp;
        short[11] = 2;
        assert_eq!(u(&short), None, "lengths do not add up");
        let mut first_sdes = rtcp;
        first_sdes[1] = 202;
        assert_eq!(u(&first_sdes), None, "compound starts with SDES");
        let mut rc = rtcp;
        rc[0] = 0x81;
        assert_eq!(u(&rc), None, "one report block does not fit");
    }

    // --- Whole-module properties --------------------------------------------------------

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), a: u16, b: u16) {
            let _ = tcp(&bytes);
            let _ = udp((a, b), &bytes);
            let _ = udp((69, b), &bytes);
            let _ = udp((a & !1 | 1024, b & !1 | 1024), &bytes);
            let _ = inspect(Transport::Tcp, (a, b), &bytes);
            let _ = inspect(Transport::Udp, (a, b), &bytes);
        }

        #[test]
        fn never_panics_on_prefixes(cut in 0usize..200) {
            for p in [dns_response(), client_hello(), server_hello(), dhcp_discover(), access_request(), sccrq()] {
                let p = p.get(..cut).unwrap_or(&p);
                let _ = tcp(p);
                let _ = udp((69, 69), p);
                let _ = udp(RTP_PORTS, p);
            }
        }
    }

    /// A seeded xorshift64*: the same payloads every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn fill(&mut self, buf: &mut [u8; LOOK]) -> usize {
            for c in buf.chunks_mut(8) {
                let r = self.next().to_le_bytes();
                c.copy_from_slice(&r[..c.len()]);
            }
            usize::try_from(self.next() % 128).unwrap() + 1
        }
    }

    const SAMPLES: u32 = 200_000;

    /// How many of `SAMPLES` random payloads (uniform bytes, lengths 1..=128) `check` fires on.
    fn fires(seed: u64, check: impl Fn(&[u8]) -> bool) -> u32 {
        let mut rng = Rng(seed);
        let mut buf = [0u8; LOOK];
        let mut n = 0;
        for _ in 0..SAMPLES {
            let len = rng.fill(&mut buf);
            if check(&buf[..len]) {
                n += 1;
            }
        }
        n
    }

    fn percent(n: u32) -> f64 {
        f64::from(n) * 100.0 / f64::from(SAMPLES)
    }

    #[test]
    fn random_bytes_rarely_fire() {
        let on_tcp = fires(0x9e37_79b9_7f4a_7c15, |p| tcp(p).is_some());
        let on_udp = fires(0xd1b5_4a32_d192_ed03, |p| udp(NO_HINT, p).is_some());
        let on_tftp = fires(0x8cb9_2ba7_2f3d_8dd7, |p| udp((2070, 69), p).is_some());
        eprintln!(
            "random payloads recognised: tcp {on_tcp}/{SAMPLES} ({:.4}%), udp without a port hint \
             {on_udp}/{SAMPLES} ({:.4}%), udp with port 69 {on_tftp}/{SAMPLES} ({:.4}%)",
            percent(on_tcp),
            percent(on_udp),
            percent(on_tftp)
        );
        // Under 0.01% each.
        assert!(on_tcp < SAMPLES / 10_000, "tcp: {on_tcp}");
        assert!(on_udp < SAMPLES / 10_000, "udp: {on_udp}");
        assert!(on_tftp < SAMPLES / 10_000, "udp with port 69: {on_tftp}");
    }

    /// RTP's header has 2 fixed bits and a payload type; with the port hint it fires on random
    /// bytes at the rate this prints. It must stay a hint: the lead's table decides by port.
    #[test]
    fn rtp_residual_rate_with_the_port_hint() {
        let n = fires(0x2545_f491_4f6c_dd1d, |p| udp(RTP_PORTS, p).is_some_and(|e| e.proto == Proto::Rtp));
        eprintln!("RTP with an even port pair: {n}/{SAMPLES} random payloads ({:.2}%)", percent(n));
        assert!(n < SAMPLES / 10, "RTP fires on {n}");
    }
}
