//! Capture: the only module that reads capture files and touches libpcap.
//!
//! What I own: turning an input (a path, `-` for stdin) into a stream of [`Frame`]s, each with
//! its timestamp, wire length, link type and captured bytes, plus record-level anomaly flags.
//! Classic pcap (µs and ns, both byte orders, Kuznetzov's modified format) and pcapng (several
//! sections and interfaces, each packet with its own interface's link type) are read by our own
//! zero-copy reader, because libpcap refuses pcapng files whose interfaces differ in link type.
//! Live interfaces are opened through libpcap in [`live`], and their packets are handed over as
//! the same [`Frame`]s.
//!
//! What I must not do: decode packet headers, keep a frame past the next call, allocate per
//! packet, or read the wall clock. A damaged file is not EOF: the first error ends the input and
//! is reported with the packet number and byte offset, and no further record is trusted.

mod filter;
pub mod live;
mod reader;

pub use filter::{Filter, FilterError};
pub use reader::*;

use std::fmt;

/// A LINKTYPE_ value (tcpdump.org/linktypes.html), already masked of FCS bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Linktype(pub u32);

impl Linktype {
    /// BSD loopback: a 4-byte address family in the host byte order of the capturing machine.
    pub const NULL: Self = Self(0);
    pub const ETHERNET: Self = Self(1);
    /// `DLT_RAW` as written by some BSDs (12) and by OpenBSD (14); both are raw IP.
    pub const RAW_DLT12: Self = Self(12);
    pub const RAW_DLT14: Self = Self(14);
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: like NULL but the family is always big-endian.
    pub const LOOP: Self = Self(108);
    pub const LINUX_SLL: Self = Self(113);
    pub const IPV4: Self = Self(228);
    pub const IPV6: Self = Self(229);
    pub const LINUX_SLL2: Self = Self(276);

    /// Every link type the decoder knows.
    pub const SUPPORTED: [Self; 10] = [
        Self::NULL,
        Self::ETHERNET,
        Self::RAW_DLT12,
        Self::RAW_DLT14,
        Self::RAW,
        Self::LOOP,
        Self::LINUX_SLL,
        Self::IPV4,
        Self::IPV6,
        Self::LINUX_SLL2,
    ];

    /// Whether the decoder knows this link type.
    #[must_use]
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }

    /// The short name tcpdump and tshark use, or `None` for types we do not name.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "EN10MB",
            12 | 14 | 101 => "RAW",
            108 => "LOOP",
            113 => "LINUX_SLL",
            147..=162 => "USER",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Display for Linktype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.name()) {
            (n @ 147..=162, _) => write!(f, "{n} (USER{})", n - 147),
            (n, Some(name)) => write!(f, "{n} ({name})"),
            (n, None) => write!(f, "{n}"),
        }
    }
}

/// Packet time in nanoseconds since the Unix epoch. Capture files store unsigned seconds, so
/// this never goes below zero; values that do not fit saturate and are flagged.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const NANOS_PER_SEC: u64 = 1_000_000_000;

    #[must_use]
    pub fn from_parts(secs: u64, nanos: u64) -> Self {
        Self(secs.saturating_mul(Self::NANOS_PER_SEC).saturating_add(nanos))
    }

    /// Seconds since the epoch as a float, for reports, cut to whole microseconds first: an f64
    /// holds about 16 digits, so 1000000000.999999999 s would otherwise round up to the next
    /// second.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "epoch µs stay below 2^53 until the year 2255")]
    pub fn as_secs_f64(self) -> f64 {
        (self.0 / 1_000) as f64 / 1e6
    }
}

/// Anomalies of a capture record (not of the packet inside it). A set of bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct RecordFlags(pub u8);

impl RecordFlags {
    /// The record's original length is smaller than its captured length.
    pub const LEN_LT_CAPLEN: Self = Self(1);
    /// The original length is above 262,144 bytes (libpcap's maximum snaplen).
    pub const LEN_IMPLAUSIBLE: Self = Self(1 << 1);
    /// The fraction of a second was out of range (µs ≥ 10⁶, ns ≥ 10⁹) and was carried over,
    /// or the timestamp did not fit.
    pub const BAD_TIMESTAMP: Self = Self(1 << 2);
    /// The record held more bytes than the file's snaplen; they were cut to it, as libpcap does.
    pub const CLIPPED_TO_SNAPLEN: Self = Self(1 << 3);

    #[must_use]
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

/// The byte order of the file (or pcapng section) a record came from. Packet bytes are in
/// network order whatever it is, except a BSD NULL header, which holds its address family in
/// the writer's order: libpcap compiles `--filter` for it with the file's order in mind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Endian {
    #[default]
    Little,
    Big,
}

impl Endian {
    /// The order of the machine flowtag runs on.
    pub const HOST: Self = if cfg!(target_endian = "big") { Self::Big } else { Self::Little };
}

/// One captured packet as the reader hands it over. Borrowed: valid until the next read.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    /// The packet's length on the wire (the record's original length, tshark's `frame.len`).
    pub wire_len: u32,
    pub linktype: Linktype,
    /// The captured bytes (`frame.cap_len` of them).
    pub data: &'a [u8],
    pub flags: RecordFlags,
    /// The byte order of the file or section the record came from.
    pub endian: Endian,
}

/// A frame that owns its bytes, for tests, benches and tools that keep frames; never used on
/// the per-packet path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFrame {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub linktype: Linktype,
    pub data: Vec<u8>,
    pub flags: RecordFlags,
    pub endian: Endian,
}

impl Frame<'_> {
    /// Copies the frame out of the reader's buffer.
    #[must_use]
    pub fn to_owned_frame(&self) -> OwnedFrame {
        OwnedFrame {
            ts: self.ts,
            wire_len: self.wire_len,
            linktype: self.linktype,
            data: self.data.to_vec(),
            flags: self.flags,
            endian: self.endian,
        }
    }
}

impl OwnedFrame {
    #[must_use]
    pub fn as_frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            wire_len: self.wire_len,
            linktype: self.linktype,
            data: &self.data,
            flags: self.flags,
            endian: self.endian,
        }
    }
}
