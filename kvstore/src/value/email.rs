//! The `email` format, checked fast for the common shape and fully for everything else.
//!
//! jsonschema's `email` check parses the address with the `email_address` crate and then checks
//! the domain as a host name: complete, and about 300 ns per value. Most stored addresses have
//! the plain shape `local@host.tld` (letters, digits and `._+-` in the local part; letters,
//! digits and `-` in dot-separated labels): [`is_plain_email`] recognizes exactly those that the
//! full check accepts, in a single pass, and anything else — quoted local parts, IP literals,
//! punycode labels, odd characters, invalid addresses — goes to the full check. So the format is
//! as strict as before (a test compares both on generated addresses), only faster where it can
//! be.

use std::sync::LazyLock;

use serde_json::Value;

/// jsonschema's own `email` check (a validator of `{"format": "email"}`).
static FULL: LazyLock<Option<jsonschema::Validator>> = LazyLock::new(|| {
    jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .build(&serde_json::json!({"format": "email"}))
        .ok()
});

/// The `email` format check used by every compiled schema.
pub(crate) fn is_email(value: &str) -> bool {
    is_plain_email(value) || full(value)
}

fn full(value: &str) -> bool {
    FULL.as_ref()
        .is_some_and(|validator| validator.is_valid(&Value::String(value.to_owned())))
}

/// Whether `value` is `local@domain` of the plain shape: a local part of 1 to 64 bytes of
/// `[A-Za-z0-9._+-]` without a leading, trailing or doubled `.`; a domain of at least two
/// labels, at most 253 bytes, each label 1 to 63 bytes of `[A-Za-z0-9-]` not starting or ending
/// with `-` and without `--`, the last one starting with a letter. (`true` only for addresses the
/// full check accepts; `false` says nothing.) One pass over the bytes.
pub(crate) fn is_plain_email(value: &str) -> bool {
    let bytes = value.as_bytes();
    // The local part, up to the first `@`; a leading `.` counts as a doubled one.
    let mut prev = b'.';
    let mut at = None;
    for (i, &b) in bytes.iter().enumerate() {
        if CLASS[b as usize] & LOCAL != 0 {
            prev = b;
            continue;
        }
        match b {
            b'@' => {
                at = Some(i);
                break;
            }
            b'.' if prev != b'.' => prev = b,
            _ => return false,
        }
    }
    let Some(at) = at else {
        return false;
    };
    if at == 0 || at > 64 || prev == b'.' {
        return false;
    }
    let domain = &bytes[at + 1..];
    if domain.is_empty() || domain.len() > 253 {
        return false;
    }
    // The labels: `dots` ended so far, the current one's length and first byte.
    let (mut dots, mut len, mut first, mut prev) = (0u32, 0u32, 0u8, 0u8);
    for &b in domain {
        if CLASS[b as usize] & ALNUM != 0 {
            if len == 0 {
                first = b;
            }
            len += 1;
            prev = b;
            continue;
        }
        match b {
            b'.' if len > 0 && len <= 63 && prev != b'-' => {
                dots += 1;
                len = 0;
            }
            // Not leading, not doubled.
            b'-' if len > 0 && prev != b'-' => {
                len += 1;
                prev = b;
            }
            _ => return false,
        }
    }
    dots >= 1 && len > 0 && len <= 63 && prev != b'-' && first.is_ascii_alphabetic()
}

/// [`CLASS`] bits: a byte of the plain local part other than `.`; a letter or a digit.
const LOCAL: u8 = 1;
const ALNUM: u8 = 2;

/// The class of every byte, for one table lookup per byte.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() {
            table[i] = LOCAL | ALNUM;
        } else if matches!(b, b'_' | b'+' | b'-') {
            table[i] = LOCAL;
        }
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain shape, written as the rule reads (several passes): what the one-pass
    /// [`is_plain_email`] is compared with.
    fn plain_by_the_rule(value: &str) -> bool {
        let is_local_char =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-');
        let bytes = value.as_bytes();
        let Some(at) = bytes.iter().position(|&b| b == b'@') else {
            return false;
        };
        let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
        if local.is_empty()
            || local.len() > 64
            || local[0] == b'.'
            || local[local.len() - 1] == b'.'
            || !local.iter().all(|&b| is_local_char(b))
            || local.windows(2).any(|w| w == b"..")
        {
            return false;
        }
        if domain.is_empty() || domain.len() > 253 {
            return false;
        }
        let labels: Vec<&[u8]> = domain.split(|&b| b == b'.').collect();
        labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label[0] != b'-'
                    && label[label.len() - 1] != b'-'
                    && label
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.windows(2).any(|w| w == b"--")
            })
            && labels[labels.len() - 1][0].is_ascii_alphabetic()
    }

    #[test]
    fn plain_addresses_are_recognized() {
        for ok in [
            "user17@example.com",
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x_y-z@a-b.c-d.io",
        ] {
            assert!(is_plain_email(ok), "{ok}");
            assert!(full(ok), "{ok}");
        }
        for other in [
            "nope",
            "@example.com",
            "a@",
            "a@localhost",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b-.com",
            "a@xn--bcher-kva.com",
            "a@b.123",
            "\"quoted\"@b.com",
            "a@[127.0.0.1]",
            "a b@c.com",
            "a@b..com",
        ] {
            assert!(!is_plain_email(other), "{other}");
        }
    }

    /// Every address the fast path accepts, the full check accepts too; and the combined check
    /// agrees with the full check on everything.
    #[test]
    fn the_fast_path_never_accepts_what_the_full_check_refuses() {
        let alphabet: &[u8] = b"ab1.-_+@Z9x";
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut fast = 0;
        for _ in 0..60_000 {
            let len = 3 + (next() % 18) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            assert_eq!(is_plain_email(&s), plain_by_the_rule(&s), "{s:?}");
            if is_plain_email(&s) {
                fast += 1;
                assert!(
                    full(&s),
                    "the fast path accepted {s:?}, the full check refuses it"
                );
            }
            assert_eq!(is_email(&s), full(&s), "{s:?}");
        }
        assert!(fast > 100, "the generator reaches the fast path ({fast})");
        // Long labels and addresses at the limits.
        let long_label = "a".repeat(63);
        let s = format!("u@{long_label}.com");
        assert!(is_plain_email(&s) && full(&s));
        let s = format!("u@{}a.com", long_label);
        assert!(!is_plain_email(&s));
        let s = format!("{}@b.com", "l".repeat(64));
        assert_eq!(is_plain_email(&s), full(&s));
        for s in [
            format!("{}@b.com", "l".repeat(65)),
            format!("u@{}.com", "a".repeat(64)),
            format!("u@{}.com", vec!["a".repeat(60); 4].join(".")),
            format!("u@{}.co", vec!["a".repeat(62); 4].join(".")),
        ] {
            assert_eq!(is_plain_email(&s), plain_by_the_rule(&s), "{s}");
            assert_eq!(is_email(&s), full(&s), "{s}");
        }
    }
}

#[cfg(test)]
mod timing {
    /// `cargo test --release -p kvstore --lib email_timing -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn email_timing() {
        let addresses: Vec<String> = (0..1000).map(|i| format!("user{i}@example.com")).collect();
        for (name, f) in [
            ("full", super::full as fn(&str) -> bool),
            ("fast+full", super::is_email),
        ] {
            let start = std::time::Instant::now();
            let mut ok = 0;
            for _ in 0..200 {
                for a in &addresses {
                    ok += usize::from(f(a));
                }
            }
            let per = start.elapsed().as_nanos() as f64 / 200_000.0;
            println!("{name}: {per:.0} ns per address ({ok} valid)");
        }
    }
}
