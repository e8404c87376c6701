//! A tiny HTTP/1.1 responder for `--prometheus`: one thread, one connection at a time, serving
//! the metrics text rendered at the last refresh. Enough for Prometheus scrapes (a GET every
//! few seconds); no async runtime. Every connection has short timeouts and a bounded request,
//! so a slow or hostile client holds the thread for seconds at most and costs no memory.

use crate::output::prometheus::CONTENT_TYPE;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Longest request head read; scrapers send a few hundred bytes.
const MAX_REQUEST: usize = 8192;
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

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

fn accept_loop(listener: &TcpListener, text: &Mutex<Arc<String>>) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let body = Arc::clone(&text.lock().unwrap_or_else(PoisonError::into_inner));
                // A client that goes away mid-answer is its own problem.
                let _ = answer(stream, &body);
            }
            // Out of descriptors and the like: do not spin on it.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
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

fn answer(mut stream: TcpStream, metrics: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_REQUEST {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next().unwrap_or_default();
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
    stream.write_all(header.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
