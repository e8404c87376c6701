//! BPF filters on capture files: compiled by libpcap for each link type and byte order a file
//! uses, and run by libpcap's own interpreter (`pcap_offline_filter`), so `--filter` means
//! exactly what it means to tcpdump reading the same file.
//!
//! libpcap compiles differently for a savefile than for `pcap_open_dead` (which it treats as a
//! live capture): on NULL and LOOP, `ip6` matches all three BSD values of `AF_INET6` (24, 28,
//! 30) only for a savefile, and the NULL family is byte-swapped only for a savefile written on
//! a machine of the other byte order. It also takes the file's LINKTYPE through its own
//! `linktype_to_dlt` (LINKTYPE 101 is `DLT_RAW`, 12 on Linux and 14 on OpenBSD) where
//! `pcap_open_dead` wants the platform's DLT. So each program is compiled on a real savefile
//! handle: libpcap opens a 24-byte pcap file header with the frame's link type and byte order.

use super::{Endian, Frame, Linktype};
use pcap::{BpfProgram, Capture, Offline};
use std::io::Write;
use std::path::Path;

/// A compiled `--filter` expression.
pub struct Filter {
    expr: String,
    /// Programs compiled so far, one per link type and byte order (a pcapng file may mix them).
    programs: Vec<(Linktype, Endian, BpfProgram)>,
}

/// A filter expression libpcap would not compile for a link type.
#[derive(Debug, thiserror::Error)]
#[error("expression '{expr}' cannot be compiled for link type {linktype}: {message}")]
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
        f.program(Linktype::ETHERNET, Endian::HOST)?;
        Ok(f)
    }

    fn program(&mut self, linktype: Linktype, endian: Endian) -> Result<&BpfProgram, FilterError> {
        let pos = if let Some(p) = self.programs.iter().position(|(l, e, _)| (*l, *e) == (linktype, endian)) {
            p
        } else {
            let prog = compile(&self.expr, linktype, endian).map_err(|message| FilterError {
                expr: self.expr.clone(),
                linktype,
                message,
            })?;
            self.programs.push((linktype, endian, prog));
            self.programs.len() - 1
        };
        Ok(&self.programs[pos].2)
    }

    /// Whether the frame passes.
    ///
    /// # Errors
    /// The expression does not compile for this frame's link type.
    pub fn matches(&mut self, frame: &Frame<'_>) -> Result<bool, FilterError> {
        Ok(self.program(frame.linktype, frame.endian)?.filter(frame.data))
    }
}

/// The LINKTYPE written in the header libpcap compiles against. flowtag decodes link types 12
/// and 14 as raw IP (the `DLT_RAW` of most BSDs and of OpenBSD, written by libpcaps that stored
/// DLT values in files); libpcap would take them as this platform's DLT 12 and 14 (on Linux,
/// raw IP and nothing; on OpenBSD, loopback and raw IP), so they are named LINKTYPE_RAW here:
/// the filter then sees the packets as the decoder does.
fn header_linktype(linktype: Linktype) -> u32 {
    match linktype {
        Linktype::RAW_DLT12 | Linktype::RAW_DLT14 => Linktype::RAW.0,
        l => l.0,
    }
}

/// A pcap file header (µs, version 2.4, snaplen 262,144) in `endian` order.
fn savefile_header(linktype: Linktype, endian: Endian) -> [u8; 24] {
    let mut h = [0u8; 24];
    let fields: [(usize, &[u8]); 5] = match endian {
        Endian::Little => [
            (0, &0xa1b2_c3d4u32.to_le_bytes()),
            (4, &2u16.to_le_bytes()),
            (6, &4u16.to_le_bytes()),
            (16, &262_144u32.to_le_bytes()),
            (20, &header_linktype(linktype).to_le_bytes()),
        ],
        Endian::Big => [
            (0, &0xa1b2_c3d4u32.to_be_bytes()),
            (4, &2u16.to_be_bytes()),
            (6, &4u16.to_be_bytes()),
            (16, &262_144u32.to_be_bytes()),
            (20, &header_linktype(linktype).to_be_bytes()),
        ],
    };
    for (at, bytes) in fields {
        h[at..at + bytes.len()].copy_from_slice(bytes);
    }
    h
}

fn compile(expr: &str, linktype: Linktype, endian: Endian) -> Result<BpfProgram, String> {
    let header = savefile_header(linktype, endian);
    let cap = open_savefile(&header)?;
    // libpcap's optimizer refuses a program that rejects everything ("expression rejects all
    // packets", and tcpdump with it): `ip6` on LINKTYPE_IPV4 is such a program. The expression
    // is still good, for the other link types of a pcapng file and the other inputs, and passes
    // nothing here, which the unoptimized program does.
    cap.compile(expr, true).or_else(|e| cap.compile(expr, false).map_err(|_| e.to_string()))
}

/// libpcap opens the header as a savefile: through a pipe where `/dev/fd` exists (nothing is
/// written to disk), else through a temporary file removed at once.
fn open_savefile(header: &[u8; 24]) -> Result<Capture<Offline>, String> {
    #[cfg(unix)]
    if let Ok(cap) = through_pipe(header) {
        return Ok(cap);
    }
    through_temp_file(header)
}

#[cfg(unix)]
fn through_pipe(header: &[u8; 24]) -> std::io::Result<Capture<Offline>> {
    use std::os::fd::AsRawFd;
    let (reader, mut writer) = std::io::pipe()?;
    // 24 bytes fit in any pipe buffer, and closing the writer gives libpcap its EOF.
    writer.write_all(header)?;
    drop(writer);
    let path = format!("/dev/fd/{}", reader.as_raw_fd());
    Capture::from_file(&path).map_err(std::io::Error::other)
}

fn through_temp_file(header: &[u8; 24]) -> Result<Capture<Offline>, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("flowtag-filter-{}-{}.pcap", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let path = std::env::temp_dir().join(name);
    let fail = |e: &dyn std::fmt::Display| format!("cannot give libpcap a file header: {e}");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(header))
        .map_err(|e| fail(&e))?;
    let cap = Capture::from_file(Path::new(&path)).map_err(|e| fail(&e));
    let _ = std::fs::remove_file(&path);
    cap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::RecordFlags;
    use crate::capture::Timestamp;

    fn frame(linktype: Linktype, endian: Endian, data: &[u8]) -> Frame<'_> {
        let wire_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        Frame { ts: Timestamp(0), wire_len, linktype, data, flags: RecordFlags::default(), endian }
    }

    /// An IPv4 header (protocol TCP) and a TCP header from port 1234 to 445.
    fn ipv4_tcp() -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        p.extend_from_slice(&[
            0x04, 0xd2, 0x01, 0xbd, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        p
    }

    /// An IPv6 header (next header TCP) and the same TCP header.
    fn ipv6_tcp() -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&ipv4_tcp()[20..]);
        p
    }

    fn with_family(family: [u8; 4], l3: &[u8]) -> Vec<u8> {
        let mut v = family.to_vec();
        v.extend_from_slice(l3);
        v
    }

    fn passes(expr: &str, linktype: Linktype, endian: Endian, data: &[u8]) -> bool {
        Filter::new(expr).and_then(|mut f| f.matches(&frame(linktype, endian, data))).unwrap_or_else(|e| {
            panic!("{e}");
        })
    }

    #[test]
    fn raw_ip_link_types_compile_as_raw_ip() {
        for lt in [Linktype::RAW, Linktype::RAW_DLT12, Linktype::RAW_DLT14] {
            assert!(passes("tcp port 445", lt, Endian::Little, &ipv4_tcp()), "{lt}");
            assert!(passes("ip6 and tcp port 445", lt, Endian::Little, &ipv6_tcp()), "{lt}");
            assert!(!passes("ip6", lt, Endian::Little, &ipv4_tcp()), "{lt}");
        }
        assert!(passes("ip", Linktype::IPV4, Endian::Little, &ipv4_tcp()));
        assert!(passes("ip6", Linktype::IPV6, Endian::Little, &ipv6_tcp()));
    }

    #[test]
    fn an_expression_that_rejects_a_whole_link_type_passes_nothing() {
        assert!(!passes("ip6", Linktype::IPV4, Endian::Little, &ipv4_tcp()));
        assert!(!passes("not ip", Linktype::IPV4, Endian::Little, &ipv4_tcp()));
        assert!(!passes("ip", Linktype::IPV6, Endian::Little, &ipv6_tcp()));
    }

    #[test]
    fn null_matches_every_bsd_inet6_in_the_writers_byte_order() {
        for af in [24u32, 28, 30] {
            let le = with_family(af.to_le_bytes(), &ipv6_tcp());
            let be = with_family(af.to_be_bytes(), &ipv6_tcp());
            assert!(passes("ip6", Linktype::NULL, Endian::Little, &le), "AF {af} little-endian");
            assert!(passes("ip6", Linktype::NULL, Endian::Big, &be), "AF {af} big-endian");
            // tcpdump reads the family in the file's order, never guessing.
            assert!(!passes("ip6", Linktype::NULL, Endian::Big, &le), "AF {af} swapped");
            assert!(passes("ip6", Linktype::LOOP, Endian::Little, &be), "LOOP AF {af}");
        }
        let v4_be = with_family(2u32.to_be_bytes(), &ipv4_tcp());
        assert!(passes("ip and tcp port 445", Linktype::NULL, Endian::Big, &v4_be));
        assert!(!passes("ip", Linktype::NULL, Endian::Little, &v4_be));
    }

    #[test]
    fn an_expression_a_link_type_cannot_have_is_an_error_naming_both() {
        let mut f = Filter::new("ether host 02:00:00:00:00:01").unwrap_or_else(|e| panic!("{e}"));
        let e = f.matches(&frame(Linktype::RAW, Endian::Little, &ipv4_tcp())).err();
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with(
                "expression 'ether host 02:00:00:00:00:01' cannot be compiled for link type 101 (RAW): "
            ),
            "{text}"
        );
        let e = Filter::new("ip").and_then(|mut f| f.matches(&frame(Linktype(147), Endian::Little, &[0; 8])));
        assert!(e.is_err(), "USER0 has no IP");
    }

    #[test]
    fn the_temporary_file_way_compiles_the_same() {
        let cap = through_temp_file(&savefile_header(Linktype::NULL, Endian::Big))
            .unwrap_or_else(|e| panic!("{e}"));
        let prog = cap.compile("ip6", true).unwrap_or_else(|e| panic!("{e}"));
        assert!(prog.filter(&with_family(28u32.to_be_bytes(), &ipv6_tcp())));
        assert!(!prog.filter(&with_family(28u32.to_le_bytes(), &ipv6_tcp())));
    }
}
