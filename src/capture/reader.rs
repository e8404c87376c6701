//! Placeholder: the pcap/pcapng reader is being written.
