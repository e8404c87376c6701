//! `flowtag live`: the capture loop, the refresh timer, signals, the view and the outputs.
//!
//! One thread does the work. The libpcap handle is nonblocking and is polled with a timeout
//! that never passes the next refresh (nor [`MAX_WAIT`]), so refreshes, `--duration` and
//! signals never wait for packets to arrive (CATALOGUE.md §1 finding 6). SIGINT, SIGTERM and
//! SIGHUP only set a flag ([`Interrupt`]; a second one ends the process at once, for a run
//! that cannot stop); the loop sees it within [`MAX_WAIT`], drains what the kernel already
//! captured, and ends like `--count` and `--duration` do: the final summary, the `--flows` file
//! complete, exit 0. Lines and the summary go to stdout through [`crate::blocking`]: when
//! the reader of a pipe stalls, a signal still ends the run, and what stdout did not take is
//! an error (exit 5). The Prometheus responder runs on threads of its own ([`super::http`]).
//!
//! Packets go through the same [`Pipeline`] as `flowtag read`, and every output is rendered
//! from the same [`Report`]. Idle flows expire on packet time, kept free of steps of the
//! system clock ([`super::timeline`]): the loop looks at the clocks after every wait and at
//! every refresh, and each packet enters the pipeline at its step-free time. When the
//! kernel's buffer is empty at a refresh, the flow clock is also moved to the step-free
//! present less [`BACKSTOP_LAG_NS`], so flows still expire on a quiet link. Flow records and
//! the report's first and last packet times show the packets' own stamps, as tcpdump does.
//! Per-interval state is one [`IntervalBase`], refilled every refresh, so memory stays flat
//! however long the run.

use super::http::Metrics;
use super::timeline::{Look, StepFreeClock};
use super::{Exit, complain, load_table, warn_about};
use crate::blocking::Sink;
use crate::capture::live::{LiveCapture, LiveError, READ_TIMEOUT_MS, ReadFault};
use crate::capture::{Filter, RecordFlags, Timestamp};
use crate::cli::Format;
use crate::config::LiveConfig;
use crate::flow::FlowRecord;
use crate::interrupt::Interrupt;
use crate::output::flows::FlowWriter;
use crate::output::live::ViewContext;
use crate::output::table::TableOptions;
use crate::pipeline::Pipeline;
use crate::report::{
    CaptureReport, InputReport, InputStatus, IntervalBase, IntervalEnd, IntervalReport, Report,
};
use crate::services::ServiceTable;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest single wait for packets: how late a signal can be seen.
const MAX_WAIT: Duration = Duration::from_millis(200);
/// How far behind the (step-free) present the flow clock is moved on a quiet link: packets
/// still in flight through the kernel carry earlier times, and must not look like time going
/// backwards.
const BACKSTOP_LAG_NS: u64 = Timestamp::NANOS_PER_SEC;
/// Steps of the system clock told on stderr; a clock that keeps stepping is not a log.
const STEP_NOTES: u64 = 10;
/// Longest time spent taking in what the kernel already holds once a stop was asked for.
const STOP_DRAIN: Duration = Duration::from_millis(600);
/// The input format named in reports.
const LIVE_FORMAT: &str = "live";

/// What each refresh writes to stdout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stream {
    /// The redrawn view (a terminal that understands cursor movement).
    View,
    /// One plain line per interval (a dumb terminal, or a table report going to a file).
    Plain,
    /// One JSON document per line.
    JsonLines,
    /// Nothing until the summary (CSV going to a file: mixing formats would spoil it).
    Quiet,
}

impl Stream {
    fn choose(format: Format, terminal: bool, dumb: bool) -> Self {
        match format {
            Format::Json => Stream::JsonLines,
            _ if terminal && !dumb => Stream::View,
            Format::Table => Stream::Plain,
            Format::Csv => Stream::Quiet,
        }
    }
}

/// Whether the terminal cannot take cursor movement (CATALOGUE #87).
fn dumb_terminal() -> bool {
    std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb")
}

/// The wall clock, for what reports as the time of day of a refresh (interval ends).
fn wall_now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_parts(d.as_secs(), u64::from(d.subsec_nanos()))
}

/// The real-time clock (through libc, as the wall clock) and CLOCK_BOOTTIME, read together.
fn look() -> Look {
    let realtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let boot = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let steady = boot.tv_sec.saturating_mul(1_000_000_000).saturating_add(boot.tv_nsec);
    Look { realtime, steady }
}

/// The terminal's size, or 80×24 when it cannot be asked.
fn screen_size() -> (usize, usize) {
    match rustix::termios::tcgetwinsize(io::stdout()) {
        Ok(w) if w.ws_col > 0 && w.ws_row > 0 => (usize::from(w.ws_col), usize::from(w.ws_row)),
        _ => (80, 24),
    }
}

/// The alternate screen the view is drawn on; left (and the cursor shown again) when dropped,
/// whatever path the run takes out. Drawn through [`crate::blocking`], like every other
/// output: a terminal stopped with Ctrl-S (XOFF) or a stalled ssh session blocks the writes,
/// and a signal must still end the run.
struct Screen {
    on: bool,
    out: std::cell::RefCell<Sink>,
}

impl Screen {
    /// Enter the alternate screen and hide the cursor.
    const ENTER: &'static str = "\x1b[?1049h\x1b[?25l";
    const LEAVE: &'static str = "\x1b[?25h\x1b[?1049l";
    /// Cursor to the top left.
    const HOME: &'static str = "\x1b[H";
    /// Clear to the end of the line; of the screen.
    const CLEAR_LINE: &'static str = "\x1b[K";
    const CLEAR_BELOW: &'static str = "\x1b[J";

    fn enter(stop: &Interrupt) -> io::Result<Self> {
        let mut out = Sink::stdout(stop)?;
        out.write_all(Self::ENTER.as_bytes())?;
        out.flush()?;
        Ok(Self { on: true, out: std::cell::RefCell::new(out) })
    }

    /// Draws the lines over the previous frame: each line is rewritten in place and its rest
    /// cleared, so nothing flickers; one write per frame.
    fn draw(&self, lines: &[String]) -> io::Result<()> {
        if !self.on {
            return Ok(());
        }
        let mut frame = String::with_capacity(lines.iter().map(|l| l.len() + 4).sum::<usize>() + 16);
        frame.push_str(Self::HOME);
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                frame.push_str("\r\n");
            }
            frame.push_str(l);
            frame.push_str(Self::CLEAR_LINE);
        }
        frame.push_str(Self::CLEAR_BELOW);
        let mut out = self.out.borrow_mut();
        out.write_all(frame.as_bytes())?;
        out.flush()
    }

    fn leave(&mut self) {
        if self.on {
            self.on = false;
            let out = self.out.get_mut();
            let _ = out.write_all(Self::LEAVE.as_bytes());
            let _ = out.flush();
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Why the loop ended.
enum End {
    /// Asked to (signal, `--duration`, `--count`), or stdout was closed.
    Stopped,
    /// The capture failed or the interface went away.
    Failed(LiveError),
}

/// The flows file and its first error.
struct FlowSink<'t> {
    writer: Option<FlowWriter<'t, BufWriter<Sink>>>,
    error: Option<io::Error>,
}

impl FlowSink<'_> {
    /// Writes a record whose times are on `timeline`'s step-free timeline, with the packets'
    /// own stamps instead.
    fn write(&mut self, rec: &FlowRecord, timeline: &StepFreeClock) {
        if let (Some(w), None) = (self.writer.as_mut(), self.error.as_ref()) {
            let mut shown = *rec;
            shown.start = timeline.stamp_of(rec.start);
            shown.end = timeline.stamp_of(rec.end);
            if let Err(e) = w.write(&shown) {
                self.error = Some(e);
            }
        }
    }

    /// Pushes what is buffered to the file, so it is current during a long run.
    fn flush(&mut self) {
        if let (Some(w), None) = (self.writer.as_mut(), self.error.as_ref())
            && let Err(e) = w.flush()
        {
            self.error = Some(e);
        }
    }
}

/// Everything a refresh reads.
struct Run<'a, 't> {
    cfg: &'a LiveConfig,
    table: &'t ServiceTable,
    pipeline: Pipeline<'t>,
    input: InputReport,
    started: Instant,
    base: IntervalBase,
    base_at: Instant,
    /// Packet time without the system clock's steps; the pipeline runs on it.
    timeline: StepFreeClock,
    /// The earliest and latest of the packets' own stamps (the pipeline's are step-free).
    stamps: Option<(Timestamp, Timestamp)>,
    /// Steps told on stderr so far, and the offset then.
    noted: (u64, i64),
}

impl Run<'_, '_> {
    /// Reads the clocks: a step of the system clock since the last look moves the timeline.
    fn look(&mut self) {
        self.timeline.observe(look());
        self.note_steps();
    }

    /// Tells stderr about steps of the system clock not told yet (the first [`STEP_NOTES`]):
    /// records written after one show times on its far side. Several steps between two calls
    /// are told as one, by their sum.
    fn note_steps(&mut self) {
        let (steps, offset) = (self.timeline.steps(), self.timeline.offset());
        if steps == self.noted.0 {
            return;
        }
        if self.noted.0 < STEP_NOTES {
            let by = offset.saturating_sub(self.noted.1);
            #[expect(clippy::cast_precision_loss, reason = "a step in seconds, for a person")]
            let secs = by.unsigned_abs() as f64 / 1e9;
            let way = if by < 0 { "back" } else { "forward" };
            let more = if steps >= STEP_NOTES { "; further steps are not reported" } else { "" };
            complain(
                "note",
                &format!(
                    "{}: the system clock stepped {way} {secs:.3} s; flows keep ageing on packet \
                     time without the step, flow records show the packets' own times{more}",
                    self.cfg.capture.interface
                ),
            );
        }
        self.noted = (steps, offset);
    }

    /// The running report as of now, with the capture statistics.
    fn report(&mut self, capture: CaptureReport, finished: bool) -> Report {
        let p = &self.pipeline;
        let first = self.stamps.map(|(first, _)| first.as_secs_f64());
        let last = self.stamps.map(|(_, last)| last.as_secs_f64());
        self.input.first_ts = first;
        self.input.last_ts = last;
        let mut counters = p.flows.counters;
        if !finished {
            // Mid-run, "at the end" means "open now", so the flow books balance in every line.
            counters.at_end = p.flows.active() as u64;
        }
        let mut r = Report::build(&p.stats, &counters, self.table, vec![self.input.clone()], first, last);
        r.capture = Some(capture);
        r
    }
}

/// Runs `flowtag live`.
#[expect(clippy::too_many_lines, reason = "the live command's steps in order")]
pub(super) fn run(cfg: &LiveConfig) -> Exit {
    let iface = cfg.capture.interface.as_str();
    let holder = match load_table(cfg.table.as_deref()) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let table = holder.get();
    // A typo in the expression is a usage error whatever the privileges: check it first.
    if let Some(expr) = &cfg.capture.filter
        && let Err(e) = Filter::new(expr)
    {
        complain("--filter", &e);
        return Exit::Usage;
    }
    // Before any output is opened: a FIFO's open waits for its reader, and a signal must end it.
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => {
            complain("signals", &format!("cannot install handlers: {e}"));
            return Exit::InputUnreadable;
        }
    };
    if let Some((path, _)) = &cfg.flows {
        let table_path: Vec<&std::path::Path> = cfg.table.as_deref().into_iter().collect();
        if let Err(msg) =
            super::outputs::refuse_clashes(&table_path, &[super::outputs::Named { option: "--flows", path }])
        {
            complain("error", &msg);
            return Exit::Usage;
        }
    }
    let mut flows = FlowSink { writer: None, error: None };
    if let Some((path, format)) = &cfg.flows {
        match super::outputs::open_flows(path, &interrupt).and_then(|w| FlowWriter::new(w, *format, table)) {
            Ok(w) => flows.writer = Some(w),
            Err(e) => {
                complain(&path.display().to_string(), &format!("cannot write the flow file: {e}"));
                return Exit::OutputFailed;
            }
        }
    }
    let metrics = match cfg.prometheus.map(Metrics::serve).transpose() {
        Ok(m) => m,
        Err(e) => {
            let addr = cfg.prometheus.map(|a| a.to_string()).unwrap_or_default();
            complain(&format!("--prometheus {addr}"), &format!("cannot listen: {e}"));
            return Exit::InputUnreadable;
        }
    };
    let (mut cap, warnings) = match LiveCapture::open(&cfg.capture) {
        Ok(c) => c,
        Err(e) => {
            complain(iface, &e);
            return if e.is_usage() { Exit::Usage } else { Exit::InputUnreadable };
        }
    };
    for w in &warnings {
        complain("warning", &format!("{iface}: {w}"));
    }
    let linktype = cap.linktype();
    let terminal = io::stdout().is_terminal();
    let format = cfg.format.unwrap_or(if terminal { Format::Table } else { Format::Json });
    let stream = Stream::choose(format, terminal, dumb_terminal());

    let started = Instant::now();
    let mut run = Run {
        cfg,
        table,
        pipeline: Pipeline::new(table, cfg.flow),
        input: InputReport::new(iface.to_owned(), Some(LIVE_FORMAT), vec![linktype.0]),
        started,
        base: IntervalBase::new(wall_now().as_secs_f64()),
        base_at: started,
        timeline: StepFreeClock::new(look()),
        stamps: None,
        noted: (0, 0),
    };
    let mut screen = None;
    // Stdout closed under the view: a stop like a signal.
    let mut closed = false;
    let mut out = match Sink::stdout(&interrupt) {
        Ok(o) => o,
        Err(e) => {
            complain("stdout", &e);
            return Exit::OutputFailed;
        }
    };
    if stream == Stream::View {
        match Screen::enter(&interrupt) {
            Ok(s) => screen = Some(s),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => closed = true,
            Err(e) => {
                complain("error writing stdout", &e);
                return Exit::OutputFailed;
            }
        }
    }
    if let Some(m) = &metrics {
        let capture = CaptureReport::from(cap.stats());
        let r = run.report(capture, false);
        m.publish(render_metrics(&r, 0));
    }

    let mut out_error: Option<io::Error> = None;
    let mut next_tick = started + cfg.interval;
    let deadline = cfg.duration.map(|d| started + d);
    // Whether the last wait found nothing: the kernel holds no packets, so any packet still to
    // come is younger than the wall clock's backstop.
    let mut idle = true;
    let mut down: Option<String> = None;
    let end = loop {
        if closed || out_error.is_some() || interrupt.signal().is_some() {
            break End::Stopped;
        }
        if cfg.count.is_some_and(|c| run.input.packets >= c) {
            break End::Stopped;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break End::Stopped;
        }
        if now >= next_tick {
            run.look();
            if idle {
                let ts = Timestamp(run.timeline.present().0.saturating_sub(BACKSTOP_LAG_NS));
                run.pipeline.advance_clock(ts, &mut |r| flows.write(r, &run.timeline));
            }
            let capture = CaptureReport::from(cap.stats());
            let (report, iv) = refresh(&mut run, capture);
            if let Some(m) = &metrics {
                m.publish(render_metrics(&report, iv.flows_live));
            }
            let frame = Frame { stream, screen: screen.as_ref(), linktype, notice: down.as_deref() };
            if let Err(e) = emit(&run, &frame, &mut out, report, iv) {
                out_error = Some(e);
            }
            flows.flush();
            next_tick += cfg.interval;
            if next_tick <= now {
                next_tick = now + cfg.interval;
            }
            continue;
        }
        let mut wait = (next_tick - now).min(MAX_WAIT);
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        if down.is_some() {
            // The descriptor may keep reporting the error: look again at the next refresh.
            std::thread::sleep(wait);
        }
        let ready = cap.wait(wait);
        // After every wait (at least every MAX_WAIT), so that the two clocks are compared
        // often and the present stays current for the packets read next.
        run.look();
        match ready {
            Ok(true) => {}
            Ok(false) => {
                idle = true;
                continue;
            }
            Err(e) => break End::Failed(e),
        }
        let limit =
            cfg.count.map_or(usize::MAX, |c| usize::try_from(c - run.input.packets).unwrap_or(usize::MAX));
        let batch = read_batch(&mut cap, &mut run, &mut flows, limit);
        run.note_steps();
        match batch {
            Ok(0) => {}
            Ok(_) => {
                idle = false;
                if down.take().is_some() {
                    complain("note", &format!("{iface}: packets are arriving again"));
                }
            }
            Err(ReadFault::Down(text)) => {
                let note = format!("the interface went down ({text}); still capturing");
                if down.is_none() {
                    complain("warning", &format!("{iface}: {note}"));
                }
                down = Some(note);
            }
            Err(ReadFault::Fatal(e)) => break End::Failed(e),
        }
    };

    // Take in what the kernel already captured, so received = counted + dropped. The kernel
    // hands over its last, partly filled block within the read timeout: wait that long for
    // more, and no longer than STOP_DRAIN in all (the link may be busy).
    if matches!(end, End::Stopped) && cfg.count.is_none_or(|c| run.input.packets < c) {
        let until = Instant::now() + STOP_DRAIN;
        let quiet = Duration::from_millis(u64::from(READ_TIMEOUT_MS.unsigned_abs()) + 50);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if !cap.wait(quiet.min(left)).unwrap_or(false) {
                break;
            }
            run.look();
            let limit = cfg.count.map_or(usize::MAX, |c| usize::try_from(c - run.input.packets).unwrap_or(0));
            let batch = read_batch(&mut cap, &mut run, &mut flows, limit);
            run.note_steps();
            if batch.is_err() {
                break;
            }
        }
    }
    let capture = CaptureReport::from(cap.stats());
    run.pipeline.finish(&mut |r| flows.write(r, &run.timeline));
    let mut code = Exit::Ok;
    if let End::Failed(e) = &end {
        run.input.status = InputStatus::Truncated;
        run.input.message = Some(e.to_string());
        code = Exit::InputDamaged;
    }
    let report = run.report(capture, true);
    debug_assert!(report.conserved(), "the books do not balance: {:?}", report.totals);
    if let Some(m) = &metrics {
        m.publish(render_metrics(&report, 0));
    }
    if let Some(s) = screen.as_mut() {
        s.leave();
    }
    if let End::Failed(e) = &end {
        complain(iface, &e);
    }
    warn_about(&report, cfg.flow.max_flows);
    if let Some(w) = crate::output::live::drop_warning(&report) {
        complain("warning", &format!("{iface}: {}", w.trim_start_matches("WARNING: ")));
    }
    if let Some(w) = flows.writer.take() {
        let result = match flows.error.take() {
            Some(e) => Err(e),
            None => w.finish().map(drop),
        };
        if let (Err(e), Some((path, _))) = (result, &cfg.flows) {
            complain(&format!("error writing {}", path.display()), &e);
            code = code.max(Exit::OutputFailed);
        }
    }
    let result = if let Some(e) = out_error {
        Err(e)
    } else {
        let mut w = BufWriter::new(&mut out);
        let top = TableOptions { top_unknown: cfg.top_unknown };
        match format {
            Format::Table => crate::output::table::write(&mut w, &report, top),
            // One line, so the whole stream stays one JSON document per line.
            Format::Json => {
                serde_json::to_writer(&mut w, &report).map_err(io::Error::from).and_then(|()| writeln!(w))
            }
            Format::Csv => crate::output::csv::write(&mut w, &report),
        }
        .and_then(|()| w.flush())
    };
    super::finish_output(result, "stdout", code)
}

/// Reads one batch of ready packets into the pipeline, each at its step-free time.
fn read_batch(
    cap: &mut LiveCapture,
    run: &mut Run<'_, '_>,
    flows: &mut FlowSink<'_>,
    limit: usize,
) -> Result<usize, ReadFault> {
    let Run { pipeline, input, timeline, stamps, .. } = run;
    cap.dispatch(limit, |frame| {
        input.packets += 1;
        input.bytes += u64::from(frame.wire_len);
        let own = frame.ts;
        *stamps = Some(stamps.map_or((own, own), |(first, last)| (first.min(own), last.max(own))));
        // A stamp flagged out of range never moves the flow clock (`Clock::tag`): leave it be.
        let ts =
            if frame.flags.contains(RecordFlags::BAD_TIMESTAMP) { own } else { timeline.place(own, look) };
        let frame = crate::capture::Frame { ts, ..*frame };
        pipeline.push(&frame, &mut |r| flows.write(r, timeline));
    })
}

fn render_metrics(r: &Report, flows_live: u64) -> String {
    let mut buf = Vec::with_capacity(16 * 1024);
    // Writing to a Vec cannot fail.
    let _ = crate::output::prometheus::write(&mut buf, r, flows_live);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Ends an interval: the running report and the interval's figures; starts the next one.
fn refresh(run: &mut Run<'_, '_>, capture: CaptureReport) -> (Report, IntervalReport) {
    let now = Instant::now();
    let wall = wall_now().as_secs_f64();
    let iv = IntervalReport::build(
        &run.base,
        &run.pipeline.stats,
        &run.pipeline.flows.counters,
        run.table,
        IntervalEnd {
            end: wall,
            seconds: now.duration_since(run.base_at).as_secs_f64(),
            flows_live: run.pipeline.flows.active() as u64,
            capture,
            top_unknown: run.cfg.top_unknown,
        },
    );
    let report = run.report(capture, false);
    run.base.reset(&run.pipeline.stats, &run.pipeline.flows.counters, capture, wall);
    run.base_at = now;
    (report, iv)
}

/// What [`emit`] draws besides the report.
struct Frame<'a> {
    stream: Stream,
    screen: Option<&'a Screen>,
    linktype: crate::capture::Linktype,
    notice: Option<&'a str>,
}

/// Writes one interval to stdout, as the stream wants it.
fn emit(
    run: &Run<'_, '_>,
    f: &Frame<'_>,
    out: &mut Sink,
    mut report: Report,
    iv: IntervalReport,
) -> io::Result<()> {
    let cfg = run.cfg;
    let (width, height) = if f.stream == Stream::View { screen_size() } else { (usize::MAX, usize::MAX) };
    let cx = ViewContext {
        interface: &cfg.capture.interface,
        linktype: f.linktype,
        running: run.started.elapsed().as_secs_f64(),
        refresh: cfg.interval.as_secs_f64(),
        width,
        height,
        top_unknown: cfg.top_unknown,
        notice: f.notice,
    };
    match f.stream {
        Stream::View => match f.screen {
            Some(s) => s.draw(&crate::output::live::view(&report, &iv, &cx)),
            None => Ok(()),
        },
        // One write a line where the sink allows: a reader sees whole lines.
        Stream::Plain => {
            let mut w = BufWriter::new(out);
            writeln!(w, "{}", crate::output::live::status_line(&report, &iv, &cx))?;
            w.flush()
        }
        Stream::JsonLines => {
            report.cut_unknown(cfg.top_unknown);
            report.interval = Some(iv);
            let mut w = BufWriter::with_capacity(1 << 16, out);
            serde_json::to_writer(&mut w, &report).map_err(io::Error::from)?;
            writeln!(w)?;
            w.flush()
        }
        Stream::Quiet => Ok(()),
    }
}
