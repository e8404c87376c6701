//! Config: the validated, immutable settings of a run, made from the command line.

use crate::capture::Timestamp;
use crate::capture::live::LiveOptions;
use crate::cli::{FlowArgs, Format, LiveArgs, ReadArgs};
use crate::flow::FlowConfig;
use crate::output::flows::FlowFormat;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// What `flowtag read` does.
#[derive(Clone, Debug)]
pub struct ReadConfig {
    pub inputs: Vec<PathBuf>,
    pub format: Format,
    /// `None`: stdout.
    pub output: Option<PathBuf>,
    pub flows: Option<(PathBuf, FlowFormat)>,
    pub filter: Option<String>,
    pub table: Option<PathBuf>,
    pub flow: FlowConfig,
    pub top_unknown: usize,
    pub progress: bool,
    /// Threads in all, this one included (at least 1).
    pub threads: usize,
}

fn flows_file(p: Option<PathBuf>) -> Option<(PathBuf, FlowFormat)> {
    p.map(|p| {
        let csv = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        (p, if csv { FlowFormat::Csv } else { FlowFormat::JsonLines })
    })
}

impl From<&FlowArgs> for FlowConfig {
    fn from(a: &FlowArgs) -> Self {
        let ns = Timestamp::NANOS_PER_SEC;
        FlowConfig {
            tcp_timeout: a.tcp_timeout.saturating_mul(ns),
            udp_timeout: a.udp_timeout.saturating_mul(ns),
            other_timeout: a.other_timeout.saturating_mul(ns),
            max_flows: usize::try_from(a.max_flows).unwrap_or(usize::MAX),
            tunnels: match a.tunnels {
                crate::cli::TunnelView::Inner => crate::decode::Tunnels::Open,
                crate::cli::TunnelView::Outer => crate::decode::Tunnels::Outer,
            },
        }
    }
}

impl ReadConfig {
    #[must_use]
    pub fn from_args(a: ReadArgs) -> Self {
        Self {
            flow: FlowConfig::from(&a.flow),
            inputs: a.files,
            format: a.format,
            output: a.output,
            flows: flows_file(a.flows),
            filter: a.filter,
            table: a.table,
            top_unknown: a.top,
            progress: !a.no_progress,
            threads: a.threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                usize::from,
            ),
        }
    }
}

/// A command-line value that parsed but makes no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{problem}")]
pub struct ConfigError {
    /// The option, as the user typed it (`--interval`).
    pub option: &'static str,
    pub problem: String,
}

/// What `flowtag live` does.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub capture: LiveOptions,
    pub interval: Duration,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    /// `None`: table on a terminal, JSON otherwise.
    pub format: Option<Format>,
    pub flows: Option<(PathBuf, FlowFormat)>,
    pub prometheus: Option<SocketAddr>,
    pub table: Option<PathBuf>,
    pub flow: FlowConfig,
    pub top_unknown: usize,
}

/// Shortest refresh interval: faster redraws only cost CPU.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Longest refresh interval.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// libpcap takes the buffer size as a C `int`.
const MAX_BUFFER: u64 = i32::MAX as u64;
const MIN_BUFFER: u64 = 4096;

fn seconds(option: &'static str, v: f64, min: Duration, max: Duration) -> Result<Duration, ConfigError> {
    let err = |problem: String| ConfigError { option, problem };
    if !v.is_finite() {
        return Err(err(format!("'{v}' is not a number of seconds")));
    }
    let d = Duration::try_from_secs_f64(v).map_err(|_| err(format!("'{v}' is not a number of seconds")))?;
    if d < min || d > max {
        return Err(err(format!(
            "{v} s is out of range ({} s to {} s)",
            min.as_secs_f64(),
            max.as_secs_f64()
        )));
    }
    Ok(d)
}

/// `65536`, `64k`, `16M`, `1G` (powers of 1024; `KiB`, `MiB`, `GiB` and a trailing `B` too).
///
/// # Errors
/// Not such a size, or out of libpcap's range.
pub fn parse_buffer_size(s: &str) -> Result<u32, ConfigError> {
    let err = |problem: String| ConfigError { option: "--buffer-size", problem };
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 =
        num.parse().map_err(|_| err(format!("'{s}' is not a size in bytes (like 65536, 64k, 16M)")))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(err(format!("'{s}' is not a size in bytes (like 65536, 64k, 16M)"))),
    };
    let bytes = n.saturating_mul(mult);
    if !(MIN_BUFFER..=MAX_BUFFER).contains(&bytes) {
        return Err(err(format!("{s} is out of range ({MIN_BUFFER} bytes to 2 GiB)")));
    }
    u32::try_from(bytes).map_err(|_| err(format!("{s} is out of range")))
}

/// `127.0.0.1:9100`, `[::1]:9100`, `localhost:9100`, or `:9100` (every address).
///
/// # Errors
/// Not an address and port.
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, ConfigError> {
    let err = || ConfigError {
        option: "--prometheus",
        problem: format!("'{s}' is not ADDR:PORT (like 127.0.0.1:9100 or :9100)"),
    };
    let spec = if s.starts_with(':') { format!("0.0.0.0{s}") } else { s.to_owned() };
    if let Ok(a) = spec.parse::<SocketAddr>() {
        return Ok(a);
    }
    spec.to_socket_addrs().map_err(|_| err())?.next().ok_or_else(err)
}

impl LiveConfig {
    /// Validates the command line.
    ///
    /// # Errors
    /// The first option whose value makes no sense.
    pub fn from_args(a: LiveArgs) -> Result<Self, ConfigError> {
        if a.interface.is_empty() {
            return Err(ConfigError { option: "--interface", problem: "an interface name is needed".into() });
        }
        let interval = seconds("--interval", a.interval, MIN_INTERVAL, MAX_INTERVAL)?;
        let duration = a
            .duration
            .map(|d| {
                seconds("--duration", d, Duration::from_millis(1), Duration::from_secs(100 * 365 * 86_400))
            })
            .transpose()?;
        let buffer_size = parse_buffer_size(&a.buffer_size)?;
        let prometheus = a.prometheus.as_deref().map(parse_listen_addr).transpose()?;
        Ok(Self {
            capture: LiveOptions {
                interface: a.interface,
                promisc: !a.no_promisc,
                snaplen: a.snaplen,
                buffer_size,
                filter: a.filter,
            },
            interval,
            duration,
            count: a.count,
            format: a.format,
            flows: flows_file(a.flows),
            prometheus,
            table: a.table,
            flow: FlowConfig::from(&a.flow),
            top_unknown: a.top,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_sizes() {
        assert_eq!(parse_buffer_size("65536"), Ok(65_536));
        assert_eq!(parse_buffer_size("64k"), Ok(65_536));
        assert_eq!(parse_buffer_size("16M"), Ok(16 << 20));
        assert_eq!(parse_buffer_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_buffer_size("1G"), Ok(1 << 30));
        assert!(parse_buffer_size("2G").is_err(), "beyond a C int");
        assert!(parse_buffer_size("12").is_err(), "too small");
        assert!(parse_buffer_size("lots").is_err());
        assert!(parse_buffer_size("16 parsecs").is_err());
        assert!(parse_buffer_size("99999999999999999999").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen_addr("127.0.0.1:9100").unwrap().port(), 9100);
        assert_eq!(parse_listen_addr(":9100").unwrap(), "0.0.0.0:9100".parse().unwrap());
        assert_eq!(parse_listen_addr("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert!(parse_listen_addr("9100").is_err());
        assert!(parse_listen_addr("127.0.0.1:99999").is_err());
    }

    #[test]
    fn intervals() {
        let one = seconds("--interval", 1.0, MIN_INTERVAL, MAX_INTERVAL);
        assert_eq!(one, Ok(Duration::from_secs(1)));
        assert!(seconds("--interval", 0.01, MIN_INTERVAL, MAX_INTERVAL).is_err());
        assert!(seconds("--interval", f64::NAN, MIN_INTERVAL, MAX_INTERVAL).is_err());
        assert!(seconds("--interval", -1.0, MIN_INTERVAL, MAX_INTERVAL).is_err());
    }
}
