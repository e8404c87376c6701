//! Command-line types (clap) only. `config` turns them into a validated `Config`; no clap type
//! travels past it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Which Windows 2000 services does this traffic belong to?
#[derive(Parser, Debug)]
#[command(name = "flowtag", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Classify capture files (pcap, pcapng; `-` reads stdin) by Windows 2000 service.
    Read(ReadArgs),
    /// Watch an interface live: a per-service view on a terminal, JSON lines otherwise.
    Live(LiveArgs),
    /// List the interfaces flowtag can capture on, with addresses and flags (like tcpdump -D).
    Interfaces,
    /// Print the service table, or what the given ports map to.
    Services(ServicesArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A summary for people.
    Table,
    /// One JSON document (keys in the README).
    Json,
    /// One CSV row per service row, unknown port and other category.
    Csv,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Capture files, read in order as one stream; `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to PATH (atomically: a temporary file renamed into place).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Write one record per flow to PATH as flows end: JSON lines, or CSV if PATH ends in .csv.
    #[arg(long, value_name = "PATH")]
    pub flows: Option<PathBuf>,

    /// Only count packets that match this BPF expression (libpcap syntax, as tcpdump).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// Use this service table instead of the embedded Windows 2000 one (TSV, see README).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,

    #[command(flatten)]
    pub flow: FlowArgs,

    /// Threads: 1 counts everything on one thread; N reads and decodes on one and counts flows
    /// on N - 1 workers (same report). Default: the machine's cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// Unknown server ports shown in the table report.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// Never show the progress bar (it is only shown on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// The flow table's settings, shared by `read` and `live`.
#[derive(Args, Debug)]
pub struct FlowArgs {
    /// Idle timeout of TCP flows, in seconds of packet time.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub tcp_timeout: u64,

    /// Idle timeout of UDP flows, in seconds of packet time.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub udp_timeout: u64,

    /// Idle timeout of flows of other IP protocols, in seconds of packet time.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub other_timeout: u64,

    /// Most flows held at once; the longest-idle flow is evicted beyond it (memory stays bounded).
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_flows: u64,

    /// Which header a tunnelled packet (GRE, PPTP, IP in IP, VXLAN, Teredo, L2TP, IPsec NAT-T)
    /// counts under: `inner`, its innermost packet's, with a Tunnels section in the report; or
    /// `outer`, the tunnel's own carrier, as if tunnels were not opened.
    #[arg(long, value_name = "VIEW", value_enum, default_value_t = TunnelView::Inner)]
    pub tunnels: TunnelView,
}

/// See [`FlowArgs::tunnels`].
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelView {
    Inner,
    Outer,
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (`any`: every interface; `flowtag interfaces` lists them).
    #[arg(short, long, value_name = "IFACE")]
    pub interface: String,

    /// Do not put the interface into promiscuous mode (see only its own traffic).
    #[arg(long)]
    pub no_promisc: bool,

    /// Bytes captured of each packet (headers are all flowtag needs; sizes come from the wire).
    #[arg(long, value_name = "N", default_value_t = 262_144, value_parser = clap::value_parser!(u32).range(1..=262_144))]
    pub snaplen: u32,

    /// Kernel capture buffer: a number of bytes, or with a k, M or G suffix (powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "16M")]
    pub buffer_size: String,

    /// Capture only packets that match this BPF expression (libpcap syntax, as tcpdump).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// Seconds between refreshes of the view (or JSON lines, or metrics).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Stop after this many packets.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Format of the final summary (and of the intervals); default: table on a terminal, JSON
    /// lines otherwise.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Write one record per flow to PATH as flows end: JSON lines, or CSV if PATH ends in .csv.
    #[arg(long, value_name = "PATH")]
    pub flows: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT")]
    pub prometheus: Option<String>,

    /// Use this service table instead of the embedded Windows 2000 one (TSV, see README).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,

    #[command(flatten)]
    pub flow: FlowArgs,

    /// Unknown server ports shown in the view and listed in each JSON line.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
}

#[derive(Args, Debug)]
pub struct ServicesArgs {
    /// Ports to look up (TCP and UDP); none prints the whole table.
    #[arg(value_name = "PORT")]
    pub ports: Vec<u16>,

    /// Print the seed document's table exactly as written, without amendments.
    #[arg(long, conflicts_with = "table")]
    pub seed_only: bool,

    /// Use this service table instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
}
