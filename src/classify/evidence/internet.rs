//! Checks for the Internet protocols the seed table lists: DNS, HTTP, TLS, SMTP, FTP, IMAP,
//! IRC, Telnet, DHCP, IKE, RADIUS, TFTP, L2TP, RTP.

use super::Evidence;

/// A TCP payload.
#[must_use]
pub fn tcp(payload: &[u8]) -> Option<Evidence> {
    let _ = payload;
    None
}

/// A UDP payload; `ports` (source, destination) is a hint for the weak checks (TFTP, RTP).
#[must_use]
pub fn udp(ports: (u16, u16), payload: &[u8]) -> Option<Evidence> {
    let _ = (ports, payload);
    None
}
