//! Timestamps as Go's `time.Time` marshals them to JSON: RFC 3339 with nanoseconds, trailing
//! zeros of the fraction trimmed, in UTC (`2024-05-01T10:00:00.5Z`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats `t` like Go's `time.RFC3339Nano` in UTC.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs() as i64;
    let nanos = since.subsec_nanos();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Go's zero `time.Time` (what Consul reports for a stream that has not received anything).
pub const ZERO: &str = "0001-01-01T00:00:00Z";

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_714_557_600, 500_000_000);
        assert_eq!(rfc3339_nano(t), "2024-05-01T10:00:00.5Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 123);
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00.000000123Z");
    }
}
