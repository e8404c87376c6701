//! The expected figures: `expected.tsv`, `files.tsv`, `windows-lan.expected.tsv` and
//! `README.md`, all written from the counts the traces kept while their files were made.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::trace::{Built, Count, Transport};

pub fn write_all(dir: &Path, built: &[Built]) -> Result<()> {
    write(dir, "expected.tsv", &expected_tsv(built))?;
    write(dir, "files.tsv", &files_tsv(built))?;
    if let Some(lan) = built.iter().find(|b| b.file == crate::LAN_FILE) {
        write(dir, "windows-lan.expected.tsv", &per_port_tsv(lan))?;
    }
    write(dir, "README.md", &readme(built))?;
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn expected_tsv(built: &[Built]) -> String {
    let mut s = String::from(
        "file\ttransport\tclient\tserver\tpackets_to_server\tbytes_to_server\tpackets_to_client\tbytes_to_client\tservice\tfirst_frame\ttunnel\n",
    );
    for b in built {
        for r in &b.rows {
            let _ = writeln!(
                s,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                b.file,
                r.transport.name(),
                r.client,
                r.server,
                r.to_server.packets,
                r.to_server.bytes,
                r.to_client.packets,
                r.to_client.bytes,
                r.service,
                r.first_frame,
                r.tunnel
            );
        }
        for (name, c) in extra_rows(b) {
            let _ = writeln!(s, "{}\t{name}\t-\t-\t{}\t{}\t0\t0\t-\t-\t-", b.file, c.packets, c.bytes);
        }
    }
    s
}

/// The rows that are not flows, when not empty.
fn extra_rows(b: &Built) -> Vec<(&'static str, Count)> {
    [("other_ip", b.other_ip), ("non_ip", b.non_ip), ("orphan_fragment", b.orphan_fragments)]
        .into_iter()
        .filter(|(_, c)| c.packets > 0)
        .collect()
}

fn linktypes(b: &Built) -> String {
    b.linktypes.iter().map(|l| l.0.to_string()).collect::<Vec<_>>().join(",")
}

fn files_tsv(built: &[Built]) -> String {
    let mut s = String::from(
        "file\tformat\tlinktypes\tpackets\twire_bytes\tfile_size\tflows\tfirst_ts\tlast_ts\tdamage\n",
    );
    for b in built {
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            b.file,
            b.format.describe(),
            linktypes(b),
            b.packets,
            b.wire_bytes,
            b.bytes.len(),
            b.rows.len(),
            epoch(b.first_ts),
            epoch(b.last_ts),
            b.damage.as_deref().unwrap_or("none")
        );
    }
    s
}

/// Seconds since the epoch with nine decimals, as tshark prints frame.time_epoch.
fn epoch(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// Per (transport, server port): flows, packets, bytes, service.
pub struct PortRow {
    pub flows: u64,
    pub count: Count,
    pub service: &'static str,
}

pub fn per_port(b: &Built) -> BTreeMap<(Transport, Option<u16>), PortRow> {
    let mut m: BTreeMap<(Transport, Option<u16>), PortRow> = BTreeMap::new();
    for r in &b.rows {
        let e = m.entry((r.transport, r.server_port)).or_insert(PortRow {
            flows: 0,
            count: Count::default(),
            service: r.service,
        });
        assert_eq!(e.service, r.service, "{}: one server port, two services", b.file);
        e.flows += 1;
        e.count.packets += r.to_server.packets + r.to_client.packets;
        e.count.bytes += r.to_server.bytes + r.to_client.bytes;
    }
    m
}

fn per_port_tsv(b: &Built) -> String {
    let mut s = String::from("transport\tserver_port\tflows\tpackets\tbytes\tservice\n");
    for ((t, port), r) in per_port(b) {
        let port = port.map_or_else(|| "-".to_string(), |p| p.to_string());
        let _ = writeln!(
            s,
            "{}\t{port}\t{}\t{}\t{}\t{}",
            t.name(),
            r.flows,
            r.count.packets,
            r.count.bytes,
            r.service
        );
    }
    for (name, c) in extra_rows(b) {
        let _ = writeln!(s, "{name}\t-\t0\t{}\t{}\t-", c.packets, c.bytes);
    }
    s
}

fn readme(built: &[Built]) -> String {
    let mut s = String::new();
    s.push_str(crate::README_INTRO);
    s.push_str("\n## Files\n\n| file | format, link types | packets | flows | what is in it |\n| --- | --- | --- | --- | --- |\n");
    for b in built {
        let _ = writeln!(
            s,
            "| `{}` | {}; {} | {} | {} | {} |",
            b.file,
            b.format.describe(),
            linktypes(b),
            b.packets,
            b.rows.len(),
            b.what
        );
    }
    s.push_str("\n## What flowtag must produce, file by file\n");
    for b in built {
        let _ = write!(
            s,
            "\n### `{}`\n\n{}\n\n{} whole packets, {} bytes on the wire, {} flow(s).",
            b.file,
            b.what,
            b.packets,
            b.wire_bytes,
            b.rows.len()
        );
        if let Some(d) = &b.damage {
            let _ = write!(
                s,
                " Damage: {d}; the {} packets before it must be read and counted, then the damage reported.",
                b.packets
            );
        }
        s.push('\n');
        if b.file == crate::LAN_FILE {
            s.push_str("\nPer transport and server port (also in `windows-lan.expected.tsv`; every flow is in `expected.tsv`):\n\n| transport | server port | service | flows | packets | bytes |\n| --- | --- | --- | --- | --- | --- |\n");
            for ((t, port), r) in per_port(b) {
                let port = port.map_or_else(|| "-".to_string(), |p| p.to_string());
                let _ = writeln!(
                    s,
                    "| {} | {port} | {} | {} | {} | {} |",
                    t.name(),
                    r.service,
                    r.flows,
                    r.count.packets,
                    r.count.bytes
                );
            }
            for (name, c) in extra_rows(b) {
                let _ = writeln!(s, "| {name} | - | - | - | {} | {} |", c.packets, c.bytes);
            }
            continue;
        }
        // The tunnel column only for files with a tunnelled row (issue 17).
        let tunnels = b.rows.iter().any(|r| r.tunnel != "-");
        let (head, rule, none) = if tunnels { (" tunnel |", " --- |", " - |") } else { ("", "", "") };
        let _ = write!(
            s,
            "\n| transport | client | server | service | to server: packets / bytes | to client: packets / bytes |{head}\n| --- | --- | --- | --- | --- | --- |{rule}\n"
        );
        for r in &b.rows {
            let tunnel = if tunnels { format!(" {} |", r.tunnel) } else { String::new() };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} / {} | {} / {} |{tunnel}",
                r.transport.name(),
                r.client,
                r.server,
                r.service,
                r.to_server.packets,
                r.to_server.bytes,
                r.to_client.packets,
                r.to_client.bytes
            );
        }
        for (name, c) in extra_rows(b) {
            let _ = writeln!(s, "| {name} | - | - | - | {} / {} | - |{none}", c.packets, c.bytes);
        }
    }
    s
}
