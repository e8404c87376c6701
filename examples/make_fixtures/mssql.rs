//! MS-SQL Server 2000 on TCP 1433 or a named instance's dynamic port (TDS 7.1, MS-TDS) and Terminal Services on TCP 3389
//! (RDP 5.0: TPKT, X.224, T.125 MCS, RC4-encrypted payloads).

use crate::trace::Rng;

/// A TDS packet: 8-byte header (type, status EOM, length, SPID, packet id, window), body.
fn tds(kind: u8, spid: u16, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, 0x01];
    m.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&spid.to_be_bytes());
    m.extend_from_slice(&[1, 0]);
    m.extend_from_slice(body);
    m
}

/// A PRELOGIN structure (MS-TDS 2.2.6.5): option tokens (type, big-endian offset and length
/// from the start of the packet data), the 0xFF terminator, then each option's data.
fn prelogin(options: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut head = vec![];
    let mut data = vec![];
    let start = options.len() * 5 + 1;
    for (token, value) in options {
        head.push(*token);
        head.extend_from_slice(&((start + data.len()) as u16).to_be_bytes());
        head.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    head.push(0xff);
    [head, data].concat()
}

/// The client's PRELOGIN (packet type 0x12), as the SQL Server 2000 client library sends it
/// to a named instance: its version (8.00.194), encryption off (0x00), the instance name it
/// wants and its thread ID.
pub fn prelogin_request(instance: &str, thread_id: u32) -> Vec<u8> {
    let mut name = instance.as_bytes().to_vec();
    name.push(0);
    let body = prelogin(&[
        (0x00, vec![8, 0, 0x00, 0xc2, 0, 0]),
        (0x01, vec![0x00]),
        (0x02, name),
        (0x03, thread_id.to_be_bytes().to_vec()),
    ]);
    tds(0x12, 0, &body)
}

/// The server's answer (packet type 0x04 carrying a PRELOGIN structure): SQL Server 2000 SP2
/// (8.00.534), encryption not supported (0x02), instance name matched (0x00).
pub fn prelogin_response() -> Vec<u8> {
    let body = prelogin(&[(0x00, vec![8, 0, 0x02, 0x16, 0, 0]), (0x01, vec![0x02]), (0x02, vec![0x00])]);
    tds(0x04, 0, &body)
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// B_VARCHAR: length in characters (1 byte), UTF-16LE.
fn b_varchar(s: &str) -> Vec<u8> {
    [vec![s.encode_utf16().count() as u8], utf16(s)].concat()
}

/// LOGIN7 (MS-TDS 2.2.6.4) as a TDS 7.1 client (SQL Server 2000 ODBC driver) sends it.
pub fn login7(
    host: &str,
    user: &str,
    password: &str,
    app: &str,
    server: &str,
    database: &str,
    mac: [u8; 6],
) -> Vec<u8> {
    // The password is "encrypted" by swapping nibbles and XOR-ing 0xA5 (MS-TDS 2.2.6.4).
    let pw: Vec<u8> = utf16(password).iter().map(|b| b.rotate_left(4) ^ 0xa5).collect();
    let fields: [(Vec<u8>, usize); 9] = [
        (utf16(host), host.len()),
        (utf16(user), user.len()),
        (pw, password.len()),
        (utf16(app), app.len()),
        (utf16(server), server.len()),
        (vec![], 0),
        (utf16("ODBC"), 4),
        (vec![], 0),
        (utf16(database), database.len()),
    ];
    let fixed = 86;
    let mut offsets = vec![];
    let mut data = vec![];
    for (bytes, chars) in &fields {
        offsets.extend_from_slice(&((fixed + data.len()) as u16).to_le_bytes());
        offsets.extend_from_slice(&(*chars as u16).to_le_bytes());
        data.extend_from_slice(bytes);
    }
    let total = fixed + data.len();
    let mut b = (total as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&0x7100_0001u32.to_le_bytes());
    b.extend_from_slice(&4096u32.to_le_bytes());
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(&0x0000_0a3cu32.to_le_bytes()); // client PID
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[0xe0, 0x03, 0x00, 0x00]);
    b.extend_from_slice(&(-60i32).to_le_bytes()); // time zone, minutes
    b.extend_from_slice(&0x0409u32.to_le_bytes()); // LCID en-US
    b.extend_from_slice(&offsets);
    b.extend_from_slice(&mac);
    b.extend_from_slice(&((fixed + data.len()) as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes()); // no SSPI
    b.extend_from_slice(&((fixed + data.len()) as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes()); // no attach file
    assert_eq!(b.len(), fixed);
    b.extend_from_slice(&data);
    tds(0x10, 0, &b)
}

fn token(kind: u8, body: &[u8]) -> Vec<u8> {
    [vec![kind], (body.len() as u16).to_le_bytes().to_vec(), body.to_vec()].concat()
}

fn done(more: bool, rows: Option<u32>, curcmd: u16) -> Vec<u8> {
    let mut status = u16::from(more);
    if rows.is_some() {
        status |= 0x0010;
    }
    let mut t = vec![0xfd];
    t.extend_from_slice(&status.to_le_bytes());
    t.extend_from_slice(&curcmd.to_le_bytes());
    t.extend_from_slice(&rows.unwrap_or(0).to_le_bytes());
    t
}

/// The server's reply to LOGIN7: database change, an info message, LOGINACK, DONE.
pub fn login_ack(spid: u16, database: &str) -> Vec<u8> {
    let env = token(0xe3, &[vec![1], b_varchar(database), b_varchar("master")].concat());
    let msg = format!("Changed database context to '{database}'.");
    let mut info = 5701u32.to_le_bytes().to_vec();
    info.extend_from_slice(&[2, 0]);
    info.extend_from_slice(&(msg.encode_utf16().count() as u16).to_le_bytes());
    info.extend_from_slice(&utf16(&msg));
    info.extend_from_slice(&b_varchar("SQL01"));
    info.extend_from_slice(&b_varchar(""));
    info.extend_from_slice(&1u16.to_le_bytes());
    let info = token(0xab, &info);
    let mut ack = vec![1];
    ack.extend_from_slice(&[0x71, 0x00, 0x00, 0x01]);
    ack.extend_from_slice(&b_varchar("Microsoft SQL Server"));
    ack.extend_from_slice(&[8, 0, 0x02, 0x36]); // 8.00.566 (SQL Server 2000 SP2)
    let ack = token(0xad, &ack);
    tds(0x04, spid, &[env, info, ack, done(false, None, 0)].concat())
}

/// SQL batch (type 1): the query text in UTF-16LE.
pub fn sql_batch(spid: u16, query: &str) -> Vec<u8> {
    tds(0x01, spid, &utf16(query))
}

const NAMES: [&str; 8] = [
    "Contoso Ltd",
    "Fabrikam",
    "Northwind Traders",
    "Adventure Works",
    "Litware",
    "Proseware",
    "Tailspin Toys",
    "Wingtip",
];

/// A result set: an INT column and an NVARCHAR(100) column, `rows` rows.
pub fn result_rows(rng: &mut Rng, spid: u16, rows: usize) -> Vec<u8> {
    let mut t = vec![0x81];
    t.extend_from_slice(&2u16.to_le_bytes());
    // id: INT4 (0x38), user type 0, flags 0x0008 (identity? no: nullable unknown).
    t.extend_from_slice(&[0, 0, 0, 0, 0x38]);
    t.extend_from_slice(&b_varchar("id"));
    // name: NVARCHAR (0xE7), max 200 bytes, collation Latin1_General_CI_AS.
    t.extend_from_slice(&[0, 0, 0x09, 0x00, 0xe7]);
    t.extend_from_slice(&200u16.to_le_bytes());
    t.extend_from_slice(&[0x09, 0x04, 0xd0, 0x00, 0x34]);
    t.extend_from_slice(&b_varchar("name"));
    for i in 0..rows {
        t.push(0xd1);
        t.extend_from_slice(&(1000 + i as u32).to_le_bytes());
        let name = format!("{} #{}", NAMES[rng.range(0, 7) as usize], rng.range(1, 999));
        let s = utf16(&name);
        t.extend_from_slice(&(s.len() as u16).to_le_bytes());
        t.extend_from_slice(&s);
    }
    t.extend_from_slice(&done(false, Some(rows as u32), 0xc1));
    tds(0x04, spid, &t)
}

/// Reply to a statement that returns no rows (UPDATE, SET ...).
pub fn done_only(spid: u16, rows: u32) -> Vec<u8> {
    tds(0x04, spid, &done(false, Some(rows), 0xc5))
}

// ---- RDP 5.0 ----

/// TPKT (RFC 1006) around an X.224 (ISO 8073) TPDU.
fn tpkt(tpdu: &[u8]) -> Vec<u8> {
    [vec![3, 0], ((tpdu.len() + 4) as u16).to_be_bytes().to_vec(), tpdu.to_vec()].concat()
}

/// X.224 connection request with the cookie the Windows 2000 TS client sends.
pub fn x224_connect_request(user: &str) -> Vec<u8> {
    let cookie = format!("Cookie: mstshash={user}\r\n");
    let mut t = vec![0, 0xe0, 0, 0, 0, 0, 0];
    t.extend_from_slice(cookie.as_bytes());
    t[0] = (t.len() - 1) as u8;
    tpkt(&t)
}

pub fn x224_connect_confirm() -> Vec<u8> {
    tpkt(&[6, 0xd0, 0, 0, 0x12, 0x34, 0])
}

/// MCS Send Data Request (client) or Indication (server), PER-encoded (T.125), carrying an
/// RC4-encrypted RDP PDU: security header with SEC_ENCRYPT, 8-byte MAC, cipher text.
pub fn mcs_data(rng: &mut Rng, from_server: bool, len: usize) -> Vec<u8> {
    let mut user = vec![0x08, 0x00]; // SEC_ENCRYPT
    user.extend_from_slice(&[0, 0]);
    user.extend_from_slice(&rng.bytes(8 + len));
    let mut m = vec![if from_server { 0x68 } else { 0x64 }];
    m.extend_from_slice(&[0x00, 0x06]); // initiator: user channel 1007 (1001 + 6)
    m.extend_from_slice(&1003u16.to_be_bytes()); // the I/O channel
    m.push(0x70); // high priority, begin and end of segmentation
    if user.len() < 0x80 {
        m.push(user.len() as u8);
    } else {
        m.extend_from_slice(&(0x8000 | user.len() as u16).to_be_bytes());
    }
    m.extend_from_slice(&user);
    tpkt(&[&[2, 0xf0, 0x80][..], &m].concat())
}
