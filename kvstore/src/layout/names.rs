//! The rules for static key segments (field names, `rename`s) and root prefixes.
//!
//! This file is self-contained (no `crate::` paths): the derive crate checks the same rules at
//! compile time, and its tests include this file to prove both agree.

/// The separator between key segments.
pub const SEPARATOR: char = ':';

/// Whether `name` is a valid static segment: `[A-Za-z0-9_.-]+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `prefix` is a valid root prefix: valid names joined by `:`.
pub fn is_valid_prefix(prefix: &str) -> bool {
    prefix.split(SEPARATOR).all(is_valid_name)
}
