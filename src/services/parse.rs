//! Reading and validating port tables: shared by `build.rs` and the runtime.
//!
//! What I own: the text formats of `data/windows-2000.tsv` (and of user tables loaded with
//! `--table FILE`) and of `data/amendments.tsv`; their validation, every error naming
//! `origin:line` and the offending text; and turning rows into the effective per-port
//! [`Entry`]s, then into sorted runs of slots ([`Segment`]s) with their candidate lists.
//! A user chooses the text, so every step is linear in it (one sweep over the boundaries,
//! counting sorts, no entry compared with every other) and the text, its lines and the
//! candidate lists are capped ([`MAX_TABLE_BYTES`], [`MAX_LINE_BYTES`], [`MAX_CANDIDATES`]).
//!
//! What I must not do: use anything but `std`. `build.rs` compiles this very file through
//! `#[path = "src/services/parse.rs"]`, where no dependency of the crate exists (hence the
//! hand-written `Display`/`Error` instead of `thiserror`). No printing, no panics: a bad line
//! is a [`TableError`], and the caller decides (build.rs fails the build, the CLI reports it).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// A distinct service name of one table, numbered in order of first appearance.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

/// What a port number is a port of. `Ip` entries are IP protocol numbers (IANA "Assigned
/// Internet Protocol Numbers"): ESP is 50 (RFC 4303), AH is 51 (RFC 4302), neither has ports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
    Ip,
}

impl Transport {
    pub const ALL: [Self; 3] = [Self::Tcp, Self::Udp, Self::Ip];

    /// The lower-case name used in tables, amendments and output.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Ip => "ip",
        }
    }

    /// Which block of 65,536 slots of the flat lookup array belongs to this transport.
    #[must_use]
    pub const fn index(self) -> u32 {
        match self {
            Self::Tcp => 0,
            Self::Udp => 1,
            Self::Ip => 2,
        }
    }

    /// Highest number a table may list: ports are 16 bits (RFC 793, RFC 768), the IPv4
    /// protocol field and the IPv6 next header are one octet (RFC 791, RFC 8200).
    #[must_use]
    pub const fn max(self) -> u16 {
        match self {
            Self::Tcp | Self::Udp => u16::MAX,
            Self::Ip => 255,
        }
    }

    /// Parses the name written by [`Transport::as_str`].
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of a table exactly as written, for printing it back (`--seed-only`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TableRow {
    /// 1-based line in the file the row came from.
    pub line: usize,
    pub service: Cow<'static, str>,
    pub udp: Cow<'static, str>,
    pub tcp: Cow<'static, str>,
    /// Empty unless the table has the optional `ip` column.
    pub ip: Cow<'static, str>,
}

/// One port (or range) a service is listed under, after amendments.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry {
    pub service: ServiceId,
    pub transport: Transport,
    pub first: u16,
    pub last: u16,
    /// Written as a range (`1024 - 5000`): it only labels ports no single entry lists.
    pub range: bool,
}

/// A run of consecutive slots that share one lookup value and one candidate list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Segment {
    /// First and last slot of the run, as made by [`slot`].
    pub first: u32,
    pub last: u32,
    /// What the flat array holds for these slots: service id + 1, plus [`RANGE_ONLY`].
    pub value: u16,
    /// The candidates, primary first: `pool[start..start + len]`.
    pub start: u32,
    pub len: u32,
}

/// Slots in the flat lookup array: 65,536 per transport, so that a slot is
/// `transport << 16 | port` with no branch (ip slots above 255 simply stay empty).
pub const SLOTS: usize = 3 << 16;

/// Flag bit of a slot value: only a range covers this port.
pub const RANGE_ONLY: u16 = 0x8000;

/// Service ids are stored as id + 1 beside the flag bit, so 15 bits must hold them.
pub const MAX_SERVICES: usize = RANGE_ONLY as usize - 1;

/// Largest table (or amendments) text, 8 MiB. The embedded table is under 10 KiB; a row
/// for every TCP and UDP port, each with a 30-byte name, is about 5 MiB. The cap bounds
/// the time to read a table and the memory it takes: every row is kept as written, about
/// 200 bytes for the shortest (`a<TAB><TAB>1`), so some 300 MB at most.
pub const MAX_TABLE_BYTES: usize = 8 << 20;

/// Longest line, 1 MiB: room for a row listing every TCP and UDP port one by one
/// (`1, 2, 3, ...` is 447,658 bytes per transport).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most candidates a table may give its runs of ports, summed over the runs between row
/// boundaries (2^22, 8 MiB of ids): 32 services for every TCP and UDP port. Real tables
/// name a handful per port; nested ranges with distinct services make the sum grow with
/// the square of the rows, and this is where such a table is refused.
pub const MAX_CANDIDATES: usize = 1 << 22;

/// The flat-array slot of a transport's port.
#[must_use]
pub const fn slot(transport: Transport, port: u16) -> u32 {
    (transport.index() << 16) | port as u32
}

/// The header row of a table, without and with the optional `ip` column.
pub const TABLE_HEADER: &str = "service\tudp\ttcp";
pub const TABLE_HEADER_IP: &str = "service\tudp\ttcp\tip";
/// The header row of an amendments file.
pub const AMENDMENTS_HEADER: &str = "action\ttransport\tport\tservice\treason\tsource";

/// A table read from text: the rows as written and the effective mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub names: Vec<String>,
    pub rows: Vec<TableRow>,
    pub has_ip_column: bool,
    pub entries: Vec<Entry>,
    pub segments: Vec<Segment>,
    pub pool: Vec<ServiceId>,
}

/// A line of a table or amendments file that cannot be used.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TableError {
    /// The file name (or `-`, or whatever the caller calls its text).
    pub origin: String,
    /// 1-based line; 0 when the problem belongs to the file as a whole.
    pub line: usize,
    pub problem: Problem,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}:{}: {}", self.origin, self.line, self.problem)
        }
    }
}

impl std::error::Error for TableError {}

/// What is wrong with a line, carrying the offending text (clipped after 60 characters).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Problem {
    /// The first non-comment line is not the expected header row.
    Header {
        expected: &'static str,
        found: String,
    },
    /// The file has no header row, or no row after it.
    Empty,
    /// The text is longer than [`MAX_TABLE_BYTES`].
    TooLarge,
    /// A line is longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        length: usize,
    },
    /// The bytes from this line on are not UTF-8.
    NotUtf8,
    Columns {
        expected: &'static str,
        found: usize,
    },
    EmptyService,
    /// Service names are identities (amendments refer to them): no stray spaces.
    ServiceWhitespace {
        service: String,
    },
    TooManyServices,
    /// The rows overlap so much that the candidate lists would exceed [`MAX_CANDIDATES`].
    TooManyCandidates,
    /// A port cell item that is not a number, a range `A - B` or `Dynamic`.
    BadPort {
        transport: Transport,
        cell: String,
        item: String,
    },
    PortZero {
        transport: Transport,
        cell: String,
    },
    PortTooHigh {
        transport: Transport,
        cell: String,
        max: u16,
    },
    /// A range whose low end is not below its high end.
    BadRange {
        transport: Transport,
        cell: String,
        first: u16,
        last: u16,
    },
    /// The same port twice in one cell (or in two overlapping items).
    RepeatedPort {
        transport: Transport,
        cell: String,
    },
    UnknownAction {
        action: String,
    },
    UnknownTransport {
        transport: String,
    },
    UnknownService {
        service: String,
    },
    EmptyField {
        column: &'static str,
    },
    AlreadyListed {
        service: String,
        transport: Transport,
        port: u16,
    },
    NotListed {
        service: String,
        transport: Transport,
        port: u16,
    },
    DuplicatePrimary {
        transport: Transport,
        port: u16,
        first_line: usize,
    },
    PrimaryNotListed {
        service: String,
        transport: Transport,
        port: u16,
    },
    PrimaryNotShared {
        transport: Transport,
        port: u16,
    },
    MissingPrimary {
        transport: Transport,
        port: u16,
        services: Vec<String>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header { expected, found } => {
                write!(f, "expected the header row {expected:?}, found {found:?}")
            }
            Self::Empty => f.write_str("no header row and data rows found"),
            Self::TooLarge => write!(
                f,
                "larger than {} MiB ({MAX_TABLE_BYTES} bytes), the most a port table may hold",
                MAX_TABLE_BYTES >> 20
            ),
            Self::LineTooLong { length } => write!(
                f,
                "the line is {length} bytes long; a line may hold at most {} MiB ({MAX_LINE_BYTES} bytes)",
                MAX_LINE_BYTES >> 20
            ),
            Self::NotUtf8 => f.write_str("not UTF-8 text"),
            Self::Columns { expected, found } => {
                write!(f, "expected {expected} tab-separated columns, found {found}")
            }
            Self::EmptyService => f.write_str("the service name is empty"),
            Self::ServiceWhitespace { service } => {
                write!(f, "the service name {service:?} has leading or trailing whitespace")
            }
            Self::TooManyServices => {
                write!(f, "more than {MAX_SERVICES} distinct service names")
            }
            Self::TooManyCandidates => write!(
                f,
                "the rows overlap too much: the services listed for its runs of ports add up \
                 to more than {MAX_CANDIDATES} (each range counts once for every run of ports \
                 it covers)"
            ),
            Self::BadPort { transport, cell, item } => write!(
                f,
                "{transport} column {cell:?}: {item:?} is not a port number, a range \
                 `A - B` or `Dynamic`"
            ),
            Self::PortZero { transport, cell } => {
                write!(f, "{transport} column {cell:?}: 0 is not a usable number")
            }
            Self::PortTooHigh { transport, cell, max } => {
                write!(f, "{transport} column {cell:?}: numbers stop at {max}")
            }
            Self::BadRange { transport, cell, first, last } => {
                write!(f, "{transport} column {cell:?}: range {first} - {last} must go from low to high")
            }
            Self::RepeatedPort { transport, cell } => {
                write!(f, "{transport} column {cell:?} lists a port twice")
            }
            Self::UnknownAction { action } => {
                write!(f, "unknown action {action:?} (expected add, remove or primary)")
            }
            Self::UnknownTransport { transport } => {
                write!(f, "unknown transport {transport:?} (expected tcp, udp or ip)")
            }
            Self::UnknownService { service } => {
                write!(f, "no row of the table names the service {service:?}")
            }
            Self::EmptyField { column } => write!(f, "the {column} column is empty"),
            Self::AlreadyListed { service, transport, port } => {
                write!(f, "{service:?} already lists {transport} {port}: nothing to add")
            }
            Self::NotListed { service, transport, port } => {
                write!(f, "{service:?} does not list {transport} {port} as a single port: nothing to remove")
            }
            Self::DuplicatePrimary { transport, port, first_line } => {
                write!(f, "{transport} {port} already has a primary label (line {first_line})")
            }
            Self::PrimaryNotListed { service, transport, port } => {
                write!(f, "{service:?} is not listed for {transport} {port}, so it cannot be its primary")
            }
            Self::PrimaryNotShared { transport, port } => write!(
                f,
                "{transport} {port} is listed by fewer than two services: a primary label is \
                 redundant"
            ),
            Self::MissingPrimary { transport, port, services } => write!(
                f,
                "{transport} {port} is listed by {} services ({}) but has no `primary` line",
                services.len(),
                services.join("; ")
            ),
        }
    }
}

/// Reads a table (`service udp tcp [ip]`); a port several services list is labelled by the
/// first of them in file order.
///
/// # Errors
/// The first malformed line, as `origin:line` and the problem.
pub fn parse_table(text: &str, origin: &str) -> Result<Parsed, TableError> {
    let table = read_table(text, origin)?;
    table.finish(&BTreeMap::new()).map_err(|problem| TableError {
        origin: origin.to_owned(),
        line: 0,
        problem,
    })
}

/// Reads a table and applies an amendments file to it (how `build.rs` makes the embedded
/// table): adds and removes in file order, then a `primary` line for every shared port.
///
/// # Errors
/// The first malformed line of either file, an amendment that names an unknown service or
/// changes nothing, a duplicate or pointless primary, or a shared port without one.
pub fn parse_amended(
    table: &str,
    table_origin: &str,
    amendments: &str,
    amendments_origin: &str,
) -> Result<Parsed, TableError> {
    let mut read = read_table(table, table_origin)?;
    let primaries = read.amend(amendments, amendments_origin)?;
    let origin = table_origin;
    read.finish(&primaries).map_err(|problem| TableError { origin: origin.to_owned(), line: 0, problem })
}

/// The offending text for an error message: whole if short, else its first 60 characters
/// and its length (a cell or header may be a megabyte long).
fn clip(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}… ({} bytes)", text.get(..end).unwrap_or_default(), text.len()),
        None => text.to_owned(),
    }
}

/// Refuses text over [`MAX_TABLE_BYTES`] or with a line over [`MAX_LINE_BYTES`] before a
/// line of it is read, as `(line, problem)` (line 0 for the size).
fn check_size(text: &str) -> Result<(), (usize, Problem)> {
    if text.len() > MAX_TABLE_BYTES {
        return Err((0, Problem::TooLarge));
    }
    if text.len() <= MAX_LINE_BYTES {
        return Ok(());
    }
    match text.lines().enumerate().find(|(_, line)| line.len() > MAX_LINE_BYTES) {
        Some((i, line)) => Err((i + 1, Problem::LineTooLong { length: line.len() })),
        None => Ok(()),
    }
}

/// Non-comment, non-empty lines with their 1-based numbers.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// A table between reading and resolving: rows, names and entries in file order.
struct Read {
    names: Vec<String>,
    ids: HashMap<String, ServiceId>,
    rows: Vec<TableRow>,
    has_ip_column: bool,
    entries: Vec<Entry>,
    /// Scratch for [`Read::row`]: the items of one row, and of one cell.
    spans: Vec<(Transport, u16, u16, bool)>,
    cell: Vec<(u16, u16, bool)>,
}

fn read_table(text: &str, origin: &str) -> Result<Read, TableError> {
    let err = |line, problem| TableError { origin: origin.to_owned(), line, problem };
    check_size(text).map_err(|(line, problem)| err(line, problem))?;
    let mut lines = data_lines(text);
    let Some((header_line, header)) = lines.next() else {
        return Err(err(0, Problem::Empty));
    };
    let has_ip_column = match header {
        TABLE_HEADER => false,
        TABLE_HEADER_IP => true,
        _ => {
            return Err(err(header_line, Problem::Header { expected: TABLE_HEADER, found: clip(header) }));
        }
    };
    let mut read = Read {
        names: Vec::new(),
        ids: HashMap::new(),
        rows: Vec::new(),
        has_ip_column,
        entries: Vec::new(),
        spans: Vec::new(),
        cell: Vec::new(),
    };
    for (line, text) in lines {
        read.row(line, text).map_err(|problem| err(line, problem))?;
    }
    if read.rows.is_empty() {
        return Err(err(header_line, Problem::Empty));
    }
    Ok(read)
}

impl Read {
    fn row(&mut self, line: usize, text: &str) -> Result<(), Problem> {
        let mut columns = text.split('\t');
        let service = columns.next().unwrap_or_default();
        let (udp, tcp, ip, more) = (columns.next(), columns.next(), columns.next(), columns.next());
        let (udp, tcp, ip) = match (udp, tcp, ip, more, self.has_ip_column) {
            (Some(udp), Some(tcp), None, None, _) => (udp, tcp, ""),
            (Some(udp), Some(tcp), Some(ip), None, true) => (udp, tcp, ip),
            (.., has_ip) => {
                let expected = if has_ip { "3 or 4" } else { "3" };
                return Err(Problem::Columns { expected, found: text.split('\t').count() });
            }
        };
        if service.is_empty() {
            return Err(Problem::EmptyService);
        }
        if service.starts_with(char::is_whitespace) || service.ends_with(char::is_whitespace) {
            return Err(Problem::ServiceWhitespace { service: clip(service) });
        }
        let cells = [(Transport::Udp, udp), (Transport::Tcp, tcp), (Transport::Ip, ip)];
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        for (transport, cell) in cells {
            parse_cell(transport, cell, &mut self.cell)?;
            spans.extend(self.cell.iter().map(|&(first, last, range)| (transport, first, last, range)));
        }
        let service_id = self.intern(service)?;
        for &(transport, first, last, range) in &spans {
            self.entries.push(Entry { service: service_id, transport, first, last, range });
        }
        self.spans = spans;
        self.rows.push(TableRow {
            line,
            service: Cow::Owned(service.to_owned()),
            udp: Cow::Owned(udp.to_owned()),
            tcp: Cow::Owned(tcp.to_owned()),
            ip: Cow::Owned(ip.to_owned()),
        });
        Ok(())
    }

    fn intern(&mut self, service: &str) -> Result<ServiceId, Problem> {
        if let Some(&id) = self.ids.get(service) {
            return Ok(id);
        }
        let id = match u16::try_from(self.names.len()) {
            Ok(n) if usize::from(n) < MAX_SERVICES => ServiceId(n),
            _ => return Err(Problem::TooManyServices),
        };
        self.names.push(service.to_owned());
        self.ids.insert(service.to_owned(), id);
        Ok(id)
    }

    /// Distinct services with a single-port entry for this port, in entry order.
    fn singles(&self, transport: Transport, port: u16) -> Vec<ServiceId> {
        let mut found = Vec::new();
        for e in &self.entries {
            if e.transport == transport && !e.range && e.first == port && !found.contains(&e.service) {
                found.push(e.service);
            }
        }
        found
    }

    fn single_entry(&self, service: ServiceId, transport: Transport, port: u16) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.service == service && e.transport == transport && !e.range && e.first == port)
    }

    /// Applies an amendments file; returns the primary label of every shared slot.
    fn amend(&mut self, text: &str, origin: &str) -> Result<BTreeMap<u32, ServiceId>, TableError> {
        let err = |line, problem| TableError { origin: origin.to_owned(), line, problem };
        check_size(text).map_err(|(line, problem)| err(line, problem))?;
        let mut lines = data_lines(text);
        let Some((header_line, header)) = lines.next() else {
            return Err(err(0, Problem::Empty));
        };
        if header != AMENDMENTS_HEADER {
            let found = clip(header);
            let expected = AMENDMENTS_HEADER;
            return Err(err(header_line, Problem::Header { expected, found }));
        }
        // Primaries are checked after every add and remove, so their order does not matter.
        let mut primaries: BTreeMap<u32, (usize, ServiceId)> = BTreeMap::new();
        for (line, text) in lines {
            self.apply(line, text, &mut primaries).map_err(|problem| err(line, problem))?;
        }
        self.labels(&primaries).map_err(|(line, problem)| err(line, problem))
    }

    /// Applies one amendment line: an add or remove at once, a primary into `primaries`.
    fn apply(
        &mut self,
        line: usize,
        text: &str,
        primaries: &mut BTreeMap<u32, (usize, ServiceId)>,
    ) -> Result<(), Problem> {
        let (action, transport, port, service) = self.amendment(text)?;
        let name = || self.names[usize::from(service.0)].clone();
        match action {
            Action::Add => {
                if self.single_entry(service, transport, port).is_some() {
                    let service = name();
                    return Err(Problem::AlreadyListed { service, transport, port });
                }
                let (first, last, range) = (port, port, false);
                let entry = Entry { service, transport, first, last, range };
                self.entries.push(entry);
            }
            Action::Remove => {
                let Some(at) = self.single_entry(service, transport, port) else {
                    let service = name();
                    return Err(Problem::NotListed { service, transport, port });
                };
                self.entries.remove(at);
            }
            Action::Primary => {
                if let Some(&(first_line, _)) = primaries.get(&slot(transport, port)) {
                    return Err(Problem::DuplicatePrimary { transport, port, first_line });
                }
                primaries.insert(slot(transport, port), (line, service));
            }
        }
        Ok(())
    }

    /// Checks the primaries against the amended entries: each names a service listed for a
    /// port that several services share, and every such port has one. Errors carry the line
    /// (0 for a missing primary, which has none).
    fn labels(
        &self,
        primaries: &BTreeMap<u32, (usize, ServiceId)>,
    ) -> Result<BTreeMap<u32, ServiceId>, (usize, Problem)> {
        let name = |id: ServiceId| self.names[usize::from(id.0)].clone();
        let mut labels = BTreeMap::new();
        for (&key, &(line, service)) in primaries {
            let (transport, port) = unslot(key);
            let singles = self.singles(transport, port);
            if !singles.contains(&service) {
                let service = name(service);
                return Err((line, Problem::PrimaryNotListed { service, transport, port }));
            }
            if singles.len() < 2 {
                return Err((line, Problem::PrimaryNotShared { transport, port }));
            }
            labels.insert(key, service);
        }
        for (transport, port) in self.shared() {
            if !labels.contains_key(&slot(transport, port)) {
                let services = self.singles(transport, port).into_iter().map(name).collect();
                return Err((0, Problem::MissingPrimary { transport, port, services }));
            }
        }
        Ok(labels)
    }

    /// One amendment line: action, transport, port and service (reason and source are
    /// required but only for people).
    fn amendment(&self, text: &str) -> Result<(Action, Transport, u16, ServiceId), Problem> {
        let columns: Vec<&str> = text.split('\t').collect();
        let &[action, transport, port, service, reason, source] = columns.as_slice() else {
            return Err(Problem::Columns { expected: "6", found: columns.len() });
        };
        let action = match action {
            "add" => Action::Add,
            "remove" => Action::Remove,
            "primary" => Action::Primary,
            _ => {
                return Err(Problem::UnknownAction { action: clip(action) });
            }
        };
        let Some(transport) = Transport::parse(transport) else {
            return Err(Problem::UnknownTransport { transport: clip(transport) });
        };
        let port = parse_number(transport, port, port)?;
        let Some(&service) = self.ids.get(service) else {
            return Err(Problem::UnknownService { service: clip(service) });
        };
        for (column, text) in [("reason", reason), ("source", source)] {
            if text.trim().is_empty() {
                return Err(Problem::EmptyField { column });
            }
        }
        Ok((action, transport, port, service))
    }

    /// Every (transport, port) that at least two services list as a single port, sorted.
    fn shared(&self) -> Vec<(Transport, u16)> {
        let mut keys: Vec<u32> =
            self.entries.iter().filter(|e| !e.range).map(|e| slot(e.transport, e.first)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter().map(unslot).filter(|&(t, p)| self.singles(t, p).len() > 1).collect()
    }

    /// Cuts each transport's port space at every entry boundary; each piece has one
    /// candidate list. Adjacent pieces with the same list and value become one segment.
    ///
    /// One sweep per transport over the sorted boundaries, carrying the ranges that cover
    /// the current piece, so the cost is the entries' sort plus the lists written; those
    /// are capped by [`MAX_CANDIDATES`] (nested ranges make them grow with the square of
    /// the rows).
    fn finish(self, primaries: &BTreeMap<u32, ServiceId>) -> Result<Parsed, Problem> {
        let mut segments: Vec<Segment> = Vec::new();
        let mut pool: Vec<ServiceId> = Vec::new();
        // Runs that share a candidate list share its place in the pool (every piece of a
        // range cut by single ports lists the same range service).
        let mut placed: HashMap<Vec<ServiceId>, u32> = HashMap::new();
        // The piece that last listed each service: a list is kept distinct without
        // searching it.
        let mut listed: Vec<u32> = vec![0; self.names.len()];
        let mut piece: u32 = 0;
        let mut work: usize = 0;
        for transport in Transport::ALL {
            let (cuts, mut sweep) = Sweep::new(&self.entries, transport);
            for pair in cuts.windows(2) {
                let &[from, next] = pair else { continue };
                let first = slot(transport, 0) + from;
                let last = slot(transport, 0) + next - 1;
                sweep.advance(from);
                let at = sweep.singles_at(from);
                let singles = sweep.singles.get(at).unwrap_or(&[]);
                work = work.saturating_add(singles.len() + sweep.active.len());
                if work > MAX_CANDIDATES {
                    return Err(Problem::TooManyCandidates);
                }
                piece += 1;
                let mut fresh = |s: ServiceId| match listed.get_mut(usize::from(s.0)) {
                    Some(mark) if *mark == piece => false,
                    Some(mark) => {
                        *mark = piece;
                        true
                    }
                    None => true,
                };
                // Single-port services first (the primary, else the first in entry
                // order), then the services of ranges covering the piece.
                let mut candidates: Vec<ServiceId> =
                    singles.iter().map(|&(_, s)| s).filter(|&s| fresh(s)).collect();
                let single = !candidates.is_empty();
                let primary = primaries.get(&first).filter(|_| single);
                if let Some(at) = primary.and_then(|p| candidates.iter().position(|s| s == p)) {
                    candidates[..=at].rotate_right(1);
                }
                candidates.extend(sweep.active.services().filter(|&s| fresh(s)));
                let Some(head) = candidates.first() else { continue };
                // Ids stay below MAX_SERVICES (checked in `intern`), so id + 1 never
                // reaches the flag.
                let value = (head.0 + 1) | if single { 0 } else { RANGE_ONLY };
                if let Some(prev) = segments.last_mut() {
                    let prev_list = pool_slice(&pool, prev);
                    if prev.last + 1 == first
                        && unslot(prev.first).0 == transport
                        && prev.value == value
                        && prev_list == candidates
                    {
                        prev.last = last;
                        continue;
                    }
                }
                let len = count(candidates.len());
                let start = *placed.entry(candidates).or_insert_with_key(|list| {
                    pool.extend_from_slice(list);
                    count(pool.len() - list.len())
                });
                segments.push(Segment { first, last, value, start, len });
            }
        }
        Ok(Parsed {
            names: self.names,
            rows: self.rows,
            has_ip_column: self.has_ip_column,
            entries: self.entries,
            segments,
            pool,
        })
    }
}

/// One transport's entries prepared for the sweep of [`Read::finish`]: the single ports
/// sorted by port, the ranges by where they start and end, and the ranges covering the
/// sweep's position.
struct Sweep {
    /// (port, service), entry order kept within a port.
    singles: Vec<(u16, ServiceId)>,
    /// (first port, entry index, service) and (last port + 1, entry index, service).
    starts: Vec<(u32, usize, ServiceId)>,
    ends: Vec<(u32, usize, ServiceId)>,
    next_single: usize,
    next_start: usize,
    next_end: usize,
    active: Active,
}

impl Sweep {
    /// The sorted boundaries of the transport's entries, and the sweep over them.
    fn new(entries: &[Entry], transport: Transport) -> (Vec<u32>, Sweep) {
        let mut sweep = Sweep {
            singles: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            next_single: 0,
            next_start: 0,
            next_end: 0,
            active: Active::default(),
        };
        let mut is_cut = vec![false; BOUNDARIES];
        let mut mark = |at: u32| {
            if let Some(cut) = is_cut.get_mut(at as usize) {
                *cut = true;
            }
        };
        for (index, e) in entries.iter().enumerate().filter(|(_, e)| e.transport == transport) {
            let (first, end) = (u32::from(e.first), u32::from(e.last) + 1);
            mark(first);
            mark(end);
            if e.range {
                sweep.starts.push((first, index, e.service));
                sweep.ends.push((end, index, e.service));
            } else {
                sweep.singles.push((e.first, e.service));
            }
        }
        let cuts = (0..).zip(&is_cut).filter(|&(_, &cut)| cut).map(|(at, _)| at).collect();
        // Pushed in entry order, so a stable sort by port keeps that order within a port.
        sweep.singles = sort_by_boundary(&sweep.singles, |&(port, _)| u32::from(port));
        sweep.starts = sort_by_boundary(&sweep.starts, |&(at, ..)| at);
        sweep.ends = sort_by_boundary(&sweep.ends, |&(at, ..)| at);
        (cuts, sweep)
    }

    /// Moves to the piece starting at `from`: ranges ending before it leave, ranges
    /// starting at it join. Every boundary is a cut, so none is passed over.
    fn advance(&mut self, from: u32) {
        while let Some(&(_, index, service)) = self.ends.get(self.next_end).filter(|e| e.0 <= from) {
            self.active.remove(index, service);
            self.next_end += 1;
        }
        while let Some(&(_, index, service)) = self.starts.get(self.next_start).filter(|s| s.0 <= from) {
            self.active.insert(index, service);
            self.next_start += 1;
        }
    }

    /// Where in `singles` the entries of port `from` are, in entry order. Every single port is a
    /// cut, and its piece is that port alone (the port after it is a cut too).
    fn singles_at(&mut self, from: u32) -> std::ops::Range<usize> {
        let start = self.next_single;
        let rest = self.singles.get(start..).unwrap_or(&[]);
        self.next_single = start + rest.iter().take_while(|&&(port, _)| u32::from(port) == from).count();
        start..self.next_single
    }
}

/// Places an entry boundary can be: every port, and one past the last.
const BOUNDARIES: usize = 1 << 16 | 1;

/// A stable counting sort by a key below [`BOUNDARIES`]: linear in the items, where a
/// table may have millions of entries over at most 65,537 places.
fn sort_by_boundary<T: Copy>(items: &[T], key: impl Fn(&T) -> u32) -> Vec<T> {
    let mut next = vec![0usize; BOUNDARIES + 1];
    for item in items {
        if let Some(n) = next.get_mut(key(item) as usize + 1) {
            *n += 1;
        }
    }
    // Counts shifted by one, summed: each key's first place.
    let mut sum = 0;
    for n in &mut next {
        sum += *n;
        *n = sum;
    }
    let mut sorted = items.to_vec();
    for &item in items {
        if let Some(n) = next.get_mut(key(&item) as usize)
            && let Some(place) = sorted.get_mut(*n)
        {
            *place = item;
            *n += 1;
        }
    }
    sorted
}

/// The ranges covering a piece, as the services they list ordered by their earliest such
/// range in entry order (the order in which the candidate list names them).
#[derive(Default)]
struct Active {
    /// (service, entry index) of every covering range.
    ranges: BTreeSet<(ServiceId, usize)>,
    /// (earliest entry index, service): one per service.
    order: BTreeSet<(usize, ServiceId)>,
}

impl Active {
    fn earliest(&self, service: ServiceId) -> Option<usize> {
        self.ranges.range((service, 0)..=(service, usize::MAX)).next().map(|&(_, index)| index)
    }

    fn insert(&mut self, index: usize, service: ServiceId) {
        let before = self.earliest(service);
        self.ranges.insert((service, index));
        if before.is_none_or(|b| index < b) {
            if let Some(b) = before {
                self.order.remove(&(b, service));
            }
            self.order.insert((index, service));
        }
    }

    fn remove(&mut self, index: usize, service: ServiceId) {
        self.ranges.remove(&(service, index));
        if self.order.remove(&(index, service))
            && let Some(next) = self.earliest(service)
        {
            self.order.insert((next, service));
        }
    }

    /// Distinct services covering the piece.
    fn len(&self) -> usize {
        self.order.len()
    }

    fn services(&self) -> impl Iterator<Item = ServiceId> + '_ {
        self.order.iter().map(|&(_, service)| service)
    }
}

#[derive(Clone, Copy)]
enum Action {
    Add,
    Remove,
    Primary,
}

fn pool_slice<'a>(pool: &'a [ServiceId], segment: &Segment) -> &'a [ServiceId] {
    let start = segment.start as usize;
    pool.get(start..start + segment.len as usize).unwrap_or(&[])
}

/// Pool positions fit in u32: a table has at most 3 × 65,536 slots × 32,767 services,
/// and real ones are far smaller; saturate rather than wrap if someone tries.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The transport and port of a slot made by [`slot`].
#[must_use]
pub fn unslot(key: u32) -> (Transport, u16) {
    let transport = match key >> 16 {
        0 => Transport::Tcp,
        1 => Transport::Udp,
        _ => Transport::Ip,
    };
    (transport, (key & 0xFFFF) as u16)
}

/// The ports of one cell, into `spans` (cleared first): empty and `Dynamic` map none;
/// otherwise items separated by `,` or ` or ` (the seed's "1645 or 1812": both are used),
/// each a number or a range `A - B`.
fn parse_cell(transport: Transport, cell: &str, spans: &mut Vec<(u16, u16, bool)>) -> Result<(), Problem> {
    /// Items a cell may hold before overlaps are looked up in an ordered map rather than
    /// by comparing with every earlier item (a cell may list all 65,535 ports).
    const FEW: usize = 16;
    spans.clear();
    // Most cells are empty or one port: the loop below would find just that.
    if cell.is_empty() {
        return Ok(());
    }
    if cell.bytes().all(|b| b.is_ascii_digit()) {
        let port = parse_number(transport, cell, cell)?;
        spans.push((port, port, false));
        return Ok(());
    }
    let text = cell.trim();
    // "Dynamic": ports picked at run time (e.g. RTP, RFC 3550) cannot be listed.
    if text.is_empty() || text == "Dynamic" {
        return Ok(());
    }
    let mut taken: Option<BTreeMap<u16, u16>> = None;
    for item in text.split(',').flat_map(|part| part.split(" or ")) {
        let item = item.trim();
        let span = if let Some((low, high)) = item.split_once('-') {
            let first = parse_number(transport, cell, low.trim())?;
            let last = parse_number(transport, cell, high.trim())?;
            if first >= last {
                return Err(Problem::BadRange { transport, cell: clip(cell), first, last });
            }
            (first, last, true)
        } else {
            let port = parse_number(transport, cell, item)?;
            (port, port, false)
        };
        let overlaps = match &taken {
            // The spans taken so far are disjoint, so only the last one starting at or
            // before this span's end can overlap it.
            Some(taken) => taken.range(..=span.1).next_back().is_some_and(|(_, &last)| span.0 <= last),
            None => spans.iter().any(|&(first, last, _)| first <= span.1 && span.0 <= last),
        };
        if overlaps {
            return Err(Problem::RepeatedPort { transport, cell: clip(cell) });
        }
        spans.push(span);
        match &mut taken {
            Some(taken) => {
                taken.insert(span.0, span.1);
            }
            None if spans.len() >= FEW => {
                taken = Some(spans.iter().map(|&(first, last, _)| (first, last)).collect());
            }
            None => {}
        }
    }
    Ok(())
}

/// A decimal number in `1..=transport.max()`: digits only, no sign, no spaces.
fn parse_number(transport: Transport, cell: &str, item: &str) -> Result<u16, Problem> {
    if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
        let (cell, item) = (clip(cell), clip(item));
        return Err(Problem::BadPort { transport, cell, item });
    }
    let max = transport.max();
    match item.parse::<u64>() {
        Ok(0) => Err(Problem::PortZero { transport, cell: clip(cell) }),
        Ok(n) => match u16::try_from(n) {
            Ok(port) if port <= max => Ok(port),
            _ => Err(Problem::PortTooHigh { transport, cell: clip(cell), max }),
        },
        // Only an absurdly long run of digits gets here.
        Err(_) => Err(Problem::PortTooHigh { transport, cell: clip(cell), max }),
    }
}
