//! Go's `time.ParseDuration`, for the `wait` query parameter of blocking queries.

/// Parses a Go duration string (`"5m"`, `"1h30m"`, `"1.5s"`, `"-2s"`, `"0"`) into
/// nanoseconds. Returns `None` where Go returns an error (the HTTP API then answers
/// `Invalid wait time`).
pub fn parse(s: &str) -> Option<i64> {
    let mut rest = s.as_bytes();
    let mut negative = false;
    if let Some(&c) = rest.first()
        && (c == b'-' || c == b'+')
    {
        negative = c == b'-';
        rest = &rest[1..];
    }
    if rest == b"0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !(rest[0] == b'.' || rest[0].is_ascii_digit()) {
            return None;
        }
        // Integer part.
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut whole: u64 = 0;
        for &d in &rest[..digits] {
            whole = whole.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            if whole > 1 << 63 {
                return None;
            }
        }
        let pre = digits > 0;
        rest = &rest[digits..];
        // Fractional part: keep as many digits as fit, like Go's leadingFraction.
        let (mut frac, mut scale, mut post) = (0u64, 1f64, false);
        if rest.first() == Some(&b'.') {
            rest = &rest[1..];
            let fdigits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            post = fdigits > 0;
            let mut overflow = false;
            for &d in &rest[..fdigits] {
                if overflow {
                    continue;
                }
                if frac > (i64::MAX as u64 - 9) / 10 {
                    overflow = true;
                    continue;
                }
                frac = frac * 10 + u64::from(d - b'0');
                scale *= 10.0;
            }
            rest = &rest[fdigits..];
        }
        if !pre && !post {
            return None;
        }
        let unit_len = rest
            .iter()
            .take_while(|c| !(**c == b'.' || c.is_ascii_digit()))
            .count();
        if unit_len == 0 {
            return None;
        }
        let unit: u64 = match &rest[..unit_len] {
            b"ns" => 1,
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60 * 1_000_000_000,
            b"h" => 3600 * 1_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        if whole > (1u64 << 63) / unit {
            return None;
        }
        let mut value = whole * unit;
        if frac > 0 {
            value = value.checked_add((frac as f64 * (unit as f64 / scale)) as u64)?;
            if value > 1 << 63 {
                return None;
            }
        }
        total = total.checked_add(value)?;
        if total > 1 << 63 {
            return None;
        }
    }
    if negative {
        Some((total as i128).wrapping_neg() as i64)
    } else if total > i64::MAX as u64 {
        None
    } else {
        Some(total as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_go_durations() {
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("5m"), Some(300_000_000_000));
        assert_eq!(parse("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse("1.5s"), Some(1_500_000_000));
        assert_eq!(parse(".5s"), Some(500_000_000));
        assert_eq!(parse("-2s"), Some(-2_000_000_000));
        assert_eq!(parse("+10ms"), Some(10_000_000));
        assert_eq!(parse("3\u{b5}s"), Some(3_000));
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["", "5", "abc", "1x", ".s", "1.s5", "s", "-", "9999999999h"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("1.s"), Some(1_000_000_000));
    }
}
