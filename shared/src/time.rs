//! The one model of time every ibws state machine takes as an input.
//!
//! Nothing in the cores reads a clock: each call carries [`Now`], read once by its
//! driver, and each state machine says when it next needs to be called
//! (`poll_timeout`), in the same monotonic milliseconds. The hub, the relay's sessions,
//! the uplink and the TWS link all use it, so a test drives any of them on a simulated
//! clock by counting milliseconds.

/// The current time, as the driver read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// A monotonic clock in milliseconds, for deadlines.
    pub mono_ms: u64,
    /// Wall-clock microseconds since the Unix epoch, for timestamps and token expiry.
    pub unix_us: i64,
}

impl Now {
    /// Whole seconds since the Unix epoch (0 before it).
    pub fn unix_secs(self) -> u64 {
        (self.unix_us.max(0) / 1_000_000) as u64
    }

    /// The same instant `ms` milliseconds later (both clocks).
    pub fn plus_ms(self, ms: u64) -> Now {
        Now { mono_ms: self.mono_ms.saturating_add(ms), unix_us: self.unix_us.saturating_add(ms as i64 * 1000) }
    }
}
