//! The capture reader on arbitrary bytes (CATALOGUE.md §5.2 target 2): it ends, after the first
//! error it hands out nothing more, it never returns more records than the bytes could hold,
//! and its error names the records read before the damage.
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
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                records += 1;
                assert!(frame.data.len() <= 262_144, "caplen above libpcap's maximum");
                let mut tags = Anomalies::default();
                let _ = decode(&frame, &mut tags);
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
    assert_eq!(reader.packets(), records);
    assert!(reader.offset() <= len);
});
