//! Rules for static key segments and root prefixes, checked at compile time. The runtime keeps
//! the same rules in `kvstore/src/layout/names.rs`; the test below includes that file and proves
//! both agree.

/// Why a static name is not a valid key segment.
#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name contains a character outside `[A-Za-z0-9_.-]`.
    BadChar(char),
}

/// Checks that `name` is a valid static segment: `[A-Za-z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    match name.chars().find(|&c| !is_name_char(c)) {
        Some(c) => Err(NameError::BadChar(c)),
        None => Ok(()),
    }
}

/// Checks that `prefix` is a valid root prefix: valid names joined by `:` (no empty segment).
pub fn check_prefix(prefix: &str) -> Result<(), NameError> {
    if prefix.is_empty() {
        return Err(NameError::Empty);
    }
    prefix.split(':').try_for_each(check_name)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The runtime's rules, compiled into the tests from the runtime crate's own file.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../kvstore/src/layout/names.rs"]
mod runtime;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "users", "u", "A-Z_0.9", "type", "..", "-"] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("a:b"), Err(NameError::BadChar(':')));
        assert_eq!(check_name("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(check_name("a*"), Err(NameError::BadChar('*')));
        assert_eq!(check_name("{x}"), Err(NameError::BadChar('{')));
        assert_eq!(check_name("café"), Err(NameError::BadChar('é')));
    }

    #[test]
    fn prefixes() {
        for ok in ["shop", "app:v1", "a.b-c_d:e:f"] {
            assert_eq!(check_prefix(ok), Ok(()), "{ok:?}");
        }
        assert_eq!(check_prefix(""), Err(NameError::Empty));
        assert_eq!(check_prefix("a::b"), Err(NameError::Empty));
        assert_eq!(check_prefix(":a"), Err(NameError::Empty));
        assert_eq!(check_prefix("a:"), Err(NameError::Empty));
        assert_eq!(check_prefix("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(check_prefix("a:*"), Err(NameError::BadChar('*')));
    }

    use super::runtime;

    #[test]
    fn the_runtime_agrees() {
        let mut samples: Vec<String> = ["", ":", "::", "a::b", ":a", "a:", "app:v1", "a.b-c_d"]
            .into_iter()
            .map(String::from)
            .collect();
        // Every ASCII character and a few others, alone, inside a name, and around a `:`.
        let chars = (0u8..=127)
            .map(char::from)
            .chain(['é', 'ü', '✓', '\u{2028}', '\u{ff1a}']);
        for c in chars {
            samples.push(c.to_string());
            samples.push(format!("a{c}b"));
            samples.push(format!("a:{c}"));
        }
        for s in &samples {
            assert_eq!(
                check_name(s).is_ok(),
                runtime::is_valid_name(s),
                "name {s:?}"
            );
            // An empty prefix means "no prefix" at run time; the derive refuses `prefix = ""`.
            if !s.is_empty() {
                assert_eq!(
                    check_prefix(s).is_ok(),
                    runtime::is_valid_prefix(s),
                    "prefix {s:?}"
                );
            }
        }
    }
}
