//! Output: renderers of the [`Report`](crate::report::Report), of flow records, and of the
//! sampled warnings. Each writes to `&mut impl Write` and knows nothing but the data it is
//! given.
pub mod csv;
pub mod escape;
pub mod flows;
pub mod interfaces;
pub mod json;
pub mod live;
pub mod prometheus;
pub mod services;
pub mod table;
pub mod units;
pub mod warnings;

/// A report and an interval of two unknown UDP ports, one IANA registers (5355, `llmnr`) and
/// one it does not (40124), for the renderers' tests.
#[cfg(test)]
pub(crate) fn unknown_ports_report() -> (crate::report::Report, crate::report::IntervalReport) {
    use crate::capture::{Endian, Frame, Linktype, RecordFlags, Timestamp};
    use crate::flow::FlowConfig;
    use crate::pipeline::Pipeline;
    use crate::report::{CaptureReport, IntervalBase, IntervalEnd, IntervalReport, Report};
    use crate::services::ServiceTable;

    let table = ServiceTable::embedded();
    let mut p = Pipeline::new(table, FlowConfig::default());
    // Raw IPv4 UDP from 10.0.0.1:50000 to 10.0.0.2:port; more bytes to 5355, so it sorts first.
    for (i, (port, wire_len)) in [(5355u16, 200u32), (40124, 100)].into_iter().enumerate() {
        let mut data = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        data.extend_from_slice(&50000u16.to_be_bytes());
        data.extend_from_slice(&port.to_be_bytes());
        data.extend_from_slice(&[0, 8, 0, 0]);
        let frame = Frame {
            ts: Timestamp(1_000_000_000 + i as u64 * 1_000),
            wire_len,
            linktype: Linktype::RAW,
            data: &data,
            flags: RecordFlags::default(),
            endian: Endian::Little,
        };
        p.push(&frame, &mut |_| {});
    }
    let report = Report::build(&p.stats, &p.flows.counters, table, Vec::new(), None, None);
    let end = IntervalEnd {
        end: 2.0,
        seconds: 1.0,
        flows_live: 2,
        capture: CaptureReport::default(),
        top_unknown: 10,
    };
    let iv = IntervalReport::build(&IntervalBase::new(1.0), &p.stats, &p.flows.counters, table, end);
    (report, iv)
}
