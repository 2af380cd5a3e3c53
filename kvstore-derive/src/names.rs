//! Rules for static key segments and root prefixes (mirrors `kvstore::key::is_valid_name`).

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
}
