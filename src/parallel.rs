//! Parallel: one input stream read and decoded on the calling thread, flows counted on worker
//! threads, each owning the flows of a share of the address pairs.
//!
//! What I own: sharding (by the unordered pair of IP addresses, so both directions of a flow
//! and every fragment of a datagram meet in the same shard), batching, the input's one clock
//! (workers expire flows on it, so a quiet shard still ages), and merging the shards' counters
//! at the end. The report is the one a single pipeline makes, as long as no shard fills its
//! share of `--max-flows` (the cap is split evenly) or of the fragment table; flow records are
//! the same set, in an order that interleaves the shards.
//!
//! What I must not do: count anything myself beyond what a [`Pipeline`] counts, or share
//! mutable state between threads: workers get batches and send back finished flows.

use crate::capture::{Frame, Timestamp};
use crate::decode::{Addr, Anomalies, Decoded};
use crate::flow::{FlowConfig, FlowCounters, FlowRecord, WARM};
use crate::pipeline::{Clock, Packet, Pipeline};
use crate::services::ServiceTable;
use crate::stats::Stats;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

/// Packets per batch: large enough to make a channel send rare, small enough to stay in L2.
const BATCH: usize = 1024;
/// Batches a worker may have queued before the reader waits for it.
const QUEUE: usize = 4;
/// Flow records a worker sends at a time when it ends its flows at the end of input.
const FINISH_CHUNK: usize = 4096;

/// What a run counted, whichever way it ran.
pub struct Outcome {
    pub stats: Stats,
    pub flows: FlowCounters,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

/// A pipeline on this thread, or one split across worker threads.
pub enum Engine<'scope, 't> {
    Single(Box<Single<'t>>),
    Sharded(Box<Sharded<'scope>>),
}

impl<'scope, 't: 'scope> Engine<'scope, 't> {
    /// `threads` counts this thread too: 1 runs everything here; N > 1 runs N - 1 workers.
    #[must_use]
    pub fn new(
        scope: &'scope Scope<'scope, '_>,
        table: &'t ServiceTable,
        cfg: FlowConfig,
        threads: usize,
    ) -> Self {
        if threads <= 1 {
            Engine::Single(Box::new(Single { pipeline: Pipeline::new(table, cfg), pending: Vec::new() }))
        } else {
            Engine::Sharded(Box::new(Sharded::new(scope, table, cfg, threads - 1)))
        }
    }
}

impl Engine<'_, '_> {
    /// Counts a frame that passed the filter; flows that ended go to `on_end`. Returns the
    /// frame's anomaly tags (already counted), for callers that warn about some.
    pub fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) -> Anomalies {
        match self {
            Engine::Single(s) => s.push(frame, on_end),
            Engine::Sharded(s) => s.push(frame, on_end),
        }
    }

    /// Counts a frame the filter left out.
    pub fn filtered_out(&mut self) {
        match self {
            Engine::Single(s) => s.pipeline.filtered_out(),
            Engine::Sharded(s) => s.local.filtered_out += 1,
        }
    }

    /// Ends every flow and returns the merged counters.
    pub fn finish(self, on_end: &mut impl FnMut(&FlowRecord)) -> Outcome {
        match self {
            Engine::Single(s) => {
                let Single { mut pipeline, pending } = *s;
                pipeline.push_batch(&pending, on_end);
                pipeline.finish(on_end);
                let Pipeline { flows, stats, first_ts, last_ts, .. } = pipeline;
                Outcome { stats, flows: flows.counters, first_ts, last_ts }
            }
            Engine::Sharded(s) => (*s).finish(on_end),
        }
    }
}

/// One pipeline on this thread, fed [`WARM`] decoded packets at a time (see
/// [`Pipeline::push_batch`]).
pub struct Single<'t> {
    pipeline: Pipeline<'t>,
    pending: Vec<Packet>,
}

impl Single<'_> {
    fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) -> Anomalies {
        let packet = self.pipeline.decode(frame);
        self.pending.push(packet);
        if self.pending.len() == WARM {
            self.pipeline.push_batch(&self.pending, on_end);
            self.pending.clear();
        }
        packet.anomalies
    }
}

struct Batch {
    packets: Vec<Packet>,
    /// The input's clock after this batch was read.
    clock: Timestamp,
}

struct Returned {
    packets: Vec<Packet>,
    ended: Vec<FlowRecord>,
}

/// The reader side of a sharded run.
pub struct Sharded<'scope> {
    senders: Vec<SyncSender<Batch>>,
    returns: Receiver<Returned>,
    workers: Vec<ScopedJoinHandle<'scope, (Stats, FlowCounters)>>,
    pending: Vec<Vec<Packet>>,
    spare: Vec<Vec<Packet>>,
    clock: Clock,
    /// Non-IP and skipped packets, counted here: they belong to no flow.
    local: Stats,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
}

/// Which shard an address pair belongs to: both addresses folded with XOR (so the order does
/// not matter), then mixed by the splitmix64 finaliser so every input bit reaches the low bits.
fn shard_of(a: &Addr, b: &Addr, shards: usize) -> usize {
    let fold = |x: &Addr| {
        x.0.chunks_exact(8)
            .fold(0u64, |h, c| h ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
    };
    let mut z = fold(a) ^ fold(b);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    usize::try_from(z % shards as u64).unwrap_or(0)
}

impl<'scope> Sharded<'scope> {
    fn new<'t: 'scope>(
        scope: &'scope Scope<'scope, '_>,
        table: &'t ServiceTable,
        cfg: FlowConfig,
        shards: usize,
    ) -> Self {
        let (ret_tx, returns) = channel::<Returned>();
        let share = FlowConfig { max_flows: cfg.max_flows.div_ceil(shards).max(1), ..cfg };
        let mut senders = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = sync_channel::<Batch>(QUEUE);
            let ret = ret_tx.clone();
            workers.push(scope.spawn(move || worker(table, share, &rx, &ret)));
            senders.push(tx);
        }
        Self {
            senders,
            returns,
            workers,
            pending: (0..shards).map(|_| Vec::with_capacity(BATCH)).collect(),
            spare: Vec::new(),
            clock: Clock::default(),
            local: Stats::new(),
            first_ts: None,
            last_ts: None,
        }
    }

    fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) -> Anomalies {
        let mut packet = Packet::decode(frame);
        self.clock.tag(&mut packet);
        self.first_ts = Some(self.first_ts.map_or(packet.ts, |t| t.min(packet.ts)));
        self.last_ts = Some(self.last_ts.map_or(packet.ts, |t| t.max(packet.ts)));
        match packet.decoded {
            Decoded::Ip(ip) => {
                let s = shard_of(&ip.src, &ip.dst, self.senders.len());
                self.pending[s].push(packet);
                if self.pending[s].len() == BATCH {
                    self.send(s, on_end);
                }
            }
            Decoded::NonIp => {
                self.local.count_non_ip(packet.wire_len);
                self.local.count_anomalies(packet.anomalies);
            }
            Decoded::Skip(reason) => {
                self.local.count_skip(reason, packet.wire_len);
                self.local.count_anomalies(packet.anomalies);
            }
        }
        packet.anomalies
    }

    fn send(&mut self, shard: usize, on_end: &mut impl FnMut(&FlowRecord)) {
        self.collect(on_end);
        let next = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(BATCH));
        let packets = std::mem::replace(&mut self.pending[shard], next);
        let clock = self.clock.latest.unwrap_or_default();
        // A worker only stops when its channel closes, so this send fails only if the worker
        // died; its join in `finish` reports that.
        let _ = self.senders[shard].send(Batch { packets, clock });
    }

    /// Writes the flows workers finished and takes their empty batches back.
    fn collect(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        while let Ok(r) = self.returns.try_recv() {
            self.recycle(r, on_end);
        }
    }

    fn recycle(&mut self, r: Returned, on_end: &mut impl FnMut(&FlowRecord)) {
        for rec in &r.ended {
            on_end(rec);
        }
        if r.packets.capacity() >= BATCH {
            self.spare.push(r.packets);
        }
    }

    fn finish(mut self, on_end: &mut impl FnMut(&FlowRecord)) -> Outcome {
        for s in 0..self.senders.len() {
            self.send(s, on_end);
        }
        // Closing the channels tells each worker to end its flows at the last clock.
        self.senders.clear();
        // The workers send the flows they end in chunks; writing them as they come means a full
        // table's records are never all held at once (with every shard's records gathered
        // before the join, they were the run's peak: 490 MiB against 355 MiB steady at the
        // default cap). The channel closes when the last worker is gone, panicked or not.
        while let Ok(r) = self.returns.recv() {
            self.recycle(r, on_end);
        }
        let mut stats = std::mem::take(&mut self.local);
        let mut flows = FlowCounters::default();
        for w in std::mem::take(&mut self.workers) {
            match w.join() {
                Ok((s, f)) => {
                    stats.merge(&s);
                    flows.merge(&f);
                }
                // A worker that panicked has nothing to give; re-raise its panic here.
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        while let Ok(r) = self.returns.try_recv() {
            self.recycle(r, on_end);
        }
        Outcome { stats, flows, first_ts: self.first_ts, last_ts: self.last_ts }
    }
}

fn worker(
    table: &ServiceTable,
    cfg: FlowConfig,
    rx: &Receiver<Batch>,
    ret: &Sender<Returned>,
) -> (Stats, FlowCounters) {
    let mut pipeline = Pipeline::new(table, cfg);
    let mut ended = Vec::new();
    while let Ok(mut batch) = rx.recv() {
        pipeline.push_batch(&batch.packets, &mut |r| ended.push(*r));
        pipeline.advance_clock(batch.clock, &mut |r| ended.push(*r));
        batch.packets.clear();
        if ret.send(Returned { packets: batch.packets, ended: std::mem::take(&mut ended) }).is_err() {
            break;
        }
    }
    pipeline.finish(&mut |r| {
        ended.push(*r);
        if ended.len() == FINISH_CHUNK {
            let chunk = std::mem::replace(&mut ended, Vec::with_capacity(FINISH_CHUNK));
            let _ = ret.send(Returned { packets: Vec::new(), ended: chunk });
        }
    });
    let _ = ret.send(Returned { packets: Vec::new(), ended });
    (pipeline.stats, pipeline.flows.counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_shard() {
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::v4([192, 168, 7, 200]);
        for n in 1..8 {
            assert_eq!(shard_of(&a, &b, n), shard_of(&b, &a, n));
            assert!(shard_of(&a, &b, n) < n);
        }
        // Many pairs spread over the shards.
        let mut seen = [0usize; 4];
        for i in 0..=255u8 {
            seen[shard_of(&Addr::v4([10, 0, 0, i]), &b, 4)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 30), "{seen:?}");
    }

    #[test]
    fn a_full_table_ends_in_chunks_every_flow_once() {
        use crate::capture::{Linktype, RecordFlags};
        use std::collections::BTreeSet;
        // More flows held at the end than a worker sends at a time, on 1 and 3 threads.
        let flows = 3 * u32::try_from(FINISH_CHUNK).unwrap_or(0) + 17;
        let frames: Vec<Vec<u8>> = (0..flows)
            .map(|i| {
                let [_, x, y, z] = i.to_be_bytes();
                let mut v = vec![0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, x, y, z, 10, 255, 0, 1];
                v.extend_from_slice(&[
                    0x30, 0x39, 0x01, 0xbd, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff,
                ]);
                v.extend_from_slice(&[0, 0, 0, 0]);
                v
            })
            .collect();
        let table = ServiceTable::embedded();
        for threads in [1, 3] {
            let mut ended = BTreeSet::new();
            let outcome = std::thread::scope(|scope| {
                let mut engine = Engine::new(scope, table, FlowConfig::default(), threads);
                let mut on_end = |r: &FlowRecord| assert!(ended.insert(r.client), "ended twice: {r:?}");
                for (i, f) in frames.iter().enumerate() {
                    let frame = Frame {
                        ts: Timestamp(1_000_000_000 + i as u64),
                        wire_len: 40,
                        linktype: Linktype::RAW,
                        data: f,
                        flags: RecordFlags::default(),
                    };
                    engine.push(&frame, &mut on_end);
                }
                engine.finish(&mut on_end)
            });
            assert_eq!(ended.len() as u64, u64::from(flows), "{threads} threads");
            let all = u64::from(flows);
            assert_eq!((outcome.flows.created, outcome.flows.at_end), (all, all));
        }
    }
}
