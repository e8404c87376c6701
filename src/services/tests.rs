use super::*;
use std::fmt::Write as _;

const SEED_TSV: &str = include_str!("../../data/windows-2000.tsv");
const AMENDMENTS_TSV: &str = include_str!("../../data/amendments.tsv");

fn embedded() -> &'static ServiceTable {
    ServiceTable::embedded()
}

/// The id of a service name; panics (failing the test) if the table lacks it.
fn id(table: &ServiceTable, name: &str) -> ServiceId {
    (0..table.len())
        .filter_map(|i| u16::try_from(i).ok().map(ServiceId))
        .find(|&id| table.name(id) == name)
        .unwrap_or_else(|| panic!("no service {name:?}"))
}

fn names(table: &ServiceTable, ids: &[ServiceId]) -> Vec<String> {
    ids.iter().map(|&id| table.name(id).to_owned()).collect()
}

fn single(table: &ServiceTable, name: &str) -> PortMatch {
    PortMatch { service: Some(id(table, name)), kind: MatchKind::Single }
}

fn user_table(text: &str) -> ServiceTable {
    ServiceTable::from_tsv(text, "user.tsv").unwrap_or_else(|e| panic!("{e}"))
}

fn table_error(text: &str) -> TableError {
    match ServiceTable::from_tsv(text, "user.tsv") {
        Ok(table) => panic!("expected an error, got {table:?}"),
        Err(e) => e,
    }
}

fn amend_error(amendments: &str) -> TableError {
    let table = "service\tudp\ttcp\nA\t\t80\nB\t\t80\nC\t53\t\n";
    match ServiceTable::from_tsv_amended(table, "t.tsv", amendments, "a.tsv") {
        Ok(table) => panic!("expected an error, got {table:?}"),
        Err(e) => e,
    }
}

const AMEND_HEADER: &str = "action\ttransport\tport\tservice\treason\tsource\n";

#[test]
fn seed_has_85_rows_and_81_services() {
    assert_eq!(SEED_ROWS, 85);
    assert_eq!(ServiceTable::seed_only().rows().len(), 85);
    assert_eq!(embedded().rows().len(), 85);
    // Microsoft Message Queue Server and SQL session each take three rows.
    assert_eq!(embedded().len(), 81);
    assert!(!embedded().is_empty());
    let first = &embedded().rows()[0];
    assert_eq!(first.service, "Browsing datagram responses of NetBIOS over TCP/IP (NetBT)");
    assert_eq!((first.udp.as_ref(), first.tcp.as_ref()), ("138", ""));
    let last = &embedded().rows()[84];
    assert_eq!((last.service.as_ref(), last.tcp.as_ref()), ("X400", "102"));
}

#[test]
fn seed_keeps_its_wording() {
    let t = embedded();
    assert!(t.rows().iter().any(|r| r.service.contains("SCM – (Service Control Manager)")));
    let exchange = t.rows().iter().find(|r| r.service == "Exchange Server 5.0");
    let exchange = exchange.unwrap_or_else(|| panic!("no Exchange Server 5.0 row"));
    assert_eq!((exchange.udp.as_ref(), exchange.tcp.as_ref()), ("", ""));
    assert_eq!(t.ports(id(t, "Exchange Server 5.0"), Transport::Tcp), "");
}

#[test]
fn tcp_445_is_cifs() {
    let t = embedded();
    assert_eq!(t.lookup(Transport::Tcp, 445), single(t, "Common Internet File System (CIFS)"));
    assert_eq!(t.lookup(Transport::Udp, 445), single(t, "Common Internet File System (CIFS)"));
    assert_eq!(t.ports(id(t, "Common Internet File System (CIFS)"), Transport::Tcp), "139, 445");
}

#[test]
fn udp_137_is_netbt_name_lookups_with_all_its_candidates() {
    let t = embedded();
    assert_eq!(t.lookup(Transport::Udp, 137), single(t, "NetBT name lookups"));
    assert_eq!(
        names(t, t.candidates(Transport::Udp, 137)),
        [
            "NetBT name lookups",
            "Browsing requests of NetBT",
            "File shares name lookup",
            "Login Sequence",
            "Structured query language (SQL) Named Pipes encryption over other protocols name \
             lookup",
            "SQL RPC encryption over other protocols name lookup",
            "WINS NetBT name service",
            "WINS Proxy",
        ]
    );
    // The seed alone labels a shared port with its first row.
    let seed = ServiceTable::seed_only();
    assert_eq!(seed.lookup(Transport::Udp, 137), single(seed, "Browsing requests of NetBT"));
}

#[test]
fn tcp_139_primary_and_candidates() {
    let t = embedded();
    assert_eq!(t.lookup(Transport::Tcp, 139), single(t, "NetBT service sessions"));
    assert_eq!(
        names(t, t.candidates(Transport::Tcp, 139)),
        [
            "NetBT service sessions",
            "Common Internet File System (CIFS)",
            "DNS Administration",
            "File shares session",
            "Login Sequence",
            "SQL session",
        ]
    );
}

#[test]
fn tcp_135_is_rpc() {
    let t = embedded();
    assert_eq!(t.lookup(Transport::Tcp, 135), single(t, "Remote procedure call (RPC)"));
    let candidates = t.candidates(Transport::Tcp, 135);
    assert_eq!(candidates.len(), 10);
    assert!(names(t, candidates).contains(&"Microsoft Message Queue Server".to_owned()));
    assert_eq!(t.lookup(Transport::Udp, 135), single(t, "Service Control Manager (SCM) used by DCOM"));
}

#[test]
fn other_primaries() {
    let t = embedded();
    let cases = [
        (Transport::Udp, 138, "NetBT datagrams"),
        (Transport::Tcp, 389, "Lightweight Directory Access Protocol (LDAP)"),
        (Transport::Tcp, 102, "Message transfer agent (MTA) - X.400 over TCP/IP"),
        (Transport::Tcp, 80, "Hypertext Transfer Protocol (HTTP)"),
        (Transport::Udp, 53, "Domain Name System (DNS) client to server lookup (varies)"),
        (Transport::Tcp, 53, "Domain Name System (DNS) client to server lookup (varies)"),
        (Transport::Tcp, 1801, "Microsoft Message Queue Server"),
        (Transport::Udp, 1801, "Microsoft Message Queue Server"),
        (Transport::Tcp, 6667, "Internet Relay Chat (IRC)"),
    ];
    for (transport, port, name) in cases {
        assert_eq!(t.lookup(transport, port), single(t, name), "{transport} {port}");
    }
    assert_eq!(
        names(t, t.candidates(Transport::Tcp, 389)),
        ["Lightweight Directory Access Protocol (LDAP)", "NetMeeting Internet Locator Server (ILS)"]
    );
}

#[test]
fn dhcp_is_udp_67_and_68_after_amendment_only() {
    let t = embedded();
    assert_eq!(t.lookup(Transport::Udp, 67), single(t, "DHCP server"));
    assert_eq!(t.lookup(Transport::Udp, 68), single(t, "Dynamic Host Configuration Protocol (DHCP) client"));
    assert_eq!(t.lookup(Transport::Tcp, 67), PortMatch::NONE);
    assert_eq!(t.lookup(Transport::Tcp, 68), PortMatch::NONE);
    assert_eq!(t.ports(id(t, "DHCP server"), Transport::Udp), "67");
    assert_eq!(t.ports(id(t, "DHCP server"), Transport::Tcp), "");

    let seed = ServiceTable::seed_only();
    assert_eq!(seed.lookup(Transport::Udp, 67), PortMatch::NONE);
    assert_eq!(seed.lookup(Transport::Udp, 68), PortMatch::NONE);
    assert!(seed.candidates(Transport::Udp, 67).is_empty());
    // The seed's own (wrong, swapped) mapping.
    assert_eq!(
        seed.lookup(Transport::Tcp, 67),
        single(seed, "Dynamic Host Configuration Protocol (DHCP) client")
    );
}

#[test]
fn tcp_1234_is_ispmod_with_the_sql_range_as_candidate() {
    let t = embedded();
    let ispmod = "ISPMOD (SBS 2nd tier DNS registration wizard)";
    assert_eq!(t.lookup(Transport::Tcp, 1234), single(t, ispmod));
    assert_eq!(names(t, t.candidates(Transport::Tcp, 1234)), [ispmod, "SQL session"]);
}

#[test]
fn sql_session_range_and_single() {
    let t = embedded();
    let sql = id(t, "SQL session");
    let range_only = PortMatch { service: Some(sql), kind: MatchKind::RangeOnly };
    assert_eq!(t.lookup(Transport::Tcp, 3000), range_only);
    assert_eq!(t.lookup(Transport::Tcp, 1024), range_only);
    assert_eq!(t.lookup(Transport::Tcp, 5000), range_only);
    assert_eq!(t.lookup(Transport::Tcp, 5001), PortMatch::NONE);
    assert_eq!(t.lookup(Transport::Tcp, 1433), single(t, "SQL session"));
    assert_eq!(t.candidates(Transport::Tcp, 3000), [sql]);
    assert_eq!(t.candidates(Transport::Tcp, 1433), [sql]);
    assert_eq!(t.ports(sql, Transport::Tcp), "139, 1433, 1024-5000");
    assert_eq!(t.lookup(Transport::Udp, 3000), PortMatch::NONE);
}

#[test]
fn radius_alternatives_map_both_ports() {
    let t = embedded();
    let auth = "Remote Authentication Dial-In User Service (RADIUS) authentication (Routing and \
                Remote Access)";
    assert_eq!(t.lookup(Transport::Udp, 1645), single(t, auth));
    assert_eq!(t.lookup(Transport::Udp, 1812), single(t, auth));
    assert_eq!(t.ports(id(t, auth), Transport::Udp), "1645, 1812");
    let accounting = "RADIUS accounting (Routing and Remote Access)";
    assert_eq!(t.lookup(Transport::Udp, 1813), single(t, accounting));
    // RADIUS is UDP only; on TCP, 1812 falls in the SQL session range.
    let tcp = t.lookup(Transport::Tcp, 1812);
    assert_eq!((tcp.service, tcp.kind), (Some(id(t, "SQL session")), MatchKind::RangeOnly));
}

#[test]
fn ipsec_is_ip_protocols_50_and_51() {
    let t = embedded();
    let esp = id(t, "IPSec Encapsulating Security Payload (ESP)");
    let ah = id(t, "Internet Protocol Security (IPSec) Authentication Header (AH)");
    assert_eq!(t.lookup_proto(50), Some(esp));
    assert_eq!(t.lookup_proto(51), Some(ah));
    assert_eq!(t.lookup(Transport::Ip, 50), single(t, "IPSec Encapsulating Security Payload (ESP)"));
    assert_eq!(t.lookup_proto(6), None);
    assert_eq!(t.ports(esp, Transport::Ip), "50");
    assert_eq!(t.candidates(Transport::Ip, 50), [esp]);
    // Protocol 50 is not TCP or UDP port 50, and the seed alone has no IP entries.
    assert_eq!(t.lookup(Transport::Tcp, 50), PortMatch::NONE);
    assert_eq!(ServiceTable::seed_only().lookup_proto(50), None);
}

#[test]
fn unlisted_ports_are_none() {
    let t = embedded();
    assert_eq!(t.lookup(Transport::Tcp, 6000), PortMatch::NONE);
    assert!(t.candidates(Transport::Tcp, 6000).is_empty());
    for transport in Transport::ALL {
        assert_eq!(t.lookup(transport, 0), PortMatch::NONE);
        assert_eq!(t.lookup(transport, u16::MAX), PortMatch::NONE);
        assert!(t.candidates(transport, 0).is_empty());
    }
    // "Dynamic" maps no port: the NetMeeting RTP rows have no entry at all.
    let rtp = id(t, "NetMeeting RTP - ( real time protocol) audio stream");
    assert_eq!(t.ports(rtp, Transport::Udp), "");
}

#[test]
fn lookup_agrees_with_candidates_everywhere() {
    for t in [embedded(), ServiceTable::seed_only()] {
        for transport in Transport::ALL {
            for port in 0..=u16::MAX {
                let found = t.lookup(transport, port);
                let candidates = t.candidates(transport, port);
                assert_eq!(found.service, candidates.first().copied(), "{transport} {port}");
                assert_eq!(found.kind == MatchKind::None, candidates.is_empty());
            }
        }
    }
}

#[test]
fn seed_file_round_trips_to_seed_only() {
    let table = ServiceTable::from_tsv(SEED_TSV, "data/windows-2000.tsv");
    assert_eq!(table.as_ref(), Ok(ServiceTable::seed_only()));
}

#[test]
fn runtime_amendment_matches_the_compiled_table() {
    let table = ServiceTable::from_tsv_amended(
        SEED_TSV,
        "data/windows-2000.tsv",
        AMENDMENTS_TSV,
        "data/amendments.tsv",
    );
    assert_eq!(table.as_ref(), Ok(embedded()));
}

#[test]
fn user_table_labels_a_shared_port_by_its_first_row() {
    let t = user_table(
        "# my table\nservice\tudp\ttcp\tip\nWeb\t\t80, 8080\t\nProxy\t\t8080 or 3128\t\n\
         Tunnel\t\t\t47\nHigh\t\t60000 - 60010\t\n",
    );
    assert_eq!(t.len(), 4);
    assert!(t.has_ip_column());
    assert_eq!(t.lookup(Transport::Tcp, 8080), single(&t, "Web"));
    assert_eq!(names(&t, t.candidates(Transport::Tcp, 8080)), ["Web", "Proxy"]);
    assert_eq!(t.lookup(Transport::Tcp, 3128), single(&t, "Proxy"));
    assert_eq!(t.lookup_proto(47), Some(id(&t, "Tunnel")));
    assert_eq!(t.lookup(Transport::Tcp, 60010).kind, MatchKind::RangeOnly);
    assert_eq!(t.lookup(Transport::Tcp, 65535), PortMatch::NONE);
    assert_eq!(t.rows()[1].line, 4);
}

#[test]
fn user_table_accepts_crlf_and_a_missing_ip_cell() {
    let t = user_table("service\tudp\ttcp\tip\r\nWeb\t\t80\r\n");
    assert_eq!(t.lookup(Transport::Tcp, 80), single(&t, "Web"));
    assert_eq!(t.rows()[0].tcp, "80");
}

#[test]
fn table_errors_name_the_line_and_problem() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "no header row"),
        ("service\ttcp\tudp\n", 1, "expected the header row"),
        ("service\tudp\ttcp\n", 1, "no header row and data rows"),
        ("service\tudp\ttcp\nA\t1\n", 2, "expected 3 tab-separated columns, found 2"),
        ("service\tudp\ttcp\nA\t1\t2\t3\n", 2, "expected 3 tab-separated columns, found 4"),
        ("service\tudp\ttcp\n# c\n\nA\t\t80\n\t1\t\n", 5, "service name is empty"),
        ("service\tudp\ttcp\nA \t1\t\n", 2, "leading or trailing whitespace"),
        ("service\tudp\ttcp\nA\t\t8O\n", 2, "tcp column \"8O\": \"8O\" is not a port number"),
        ("service\tudp\ttcp\nA\t\t0\n", 2, "0 is not a usable number"),
        ("service\tudp\ttcp\nA\t70000\t\n", 2, "udp column \"70000\": numbers stop at 65535"),
        ("service\tudp\ttcp\nA\t\t5000 - 1024\n", 2, "range 5000 - 1024 must go from low"),
        ("service\tudp\ttcp\nA\t\t80, 80\n", 2, "lists a port twice"),
        ("service\tudp\ttcp\nA\t\t80,\n", 2, "\"\" is not a port number"),
        ("service\tudp\ttcp\nA\t\tdynamic\n", 2, "\"dynamic\" is not a port number"),
        ("service\tudp\ttcp\nA\t\t1024 – 5000\n", 2, "is not a port number"),
        ("service\tudp\ttcp\tip\nA\t\t\t256\n", 2, "ip column \"256\": numbers stop at 255"),
    ];
    for &(text, line, problem) in cases {
        let e = table_error(text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert_eq!(e.origin, "user.tsv");
        assert!(e.to_string().contains(problem), "{text:?}: {e}");
    }
    // Long offending text is clipped in the message.
    let long = format!("service\tudp\ttcp\nA\t\t{}\n", "80, ".repeat(100));
    let e = table_error(&long).to_string();
    assert_eq!(
        e,
        format!("user.tsv:2: tcp column \"{}… (400 bytes)\" lists a port twice", "80, ".repeat(15))
    );
    let e = table_error("service\tudp\ttcp\nA\t\t80\nB\t\t0\n");
    assert_eq!(e.to_string(), "user.tsv:3: tcp column \"0\": 0 is not a usable number");
}

#[test]
fn amendment_errors_name_the_line_and_problem() {
    let h = AMEND_HEADER;
    let primary_a = "primary\ttcp\t80\tA\tr\ts\n";
    let cases: Vec<(String, usize, &str)> = vec![
        ("add\ttcp\t81\tA\tr\ts\n".to_owned(), 1, "expected the header row"),
        (format!("{h}{primary_a}fix\ttcp\t81\tA\tr\ts\n"), 3, "unknown action \"fix\""),
        (format!("{h}{primary_a}add\tsctp\t81\tA\tr\ts\n"), 3, "unknown transport \"sctp\""),
        (format!("{h}{primary_a}add\ttcp\t0\tA\tr\ts\n"), 3, "0 is not a usable number"),
        (format!("{h}{primary_a}add\tip\t300\tA\tr\ts\n"), 3, "numbers stop at 255"),
        (format!("{h}{primary_a}add\ttcp\t81\tZ\tr\ts\n"), 3, "names the service \"Z\""),
        (format!("{h}{primary_a}add\ttcp\t81\tA\t \ts\n"), 3, "the reason column is empty"),
        (format!("{h}{primary_a}add\ttcp\t81\tA\tr\n"), 3, "expected 6 tab-separated"),
        (format!("{h}{primary_a}add\ttcp\t80\tA\tr\ts\n"), 3, "already lists tcp 80"),
        (format!("{h}{primary_a}remove\tudp\t80\tA\tr\ts\n"), 3, "does not list udp 80"),
        (format!("{h}{primary_a}primary\ttcp\t80\tB\tr\ts\n"), 3, "already has a primary label (line 2)"),
        (format!("{h}primary\ttcp\t80\tC\tr\ts\n"), 2, "\"C\" is not listed for tcp 80"),
        (format!("{h}{primary_a}primary\tudp\t53\tC\tr\ts\n"), 3, "fewer than two services"),
        (h.to_owned(), 0, "tcp 80 is listed by 2 services (A; B) but has no `primary`"),
        (format!("{h}{primary_a}add\tudp\t53\tA\tr\ts\n"), 0, "udp 53 is listed by 2 services"),
    ];
    for (text, line, problem) in cases {
        let e = amend_error(&text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert_eq!(e.origin, "a.tsv");
        assert!(e.to_string().contains(problem), "{text:?}: {e}");
    }
    // A removal can make a primary pointless; the primary is checked after it.
    let text = format!("{h}{primary_a}remove\ttcp\t80\tB\tr\ts\n");
    assert!(amend_error(&text).to_string().starts_with("a.tsv:2: tcp 80 is listed by fewer"));
    // Errors in the table itself still name the table.
    let e = ServiceTable::from_tsv_amended("service\tudp\ttcp\nA\tx\t\n", "t.tsv", h, "a.tsv");
    assert_eq!(e.map(|_| ()).map_err(|e| (e.origin, e.line)), Err(("t.tsv".to_owned(), 2)));
}

#[test]
fn amendments_apply_in_order() {
    let h = AMEND_HEADER;
    let text = format!("{h}remove\ttcp\t80\tB\tr\ts\nadd\tudp\t80\tB\tr\ts\nadd\tip\t50\tC\tr\ts\n");
    let table = "service\tudp\ttcp\nA\t\t80\nB\t\t80\nC\t53\t\n";
    let t = ServiceTable::from_tsv_amended(table, "t.tsv", &text, "a.tsv").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.candidates(Transport::Tcp, 80), [id(&t, "A")]);
    assert_eq!(t.lookup(Transport::Udp, 80), single(&t, "B"));
    assert_eq!(t.lookup_proto(50), Some(id(&t, "C")));
}

#[test]
fn every_amendment_names_a_reason_and_a_public_source() {
    for line in AMENDMENTS_TSV.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let columns: Vec<&str> = line.split('\t').collect();
        let source = columns[5];
        assert!(["RFC ", "IANA ", "Microsoft KB ", "[MS-"].iter().any(|s| source.contains(s)), "{line}");
    }
}

#[test]
fn transport_names() {
    assert_eq!(Transport::Tcp.to_string(), "tcp");
    assert_eq!(Transport::Udp.as_str(), "udp");
    assert_eq!(format!("{}", Transport::Ip), "ip");
    assert_eq!(Transport::parse("udp"), Some(Transport::Udp));
    assert_eq!(Transport::parse("UDP"), None);
}

#[test]
fn foreign_ids_do_not_panic() {
    assert_eq!(embedded().name(ServiceId(9999)), "?");
    assert_eq!(embedded().ports(ServiceId(9999), Transport::Tcp), "");
}

/// The resolution `finish` replaced (a scan of every entry for every piece, quadratic in
/// the rows), kept as the reference the sweep must agree with.
mod reference {
    use super::super::RANGE_ONLY;
    use super::super::parse::{Entry, Segment, ServiceId, Transport, slot, unslot};
    use std::collections::HashMap;

    fn candidates(entries: &[&Entry], from: u32, to: u32) -> Option<(u16, Vec<ServiceId>)> {
        let mut list: Vec<ServiceId> = Vec::new();
        for e in entries.iter().filter(|e| !e.range && u32::from(e.first) == from && from == to) {
            if !list.contains(&e.service) {
                list.push(e.service);
            }
        }
        let single = !list.is_empty();
        let covering = |e: &&&Entry| e.range && u32::from(e.first) <= from && to <= u32::from(e.last);
        for e in entries.iter().filter(covering) {
            if !list.contains(&e.service) {
                list.push(e.service);
            }
        }
        let head = list.first()?;
        Some(((head.0 + 1) | if single { 0 } else { RANGE_ONLY }, list))
    }

    pub fn resolve(all: &[Entry]) -> (Vec<Segment>, Vec<ServiceId>) {
        let mut segments: Vec<Segment> = Vec::new();
        let mut pool: Vec<ServiceId> = Vec::new();
        let mut placed: HashMap<Vec<ServiceId>, u32> = HashMap::new();
        for transport in Transport::ALL {
            let entries: Vec<&Entry> = all.iter().filter(|e| e.transport == transport).collect();
            let mut cuts: Vec<u32> =
                entries.iter().flat_map(|e| [u32::from(e.first), u32::from(e.last) + 1]).collect();
            cuts.sort_unstable();
            cuts.dedup();
            for pair in cuts.windows(2) {
                let &[from, next] = pair else { continue };
                let first = slot(transport, 0) + from;
                let last = slot(transport, 0) + next - 1;
                let Some((value, candidates)) = candidates(&entries, from, next - 1) else { continue };
                if let Some(prev) = segments.last_mut() {
                    let start = prev.start as usize;
                    if prev.last + 1 == first
                        && unslot(prev.first).0 == transport
                        && prev.value == value
                        && pool[start..start + prev.len as usize] == candidates
                    {
                        prev.last = last;
                        continue;
                    }
                }
                let len = u32::try_from(candidates.len()).unwrap_or(u32::MAX);
                let start = *placed.entry(candidates).or_insert_with_key(|list| {
                    pool.extend_from_slice(list);
                    u32::try_from(pool.len() - list.len()).unwrap_or(u32::MAX)
                });
                segments.push(Segment { first, last, value, start, len });
            }
        }
        (segments, pool)
    }

    /// Whether two items of a cell share a port, item by item as the old parser checked.
    pub fn repeats(spans: &[(u16, u16)]) -> bool {
        spans.iter().enumerate().any(|(i, &(a, b))| spans[..i].iter().any(|&(c, d)| c <= b && a <= d))
    }
}

fn cell_text(items: &[(u16, u16)]) -> String {
    let item = |&(first, last): &(u16, u16)| {
        if first == last { first.to_string() } else { format!("{first} - {last}") }
    };
    items.iter().map(item).collect::<Vec<_>>().join(", ")
}

proptest::proptest! {
    /// Random small tables of overlapping singles and ranges: the sweep gives the segments
    /// and pool of the per-piece scan, and a cell is refused exactly when an item repeats a
    /// port of an earlier item of the cell.
    #[test]
    fn the_sweep_agrees_with_the_scan(
        rows in proptest::collection::vec(
            (0u8..6, proptest::collection::vec((1u16..50, 0u16..12), 0..4),
             proptest::collection::vec((1u16..50, 0u16..12), 0..4)),
            1..14,
        )
    ) {
        let span = |&(first, extra): &(u16, u16)| (first, first + extra);
        let mut text = String::from("service\tudp\ttcp\n");
        let mut first_repeat = None;
        for (i, (service, udp, tcp)) in rows.iter().enumerate() {
            let (udp, tcp): (Vec<_>, Vec<_>) = (udp.iter().map(span).collect(), tcp.iter().map(span).collect());
            if first_repeat.is_none() && (reference::repeats(&udp) || reference::repeats(&tcp)) {
                first_repeat = Some(i + 2);
            }
            let _ = writeln!(text, "S{service}\t{}\t{}", cell_text(&udp), cell_text(&tcp));
        }
        match super::parse::parse_table(&text, "p.tsv") {
            Ok(parsed) => {
                proptest::prop_assert_eq!(first_repeat, None);
                let (segments, pool) = reference::resolve(&parsed.entries);
                proptest::prop_assert_eq!(&parsed.segments, &segments, "{}", text);
                proptest::prop_assert_eq!(&parsed.pool, &pool, "{}", text);
            }
            Err(e) => {
                proptest::prop_assert_eq!(Some(e.line), first_repeat, "{}", e);
                proptest::prop_assert!(e.to_string().contains("lists a port twice"), "{}", e);
            }
        }
    }
}

#[test]
fn known_names_are_iana_keywords() {
    assert_eq!(known_name(Transport::Udp, 5355), Some("llmnr"));
    assert_eq!(known_name(Transport::Tcp, 22), Some("ssh"));
    assert_eq!(known_name(Transport::Tcp, 3389), Some("ms-wbt-server"));
    assert_eq!(known_name(Transport::Udp, 5353), Some("mdns"));
    assert_eq!(known_name(Transport::Udp, 3702), Some("ws-discovery"));
    assert_eq!(known_name(Transport::Udp, 1900), Some("ssdp"));
    assert_eq!(known_name(Transport::Tcp, 143), Some("imap"), "IANA's keyword, not netbase's imap2");
    // Registered on one transport only, unregistered, or outside the registry.
    assert_eq!(known_name(Transport::Tcp, 123), None);
    assert_eq!(known_name(Transport::Udp, 123), Some("ntp"));
    assert_eq!(known_name(Transport::Udp, 40124), None);
    assert_eq!(known_name(Transport::Tcp, 0), None);
    assert_eq!(known_name(Transport::Tcp, u16::MAX), None);
    assert_eq!(known_name(Transport::Ip, 50), None);
}

#[test]
fn known_names_are_sorted_for_the_binary_search() {
    assert!(known::KNOWN_PORTS.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
    // Every row is found, so no (transport, port) hides behind a sorting mistake.
    for &(t, p, name) in known::KNOWN_PORTS {
        assert_eq!(known_name(t, p), Some(name));
    }
    // The table holds what data/known-ports.tsv holds, line for line.
    let file = known_ports::parse(include_str!("../../data/known-ports.tsv"), "known-ports.tsv").unwrap();
    assert_eq!(file.len(), known::KNOWN_PORTS.len());
    // The bits say the same as the names, for every port.
    for t in [Transport::Tcp, Transport::Udp, Transport::Ip] {
        for port in 0..=u16::MAX {
            assert_eq!(is_known(t, port), known_name(t, port).is_some(), "{t:?}/{port}");
        }
    }
}

#[test]
fn known_names_ignore_the_service_table() {
    // The Windows 2000 table lists tcp/3389 (Terminal Services); the name is IANA's anyway.
    assert!(embedded().lookup(Transport::Tcp, 3389).service.is_some());
    assert_eq!(known_name(Transport::Tcp, 3389), Some("ms-wbt-server"));
}
