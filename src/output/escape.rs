//! Escape: control characters made visible before text reaches a terminal or a text report.
//!
//! What I own: one rule for every name flowtag did not write itself (service names from
//! `--table`, file names, interface names, OS messages that quote them). C0 controls, DEL and
//! C1 controls are written as `\n`, `\t`, `\r` or `\xNN` / `\u{NN}`, so a name cannot clear
//! the screen, set the clipboard (OSC 52), move the cursor, or break a table's layout with a
//! newline; so are the Unicode marks that reorder text (bidirectional overrides and isolates),
//! which can make a line read as something it is not. A name is escaped before it is measured
//! or cut, so a cut never splits an escape.
//!
//! What I must not do: change text without controls (the common case is borrowed, not
//! copied), or escape JSON, which serde_json escapes by its own rules.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
fn hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written visibly.
#[must_use]
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) && u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_plain_text_is_borrowed() {
        assert!(matches!(visible("Common Internet File System (CIFS)"), Cow::Borrowed(_)));
        assert!(matches!(visible("Überwachung: ünïcode is fine"), Cow::Borrowed(_)));
        // OSC 52 (clipboard), clear screen, a newline, DEL, a C1 CSI, a right-to-left override.
        assert_eq!(visible("a\x1b]52;c;aGk=\x07b"), "a\\x1b]52;c;aGk=\\x07b");
        assert_eq!(visible("\x1b[2J"), "\\x1b[2J");
        assert_eq!(visible("two\nlines\ttab\r"), "two\\nlines\\ttab\\r");
        assert_eq!(visible("del\x7f"), "del\\x7f");
        assert_eq!(visible("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(visible("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for s in ["\x00", "\x1b", "\u{85}", "\u{2066}"] {
            assert!(!visible(s).chars().any(hidden), "{s:?}");
        }
    }
}
