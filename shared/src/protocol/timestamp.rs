//! Seed-style timestamps without a time-zone library.
//!
//! The seed system stamps frames with ISO-8601 local time with microseconds and no
//! offset (`2023-03-15T10:30:45.123456`). The hub cannot read a clock, so drivers pass
//! the wall time in; this module only formats it. The civil-date conversion is Howard
//! Hinnant's well-known days-from-civil algorithm, written out here.

/// Formats microseconds since the Unix epoch, shifted by `utc_offset_secs`, as
/// `YYYY-MM-DDTHH:MM:SS.ffffff`.
pub fn format_timestamp(unix_micros: i64, utc_offset_secs: i32) -> String {
    let micros = unix_micros + i64::from(utc_offset_secs) * 1_000_000;
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}", sod / 3600, (sod / 60) % 60, sod % 60)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_seed() {
        // 2023-03-15T10:30:45.123456 UTC
        assert_eq!(format_timestamp(1_678_876_245_123_456, 0), "2023-03-15T10:30:45.123456");
        assert_eq!(format_timestamp(0, 3600), "1970-01-01T01:00:00.000000");
        assert_eq!(format_timestamp(951_782_400_000_000, 0), "2000-02-29T00:00:00.000000");
    }
}
