//! Just enough ASN.1 DER to write Kerberos, LDAP, SPNEGO and SNMP messages that Wireshark
//! dissects without complaint. Lengths always use the shortest form, as DER requires.

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut v = vec![tag];
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x1_0000 {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        v.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

pub fn set(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x31, &parts.concat())
}

/// Context-specific constructed tag `[n]`.
pub fn ctx(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, inner)
}

/// Application constructed tag `[APPLICATION n]` (n < 31).
pub fn app(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(0x60 | n, inner)
}

/// Two's-complement INTEGER in the fewest bytes.
pub fn int(v: i64) -> Vec<u8> {
    tlv(0x02, &int_bytes(v))
}

pub fn int_bytes(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut i = 0;
    while i < 7 && ((b[i] == 0 && b[i + 1] & 0x80 == 0) || (b[i] == 0xff && b[i + 1] & 0x80 != 0)) {
        i += 1;
    }
    b[i..].to_vec()
}

pub fn enumerated(v: i64) -> Vec<u8> {
    tlv(0x0a, &int_bytes(v))
}

pub fn boolean(v: bool) -> Vec<u8> {
    tlv(0x01, &[if v { 0xff } else { 0 }])
}

pub fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}

pub fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

/// BIT STRING with no unused bits.
pub fn bits(b: &[u8]) -> Vec<u8> {
    let mut c = vec![0];
    c.extend_from_slice(b);
    tlv(0x03, &c)
}

pub fn general_string(s: &str) -> Vec<u8> {
    tlv(0x1b, s.as_bytes())
}

pub fn generalized_time(s: &str) -> Vec<u8> {
    tlv(0x18, s.as_bytes())
}

pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut c = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut rest = a >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        c.extend_from_slice(&chunk);
    }
    tlv(0x06, &c)
}
