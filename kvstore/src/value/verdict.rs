//! The one verdict on a stored value: of the current type, of an older version, or neither.
//!
//! [`judge`] decides it for every path that has to: a typed read that did not decode as the
//! current type ([`Migrations`](super::Migrations), and through it a store's `audit()` and
//! `migrate()`), and the audit driven by a manifest, which has the schemas but no Rust types.
//! Each version is asked through its [`Codec`] ([`Codec::fits`]), which knows what "of this
//! type's shape" means for it: serde decoding the Rust type, or — for a schema alone — the
//! schema without its constraints. The rule is the same on both paths:
//!
//! - a value of the current type's shape that breaks one of its constraints is invalid, never
//!   re-read as an older version (an older type that is a structural subset would swallow it
//!   and drop data);
//! - only a value not of the current shape is tried as each older version, newest first; the
//!   first that fits (shape and constraints) is converted forward when the caller can convert
//!   (the typed path), and the converted value must be a valid current value;
//! - none fits: the current type's `Decode` error, saying what each older version made of the
//!   value (`as ProfileV2: /last: missing field; as ProfileV1: /name: missing field`).

use super::codec::{without_hint, Codec, Stored};
use crate::error::{Error, Result};

/// What a stored value is (see the module docs).
pub(crate) enum Verdict<X, C> {
    /// Of the current type, and valid: what reading it as the current type gave.
    Valid(X),
    /// Of an older version: what [`Versions::convert`] made of it.
    Outdated(C),
    /// Fits no version (or its conversion is not a valid current value): why.
    Invalid(Error),
}

/// The older versions a pattern's values may have, newest first.
pub(crate) trait Versions {
    /// What converting a value of an older version gives.
    type Converted;

    /// Where the versions are listed, for messages.
    const LISTED: &'static str;

    /// The name and codec of the older version at `index` (0: the newest), `None` past the
    /// oldest.
    fn version(&self, index: usize) -> Option<(&str, &Codec)>;

    /// Converts `stored`, a valid value of the version at `index`, into the current type; a
    /// result that breaks the current schema is [`Error::Validation`].
    fn convert(&self, index: usize, stored: &Stored<'_>) -> Result<Self::Converted>;
}

/// The verdict on `stored`, given `current`: the result of reading it as the current type —
/// `Decode` when it is not of that type's shape (see [`Codec::fits`]).
pub(crate) fn judge<X, V: Versions + ?Sized>(
    current: Result<X>,
    versions: &V,
    stored: &Stored<'_>,
) -> Verdict<X, V::Converted> {
    let (key, not_current) = match current {
        Ok(value) => return Verdict::Valid(value),
        Err(Error::Decode { key, message }) => (key, message),
        // Of the current shape, but breaking a constraint.
        Err(error) => return Verdict::Invalid(error),
    };
    let mut tried = Vec::new();
    let mut index = 0;
    while let Some((name, codec)) = versions.version(index) {
        match codec.fits(stored) {
            Ok(()) => {
                return match versions.convert(index, stored) {
                    Ok(converted) => Verdict::Outdated(converted),
                    Err(Error::Validation { key, issues, .. }) => {
                        Verdict::Invalid(Error::Validation {
                            key,
                            issues,
                            stored: true,
                            converted_from: Some(name.to_owned()),
                        })
                    }
                    Err(error) => Verdict::Invalid(error),
                }
            }
            Err(error) => tried.push(format!("as {name}: {}", codec.why_not(stored, &error))),
        }
        index += 1;
    }
    let message = if tried.is_empty() {
        not_current
    } else {
        format!(
            "{}; no older version {} matched either: {}",
            without_hint(&not_current),
            V::LISTED,
            tried.join("; ")
        )
    };
    Verdict::Invalid(Error::Decode { key, message })
}
