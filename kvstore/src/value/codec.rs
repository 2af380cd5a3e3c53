//! Value encoding and validation.
//!
//! Every value type gets one [`Codec`] per process, built the first time a handle of that type is
//! created: its JSON Schema (from schemars) and a compiled `jsonschema` validator with format
//! checking on and no external `$ref` resolution. Handles keep a `&'static Codec`, so an operation
//! never compiles or even looks up a schema.
//!
//! Fast path: when a schema says nothing a Rust value of its type cannot break — only types,
//! properties, required fields, items, enums and the bounds implied by the integer type — the
//! validator can never reject what serde produces, and serde itself rejects every stored value of
//! the wrong shape. Such *structural* types (a [`Plan`] that is trivial) are encoded and decoded
//! by serde directly, skipping validation. A type with any constraint (`format`, `pattern`,
//! `minLength`, a range, ...) is always validated on write and on read, by one route: the walk of
//! its [`Plan`] over the typed value ([`check::is_valid`]: only the constrained parts are
//! serialized and checked), and — when the walk is not sure — the whole value against the whole
//! schema, which also gives the error's issues.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::RwLock;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, InvalidKeyReason, Issue, Result};
use crate::value::plan::{self, Plan};
use crate::value::{check, depth_limit};

/// A type that can be stored in an [`Item`](crate::Item) or a [`SetOf`](crate::SetOf): it is
/// serialized with serde and validated against the JSON Schema schemars generates for it.
///
/// Implemented for every `T: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored as a kvstore value",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait Storable: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static> Storable for T {}

/// The compiled schema of one value type.
pub struct Codec {
    type_name: &'static str,
    schema: Value,
    validator: std::result::Result<jsonschema::Validator, String>,
    structural: bool,
    /// For constrained types: where the constraints are (see [`crate::value::plan`]).
    plan: Option<Plan>,
    /// Whether a value of the type may nest deeper than serde_json reads back (its schema has a
    /// `$ref` cycle or admits any value): then it is serialized through [`depth_limit`].
    may_nest: bool,
    /// How [`Codec::fits`] tells the type's shape.
    shape: Shape,
}

/// How a codec tells whether stored bytes are of its type's shape.
enum Shape {
    /// A Rust type: serde decodes them or not (then [`Codec::decode_shape_first`]).
    Typed(fn(&Codec, &str, &[u8]) -> std::result::Result<(), Refused>),
    /// A schema known only as JSON: its shape schema ([`plan::shape`]) accepts them or
    /// not (`Err`: it does not compile; then the whole schema decides alone).
    Schema(std::result::Result<jsonschema::Validator, String>),
}

/// [`Shape::Typed`] of `T`.
fn fits_as<T: Storable>(
    codec: &Codec,
    key: &str,
    bytes: &[u8],
) -> std::result::Result<(), Refused> {
    codec.decode_shape_first::<T>(key, bytes).map(drop)
}

/// Why stored bytes are not a valid value of a type (what [`Codec::fits`] and
/// [`Codec::decode_shape_first`] say).
#[derive(Debug)]
pub(crate) enum Refused {
    /// They are not of the type's shape.
    NotDecoded(NotDecoded),
    /// They are of its shape but break a constraint (mostly [`Error::Validation`]).
    Invalid(Error),
}

/// Stored bytes that are not of a type's shape: the [`Error::Decode`] it becomes, as data.
#[derive(Debug)]
pub(crate) struct NotDecoded {
    /// The key the bytes are stored at.
    pub(crate) key: String,
    /// What the decoder reported.
    pub(crate) reason: String,
    /// Whether serde found a missing or unknown field or variant: the type may have changed
    /// since the value was written, and the error says what to do about it.
    pub(crate) changed_type: bool,
}

impl From<NotDecoded> for Error {
    fn from(not: NotDecoded) -> Error {
        let message = if not.changed_type {
            format!(
                "{}; the type may have changed since this value was written: give a new \
                 field `#[serde(default)]`, keep a renamed field readable with \
                 `#[serde(alias = \"old_name\")]`, or list the old type in \
                 `#[store(migrate_from(OldType))]` to convert stored values",
                not.reason
            )
        } else {
            not.reason
        };
        Error::Decode {
            key: not.key,
            message,
        }
    }
}

impl From<Error> for Refused {
    fn from(error: Error) -> Refused {
        Refused::Invalid(error)
    }
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        match refused {
            Refused::NotDecoded(not) => not.into(),
            Refused::Invalid(error) => error,
        }
    }
}

/// Stored bytes being judged (by [`Codec::fits`], for each version of a type): parsed as JSON
/// at most once, when a codec of a schema needs the value.
pub(crate) struct StoredValue<'a> {
    /// The key the bytes are stored at.
    pub(crate) key: &'a str,
    /// The bytes.
    pub(crate) bytes: &'a [u8],
    json: std::cell::OnceCell<std::result::Result<Value, String>>,
}

impl<'a> StoredValue<'a> {
    /// The bytes stored at `key`.
    pub(crate) fn new(key: &'a str, bytes: &'a [u8]) -> StoredValue<'a> {
        StoredValue {
            key,
            bytes,
            json: std::cell::OnceCell::new(),
        }
    }

    /// The bytes as JSON; `Err`: they are not JSON.
    fn json(&self) -> std::result::Result<&Value, NotDecoded> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.bytes).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| NotDecoded {
                key: self.key.to_owned(),
                reason: format!("not JSON: {e}"),
                changed_type: false,
            })
    }
}

static CODECS: LazyLock<RwLock<HashMap<TypeId, &'static Codec>>> = LazyLock::new(Default::default);

/// The codec of `T`, built on first use and kept for the life of the process.
pub fn codec<T: Storable>() -> &'static Codec {
    let id = TypeId::of::<T>();
    if let Some(codec) = CODECS.read().get(&id) {
        return codec;
    }
    // Built outside the lock: schema generation can be slow and may recurse into other types.
    let built = Codec::build::<T>();
    let mut codecs = CODECS.write();
    let codec: &&'static Codec = codecs
        .entry(id)
        .or_insert_with(|| Box::leak(Box::new(built)));
    codec
}

impl Codec {
    fn build<T: Storable>() -> Codec {
        let schema = schemars::SchemaGenerator::default()
            .into_root_schema_for::<T>()
            .to_value();
        let validator = compile(&schema).map_err(|e| e.to_string());
        let plan = Plan::new(&schema, |schema| compile(schema).ok());
        let structural = validator.is_ok() && plan.is_trivial();
        Codec {
            type_name: std::any::type_name::<T>(),
            may_nest: plan::nesting(&schema).is_none_or(|depth| depth > depth_limit::MAX_DEPTH),
            schema,
            plan: (!structural && validator.is_ok()).then_some(plan),
            validator,
            structural,
            shape: Shape::Typed(fits_as::<T>),
        }
    }

    /// A codec of a schema known only as JSON (a manifest's): validates [`Value`]s with
    /// [`Codec::check`] exactly as the typed codecs do, and tells their shape by the schema
    /// without its constraints; `name` names it in errors.
    pub fn from_schema(schema: Value, name: &'static str) -> Codec {
        let validator = compile(&schema).map_err(|e| e.to_string());
        let shape = compile(&plan::shape(&schema));
        Codec {
            type_name: name,
            schema,
            validator,
            structural: false,
            plan: None,
            may_nest: true,
            shape: Shape::Schema(shape),
        }
    }

    /// Whether `stored` is a valid value of this codec's type: `Ok`; [`Error::Decode`]: it is
    /// not of the type's shape (serde cannot decode it as the Rust type; for a codec of a
    /// schema alone, the schema without its constraints rejects it); otherwise (mostly
    /// [`Error::Validation`]) it is of that shape but breaks a constraint.
    pub(crate) fn fits(&self, stored: &StoredValue<'_>) -> std::result::Result<(), Refused> {
        match &self.shape {
            Shape::Typed(fits) => fits(self, stored.key, stored.bytes),
            Shape::Schema(shape) => {
                let value = stored.json().map_err(Refused::NotDecoded)?;
                if let Ok(shape) = shape {
                    if let Some(reason) = first_reason(shape.iter_errors(value)) {
                        return Err(Refused::NotDecoded(NotDecoded {
                            key: stored.key.to_owned(),
                            reason,
                            changed_type: false,
                        }));
                    }
                }
                Ok(self.check(stored.key, value, true)?)
            }
        }
    }

    /// Why `stored` is not a value of this type, as [`Codec::fits`] said with `error`, in a
    /// few words that point into it (`/name: missing field`).
    pub(crate) fn why_not(&self, stored: &StoredValue<'_>, refused: &Refused) -> String {
        match refused {
            Refused::Invalid(Error::Validation { issues, .. }) => issues_reason(issues),
            // serde names no place: ask the schema where the value departs from it.
            Refused::NotDecoded(not) => {
                let located = match (&self.shape, &self.validator, stored.json()) {
                    (Shape::Typed(_), Ok(validator), Ok(value)) => {
                        first_reason(validator.iter_errors(value))
                    }
                    _ => None,
                };
                located.unwrap_or_else(|| not.reason.clone())
            }
            Refused::Invalid(other) => other.to_string(),
        }
    }

    /// The JSON Schema of the type.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    fn validator(&self, key: &str) -> Result<&jsonschema::Validator> {
        self.validator.as_ref().map_err(|e| Error::Encode {
            key: key.to_owned(),
            message: format!(
                "the JSON Schema of `{}` does not compile: {e}",
                self.type_name
            ),
        })
    }

    /// Validates `value` (already a JSON value) against the schema; `stored`: the value was read
    /// from the store (see [`Error::is_stored_data`]).
    pub fn check(&self, key: &str, value: &Value, stored: bool) -> Result<()> {
        let validator = self.validator(key)?;
        if validator.is_valid(value) {
            return Ok(());
        }
        let issues = validator
            .iter_errors(value)
            .map(|e| Issue {
                path: e.instance_path().as_str().to_owned(),
                message: issue_message(&e),
            })
            .collect();
        Err(Error::Validation {
            key: key.to_owned(),
            issues,
            stored,
            converted_from: None,
        })
    }

    /// Validates a typed value (of a type that is not structural) by the one route: the walk of
    /// the plan (only the constrained parts are serialized and checked) and, when it is not sure
    /// or there is no plan, the whole value against the whole schema — which reports the issues
    /// exactly as a full validation does. Only for a value known to nest no deeper than
    /// [`depth_limit::MAX_DEPTH`] (written by [`Codec::to_vec`] or read by serde_json).
    /// A serde error on the way is `serde_err`'s.
    fn check_typed<T: Storable, E: From<Error>>(
        &self,
        key: &str,
        value: &T,
        stored: bool,
        serde_err: impl FnOnce(serde_json::Error) -> E,
    ) -> std::result::Result<(), E> {
        if matches!(&self.plan, Some(plan) if check::is_valid(value, plan)) {
            return Ok(());
        }
        let json = serde_json::to_value(value).map_err(serde_err)?;
        Ok(self.check(key, &json, stored)?)
    }

    /// `value` as JSON bytes: through [`depth_limit`] when the type may nest too deep.
    fn to_vec<T: Storable>(&self, value: &T) -> serde_json::Result<Vec<u8>> {
        if self.may_nest {
            depth_limit::to_vec(value)
        } else {
            serde_json::to_vec(value)
        }
    }

    /// Serializes and validates `value` for `key`; refuses values over `max_size` bytes.
    pub fn encode<T: Storable>(&self, key: &str, value: &T, max_size: usize) -> Result<Vec<u8>> {
        let encode_err = |e: serde_json::Error| Error::Encode {
            key: key.to_owned(),
            message: e.to_string(),
        };
        // `to_vec` first: it refuses a value nested deeper than can be read back (before
        // recursing that deep), so that nothing after it can overflow the stack.
        let bytes = self.to_vec(value).map_err(encode_err)?;
        if !self.structural {
            self.check_typed(key, value, false, encode_err)?;
        }
        check_size(key, bytes.len(), max_size)?;
        Ok(bytes)
    }

    /// Decodes and validates the bytes stored at `key`.
    pub fn decode<T: Storable>(&self, key: &str, bytes: &[u8]) -> Result<T> {
        // What the program gets is what serde decoded: validate that, and only the parts that
        // carry constraints. Bytes of the wrong shape are refused by serde already.
        self.decode_shape_first(key, bytes).map_err(Error::from)
    }

    /// Decodes bytes that this codec already checked (a client cache keeps them): serde only,
    /// no validation.
    pub(crate) fn decode_checked<T: Storable>(&self, key: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| not_decoded(key, e).into())
    }

    /// An identity of this codec: what a cached value was checked against.
    pub(crate) fn id(&'static self) -> usize {
        self as *const Codec as usize
    }

    /// [`Codec::decode`], shape first: bytes that serde cannot decode as `T` are always
    /// [`Error::Decode`] (never `Validation`), so that a caller can tell "another shape" (maybe
    /// an older version of the type) from "this shape, but breaking a constraint".
    pub(crate) fn decode_shape_first<T: Storable>(
        &self,
        key: &str,
        bytes: &[u8],
    ) -> std::result::Result<T, Refused> {
        let not_decoded = |e| Refused::NotDecoded(not_decoded(key, e));
        let value: T = serde_json::from_slice(bytes).map_err(not_decoded)?;
        if !self.structural {
            self.check_typed(key, &value, true, not_decoded)?;
        }
        Ok(value)
    }
}

/// The first of a validator's `errors`, as `/pointer: message` (a missing property pointed at
/// where it belongs: `/last: missing field`), and how many more there are; `None` when there
/// are none.
fn first_reason<'a>(
    mut errors: impl Iterator<Item = jsonschema::ValidationError<'a>>,
) -> Option<String> {
    let first = errors.next()?;
    let mut path = first.instance_path().as_str().to_owned();
    let message = match first.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            path.push('/');
            path.push_str(&name.replace('~', "~0").replace('/', "~1"));
            "missing field".to_owned()
        }
        _ => issue_message(&first),
    };
    let reason = issues_reason(&[Issue { path, message }]);
    Some(with_more(reason, errors.count()))
}

/// The first of `issues` as `/pointer: message`, and how many more there are.
fn issues_reason(issues: &[Issue]) -> String {
    match issues.first() {
        None => "invalid".to_owned(),
        Some(Issue { path, message }) if path.is_empty() => {
            with_more(message.clone(), issues.len() - 1)
        }
        Some(Issue { path, message }) => with_more(format!("{path}: {message}"), issues.len() - 1),
    }
}

/// `reason`, and how many more issues there are when there are some.
fn with_more(reason: String, more: usize) -> String {
    match more {
        0 => reason,
        1 => format!("{reason} (and 1 more issue)"),
        n => format!("{reason} (and {n} more issues)"),
    }
}

/// Bytes at `key` that serde cannot decode; a missing or unknown field or variant means the type
/// may have changed since the value was written (serde tells those apart by its message only).
fn not_decoded(key: &str, e: serde_json::Error) -> NotDecoded {
    let reason = e.to_string();
    let changed_type = ["missing field", "unknown field", "unknown variant"]
        .iter()
        .any(|m| reason.contains(m));
    NotDecoded {
        key: key.to_owned(),
        reason,
        changed_type,
    }
}

/// A jsonschema error's message, in plain English where it is terse (a `format`:
/// `"x" is not a "email"` reads `"x" is not an email address`).
fn issue_message(error: &jsonschema::ValidationError<'_>) -> String {
    match error.kind() {
        jsonschema::error::ValidationErrorKind::Format { format } => {
            format_message(error.instance(), format)
        }
        _ => error.to_string(),
    }
}

/// `instance is not {what format says}`.
fn format_message(instance: &Value, format: &str) -> String {
    let what = match format {
        "email" | "idn-email" => "an email address",
        "uri" | "iri" => "an absolute URI",
        "uri-reference" | "iri-reference" => "a URI reference",
        "date-time" => "an RFC 3339 date-time (`2024-05-01T12:00:00Z`)",
        "date" => "an RFC 3339 date (`2024-05-01`)",
        "time" => "an RFC 3339 time (`12:00:00Z`)",
        "ipv4" => "an IPv4 address",
        "ipv6" => "an IPv6 address",
        "hostname" | "idn-hostname" => "a host name",
        "uuid" => "a UUID",
        "duration" => "an ISO 8601 duration",
        "regex" => "a regular expression",
        _ => return format!("{instance} is not a valid `{format}`"),
    };
    format!("{instance} is not {what}")
}

/// A validator with format checking on. `offline()`: a `$ref` to anything outside the schema
/// itself (`http://`, `file://`) is refused, whatever jsonschema features another crate in the
/// build turns on.
fn compile(schema: &Value) -> std::result::Result<jsonschema::Validator, String> {
    jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .with_format("email", super::email::is_email)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Refuses a value of `size` bytes over `max_size`.
pub fn check_size(key: &str, size: usize, max_size: usize) -> Result<()> {
    if size > max_size {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: InvalidKeyReason::ValueTooLarge {
                size,
                limit: max_size,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    impl super::Codec {
        /// Whether the schema holds only what the Rust type guarantees (see the module docs).
        pub(crate) fn is_structural(&self) -> bool {
            self.structural
        }
    }

    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
    struct Plain {
        name: String,
        n: u32,
        tags: Vec<String>,
        maybe: Option<i64>,
    }

    #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
    struct Constrained {
        #[schemars(email)]
        email: String,
        #[schemars(range(max = 150))]
        age: u32,
    }

    #[test]
    fn structural_types_skip_validation() {
        assert!(
            codec::<Plain>().is_structural(),
            "{}",
            codec::<Plain>().schema()
        );
        assert!(codec::<u64>().is_structural());
        assert!(codec::<String>().is_structural());
        assert!(!codec::<Constrained>().is_structural());
    }

    /// Only a type whose values can nest deeper than serde_json reads back is written through
    /// the depth limit.
    #[test]
    fn only_types_that_can_nest_go_through_the_depth_limit() {
        assert!(!codec::<Plain>().may_nest);
        assert!(!codec::<Constrained>().may_nest);
        assert!(codec::<Value>().may_nest);
        assert!(codec::<Vec<Value>>().may_nest);
        let deep = (0..200).fold(Value::Null, |v, _| Value::Array(vec![v]));
        assert!(matches!(
            codec::<Value>().encode("k", &deep, 1 << 20),
            Err(Error::Encode { .. })
        ));
    }

    #[test]
    fn codec_is_cached() {
        assert!(std::ptr::eq(codec::<Plain>(), codec::<Plain>()));
    }

    #[test]
    fn constrained_values_are_checked_both_ways() {
        let c = codec::<Constrained>();
        let ok = Constrained {
            email: "a@example.com".into(),
            age: 30,
        };
        let bytes = c.encode("k", &ok, 1 << 20).unwrap();
        assert_eq!(c.decode::<Constrained>("k", &bytes).unwrap(), ok);
        let bad = Constrained {
            email: "not-an-email".into(),
            age: 200,
        };
        match c.encode("k", &bad, 1 << 20) {
            Err(Error::Validation {
                key,
                issues,
                stored: false,
                converted_from: None,
            }) => {
                assert_eq!(key, "k");
                let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
                assert!(
                    paths.contains(&"/email") && paths.contains(&"/age"),
                    "{issues:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let stored = br#"{"email":"x","age":3}"#;
        assert!(matches!(
            c.decode::<Constrained>("k", stored),
            Err(Error::Validation { .. })
        ));
        assert!(matches!(
            c.decode::<Constrained>("k", b"garbage"),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn structural_decode_rejects_wrong_shape() {
        let c = codec::<Plain>();
        assert!(matches!(
            c.decode::<Plain>("k", br#"{"name":1}"#),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            c.decode::<Plain>("k", br#"{"name":"a","n":-1,"tags":[],"maybe":null}"#),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn messages_read_as_english() {
        assert_eq!(
            format_message(&Value::from("nope"), "email"),
            "\"nope\" is not an email address"
        );
        assert_eq!(
            format_message(&Value::from("x"), "custom"),
            "\"x\" is not a valid `custom`"
        );
        let err = codec::<Constrained>()
            .decode::<Constrained>("k", br#"{"email":"nope","age":3}"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("\"nope\" is not an email address"),
            "{err}"
        );
        let err = codec::<Constrained>()
            .decode::<Constrained>("k", br#"{"age":3}"#)
            .unwrap_err();
        assert!(err.to_string().contains("migrate_from"), "{err}");
        assert!(err.is_stored_data());
    }

    #[test]
    fn size_limit() {
        let c = codec::<String>();
        let big = "x".repeat(100);
        assert!(matches!(
            c.encode("k", &big, 50),
            Err(Error::InvalidKey {
                reason: InvalidKeyReason::ValueTooLarge { .. },
                ..
            })
        ));
    }
}
