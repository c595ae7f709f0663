//! The one place the bridge reads clocks, turning them into the hub's [`Now`].

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ibws_shared::hub::Now;

static START: OnceLock<Instant> = OnceLock::new();

/// The current time: monotonic milliseconds since process start (plus one, so zero
/// never means "now"), and wall-clock microseconds.
pub fn now() -> Now {
    let start = *START.get_or_init(Instant::now);
    let unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    Now { mono_ms: start.elapsed().as_millis() as u64 + 1, unix_us }
}

/// The tokio instant of monotonic millisecond `mono_ms` (as [`now`] counts them).
pub fn instant_at(mono_ms: u64) -> tokio::time::Instant {
    let start = *START.get_or_init(Instant::now);
    tokio::time::Instant::from_std(start + std::time::Duration::from_millis(mono_ms.saturating_sub(1).min(1 << 40)))
}

/// An instant no deadline reaches (a year from now).
pub fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400)
}

/// The offset from UTC applied to seed-style timestamps (which carry no zone), in
/// seconds: `IBWS_UTC_OFFSET` (e.g. `+08:00`), default UTC. Reading the host's zone
/// would need a time-zone database; an explicit setting is also easier to reason about
/// when the bridge and its clients sit in different zones.
pub fn utc_offset_secs() -> i32 {
    std::env::var("IBWS_UTC_OFFSET").ok().and_then(|s| parse_offset(&s)).unwrap_or(0)
}

fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => (1, s),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    Some(sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60))
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets() {
        assert_eq!(super::parse_offset("+08:00"), Some(28_800));
        assert_eq!(super::parse_offset("-05:30"), Some(-19_800));
        assert_eq!(super::parse_offset("x"), None);
    }
}
