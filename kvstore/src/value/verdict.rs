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
//!
//! A key of another kind (a set where an item belongs) is told by the walk that reads the keys
//! (`Run::check_strings`, shared by both audits), before any bytes are judged.
//!
//! Where a schema alone cannot know what the Rust types know, a store's `audit()` and the
//! manifest's can still differ, in two narrow cases: a value of an older version whose
//! conversion breaks the current schema (the typed path converts it: invalid, naming the
//! version; the schemas have no conversion: outdated), and a string that a type parses (a
//! `Uuid`, a date) but that does not parse, where an older version accepts it (serde refuses
//! it, so the typed path tries the older version; the schema sees a `format`, a constraint of
//! the current shape: invalid).

use super::codec::{Codec, Refused, StoredValue};
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
    fn convert(&self, index: usize, stored: &StoredValue<'_>) -> Result<Self::Converted>;
}

/// The verdict on `stored`, given `current`: the result of reading it as the current type —
/// [`Refused::NotDecoded`] when it is not of that type's shape (see [`Codec::fits`]).
pub(crate) fn judge<X, V: Versions + ?Sized>(
    current: std::result::Result<X, Refused>,
    versions: &V,
    stored: &StoredValue<'_>,
) -> Verdict<X, V::Converted> {
    let not_current = match current {
        Ok(value) => return Verdict::Valid(value),
        Err(Refused::NotDecoded(not)) => not,
        // Of the current shape, but breaking a constraint.
        Err(Refused::Invalid(error)) => return Verdict::Invalid(error),
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
    if tried.is_empty() {
        return Verdict::Invalid(not_current.into());
    }
    Verdict::Invalid(Error::Decode {
        message: format!(
            "{}; no older version {} matched either: {}",
            not_current.reason,
            V::LISTED,
            tried.join("; ")
        ),
        key: not_current.key,
    })
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::value::{codec, Migrations, Read};

    #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
    struct ProfileV1 {
        name: String,
    }

    #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
    struct ProfileV2 {
        first: String,
        last: String,
    }

    #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
    struct Profile {
        first: String,
        #[schemars(length(max = 8))]
        last: String,
    }

    fn from_v2(v2: ProfileV2) -> Profile {
        Profile {
            first: v2.first,
            last: v2.last,
        }
    }

    fn from_v1(v1: ProfileV1) -> Profile {
        Profile {
            first: String::new(),
            last: v1.name,
        }
    }

    fn migrations() -> Migrations<Profile> {
        Migrations::new()
            .version::<ProfileV2>(from_v2)
            .version::<ProfileV1>(from_v1)
    }

    fn read(bytes: &[u8]) -> Result<Read<Profile>> {
        migrations().read(codec::<Profile>(), "app:p", bytes)
    }

    /// The schemas alone, as a manifest has them.
    struct Schemas(Vec<(String, Codec)>);

    impl Versions for Schemas {
        type Converted = ();
        const LISTED: &'static str = "in `previous`";
        fn version(&self, index: usize) -> Option<(&str, &Codec)> {
            self.0.get(index).map(|(n, c)| (n.as_str(), c))
        }
        fn convert(&self, _: usize, _: &StoredValue<'_>) -> Result<()> {
            Ok(())
        }
    }

    fn by_schemas(bytes: &[u8]) -> Verdict<(), ()> {
        let of = |codec: &Codec| Codec::from_schema(codec.schema().clone(), "a schema");
        let current = of(codec::<Profile>());
        let versions = Schemas(vec![
            ("ProfileV2".into(), of(codec::<ProfileV2>())),
            ("ProfileV1".into(), of(codec::<ProfileV1>())),
        ]);
        let stored = StoredValue::new("app:p", bytes);
        judge(current.fits(&stored), &versions, &stored)
    }

    #[test]
    fn typed_and_schema_verdicts_agree() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"first":"A","last":"B"}"#, "valid"),
            // Of the current shape, breaking its constraint: ProfileV2 would take it.
            (br#"{"first":"A","last":"far too long a name"}"#, "invalid"),
            (br#"{"name":"Ada"}"#, "outdated"),
            (br#"{"nick":"x"}"#, "invalid"),
            (b"not json", "invalid"),
        ];
        for (bytes, expected) in cases {
            let typed = match read(bytes) {
                Ok(Read::Current(_)) => "valid",
                Ok(Read::Older { .. }) => "outdated",
                Err(_) => "invalid",
            };
            let schemas = match by_schemas(bytes) {
                Verdict::Valid(()) => "valid",
                Verdict::Outdated(()) => "outdated",
                Verdict::Invalid(_) => "invalid",
            };
            let text = String::from_utf8_lossy(bytes);
            assert_eq!((typed, schemas), (expected, expected), "{text}");
        }
    }

    #[test]
    fn no_version_fits_says_why_each_did_not() {
        let err = match read(br#"{"name":7}"#) {
            Err(e @ Error::Decode { .. }) => e.to_string(),
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert!(err.contains("app:p"), "{err}");
        assert!(
            err.contains("missing field `first`"),
            "the current type's own error: {err}"
        );
        assert!(!err.contains("the type may have changed"), "{err}");
        assert!(
            err.contains(
                "no older version listed in `migrate_from` matched either: \
                 as ProfileV2: /first: missing field (and 1 more issue); \
                 as ProfileV1: /name: 7 is not of type \"string\""
            ),
            "{err}"
        );
        let err = match by_schemas(br#"{"name":7}"#) {
            Verdict::Invalid(e @ Error::Decode { .. }) => e.to_string(),
            _ => panic!("not a Decode error"),
        };
        assert!(
            err.contains("/first: missing field (and 1 more issue); no older version in `previous` matched either: as ProfileV2: /first: missing field (and 1 more issue); as ProfileV1: /name: 7 is not of type"),
            "{err}"
        );
    }

    #[test]
    fn a_converted_value_that_breaks_the_schema_names_its_version() {
        let err = match read(br#"{"name":"far too long a name"}"#) {
            Err(e) => e,
            Ok(_) => panic!("converted"),
        };
        match &err {
            Error::Validation {
                issues,
                stored: true,
                converted_from: Some(version),
                ..
            } => {
                assert_eq!(version, "ProfileV1");
                assert_eq!(issues[0].path, "/last", "{issues:?}");
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with(
                "invalid value stored at key `app:p`: converted from ProfileV1: at /last: "
            ),
            "{text}"
        );
    }
}
