//! The Internet protocols' payload checks (`classify::evidence::internet`) on real bytes: the
//! transport payloads of the first 4 packets with payload of each direction of each
//! conversation in the shared corpus, as tshark extracts them, against the protocol tshark
//! names for the same packet. A check of ours must never fire on a packet tshark says is
//! another protocol (except the listed DNS-format siblings); per protocol the test prints how
//! many of tshark's conversations a check recognised.

use crate::support::shared;
use flowtag::classify::evidence::{Proto, inspect};
use flowtag::services::Transport;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The tshark protocol names (the first above TCP/UDP in `frame.protocols`) each of our
/// protocols answers for.
fn tshark_names(p: Proto) -> Option<&'static [&'static str]> {
    Some(match p {
        Proto::Dns => &["dns"],
        Proto::Http => &["http"],
        Proto::Tls => &["tls", "ssl"],
        Proto::Smtp => &["smtp"],
        Proto::Ftp => &["ftp"],
        Proto::Imap => &["imap"],
        Proto::Irc => &["irc"],
        Proto::Telnet => &["telnet"],
        Proto::Dhcp => &["dhcp", "bootp"],
        Proto::Ike => &["isakmp"],
        Proto::Radius => &["radius"],
        Proto::Tftp => &["tftp"],
        Proto::L2tp => &["l2tp"],
        Proto::Rtp => &["rtp", "rtcp"],
        _ => return None,
    })
}

/// The allowed disagreements. Protocols that share DNS's wire format exactly: our DNS check
/// says Dns on them by design, since only the port tells them apart (LLMNR, RFC 4795 §2.1.1;
/// mDNS, RFC 6762 §18). And TLS on TCP 3389, which tshark names tpkt by port: RDP upgrades
/// the connection to TLS after the X.224 exchange (MS-RDPBCGR §5.4.5.1), and the bytes are
/// TLS records.
const DNS_FORMAT: &[&str] = &["llmnr", "mdns"];

fn unhex(s: &str) -> Vec<u8> {
    let s = s.replace(':', "");
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

#[derive(Default)]
struct Conversation {
    /// What tshark named on the packets looked at, and what our checks said.
    tshark: BTreeSet<String>,
    ours: BTreeSet<String>,
}

#[test]
fn evidence_internet_on_the_corpus() {
    let Some(dir) = shared("corpus") else { return };
    if !crate::support::tools("evidence_internet_on_the_corpus", &["tshark"]) {
        return;
    }
    let config = std::env::temp_dir().join(format!("flowtag-evnet-wsconf-{}", std::process::id()));
    std::fs::create_dir_all(&config).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    files.sort();
    assert!(!files.is_empty());

    let mut conversations: BTreeMap<(String, &str, String), Conversation> = BTreeMap::new();
    let mut wrong: Vec<String> = Vec::new();
    let mut excepted: BTreeMap<String, u32> = BTreeMap::new();
    let mut unnamed: Vec<String> = Vec::new();
    let mut looked = 0u32;
    for file in &files {
        let out = Command::new("tshark")
            .env("WIRESHARK_CONFIG_DIR", &config)
            .env("LC_ALL", "C")
            .args(["-n", "-r"])
            .arg(dir.join(file))
            .args([
                "-o",
                "tcp.desegment_tcp_streams:FALSE",
                "-o",
                "ip.defragment:FALSE",
                "-o",
                "ipv6.defragment:FALSE",
                "-E",
                "occurrence=l",
                "-T",
                "fields",
                "-e",
                "frame.protocols",
                "-e",
                "tcp.stream",
                "-e",
                "udp.stream",
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.dstport",
                "-e",
                "udp.srcport",
                "-e",
                "udp.dstport",
                "-e",
                "tcp.payload",
                "-e",
                "udp.payload",
            ])
            .output()
            .unwrap();
        // Damaged captures end with an error after the packets tshark could read.
        let text = String::from_utf8_lossy(&out.stdout);
        let mut seen: BTreeMap<(&str, String, String, String), u32> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let [protocols, tstream, ustream, tsp, tdp, usp, udp_, tpay, upay] = f[..] else { continue };
            // The innermost TCP or UDP header decides, as in labels.tsv.
            let layers: Vec<&str> = protocols.split(':').collect();
            let Some(at) = layers.iter().rposition(|l| *l == "tcp" || *l == "udp") else { continue };
            let (transport, kind, stream, sport, dport, payload) = if layers[at] == "tcp" {
                (Transport::Tcp, "tcp", tstream, tsp, tdp, tpay)
            } else {
                (Transport::Udp, "udp", ustream, usp, udp_, upay)
            };
            if payload.is_empty() {
                continue;
            }
            let count =
                seen.entry((kind, stream.to_owned(), sport.to_owned(), dport.to_owned())).or_default();
            *count += 1;
            if *count > 4 {
                continue;
            }
            looked += 1;
            // What tshark names above the transport, without the layers that name no protocol.
            let above: Vec<&str> = layers[at + 1..]
                .iter()
                .copied()
                .filter(|l| !matches!(*l, "data" | "udpencap" | "f5ethtrailer"))
                .collect();
            let named = above.first().copied().unwrap_or("");
            let ports = (sport.parse().unwrap_or(0), dport.parse().unwrap_or(0));
            let bytes = unhex(payload);
            let conv = conversations.entry((file.clone(), kind, stream.to_owned())).or_default();
            if !named.is_empty() {
                conv.tshark.insert(named.to_owned());
            }
            let Some(e) = inspect(transport, ports, &bytes) else { continue };
            let Some(accepted) = tshark_names(e.proto) else { continue };
            conv.ours.insert(accepted[0].to_owned());
            let what = format!(
                "{file} {kind} stream {stream} {sport}->{dport}: ours {:?}, tshark {protocols}: {:02x?}",
                e.proto,
                &bytes[..bytes.len().min(24)]
            );
            if named.is_empty() {
                unnamed.push(what);
            } else if !above.iter().any(|l| accepted.contains(l)) {
                if (e.proto == Proto::Dns && DNS_FORMAT.contains(&named))
                    || (e.proto == Proto::Tls && named == "tpkt")
                {
                    *excepted.entry(format!("{:?} on {named}", e.proto)).or_default() += 1;
                } else {
                    wrong.push(what);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&config);

    eprintln!("evidence (internet): {looked} payloads looked at in {} files", files.len());
    for (name, n) in &excepted {
        eprintln!("  allowed: {name}, {n} payloads");
    }
    for u in &unnamed {
        eprintln!("  fired where tshark names no protocol: {u}");
    }
    // Recall: of tshark's conversations of each protocol, how many a check recognised.
    let ours: BTreeSet<&str> = Proto::ALL.into_iter().filter_map(|p| tshark_names(p).map(|n| n[0])).collect();
    for name in &ours {
        let of: Vec<_> = conversations.iter().filter(|(_, c)| c.tshark.contains(*name)).collect();
        let hit = of.iter().filter(|(_, c)| c.ours.contains(*name)).count();
        eprintln!("  recall {name}: {hit}/{} conversations", of.len());
        for ((file, kind, stream), c) in of.iter().filter(|(_, c)| !c.ours.contains(*name)) {
            eprintln!("    missed {file} {kind} stream {stream} (tshark {:?}, ours {:?})", c.tshark, c.ours);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} payloads of another protocol recognised:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
