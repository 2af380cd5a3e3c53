//! Redis's glob, as `KEYS` and `SCAN MATCH` read it (`stringmatchlen` in Redis's `util.c`), on
//! bytes: `*` any run of bytes (`:` included), `?` one byte, `[...]` one byte of a class
//! (`^` first negates it, `a-z` is a range, either way round, `\` makes the next byte literal; a
//! class left open runs to the end of the pattern), `\x` the byte `x`, anything else itself.
//!
//! No maintained crate implements these semantics (the glob crates follow shell or gitignore
//! rules: `*` stops at `/`, `[!...]` negates, `**` is special), and the library only builds
//! escaped prefixes, so the matcher is here, checked against Redis's documented examples.

/// Whether `key` matches the glob `pattern`, as `SCAN MATCH pattern` would say.
pub(crate) fn matches(pattern: &str, key: &str) -> bool {
    let (pattern, key) = (pattern.as_bytes(), key.as_bytes());
    if key.is_empty() {
        // Redis compares nothing against an empty string: only the empty pattern matches it.
        return pattern.is_empty();
    }
    let (mut p, mut k) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the key byte it took last.
    let mut star: Option<(usize, usize)> = None;
    while k < key.len() {
        if pattern.get(p) == Some(&b'*') {
            p += 1;
            star = Some((p, k));
            continue;
        }
        if p < pattern.len() {
            let (ok, next) = one(pattern, p, key[k]);
            if ok {
                p = next;
                k += 1;
                continue;
            }
        }
        match star {
            Some((after, taken)) => {
                // Let the `*` take one more byte and try the rest again.
                p = after;
                k = taken + 1;
                star = Some((after, taken + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Whether the one-byte element of `pattern` at `p` (not `*`) matches `byte`, and where the next
/// element starts.
fn one(pattern: &[u8], p: usize, byte: u8) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => class(pattern, p + 1, byte),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == byte, p + 2),
        literal => (literal == byte, p + 1),
    }
}

/// The class whose body starts at `p` (after its `[`).
fn class(pattern: &[u8], mut p: usize, byte: u8) -> (bool, usize) {
    let negated = pattern.get(p) == Some(&b'^');
    if negated {
        p += 1;
    }
    let mut found = false;
    loop {
        let rest = pattern.len() - p;
        match pattern.get(p) {
            None => break, // left open: the class runs to the end of the pattern
            Some(b']') => {
                p += 1;
                break;
            }
            Some(b'\\') if rest >= 2 => {
                found |= pattern[p + 1] == byte;
                p += 2;
            }
            Some(&start) if rest >= 3 && pattern[p + 1] == b'-' => {
                let end = pattern[p + 2];
                let (low, high) = if start <= end {
                    (start, end)
                } else {
                    (end, start)
                };
                found |= (low..=high).contains(&byte);
                p += 3;
            }
            Some(&b) => {
                found |= b == byte;
                p += 1;
            }
        }
    }
    (found != negated, p)
}

/// The literal text every key the glob matches starts with (where a scan can start): the
/// pattern up to its first `*`, `?`, `[` or `\`.
pub(crate) fn literal_prefix(pattern: &str) -> &str {
    let end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    &pattern[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_documented_examples() {
        // From the documentation of KEYS.
        for key in ["hello", "hallo", "hxllo"] {
            assert!(matches("h?llo", key), "{key}");
        }
        for key in ["hllo", "heeeello"] {
            assert!(matches("h*llo", key), "{key}");
        }
        assert!(matches("h[ae]llo", "hello") && matches("h[ae]llo", "hallo"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h[^e]llo", "hallo") && matches("h[^e]llo", "hbllo"));
        assert!(!matches("h[^e]llo", "hello"));
        assert!(matches("h[a-b]llo", "hallo") && matches("h[a-b]llo", "hbllo"));
        assert!(!matches("h[a-b]llo", "hcllo"));
    }

    #[test]
    fn star_crosses_separators_and_may_be_empty() {
        assert!(matches("app:*", "app:u:1:name"));
        assert!(matches("app:*", "app:"));
        assert!(matches("*:name", "app:u:1:name"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "a:b:x:c"));
        assert!(!matches("a*b*c", "a:b:x:cd"));
        assert!(matches("**", "x"));
        assert!(matches("*", "x"));
        assert!(!matches("app:*", "ap"));
        assert!(matches("app", "app") && !matches("app", "app:"));
    }

    #[test]
    fn escapes_and_classes() {
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
        assert!(matches(r"a\?", "a?") && !matches(r"a\?", "ab"));
        assert!(matches(r"a\[x]", "a[x]"));
        assert!(matches(r"[\]]", "]"));
        assert!(matches(r"[\^]", "^"));
        assert!(matches("[z-a]", "m"), "a range either way round");
        assert!(matches("x[abc", "xb"), "an open class runs to the end");
        assert!(!matches("x[abc", "xd"));
        assert!(!matches("[", "a"));
        assert!(matches("[^", "a"));
        assert!(matches(r"a\", r"a\"), "a trailing backslash is itself");
        assert!(matches("100%", "100%") && matches("with space", "with space"));
        assert!(!matches("?", "é"));
        assert!(matches("??", "é"), "`?` is one byte, as in Redis");
    }

    #[test]
    fn the_empty_key() {
        assert!(matches("", ""));
        assert!(!matches("*", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(literal_prefix("app:u:*"), "app:u:");
        assert_eq!(literal_prefix(r"app:\*"), "app:");
        assert_eq!(literal_prefix("a?b"), "a");
        assert_eq!(literal_prefix("app:"), "app:");
        assert_eq!(literal_prefix("[a]"), "");
    }
}
