//! The floors `scripts/bench-compare` measures flowtag against: the cost of only reading a
//! capture's packets, with libpcap (through the `pcap` crate) and with flowtag's own reader,
//! and of reading and decoding them. Each prints its packet count, so a run can be checked.
//!
//!     cargo run --release --example floors -- libpcap|reader|decode FILE

use flowtag::capture::CaptureReader;
use flowtag::decode::{self, Anomalies, Decoded};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, file] = args.as_slice() else {
        eprintln!("usage: floors libpcap|reader|decode FILE");
        return ExitCode::from(2);
    };
    let result = match mode.as_str() {
        "libpcap" => libpcap(file),
        "reader" => reader(file, false),
        "decode" => reader(file, true),
        other => Err(format!("unknown floor {other:?}: libpcap, reader or decode")),
    };
    match result {
        Ok((packets, bytes)) => {
            eprintln!("{packets} packets, {bytes} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floors: {file}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every packet through libpcap's `pcap_next_ex`, touching only its header.
fn libpcap(file: &str) -> Result<(u64, u64), String> {
    let mut cap = pcap::Capture::from_file(file).map_err(|e| e.to_string())?;
    let (mut packets, mut bytes) = (0u64, 0u64);
    loop {
        match cap.next_packet() {
            Ok(p) => {
                packets += 1;
                bytes += u64::from(p.header.len);
            }
            Err(pcap::Error::NoMorePackets) => return Ok((packets, bytes)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Every record through flowtag's reader, and optionally its decoder.
fn reader(file: &str, decode_too: bool) -> Result<(u64, u64), String> {
    let mut r = CaptureReader::open(Path::new(file)).map_err(|e| e.to_string())?;
    let (mut packets, mut bytes, mut ip) = (0u64, 0u64, 0u64);
    while let Some(frame) = r.next_frame().map_err(|e| e.to_string())? {
        packets += 1;
        bytes += u64::from(frame.wire_len);
        if decode_too {
            let mut a = Anomalies::default();
            ip += u64::from(matches!(decode::decode(&frame, &mut a), Decoded::Ip(_)));
        }
    }
    std::hint::black_box(ip);
    Ok((packets, bytes))
}
