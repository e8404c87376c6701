//! Blocking: inputs and outputs that can wait forever (pipes, FIFOs, terminals, devices),
//! waited on so that a signal still ends the run with its report.
//!
//! What I own: opening, reading and writing such files through `poll` with a short timeout,
//! looking at the [`Interrupt`] flag between waits. A regular file never waits, so it is read
//! and written directly, at no cost. The signal handlers restart system calls, so without this a
//! read from a quiet pipe, the `open` of a FIFO nobody writes to, or a write to a pipe whose
//! reader stalled would never return to the loop that looks at the flag (`timeout`, systemd and
//! Ctrl-C would get no report, and `timeout -k` would kill flowtag with nothing written).
//!
//! - Reading: each `read` first waits for the descriptor to be readable; once a signal has
//!   arrived, the wait ends with [`Stopped`] instead.
//! - Opening a FIFO: for reading, opened non-blocking (which never waits) and then waited on
//!   like any read; for writing, opened non-blocking again every [`TICK`] until a reader comes.
//! - Writing: each write waits for room; a write to a descriptor flowtag did not open (stdout)
//!   is cut to `PIPE_BUF` bytes, which a pipe with room takes without blocking. A terminal is
//!   written from a thread of its own ([`TerminalWriter`]): `poll` cannot tell that one was
//!   stopped with Ctrl-S. Once a signal
//!   has arrived, an output gets [`GRACE`] in all to take the rest, however slowly its reader
//!   goes (the report is worth waiting a moment for, not for ever), then the write fails with
//!   [`Stopped`].
//!
//! What I must not do: decide what a stop means (the caller does), print, or spin: every wait
//! sleeps in `poll`.

use crate::interrupt::Interrupt;
use rustix::event::{PollFd, PollFlags, Timespec};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest single wait: how late a signal is seen while I/O is blocked.
pub const TICK: Duration = Duration::from_millis(100);
/// How long, in all, a blocked output may keep a stopped run from ending.
pub const GRACE: Duration = Duration::from_secs(2);
/// What a pipe takes in one write without blocking once `poll` says it has room (POSIX).
const PIPE_BUF: usize = 4096;

/// The error a wait ends with once a signal arrived; find it with [`is_stopped`].
#[derive(Debug, thiserror::Error)]
#[error("stopped by a signal while waiting for {0}")]
pub struct Stopped(&'static str);

/// Whether `e` is a wait ended by a signal.
#[must_use]
pub fn is_stopped(e: &io::Error) -> bool {
    e.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<Stopped>)
}

fn stopped(what: &'static str) -> io::Error {
    io::Error::other(Stopped(what))
}

/// Waits until `fd` is ready for `flags`, or `give_up` says to stop. `Ok(false)`: gave up.
fn wait(fd: &impl AsFd, flags: PollFlags, give_up: &mut dyn FnMut() -> bool) -> io::Result<bool> {
    let tick = Timespec { tv_sec: 0, tv_nsec: i64::try_from(TICK.as_nanos()).unwrap_or(100_000_000) };
    loop {
        let mut fds = [PollFd::new(fd, flags)];
        match rustix::event::poll(&mut fds, Some(&tick)) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if give_up() {
            return Ok(false);
        }
    }
}

/// Reads a descriptor that may have nothing to give for a long time.
pub struct PatientReader {
    file: File,
    stop: Interrupt,
}

impl PatientReader {
    #[must_use]
    pub fn new(file: File, stop: Interrupt) -> Self {
        Self { file, stop }
    }
}

impl Read for PatientReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !wait(&self.file, PollFlags::IN, &mut || self.stop.signal().is_some())? {
                return Err(stopped("input"));
            }
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
    }
}

/// How an input is to be read: a regular file directly (with its size), anything else through
/// a [`PatientReader`].
pub enum Source {
    File { file: File, len: u64 },
    Patient(PatientReader),
}

impl Source {
    /// Wraps an open file by its type.
    ///
    /// # Errors
    /// `fstat` failed.
    pub fn of(file: File, stop: &Interrupt) -> io::Result<Self> {
        let meta = file.metadata()?;
        Ok(if meta.is_file() {
            Source::File { len: meta.len(), file }
        } else {
            Source::Patient(PatientReader::new(file, stop.clone()))
        })
    }

    /// Stdin, through its own descriptor (a duplicate, so that std's buffer never holds bytes
    /// that `poll` cannot see).
    ///
    /// # Errors
    /// The descriptor could not be duplicated or looked at.
    pub fn stdin(stop: &Interrupt) -> io::Result<Self> {
        let fd = io::stdin().as_fd().try_clone_to_owned()?;
        Self::of(File::from(fd), stop)
    }

    /// Opens `path` for reading. A FIFO is opened without waiting for its writer.
    ///
    /// # Errors
    /// The OS refused.
    pub fn open(path: &Path, stop: &Interrupt) -> io::Result<Self> {
        let fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        let file = if fifo {
            let file = OpenOptions::new().read(true).custom_flags(nonblock_flag()).open(path)?;
            // Back to blocking reads: `poll` does the waiting, and a FIFO whose writer has not
            // come yet is not readable (Linux reports no hang-up before a first writer), so
            // the first read waits for it rather than seeing an empty file.
            rustix::io::ioctl_fionbio(&file, false)?;
            file
        } else {
            File::open(path)?
        };
        Self::of(file, stop)
    }

    /// The input's size, when it is a regular file.
    #[must_use]
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::File { len, .. } => Some(*len),
            Source::Patient(_) => None,
        }
    }

    /// The reader to hand to the capture reader.
    #[must_use]
    pub fn into_read(self) -> Box<dyn Read + Send> {
        match self {
            Source::File { file, .. } => Box::new(file),
            Source::Patient(p) => Box::new(p),
        }
    }
}

fn nonblock_flag() -> i32 {
    #[expect(clippy::cast_possible_wrap, reason = "O_NONBLOCK is a small positive flag")]
    let flag = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    flag
}

/// Writes to a descriptor whose reader may stall: a pipe, a FIFO, a terminal.
pub struct PatientWriter {
    file: File,
    stop: Interrupt,
    /// Writes of at most `PIPE_BUF` bytes: the descriptor is blocking (stdout, shared with
    /// other processes, stays as it was given).
    small: bool,
    /// When a blocked write first saw the stop: [`GRACE`] runs from there.
    stopped_at: Option<Instant>,
}

impl PatientWriter {
    fn give_up(stop: &Interrupt, stopped_at: &mut Option<Instant>) -> bool {
        if stop.signal().is_none() {
            return false;
        }
        let at = *stopped_at.get_or_insert_with(Instant::now);
        at.elapsed() >= GRACE
    }
}

impl Write for PatientWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // The grace is for all that is left to write, however slowly a reader takes it.
        if Self::give_up(&self.stop, &mut self.stopped_at) {
            return Err(stopped("the output to take more"));
        }
        loop {
            let (stop, at) = (&self.stop, &mut self.stopped_at);
            if !wait(&self.file, PollFlags::OUT, &mut || Self::give_up(stop, at))? {
                return Err(stopped("the output to take more"));
            }
            let n = if self.small { buf.len().min(PIPE_BUF) } else { buf.len() };
            match self.file.write(buf.get(..n).unwrap_or(buf)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An output: a regular file (or device that never blocks) written directly, or anything else
/// through a [`PatientWriter`].
pub enum Sink {
    Direct(File),
    Patient(PatientWriter),
    Terminal(TerminalWriter),
}

/// Writes to a terminal from a thread of its own. `poll` cannot see a terminal stopped with
/// Ctrl-S (XOFF): it says the terminal has room, and the write then blocks until Ctrl-Q. So
/// the writes happen on a helper thread, and the caller waits for each one as for a pipe:
/// until it is done, or, once a signal has come, [`GRACE`] in all. A write left blocked stays
/// with its thread, which ends with the process; every later write fails at once.
pub struct TerminalWriter {
    to_writer: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    done: std::sync::mpsc::Receiver<io::Result<()>>,
    stop: Interrupt,
    stopped_at: Option<Instant>,
    /// A write that never came back: the terminal is stuck.
    stuck: bool,
}

impl TerminalWriter {
    fn new(mut file: File, stop: &Interrupt) -> io::Result<Self> {
        let (to_writer, from_caller) = std::sync::mpsc::sync_channel::<Vec<u8>>(0);
        let (to_caller, done) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new().name("flowtag-terminal".into()).stack_size(64 * 1024).spawn(
            move || {
                for bytes in from_caller {
                    if to_caller.send(file.write_all(&bytes)).is_err() {
                        return;
                    }
                }
            },
        )?;
        Ok(Self { to_writer: Some(to_writer), done, stop: stop.clone(), stopped_at: None, stuck: false })
    }
}

impl Write for TerminalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(to_writer) = self.to_writer.as_ref().filter(|_| !self.stuck) else {
            return Err(stopped("the terminal to take more"));
        };
        if to_writer.send(buf.to_vec()).is_err() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the terminal writer ended"));
        }
        loop {
            match self.done.recv_timeout(TICK) {
                Ok(result) => return result.map(|()| buf.len()),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the terminal writer ended"));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if PatientWriter::give_up(&self.stop, &mut self.stopped_at) {
                        self.stuck = true;
                        return Err(stopped("the terminal to take more"));
                    }
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// Stdout, through a duplicate of its descriptor (std's own buffer is not used).
    ///
    /// # Errors
    /// The descriptor could not be duplicated or looked at.
    pub fn stdout(stop: &Interrupt) -> io::Result<Self> {
        let fd = io::stdout().as_fd().try_clone_to_owned()?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        Ok(if never_blocks(&meta) {
            Sink::Direct(file)
        } else if std::io::IsTerminal::is_terminal(&file) {
            Sink::Terminal(TerminalWriter::new(file, stop)?)
        } else {
            Sink::Patient(PatientWriter { file, stop: stop.clone(), small: true, stopped_at: None })
        })
    }

    /// Opens an existing non-regular file for writing (a FIFO, a device): a FIFO waits for its
    /// reader until a signal comes, every [`TICK`].
    ///
    /// # Errors
    /// The OS refused, or a signal came before a reader did ([`Stopped`]).
    pub fn open_special(path: &Path, stop: &Interrupt) -> io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        if !meta.file_type().is_fifo() {
            let file = OpenOptions::new().write(true).open(path)?;
            return Ok(if never_blocks(&meta) {
                Sink::Direct(file)
            } else {
                Sink::Patient(PatientWriter { file, stop: stop.clone(), small: true, stopped_at: None })
            });
        }
        loop {
            // Non-blocking, a FIFO with no reader is ENXIO at once; kept non-blocking after, as
            // flowtag owns this descriptor: a write takes what fits and never waits.
            match OpenOptions::new().write(true).custom_flags(nonblock_flag()).open(path) {
                Ok(file) => {
                    return Ok(Sink::Patient(PatientWriter {
                        file,
                        stop: stop.clone(),
                        small: false,
                        stopped_at: None,
                    }));
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {}
                Err(e) => return Err(e),
            }
            if stop.signal().is_some() {
                return Err(stopped("a reader to open the FIFO"));
            }
            std::thread::sleep(TICK);
        }
    }
}

/// Regular files and the sinks flowtag is pointed at (/dev/null, /dev/zero, /dev/full) never
/// keep a write waiting. Other character devices may: a terminal blocks on flow control
/// (Ctrl-S, a stalled ssh session), so they are waited on like pipes.
fn never_blocks(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    if meta.is_file() {
        return true;
    }
    let rdev = meta.rdev();
    meta.file_type().is_char_device()
        && rustix::fs::major(rdev) == 1
        && matches!(rustix::fs::minor(rdev), 3 | 5 | 7)
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Direct(f) => f.write(buf),
            Sink::Patient(p) => p.write(buf),
            Sink::Terminal(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Direct(f) => f.flush(),
            Sink::Patient(p) => p.flush(),
            Sink::Terminal(t) => t.flush(),
        }
    }
}

/// Writes one message to stderr without ever waiting on it for long: a terminal stopped with
/// Ctrl-S would otherwise hold the error line, and with it the exit, until Ctrl-Q. On a
/// terminal the line is written by a thread of its own, given [`GRACE`] at most (a line it
/// could not write is lost; nobody was reading); anything else is written directly.
pub fn to_stderr(bytes: &[u8]) {
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    type Line = (SyncSender<Vec<u8>>, Receiver<()>);
    static WRITER: Mutex<Option<Line>> = Mutex::new(None);
    if !std::io::IsTerminal::is_terminal(&io::stderr()) {
        let _ = io::stderr().lock().write_all(bytes);
        return;
    }
    let Ok(mut slot) = WRITER.lock() else { return };
    if slot.is_none() {
        let (to_writer, lines) = sync_channel::<Vec<u8>>(1);
        let (ack, acked) = sync_channel(1);
        let spawned = std::thread::Builder::new().name("flowtag-stderr".into()).stack_size(64 * 1024).spawn(
            move || {
                for line in lines {
                    let _ = io::stderr().lock().write_all(&line);
                    if ack.send(()).is_err() {
                        return;
                    }
                }
            },
        );
        if spawned.is_err() {
            let _ = io::stderr().lock().write_all(bytes);
            return;
        }
        *slot = Some((to_writer, acked));
    }
    let Some((to_writer, acked)) = slot.as_ref() else { return };
    // A writer still stuck on an earlier line takes no more: this one is dropped.
    if to_writer.try_send(bytes.to_vec()).is_ok() {
        let _ = acked.recv_timeout(GRACE);
    }
}

/// Stderr as a writer, through [`to_stderr`]: each write is one message.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        to_stderr(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupt::Signal;

    #[test]
    fn a_quiet_pipe_read_ends_when_the_flag_is_raised() {
        let (r, _w) = std::io::pipe().unwrap();
        let stop = Interrupt::none();
        let file = File::from(std::os::fd::OwnedFd::from(r));
        let mut src = Source::of(file, &stop).unwrap().into_read();
        let raiser = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            raiser.raise(Signal::Term);
        });
        let started = Instant::now();
        let e = src.read(&mut [0u8; 16]).unwrap_err();
        assert!(is_stopped(&e), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
    }

    #[test]
    fn a_stalled_pipe_write_gives_up_after_the_grace() {
        let (_r, w) = std::io::pipe().unwrap();
        let stop = Interrupt::none();
        let file = File::from(std::os::fd::OwnedFd::from(w));
        let mut sink = PatientWriter { file, stop: stop.clone(), small: true, stopped_at: None };
        // Fill the pipe: nobody reads it.
        let chunk = [0u8; PIPE_BUF];
        let mut written = 0usize;
        while written < (1 << 20) {
            stop.raise(Signal::Int);
            match sink.write(&chunk) {
                Ok(n) => written += n,
                Err(e) => {
                    assert!(is_stopped(&e), "{e}");
                    break;
                }
            }
        }
        assert!((PIPE_BUF..(1 << 20)).contains(&written), "{written}");
    }
}
