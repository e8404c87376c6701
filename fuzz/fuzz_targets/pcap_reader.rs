//! The capture reader on arbitrary bytes (CATALOGUE.md §5.2 target 2): it ends, after the first
//! error it hands out nothing more, it never returns more records than the bytes could hold,
//! and its error names the records read before the damage. Frames are read in pinned batches
//! (as one thread counts them): every frame of a batch is still where it was read when the
//! batch ends.
#![no_main]

use flowtag::capture::CaptureReader;
use flowtag::decode::{Anomalies, decode};
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let Ok(mut reader) = CaptureReader::from_reader(Box::new(Cursor::new(data.to_vec())), Some(len)) else {
        return;
    };
    let mut records = 0u64;
    // A batch size from the input's length, so that every size gets its turn.
    let batch = 1 + (data.len() % 40);
    let mut kept: Vec<(usize, Vec<u8>)> = Vec::new();
    let check = |reader: &CaptureReader, kept: &[(usize, Vec<u8>)]| {
        let pinned = reader.pinned();
        for (at, bytes) in kept {
            assert_eq!(pinned.get(*at..at + bytes.len()), Some(&bytes[..]), "a pinned frame moved");
        }
    };
    reader.pin();
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                records += 1;
                assert!(frame.data.len() <= 262_144, "caplen above libpcap's maximum");
                let mut tags = Anomalies::default();
                let _ = decode(&frame, &mut tags);
                let bytes = frame.data.to_vec();
                kept.push((reader.last_at().expect("pinned"), bytes));
                if kept.len() == batch {
                    check(&reader, &kept);
                    kept.clear();
                    reader.pin();
                }
            }
            Ok(None) => break,
            Err(e) => {
                assert_eq!(e.packets, records);
                assert!(e.to_string().contains(&format!("after {records} packets")), "{e}");
                assert!(e.offset <= len, "offset {} past the input's {len} bytes", e.offset);
                // Nothing after the damage is trusted: the reader is done for good.
                assert!(matches!(reader.next_frame(), Ok(None)));
                assert!(matches!(reader.next_frame(), Ok(None)));
                break;
            }
        }
        // A pcap record takes at least 16 bytes of input, a pcapng packet block 16.
        assert!(records * 12 <= len, "{records} records from {len} bytes");
    }
    check(&reader, &kept);
    assert_eq!(reader.packets(), records);
    assert!(reader.offset() <= len);
});
