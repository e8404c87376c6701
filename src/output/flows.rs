//! The `--flows` file: one record per flow, written as flows end (JSON lines, or CSV when the
//! path ends in `.csv`). Keys are documented in the README ("Flow records").

use super::csv::field;
use crate::flow::{FlowRecord, TO_CLIENT, TO_SERVER};
use crate::services::{ServiceTable, Transport};
use serde::Serialize;
use std::io::{self, Write};

/// The format of the flow file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FlowFormat {
    JsonLines,
    Csv,
}

#[derive(Serialize)]
struct Line<'a> {
    start: f64,
    end: f64,
    transport: &'static str,
    ip_proto: u8,
    client_ip: String,
    client_port: Option<u16>,
    server_ip: String,
    server_port: Option<u16>,
    vlan: u16,
    service: Option<&'a str>,
    candidates: Vec<&'a str>,
    decided_by: &'static str,
    packets_to_server: u64,
    bytes_to_server: u64,
    packets_to_client: u64,
    bytes_to_client: u64,
    tcp_state: Option<&'static str>,
    handshake_rtt_ms: Option<f64>,
    fragments: u64,
    end_reason: &'static str,
}

impl<'a> Line<'a> {
    fn of(table: &'a ServiceTable, rec: &FlowRecord) -> Self {
        let has_ports = rec.transport() != Transport::Ip;
        Line {
            start: secs(rec.start.0),
            end: secs(rec.end.0),
            transport: rec.transport().as_str(),
            ip_proto: rec.proto,
            client_ip: rec.client.to_ip().to_string(),
            client_port: has_ports.then_some(rec.client_port),
            server_ip: rec.server.to_ip().to_string(),
            server_port: has_ports.then_some(rec.server_port),
            vlan: rec.vlan,
            service: rec.verdict.service.map(|s| table.name(s)),
            candidates: candidates(table, rec),
            decided_by: rec.verdict.decided_by.as_str(),
            packets_to_server: rec.packets[TO_SERVER],
            bytes_to_server: rec.bytes[TO_SERVER],
            packets_to_client: rec.packets[TO_CLIENT],
            bytes_to_client: rec.bytes[TO_CLIENT],
            tcp_state: rec.tcp_state(),
            handshake_rtt_ms: rtt_ms(rec),
            fragments: rec.fragments,
            end_reason: rec.end_reason.as_str(),
        }
    }
}

const CSV_HEADER: &str = "start,end,transport,ip_proto,client_ip,client_port,server_ip,server_port,vlan,\
service,candidates,decided_by,packets_to_server,bytes_to_server,packets_to_client,bytes_to_client,\
tcp_state,handshake_rtt_ms,fragments,end_reason";

/// Writes flow records to `W`.
pub struct FlowWriter<'t, W: Write> {
    out: W,
    format: FlowFormat,
    table: &'t ServiceTable,
    written: u64,
}

#[expect(clippy::cast_precision_loss, reason = "epoch seconds with µs precision fit in f64")]
fn secs(ns: u64) -> f64 {
    (ns / 1_000) as f64 / 1e6
}

/// The handshake round trip in ms, rounded to the µs.
#[expect(clippy::cast_precision_loss, reason = "RTT in ms for display")]
fn rtt_ms(rec: &FlowRecord) -> Option<f64> {
    rec.handshake_rtt.map(|ns| (ns as f64 / 1000.0).round() / 1000.0)
}

/// Every service the table lists for the flow's server port; for other IP protocols, the
/// flow's own service.
fn candidates<'t>(table: &'t ServiceTable, rec: &FlowRecord) -> Vec<&'t str> {
    match rec.transport() {
        Transport::Ip => rec.verdict.service.map(|s| table.name(s)).into_iter().collect(),
        t => table.candidates(t, rec.server_port).iter().map(|&c| table.name(c)).collect(),
    }
}

impl<'t, W: Write> FlowWriter<'t, W> {
    /// A writer; the CSV header is written at once.
    ///
    /// # Errors
    /// The writer's error.
    pub fn new(mut out: W, format: FlowFormat, table: &'t ServiceTable) -> io::Result<Self> {
        if format == FlowFormat::Csv {
            writeln!(out, "{CSV_HEADER}")?;
        }
        Ok(Self { out, format, table, written: 0 })
    }

    /// Writes one record.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write(&mut self, rec: &FlowRecord) -> io::Result<()> {
        match self.format {
            FlowFormat::JsonLines => {
                let line = Line::of(self.table, rec);
                serde_json::to_writer(&mut self.out, &line).map_err(io::Error::from)?;
                self.out.write_all(b"\n")?;
            }
            FlowFormat::Csv => self.write_csv(rec)?,
        }
        self.written += 1;
        Ok(())
    }

    fn write_csv(&mut self, rec: &FlowRecord) -> io::Result<()> {
        let has_ports = rec.transport() != Transport::Ip;
        let port = |p: u16| if has_ports { p.to_string() } else { String::new() };
        writeln!(
            self.out,
            "{:.6},{:.6},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            secs(rec.start.0),
            secs(rec.end.0),
            rec.transport().as_str(),
            rec.proto,
            rec.client.to_ip(),
            port(rec.client_port),
            rec.server.to_ip(),
            port(rec.server_port),
            rec.vlan,
            field(rec.verdict.service.map_or("", |s| self.table.name(s))),
            field(&candidates(self.table, rec).join("; ")),
            rec.verdict.decided_by.as_str(),
            rec.packets[TO_SERVER],
            rec.bytes[TO_SERVER],
            rec.packets[TO_CLIENT],
            rec.bytes[TO_CLIENT],
            rec.tcp_state().unwrap_or(""),
            rtt_ms(rec).map_or(String::new(), |v| v.to_string()),
            rec.fragments,
            rec.end_reason.as_str(),
        )
    }

    /// Records written.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Pushes buffered records to the writer (a live run does this every refresh, so the
    /// file is current while flows keep ending).
    ///
    /// # Errors
    /// The writer's error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the writer.
    ///
    /// # Errors
    /// The writer's error.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
