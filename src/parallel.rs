//! Parallel: one input stream read and decoded on the calling thread, flows counted on worker
//! threads and on the calling thread, each owning the flows of a share of the address pairs.
//!
//! What I own: sharding (by the unordered pair of IP addresses, so both directions of a flow
//! and every fragment of a datagram meet in the same shard; the reading thread keeps a small
//! share, since reading, decoding and learning take much of the work), batching, the
//! input's one reading side ([`Reader`]: its clock, which workers expire flows on, so a quiet
//! shard still ages, and which numbers the input's first fragments that the fragment tables'
//! one bound counts; and the endpoints control channels announce, learned from every packet),
//! and merging the shards' counters at the end. Every packet is counted by a [`Pipeline`]:
//! packets of no flow (non-IP, skipped) by the reading thread's own. The report is the one a single pipeline makes, as long as no
//! shard fills its share of `--max-flows` (the cap is split as the address pairs are); flow
//! records are the same set, in an order that interleaves the shards.
//!
//! What I must not do: count anything myself beyond what a [`Pipeline`] counts, or share
//! mutable state between threads: workers get batches and send back finished flows.

use crate::capture::{CaptureReader, Frame, Timestamp};
use crate::decode::{Addr, Anomalies, Decoded, Fragment, IpPacket};
use crate::flow::{FlowConfig, FlowCounters, FlowRecord, WARM};
use crate::pipeline::{Clock, Keep, Packet, Packets, Pipeline, Reader};
use crate::services::ServiceTable;
use crate::stats::Stats;
use crate::tunnel::Chain;
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

/// Packets per batch: large enough to make a channel send rare, small enough to stay in L2.
const BATCH: usize = 1024;
/// Batches a worker may have queued before the reader waits for it.
const QUEUE: usize = 4;
/// Flow records a worker sends at a time when it ends its flows at the end of input.
const FINISH_CHUNK: usize = 4096;
/// Bytes a reader's pinned frames may hold before their batch is counted early (a batch of
/// large records): the buffer then holds at most this and one record.
const PIN_LIMIT: usize = 1 << 20;

/// What a run counted, whichever way it ran.
#[derive(Default)]
pub struct Outcome {
    pub stats: Stats,
    pub flows: FlowCounters,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
}

impl Outcome {
    /// What one pipeline counted (the reading side's learning is the caller's).
    fn of(p: Pipeline<'_>) -> Self {
        let Pipeline { flows, stats, first_ts, last_ts, .. } = p;
        Self { stats, flows: flows.counters, first_ts, last_ts }
    }

    /// Adds what another pipeline of the same input counted.
    fn merge(&mut self, o: &Outcome) {
        self.stats.merge(&o.stats);
        self.flows.merge(&o.flows);
        let pick =
            |a: Option<Timestamp>, b: Option<Timestamp>, f: fn(Timestamp, Timestamp) -> Timestamp| match (
                a, b,
            ) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            };
        self.first_ts = pick(self.first_ts, o.first_ts, std::cmp::min);
        self.last_ts = pick(self.last_ts, o.last_ts, std::cmp::max);
    }
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
            Engine::Single(Box::new(Single::new(table, cfg)))
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

    /// The input's clock: the latest packet time read (`None` before the first packet).
    #[must_use]
    pub fn clock(&self) -> Option<Timestamp> {
        match self {
            Engine::Single(s) => s.pipeline.clock(),
            Engine::Sharded(s) => s.reader.clock.latest,
        }
    }

    /// Ends every flow as at the end of input and starts a new timeline (see
    /// [`Pipeline::restart`]), on every shard at the same point of the stream.
    pub fn restart(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        match self {
            Engine::Single(s) => s.restart(on_end),
            Engine::Sharded(s) => s.restart(on_end),
        }
    }

    /// Reads an input's frames from `reader` from now on (each [`push`](Self::push)ed, or not,
    /// then [`after_read`](Self::after_read)), until [`end_input`](Self::end_input). One
    /// thread leaves their payloads in the reader's buffer (see [`Keep::InFrame`]).
    pub fn begin_input(&mut self, reader: &mut CaptureReader) {
        if let Engine::Single(s) = self {
            s.begin_input(reader);
        }
    }

    /// After each frame read from `reader` since [`begin_input`](Self::begin_input), whether
    /// it was pushed or not.
    #[inline]
    pub fn after_read(&mut self, reader: &mut CaptureReader, on_end: &mut impl FnMut(&FlowRecord)) {
        if let Engine::Single(s) = self {
            s.after_read(reader, on_end);
        }
    }

    /// The end of the input `reader` reads: counts what is queued of it.
    pub fn end_input(&mut self, reader: &mut CaptureReader, on_end: &mut impl FnMut(&FlowRecord)) {
        if let Engine::Single(s) = self {
            s.end_input(reader, on_end);
        }
    }

    /// Counts a frame the filter left out.
    pub fn filtered_out(&mut self) {
        match self {
            Engine::Single(s) => s.pipeline.filtered_out(),
            Engine::Sharded(s) => s.own.pipeline.filtered_out(),
        }
    }

    /// Ends every flow and returns the merged counters.
    pub fn finish(self, on_end: &mut impl FnMut(&FlowRecord)) -> Outcome {
        match self {
            Engine::Single(s) => {
                let p = s.finish(on_end);
                let learned = p.reader.learner.counters;
                let mut o = Outcome::of(p);
                o.stats.learn.merge(&learned);
                o
            }
            Engine::Sharded(s) => (*s).finish(on_end),
        }
    }
}

/// One pipeline on this thread, fed [`WARM`] decoded packets at a time (see
/// [`Pipeline::push_batch`]).
pub struct Single<'t> {
    pipeline: Pipeline<'t>,
    pending: Packets,
    /// The frames pushed come from a pinned reader, which keeps them until they are counted
    /// (see [`Engine::begin_input`]).
    in_reader: bool,
    /// Packets of `pending` whose payload place is in the reader's pinned bytes.
    placed: usize,
}

impl<'t> Single<'t> {
    fn new(table: &'t ServiceTable, cfg: FlowConfig) -> Self {
        Self {
            pipeline: Pipeline::new(table, cfg),
            pending: Packets::with_capacity(WARM),
            in_reader: false,
            placed: 0,
        }
    }

    fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) -> Anomalies {
        if self.in_reader {
            // Counted in `after_read`, when the frame's place in the reader is known.
            return self.pipeline.decode_into(frame, &mut self.pending, Keep::InFrame);
        }
        let anomalies = self.pipeline.decode_into(frame, &mut self.pending, Keep::Copy);
        if self.pending.len() == WARM {
            self.flush(on_end);
        }
        anomalies
    }

    fn begin_input(&mut self, reader: &mut CaptureReader) {
        debug_assert!(self.pending.is_empty(), "the last input's packets were counted");
        reader.pin();
        self.in_reader = true;
        self.placed = 0;
    }

    #[inline]
    fn after_read(&mut self, reader: &mut CaptureReader, on_end: &mut impl FnMut(&FlowRecord)) {
        if self.pending.len() > self.placed {
            self.pending.place_last(reader.last_at());
            self.placed = self.pending.len();
        }
        if self.pending.len() == WARM || reader.pinned_len() > PIN_LIMIT {
            self.flush_in(reader, on_end);
        }
    }

    /// Counts the queued packets against the reader's pinned bytes, and pins anew.
    fn flush_in(&mut self, reader: &mut CaptureReader, on_end: &mut impl FnMut(&FlowRecord)) {
        self.pipeline.push_batch_in(&self.pending, reader.pinned(), on_end);
        self.pending.clear();
        self.placed = 0;
        reader.pin();
    }

    fn end_input(&mut self, reader: &mut CaptureReader, on_end: &mut impl FnMut(&FlowRecord)) {
        if self.in_reader {
            self.after_read(reader, on_end);
            self.flush_in(reader, on_end);
            reader.unpin();
            self.in_reader = false;
        }
    }

    /// Queues a packet decoded and clock-tagged elsewhere, with its transport payload.
    fn push_decoded(
        &mut self,
        packet: Packet,
        payload: &[u8],
        chain: &Chain,
        on_end: &mut impl FnMut(&FlowRecord),
    ) {
        self.pending.push(packet, payload, chain);
        if self.pending.len() == WARM {
            self.flush(on_end);
        }
    }

    fn flush(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        // A reader's packets are counted against its bytes (`after_read`, `end_input`): a
        // restart comes before the first packet of an input, so none is queued then.
        debug_assert!(!self.in_reader || self.pending.is_empty(), "a reader's packets wait for its bytes");
        self.pipeline.push_batch(&self.pending, on_end);
        self.pending.clear();
        self.placed = 0;
    }

    fn restart(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        self.flush(on_end);
        self.pipeline.restart(on_end);
    }

    /// Counts what is queued and ends every flow.
    fn finish(mut self, on_end: &mut impl FnMut(&FlowRecord)) -> Pipeline<'t> {
        self.flush(on_end);
        self.pipeline.finish(on_end);
        self.pipeline
    }
}

struct Batch {
    packets: Packets,
    /// The input's clock after this batch was read.
    clock: Timestamp,
    /// The input's first fragments read by then (see [`Clock::firsts`]).
    firsts: u64,
    /// After counting the packets, end every flow and start a new timeline.
    restart: bool,
}

struct Returned {
    packets: Packets,
    ended: Vec<FlowRecord>,
}

/// The reader side of a sharded run.
pub struct Sharded<'scope> {
    /// The flows of the address pairs this thread counts itself, between reads (see
    /// [`Route`]).
    own: Single<'scope>,
    /// Address pairs whose mix is below this are counted on this thread.
    own_below: u32,
    senders: Vec<SyncSender<Batch>>,
    returns: Receiver<Returned>,
    workers: Vec<ScopedJoinHandle<'scope, Outcome>>,
    pending: Vec<Packets>,
    spare: Vec<Packets>,
    /// The input's reading side (clock, learned endpoints), for every shard: the same one
    /// a single pipeline has.
    reader: Reader<'scope>,
    /// The shards of tunnelled outer datagrams' first fragments, by (outer source,
    /// destination, identification, protocol), and their order (see [`Sharded::route`]).
    outer_firsts: HashMap<OuterFirst, Route>,
    outer_order: VecDeque<OuterFirst>,
}

/// An outer IP datagram's key: source, destination, identification, protocol.
type OuterFirst = (Addr, Addr, u32, u8);

/// Tunnelled outer datagrams whose first fragment's shard is remembered: as many as the fragment
/// table holds datagrams would be many times what a tunnel's path ever has in flight.
const OUTER_FIRSTS: usize = 4096;

/// Where an address pair's packets are counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    /// On the reading thread.
    Own,
    Worker(usize),
}

/// The reading thread's share of the address pairs, as the reciprocal of a fraction of
/// 1/threads: the reader reads, decodes, keeps payload heads and learns announced endpoints
/// for every packet, so it counts only 1/(8·threads) of the pairs. Measured on mix-10M with
/// two threads (medians of the runs with both cores free): 1/(3·threads) 1.37 s, 1/(5·threads)
/// 1.29 s, 1/(8·threads) 1.27 s, none 1.30 s.
const OWN_SHARE_DIVISOR: usize = 8;

/// Routes an address pair: both addresses folded with XOR (so the order does not matter),
/// mixed by the splitmix64 finaliser so every input bit reaches every output bit; the high half
/// decides whether the reading thread keeps the pair, the low half picks the worker
/// (multiply-shift, not a division).
fn route(a: &Addr, b: &Addr, own_below: u32, workers: usize) -> Route {
    let fold = |x: &Addr| {
        let v = u128::from_le_bytes(x.0);
        #[allow(clippy::cast_possible_truncation)] // the two halves, on purpose
        let folded = (v as u64) ^ ((v >> 64) as u64);
        folded
    };
    let mut z = fold(a) ^ fold(b);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    #[allow(clippy::cast_possible_truncation)] // the two halves, on purpose
    let (high, low) = ((z >> 32) as u32, z as u32);
    if high < own_below {
        Route::Own
    } else {
        Route::Worker(usize::try_from((u64::from(low) * workers as u64) >> 32).unwrap_or(0))
    }
}

impl<'scope> Sharded<'scope> {
    fn new<'t: 'scope>(
        scope: &'scope Scope<'scope, '_>,
        table: &'t ServiceTable,
        cfg: FlowConfig,
        shards: usize,
    ) -> Self {
        let (ret_tx, returns) = channel::<Returned>();
        let threads = shards + 1;
        let own_below = u32::try_from((1u64 << 32) / (OWN_SHARE_DIVISOR * threads) as u64).unwrap_or(0);
        // The flow cap is split as the pairs are.
        let own_cap = cfg.max_flows.div_ceil(OWN_SHARE_DIVISOR * threads).max(1);
        let own = Single::new(table, FlowConfig { max_flows: own_cap, ..cfg });
        let others = cfg.max_flows.saturating_sub(own_cap);
        let share = FlowConfig { max_flows: others.div_ceil(shards).max(1), ..cfg };
        let mut senders = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = sync_channel::<Batch>(QUEUE);
            let ret = ret_tx.clone();
            workers.push(scope.spawn(move || worker(table, share, &rx, &ret)));
            senders.push(tx);
        }
        Self {
            own,
            own_below,
            senders,
            returns,
            workers,
            pending: (0..shards).map(|_| Packets::with_capacity(BATCH)).collect(),
            spare: Vec::new(),
            reader: Reader::new(table, cfg.tunnels),
            outer_firsts: HashMap::new(),
            outer_order: VecDeque::new(),
        }
    }

    fn push(&mut self, frame: &Frame<'_>, on_end: &mut impl FnMut(&FlowRecord)) -> Anomalies {
        let (packet, payload) = self.reader.decode(frame);
        match packet.decoded {
            Decoded::Ip(ip) => match self.route(&packet, &ip) {
                Route::Own => self.own.push_decoded(packet, payload, &self.reader.chain, on_end),
                Route::Worker(s) => {
                    self.pending[s].push(packet, payload, &self.reader.chain);
                    if self.pending[s].len() == BATCH {
                        self.send(s, on_end);
                    }
                }
            },
            // Packets of no flow are counted on this thread, by the same path as any.
            Decoded::NonIp | Decoded::Skip(_) => {
                self.own.push_decoded(packet, payload, &self.reader.chain, on_end);
            }
        }
        packet.anomalies
    }

    /// The shard of a packet: by its address pair (a tunnelled one's inner pair: its inner
    /// flow's packets meet, and one tunnel's flows spread over the shards). A fragmented
    /// outer datagram of a tunnel is the exception: its later fragments carry no tunnel header
    /// and go where its first fragment went, remembered by the outer header's key.
    #[inline]
    fn route(&mut self, packet: &Packet, ip: &IpPacket) -> Route {
        let shard = route(&ip.src, &ip.dst, self.own_below, self.senders.len());
        if packet.tunnel != 0 {
            if let Some(id) = self.reader.chain.outer_first {
                self.remember_outer_first(id, shard);
            }
        } else if let Fragment::NonFirst { id, .. } = ip.fragment
            && !self.outer_firsts.is_empty()
            && let Some(&to) = self.outer_firsts.get(&(ip.src, ip.dst, id, ip.proto))
        {
            return to;
        }
        shard
    }

    /// Remembers where the first fragment of a tunnelled outer datagram went (the last
    /// [`OUTER_FIRSTS`] of them).
    #[cold]
    fn remember_outer_first(&mut self, id: u32, shard: Route) {
        let Some(outer) = self.reader.chain.levels().next() else { return };
        let key = (outer.src, outer.dst, id, outer.proto);
        if self.outer_firsts.insert(key, shard).is_none() {
            self.outer_order.push_back(key);
        }
        while self.outer_order.len() > OUTER_FIRSTS {
            if let Some(old) = self.outer_order.pop_front() {
                self.outer_firsts.remove(&old);
            }
        }
    }

    fn send(&mut self, shard: usize, on_end: &mut impl FnMut(&FlowRecord)) {
        self.collect(on_end);
        let next = self.spare.pop().unwrap_or_else(|| Packets::with_capacity(BATCH));
        let packets = std::mem::replace(&mut self.pending[shard], next);
        let clock = self.reader.clock.latest.unwrap_or_default();
        // A worker only stops when its channel closes, so this send fails only if the worker
        // died; its join in `finish` reports that.
        let firsts = self.reader.clock.firsts;
        let _ = self.senders[shard].send(Batch { packets, clock, firsts, restart: false });
    }

    /// Sends every worker what is pending with the order to restart after it, then restarts
    /// this thread's own flows and the clock. Each worker counts its batches in order, so the
    /// restart falls at the same point of the stream on every shard.
    fn restart(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        self.collect(on_end);
        let (clock, firsts) = (self.reader.clock.latest.unwrap_or_default(), self.reader.clock.firsts);
        for (tx, pending) in self.senders.iter().zip(&mut self.pending) {
            let packets =
                std::mem::replace(pending, self.spare.pop().unwrap_or_else(|| Packets::with_capacity(BATCH)));
            let _ = tx.send(Batch { packets, clock, firsts, restart: true });
        }
        self.own_to_clock(on_end);
        self.own.restart(on_end);
        self.reader.clock = Clock::default();
    }

    /// Counts what this thread holds and brings its flows to the input's clock, as each
    /// worker's are by its last batch: flows end at the same clock on every shard, and fragments
    /// are forgotten at the same count of first fragments.
    fn own_to_clock(&mut self, on_end: &mut impl FnMut(&FlowRecord)) {
        let clock = self.reader.clock.latest.unwrap_or_default();
        self.own.flush(on_end);
        self.own.pipeline.advance_clock(clock, on_end);
        self.own.pipeline.first_fragments_read(self.reader.clock.firsts);
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
        let mut counted = Vec::with_capacity(self.workers.len() + 1);
        for w in std::mem::take(&mut self.workers) {
            match w.join() {
                Ok(o) => counted.push(o),
                // A worker that panicked has nothing to give; re-raise its panic here.
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        while let Ok(r) = self.returns.try_recv() {
            self.recycle(r, on_end);
        }
        self.own_to_clock(on_end);
        let Sharded { own, reader, .. } = self;
        let own = own.finish(on_end);
        counted.push(Outcome::of(own));
        let mut all = Outcome::default();
        for o in &counted {
            all.merge(o);
        }
        all.stats.learn.merge(&reader.learner.counters);
        all
    }
}

/// Where a worker ends a whole table: the records go back in chunks as they come, so that
/// they are never all held at once.
fn in_chunks<'a>(ended: &'a mut Vec<FlowRecord>, ret: &'a Sender<Returned>) -> impl FnMut(&FlowRecord) + 'a {
    move |r| {
        ended.push(*r);
        if ended.len() == FINISH_CHUNK {
            let chunk = std::mem::replace(ended, Vec::with_capacity(FINISH_CHUNK));
            let _ = ret.send(Returned { packets: Packets::default(), ended: chunk });
        }
    }
}

fn worker(table: &ServiceTable, cfg: FlowConfig, rx: &Receiver<Batch>, ret: &Sender<Returned>) -> Outcome {
    let mut pipeline = Pipeline::new(table, cfg);
    let mut ended = Vec::new();
    while let Ok(mut batch) = rx.recv() {
        pipeline.push_batch(&batch.packets, &mut |r| ended.push(*r));
        pipeline.advance_clock(batch.clock, &mut |r| ended.push(*r));
        pipeline.first_fragments_read(batch.firsts);
        if batch.restart {
            pipeline.restart(&mut in_chunks(&mut ended, ret));
        }
        batch.packets.clear();
        if ret.send(Returned { packets: batch.packets, ended: std::mem::take(&mut ended) }).is_err() {
            break;
        }
    }
    pipeline.finish(&mut in_chunks(&mut ended, ret));
    let _ = ret.send(Returned { packets: Packets::default(), ended });
    Outcome::of(pipeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn both_directions_share_a_shard() {
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::v4([192, 168, 7, 200]);
        for n in 1..8 {
            for own in [0, u32::MAX / 6] {
                assert_eq!(route(&a, &b, own, n), route(&b, &a, own, n));
                if let Route::Worker(w) = route(&a, &b, own, n) {
                    assert!(w < n);
                }
            }
        }
        // Many pairs spread over this thread (a sixth) and three workers.
        let mut seen = [0usize; 4];
        for i in 0..=4095u16 {
            let [x, y] = i.to_be_bytes();
            match route(&Addr::v4([10, 0, x, y]), &b, u32::MAX / 6, 3) {
                Route::Own => seen[3] += 1,
                Route::Worker(w) => seen[w] += 1,
            }
        }
        // Expected: 683 here, 1,138 each worker.
        assert!((600..770).contains(&seen[3]), "{seen:?}");
        assert!(seen[..3].iter().all(|&n| (1000..1280).contains(&n)), "{seen:?}");
    }

    #[test]
    fn a_full_table_ends_in_chunks_every_flow_once() {
        use crate::capture::{Endian, Linktype, RecordFlags};
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
                        endian: Endian::Little,
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

    #[test]
    fn the_fragment_bound_counts_the_same_on_any_number_of_threads() {
        use crate::capture::{Linktype, RecordFlags};
        use crate::flow::MAX_FRAGMENT_ENTRIES;
        // 70,000 datagrams of UDP over 7,000 address pairs: each first fragment (one in a
        // thousand sent twice, an overlap), then each last fragment. The input numbers 70,070
        // first fragments; the last 65,536 of them are remembered, from datagram 4,529 on (its
        // number is 4,529 + 1 + the 5 overlaps before it = 4,535 > 70,070 - 65,536).
        let datagrams = 70_000u32;
        let ip = |i: u32, frag: u16, l4: &[u8]| {
            let [_, _, x, y] = (i / 10).to_be_bytes();
            let [id_hi, id_lo] = u16::try_from(i % 10).unwrap_or(0).to_be_bytes();
            let [f_hi, f_lo] = frag.to_be_bytes();
            let len = u8::try_from(20 + l4.len()).unwrap_or(0);
            let mut v = vec![0x45, 0, 0, len, id_hi, id_lo, f_hi, f_lo, 64, 17, 0, 0, 10, 1, x, y];
            v.extend_from_slice(&[192, 0, 2, 1]);
            v.extend_from_slice(l4);
            v
        };
        let first = [0x9c, 0x40, 0x08, 0x01, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut frames = Vec::new();
        for i in 0..datagrams {
            frames.push(ip(i, 0x2000, &first));
            if i % 1000 == 0 {
                frames.push(ip(i, 0x2000, &first));
            }
        }
        frames.extend((0..datagrams).map(|i| ip(i, 2, &[0; 8])));
        let forgotten = 4_529;
        let table = ServiceTable::embedded();
        for threads in [1, 2, 3] {
            let outcome = std::thread::scope(|scope| {
                let mut engine = Engine::new(scope, table, FlowConfig::default(), threads);
                for (i, f) in frames.iter().enumerate() {
                    let frame = Frame {
                        ts: Timestamp(1_000_000_000_000 + 10_000 * i as u64),
                        wire_len: u32::try_from(f.len()).unwrap_or(0),
                        linktype: Linktype::RAW,
                        data: f,
                        flags: RecordFlags::default(),
                        endian: crate::capture::Endian::Little,
                    };
                    engine.push(&frame, &mut |_| {});
                }
                engine.finish(&mut |_| {})
            });
            let f = outcome.flows;
            assert_eq!(
                (f.fragments_attributed, f.fragment_orphans, f.fragment_overlaps, f.fragment_entries_dropped),
                (u64::from(datagrams - forgotten) + 70, u64::from(forgotten), 70, u64::from(forgotten)),
                "{threads} threads: the last {MAX_FRAGMENT_ENTRIES} first fragments remembered"
            );
        }
    }
}
