//! Writes flowtag's test fixtures: small capture files made by this program, byte-identical on
//! every run.
//!
//! ```text
//! cargo run --example make_fixtures -- fixtures
//! ```
//!
//! Why generate instead of collecting real captures: each file then shows exactly one thing
//! (a link type, a fragment order, a damaged record, a port rule), is a few KB, carries no
//! one's traffic, and comes with the figures a classifier must produce for it. Those figures
//! are counted from what the generator *meant* each packet to be (flow, direction, fragment,
//! non-IP) while it writes the file, not by parsing the file back, so they are an independent
//! check on flowtag's decoder.
//!
//! What it writes into the directory:
//! * one `.pcap`/`.pcapng` per fixture (see `small.rs`, and `lan.rs` for `windows-lan.pcap`);
//! * `expected.tsv`: per file and per flow, packets and bytes in each direction;
//! * `windows-lan.expected.tsv`: per transport and server port, flows, packets and bytes;
//! * `README.md`: every fixture, how it is made and what flowtag must report for it.
//!
//! Everything is deterministic: a fixed seed per file (splitmix64), fixed timestamps from
//! 2003-01-15 09:00:00 UTC, ordered maps only, no wall clock.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "packet fields are narrower than the sizes computed here; each value is bounded by the fixture that makes it"
)]
#![allow(clippy::too_many_lines, reason = "scripts of packet exchanges read best top to bottom")]
#![allow(clippy::doc_markdown, reason = "protocol names (NetBIOS, NetLogon, IPsec) are prose here, not code")]
#![allow(
    clippy::many_single_char_names,
    clippy::similar_names,
    reason = "the scripts use t (time), c (connection), f (flow), w (workstation) and req/rep/resp throughout"
)]

mod announced;
mod apps;
mod ber;
mod kerberos;
mod lan;
mod mssql;
mod netbios;
mod pcap;
mod report;
mod rpc;
mod sessions;
mod small;
mod tcp;
mod trace;
mod tunnels;
mod wire;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        bail!("usage: cargo run --example make_fixtures -- <output directory>");
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut built = small::all();
    built.extend(tunnels::all());
    built.push(lan::windows_lan());
    built.sort_by_key(|b| b.file);
    for b in &built {
        let path = dir.join(b.file);
        std::fs::write(&path, &b.bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    report::write_all(&dir, &built)?;
    for b in &built {
        eprintln!("{:<40} {:>6} packets {:>8} bytes", b.file, b.packets, b.bytes.len());
    }
    Ok(())
}

/// The demo capture's file name.
pub const LAN_FILE: &str = "windows-lan.pcap";

/// The start of `fixtures/README.md`; the tables after it are generated.
pub const README_INTRO: &str = include_str!("readme_intro.md");
