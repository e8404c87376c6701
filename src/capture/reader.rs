//! TEMPORARY STUB (replaced by the real reader).
#![allow(clippy::all, clippy::pedantic, missing_docs, dead_code)]
use super::{Frame, Linktype};
use std::path::Path;
pub struct CaptureReader {
    n: u64,
}
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("stub")]
    Stub,
}
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct ReadError {
    pub packets: u64,
    pub offset: u64,
    pub kind: ReadErrorKind,
}
#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    #[error("stub")]
    Stub,
}
impl CaptureReader {
    pub fn open(_p: &Path) -> Result<CaptureReader, OpenError> {
        Err(OpenError::Stub)
    }
    pub fn from_reader(
        _r: Box<dyn std::io::Read + Send>,
        _t: Option<u64>,
    ) -> Result<CaptureReader, OpenError> {
        Err(OpenError::Stub)
    }
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        Ok(None)
    }
    pub fn packets(&self) -> u64 {
        self.n
    }
    pub fn offset(&self) -> u64 {
        0
    }
    pub fn total_len(&self) -> Option<u64> {
        None
    }
    pub fn link_types(&self) -> &[Linktype] {
        &[]
    }
    pub fn format(&self) -> &'static str {
        "pcap"
    }
}
