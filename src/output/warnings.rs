//! Sampled warnings (CATALOGUE.md §3.5): the first [`SHOWN_PER_KIND`] of each kind are written,
//! later ones only counted, and [`Warnings::finish`] says how many were left out. A capture with
//! a million bad timestamps gives eleven lines, not a million.

use std::io::Write;

/// Warnings of one kind written before the rest are only counted (Zeek samples its weirds too).
pub const SHOWN_PER_KIND: u64 = 10;

/// Counts warnings per kind and writes the first few of each.
#[derive(Debug)]
pub struct Warnings<W: Write> {
    out: W,
    /// (kind, warnings so far), in first-seen order; a handful of kinds at most.
    kinds: Vec<(&'static str, u64)>,
}

impl<W: Write> Warnings<W> {
    pub fn new(out: W) -> Self {
        Self { out, kinds: Vec::new() }
    }

    /// One warning of `kind`. `message` is only formatted when the warning is written, so a
    /// counted-only warning costs no allocation.
    pub fn warn(&mut self, kind: &'static str, message: impl FnOnce() -> String) {
        let at = if let Some(i) = self.kinds.iter().position(|(k, _)| *k == kind) {
            i
        } else {
            self.kinds.push((kind, 0));
            self.kinds.len() - 1
        };
        let n = &mut self.kinds[at].1;
        *n += 1;
        if *n <= SHOWN_PER_KIND {
            // If stderr itself is gone there is nobody left to tell.
            let _ = writeln!(self.out, "flowtag: warning: {}", super::escape::visible(&message()));
        }
    }

    /// How many warnings of `kind` there were, written or not.
    #[must_use]
    pub fn count(&self, kind: &str) -> u64 {
        self.kinds.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
    }

    /// Writes one line per kind that had warnings left out, and returns the writer.
    pub fn finish(mut self) -> W {
        for &(kind, n) in &self.kinds {
            if n > SHOWN_PER_KIND {
                let _ = writeln!(
                    self.out,
                    "flowtag: warning: {} more {kind} warnings not shown (the report counts them all)",
                    n - SHOWN_PER_KIND
                );
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ten_per_kind_then_a_count() {
        let mut w = Warnings::new(Vec::new());
        let mut formatted = 0;
        for i in 0..25 {
            w.warn("bad_timestamp", || {
                formatted += 1;
                format!("packet {i}")
            });
        }
        w.warn("ts_backwards", || "once".into());
        assert_eq!(w.count("bad_timestamp"), 25);
        assert_eq!(formatted, 10, "messages past the sample are never formatted");
        let text = String::from_utf8(w.finish()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 12, "{text}");
        assert_eq!(lines[0], "flowtag: warning: packet 0");
        assert_eq!(lines[9], "flowtag: warning: packet 9");
        assert_eq!(lines[10], "flowtag: warning: once");
        assert_eq!(
            lines[11],
            "flowtag: warning: 15 more bad_timestamp warnings not shown (the report counts them all)"
        );
    }
}
