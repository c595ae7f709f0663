//! TWS accepts at most 50 messages per second from a client (error 100 past that).
//! [`Throttle`] says how long to wait before the next send so a burst (the startup
//! requests plus a long watchlist) never crosses that line.

use std::collections::VecDeque;
use std::time::Duration;

/// A sliding one-second window of send times.
#[derive(Debug)]
pub struct Throttle {
    max_per_sec: usize,
    /// Send times, monotonic ms.
    sent: VecDeque<u64>,
}

impl Throttle {
    pub fn new(max_per_sec: usize) -> Self {
        Throttle { max_per_sec: max_per_sec.max(1), sent: VecDeque::new() }
    }

    /// How long to wait before sending at `now` (monotonic ms); zero when a send may go
    /// at once.
    pub fn delay(&mut self, now: u64) -> Duration {
        while self.sent.front().is_some_and(|t| now.saturating_sub(*t) >= 1_000) {
            self.sent.pop_front();
        }
        if self.sent.len() < self.max_per_sec {
            Duration::ZERO
        } else {
            Duration::from_millis(1_000u64.saturating_sub(now.saturating_sub(self.sent[0])))
        }
    }

    /// Records a send at `now` (monotonic ms).
    pub fn record(&mut self, now: u64) {
        self.sent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_then_wait() {
        let mut t = Throttle::new(50);
        let t0 = 5_000u64;
        for _ in 0..50 {
            assert_eq!(t.delay(t0), Duration::ZERO);
            t.record(t0);
        }
        assert_eq!(t.delay(t0), Duration::from_secs(1));
        assert_eq!(t.delay(t0 + 400), Duration::from_millis(600));
        assert_eq!(t.delay(t0 + 1_000), Duration::ZERO);
    }
}
