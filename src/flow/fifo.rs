//! A first-in first-out queue whose memory follows its length: the expiry queues' store.
//!
//! A `VecDeque` is one ring buffer whose capacity doubles, and a ring in steady use wraps
//! through all of it, so every page of that capacity is resident: up to twice the entries
//! held (4.19M entries' worth for 3.58M flows, 16.8M for 10M). Here entries sit in blocks of
//! [`BLOCK`]; a block is given back as soon as its last entry is popped (one is kept for the
//! next push), so the queue holds at most two blocks more than its entries.

use std::collections::VecDeque;

/// Entries a block: 64 KiB of 16-byte entries, a sixteenth of a typical queue's cost.
pub(super) const BLOCK: usize = 4096;

pub(super) struct Fifo<T> {
    /// Each block full but the last; the first holds its unread entries from `head` on.
    blocks: VecDeque<Vec<T>>,
    head: usize,
    /// An emptied block, reused by the next push that needs one.
    spare: Option<Vec<T>>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Self { blocks: VecDeque::new(), head: 0, spare: None }
    }
}

impl<T: Copy> Fifo<T> {
    pub(super) fn push_back(&mut self, x: T) {
        match self.blocks.back_mut() {
            Some(b) if b.len() < BLOCK => b.push(x),
            _ => {
                let mut b = self.spare.take().unwrap_or_else(|| Vec::with_capacity(BLOCK));
                b.push(x);
                self.blocks.push_back(b);
            }
        }
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.blocks.front().and_then(|b| b.get(self.head))
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        let b = self.blocks.front()?;
        let x = *b.get(self.head)?;
        self.head += 1;
        if self.head == b.len() {
            self.head = 0;
            if let Some(mut b) = self.blocks.pop_front() {
                b.clear();
                self.spare = Some(b);
            }
        }
        Some(x)
    }

    /// The first `n` entries, oldest first (for loads ahead of their use).
    pub(super) fn first(&self, n: usize) -> impl Iterator<Item = &T> {
        let head = self.head;
        self.blocks.iter().enumerate().flat_map(move |(i, b)| &b[if i == 0 { head } else { 0 }..]).take(n)
    }

    /// The entries held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum::<usize>() - self.head
    }

    /// The blocks allocated, the spare included (for tests of the memory bound).
    #[cfg(test)]
    fn blocks(&self) -> usize {
        self.blocks.len() + usize::from(self.spare.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any mix of pushes and pops gives what a `VecDeque` gives, and never holds more than
        /// two blocks past its entries.
        #[test]
        fn behaves_as_a_deque(ops in prop::collection::vec((any::<bool>(), 1..3 * BLOCK), 1..24)) {
            let (mut f, mut model, mut next) = (Fifo::default(), VecDeque::new(), 0u64);
            for (push, n) in ops {
                for _ in 0..n {
                    if push {
                        f.push_back(next);
                        model.push_back(next);
                        next += 1;
                    } else {
                        prop_assert_eq!(f.pop_front(), model.pop_front());
                    }
                }
                prop_assert_eq!(f.front(), model.front());
                prop_assert_eq!(f.len(), model.len());
                prop_assert!(f.blocks() <= model.len().div_ceil(BLOCK) + 2);
            }
        }
    }

    #[test]
    fn a_drained_queue_keeps_one_block() {
        let mut f = Fifo::default();
        for i in 0..10 * BLOCK {
            f.push_back(i);
        }
        assert_eq!(f.blocks(), 10);
        for i in 0..10 * BLOCK {
            assert_eq!(f.pop_front(), Some(i));
        }
        assert_eq!((f.pop_front(), f.front(), f.len(), f.blocks()), (None, None, 0, 1));
        f.push_back(7);
        assert_eq!((f.front(), f.blocks()), (Some(&7), 1));
    }
}
