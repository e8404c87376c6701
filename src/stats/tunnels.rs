//! The tunnels breakdown: per tunnel, the packets, bytes and inner flows that came through it.
//!
//! What I own: one row per tunnel as both directions see it
//! ([`Level::canonical`](crate::tunnel::Level::canonical)), counted for every tunnel a packet
//! came through (so a packet in VXLAN inside GRE counts in both rows: a breakdown, not an
//! addend of the books), at most [`MAX_TUNNEL_ROWS`] of them, the rest together in
//! [`TunnelBook::over_limit`]; and the packets whose tunnels could not be followed, by
//! [`Problem`].
//!
//! What I must not do: decide anything about packets, or grow without bound: a flood of
//! distinct tunnels (a forged key or address in every packet) costs at most the cap's rows.

use super::Counts;
use crate::tunnel::{Chain, Level, Problem};
use hashbrown::HashMap;

/// Tunnels given a row of their own; the counts of the others go to `over_limit`.
pub const MAX_TUNNEL_ROWS: usize = 4096;

/// One tunnel's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelCounts {
    pub total: Counts,
    /// Inner flows started through it.
    pub flows: u64,
}

impl TunnelCounts {
    fn merge(&mut self, o: &Self) {
        self.total.merge(o.total);
        self.flows += o.flows;
    }
}

#[derive(Clone, Debug, Default)]
pub struct TunnelBook {
    pub rows: HashMap<Level, TunnelCounts>,
    /// The tunnels past [`MAX_TUNNEL_ROWS`], together.
    pub over_limit: TunnelCounts,
    /// Packets whose tunnels could not be followed, by why.
    pub problems: HashMap<Problem, Counts>,
}

impl TunnelBook {
    /// Counts a packet of `wire_len` bytes that came through `chain`; `created`: it started
    /// its flow.
    pub fn count(&mut self, chain: &Chain, wire_len: u32, created: bool) {
        for (i, level) in chain.levels().enumerate() {
            let key = level.canonical();
            // A tunnel nested in itself (GRE in IP in GRE between the same ends, no key: a loop
            // a fuzzer or an attacker writes) is one tunnel the packet came through, counted
            // once: a row's packets are never more than the packets read.
            if chain.levels().take(i).any(|l| l.canonical() == key) {
                continue;
            }
            let room = self.rows.len() < MAX_TUNNEL_ROWS;
            let row = match self.rows.entry(key) {
                hashbrown::hash_map::Entry::Occupied(e) => e.into_mut(),
                hashbrown::hash_map::Entry::Vacant(e) if room => e.insert(TunnelCounts::default()),
                hashbrown::hash_map::Entry::Vacant(_) => &mut self.over_limit,
            };
            row.total.add(wire_len);
            row.flows += u64::from(created);
        }
        if let Some(p) = chain.problem() {
            self.problems.entry(p).or_default().add(wire_len);
        }
    }

    /// Adds another shard's book into this one, within the same cap.
    pub fn merge(&mut self, o: &TunnelBook) {
        for (k, c) in &o.rows {
            let room = self.rows.len() < MAX_TUNNEL_ROWS;
            match self.rows.entry(*k) {
                hashbrown::hash_map::Entry::Occupied(e) => e.into_mut().merge(c),
                hashbrown::hash_map::Entry::Vacant(e) if room => {
                    e.insert(*c);
                }
                hashbrown::hash_map::Entry::Vacant(_) => self.over_limit.merge(c),
            }
        }
        self.over_limit.merge(&o.over_limit);
        for (p, c) in &o.problems {
            self.problems.entry(*p).or_default().merge(*c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Addr;
    use crate::tunnel::{Kind, Tunnel};

    #[test]
    fn a_tunnel_nested_in_itself_counts_once() {
        let gre = Level {
            tunnel: Tunnel { kind: Kind::Gre, key: None },
            src: Addr::v4([192, 0, 2, 0]),
            dst: Addr::v4([198, 51, 100, 1]),
            src_port: 0,
            dst_port: 0,
            proto: 47,
        };
        let mut chain = Chain::NONE;
        assert!(chain.push(gre) && chain.push(gre.reversed()) && chain.push(gre));
        let mut book = TunnelBook::default();
        book.count(&chain, 100, true);
        assert_eq!(book.rows.len(), 1);
        let row = book.rows[&gre.canonical()];
        assert_eq!((row.total.packets, row.total.bytes, row.flows), (1, 100, 1));
    }
}
