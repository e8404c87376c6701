//! BPF filters on capture files: compiled by libpcap for each link type a file uses, and run
//! by libpcap's own interpreter (`pcap_offline_filter`), so `--filter` means exactly what it
//! means to tcpdump.

use super::{Frame, Linktype};
use pcap::{BpfProgram, Capture};

/// A compiled `--filter` expression.
pub struct Filter {
    expr: String,
    /// Programs compiled so far, one per link type (a pcapng file may mix them).
    programs: Vec<(Linktype, BpfProgram)>,
}

/// A filter expression libpcap would not compile.
#[derive(Debug, thiserror::Error)]
#[error("bad --filter expression '{expr}' for link type {linktype}: {message}")]
pub struct FilterError {
    pub expr: String,
    pub linktype: Linktype,
    pub message: String,
}

impl Filter {
    /// Checks the expression now (for Ethernet), so a typo fails before any input is read.
    ///
    /// # Errors
    /// libpcap's message for an expression it cannot compile.
    pub fn new(expr: &str) -> Result<Self, FilterError> {
        let mut f = Self { expr: expr.to_owned(), programs: Vec::new() };
        f.program(Linktype::ETHERNET)?;
        Ok(f)
    }

    fn program(&mut self, linktype: Linktype) -> Result<&BpfProgram, FilterError> {
        let pos = if let Some(p) = self.programs.iter().position(|(l, _)| *l == linktype) {
            p
        } else {
            let err = |message: String| FilterError { expr: self.expr.clone(), linktype, message };
            let lt = i32::try_from(linktype.0).map_err(|_| err("link type out of range".into()))?;
            let dead = Capture::dead(pcap::Linktype(lt)).map_err(|e| err(e.to_string()))?;
            let prog = dead.compile(&self.expr, true).map_err(|e| err(e.to_string()))?;
            self.programs.push((linktype, prog));
            self.programs.len() - 1
        };
        Ok(&self.programs[pos].1)
    }

    /// Whether the frame passes.
    ///
    /// # Errors
    /// The expression does not compile for this frame's link type.
    pub fn matches(&mut self, frame: &Frame<'_>) -> Result<bool, FilterError> {
        Ok(self.program(frame.linktype)?.filter(frame.data))
    }
}
