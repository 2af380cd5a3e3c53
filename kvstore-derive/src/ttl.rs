//! Compile-time parsing of `#[store(ttl = "...")]` durations.

/// Parses a TTL such as `"500ms"`, `"2s"`, `"30m"`, `"24h"` or `"7d"` into milliseconds.
///
/// The grammar is one positive decimal integer followed by one unit (`ms`, `s`, `m`, `h`, `d`),
/// with nothing else (no spaces, no sign, no fraction). Returns a message describing the problem.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let malformed = || {
        format!(
            "invalid ttl `{text}`: expected a positive integer followed by a unit, `ms`, `s`, \
             `m`, `h` or `d`, with no space: \"500ms\", \"30m\", \"7d\""
        )
    };
    if digits.is_empty() {
        return Err(malformed());
    }
    let per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(malformed()),
    };
    let too_large = || format!("invalid ttl `{text}`: too large");
    let count: u64 = digits.parse().map_err(|_| too_large())?;
    if count == 0 {
        return Err(format!(
            "invalid ttl `{text}`: a ttl must be greater than zero (remove the attribute for no ttl)"
        ));
    }
    count.checked_mul(per_unit).ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn units() {
        assert_eq!(parse_ttl("500ms"), Ok(500));
        assert_eq!(parse_ttl("2s"), Ok(2_000));
        assert_eq!(parse_ttl("30m"), Ok(1_800_000));
        assert_eq!(parse_ttl("24h"), Ok(86_400_000));
        assert_eq!(parse_ttl("7d"), Ok(604_800_000));
        assert_eq!(parse_ttl("1ms"), Ok(1));
        assert_eq!(parse_ttl("007s"), Ok(7_000));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "", "ms", "10", "10 s", " 10s", "10s ", "-1s", "+1s", "1.5s", "1h30m", "10S", "10sec",
            "10us", "10 ", "s10", "1e3ms",
        ] {
            let err = parse_ttl(bad).unwrap_err();
            assert!(err.starts_with("invalid ttl"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn rejects_zero() {
        for zero in ["0s", "0ms", "000d"] {
            assert!(
                parse_ttl(zero).unwrap_err().contains("greater than zero"),
                "{zero}"
            );
        }
    }

    #[test]
    fn rejects_overflow() {
        assert!(parse_ttl("18446744073709551615d")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_ttl("99999999999999999999999s")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(parse_ttl("18446744073709551615ms"), Ok(u64::MAX));
    }
}
