//! Runs the real `flowtag` binary: on the project's fixtures, on the shared corpus of real
//! captures (checked against tshark's figures), on the catalogue of broken inputs, and, as root,
//! on live interfaces (`live.rs`).

// Test code: a failed unwrap is a failed test, and long tests read top to bottom.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::case_sensitive_file_extension_comparisons
)]

mod badinputs;
mod cli;
mod corpus;
mod evidence_evnet;
mod evidence_evwin;
mod filter;
mod fixtures;
mod fragments;
mod hostile;
mod labels;
mod live;
mod properties;
mod reader;
mod safety;
mod support;
mod table;
mod tunnel_flood;
