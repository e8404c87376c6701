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
//! `flowtag live` has its own module, `live`: the capture loop, the refresh timer, signals
//! and the view; `http` serves its Prometheus metrics; `timeline` keeps its packet times
//! free of steps of the system clock.
//!
//! What I must not do: count or classify (the pipeline does), or panic.

mod http;
mod live;
mod outputs;
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
use outputs::ReportOut;
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
    Sighup = 129,
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
            Signal::Hup => Exit::Sighup,
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
    // File names, interface names and OS messages quoting them may hold controls: one line,
    // never a terminal escape.
    let line = format!("{what}: {msg}");
    // If stderr itself is gone there is nobody left to tell; a stopped terminal gets a while.
    crate::blocking::to_stderr(format!("flowtag: {}\n", crate::output::escape::visible(&line)).as_bytes());
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
        let line = crate::output::escape::visible(&line);
        crate::blocking::to_stderr(format!("\r\x1b[K{line}").as_bytes());
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            crate::blocking::to_stderr(b"\r\x1b[K");
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

/// Marks `input` as stopped by `sig`, says so on stderr, and hands `sig` back for the run.
fn mark_interrupted(input: &mut InputReport, sig: Signal) -> Signal {
    let msg = format!("interrupted by {} after {} packets", sig.name(), input.packets);
    complain(&input.path, &msg);
    input.status = InputStatus::Interrupted;
    input.message = Some(msg);
    sig
}

/// Records of zero captured bytes in a row. One now and then is a capture quirk; a long run of
/// them is a file whose tail was zero-filled (a crash mid-write, a preallocated file), which
/// reads as valid records of length 0 at time 0 and would otherwise pass as "complete".
#[derive(Default)]
struct ZeroRun {
    run: u64,
    told: bool,
}

impl ZeroRun {
    /// So many zero-length records in a row say the file is corrupt from there on.
    const CORRUPT: u64 = 1000;

    fn saw(&mut self, warnings: &mut Warnings<crate::blocking::Stderr>, name: &str, packet: u64) {
        self.run += 1;
        warnings.warn("zero_length_record", || {
            format!("{name}: packet {packet}: zero-length record (captured length 0)")
        });
        if self.run == Self::CORRUPT && !self.told {
            self.told = true;
            complain(
                "warning",
                &format!(
                    "{name}: {} zero-length records in a row up to packet {packet}: \
                     the file looks corrupt from there on (zero-filled?); its packets are counted as read",
                    Self::CORRUPT
                ),
            );
        }
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
    // Signals are caught before any output or input is opened: opening a FIFO waits for its
    // other end, and a signal must end that wait too.
    let interrupt = Interrupt::install().unwrap_or_else(|e| {
        complain(
            "warning",
            &format!("cannot catch SIGINT, SIGTERM and SIGHUP ({e}); they will end flowtag without a report"),
        );
        Interrupt::none()
    });
    // No output may be an input, nor share a file with another output.
    let mut named = Vec::new();
    if let Some(path) = &cfg.output {
        named.push(outputs::Named { option: "-o", path });
    }
    if let Some((path, _)) = &cfg.flows {
        named.push(outputs::Named { option: "--flows", path });
    }
    let mut ins: Vec<&Path> = cfg.inputs.iter().map(PathBuf::as_path).collect();
    ins.extend(cfg.table.as_deref());
    if let Err(msg) = outputs::refuse_clashes(&ins, &named) {
        complain("error", &msg);
        return Exit::Usage;
    }
    // Outputs are opened before any input is read: an unusable path fails at once.
    let report_out = match ReportOut::open(cfg.output.as_deref(), &interrupt) {
        Ok(o) => o,
        Err(e) => {
            complain(
                &cfg.output.as_deref().unwrap_or(Path::new("-")).display().to_string(),
                &format!("cannot write: {e}"),
            );
            return interrupt.signal().map_or(Exit::OutputFailed, Exit::of_signal);
        }
    };
    let mut flow_writer = match &cfg.flows {
        None => None,
        Some((path, format)) => {
            match outputs::open_flows(path, &interrupt).and_then(|w| FlowWriter::new(w, *format, table)) {
                Ok(w) => Some(w),
                Err(e) => {
                    complain(&path.display().to_string(), &format!("cannot write the flow file: {e}"));
                    return interrupt.signal().map_or(Exit::OutputFailed, Exit::of_signal);
                }
            }
        }
    };
    let mut flow_error: Option<io::Error> = None;
    // Records that ended after the flow file failed: said in the report, never lost silently.
    let mut flows_unwritten = 0u64;
    let mut on_end = |rec: &crate::flow::FlowRecord| {
        if let Some(w) = flow_writer.as_mut() {
            if flow_error.is_some() {
                flows_unwritten += 1;
            } else if let Err(e) = w.write(rec) {
                flow_error = Some(e);
                flows_unwritten += 1;
            }
        }
    };

    let mut inputs = Vec::with_capacity(cfg.inputs.len());
    let mut exit = Exit::Ok;
    let mut progress = Progress::new(cfg.progress);
    let mut warnings = Warnings::new(crate::blocking::Stderr);
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
            let mut reader = match CaptureReader::open_until(path, &interrupt) {
                Ok(r) => r,
                // A FIFO nobody wrote to, or a pipe that sent no header: the signal ended the
                // wait for it.
                Err(_) if let Some(sig) = interrupt.signal() => {
                    stopped = Some(mark_interrupted(&mut input, sig));
                    inputs.push(input);
                    continue;
                }
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
            let mut zeros = ZeroRun::default();
            engine.begin_input(&mut reader);
            loop {
                // Every 64 frames (a signal waits at most that many; polled every frame, the
                // load and test were 6 instructions a packet).
                if input.packets.is_multiple_of(64)
                    && let Some(sig) = interrupt.signal()
                {
                    progress.clear();
                    stopped = Some(mark_interrupted(&mut input, sig));
                    break;
                }
                let frame = match reader.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    // A read that a signal ended (a quiet pipe) is no damage.
                    Err(_) if let Some(sig) = interrupt.signal() => {
                        progress.clear();
                        stopped = Some(mark_interrupted(&mut input, sig));
                        break;
                    }
                    Err(e) => {
                        progress.clear();
                        complain(&name, &e);
                        input.status = InputStatus::Truncated;
                        input.message = Some(e.to_string());
                        exit = exit.max(Exit::InputDamaged);
                        break;
                    }
                };
                if frame.data.is_empty() {
                    zeros.saw(&mut warnings, &name, input.packets + 1);
                } else {
                    zeros.run = 0;
                }
                input.packets += 1;
                input.bytes += u64::from(frame.wire_len);
                first = first.min(frame.ts.0);
                last = last.max(frame.ts.0);
                let pass = match filter.as_mut().map(|f| f.matches(&frame)) {
                    None | Some(Ok(true)) => true,
                    Some(Ok(false)) => false,
                    Some(Err(e)) => {
                        // A usage error found late (the first frame of a link type the
                        // expression cannot have): this input ends here, counted up to this
                        // frame, which is left out; the other inputs are still read.
                        progress.clear();
                        complain(&name, &format_args!("--filter {e}"));
                        input.status = InputStatus::Truncated;
                        input.message = Some(format!("stopped at packet {}: --filter {e}", input.packets));
                        exit = exit.max(Exit::Usage);
                        engine.filtered_out();
                        break;
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
                engine.after_read(&mut reader, &mut on_end);
                if input.packets.trailing_zeros() >= 16 {
                    progress.tick(&name, reader.offset(), reader.total_len(), input.packets);
                }
            }
            engine.end_input(&mut reader, &mut on_end);
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
            if last.status == InputStatus::Ok {
                stopped = Some(mark_interrupted(last, sig));
            } else {
                complain(
                    &last.path,
                    &format!("interrupted by {} after {} packets", sig.name(), last.packets),
                );
                stopped = Some(sig);
            }
        }
        engine.finish(&mut on_end)
    });
    warnings.finish();
    // A signal during the final flush of a large flow table: every input was read, but the
    // run was asked to stop before its report was written, and says so.
    if stopped.is_none()
        && let Some(sig) = interrupt.signal()
    {
        complain(
            "warning",
            &format!(
                "{} came while the flows were being ended; the report is written as it stands",
                sig.name()
            ),
        );
        stopped = Some(sig);
    }

    let mut report = Report::build(
        &outcome.stats,
        &outcome.flows,
        table,
        inputs,
        outcome.first_ts.map(crate::capture::Timestamp::as_secs_f64),
        outcome.last_ts.map(crate::capture::Timestamp::as_secs_f64),
    );
    report.interrupted = stopped.map(Signal::name);
    report.complete &= stopped.is_none();
    debug_assert!(report.conserved(), "the books do not balance: {:?}", report.totals);
    warn_about(&report, cfg.flow.max_flows);
    let mut code = stopped.map_or(exit, Exit::of_signal);
    if let Some(w) = flow_writer {
        let result = match flow_error {
            Some(e) => Err(e),
            None => w.finish().map(drop),
        };
        if let (Err(e), Some((path, _))) = (result, &cfg.flows) {
            let path = path.display().to_string();
            complain(&format!("error writing {path}"), &e);
            if flows_unwritten > 0 {
                complain(&path, &format!("{flows_unwritten} flow records were not written"));
            }
            report.flows_undelivered =
                Some(crate::report::Undelivered { path, records: flows_unwritten, error: e.to_string() });
            code = Exit::OutputFailed;
        }
    }
    let name = report_out.name();
    let top = TableOptions { top_unknown: cfg.top_unknown };
    let result = report_out.write(&interrupt, |mut w| match cfg.format {
        Format::Table => crate::output::table::write(&mut w, &report, top),
        Format::Json => crate::output::json::write(&mut w, &report),
        Format::Csv => crate::output::csv::write(&mut w, &report),
    });
    finish_output(result, &name, code)
}
