//! Interrupt: SIGINT, SIGTERM and SIGHUP turned into a flag that the read loop polls.
//!
//! What I own: installing the handlers (through `signal-hook`, whose handlers only store to an
//! atomic, which is all a signal handler may safely do) and saying which signal arrived. The
//! read loop checks [`Interrupt::signal`] after each packet, stops, and the run still writes its
//! summary, marked `"complete": false, "interrupted": "SIGINT"`, and exits 128 + the signal
//! number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP: a closed terminal or a service
//! manager's reload is a stop like the others), as a shell reports a process the signal ended
//! (CATALOGUE.md #81, #82). Blocked inputs and outputs look at the flag too
//! ([`crate::blocking`]), so the first signal ends a run whatever it waits on.
//!
//! A second signal of any of them ends the process at once with that same code: the way out of
//! a run that cannot stop (a write to a disk that hangs).
//!
//! What I must not do: print, or decide anything but "stop".

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A signal that stops a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Signal {
    Int,
    Term,
    Hup,
}

/// Every signal that stops a run.
const ALL: [Signal; 3] = [Signal::Int, Signal::Term, Signal::Hup];

impl Signal {
    /// The signal's name in reports and messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
        }
    }

    /// The exit code of a run this signal stopped: 128 + its number, as shells report it.
    #[must_use]
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
            Signal::Hup => 129,
        }
    }

    fn number(self) -> i32 {
        match self {
            Signal::Int => signal_hook::consts::SIGINT,
            Signal::Term => signal_hook::consts::SIGTERM,
            Signal::Hup => signal_hook::consts::SIGHUP,
        }
    }
}

/// The flag SIGINT and SIGTERM set.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    which: Arc<AtomicUsize>,
}

impl Interrupt {
    /// A flag no signal sets (library use, tests).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Installs the handlers for the rest of the process's life.
    ///
    /// # Errors
    /// The OS refused to install a handler.
    pub fn install() -> io::Result<Self> {
        let flag = Self::default();
        let seen = Arc::new(AtomicBool::new(false));
        for sig in ALL {
            // Order matters: the conditional exit is checked before `seen` is set, so only a
            // second signal takes it (signal-hook's documented pattern).
            signal_hook::flag::register_conditional_shutdown(
                sig.number(),
                i32::from(sig.exit_code()),
                Arc::clone(&seen),
            )?;
            signal_hook::flag::register(sig.number(), Arc::clone(&seen))?;
            #[expect(clippy::cast_sign_loss, reason = "signal numbers are small and positive")]
            signal_hook::flag::register_usize(sig.number(), Arc::clone(&flag.which), sig.number() as usize)?;
        }
        Ok(flag)
    }

    /// The first signal that arrived, if any. Cheap: one relaxed atomic load.
    #[must_use]
    pub fn signal(&self) -> Option<Signal> {
        let n = self.which.load(Ordering::Relaxed);
        // Polled once a packet: the common answer, no signal, costs one load and one compare.
        if n == 0 {
            return None;
        }
        ALL.into_iter().find(|s| usize::try_from(s.number()).is_ok_and(|v| v == n))
    }

    /// Sets the flag as if `sig` had arrived (tests).
    pub fn raise(&self, sig: Signal) {
        self.which.store(usize::try_from(sig.number()).unwrap_or(0), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_the_signal() {
        let i = Interrupt::none();
        assert_eq!(i.signal(), None);
        i.raise(Signal::Term);
        assert_eq!(i.signal(), Some(Signal::Term));
        assert_eq!(Signal::Term.exit_code(), 143);
        assert_eq!(Signal::Int.name(), "SIGINT");
    }
}
