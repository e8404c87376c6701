//! The flow index: from a key's hash to its flow's slot, in 8 bytes an entry.
//!
//! Open addressing with linear probing over a power-of-two array, kept at most two thirds full
//! (on average 2 probes a hit and 5 a miss; 10M flows fit in 2^24 entries, 128 MB), and
//! backward-shift deletion (no tombstones, so probe runs never grow with churn). An entry holds
//! the low 32 bits of the key's hash, which give both its home position and a tag that rules
//! out nearly every other key before the caller compares the real one; so a lookup usually
//! touches one entry's cache line and then the flow's own. At 450,000 flows the array is 8 MB,
//! where a general-purpose map of (key, slot) pairs took 5 bytes of control and 44 of bucket a
//! flow, three dependent cache misses a packet instead of one.

/// Marks an empty entry (no slot has this number: the table is capped far below it).
const EMPTY: u32 = u32::MAX;
/// Capacity of a new index, in entries.
const MIN_CAPACITY: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    hash: u32,
    slot: u32,
}

const VACANT: Entry = Entry { hash: 0, slot: EMPTY };

/// Most entries an array of `n` holds before it grows.
fn room(n: usize) -> usize {
    n / 3 * 2
}

pub(super) struct Index {
    entries: Vec<Entry>,
    mask: usize,
    len: usize,
}

/// The 32 bits of a hash the index keeps.
#[inline]
#[allow(clippy::cast_possible_truncation)] // the low half, on purpose
fn short(hash: u64) -> u32 {
    hash as u32
}

impl Index {
    /// An index with room for `flows` entries before it grows.
    pub(super) fn with_capacity(flows: usize) -> Self {
        let n = flows.saturating_mul(3).div_ceil(2).max(MIN_CAPACITY).next_power_of_two();
        Self { entries: vec![VACANT; n], mask: n - 1, len: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn home(&self, h: u32) -> usize {
        h as usize & self.mask
    }

    /// The slot whose key has this hash and passes `is_key`.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let h = short(hash);
        let mut i = self.home(h);
        loop {
            let e = self.entries[i];
            if e.slot == EMPTY {
                return None;
            }
            if e.hash == h && is_key(e.slot) {
                return Some(e.slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Loads the entry a lookup of `hash` starts at, so that a later [`find`](Self::find)
    /// finds its line in cache (see `FlowTable::warm`).
    #[inline]
    pub(super) fn first_slot(&self, hash: u64) -> u32 {
        self.entries[self.home(short(hash))].slot
    }

    /// Adds `slot` under `hash`; the caller knows the key is not in the index.
    pub(super) fn insert(&mut self, hash: u64, slot: u32) {
        if self.len + 1 > room(self.entries.len()) {
            self.grow();
        }
        self.place(Entry { hash: short(hash), slot });
        self.len += 1;
    }

    fn place(&mut self, e: Entry) {
        let mut i = self.home(e.hash);
        while self.entries[i].slot != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = e;
    }

    fn grow(&mut self) {
        let n = self.entries.len() * 2;
        let old = std::mem::replace(&mut self.entries, vec![VACANT; n]);
        self.mask = n - 1;
        for e in old.into_iter().filter(|e| e.slot != EMPTY) {
            self.place(e);
        }
    }

    /// Removes `slot`, which is in the index under `hash`.
    pub(super) fn remove(&mut self, hash: u64, slot: u32) {
        let h = short(hash);
        let mut i = self.home(h);
        loop {
            let e = self.entries[i];
            if e.slot == EMPTY {
                debug_assert!(false, "slot {slot} is not in the index");
                return;
            }
            if e.slot == slot {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward shift: move later entries of the run into the hole when their home is not
        // after it (cyclically), so every entry stays reachable from its home without gaps.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let e = self.entries[j];
            if e.slot == EMPTY {
                break;
            }
            let origin = self.home(e.hash);
            // Distance from its home to j and from the hole to j, cyclically: the entry may
            // fill the hole only if the hole lies between its home and j.
            if (j.wrapping_sub(origin) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.entries[hole] = VACANT;
        self.len -= 1;
    }

    /// The slots held, in no particular order.
    #[cfg(test)]
    pub(super) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().filter(|e| e.slot != EMPTY).map(|e| e.slot)
    }

    /// The farthest any entry sits from its home position (for tests: a hash that collapsed
    /// on some key set would show as runs thousands long).
    #[cfg(test)]
    pub(super) fn longest_displacement(&self) -> usize {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].slot != EMPTY)
            .map(|i| i.wrapping_sub(self.home(self.entries[i].hash)) & self.mask)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Every slot of `model` is found under its hash, and nothing else.
    fn check(ix: &Index, model: &HashMap<u32, u64>) {
        assert_eq!(ix.len(), model.len());
        for (&slot, &hash) in model {
            assert_eq!(ix.find(hash, |s| s == slot), Some(slot), "slot {slot}");
        }
        let mut held: Vec<u32> = ix.slots().collect();
        held.sort_unstable();
        let mut want: Vec<u32> = model.keys().copied().collect();
        want.sort_unstable();
        assert_eq!(held, want);
    }

    #[test]
    fn colliding_hashes_survive_removal_from_the_middle_of_a_run() {
        let mut ix = Index::with_capacity(4);
        let mut model = HashMap::new();
        // Same home for all (the low bits), wrapping past the end of the array too.
        let cap = ix.entries.len() as u64;
        for slot in 0..5u32 {
            let hash = (cap - 2) | u64::from(slot) << 40;
            ix.insert(hash, slot);
            model.insert(slot, hash);
        }
        for slot in [1u32, 3, 0] {
            ix.remove(model[&slot], slot);
            model.remove(&slot);
            check(&ix, &model);
        }
    }

    proptest! {
        /// Any sequence of inserts and removes, with hashes squeezed into few values so that
        /// runs collide and wrap, agrees with a map.
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u64..16), 1..400)) {
            let mut ix = Index::with_capacity(2);
            let mut model: HashMap<u32, u64> = HashMap::new();
            for (add, slot, h) in ops {
                // Hashes differing only above bit 32 share their home and tag.
                let hash = (h * 0x9E37_79B9) ^ (h << 33);
                if add && !model.contains_key(&slot) {
                    ix.insert(hash, slot);
                    model.insert(slot, hash);
                } else if let Some(hash) = model.remove(&slot) {
                    ix.remove(hash, slot);
                }
                check(&ix, &model);
            }
            // Never more than two thirds full (the bound `room` grows at).
            prop_assert!(3 * ix.len() <= 2 * ix.entries.len());
        }
    }
}
