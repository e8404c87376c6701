//! Capture file writers: classic pcap (µs or ns magic, either byte order) and pcapng (one
//! section, any number of interfaces). Each returns the byte offset of every packet record so
//! that damaged files can be cut at an exact place.

/// A LINKTYPE_ value (tcpdump.org/linktypes.html). DLT 12 and 14 are not LINKTYPE values but
/// some capture files carry them anyway, which is why the reader must accept them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Linktype(pub u32);

impl Linktype {
    pub const NULL: Self = Self(0);
    pub const ETHERNET: Self = Self(1);
    pub const DLT_RAW_12: Self = Self(12);
    pub const DLT_RAW_14: Self = Self(14);
    pub const RAW: Self = Self(101);
    pub const LOOP: Self = Self(108);
    pub const LINUX_SLL: Self = Self(113);
    pub const IPV4: Self = Self(228);
    pub const IPV6: Self = Self(229);
    pub const LINUX_SLL2: Self = Self(276);
}

/// The largest snaplen libpcap writes by default.
pub const SNAPLEN: u32 = 262_144;

/// One packet record as it goes into a file.
pub struct Packet<'a> {
    pub ts_ns: u64,
    pub iface: usize,
    pub data: &'a [u8],
}

#[derive(Clone, Copy)]
pub enum Format {
    Pcap {
        nanos: bool,
        big_endian: bool,
    },
    /// One section; `nanos` sets if_tsresol = 9 on every interface (µs, the default, if not).
    Pcapng {
        nanos: bool,
    },
}

impl Format {
    pub const PCAP: Self = Self::Pcap { nanos: false, big_endian: false };

    pub fn describe(self) -> &'static str {
        match self {
            Self::Pcap { nanos: false, big_endian: false } => "pcap, µs, little-endian",
            Self::Pcap { nanos: true, big_endian: false } => "pcap, ns, little-endian",
            Self::Pcap { nanos: false, big_endian: true } => "pcap, µs, big-endian",
            Self::Pcap { nanos: true, big_endian: true } => "pcap, ns, big-endian",
            Self::Pcapng { nanos: false } => "pcapng, µs",
            Self::Pcapng { nanos: true } => "pcapng, ns (if_tsresol 9)",
        }
    }
}

/// Writes u16/u32 in the file's byte order.
struct Out {
    buf: Vec<u8>,
    big_endian: bool,
}

impl Out {
    fn u16(&mut self, v: u16) {
        let b = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf.extend_from_slice(&b);
    }
    fn u64(&mut self, v: u64) {
        let b = if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        self.buf.extend_from_slice(&b);
    }
    fn pad4(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

/// Writes a whole file; returns the bytes and the offset of each packet record.
pub fn write(format: Format, linktypes: &[Linktype], packets: &[Packet<'_>]) -> (Vec<u8>, Vec<usize>) {
    match format {
        Format::Pcap { nanos, big_endian } => {
            assert_eq!(linktypes.len(), 1, "classic pcap holds one link type");
            write_pcap(nanos, big_endian, linktypes[0], packets)
        }
        Format::Pcapng { nanos } => write_pcapng(nanos, linktypes, packets),
    }
}

fn write_pcap(
    nanos: bool,
    big_endian: bool,
    linktype: Linktype,
    packets: &[Packet<'_>],
) -> (Vec<u8>, Vec<usize>) {
    let mut o = Out { buf: Vec::new(), big_endian };
    // The magic is written in the file's byte order; that is how readers detect it.
    o.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    o.u16(2);
    o.u16(4);
    o.u32(0); // thiszone
    o.u32(0); // sigfigs
    o.u32(SNAPLEN);
    o.u32(linktype.0);
    let mut offsets = Vec::with_capacity(packets.len());
    for p in packets {
        assert_eq!(p.iface, 0);
        offsets.push(o.buf.len());
        let secs = p.ts_ns / 1_000_000_000;
        let frac = p.ts_ns % 1_000_000_000;
        o.u32(u32::try_from(secs).unwrap_or(u32::MAX));
        o.u32((if nanos { frac } else { frac / 1000 }) as u32);
        o.u32(p.data.len() as u32);
        o.u32(p.data.len() as u32);
        o.buf.extend_from_slice(p.data);
    }
    (o.buf, offsets)
}

/// pcapng block: type, total length, body, total length again (pcapng spec section 3.1).
fn block(o: &mut Out, kind: u32, body: impl FnOnce(&mut Out)) {
    let start = o.buf.len();
    o.u32(kind);
    o.u32(0); // patched below
    body(o);
    o.pad4();
    let len = (o.buf.len() - start + 4) as u32;
    o.u32(len);
    let b = if o.big_endian { len.to_be_bytes() } else { len.to_le_bytes() };
    o.buf[start + 4..start + 8].copy_from_slice(&b);
}

fn option(o: &mut Out, code: u16, value: &[u8]) {
    o.u16(code);
    o.u16(value.len() as u16);
    o.buf.extend_from_slice(value);
    o.pad4();
}

fn write_pcapng(nanos: bool, linktypes: &[Linktype], packets: &[Packet<'_>]) -> (Vec<u8>, Vec<usize>) {
    let mut o = Out { buf: Vec::new(), big_endian: false };
    block(&mut o, 0x0a0d_0d0a, |o| {
        o.u32(0x1a2b_3c4d);
        o.u16(1);
        o.u16(0);
        o.u64(u64::MAX); // section length not given
        option(o, 4, b"flowtag examples/make_fixtures"); // shb_userappl
        o.u32(0); // opt_endofopt
    });
    for (i, lt) in linktypes.iter().enumerate() {
        block(&mut o, 1, |o| {
            o.u16(lt.0 as u16);
            o.u16(0);
            o.u32(SNAPLEN);
            option(o, 2, format!("if{i}").as_bytes()); // if_name
            if nanos {
                option(o, 9, &[9]); // if_tsresol: 10^-9
            }
            o.u32(0);
        });
    }
    let mut offsets = Vec::with_capacity(packets.len());
    for p in packets {
        assert!(p.iface < linktypes.len());
        offsets.push(o.buf.len());
        let ts = if nanos { p.ts_ns } else { p.ts_ns / 1000 };
        block(&mut o, 6, |o| {
            o.u32(p.iface as u32);
            o.u32((ts >> 32) as u32);
            o.u32(ts as u32);
            o.u32(p.data.len() as u32);
            o.u32(p.data.len() as u32);
            o.buf.extend_from_slice(p.data);
        });
    }
    (o.buf, offsets)
}
