//! Label accuracy on the shared corpus, judged against what tshark's dissectors find in every
//! conversation (`../shared/corpus/expected/LABELS.md`): per conversation, the label carrying
//! most of its flow records' bytes is right when the seed service's families contain the
//! conversation's protocol family, wrong when they do not (or the conversation carries a
//! protocol no seed service stands for), missed when there is no label though one was due.
//! The figure of merit is right bytes / (right + wrong + missed) bytes.

use crate::support::shared;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::process::Command;

type Key = (String, (IpAddr, u16), (IpAddr, u16));

fn key(transport: &str, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    (transport.to_owned(), lo, hi)
}

#[derive(Default, Clone, Copy)]
struct Judged {
    right: u64,
    wrong: u64,
    missed: u64,
}

impl Judged {
    fn add(&mut self, o: Judged) {
        self.right += o.right;
        self.wrong += o.wrong;
        self.missed += o.missed;
    }

    #[expect(clippy::cast_precision_loss, reason = "a percentage")]
    fn share(&self, part: u64) -> f64 {
        let all = self.right + self.wrong + self.missed;
        if all == 0 { 100.0 } else { part as f64 * 100.0 / all as f64 }
    }
}

/// Judges every file and returns the totals, printing a line per file.
fn judge_corpus(threads: &str) -> Option<(Judged, Vec<String>)> {
    let dir = shared("corpus")?;
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let families: HashMap<String, Vec<String>> = read("expected/service_families.tsv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .map(|(s, f)| (s.to_owned(), f.split('|').map(str::to_owned).collect()))
        .collect();
    let mut oracle: BTreeMap<String, Vec<(Key, u64, String)>> = BTreeMap::new();
    for l in read("expected/labels.tsv").lines().skip(1) {
        let c: Vec<&str> = l.split('\t').collect();
        let (a, b) =
            ((c[2].parse().unwrap(), c[3].parse().unwrap()), (c[4].parse().unwrap(), c[5].parse().unwrap()));
        oracle.entry(c[0].to_owned()).or_default().push((
            key(c[1], a, b),
            c[6].parse().unwrap(),
            c[8].to_owned(),
        ));
    }
    let tmp = std::env::temp_dir().join(format!("flowtag-labels-{}-{threads}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut total = Judged::default();
    let mut lines = Vec::new();
    for (file, convs) in &oracle {
        let flows = tmp.join("flows.jsonl");
        let st = Command::new(crate::support::bin())
            .args(["read", "--no-progress", "--threads", threads, "-o", "/dev/null", "--flows"])
            .arg(&flows)
            .arg(dir.join(file))
            .status()
            .unwrap();
        assert!(matches!(st.code(), Some(0 | 4)), "{file}: {st:?}");
        // Bytes per label per conversation.
        let mut labels: HashMap<Key, HashMap<Option<String>, u64>> = HashMap::new();
        for line in std::fs::read_to_string(&flows).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            let ip = |k: &str| r[k].as_str().unwrap().parse::<IpAddr>().unwrap();
            let port = |k: &str| u16::try_from(r[k].as_u64().unwrap()).unwrap();
            let transport = r["transport"].as_str().unwrap();
            let t = &r["tunnel"];
            let k = if t["kind"] == "nat_t" {
                // ESP taken out of its UDP flow: tshark names that UDP conversation ESP.
                let end = |ip: &str, port: &str| {
                    (
                        t[ip].as_str().unwrap().parse().unwrap(),
                        u16::try_from(t[port].as_u64().unwrap()).unwrap(),
                    )
                };
                key("udp", end("client_ip", "client_port"), end("server_ip", "server_port"))
            } else if transport == "ip" {
                key("ip", (ip("client_ip"), 0), (ip("server_ip"), 0))
            } else {
                key(transport, (ip("client_ip"), port("client_port")), (ip("server_ip"), port("server_port")))
            };
            let bytes = r["bytes_to_server"].as_u64().unwrap() + r["bytes_to_client"].as_u64().unwrap();
            *labels.entry(k).or_default().entry(r["service"].as_str().map(str::to_owned)).or_default() +=
                bytes;
        }
        let mut here = Judged::default();
        for (k, bytes, family) in convs {
            let label = labels
                .get(k)
                .and_then(|m| m.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))))
                .and_then(|(l, _)| l.clone());
            match (label, family.as_str()) {
                (None, "-") => {}
                (None, _) => here.missed += bytes,
                (Some(l), f) => {
                    let fams =
                        families.get(&l).unwrap_or_else(|| panic!("{l} is not in service_families.tsv"));
                    if fams.iter().any(|x| x == f) {
                        here.right += bytes;
                    } else {
                        here.wrong += bytes;
                    }
                }
            }
        }
        let judged = here.right + here.wrong + here.missed;
        lines.push(if judged == 0 {
            format!("{file}: no judged bytes (only conversations no seed service stands for, unlabelled)")
        } else {
            format!(
                "{file}: right {:.1}% wrong {:.1}% missed {:.1}% of {judged} judged bytes",
                here.share(here.right),
                here.share(here.wrong),
                here.share(here.missed),
            )
        });
        total.add(here);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Some((total, lines))
}

#[test]
fn label_accuracy_on_the_corpus() {
    let Some((total, lines)) = judge_corpus("1") else { return };
    for l in &lines {
        eprintln!("labels: {l}");
    }
    let (right, wrong) = (total.share(total.right), total.share(total.wrong));
    eprintln!(
        "labels: corpus: right {right:.1}%, wrong {wrong:.1}%, missed {:.1}% of {} judged bytes",
        total.share(total.missed),
        total.right + total.wrong + total.missed
    );
    // A ratchet, not the target. Before any payload evidence: 73.7% right, 1.0% wrong of
    // 1,882,908 judged bytes; with the opening window's evidence (issue 15): 76.5% right, 0.1%
    // wrong of 1,880,580; with the ports control channels announce (issue 16): 76.9% right,
    // 0.0% wrong; with flows behind the clock aging on it (ndpi__tftp's transfer, an hour
    // back, was a flow a packet): 78.4% right; with tunnels opened (issue 17: GRE, VXLAN,
    // Teredo, ESP out of NAT-T): 99.5% right, 0.0% wrong. A change that labels worse fails here.
    assert!(right >= 99.4, "right {right:.1}% fell below 99.4%");
    assert!(wrong <= 0.1, "wrong {wrong:.1}% rose above 0.1%");
}
