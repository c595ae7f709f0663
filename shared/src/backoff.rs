//! Reconnect delays with full jitter, shared by every ibws client of anything.
//!
//! `delay = min(cap, base + rand(0, min(cap, base * 2^attempt)))`, the formula
//! reference.md section 3 gives: the exponential term spreads reconnect storms, the
//! full jitter desynchronizes clients that lost the same server at the same moment.

/// Backoff parameters in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base_ms: u64,
    pub cap_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base_ms: 500, cap_ms: 20_000 }
    }
}

impl Backoff {
    /// The delay before reconnect attempt `attempt` (0 for the first retry), given a
    /// uniform random number in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, rand01: f64) -> u64 {
        let exp = self.base_ms.saturating_mul(1u64 << attempt.min(30)).min(self.cap_ms);
        let jitter = (exp as f64 * rand01.clamp(0.0, 1.0)) as u64;
        (self.base_ms + jitter).min(self.cap_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let b = Backoff::default();
        assert_eq!(b.delay_ms(0, 0.0), 500);
        assert_eq!(b.delay_ms(0, 0.999), 999);
        assert_eq!(b.delay_ms(3, 1.0), 4_500);
        assert_eq!(b.delay_ms(40, 1.0), 20_000);
        assert!((0..100).all(|i| b.delay_ms(10, f64::from(i) / 100.0) <= 20_000));
    }
}
