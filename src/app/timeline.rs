//! The live packet timeline: packet times kept free of steps of the system clock.
//!
//! What I own: the step-free time of each live packet, the step-free present that the wall-clock
//! backstop uses, and the way back from a step-free time to the packet's own stamp, for
//! everything that shows a time of day.
//!
//! What I must not do: read a clock. [`super::live`] hands me readings ([`Look`]), so every case
//! below is a unit test on a made-up sequence of readings and stamps.
//!
//! # Why
//!
//! The kernel stamps live packets with the system's real-time clock. Flows age on packet time,
//! and the flow clock never goes back (a late packet in a file must not revive a flow that
//! timed out). So when the system clock is stepped (an NTP step, `date -s`) during a capture,
//! a step back of D makes every later packet D older than the flow clock, and each one ends
//! the flow its predecessor started until real time catches up; a step forward past the
//! timeouts ends every open flow at once. The wall-clock backstop of a quiet link
//! (`advance_clock` to the present less a second) had the same fault.
//!
//! # How
//!
//! At every look (after each wait for packets, and at each refresh) the live loop reads the
//! real-time clock and a steady one, CLOCK_BOOTTIME. Their difference changes only when the
//! real-time clock is stepped: NTP's slewing and frequency corrections move both clocks alike.
//! A change of more than [`TOLERANCE_NS`] between two looks is a step (less is the jitter of
//! reading two clocks, or a step too small to matter beside the flow timeouts), and the
//! *offset*, the sum of the steps seen, grows by it. A packet's step-free time is its stamp
//! less the offset in force when the kernel stamped it. The step-free timeline is the
//! real-time clock as it was when the capture started, carried on by the steady clock.
//!
//! CLOCK_BOOTTIME, not CLOCK_MONOTONIC (std's `Instant`): the monotonic clock stops while the
//! machine is suspended and real time does not, so a resume would look like a step forward
//! and hide the sleep from the flows, which were in fact idle all along.
//!
//! Which offset was in force for a packet is not known for sure: the kernel's buffer holds
//! packets stamped before the look that saw a step, and they are read after it. So each stamp
//! is placed with whichever of two offsets puts it nearer the step-free present of the last
//! look: the offset the packets before it were placed with, or the current one. A packet is
//! never older than the present by more than the capture latency (the kernel hands a block
//! over within 100 ms on a quiet link; more when flowtag falls behind), and with the wrong
//! offset it would be D away from the present, so the choice is right while that latency is
//! below half the step: half a second for the smallest step seen, half an hour for the
//! catalogue's hour. The same rule keeps stamps that do not follow the system clock at all
//! (hardware stamps; libfaketime in the tests, which fakes only flowtag's clock) where they
//! are, however long after the step.
//!
//! A step can also fall between a look and the capture of a packet read after it (a busy
//! link's batches are read back to back). Such a packet gives itself away, and is placed
//! only after a fresh look: after a step forward it lands ahead of the present by more than
//! the tolerance, after a step back it lands more than the tolerance behind the packet before
//! it. Otherwise that happens only to packets out of order by more than the tolerance, or
//! read more than the tolerance after the last look; the fresh look then finds nothing, and
//! costs two reads of the vDSO clocks.
//!
//! Limits, for steps of the order of the capture latency or less, or several steps within
//! it: a packet can be placed with the offset of the wrong side. It is then up to D early or
//! late on the flow clock, as every packet was before this existed.
//!
//! # What is shown
//!
//! The pipeline, flow ageing, flow durations and handshake round trips run on the step-free
//! timeline. Times of day that a person compares with other logs (a flow record's `start` and
//! `end`, the report's first and last packet time) are the packets' own stamps, as tcpdump
//! shows them: [`StepFreeClock::stamp_of`] maps a step-free time back with the offset the
//! packet at that time was placed with (a short list of the times at which that changed).

use crate::capture::Timestamp;
use std::collections::VecDeque;

/// The smallest change of (real time − steady time) taken for a step of the system clock.
pub const TOLERANCE_NS: u64 = 1_000_000_000;

/// Changes of offset remembered for [`StepFreeClock::stamp_of`]: a machine stepping its clock
/// without end must not grow memory; times before the oldest one kept map with its offset.
const MAX_CHANGES: usize = 1024;

/// Both clocks, read one right after the other, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Look {
    /// The real-time clock (CLOCK_REALTIME, what the kernel stamps packets with), since the epoch.
    pub realtime: i64,
    /// A clock that is never stepped (CLOCK_BOOTTIME), from any origin.
    pub steady: i64,
}

/// Live packet time on a step-free timeline (module docs).
#[derive(Clone, Debug)]
pub struct StepFreeClock {
    /// Real time less steady time at the last look.
    gap: i64,
    /// The sum of the steps seen: a stamp taken now is this much ahead of the step-free time.
    offset: i64,
    /// The step-free present at the last look.
    present: Timestamp,
    /// The offset the last packet was placed with.
    placed: i64,
    /// The last packet's step-free time.
    last_placed: Option<Timestamp>,
    /// The offset packets were placed with before the first entry of `changes` (or all along).
    first: i64,
    /// (step-free time, offset): from that time on, packets were placed with that offset.
    /// Times never go back in it.
    changes: VecDeque<(Timestamp, i64)>,
    /// How many steps were seen.
    steps: u64,
}

/// `t - by`, within the range of a timestamp.
fn less(t: Timestamp, by: i64) -> Timestamp {
    Timestamp(t.0.saturating_add_signed(by.saturating_neg()))
}

/// The time `ns` after the epoch (the epoch itself for a clock set before it).
fn at(ns: i64) -> Timestamp {
    Timestamp(u64::try_from(ns).unwrap_or(0))
}

impl StepFreeClock {
    /// A timeline that starts on the real-time clock of this first look.
    #[must_use]
    pub fn new(first: Look) -> Self {
        Self {
            gap: first.realtime.saturating_sub(first.steady),
            offset: 0,
            present: at(first.realtime),
            placed: 0,
            last_placed: None,
            first: 0,
            changes: VecDeque::new(),
            steps: 0,
        }
    }

    /// Takes in a new reading of the clocks; returns the step it reveals, if any (positive:
    /// the system clock went forward).
    pub fn observe(&mut self, look: Look) -> Option<i64> {
        let gap = look.realtime.saturating_sub(look.steady);
        let change = gap.saturating_sub(self.gap);
        self.gap = gap;
        let step = (change.unsigned_abs() > TOLERANCE_NS).then_some(change);
        if let Some(s) = step {
            self.offset = self.offset.saturating_add(s);
            self.steps += 1;
        }
        self.present = at(look.realtime.saturating_sub(self.offset));
        step
    }

    /// The step-free present as of the last look.
    #[must_use]
    pub fn present(&self) -> Timestamp {
        self.present
    }

    /// The sum of the steps seen, in ns (positive: forward).
    #[must_use]
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// How many steps were seen.
    #[must_use]
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The step-free time of a packet stamped `stamp`, read now. `look` reads the clocks, for
    /// a packet that shows a step the last look did not see.
    pub fn place(&mut self, stamp: Timestamp, look: impl FnOnce() -> Look) -> Timestamp {
        let (mut t, mut offset) = self.nearest(stamp);
        let ahead = t.0 > self.present.0.saturating_add(TOLERANCE_NS);
        let back = self.last_placed.is_some_and(|l| t.0.saturating_add(TOLERANCE_NS) < l.0);
        if ahead || back {
            self.observe(look());
            (t, offset) = self.nearest(stamp);
        }
        self.last_placed = Some(t);
        if offset != self.placed {
            self.placed = offset;
            let from = self.changes.back().map_or(t, |&(f, _)| f.max(t));
            if self.changes.len() == MAX_CHANGES
                && let Some((_, o)) = self.changes.pop_front()
            {
                self.first = o;
            }
            self.changes.push_back((from, offset));
        }
        t
    }

    /// The stamp, placed with the offset of the packets before, or with the current one:
    /// whichever lands nearer the present (the current one on a tie).
    fn nearest(&self, stamp: Timestamp) -> (Timestamp, i64) {
        let now = (less(stamp, self.offset), self.offset);
        if self.placed == self.offset {
            return now;
        }
        let before = (less(stamp, self.placed), self.placed);
        if before.0.0.abs_diff(self.present.0) < now.0.0.abs_diff(self.present.0) { before } else { now }
    }

    /// The packet's own stamp for a step-free time this clock placed: the time of day tcpdump
    /// shows for it.
    #[must_use]
    pub fn stamp_of(&self, t: Timestamp) -> Timestamp {
        let i = self.changes.partition_point(|&(from, _)| from <= t);
        let offset = i.checked_sub(1).and_then(|i| self.changes.get(i)).map_or(self.first, |&(_, o)| o);
        less(t, offset.saturating_neg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;
    const HOUR: i64 = 3600 * S;
    /// 2026-11-28 20:00:00 UTC.
    const START: i64 = 1_795_896_000 * S;

    /// A machine: its steady clock, its real-time clock (stepped by the tests), and a kernel
    /// that stamps packets with the real-time clock (or with a clock of its own that is never
    /// stepped, like a NIC's, when `stamps_follow` is false).
    struct Machine {
        steady: i64,
        realtime: i64,
        stamps_follow: bool,
        /// The step-free truth: real time at the start, carried on by the steady clock.
        origin: i64,
    }

    impl Machine {
        fn new() -> Self {
            Self { steady: 7 * S, realtime: START, stamps_follow: true, origin: START - 7 * S }
        }
        fn run(&mut self, ns: i64) {
            self.steady += ns;
            self.realtime += ns;
        }
        fn step(&mut self, ns: i64) {
            self.realtime += ns;
        }
        fn look(&self) -> Look {
            Look { realtime: self.realtime, steady: self.steady }
        }
        /// A packet stamped now: its stamp, and its true step-free time.
        fn stamp(&self) -> (Timestamp, Timestamp) {
            let truth = Timestamp(u64::try_from(self.origin + self.steady).unwrap());
            let stamp = if self.stamps_follow { self.realtime } else { self.origin + self.steady };
            (Timestamp(u64::try_from(stamp).unwrap()), truth)
        }
    }

    fn ts(ns: i64) -> Timestamp {
        Timestamp(u64::try_from(ns).unwrap())
    }

    /// Places a packet read now; a look the clock asks for counts in `looks`.
    fn place(c: &mut StepFreeClock, m: &Machine, stamp: Timestamp, looks: &mut u32) -> Timestamp {
        c.place(stamp, || {
            *looks += 1;
            m.look()
        })
    }

    /// Reads `n` packets, one every `every` ns, the way the live loop does on a quiet link: a
    /// packet is stamped, `every` ns later a look, then the packet is read. Asserts each lands
    /// on its true step-free time and maps back to its own stamp; returns the extra looks
    /// asked for.
    fn traffic(c: &mut StepFreeClock, m: &mut Machine, n: usize, every: i64) -> u32 {
        let mut looks = 0;
        for _ in 0..n {
            let (stamp, truth) = m.stamp();
            m.run(every);
            c.observe(m.look());
            let t = place(c, m, stamp, &mut looks);
            assert_eq!(t, truth, "stamp {stamp:?} offset {}", c.offset());
            assert_eq!(c.stamp_of(t), stamp);
        }
        looks
    }

    #[test]
    fn without_steps_packet_time_is_the_stamp() {
        let mut m = Machine::new();
        let mut c = StepFreeClock::new(m.look());
        assert_eq!(c.present(), ts(START));
        assert_eq!(traffic(&mut c, &mut m, 50, 200 * MS), 0);
        assert_eq!((c.steps(), c.offset()), (0, 0));
        assert_eq!(c.present(), ts(START + 50 * 200 * MS));
    }

    #[test]
    fn changes_below_the_tolerance_are_not_steps() {
        let mut m = Machine::new();
        let mut c = StepFreeClock::new(m.look());
        // The two readings jittering apart (a preemption between them), then coming back.
        m.run(S);
        assert_eq!(c.observe(Look { realtime: m.realtime + 900 * MS, steady: m.steady }), None);
        assert_eq!(c.observe(m.look()), None);
        // A slow drift: 0.4 s in all, a little at every look.
        for _ in 0..400 {
            m.run(100 * MS);
            m.step(MS);
            assert_eq!(c.observe(m.look()), None);
        }
        assert_eq!((c.steps(), c.offset()), (0, 0));
        let (stamp, _) = m.stamp();
        let mut looks = 0;
        assert_eq!(place(&mut c, &m, stamp, &mut looks), stamp, "a stamp within tolerance stays as it is");
        assert_eq!(looks, 0);
    }

    #[test]
    fn a_step_of_an_hour_either_way_leaves_packet_time_continuous() {
        for step in [-HOUR, HOUR] {
            let mut m = Machine::new();
            let mut c = StepFreeClock::new(m.look());
            traffic(&mut c, &mut m, 10, 200 * MS);
            let before = c.present();
            m.step(step);
            assert_eq!(c.observe(m.look()), Some(step));
            assert_eq!(c.present(), before, "{step}: the present does not move with the clock");
            assert_eq!(traffic(&mut c, &mut m, 10, 200 * MS), 0);
            assert_eq!((c.steps(), c.offset()), (1, step));
            // The backstop's present runs on: ten packets' worth later, not an hour off.
            assert_eq!(c.present(), ts(i64::try_from(before.0).unwrap() + 10 * 200 * MS));
            // Shown times are the stamps: an hour off the step-free ones now.
            let t = c.present();
            assert_eq!(c.stamp_of(t), ts(i64::try_from(t.0).unwrap() + step));
        }
    }

    #[test]
    fn two_steps_add_up_and_every_time_maps_back_to_its_own_stamp() {
        let mut m = Machine::new();
        let mut c = StepFreeClock::new(m.look());
        let mut placed = Vec::new();
        for step in [-HOUR, 30 * 60 * S] {
            for _ in 0..5 {
                let (stamp, truth) = m.stamp();
                m.run(300 * MS);
                c.observe(m.look());
                let t = c.place(stamp, || panic!("no look needed"));
                assert_eq!(t, truth);
                placed.push((t, stamp));
            }
            m.step(step);
            assert_eq!(c.observe(m.look()), Some(step));
        }
        traffic(&mut c, &mut m, 5, 300 * MS);
        assert_eq!((c.steps(), c.offset()), (2, -30 * 60 * S));
        // Records written long after still show each packet's own stamp.
        for (t, stamp) in placed {
            assert_eq!(c.stamp_of(t), stamp);
        }
        // Step-free times keep their order and spacing across both steps.
        assert_eq!(c.present(), ts(START + 15 * 300 * MS));
    }

    /// Packets stamped before a step and still in the kernel's buffer when the look sees it
    /// keep their old offset; the ones after take the new one.
    #[test]
    fn packets_stamped_before_a_step_and_read_after_it_keep_their_place() {
        for step in [-HOUR, HOUR, -5 * S, 5 * S] {
            let mut m = Machine::new();
            let mut c = StepFreeClock::new(m.look());
            traffic(&mut c, &mut m, 5, 200 * MS);
            // 50 packets in the buffer, 1 ms apart, then the step, then 50 more.
            let mut buffer = Vec::new();
            for _ in 0..50 {
                buffer.push(m.stamp());
                m.run(MS);
            }
            m.step(step);
            for _ in 0..50 {
                buffer.push(m.stamp());
                m.run(MS);
            }
            assert_eq!(c.observe(m.look()), Some(step));
            let mut looks = 0;
            let mut last = Timestamp(0);
            for &(stamp, truth) in &buffer {
                let t = place(&mut c, &m, stamp, &mut looks);
                assert_eq!(t, truth, "step {step}: stamp {stamp:?}");
                assert!(t > last, "step {step}: time runs on");
                last = t;
            }
            assert_eq!(looks, 0, "step {step}: the look before the batch saw the step");
            assert_eq!(c.steps(), 1);
            for &(stamp, truth) in &buffer {
                assert_eq!(c.stamp_of(truth), stamp, "step {step}");
            }
            assert_eq!(traffic(&mut c, &mut m, 5, 200 * MS), 0);
        }
    }

    /// A step between the last look and a packet's capture (a batch read at once): the packet
    /// shows it, the clocks are read again, and it lands in its place.
    #[test]
    fn a_step_the_last_look_missed_is_found_by_the_packet() {
        for step in [-HOUR, HOUR] {
            let mut m = Machine::new();
            let mut c = StepFreeClock::new(m.look());
            traffic(&mut c, &mut m, 5, 200 * MS);
            c.observe(m.look());
            let mut batch = vec![m.stamp()];
            m.run(MS);
            m.step(step);
            for _ in 0..3 {
                batch.push(m.stamp());
                m.run(MS);
            }
            let mut looks = 0;
            for (stamp, truth) in batch {
                assert_eq!(place(&mut c, &m, stamp, &mut looks), truth, "step {step}");
            }
            assert_eq!((looks, c.steps(), c.offset()), (1, 1, step), "step {step}");
        }
    }

    /// Stamps that do not follow the system clock (a NIC's own clock; libfaketime, which fakes
    /// only flowtag's clock) stay as they are when the system clock steps, and cost no looks.
    #[test]
    fn stamps_that_do_not_step_with_the_clock_are_left_alone() {
        let mut m = Machine::new();
        m.stamps_follow = false;
        let mut c = StepFreeClock::new(m.look());
        for step in [HOUR, -2 * HOUR, 90 * S] {
            m.step(step);
            assert_eq!(c.observe(m.look()), Some(step));
            for _ in 0..10 {
                let (stamp, truth) = m.stamp();
                assert_eq!(stamp, truth);
                m.run(200 * MS);
                c.observe(m.look());
                assert_eq!(c.place(stamp, || panic!("no look needed")), stamp);
                assert_eq!(c.stamp_of(stamp), stamp);
            }
            // The backstop's present is the step-free one, next to the packets.
            assert_eq!(c.present(), m.stamp().0);
        }
        assert_eq!((c.steps(), c.offset()), (3, -HOUR + 90 * S));
    }

    #[test]
    fn the_list_of_changes_is_bounded() {
        let mut m = Machine::new();
        let mut c = StepFreeClock::new(m.look());
        for i in 0..2 * MAX_CHANGES {
            m.step(if i % 2 == 0 { 10 * S } else { -10 * S });
            c.observe(m.look());
            traffic(&mut c, &mut m, 1, 200 * MS);
        }
        assert_eq!(c.changes.len(), MAX_CHANGES);
        assert_eq!((c.steps(), c.offset()), (u64::try_from(2 * MAX_CHANGES).unwrap(), 0));
    }
}
