//! The JSON report: one document (README "JSON report" documents every key).

use crate::report::Report;
use std::io::{self, Write};

/// Writes the report as pretty-printed JSON and a final newline.
///
/// # Errors
/// The writer's error.
pub fn write(w: &mut impl Write, r: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, r).map_err(io::Error::from)?;
    writeln!(w)
}
