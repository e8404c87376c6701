//! Live capture: the only code that opens network interfaces with libpcap.
//!
//! What I own: opening an interface (promiscuous or not, snaplen, kernel buffer, a read
//! timeout, a kernel BPF filter), choosing a link type the decoder knows, handing packets over
//! as [`Frame`]s, the capture statistics (received, dropped by the kernel, dropped by the
//! interface) accumulated wrap-safe into 64-bit totals, the list of interfaces, and naming what
//! went wrong when an interface cannot be opened or goes away.
//!
//! What I must not do: decode or count packets, read the wall clock (packet times are the
//! kernel's), or block without a bound. The handle is nonblocking and [`LiveCapture::wait`]
//! polls its descriptor with a timeout, so a refresh timer and signals never depend on packets
//! arriving: an idle TPACKET_V3 socket never times out (CATALOGUE.md §1 finding 6).
//!
//! Why not immediate mode: on Linux it makes libpcap fall back to TPACKET_V2, one fixed-size
//! frame per packet, each sized for the interface's MTU. Measured on a veth pair with the
//! default 16 MiB buffer, V2 dropped 35-40% of a 130 kpps replay where TPACKET_V3 (blocks of
//! packed, variable-size frames) kept all of 234 kpps. With V3 the kernel hands a block over
//! when it is full or after [`READ_TIMEOUT_MS`], so on a quiet link a packet waits at most that
//! long; the refresh interval is ten times longer.
//!
//! Why errors are classified by probing rather than by libpcap's status code: the `pcap` crate's
//! `Capture::open` returns only `pcap_geterr`'s text and drops the status `pcap_activate`
//! returned (`PCAP_ERROR_NO_SUCH_DEVICE`, `PCAP_ERROR_PERM_DENIED`, `PCAP_ERROR_IFACE_NOT_UP`),
//! and calling libpcap directly would need `unsafe`, which this crate forbids. So when opening
//! fails we look at the same facts libpcap's status is made from, never at its wording (which
//! changes between libpcap releases): the device list (`pcap_findalldevs`), the errno of opening
//! an `AF_PACKET` socket (`EPERM`), and the interface's `IFF_UP` flag.

use super::{Endian, Frame, Linktype, RecordFlags, Timestamp};
use pcap::{Active, Capture, Device};
use std::net::IpAddr;
use std::time::Duration;

/// libpcap's name of the pseudo-device that captures on every interface (Linux).
pub const ANY_DEVICE: &str = "any";

/// Most packets handed over per [`LiveCapture::dispatch`] call, so the caller's timer is
/// checked at least every few thousand packets under load.
pub const DISPATCH_BATCH: usize = 4096;

/// libpcap's read timeout, in ms: with TPACKET_V3 the kernel retires a block that holds any
/// packet after this long, so a packet on a quiet link is delivered within it (CATALOGUE #96).
pub const READ_TIMEOUT_MS: i32 = 100;

/// How to open an interface.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interface: String,
    pub promisc: bool,
    pub snaplen: u32,
    pub buffer_size: u32,
    pub filter: Option<String>,
}

/// Why a capture could not start, or stopped. Messages follow the interface's name.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no such device (available: {})", .available.join(", "))]
    NoSuchDevice { available: Vec<String> },
    #[error(
        "permission denied: capturing needs CAP_NET_RAW; run as root or grant it with \
         `setcap cap_net_raw,cap_net_admin=eip flowtag`"
    )]
    PermissionDenied,
    #[error("interface is down (bring it up first: ip link set {interface} up)")]
    InterfaceDown { interface: String },
    #[error("link type {0} is not one flowtag decodes")]
    UnsupportedLinktype(Linktype),
    #[error("bad --filter expression '{expr}' for link type {linktype}: {message}")]
    Filter { expr: String, linktype: Linktype, message: String },
    #[error("cannot start the capture: {0}")]
    Open(String),
    #[error("interface disappeared")]
    Gone,
    #[error("capture failed: {0}")]
    Read(String),
}

impl LiveError {
    /// Whether the error is the user's expression, not the interface (a usage error).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(self, LiveError::Filter { .. })
    }
}

/// What a failed read means for the capture.
#[derive(Debug)]
pub enum ReadFault {
    /// The interface went down (it still exists): keep running, it may come back up.
    Down(String),
    /// The capture cannot go on.
    Fatal(LiveError),
}

/// Capture statistics since the capture started, as 64-bit totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    /// Packets the kernel accepted for us (passed the filter), including those it then dropped.
    pub received: u64,
    /// Packets dropped because the buffer was full: we did not read fast enough.
    pub dropped: u64,
    /// Packets the interface or its driver dropped (not supported everywhere: then 0).
    pub if_dropped: u64,
}

impl CaptureCounts {
    /// The change from `earlier` to `self`.
    #[must_use]
    pub fn since(&self, earlier: &CaptureCounts) -> CaptureCounts {
        CaptureCounts {
            received: self.received.saturating_sub(earlier.received),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            if_dropped: self.if_dropped.saturating_sub(earlier.if_dropped),
        }
    }
}

/// How much a 32-bit libpcap counter grew from `prev` to `now`, across one wrap. libpcap keeps
/// `pcap_stat` in `u_int`s, which wrap after 4 Gi packets (hours at line rate).
#[must_use]
pub fn counter_delta(prev: u32, now: u32) -> u64 {
    u64::from(now.wrapping_sub(prev))
}

/// The packet time of a libpcap timeval (µs precision) and the record flags it earns: a time
/// before 1970 or a fraction out of range is flagged, and clamped as the file reader does.
#[must_use]
pub fn timestamp_of(secs: i64, micros: i64) -> (Timestamp, RecordFlags) {
    let mut flags = RecordFlags::default();
    let secs = u64::try_from(secs).unwrap_or_else(|_| {
        flags.insert(RecordFlags::BAD_TIMESTAMP);
        0
    });
    let micros = match u64::try_from(micros) {
        Ok(us) if us < 1_000_000 => us,
        Ok(us) => {
            flags.insert(RecordFlags::BAD_TIMESTAMP);
            us
        }
        Err(_) => {
            flags.insert(RecordFlags::BAD_TIMESTAMP);
            0
        }
    };
    (Timestamp::from_parts(secs, micros.saturating_mul(1_000)), flags)
}

/// An open, running capture.
pub struct LiveCapture {
    cap: Capture<Active>,
    interface: String,
    linktype: Linktype,
    /// The last raw libpcap statistics seen: received, dropped, interface dropped.
    last_raw: [u32; 3],
    totals: CaptureCounts,
}

impl LiveCapture {
    /// Opens and activates the interface; warnings (promiscuous mode refused, a link type
    /// switched) come back beside the capture, to be printed once.
    ///
    /// # Errors
    /// Why the capture cannot start.
    pub fn open(opts: &LiveOptions) -> Result<(Self, Vec<String>), LiveError> {
        let name = opts.interface.as_str();
        let mut warnings = Vec::new();
        // libpcap refuses promiscuous mode on the "any" pseudo-device with a warning status,
        // which the pcap crate turns into an error; tcpdump prints the warning and goes on.
        let promisc = if opts.promisc && name == ANY_DEVICE {
            warnings.push(format!("promiscuous mode is not available on the \"{ANY_DEVICE}\" device"));
            false
        } else {
            opts.promisc
        };
        let cap = match activate(opts, promisc) {
            Ok(cap) => cap,
            Err(text) => match diagnose(name) {
                Some(e) => return Err(e),
                // A warning status (promiscuous mode not supported, ...) also reaches us as an
                // error; without promiscuous mode the device may open.
                None if promisc => match activate(opts, false) {
                    Ok(cap) => {
                        warnings.push(format!("promiscuous mode refused ({text}); capturing without it"));
                        cap
                    }
                    Err(text) => return Err(diagnose(name).unwrap_or(LiveError::Open(text))),
                },
                None => return Err(LiveError::Open(text)),
            },
        };
        let mut cap = cap;
        let linktype = choose_linktype(&mut cap, &mut warnings)?;
        if let Some(expr) = &opts.filter {
            cap.filter(expr, true).map_err(|e| LiveError::Filter {
                expr: expr.clone(),
                linktype,
                message: pcap_text(&e),
            })?;
        }
        let mut cap = cap.setnonblock().map_err(|e| LiveError::Open(pcap_text(&e)))?;
        let last_raw = cap.stats().map(|s| [s.received, s.dropped, s.if_dropped]).unwrap_or_default();
        let live =
            Self { cap, interface: name.to_owned(), linktype, last_raw, totals: CaptureCounts::default() };
        Ok((live, warnings))
    }

    /// The link type every frame of this capture has.
    #[must_use]
    pub fn linktype(&self) -> Linktype {
        self.linktype
    }

    /// Waits until packets may be ready, at most `timeout`. A signal ends the wait early
    /// (`Ok(false)`), so the caller sees its flag at once.
    ///
    /// # Errors
    /// poll(2) failed for another reason than a signal.
    pub fn wait(&self, timeout: Duration) -> Result<bool, LiveError> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&self.cap, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) => Ok(n > 0),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(LiveError::Read(format!("poll: {e}"))),
        }
    }

    /// Hands the packets that are ready (at most `max`, and at most [`DISPATCH_BATCH`]) to `f`
    /// without blocking; returns how many.
    ///
    /// # Errors
    /// The read failed: the interface went down, went away, or another libpcap error.
    pub fn dispatch(&mut self, max: usize, mut f: impl FnMut(&Frame<'_>)) -> Result<usize, ReadFault> {
        let max = max.min(DISPATCH_BATCH);
        if max == 0 {
            return Ok(0);
        }
        let linktype = self.linktype;
        let result = self.cap.dispatch(Some(max), |pkt| {
            let h = pkt.header;
            #[allow(clippy::useless_conversion, reason = "time_t and suseconds_t are i32 on some platforms")]
            let (ts, mut flags) = timestamp_of(
                i64::try_from(h.ts.tv_sec).unwrap_or(-1),
                i64::try_from(h.ts.tv_usec).unwrap_or(-1),
            );
            if h.len < h.caplen {
                flags.insert(RecordFlags::LEN_LT_CAPLEN);
            }
            // A live NULL header is in this machine's order.
            f(&Frame { ts, wire_len: h.len, linktype, data: pkt.data, flags, endian: Endian::HOST });
        });
        result.map_err(|e| {
            let text = pcap_text(&e);
            match find_device(&self.interface) {
                Lookup::Missing(_) => ReadFault::Fatal(LiveError::Gone),
                Lookup::Found { up: false } => ReadFault::Down(text),
                Lookup::Found { up: true } | Lookup::Unknown => ReadFault::Fatal(LiveError::Read(text)),
            }
        })
    }

    /// Capture statistics since the start, brought up to date. If libpcap cannot give them
    /// now, the last known totals.
    pub fn stats(&mut self) -> CaptureCounts {
        if let Ok(s) = self.cap.stats() {
            let now = [s.received, s.dropped, s.if_dropped];
            self.totals.received += counter_delta(self.last_raw[0], now[0]);
            self.totals.dropped += counter_delta(self.last_raw[1], now[1]);
            self.totals.if_dropped += counter_delta(self.last_raw[2], now[2]);
            self.last_raw = now;
        }
        self.totals
    }
}

/// Creates and activates a handle; the error is libpcap's text, for the message only.
fn activate(opts: &LiveOptions, promisc: bool) -> Result<Capture<Active>, String> {
    let snaplen = i32::try_from(opts.snaplen).unwrap_or(i32::MAX);
    let buffer = i32::try_from(opts.buffer_size).unwrap_or(i32::MAX);
    Capture::from_device(opts.interface.as_str())
        .map_err(|e| pcap_text(&e))?
        .promisc(promisc)
        .snaplen(snaplen)
        .buffer_size(buffer)
        .immediate_mode(false)
        .timeout(READ_TIMEOUT_MS)
        .open()
        .map_err(|e| pcap_text(&e))
}

/// Keeps the handle's link type if the decoder knows it, else switches to one it knows that
/// the device offers (CATALOGUE #99: never parse an unknown link type as Ethernet).
fn choose_linktype(cap: &mut Capture<Active>, warnings: &mut Vec<String>) -> Result<Linktype, LiveError> {
    let of = |l: pcap::Linktype| Linktype(u32::try_from(l.0).unwrap_or(u32::MAX));
    let current = of(cap.get_datalink());
    if current.is_supported() {
        return Ok(current);
    }
    let offered = cap.list_datalinks().unwrap_or_default();
    for l in offered {
        if of(l).is_supported() && cap.set_datalink(l).is_ok() {
            warnings.push(format!("link type {current} is not decoded; capturing as {}", of(l)));
            return Ok(of(l));
        }
    }
    Err(LiveError::UnsupportedLinktype(current))
}

/// What the device list says about one interface.
enum Lookup {
    Missing(Vec<String>),
    Found {
        up: bool,
    },
    /// The list itself could not be had.
    Unknown,
}

fn find_device(name: &str) -> Lookup {
    let Ok(devices) = Device::list() else {
        return Lookup::Unknown;
    };
    match devices.iter().find(|d| d.name == name) {
        Some(d) => Lookup::Found { up: d.flags.is_up() },
        None => Lookup::Missing(devices.into_iter().map(|d| d.name).collect()),
    }
}

/// Names why activating `name` failed, from the facts libpcap's status is made of; `None` when
/// none of them explains it.
fn diagnose(name: &str) -> Option<LiveError> {
    let lookup = find_device(name);
    if let Lookup::Missing(available) = lookup {
        return Some(LiveError::NoSuchDevice { available });
    }
    if packet_socket_denied() {
        return Some(LiveError::PermissionDenied);
    }
    match lookup {
        Lookup::Found { up: false } => Some(LiveError::InterfaceDown { interface: name.to_owned() }),
        _ => None,
    }
}

/// Whether the kernel refuses us a packet socket (`EPERM`/`EACCES` from `socket(AF_PACKET)`),
/// the check behind libpcap's `PCAP_ERROR_PERM_DENIED` on Linux.
#[cfg(target_os = "linux")]
fn packet_socket_denied() -> bool {
    use rustix::io::Errno;
    use rustix::net::{AddressFamily, SocketType, socket};
    matches!(socket(AddressFamily::PACKET, SocketType::RAW, None), Err(Errno::PERM | Errno::ACCESS))
}

#[cfg(not(target_os = "linux"))]
fn packet_socket_denied() -> bool {
    false
}

/// libpcap's own text of an error, without the crate's "libpcap error: " prefix.
fn pcap_text(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One interface as `flowtag interfaces` lists it.
#[derive(Clone, Debug)]
#[expect(clippy::struct_excessive_bools, reason = "libpcap's interface flags, one field each")]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    /// Addresses with their prefix length, when the netmask is known.
    pub addresses: Vec<(IpAddr, Option<u8>)>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
    pub wireless: bool,
    /// `Some(true)` connected, `Some(false)` disconnected, `None` unknown or not applicable.
    pub connected: Option<bool>,
}

/// Every interface libpcap can capture on, in libpcap's order.
///
/// # Errors
/// libpcap could not list them.
pub fn interfaces() -> Result<Vec<InterfaceInfo>, LiveError> {
    let devices = Device::list().map_err(|e| LiveError::Open(pcap_text(&e)))?;
    Ok(devices
        .into_iter()
        .map(|d| InterfaceInfo {
            addresses: d.addresses.iter().map(|a| (a.addr, a.netmask.and_then(prefix_len))).collect(),
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            wireless: d.flags.is_wireless(),
            connected: match d.flags.connection_status {
                pcap::ConnectionStatus::Connected => Some(true),
                pcap::ConnectionStatus::Disconnected => Some(false),
                _ => None,
            },
            name: d.name,
            description: d.desc,
        })
        .collect())
}

/// The prefix length of a contiguous netmask; `None` for a non-contiguous one.
fn prefix_len(mask: IpAddr) -> Option<u8> {
    let (ones, zeros_after) = match mask {
        IpAddr::V4(m) => {
            let v = u32::from(m);
            (v.leading_ones(), v.trailing_zeros().min(32))
        }
        IpAddr::V6(m) => {
            let v = u128::from(m);
            (v.leading_ones(), v.trailing_zeros().min(128))
        }
    };
    let bits = if mask.is_ipv4() { 32 } else { 128 };
    (ones + zeros_after == bits).then(|| u8::try_from(ones).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_delta_survives_one_wrap() {
        assert_eq!(counter_delta(4_294_967_294, 1), 3);
        assert_eq!(counter_delta(10, 25), 15);
        assert_eq!(counter_delta(7, 7), 0);
        assert_eq!(counter_delta(u32::MAX, 0), 1);
    }

    #[test]
    fn timevals_become_timestamps() {
        assert_eq!(timestamp_of(1, 500_000), (Timestamp(1_500_000_000), RecordFlags::default()));
        let (ts, flags) = timestamp_of(-1, 0);
        assert_eq!(ts, Timestamp(0));
        assert!(flags.contains(RecordFlags::BAD_TIMESTAMP));
        let (ts, flags) = timestamp_of(2, 1_000_000);
        assert_eq!(ts, Timestamp(3_000_000_000), "carried over, as the file reader does");
        assert!(flags.contains(RecordFlags::BAD_TIMESTAMP));
        let (_, flags) = timestamp_of(2, -1);
        assert!(flags.contains(RecordFlags::BAD_TIMESTAMP));
    }

    #[test]
    fn counts_since() {
        let a = CaptureCounts { received: 10, dropped: 2, if_dropped: 0 };
        let b = CaptureCounts { received: 25, dropped: 3, if_dropped: 1 };
        assert_eq!(b.since(&a), CaptureCounts { received: 15, dropped: 1, if_dropped: 1 });
    }

    #[test]
    fn netmask_prefixes() {
        assert_eq!(prefix_len("255.0.0.0".parse().unwrap()), Some(8));
        assert_eq!(prefix_len("255.255.255.255".parse().unwrap()), Some(32));
        assert_eq!(prefix_len("0.0.0.0".parse().unwrap()), Some(0));
        assert_eq!(prefix_len("255.0.255.0".parse().unwrap()), None);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), Some(64));
    }

    #[test]
    fn missing_interface_lists_the_real_ones() {
        let opts = LiveOptions {
            interface: "flowtag-nosuch0".into(),
            promisc: true,
            snaplen: 262_144,
            buffer_size: 1 << 20,
            filter: None,
        };
        match LiveCapture::open(&opts) {
            Err(LiveError::NoSuchDevice { available }) => assert!(available.iter().any(|d| d == "lo")),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a device that does not exist"),
        }
    }
}
