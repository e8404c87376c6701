//! The Windows evidence checks (`classify::evidence::windows`) on real bytes: the transport
//! payloads of the first 4 packets of each direction of every conversation in the shared
//! corpus, as tshark extracts them (no TCP reassembly), judged against the protocols tshark
//! names for the same packet (`frame.protocols`) and against `expected/labels.tsv`.
//!
//! A check of ours may fire only where tshark names that protocol, or, on a packet tshark
//! names no application protocol for, only in a conversation whose labels.tsv family is the
//! check's family (the exceptions are DCE/RPC responses on streams whose bind tshark did not
//! tie to them; they are printed). Recall (conversations of each protocol we recognise) is
//! printed; what stays unrecognised has no message start in its first packets: port-88
//! streams caught mid-way, which tshark still calls kerberos, and one NBSS stream whose only
//! payload is a single byte.

use crate::support::shared;
use flowtag::classify::evidence::{Proto, inspect};
use flowtag::services::Transport;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The windows.rs protocols: tshark's name(s) for the packet, and the labels.tsv family.
fn names(p: Proto) -> Option<(&'static [&'static str], &'static str)> {
    Some(match p {
        Proto::Smb1 => (&["smb"], "smb"),
        Proto::Smb2 => (&["smb2"], "smb"),
        Proto::Nbss => (&["nbss"], "smb"),
        Proto::DceRpcCo | Proto::DceRpcCl => (&["dcerpc"], "dcerpc"),
        // tshark names the client's X.224 connection request `cotp` without `tpkt`.
        Proto::Tpkt => (&["tpkt", "cotp"], "tpkt"),
        Proto::Tds => (&["tds"], "tds"),
        Proto::Kerberos => (&["kerberos"], "kerberos"),
        Proto::Ldap => (&["ldap"], "ldap"),
        Proto::Cldap => (&["cldap"], "ldap"),
        Proto::NbNs => (&["nbns"], "nbns"),
        Proto::NbDgm => (&["nbdgm"], "nbdgm"),
        Proto::Snmp => (&["snmp"], "snmp"),
        _ => return None,
    })
}

/// tshark's names for the protocols above, for the recall table.
const TSHARK: [&str; 12] =
    ["nbss", "smb", "smb2", "dcerpc", "tpkt", "tds", "kerberos", "ldap", "cldap", "nbns", "nbdgm", "snmp"];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn last(field: &str) -> &str {
    field.rsplit(',').next().unwrap_or("")
}

type Endpoints = (String, String, u16, String, u16);

/// labels.tsv: (file, transport, sorted ends) -> family.
fn labels(dir: &Path) -> BTreeMap<(String, Endpoints), String> {
    let text = std::fs::read_to_string(dir.join("expected/labels.tsv")).unwrap();
    let mut out = BTreeMap::new();
    for l in text.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        let ends =
            (f[1].to_owned(), f[2].to_owned(), f[3].parse().unwrap(), f[4].to_owned(), f[5].parse().unwrap());
        out.insert((f[0].to_owned(), ends), f[8].to_owned());
    }
    out
}

#[derive(Default)]
struct Conversation {
    /// Packets taken per direction.
    taken: BTreeMap<(String, u16), usize>,
    /// The protocols tshark names in the packets taken (of those in [`TSHARK`]).
    tshark: BTreeSet<&'static str>,
    /// What our checks said.
    ours: BTreeSet<&'static str>,
    family: Option<String>,
}

#[test]
fn evidence_evwin_on_real_bytes() {
    let Some(dir) = shared("corpus") else { return };
    if !crate::support::tools("evidence_evwin_on_real_bytes", &["tshark"]) {
        return;
    }
    let labels = labels(&dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let mut convs: BTreeMap<(String, &str, String), Conversation> = BTreeMap::new();
    let mut wrong: Vec<String> = Vec::new();
    let mut unnamed: Vec<String> = Vec::new();
    let (mut payloads, mut fired) = (0, 0);
    for path in &files {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let out = Command::new("tshark")
            .args([
                "-r",
                path.to_str().unwrap(),
                "-n",
                "-o",
                "tcp.desegment_tcp_streams:FALSE",
                "-T",
                "fields",
            ])
            .args(
                [
                    "frame.protocols",
                    "tcp.stream",
                    "udp.stream",
                    "tcp.srcport",
                    "tcp.dstport",
                    "udp.srcport",
                    "udp.dstport",
                    "tcp.payload",
                    "udp.payload",
                    "ip.src",
                    "ip.dst",
                    "ipv6.src",
                    "ipv6.dst",
                ]
                .iter()
                .flat_map(|f| ["-e", f]),
            )
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| last(f.get(i).copied().unwrap_or(""));
            let (transport, t, stream, sport, dport, hex) = if get(7).is_empty() {
                (Transport::Udp, "udp", get(2), get(5), get(6), get(8))
            } else {
                (Transport::Tcp, "tcp", get(1), get(3), get(4), get(7))
            };
            if hex.is_empty() {
                continue;
            }
            let (sport, dport): (u16, u16) = (sport.parse().unwrap(), dport.parse().unwrap());
            let (src, dst) = if get(11).is_empty() { (get(9), get(10)) } else { (get(11), get(12)) };
            let conv = convs.entry((file.clone(), t, stream.to_owned())).or_default();
            let n = conv.taken.entry((src.to_owned(), sport)).or_default();
            *n += 1;
            if *n > 4 {
                continue;
            }
            let ends = if (src, sport) <= (dst, dport) {
                (t.to_owned(), src.to_owned(), sport, dst.to_owned(), dport)
            } else {
                (t.to_owned(), dst.to_owned(), dport, src.to_owned(), sport)
            };
            conv.family = labels.get(&(file.clone(), ends)).cloned();
            let protocols: Vec<&str> = f[0].split(':').collect();
            conv.tshark.extend(TSHARK.iter().filter(|n| protocols.contains(n)));
            payloads += 1;
            let payload = unhex(hex);
            let Some(ev) = inspect(transport, (sport, dport), &payload) else { continue };
            let Some((accepted, family)) = names(ev.proto) else { continue };
            fired += 1;
            conv.ours.extend(accepted.iter().copied());
            if ev.proto == Proto::Smb1 || ev.proto == Proto::Smb2 {
                conv.ours.insert("nbss");
            }
            let above = protocols.iter().position(|p| *p == t).map_or(&[][..], |i| &protocols[i + 1..]);
            let note = format!(
                "{file} {t} {src}:{sport} > {dst}:{dport} {:?} on [{}] {}",
                ev.proto,
                f[0],
                &hex[..hex.len().min(48)]
            );
            if accepted.iter().any(|a| above.contains(a)) {
                continue;
            }
            if above.iter().all(|p| *p == "data") && conv.family.as_deref() == Some(family) {
                unnamed.push(note);
            } else {
                wrong.push(note);
            }
        }
    }
    eprintln!("evidence (windows.rs) on the corpus: {payloads} payloads, {fired} recognised");
    eprintln!("recall: conversations tshark names the protocol in (first 4 packets each way), recognised");
    for name in TSHARK {
        // SMB inside NBDGM (browser announcements) is the datagram service's, not SMB's.
        let of: Vec<_> = convs
            .iter()
            .filter(|((_, t, _), c)| c.tshark.contains(name) && !(name.starts_with("smb") && *t == "udp"))
            .map(|(_, c)| c)
            .collect();
        let hit = of.iter().filter(|c| c.ours.contains(name)).count();
        eprintln!("  {name:<9} {hit:>3} / {:>3}", of.len());
    }
    let mut families: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in convs.values() {
        let Some(fam) = c.family.as_deref() else { continue };
        let Some(fam) = ["smb", "dcerpc", "tpkt", "tds", "kerberos", "ldap", "nbns", "nbdgm", "snmp"]
            .into_iter()
            .find(|f| *f == fam)
        else {
            continue;
        };
        let e = families.entry(fam).or_default();
        e.0 += 1;
        let ours = c.ours.iter().any(|n| {
            TSHARK.contains(n)
                && match *n {
                    "nbss" | "smb" | "smb2" => fam == "smb",
                    "cldap" => fam == "ldap",
                    other => fam == other,
                }
        });
        e.1 += usize::from(ours);
    }
    eprintln!("recall by labels.tsv family (tshark streams of that family, recognised):");
    for (fam, (n, hit)) in &families {
        eprintln!("  {fam:<9} {hit:>3} / {n:>3}");
    }
    for u in &unnamed {
        eprintln!("  fired where tshark names no protocol, in a conversation of that family: {u}");
    }
    assert!(wrong.is_empty(), "our checks fired on payloads of another protocol:\n{}", wrong.join("\n"));
}
