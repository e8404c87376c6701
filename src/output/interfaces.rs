//! `flowtag interfaces`: the interfaces libpcap can capture on, numbered as `tcpdump -D` does,
//! with their flags and addresses.

use crate::capture::live::InterfaceInfo;
use std::io::{self, Write};

/// The flags in brackets, as tcpdump shows them.
fn flags(i: &InterfaceInfo) -> String {
    let mut f = Vec::new();
    if i.up {
        f.push("Up");
    }
    if i.running {
        f.push("Running");
    }
    if i.wireless {
        f.push("Wireless");
    }
    if i.loopback {
        f.push("Loopback");
    }
    match i.connected {
        Some(true) => f.push("Connected"),
        Some(false) => f.push("Disconnected"),
        None => {}
    }
    f.join(", ")
}

/// Writes the list.
///
/// # Errors
/// The writer's error.
pub fn write(w: &mut impl Write, list: &[InterfaceInfo]) -> io::Result<()> {
    if list.is_empty() {
        return writeln!(w, "(no interfaces: libpcap found none it can capture on)");
    }
    for (n, i) in list.iter().enumerate() {
        let desc = i.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
        writeln!(w, "{}.{}{desc} [{}]", n + 1, i.name, flags(i))?;
        for (addr, prefix) in &i.addresses {
            match prefix {
                Some(p) => writeln!(w, "    {addr}/{p}")?,
                None => writeln!(w, "    {addr}")?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_tcpdump() {
        let lo = InterfaceInfo {
            name: "lo".into(),
            description: None,
            addresses: vec![("127.0.0.1".parse().unwrap(), Some(8)), ("::1".parse().unwrap(), None)],
            up: true,
            running: true,
            loopback: true,
            wireless: false,
            connected: None,
        };
        let any = InterfaceInfo {
            name: "any".into(),
            description: Some("Pseudo-device that captures on all interfaces".into()),
            addresses: Vec::new(),
            up: true,
            running: true,
            loopback: false,
            wireless: false,
            connected: Some(true),
        };
        let mut out = Vec::new();
        write(&mut out, &[lo, any]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1.lo [Up, Running, Loopback]\n    127.0.0.1/8\n    ::1\n\
             2.any (Pseudo-device that captures on all interfaces) [Up, Running, Connected]\n"
        );
    }
}
