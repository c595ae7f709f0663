//! The bridge's clock: the drivers' one clock (`ibws_tws_io::clock`, re-exported) and
//! the UTC offset of seed-style timestamps.

pub use ibws_tws_io::clock::{far_future, instant_at, now, sleep_until, Now};

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
