//! App: runs a command from a validated config and maps every outcome to an exit code.
//!
//! What I own: opening inputs and outputs, the read loop (reader → filter → pipeline), the
//! progress bar, rendering the report, and the one-line error messages. Exit codes
//! (CATALOGUE.md §3.1): 0 complete, 2 usage, 3 an input could not be opened or is not a
//! capture, 4 an input failed part-way (everything before is counted and reported), 5 an
//! output write failed, 130/143 a file read stopped by SIGINT/SIGTERM (the summary is still
//! written). A closed stdout pipe ends quietly with the run's own code. Damaged records (bad
//! timestamps, impossible lengths) are warned about, sampled.
//!
//! `flowtag live` has its own module, [`live`]: the capture loop, the refresh timer, signals
//! and the view; [`http`] serves its Prometheus metrics; [`timeline`] keeps its packet times
//! free of steps of the system clock.
//!
//! What I must not do: count or classify (the pipeline does), or panic.

mod http;
mod live;
mod timeline;

use crate::capture::{CaptureReader, Filter};
use crate::cli::{Cli, Command, Format, ServicesArgs};
use crate::config::{LiveConfig, ReadConfig};
use crate::decode::Anomalies;
use crate::interrupt::{Interrupt, Signal};
use crate::output::flows::FlowWriter;
use crate::output::table::TableOptions;
use crate::output::warnings::Warnings;
use crate::parallel::Engine;
use crate::report::{InputReport, InputStatus, Report};
use crate::services::ServiceTable;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The process exit codes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Exit {
    Ok = 0,
    Usage = 2,
    InputUnreadable = 3,
    InputDamaged = 4,
    OutputFailed = 5,
    /// A signal stopped a file read (128 + its number).
    Sigint = 130,
    Sigterm = 143,
}

impl Exit {
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    fn of_signal(sig: Signal) -> Self {
        match sig {
            Signal::Int => Exit::Sigint,
            Signal::Term => Exit::Sigterm,
        }
    }
}

/// Record-level damage worth a (sampled) warning: tcpdump reports each of these per packet.
/// Packet-level malformations are only counted: the report names every one. So is time going
/// backwards, which real captures do all the time (4 of the 60 in the corpus, one of them in
/// 587 of 834 packets, after a single late timestamp).
const WARNED: [(Anomalies, &str); 3] = [
    (Anomalies::BAD_TIMESTAMP, "bad_timestamp"),
    (Anomalies::PCAP_LEN_LT_CAPLEN, "pcap_len_lt_caplen"),
    (Anomalies::PCAP_LEN_IMPLAUSIBLE, "pcap_len_implausible"),
];

/// Any of [`WARNED`], for a one-test check a packet.
const WARNED_BITS: u16 = WARNED[0].0.0 | WARNED[1].0.0 | WARNED[2].0.0;

/// What a warning says about one record.
fn record_warning(
    kind: &str,
    name: &str,
    packet: u64,
    ts: crate::capture::Timestamp,
    caplen: usize,
    len: u32,
) -> String {
    let ns = crate::capture::Timestamp::NANOS_PER_SEC;
    let secs = format!("{}.{:09}", ts.0 / ns, ts.0 % ns);
    let what = match kind {
        "bad_timestamp" => format!("timestamp out of range, read as {secs} s"),
        "pcap_len_lt_caplen" => format!("original length {len} is below the captured length {caplen}"),
        _ => format!("original length {len} is above 262144"),
    };
    format!("{name}: packet {packet}: {what}")
}

/// Prints the one-line error every failure gets.
fn complain(what: &str, msg: &dyn std::fmt::Display) {
    // If stderr itself is gone there is nobody left to tell.
    let _ = writeln!(io::stderr().lock(), "flowtag: {what}: {msg}");
}

/// At the first packet an input counts: if it is earlier than the packets counted so far by
/// more than the shortest idle timeout (files given out of order), the flows open so far end
/// there, as at the end of an input, and the clock starts again from this packet, with one
/// warning. Otherwise the clock would stay ahead: every later packet would join a flow of the
/// same 5-tuple hours away, or find its flow past its timeout and start another (a flow a
/// packet). A small step back, within a file or between overlapping files, keeps the one
/// clock (`ts_backwards`, CATALOGUE.md #70).
fn new_timeline_if_earlier(
    engine: &mut Engine<'_, '_>,
    frame: &crate::capture::Frame<'_>,
    cfg: &ReadConfig,
    name: &str,
    on_end: &mut impl FnMut(&crate::flow::FlowRecord),
) {
    let gap = cfg.flow.tcp_timeout.min(cfg.flow.udp_timeout).min(cfg.flow.other_timeout);
    let Some(clock) = engine.clock() else { return };
    if frame.flags.contains(crate::capture::RecordFlags::BAD_TIMESTAMP)
        || frame.ts.0.saturating_add(gap) >= clock.0
    {
        return;
    }
    #[expect(clippy::cast_precision_loss, reason = "a duration shown to people")]
    let back = crate::output::units::duration_s((clock.0 - frame.ts.0) as f64 / 1e9);
    complain(
        "warning",
        &format!(
            "{name} begins {back} before the packets read so far (inputs are read in the order given): \
             the flows open until then end there, as at the end of an input"
        ),
    );
    engine.restart(on_end);
}

/// Runs the command line.
#[must_use]
pub fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Read(args) => read(&ReadConfig::from_args(args)),
        Command::Live(args) => match LiveConfig::from_args(args) {
            Ok(cfg) => live::run(&cfg),
            Err(e) => {
                complain(e.option, &e);
                Exit::Usage
            }
        },
        Command::Interfaces => interfaces(),
        Command::Services(args) => services(&args),
    }
}

fn interfaces() -> Exit {
    let list = match crate::capture::live::interfaces() {
        Ok(l) => l,
        Err(e) => {
            complain("interfaces", &e);
            return Exit::InputUnreadable;
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = crate::output::interfaces::write(&mut out, &list).and_then(|()| out.flush());
    finish_output(result, "stdout", Exit::Ok)
}

fn load_table(path: Option<&Path>) -> Result<TableHolder, Exit> {
    let Some(path) = path else {
        return Ok(TableHolder::Embedded);
    };
    ServiceTable::from_path(path).map(TableHolder::Owned).map_err(|e| {
        complain("--table", &e);
        Exit::Usage
    })
}

enum TableHolder {
    Embedded,
    Owned(ServiceTable),
}

impl TableHolder {
    fn get(&self) -> &ServiceTable {
        match self {
            TableHolder::Embedded => ServiceTable::embedded(),
            TableHolder::Owned(t) => t,
        }
    }
}

fn services(args: &ServicesArgs) -> Exit {
    let holder = match load_table(args.table.as_deref()) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let table = if args.seed_only { ServiceTable::seed_only() } else { holder.get() };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = (|| {
        if args.ports.is_empty() {
            if args.seed_only {
                crate::output::services::write_seed(&mut out, table)?;
            } else {
                crate::output::services::write_table(&mut out, table)?;
            }
        } else {
            for &p in &args.ports {
                crate::output::services::write_lookup(&mut out, table, p)?;
            }
        }
        out.flush()
    })();
    finish_output(result, "stdout", Exit::Ok)
}

/// Maps an output result: a closed pipe is a quiet end, any other error is exit 5.
fn finish_output(result: io::Result<()>, name: &str, code: Exit) -> Exit {
    match result {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            complain(&format!("error writing {name}"), &e);
            Exit::OutputFailed
        }
    }
}

/// Where the report goes: stdout, a file written through a temporary one and renamed into
/// place (so an earlier report is never half-overwritten), or a special file (a device, a
/// FIFO) written directly.
enum ReportOut {
    Stdout,
    File { path: PathBuf, tmp: Option<PathBuf>, file: File },
}

impl ReportOut {
    /// Opens the destination before any input is read, so an unusable path fails at once.
    fn open(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(ReportOut::Stdout);
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory")),
            Ok(m) if !m.is_file() => {
                let file = std::fs::OpenOptions::new().write(true).open(path)?;
                Ok(ReportOut::File { path: path.to_owned(), tmp: None, file })
            }
            _ => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                let tmp = dir.join(format!(".{name}.flowtag-{}.tmp", std::process::id()));
                let file = File::create(&tmp)?;
                Ok(ReportOut::File { path: path.to_owned(), tmp: Some(tmp), file })
            }
        }
    }

    fn name(&self) -> String {
        match self {
            ReportOut::Stdout => "stdout".into(),
            ReportOut::File { path, .. } => path.display().to_string(),
        }
    }

    fn write(self, render: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        match self {
            ReportOut::Stdout => {
                let stdout = io::stdout();
                let mut w = BufWriter::new(stdout.lock());
                render(&mut w)?;
                w.flush()
            }
            ReportOut::File { path, tmp, file } => {
                let mut w = BufWriter::new(file);
                let result = render(&mut w).and_then(|()| w.flush());
                let result = result.and_then(|()| match &tmp {
                    Some(tmp) => std::fs::rename(tmp, &path),
                    None => Ok(()),
                });
                if result.is_err()
                    && let Some(tmp) = &tmp
                {
                    let _ = std::fs::remove_file(tmp);
                }
                result
            }
        }
    }

    fn abandon(self) {
        if let ReportOut::File { tmp: Some(tmp), .. } = self {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Shows progress on a terminal: bytes of total and packets per second, four times a second.
struct Progress {
    enabled: bool,
    started: Instant,
    last_draw: Instant,
    drawn: bool,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let now = Instant::now();
        Self { enabled: enabled && io::stderr().is_terminal(), started: now, last_draw: now, drawn: false }
    }

    #[expect(clippy::cast_precision_loss, reason = "display only")]
    fn tick(&mut self, name: &str, done: u64, total: Option<u64>, packets: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        // Short reads never show a bar; long ones redraw four times a second.
        if now.duration_since(self.started) < Duration::from_millis(500)
            || now.duration_since(self.last_draw) < Duration::from_millis(250)
        {
            return;
        }
        self.last_draw = now;
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-9);
        let rate = packets as f64 / secs;
        let line = match total {
            Some(t) if t > 0 => {
                let frac = (done as f64 / t as f64).clamp(0.0, 1.0);
                #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0..=30")]
                let filled = (frac * 30.0) as usize;
                format!(
                    "[{}{}] {:>3.0}% {} / {}  {:.2} Mpkt/s  {name}",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    frac * 100.0,
                    crate::output::units::bytes(done),
                    crate::output::units::bytes(t),
                    rate / 1e6,
                )
            }
            _ => format!("{}  {:.2} Mpkt/s  {name}", crate::output::units::bytes(done), rate / 1e6),
        };
        let _ = write!(io::stderr().lock(), "\r\x1b[K{line}");
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

/// One line each for what the counters say the user must know: nothing is lost silently.
fn warn_about(report: &Report, max_flows: usize) {
    let t = &report.totals;
    if t.flows_evicted > 0 {
        complain(
            "warning",
            &format!(
                "flow table full ({} flows): {} flows evicted early; raise --max-flows for exact flow records (and exact counters, if many evicted flows came back)",
                max_flows, t.flows_evicted
            ),
        );
    }
    if let Some(n) = t.skipped.get("unsupported_linktype").filter(|n| **n > 0) {
        complain(
            "warning",
            &format!("{n} packets on interfaces of a link type flowtag cannot decode were skipped"),
        );
    }
}

/// Reads every input through one pipeline and writes the report.
#[expect(clippy::too_many_lines, reason = "the read command's steps in order")]
fn read(cfg: &ReadConfig) -> Exit {
    let holder = match load_table(cfg.table.as_deref()) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let table = holder.get();
    let mut filter = match cfg.filter.as_deref().map(Filter::new).transpose() {
        Ok(f) => f,
        Err(e) => {
            complain("--filter", &e);
            return Exit::Usage;
        }
    };
    // Outputs are opened before any input is read: an unusable path fails at once.
    let report_out = match ReportOut::open(cfg.output.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            complain(
                &cfg.output.as_deref().unwrap_or(Path::new("-")).display().to_string(),
                &format!("cannot write: {e}"),
            );
            return Exit::OutputFailed;
        }
    };
    let mut flow_writer = match &cfg.flows {
        None => None,
        Some((path, format)) => match File::create(path)
            .and_then(|f| FlowWriter::new(BufWriter::with_capacity(1 << 16, f), *format, table))
        {
            Ok(w) => Some(w),
            Err(e) => {
                complain(&path.display().to_string(), &format!("cannot write the flow file: {e}"));
                report_out.abandon();
                return Exit::OutputFailed;
            }
        },
    };
    let mut flow_error: Option<io::Error> = None;
    let mut on_end = |rec: &crate::flow::FlowRecord| {
        if let (Some(w), None) = (flow_writer.as_mut(), flow_error.as_ref())
            && let Err(e) = w.write(rec)
        {
            flow_error = Some(e);
        }
    };

    let mut inputs = Vec::with_capacity(cfg.inputs.len());
    let mut exit = Exit::Ok;
    let mut progress = Progress::new(cfg.progress);
    let mut filter_warned = false;
    let mut warnings = Warnings::new(io::stderr());
    let interrupt = Interrupt::install().unwrap_or_else(|e| {
        complain(
            "warning",
            &format!("cannot catch SIGINT and SIGTERM ({e}); they will end flowtag without a report"),
        );
        Interrupt::none()
    });
    let mut stopped: Option<Signal> = None;
    let outcome = std::thread::scope(|scope| {
        let mut engine = Engine::new(scope, table, cfg.flow, cfg.threads);
        for path in &cfg.inputs {
            let name = path.display().to_string();
            let mut input = InputReport::new(name.clone(), None, Vec::new());
            if let Some(sig) = stopped {
                input.status = InputStatus::Interrupted;
                input.message = Some(format!("not read: interrupted by {}", sig.name()));
                inputs.push(input);
                continue;
            }
            let mut reader = match CaptureReader::open(path) {
                Ok(r) => r,
                Err(e) => {
                    complain(&name, &e);
                    input.status = InputStatus::Error;
                    input.message = Some(e.to_string());
                    inputs.push(input);
                    exit = exit.max(Exit::InputUnreadable);
                    continue;
                }
            };
            input.format = Some(reader.format());
            let (mut first, mut last) = (u64::MAX, 0u64);
            let mut counted_here = false;
            loop {
                if let Some(sig) = interrupt.signal() {
                    progress.clear();
                    let msg = format!("interrupted by {} after {} packets", sig.name(), input.packets);
                    complain(&name, &msg);
                    input.status = InputStatus::Interrupted;
                    input.message = Some(msg);
                    stopped = Some(sig);
                    break;
                }
                let frame = match reader.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        progress.clear();
                        complain(&name, &e);
                        input.status = InputStatus::Truncated;
                        input.message = Some(e.to_string());
                        exit = exit.max(Exit::InputDamaged);
                        break;
                    }
                };
                input.packets += 1;
                input.bytes += u64::from(frame.wire_len);
                first = first.min(frame.ts.0);
                last = last.max(frame.ts.0);
                let pass = match filter.as_mut().map(|f| f.matches(&frame)) {
                    None | Some(Ok(true)) => true,
                    Some(Ok(false)) => false,
                    Some(Err(e)) => {
                        if !filter_warned {
                            complain("warning", &format!("{e}; packets of that link type are left out"));
                            filter_warned = true;
                        }
                        false
                    }
                };
                if pass {
                    if !std::mem::replace(&mut counted_here, true) {
                        new_timeline_if_earlier(&mut engine, &frame, cfg, &name, &mut on_end);
                    }
                    let tags = engine.push(&frame, &mut on_end);
                    if tags.0 & WARNED_BITS != 0 {
                        for (bit, kind) in WARNED {
                            if tags.contains(bit) {
                                let (n, ts, caplen, len) =
                                    (input.packets, frame.ts, frame.data.len(), frame.wire_len);
                                warnings.warn(kind, || record_warning(kind, &name, n, ts, caplen, len));
                            }
                        }
                    }
                } else {
                    engine.filtered_out();
                }
                if input.packets.trailing_zeros() >= 16 {
                    progress.tick(&name, reader.offset(), reader.total_len(), input.packets);
                }
            }
            progress.clear();
            input.link_types = reader.link_types().iter().map(|l| l.0).collect();
            if input.packets > 0 {
                input.first_ts = Some(crate::capture::Timestamp(first).as_secs_f64());
                input.last_ts = Some(crate::capture::Timestamp(last).as_secs_f64());
            }
            inputs.push(input);
        }
        // A signal while the last read was blocked (`slow | flowtag read -` and Ctrl-C, which
        // also ends the writer) shows up only as that input's end: the run was still
        // interrupted.
        if let (None, Some(sig), Some(last)) = (stopped, interrupt.signal(), inputs.last_mut()) {
            let msg = format!("interrupted by {} after {} packets", sig.name(), last.packets);
            complain(&last.path, &msg);
            if last.status == InputStatus::Ok {
                last.status = InputStatus::Interrupted;
                last.message = Some(msg);
            }
            stopped = Some(sig);
        }
        engine.finish(&mut on_end)
    });
    warnings.finish();

    let mut report = Report::build(
        &outcome.stats,
        &outcome.flows,
        table,
        inputs,
        outcome.first_ts.map(crate::capture::Timestamp::as_secs_f64),
        outcome.last_ts.map(crate::capture::Timestamp::as_secs_f64),
    );
    report.interrupted = stopped.map(Signal::name);
    debug_assert!(report.conserved(), "the books do not balance: {:?}", report.totals);
    warn_about(&report, cfg.flow.max_flows);
    let mut code = stopped.map_or(exit, Exit::of_signal);
    if let Some(w) = flow_writer {
        let result = match flow_error {
            Some(e) => Err(e),
            None => w.finish().map(drop),
        };
        if let (Err(e), Some((path, _))) = (result, &cfg.flows) {
            complain(&format!("error writing {}", path.display()), &e);
            code = Exit::OutputFailed;
        }
    }
    let name = report_out.name();
    let top = TableOptions { top_unknown: cfg.top_unknown };
    let result = report_out.write(|mut w| match cfg.format {
        Format::Table => crate::output::table::write(&mut w, &report, top),
        Format::Json => crate::output::json::write(&mut w, &report),
        Format::Csv => crate::output::csv::write(&mut w, &report),
    });
    finish_output(result, &name, code)
}
