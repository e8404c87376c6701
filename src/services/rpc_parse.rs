//! Reading and validating `data/rpc-interfaces.tsv`, the DCE/RPC interface table.
//!
//! What I own: the file's format (`uuid version name service source`, see its header
//! comment) and its checks: a canonical lower-case UUID, no UUID twice, a `major.minor` or
//! `-` version, a bare identifier for the name, a service the seed table names, a non-empty
//! source. Every error names `origin:line` and the offending text. `build.rs` compiles this
//! file through `#[path]` and turns the entries into the sorted array that
//! [`ServiceTable::rpc_interface`](super::ServiceTable::rpc_interface) searches; the crate
//! itself compiles it for its unit tests only (there is no user-supplied interface table).
//!
//! What I must not do: use anything but `std` (build scripts have none of the crate's
//! dependencies) or panic: a bad line is an [`RpcTableError`], and `build.rs` fails the build
//! with it.

use std::collections::HashMap;
use std::fmt;

use super::parse::ServiceId;

/// The header row of the interface table.
pub const RPC_HEADER: &str = "uuid\tversion\tname\tservice\tsource";

/// One interface of the table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RpcEntry {
    /// 1-based line in the file.
    pub line: usize,
    /// The UUID in canonical byte order: the bytes of the textual form, left to right.
    pub uuid: [u8; 16],
    /// `major.minor` as the specification gives it; `None` for `-`.
    pub version: Option<(u16, u16)>,
    pub name: String,
    /// The service's id in the seed table the entries were checked against.
    pub service: ServiceId,
    pub service_name: String,
    pub source: String,
}

/// A line of the interface table that cannot be used.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RpcTableError {
    pub origin: String,
    /// 1-based line; 0 when the problem belongs to the file as a whole.
    pub line: usize,
    pub problem: RpcProblem,
}

impl fmt::Display for RpcTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}:{}: {}", self.origin, self.line, self.problem)
        }
    }
}

impl std::error::Error for RpcTableError {}

/// What is wrong with a line, carrying the offending text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RpcProblem {
    Header {
        found: String,
    },
    /// No header row, or no interface after it.
    Empty,
    Columns {
        found: usize,
    },
    Uuid {
        uuid: String,
    },
    Version {
        version: String,
    },
    Name {
        name: String,
    },
    UnknownService {
        service: String,
    },
    EmptySource,
    Whitespace {
        column: &'static str,
        text: String,
    },
    Duplicate {
        uuid: String,
        first_line: usize,
    },
}

impl fmt::Display for RpcProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header { found } => {
                write!(f, "expected the header row {RPC_HEADER:?}, found {found:?}")
            }
            Self::Empty => f.write_str("no header row and interface rows found"),
            Self::Columns { found } => write!(f, "expected 5 tab-separated columns, found {found}"),
            Self::Uuid { uuid } => write!(
                f,
                "{uuid:?} is not a UUID in canonical lower-case form \
                 (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
            ),
            Self::Version { version } => {
                write!(f, "version {version:?} is neither `major.minor` (0-65535 each) nor `-`")
            }
            Self::Name { name } => {
                write!(f, "interface name {name:?} is not a bare identifier (letters, digits, `_`)")
            }
            Self::UnknownService { service } => {
                write!(f, "no row of the seed table names the service {service:?}")
            }
            Self::EmptySource => f.write_str("the source column is empty"),
            Self::Whitespace { column, text } => {
                write!(f, "the {column} column {text:?} has leading or trailing whitespace")
            }
            Self::Duplicate { uuid, first_line } => {
                write!(f, "interface {uuid} is already listed (line {first_line})")
            }
        }
    }
}

/// Reads the interface table, checking each service against `services` (the seed table's
/// names, in [`ServiceId`] order). The entries come back sorted by UUID bytes, ready for a
/// binary search.
///
/// # Errors
/// The first bad line, as `origin:line` and the problem.
pub fn parse_rpc_interfaces<S: AsRef<str>>(
    text: &str,
    origin: &str,
    services: &[S],
) -> Result<Vec<RpcEntry>, RpcTableError> {
    let err = |line, problem| RpcTableError { origin: origin.to_owned(), line, problem };
    let ids: HashMap<&str, ServiceId> = services
        .iter()
        .enumerate()
        .filter_map(|(i, name)| Some((name.as_ref(), ServiceId(u16::try_from(i).ok()?))))
        .collect();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(err(0, RpcProblem::Empty));
    };
    if header != RPC_HEADER {
        return Err(err(header_line, RpcProblem::Header { found: header.to_owned() }));
    }
    let mut entries: Vec<RpcEntry> = Vec::new();
    let mut seen: HashMap<[u8; 16], usize> = HashMap::new();
    for (line, text) in lines {
        let entry = entry(line, text, &ids).map_err(|problem| err(line, problem))?;
        if let Some(&first_line) = seen.get(&entry.uuid) {
            let uuid = text.split('\t').next().unwrap_or_default().to_owned();
            return Err(err(line, RpcProblem::Duplicate { uuid, first_line }));
        }
        seen.insert(entry.uuid, line);
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(err(header_line, RpcProblem::Empty));
    }
    entries.sort_by_key(|e| e.uuid);
    Ok(entries)
}

fn entry(line: usize, text: &str, ids: &HashMap<&str, ServiceId>) -> Result<RpcEntry, RpcProblem> {
    let columns: Vec<&str> = text.split('\t').collect();
    let &[uuid, version, name, service, source] = columns.as_slice() else {
        return Err(RpcProblem::Columns { found: columns.len() });
    };
    for (column, cell) in [("uuid", uuid), ("version", version), ("name", name), ("service", service)] {
        if cell.trim() != cell {
            return Err(RpcProblem::Whitespace { column, text: cell.to_owned() });
        }
    }
    let bytes = parse_uuid(uuid).ok_or_else(|| RpcProblem::Uuid { uuid: uuid.to_owned() })?;
    let version = parse_version(version)?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(RpcProblem::Name { name: name.to_owned() });
    }
    let &id = ids.get(service).ok_or_else(|| RpcProblem::UnknownService { service: service.to_owned() })?;
    if source.trim().is_empty() {
        return Err(RpcProblem::EmptySource);
    }
    Ok(RpcEntry {
        line,
        uuid: bytes,
        version,
        name: name.to_owned(),
        service: id,
        service_name: service.to_owned(),
        source: source.trim().to_owned(),
    })
}

/// The bytes of a UUID written in canonical lower-case text form (RFC 9562 §4, C706
/// appendix A): 32 hex digits in groups of 8-4-4-4-12, read left to right. `None` for any
/// other spelling, upper case included, so the table keeps one form of each UUID.
#[must_use]
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let text = text.as_bytes();
    if text.len() != 36 {
        return None;
    }
    let mut digits = [0u8; 32];
    let mut n = 0;
    for (i, &c) in text.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let value = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        *digits.get_mut(n)? = value;
        n += 1;
    }
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        if let &[high, low] = pair {
            *byte = high << 4 | low;
        }
    }
    Some(bytes)
}

/// `major.minor` (decimal, 0-65535 each), or `-` for an unknown version.
fn parse_version(text: &str) -> Result<Option<(u16, u16)>, RpcProblem> {
    if text == "-" {
        return Ok(None);
    }
    let number = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u16>().ok() } else { None };
    text.split_once('.')
        .and_then(|(major, minor)| Some((number(major)?, number(minor)?)))
        .map(Some)
        .ok_or_else(|| RpcProblem::Version { version: text.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: [&str; 3] = ["A", "RPC session ports", "B"];
    const SAMR: &str = "12345778-1234-abcd-ef00-0123456789ac";

    fn parse(rows: &str) -> Result<Vec<RpcEntry>, RpcTableError> {
        parse_rpc_interfaces(&format!("# comment\n{RPC_HEADER}\n{rows}"), "r.tsv", &SERVICES)
    }

    /// The problem of a one-row file, whose row is line 3.
    fn problem(row: &str) -> RpcProblem {
        match parse(&format!("{row}\n")) {
            Ok(entries) => panic!("expected an error, got {entries:?}"),
            Err(e) => {
                assert_eq!(e.line, 3, "{e}");
                e.problem
            }
        }
    }

    #[test]
    fn reads_rows_sorted_by_uuid() {
        let rows = format!(
            "{SAMR}\t1.0\tsamr\tB\tMS-SAMR 1.9\n\n# c\n000001a0-0000-0000-c000-000000000046\t-\tX_1\tA\t MS-DCOM 1.9 \n"
        );
        let entries = parse(&rows).unwrap();
        assert_eq!(entries.len(), 2);
        let (first, second) = (&entries[0], &entries[1]);
        assert_eq!(
            (first.line, first.name.as_str(), first.version, first.service),
            (6, "X_1", None, ServiceId(0))
        );
        assert_eq!(first.source, "MS-DCOM 1.9");
        assert_eq!((second.line, second.version, second.service), (3, Some((1, 0)), ServiceId(2)));
        assert_eq!(second.service_name, "B");
        assert_eq!(second.uuid[..4], [0x12, 0x34, 0x57, 0x78]);
    }

    #[test]
    fn uuids_must_be_canonical() {
        assert_eq!(parse_uuid(SAMR).map(|u| u[15]), Some(0xac));
        for bad in [
            "12345778-1234-ABCD-ef00-0123456789ac",
            "{12345778-1234-abcd-ef00-0123456789ac}",
            "12345778-1234-abcd-ef00-0123456789a",
            "12345778-1234-abcd-ef00-0123456789acd",
            "12345778_1234-abcd-ef00-0123456789ac",
            "1234577-81234-abcd-ef00-0123456789ac",
            "12345778-1234-abcd-ef00-0123456789ag",
            "123457781234abcdef000123456789ac0000",
            "",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
            assert_eq!(problem(&format!("{bad}\t1.0\tx\tA\ts")), RpcProblem::Uuid { uuid: bad.to_owned() });
        }
    }

    #[test]
    fn bad_lines_name_their_problem() {
        let row = |version: &str, name: &str, service: &str, source: &str| {
            problem(&format!("{SAMR}\t{version}\t{name}\t{service}\t{source}"))
        };
        for version in ["1", "1.", ".0", "1.0.0", "65536.0", "+1.0", "v1.0", ""] {
            assert_eq!(row(version, "x", "A", "s"), RpcProblem::Version { version: version.to_owned() });
        }
        for name in ["", "a b", "a-b", "é"] {
            assert_eq!(row("1.0", name, "A", "s"), RpcProblem::Name { name: name.to_owned() });
        }
        let unknown = RpcProblem::UnknownService { service: "C".to_owned() };
        assert_eq!(row("1.0", "x", "C", "s"), unknown);
        assert_eq!(row("1.0", "x", "A", " "), RpcProblem::EmptySource);
        assert_eq!(
            row("1.0", "x", "A ", "s"),
            RpcProblem::Whitespace { column: "service", text: "A ".to_owned() }
        );
        assert_eq!(problem(&format!("{SAMR}\t1.0\tx\tA")), RpcProblem::Columns { found: 4 });
        assert_eq!(problem(&format!("{SAMR}\t1.0\tx\tA\ts\textra")), RpcProblem::Columns { found: 6 });
    }

    #[test]
    fn a_uuid_twice_names_the_first_line() {
        let e = parse(&format!("{SAMR}\t1.0\tsamr\tA\ts\n{SAMR}\t-\tother\tB\ts\n")).unwrap_err();
        assert_eq!(e.problem, RpcProblem::Duplicate { uuid: SAMR.to_owned(), first_line: 3 });
        assert_eq!(e.to_string(), format!("r.tsv:4: interface {SAMR} is already listed (line 3)"));
    }

    #[test]
    fn header_and_emptiness() {
        let e = parse_rpc_interfaces("", "r.tsv", &SERVICES).unwrap_err();
        assert_eq!((e.line, &e.problem), (0, &RpcProblem::Empty));
        assert_eq!(e.to_string(), "r.tsv: no header row and interface rows found");
        let e = parse("").unwrap_err();
        assert_eq!((e.line, e.problem), (2, RpcProblem::Empty));
        let e = parse_rpc_interfaces("uuid\tname\n", "r.tsv", &SERVICES).unwrap_err();
        assert_eq!((e.line, e.problem), (1, RpcProblem::Header { found: "uuid\tname".to_owned() }));
    }
}
