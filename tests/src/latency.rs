//! Measuring delivery latency over WebSocket without parsing JSON: stamps, a
//! lock-free histogram with percentiles, and the process limits 10,000 sockets need.
//! Shared by the soak and the peer benchmark.

use std::sync::atomic::{AtomicU64, Ordering};

/// Latencies in microseconds: 1 us buckets to 10 ms, 100 us buckets to 10 s.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

const FINE: u64 = 10_000;
const COARSE: u64 = 100;

impl Histogram {
    pub fn new() -> Self {
        Histogram { buckets: (0..(FINE + 100_000) as usize).map(|_| AtomicU64::new(0)).collect() }
    }

    pub fn record(&self, us: u64) {
        let i = if us < FINE { us } else { (FINE + (us - FINE) / COARSE).min(self.buckets.len() as u64 - 1) };
        self.buckets[i as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the counts (resetting them) and returns (count, p50, p99, max) in us.
    pub fn take(&self) -> (u64, u64, u64, u64) {
        let (n, p50, p99, _, max) = self.take_percentiles();
        (n, p50, p99, max)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Microseconds since the Unix epoch of a seed-style UTC timestamp
/// (`2025-01-01T09:30:00.123456`).
pub fn parse_timestamp_us(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 26 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, us) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + us)
}

pub fn unix_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// The `"key":` number or string right after `key` in a frame, without parsing JSON.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start_matches([' ', '"']);
    let end = rest.find(['"', ',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Raises this process's open-file limit to its hard limit (10,000 sockets need it).
pub fn raise_fd_limit() {
    #[cfg(target_os = "linux")]
    unsafe {
        let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

impl Histogram {
    /// Takes the counts (resetting them): (count, p50, p99, p99.9, max) in us.
    pub fn take_percentiles(&self) -> (u64, u64, u64, u64, u64) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.swap(0, Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let value = |i: usize| if (i as u64) < FINE { i as u64 } else { FINE + (i as u64 - FINE) * COARSE };
        let pct = |p: f64| {
            let want = ((total as f64) * p).ceil() as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want.max(1) {
                    return value(i);
                }
            }
            0
        };
        let max = counts.iter().rposition(|c| *c > 0).map_or(0, value);
        (total, pct(0.5), pct(0.99), pct(0.999), max)
    }
}
