//! flowtag: which Windows 2000 services does this traffic belong to?
//!
//! A passive classifier. It reads capture files, decodes link, IP and TCP/UDP headers, follows
//! bidirectional flows, tags each flow with its likely service from a flat port-indexed table
//! (the Windows 2000 port list in `data/`, amended where it is wrong for real traffic), and
//! keeps per-service counters and distributions. Every packet read is counted exactly once:
//! in a service row, an unknown-port row, other IP, non-IP, or a named skip reason.
//!
//! ```text
//! capture ──Frame{ts, wire_len, linktype, &[u8]}──▶ decode ──Decoded{addrs, ports, flags}──▶ flow
//!  (reads pcap/pcapng; the                       (the only module that     + payload's first │
//!   only module that touches libpcap)             imports etherparse)        128 bytes       ▼
//!                                        services (port → service) ──▶ classify (opening window:
//!                                                                      evidence → label)  │
//! output ◀── report (sorted plain data) ◀── stats (dense counters + histograms) ◀────────┘
//!  table / json / csv / flows
//! ```
//!
//! - [`capture`]: inputs to [`capture::Frame`]s: capture files, and live interfaces through
//!   libpcap ([`capture::live`]); BPF filters.
//! - [`decode`]: a frame to a small `Copy` [`decode::Decoded`] (the innermost packet of its
//!   tunnels, see [`tunnel`]), or one named skip reason.
//! - [`services`]: the table (built at compile time) and the rule that picks the server side;
//!   IANA's registered port names ([`services::known_name`]), hints shown beside unknown ports.
//! - [`flow`]: the bounded flow table on packet time; fragments; expiry and eviction. Its index
//!   ([`flow`]'s `index` module) maps a keyed hash to a slot in 8 bytes an entry; the slot's
//!   64-byte line (`hot` module) holds all a packet touches, an IPv4 key included.
//! - [`classify`]: payload evidence and the rules that turn it into a label, for the packets of
//!   a flow's opening window (its first `WINDOW`); the flow table holds the window's packet
//!   sizes in the flow's line until the label is settled, so a changed label moves exact counts.
//! - [`stats`]: counters and hdrhistogram distributions per service and unknown port.
//! - [`learn`]: the endpoints control channels announce in clear (endpoint-mapper replies, FTP
//!   PORT/EPRT/PASV/EPSV, TFTP requests, H.225 `h245Address`), parsed from one payload,
//!   statelessly, for the flow side to expect.
//! - [`tunnel`]: one tunnel header at a time (GRE, PPTP, IP in IP, VXLAN, Teredo, L2TP, NAT-T)
//!   recognised statelessly, handing back the inner bytes and the tunnel's kind and key; decode
//!   follows them to a fixed depth, writing the way in to a [`tunnel::Chain`], which the
//!   reading side turns into a number in the flow key (one inner 5-tuple in two tunnels is two
//!   flows) and [`stats`] into the per-tunnel breakdown.
//! - [`pipeline`]: one frame through decode → flow → stats; the per-packet path. `flowtag read`
//!   feeds it 32 decoded packets at a time ([`pipeline::Packets`], with each one's first payload
//!   bytes), whose flow lines it loads together first so that their cache misses overlap; then
//!   it settles what the flow table owes the counters (flows relabelled, windows closed).
//! - [`parallel`]: the same on worker threads (`--threads`), sharded by address pair, merged.
//! - [`report`]: one sorted data model; [`output`] renders it (table, JSON, CSV) and flow records.
//! - [`interrupt`]: SIGINT/SIGTERM as a flag the read loop polls, so a stopped run still reports.
//! - [`cli`] (clap types only) → [`config`] (validated) → [`app`] (runs it, maps exit codes);
//!   `flowtag live` runs the same pipeline on an interface, refreshing a view, JSON lines and
//!   Prometheus metrics from the same report every interval; its packet times are kept on a
//!   timeline without the system clock's steps (`app`'s `timeline` module).
//!
//! The library runs without the CLI: feed frames to a [`pipeline::Pipeline`] and read its stats.
//!
//! ```
//! use flowtag::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
//! use flowtag::flow::FlowConfig;
//! use flowtag::pipeline::Pipeline;
//! use flowtag::services::{ServiceTable, Transport};
//!
//! let table = ServiceTable::embedded();
//! let port = table.lookup(Transport::Tcp, 445);
//! assert_eq!(port.service.map(|s| table.name(s)), Some("Common Internet File System (CIFS)"));
//!
//! // A raw IPv4 TCP SYN from 10.0.0.1:1234 to 10.0.0.2:445.
//! let mut syn = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! syn.extend_from_slice(&[0x04, 0xd2, 0x01, 0xbd, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
//! let frame = Frame { ts: Timestamp(0), wire_len: 40, linktype: Linktype::RAW, data: &syn, flags: RecordFlags::default(), endian: Endian::Little };
//!
//! let mut pipeline = Pipeline::new(table, FlowConfig::default());
//! let mut ended = Vec::new();
//! pipeline.push(&frame, &mut |rec| ended.push(*rec));
//! pipeline.finish(&mut |rec| ended.push(*rec));
//! assert_eq!(pipeline.stats.services.len(), 1);
//! assert_eq!(ended[0].server_port, 445);
//! ```

pub mod app;
pub mod blocking;
pub mod capture;
pub mod classify;
pub mod cli;
pub mod config;
pub mod decode;
pub mod flow;
pub mod interrupt;
pub mod learn;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod report;
pub mod services;
pub mod stats;
pub mod tunnel;

/// A seeded xorshift64 (Marsaglia 2003) for the tests that feed checks random bytes: the same
/// figures on every run.
#[cfg(test)]
pub(crate) struct XorShift(pub(crate) u64);

#[cfg(test)]
impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
