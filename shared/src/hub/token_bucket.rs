//! A token bucket over a millisecond clock, for inbound message rates.

/// Refills `rate_per_sec` tokens per second up to `burst`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    burst: u32,
    rate_per_sec: u32,
    /// Tokens in thousandths, so sub-token refills are not lost to rounding.
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    pub fn new(burst: u32, rate_per_sec: u32, now_ms: u64) -> Self {
        TokenBucket { burst, rate_per_sec, milli_tokens: u64::from(burst) * 1000, last_ms: now_ms }
    }

    /// Takes one token; false when the bucket is empty.
    pub fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        let cap = u64::from(self.burst) * 1000;
        self.milli_tokens = (self.milli_tokens + elapsed * u64::from(self.rate_per_sec)).min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(3, 10, 0);
        assert!(b.take(0) && b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(99));
        assert!(b.take(100));
        assert!(!b.take(100));
    }
}
