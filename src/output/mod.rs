//! Output: renderers. Each one writes plain data it is given to a `&mut impl Write`.
//!
//! What I own: layout (column widths, headers, separators) and nothing else.
//!
//! What I must not do: decide anything (which service, which row, what order beyond what the
//! data already says), read files, or print to stdout myself: the caller picks the writer, and
//! a closed pipe is its error to handle.

pub mod services;
