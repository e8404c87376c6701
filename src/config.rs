//! Config: the validated, immutable settings of a run, made from the command line.

use crate::capture::Timestamp;
use crate::cli::{Format, ReadArgs};
use crate::flow::FlowConfig;
use crate::output::flows::FlowFormat;
use std::path::PathBuf;

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

impl ReadConfig {
    #[must_use]
    pub fn from_args(a: ReadArgs) -> Self {
        let flows = a.flows.map(|p| {
            let csv = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            (p, if csv { FlowFormat::Csv } else { FlowFormat::JsonLines })
        });
        let ns = Timestamp::NANOS_PER_SEC;
        Self {
            inputs: a.files,
            format: a.format,
            output: a.output,
            flows,
            filter: a.filter,
            table: a.table,
            flow: FlowConfig {
                tcp_timeout: a.tcp_timeout.saturating_mul(ns),
                udp_timeout: a.udp_timeout.saturating_mul(ns),
                other_timeout: a.other_timeout.saturating_mul(ns),
                max_flows: usize::try_from(a.max_flows).unwrap_or(usize::MAX),
            },
            top_unknown: a.top,
            progress: !a.no_progress,
            threads: a.threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
                usize::from,
            ),
        }
    }
}
