//! The capture reader against the shared broken-input catalogue (CATALOGUE §4 A and B) and the
//! shared corpus of real captures. Expected values come from the catalogue text, the generator
//! script and the corpus manifests, not from this reader's output.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use flowtag::capture::{
    CaptureReader, Endian, Linktype, OpenError, OwnedFrame, ReadError, RecordFlags, Timestamp,
};

const BADINPUTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/badinputs");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");

fn shared_dir(dir: &str) -> Option<PathBuf> {
    crate::support::shared(dir.rsplit('/').next().unwrap_or(dir))
}

type Owned = OwnedFrame;

struct Outcome {
    frames: Vec<Owned>,
    error: Option<ReadError>,
    link_types: Vec<Linktype>,
    format: &'static str,
}

fn drain(mut r: CaptureReader) -> Outcome {
    let mut frames = Vec::new();
    let error = loop {
        match r.next_frame() {
            Ok(Some(f)) => frames.push(f.to_owned_frame()),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert!(r.next_frame().unwrap().is_none(), "the end is final");
    Outcome { frames, error, link_types: r.link_types().to_vec(), format: r.format() }
}

fn read_path(path: &Path) -> Result<Outcome, OpenError> {
    CaptureReader::open(path).map(drain)
}

fn read_bytes(bytes: Vec<u8>) -> Result<Outcome, OpenError> {
    let len = bytes.len() as u64;
    CaptureReader::from_reader(Box::new(Cursor::new(bytes)), Some(len)).map(drain)
}

/// What the catalogue requires of one file.
enum Expect {
    /// Exit 3: the open error's text contains this.
    Open(&'static str),
    /// Exit 0: this many frames, then a clean end.
    Clean(usize),
    /// Exit 4: this many frames, then a read error at this offset whose text contains this.
    Partial(usize, u64, &'static str),
}

use Expect::{Clean, Open, Partial};

/// CATALOGUE §4 A (1–25) and B (26–39), by file. Entries with no stored file (#7 gzip, #8 and #39
/// concatenations, #18 the big file) are tested from bytes below or in the unit tests.
const CATALOGUE: &[(&str, Expect)] = &[
    ("empty.pcap", Open("not a capture file (0 bytes)")),
    ("hdr_only.pcap", Clean(0)),
    ("trunc_file_hdr.pcap", Open("truncated file header (10 of 24 bytes)")),
    ("trunc_rec_hdr.pcap", Partial(1, 94, "truncated record after 1 packets")),
    ("trunc_rec_data.pcap", Partial(1, 94, "record data needs 54 bytes, only 20 left")),
    ("not_a_pcap.pcap", Open("unknown file format")),
    ("bad_version.pcap", Open("unsupported pcap version 3.0")),
    ("snaplen0.pcap", Clean(2)),
    ("snaplen_2g.pcap", Clean(1)),
    ("snaplen_small_caplen_bigger.pcap", Clean(2)),
    ("caplen_256k_plus1.pcap", Partial(1, 94, "caplen 262145 is above the maximum 262144")),
    ("caplen_bad_then_valid.pcap", Partial(1, 94, "caplen 262145 is above the maximum")),
    ("caplen_4g.pcap", Partial(1, 94, "caplen 4294967295 is above the maximum")),
    ("caplen_gt_len.pcap", Clean(1)),
    ("caplen0.pcap", Clean(2)),
    ("len_4g_x3.pcap", Clean(3)),
    ("linktype147.pcap", Open("unsupported link-layer type 147 (USER0)")),
    ("linktype_65535.pcap", Open("unsupported link-layer type 65535")),
    ("linktype_raw101.pcap", Clean(1)),
    ("linktype_sll113.pcap", Clean(1)),
    ("linktype_sll2_276.pcap", Clean(1)),
    ("linktype_null0.pcap", Clean(1)),
    ("linktype_fcs_bits.pcap", Clean(1)),
    ("nsec_magic.pcap", Clean(1)),
    ("big_endian.pcap", Clean(8)),
    ("kuznetzov_magic.pcap", Clean(1)),
    ("ng_shb_only.pcapng", Open("no Interface Description Blocks")),
    ("ng_no_packets.pcapng", Clean(0)),
    ("ng_epb_before_idb.pcapng", Open("packet block before any Interface Description Block")),
    ("ng_bad_ifid.pcapng", Partial(0, 48, "a packet arrived on interface 7")),
    // We read unsupported pcapng link types; the pipeline counts them as unsupported (#19).
    ("ng_idb_linktype147.pcapng", Clean(1)),
    ("ng_mixed_linktypes.pcapng", Clean(2)),
    // The IDB's length is 30: damage before the first IDB is an open error (#32 allows 3 or 4).
    ("ng_blocklen_not_mult4.pcapng", Open("block total length 30 is not a multiple of 4")),
    (
        "ng_blocklen_huge.pcapng",
        Partial(0, 48, "block total length 2147483644 is above the maximum 16777216"),
    ),
    ("ng_trailer_mismatch.pcapng", Partial(0, 48, "header 88 and trailer 999 don't match")),
    ("ng_truncated.pcapng", Partial(1, 136, "truncated block after 1 packets")),
    ("ng_epb_caplen_gt_block.pcapng", Partial(0, 48, "captured length 5000 does not fit")),
    ("ng_tsresol_too_high.pcapng", Open("if_tsresol 10^-127 is too high")),
    // Its second section is a valid big-endian SHB with no IDB and no packets, and sections may
    // differ in byte order (pcapng spec §4.1); libpcap fails only because it keeps the first
    // section's byte order. So: section 1's packet, then a clean end (the catalogue said exit 4).
    ("ng_two_sections_mixed_endian.pcapng", Clean(1)),
];

#[test]
fn badinputs_follow_the_catalogue() {
    let Some(dir) = shared_dir(BADINPUTS) else {
        return;
    };
    let mut checked = 0;
    for (name, expect) in CATALOGUE {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        checked += 1;
        let result = read_path(&path);
        match (expect, result) {
            (Open(text), Err(e)) => assert!(e.to_string().contains(text), "{name}: {e}"),
            (Clean(n), Ok(out)) => {
                assert!(out.error.is_none(), "{name}: {:?}", out.error);
                assert_eq!(out.frames.len(), *n, "{name}");
            }
            (Partial(n, offset, text), Ok(out)) => {
                let e = out.error.unwrap_or_else(|| panic!("{name}: no read error"));
                assert_eq!(out.frames.len(), *n, "{name}");
                assert_eq!(e.packets, *n as u64, "{name}");
                assert_eq!(e.offset, *offset, "{name}");
                assert!(e.to_string().contains(text), "{name}: {e}");
            }
            (_, Err(e)) => panic!("{name}: unexpected open error {e}"),
            (_, Ok(out)) => {
                panic!("{name}: unexpected outcome: {} frames, {:?}", out.frames.len(), out.error)
            }
        }
    }
    assert_eq!(checked, CATALOGUE.len(), "every catalogue file is stored");
}

fn clean(dir: &Path, name: &str) -> Outcome {
    let out = read_path(&dir.join(name)).unwrap();
    assert!(out.error.is_none(), "{name}: {:?}", out.error);
    out
}

#[test]
fn badinputs_key_values() {
    let Some(dir) = shared_dir(BADINPUTS) else {
        return;
    };
    let base = clean(&dir, "base.pcap");
    assert_eq!(base.frames.len(), 8);
    assert_eq!(base.format, "pcap");
    // #24: identical frames whatever the byte order, which each frame names.
    let big = clean(&dir, "big_endian.pcap").frames;
    assert!(
        big.iter().all(|f| f.endian == Endian::Big) && base.frames.iter().all(|f| f.endian == Endian::Little)
    );
    let as_little = |f: &OwnedFrame| OwnedFrame { endian: Endian::Little, ..f.clone() };
    assert_eq!(big.iter().map(as_little).collect::<Vec<_>>(), base.frames);
    // #25: the same first packet.
    let kuz = clean(&dir, "kuznetzov_magic.pcap");
    assert_eq!(kuz.format, "pcap-kuznetzov");
    assert_eq!(kuz.frames[0], base.frames[0]);
    // #23: ns precision, never read as 999 s.
    let ns = clean(&dir, "nsec_magic.pcap");
    assert_eq!(ns.format, "pcap-ns");
    assert_eq!(ns.frames[0].ts.0, 1_000_000_000_999_999_999);
    // #15
    let gt = clean(&dir, "caplen_gt_len.pcap");
    assert_eq!((gt.frames[0].data.len(), gt.frames[0].wire_len), (54, 20));
    assert!(gt.frames[0].flags.contains(RecordFlags::LEN_LT_CAPLEN));
    // #17: the byte total is exact in u64.
    let len4g = clean(&dir, "len_4g_x3.pcap");
    for f in &len4g.frames {
        assert_eq!(f.wire_len, u32::MAX);
        assert!(f.flags.contains(RecordFlags::LEN_IMPLAUSIBLE));
    }
    let total: u64 = len4g.frames.iter().map(|f| u64::from(f.wire_len)).sum();
    assert_eq!(total, 12_884_901_885);
    // #12: clipped to the 40-byte snaplen.
    let clipped = clean(&dir, "snaplen_small_caplen_bigger.pcap");
    for (f, wire) in clipped.frames.iter().zip([54, 92]) {
        assert_eq!(f.data.len(), 40);
        assert_eq!(f.wire_len, wire);
        assert!(f.flags.contains(RecordFlags::CLIPPED_TO_SNAPLEN));
    }
    // #16: an empty frame, then a normal one.
    let zero = clean(&dir, "caplen0.pcap");
    assert!(zero.frames[0].data.is_empty());
    assert_eq!(zero.frames[0].wire_len, 60);
    assert_eq!(zero.frames[1], Owned { ts: Timestamp(1_000_000_000_000_000_000), ..base.frames[0].clone() });
    // #22: FCS bits masked; the 4 FCS bytes stay in the data.
    let fcs = clean(&dir, "linktype_fcs_bits.pcap");
    assert_eq!(fcs.link_types, [Linktype::ETHERNET]);
    assert_eq!(fcs.frames[0].linktype, Linktype::ETHERNET);
    assert_eq!(fcs.frames[0].data.len(), 58);
    // #21
    for (name, lt) in [
        ("linktype_raw101.pcap", Linktype::RAW),
        ("linktype_sll113.pcap", Linktype::LINUX_SLL),
        ("linktype_sll2_276.pcap", Linktype::LINUX_SLL2),
        ("linktype_null0.pcap", Linktype::NULL),
    ] {
        assert_eq!(clean(&dir, name).frames[0].linktype, lt, "{name}");
    }
    // #30: read, with the link type the pipeline will count as unsupported.
    let u147 = clean(&dir, "ng_idb_linktype147.pcapng");
    assert_eq!(u147.frames[0].linktype, Linktype(147));
    assert_eq!(u147.link_types, [Linktype(147)]);
    // #31: each packet with its own interface's link type.
    let mixed = clean(&dir, "ng_mixed_linktypes.pcapng");
    let types: Vec<_> = mixed.frames.iter().map(|f| f.linktype).collect();
    assert_eq!(types, [Linktype::ETHERNET, Linktype::RAW]);
    assert_eq!(mixed.link_types, [Linktype::ETHERNET, Linktype::RAW]);
    // The pcapng baseline carries the same packets as base.pcap.
    let ng = clean(&dir, "ng_base.pcapng");
    assert_eq!(ng.format, "pcapng");
    let data = |o: &Outcome| o.frames.iter().map(|f| f.data.clone()).collect::<Vec<_>>();
    assert_eq!(data(&ng), data(&base));
    // #38: section 1's packet is base's first.
    let two = clean(&dir, "ng_two_sections_mixed_endian.pcapng");
    assert_eq!(two.frames[0].data, base.frames[0].data);
    // #71, #72: flagged, not fatal.
    let huge = clean(&dir, "ts_huge.pcap");
    assert!(huge.frames[0].flags.contains(RecordFlags::BAD_TIMESTAMP));
    assert_eq!(huge.frames[0].ts.0, 0xFFFF_FFFF * 1_000_000_000 + 999_999_000);
    assert!(!huge.frames[1].flags.contains(RecordFlags::BAD_TIMESTAMP));
    let usec = clean(&dir, "usec_overflow.pcap");
    assert!(usec.frames.iter().all(|f| f.flags.contains(RecordFlags::BAD_TIMESTAMP)));
    assert_eq!(usec.frames[1].ts.0, 1_000_000_001_000_000_000);
}

#[test]
fn concatenated_inputs() {
    let Some(dir) = shared_dir(BADINPUTS) else {
        return;
    };
    // #8: no resync. The second header reads as a caplen-0 record, then a record whose caplen is
    // the first record's seconds (1,000,000,000).
    let base = std::fs::read(dir.join("base.pcap")).unwrap();
    let out = read_bytes([base.clone(), base.clone()].concat()).unwrap();
    assert_eq!(out.frames.len(), 9);
    assert!(out.frames[8].data.is_empty());
    let e = out.error.unwrap();
    assert_eq!((e.packets, e.offset), (9, base.len() as u64 + 16));
    assert!(e.to_string().contains("caplen 1000000000 is above the maximum 262144"), "{e}");
    // #39: multiple sections are legal.
    let ng = std::fs::read(dir.join("ng_base.pcapng")).unwrap();
    let out = read_bytes([ng.clone(), ng].concat()).unwrap();
    assert!(out.error.is_none());
    assert_eq!(out.frames.len(), 16);
    // #7
    let gz = [&[0x1F_u8, 0x8B, 0x08, 0x00][..], &base].concat();
    let e = read_bytes(gz).err().unwrap();
    assert_eq!(e.to_string(), "compressed (gzip)? try: zcat FILE | flowtag read -");
}

/// Reads a TSV with a header row into (header, rows).
fn tsv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = lines.next().unwrap().split('\t').map(str::to_owned).collect();
    let rows = lines.map(|l| l.split('\t').map(str::to_owned).collect()).collect();
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

#[test]
fn corpus_reads_with_the_manifest_counts() {
    let Some(dir) = shared_dir(CORPUS) else {
        return;
    };
    let (mh, manifest) = tsv(&dir.join("MANIFEST.tsv"));
    let (sh, summary) = tsv(&dir.join("expected/summary.tsv"));
    let (m_file, m_packets) = (column(&mh, "file"), column(&mh, "packets"));
    assert_eq!(m_packets, 6, "packets is the 7th column");
    let (s_file, s_frames) = (column(&sh, "file"), column(&sh, "frames"));
    let (s_frame_bytes, s_cap_bytes) = (column(&sh, "frame_bytes"), column(&sh, "cap_bytes"));
    let damaged = ["suricata__smtp-to-comma.pcap", "derived__ndpi__smb_deletefile.cut-mid-packet.pcap"];
    assert_eq!(manifest.len(), 60);
    for row in &manifest {
        let name = &row[m_file];
        let packets: usize = row[m_packets].parse().unwrap();
        let sums = summary
            .iter()
            .find(|s| &s[s_file] == name)
            .unwrap_or_else(|| panic!("{name} not in summary.tsv"));
        let out = read_path(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.frames.len(), packets, "{name}");
        assert_eq!(out.frames.len(), sums[s_frames].parse::<usize>().unwrap(), "{name}");
        if damaged.contains(&name.as_str()) {
            let e = out.error.unwrap_or_else(|| panic!("{name}: no read error"));
            assert_eq!(e.packets, packets as u64, "{name}");
        } else {
            assert!(out.error.is_none(), "{name}: {:?}", out.error);
        }
        let wire: u64 = out.frames.iter().map(|f| u64::from(f.wire_len)).sum();
        let cap: u64 = out.frames.iter().map(|f| f.data.len() as u64).sum();
        assert_eq!(wire, sums[s_frame_bytes].parse::<u64>().unwrap(), "{name} frame_bytes");
        assert_eq!(cap, sums[s_cap_bytes].parse::<u64>().unwrap(), "{name} cap_bytes");
    }
}

#[test]
fn corpus_damaged_files_stop_where_expected() {
    let Some(dir) = shared_dir(CORPUS) else {
        return;
    };
    let out = read_path(&dir.join("suricata__smtp-to-comma.pcap")).unwrap();
    assert_eq!(out.frames.len(), 18);
    let e = out.error.unwrap();
    assert_eq!(e.kind.what(), "bad record");
    assert!(e.to_string().contains("caplen 3925868813"), "{e}");
    let out = read_path(&dir.join("derived__ndpi__smb_deletefile.cut-mid-packet.pcap")).unwrap();
    assert_eq!(out.frames.len(), 50);
    assert_eq!(out.error.unwrap().kind.what(), "truncated record");
}
