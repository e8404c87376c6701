//! A tiny HTTP/1.1 responder for `--prometheus`, serving the metrics text rendered at the last
//! refresh. Enough for Prometheus scrapes (a GET every few seconds); std threads, no async runtime.
//!
//! What it owns: the listening socket, one accept thread, and one short-lived thread per
//! connection. What it must not do: let one client, or a few, take `/metrics` away from the
//! others, or let clients make it hold memory that grows with them. Hence:
//!
//! - Each connection is served on its own thread, at most [`MAX_CONNECTIONS`] at once. One more
//!   is refused at once, on the accept thread, with a `503` written without waiting and the
//!   connection closed (a client whose request had already arrived may see a reset instead);
//!   it is never queued behind the others.
//! - Each connection has two deadlines, each for a whole phase rather than a timeout per read or
//!   per write (a per-read timeout is reset by every byte, so a client trickling one byte a
//!   second used to keep the responder for good): the request head must be in within
//!   [`REQUEST_DEADLINE`] of the accept, and the whole answer written within
//!   [`ANSWER_DEADLINE`] after that. A client that misses the first is closed without an answer; one that reads its
//!   answer too slowly is reset (`SO_LINGER` 0), so the kernel also drops the part of the answer
//!   it was still holding for it. So no connection lives longer than the two together (7 s).
//! - A request head is read up to [`MAX_REQUEST`] bytes, the rest ignored; the text served is
//!   one shared copy, so memory is bounded by the cap whatever the clients do.

use crate::output::prometheus::CONTENT_TYPE;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest request head read; scrapers send a few hundred bytes.
const MAX_REQUEST: usize = 8192;
/// Connections served at once. Prometheus scrapes one at a time; the rest is room for a few
/// servers scraping, people with curl, and clients that misbehave for a few seconds.
const MAX_CONNECTIONS: usize = 16;
/// From accept to the end of the request head. A scraper sends it in one packet.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// From the end of the request head to the last byte of the answer handed to the kernel. Tens
/// of kilobytes, so seconds are plenty even over a slow link.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
/// Stack of a connection thread; it holds one 1 KiB read chunk and a few small values.
const CONNECTION_STACK: usize = 128 << 10;

/// The metrics being served; the capture loop publishes a new text every refresh.
pub(super) struct Metrics {
    text: Arc<Mutex<Arc<String>>>,
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests, which bind port 0"))]
    addr: SocketAddr,
}

impl Metrics {
    /// Binds `addr` now (so a busy port fails before the capture starts) and serves it from a
    /// thread of its own.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub(super) fn serve(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let text = Arc::new(Mutex::new(Arc::new(String::new())));
        let shared = Arc::clone(&text);
        std::thread::Builder::new()
            .name("flowtag-metrics".into())
            .spawn(move || accept_loop(&listener, &shared))?;
        Ok(Self { text, addr })
    }

    /// The address actually bound (port 0 picks one).
    #[cfg(test)]
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the text served.
    pub(super) fn publish(&self, text: String) {
        *self.text.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(text);
    }
}

/// One of the [`MAX_CONNECTIONS`] places; given back when the connection's thread ends, however
/// it ends (including a failed spawn, which drops the closure holding it).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(busy: &Arc<AtomicUsize>) -> Option<Self> {
        busy.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_CONNECTIONS).then_some(n + 1))
            .ok()
            .map(|_| Self(Arc::clone(busy)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(listener: &TcpListener, text: &Mutex<Arc<String>>) {
    let busy = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        // Out of descriptors and the like: do not spin on it.
        let Ok(stream) = conn else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let accepted = Instant::now();
        let Some(slot) = Slot::take(&busy) else {
            refuse(&stream);
            continue;
        };
        let body = Arc::clone(&text.lock().unwrap_or_else(PoisonError::into_inner));
        // A failed spawn drops the stream (closing it) and the slot with the closure.
        let _ = std::thread::Builder::new()
            .name("flowtag-metrics-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let _slot = slot;
                // A client that goes away or misses a deadline is its own problem.
                let _ = answer(&stream, &body, accepted);
            });
    }
}

/// Tells a client over the cap to come back later, without ever waiting for it: the accept
/// thread must stay free. A fresh socket's send buffer always has room for these few bytes.
fn refuse(mut stream: &TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
        Content-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n";
    if stream.set_nonblocking(true).is_ok() {
        let _ = stream.write(BUSY);
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head: bool },
    Index { head: bool },
    NotFound,
    BadMethod,
    BadRequest,
}

fn route(request_line: &str) -> Route {
    let mut parts = request_line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::BadMethod,
    };
    match target.split('?').next().unwrap_or_default() {
        "/metrics" => Route::Metrics { head },
        "/" => Route::Index { head },
        _ => Route::NotFound,
    }
}

fn answer(stream: &TcpStream, metrics: &str, accepted: Instant) -> io::Result<()> {
    let request = read_head(stream, accepted + REQUEST_DEADLINE)?;
    let line = String::from_utf8_lossy(&request);
    let line = line.lines().next().unwrap_or_default();
    let (status, content_type, body, head_only, extra) = match route(line) {
        Route::Metrics { head } => ("200 OK", CONTENT_TYPE, metrics, head, ""),
        Route::Index { head } => {
            ("200 OK", "text/plain; charset=utf-8", "flowtag: metrics are at /metrics\n", head, "")
        }
        Route::NotFound => {
            ("404 Not Found", "text/plain; charset=utf-8", "not found; try /metrics\n", false, "")
        }
        Route::BadMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n",
            false,
            "Allow: GET, HEAD\r\n",
        ),
        Route::BadRequest => ("400 Bad Request", "text/plain; charset=utf-8", "bad request\n", false, ""),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let deadline = Instant::now() + ANSWER_DEADLINE;
    let written = write_by(stream, header.as_bytes(), deadline)
        .and_then(|()| if head_only { Ok(()) } else { write_by(stream, body.as_bytes(), deadline) });
    if written.is_err() {
        // Reset rather than close: a close would leave the kernel trickling the rest of the
        // answer (up to megabytes of socket buffer) to the slow reader for minutes.
        let _ = rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO));
    }
    written
}

/// The time left until `deadline`, or `TimedOut` if none: a zero timeout means "none" to the
/// socket calls, so it must never reach them.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(io::ErrorKind::TimedOut.into()) } else { Ok(left) }
}

/// Reads the request head (up to its blank line, [`MAX_REQUEST`] bytes, or the end of the
/// stream), all of it by `deadline`.
fn read_head(mut stream: &TcpStream, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_REQUEST {
            break;
        }
        stream.set_read_timeout(Some(left(deadline)?))?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(buf)
}

/// `write_all`, but all of it by `deadline` rather than each write within a timeout: a reader
/// taking a few bytes every second would otherwise keep a write going for good.
fn write_by(mut stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.set_write_timeout(Some(left(deadline)?))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn routes() {
        assert_eq!(route("GET /metrics HTTP/1.1"), Route::Metrics { head: false });
        assert_eq!(route("HEAD /metrics?x=1 HTTP/1.0"), Route::Metrics { head: true });
        assert_eq!(route("GET / HTTP/1.1"), Route::Index { head: false });
        assert_eq!(route("GET /other HTTP/1.1"), Route::NotFound);
        assert_eq!(route("POST /metrics HTTP/1.1"), Route::BadMethod);
        assert_eq!(route("GET /metrics"), Route::BadRequest);
        assert_eq!(route(""), Route::BadRequest);
        assert_eq!(route("GET /metrics SPDY/3"), Route::BadRequest);
    }

    #[test]
    fn serves_what_was_published() {
        let m = Metrics::serve("127.0.0.1:0".parse().unwrap()).unwrap();
        m.publish("flowtag_up 1\n".into());
        let mut s = TcpStream::connect(m.addr()).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.contains("Content-Length: 13\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nflowtag_up 1\n"), "{reply}");
    }

    // The tests below hold real connections on 127.0.0.1 against the real deadlines, so each
    // takes a few seconds; every client has its own timeout, so none can hang.

    /// A body far larger than loopback socket buffers, so a client that does not read really
    /// stalls the writer instead of having the kernel take the whole answer at once.
    const BIG: usize = 32 << 20;

    fn serve(body: String) -> Metrics {
        let m = Metrics::serve("127.0.0.1:0".parse().unwrap()).unwrap();
        m.publish(body);
        m
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(4))).unwrap();
        s
    }

    /// A whole scrape, which must end within `limit`; the answer's head and body length.
    fn scrape(addr: SocketAddr, limit: Duration) -> (String, usize) {
        let started = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(limit)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = Vec::new();
        let got = s.read_to_end(&mut reply);
        let took = started.elapsed();
        assert!(got.is_ok() && took < limit, "scrape: {got:?} after {took:?}, {} bytes", reply.len());
        let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (String::from_utf8_lossy(&reply[..split]).into_owned(), reply.len() - split)
    }

    /// Sends `bytes` one every `every` until the server hangs up or `stop` is set.
    fn trickle(mut s: TcpStream, bytes: &'static [u8], every: Duration, stop: &AtomicBool) {
        for b in bytes {
            if stop.load(Ordering::Relaxed) || s.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    }

    /// How a connection the server gave up on looks from the client: end of stream, or a reset
    /// when the server aborted it. A timeout means the server is still holding it.
    fn hung_up(r: &io::Result<usize>) -> bool {
        matches!(r, Ok(0)) || r.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset)
    }

    #[test]
    fn a_scrape_gets_through_idle_trickling_and_stalled_clients() {
        let m = serve("x".repeat(BIG));
        let addr = m.addr();
        let idle: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let trickler = {
            let s = connect(addr);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                trickle(s, b"GET /metrics HTTP/1.1\r\n\r\n", Duration::from_millis(1500), &stop);
            })
        };
        let mut stalled = connect(addr);
        stalled.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        // Let the server take all six before the scrape arrives.
        std::thread::sleep(Duration::from_millis(200));

        let (head, len) = scrape(addr, Duration::from_secs(3));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(len, BIG);

        stop.store(true, Ordering::Relaxed);
        trickler.join().unwrap();
        drop((idle, stalled));
    }

    #[test]
    fn a_trickler_is_cut_off_by_the_request_deadline() {
        let m = serve("flowtag_up 1\n".into());
        let mut s = connect(m.addr());
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let trickler = {
            let s = s.try_clone().unwrap();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                trickle(s, b"GET /metrics HTTP/1.1\r\n\r\n", Duration::from_millis(1500), &stop);
            })
        };
        let got = s.read(&mut [0u8; 64]);
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        trickler.join().unwrap();
        assert!(hung_up(&got), "trickler still connected after {took:?}: {got:?}");
        assert!(took + Duration::from_millis(100) >= REQUEST_DEADLINE, "cut off early: {took:?}");
        assert!(took < REQUEST_DEADLINE + Duration::from_secs(1), "cut off late: {took:?}");
    }

    #[test]
    fn a_slow_reader_is_cut_off_by_the_answer_deadline() {
        let m = serve("x".repeat(BIG));
        let mut s = connect(m.addr());
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let started = Instant::now();
        let limit = ANSWER_DEADLINE + Duration::from_secs(5);
        // Reads often enough that no single write waits long, slowly enough that the whole
        // answer would take about a minute.
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        let got = loop {
            std::thread::sleep(Duration::from_millis(100));
            match s.read(&mut buf) {
                Ok(n) if n > 0 && started.elapsed() < limit => total += n,
                other => break other,
            }
        };
        let took = started.elapsed();
        assert!(hung_up(&got), "slow reader still connected after {took:?}, {total} bytes: {got:?}");
        assert!(total < BIG, "got the whole answer: {total} bytes");
        assert!(took + Duration::from_millis(100) >= ANSWER_DEADLINE, "cut off early: {took:?}");
    }

    #[test]
    fn beyond_the_cap_a_client_is_refused_at_once() {
        let m = serve("flowtag_up 1\n".into());
        let addr = m.addr();
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| connect(addr)).collect();
        let started = Instant::now();
        let mut refused = connect(addr);
        refused.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut reply = String::new();
        let got = refused.read_to_string(&mut reply);
        assert!(got.is_ok(), "{got:?} after {:?}", started.elapsed());
        assert!(reply.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{reply}");
        drop(idle);
        // The idle ones hang up, so their slots come back.
        std::thread::sleep(Duration::from_millis(200));
        let (head, len) = scrape(addr, Duration::from_secs(3));
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(len, 13);
    }
}
