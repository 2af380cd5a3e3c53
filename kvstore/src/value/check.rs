//! Validation of a typed value in one walk over its [`Plan`].
//!
//! [`is_valid`] walks the plan over the value's `Serialize` implementation: fields whose plan
//! is `Skip` are not serialized at all, struct fields are found by the position they came in
//! last time (one string comparison), and only the `Keep` parts — a constrained string or
//! number, typically — are checked, natively or by the validator of their own sub-schema.
//!
//! It answers `true` only when the whole schema accepts the whole value: every `Keep` part is
//! valid, every required property is there, and each object or array is of a `type` its node
//! admits. Anything else — an invalid part, a shape it does not follow (an enum where a struct
//! was expected, `null` where the node does not say it is allowed, a tuple), a serde error, a
//! `Keep` schema that does not compile alone — is `false`, and the codec validates the whole
//! value against the whole schema. So it may be slower on unusual values, never wrong: the
//! plan's tests compare it with the full validator on generated values.
//!
//! The commonest kept parts — a string with `format: email` and/or a length range, an integer
//! with bounds — are [`Native`]: checked on the serialized scalar directly, by the same walk,
//! no `Value`, no jsonschema. A native check is used only after it agreed with the sub-schema's
//! validator on probes at and around each of its limits; a value it does not accept (invalid,
//! or not a scalar it reads: a float, say) is left to that validator.

use std::fmt;

use serde::ser::{self, Impossible, Serialize, Serializer};
use serde_json::value::Serializer as ValueSerializer;
use serde_json::Value;

use super::plan::{self, ArrayPlan, Field, ObjectPlan, Plan, Projection};

/// Whether `value` is certainly valid under `plan` (see the module docs); `false` means "ask
/// the whole schema", not "invalid".
pub(crate) fn is_valid<T: Serialize + ?Sized>(value: &T, plan: &Plan) -> bool {
    check(plan, plan.root(), value).is_ok()
}

/// Not certainly valid: the walk stops at the first doubt.
#[derive(Debug)]
struct Unsure;

impl fmt::Display for Unsure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to the whole schema")
    }
}

impl std::error::Error for Unsure {}

impl ser::Error for Unsure {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Unsure
    }
}

type Checked = Result<(), Unsure>;

/// `Ok` when `ok`, else `Unsure`.
fn sure(ok: bool) -> Checked {
    ok.then_some(()).ok_or(Unsure)
}

/// One node of the walk: `value` at `projection` of `plan`.
fn check<T: Serialize + ?Sized>(plan: &Plan, projection: &Projection, value: &T) -> Checked {
    let shape = match projection {
        Projection::Skip => return Ok(()),
        Projection::Object(object) => Shape::Object(object),
        Projection::Array(array) => Shape::Array(array),
        Projection::Keep(kept) => {
            let check = plan.kept_check(kept).ok_or(Unsure)?;
            if let Some(native) = &check.native {
                let shape = Shape::Native(native);
                if value.serialize(Shaped { plan, shape }).is_ok() {
                    return Ok(());
                }
            }
            let json = value.serialize(ValueSerializer).map_err(|_| Unsure)?;
            return sure(check.validator.is_valid(&json));
        }
    };
    value.serialize(Shaped { plan, shape })
}

#[derive(Clone, Copy)]
enum Shape<'a> {
    Object(&'a ObjectPlan),
    Array(&'a ArrayPlan),
    Native(&'a Native),
}

/// The serializer of a value at an `Object` or `Array` node, or a native `Keep` node: follows
/// structs, maps and sequences; checks scalars natively; `null` when the node admits it;
/// `Unsure` for everything else.
#[derive(Clone, Copy)]
struct Shaped<'a> {
    plan: &'a Plan,
    shape: Shape<'a>,
}

impl<'a> Shaped<'a> {
    fn null(self) -> Checked {
        sure(match self.shape {
            Shape::Object(object) => object.accepts_null,
            Shape::Array(array) => array.accepts_null,
            Shape::Native(native) => native.nullable(),
        })
    }

    fn integer(self, n: i128) -> Checked {
        sure(matches!(self.shape, Shape::Native(native) if native.integer(n)))
    }

    fn string(self, s: &str) -> Checked {
        sure(matches!(self.shape, Shape::Native(native) if native.string(s)))
    }

    fn entries(self) -> Result<Entries<'a>, Unsure> {
        match self.shape {
            Shape::Object(object) if object.accepts_object && !object.required_untracked => {
                Ok(Entries {
                    plan: self.plan,
                    object,
                    seen: 0,
                    position: 0,
                    pending_key: None,
                })
            }
            _ => Err(Unsure),
        }
    }
}

impl<'a> Serializer for Shaped<'a> {
    type Ok = ();
    type Error = Unsure;
    type SerializeSeq = Elements<'a>;
    type SerializeTuple = Impossible<(), Unsure>;
    type SerializeTupleStruct = Impossible<(), Unsure>;
    type SerializeTupleVariant = Impossible<(), Unsure>;
    type SerializeMap = Entries<'a>;
    type SerializeStruct = Entries<'a>;
    type SerializeStructVariant = Impossible<(), Unsure>;

    serializer_methods! { |self| Err(Unsure);
        serialize_bool(v: bool) -> Checked;
        serialize_f32(v: f32) -> Checked;
        serialize_f64(v: f64) -> Checked;
        serialize_bytes(v: &[u8]) -> Checked;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> Checked;
        serialize_tuple(len: usize) -> Result<Self::SerializeTuple, Unsure>;
        serialize_tuple_struct(name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct, Unsure>;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Result<Self::SerializeTupleVariant, Unsure>;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Result<Self::SerializeStructVariant, Unsure>;
    }

    serializer_methods! { |self| self.integer(v as i128);
        serialize_i8(v: i8) -> Checked;
        serialize_i16(v: i16) -> Checked;
        serialize_i32(v: i32) -> Checked;
        serialize_i64(v: i64) -> Checked;
        serialize_i128(v: i128) -> Checked;
        serialize_u8(v: u8) -> Checked;
        serialize_u16(v: u16) -> Checked;
        serialize_u32(v: u32) -> Checked;
        serialize_u64(v: u64) -> Checked;
    }

    serializer_methods! { |self| self.null();
        serialize_none() -> Checked;
        serialize_unit() -> Checked;
        serialize_unit_struct(name: &'static str) -> Checked;
    }

    fn serialize_u128(self, v: u128) -> Checked {
        self.integer(i128::try_from(v).map_err(|_| Unsure)?)
    }

    fn serialize_str(self, v: &str) -> Checked {
        self.string(v)
    }

    fn serialize_char(self, v: char) -> Checked {
        self.string(v.encode_utf8(&mut [0; 4]))
    }

    // `Some(x)` and a newtype struct are written as `x`.
    serializer_methods! { <T> |self| value.serialize(self);
        serialize_some(value: &T) -> Checked;
        serialize_newtype_struct(name: &'static str, value: &T) -> Checked;
    }

    serializer_methods! { <T> |self| Err(Unsure);
        serialize_newtype_variant(name: &'static str, index: u32, variant: &'static str, value: &T) -> Checked;
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Elements<'a>, Unsure> {
        match self.shape {
            Shape::Array(array) if array.accepts_array => Ok(Elements {
                plan: self.plan,
                items: &array.items,
            }),
            _ => Err(Unsure),
        }
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Entries<'a>, Unsure> {
        self.entries()
    }

    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Entries<'a>, Unsure> {
        // serde_json's own tokens (raw values, arbitrary-precision numbers) are not structs.
        if name.starts_with("$serde_json::private::") {
            return Err(Unsure);
        }
        self.entries()
    }
}

/// A sequence's elements, each checked with the items' plan.
struct Elements<'a> {
    plan: &'a Plan,
    items: &'a Projection,
}

impl ser::SerializeSeq for Elements<'_> {
    type Ok = ();
    type Error = Unsure;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Checked {
        check(self.plan, self.items, value)
    }

    fn end(self) -> Checked {
        Ok(())
    }
}

/// A struct's fields or a map's entries.
struct Entries<'a> {
    plan: &'a Plan,
    object: &'a ObjectPlan,
    /// The required properties seen so far.
    seen: u64,
    /// How many struct fields came so far.
    position: usize,
    /// The key of a map entry whose value comes next.
    pending_key: Option<String>,
}

impl<'a> Entries<'a> {
    /// An entry, with its declared property if it has one.
    fn entry<T: ?Sized + Serialize>(&mut self, field: Option<&'a Field>, value: &T) -> Checked {
        let projection = match field {
            Some(field) => {
                if let Some(bit) = field.required_bit {
                    self.seen |= 1 << bit;
                }
                &field.projection
            }
            None => match self.object.additional.as_deref() {
                Some(projection) => projection,
                None => return Ok(()),
            },
        };
        check(self.plan, projection, value)
    }

    fn end(self) -> Checked {
        sure(self.seen & self.object.required_bits == self.object.required_bits)
    }
}

impl ser::SerializeStruct for Entries<'_> {
    type Ok = ();
    type Error = Unsure;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Checked {
        self.position += 1;
        let field = self.object.struct_field(self.position - 1, key);
        self.entry(field, value)
    }

    fn end(self) -> Checked {
        Entries::end(self)
    }
}

impl ser::SerializeMap for Entries<'_> {
    type Ok = ();
    type Error = Unsure;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Checked {
        self.pending_key = Some(super::plan::serde_json_key(key).ok_or(Unsure)?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Checked {
        let key = self.pending_key.take().ok_or(Unsure)?;
        let field = self.object.field(&key);
        self.entry(field, value)
    }

    fn end(self) -> Checked {
        Entries::end(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Native checks of simple scalar schemas.
// ---------------------------------------------------------------------------------------------

/// A kept sub-schema checked without jsonschema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Native {
    /// `type: string`, optionally `format: email`, `minLength`, `maxLength` (in characters).
    String {
        nullable: bool,
        email: bool,
        min_len: u64,
        max_len: u64,
    },
    /// `type: integer` or `number` with bounds, read on integers (inclusive bounds).
    Integer {
        nullable: bool,
        min: i128,
        max: i128,
    },
}

impl Native {
    /// The native check of `schema`, when it is that simple.
    pub(crate) fn of(schema: &Value) -> Option<Native> {
        let map = schema.as_object()?;
        let (kind, nullable) = match map.get("type")? {
            Value::String(kind) => (kind.as_str(), false),
            Value::Array(kinds) => match kinds.as_slice() {
                [Value::String(a), Value::String(b)] if b == "null" => (a.as_str(), true),
                [Value::String(a), Value::String(b)] if a == "null" => (b.as_str(), true),
                _ => return None,
            },
            _ => return None,
        };
        let mut keywords = map
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "type" && !plan::ANNOTATIONS.contains(k));
        match kind {
            "string" => {
                let (mut email, mut min_len, mut max_len) = (false, 0, u64::MAX);
                for keyword in keywords.by_ref() {
                    match (keyword, &map[keyword]) {
                        ("format", Value::String(f)) if f == "email" => email = true,
                        ("minLength", n) => min_len = n.as_u64()?,
                        ("maxLength", n) => max_len = n.as_u64()?,
                        _ => return None,
                    }
                }
                Some(Native::String {
                    nullable,
                    email,
                    min_len,
                    max_len,
                })
            }
            "integer" | "number" => {
                let (mut min, mut max) = (i128::MIN, i128::MAX);
                for keyword in keywords.by_ref() {
                    let bound = &map[keyword];
                    match keyword {
                        "format" if bound.as_str().is_some_and(plan::is_integer_format) => {}
                        "minimum" => min = min.max(integer_bound(bound, false, 1)?),
                        "exclusiveMinimum" => min = min.max(integer_bound(bound, true, 1)?),
                        "maximum" => max = max.min(integer_bound(bound, false, -1)?),
                        "exclusiveMaximum" => max = max.min(integer_bound(bound, true, -1)?),
                        _ => return None,
                    }
                }
                Some(Native::Integer { nullable, min, max })
            }
            _ => None,
        }
    }

    /// Whether this check and `validator` (of the same sub-schema) agree on values at and
    /// around every limit: the native check is only used when they do.
    pub(crate) fn agrees_with(&self, validator: &jsonschema::Validator) -> bool {
        let mut probes: Vec<Value> = vec![Value::Null, Value::from(0), Value::from("")];
        // A JSON number for `n`, when it has one.
        let number = |n: i128| {
            i64::try_from(n)
                .ok()
                .map(Value::from)
                .or(u64::try_from(n).ok().map(Value::from))
        };
        match self {
            Native::String {
                min_len, max_len, ..
            } => {
                for len in [*min_len, *max_len] {
                    for len in [len.saturating_sub(1), len, len.saturating_add(1)] {
                        if len <= 300 {
                            probes.push(Value::from("a".repeat(len as usize)));
                            probes.push(Value::from("é".repeat(len as usize)));
                        }
                    }
                }
                for address in [
                    "a@b.co",
                    "user17@example.com",
                    "first.last+tag@mail.example.org",
                    "user@localhost",
                    "not an address",
                    "a@b@c.com",
                    "\"quoted\"@example.com",
                ] {
                    probes.push(Value::from(address));
                }
            }
            Native::Integer { min, max, .. } => {
                for bound in [*min, *max] {
                    for n in [bound.saturating_sub(1), bound, bound.saturating_add(1)] {
                        probes.extend(number(n));
                    }
                }
                for n in [-1, 1, i64::MIN.into(), i64::MAX.into(), u64::MAX.into()] {
                    probes.extend(number(n));
                }
            }
        }
        // The walk of a native node never looks at its plan: any will do.
        let plan = Plan::new(&Value::Bool(true), |_| None);
        let shape = Shape::Native(self);
        let shaped = Shaped { plan: &plan, shape };
        probes
            .iter()
            .all(|probe| probe.serialize(shaped).is_ok() == validator.is_valid(probe))
    }

    fn nullable(&self) -> bool {
        match self {
            Native::String { nullable, .. } | Native::Integer { nullable, .. } => *nullable,
        }
    }

    fn string(&self, s: &str) -> bool {
        let Native::String {
            email,
            min_len,
            max_len,
            ..
        } = self
        else {
            return false;
        };
        // Characters, not bytes: at most the byte length, at least a quarter of it.
        let bytes = s.len() as u64;
        let chars = if bytes <= *max_len && bytes / 4 >= *min_len {
            None
        } else {
            Some(s.chars().count() as u64)
        };
        let length_ok = chars.is_none_or(|n| (*min_len..=*max_len).contains(&n));
        length_ok && (!email || super::email::is_email(s))
    }

    fn integer(&self, n: i128) -> bool {
        matches!(self, Native::Integer { min, max, .. } if (*min..=*max).contains(&n))
    }
}

/// The lowest integer `>= bound` (`> bound` when `exclusive`) for `sign` 1; the highest
/// integer `<= bound` (`< bound`) for `sign` -1.
pub(crate) fn integer_bound(bound: &Value, exclusive: bool, sign: i128) -> Option<i128> {
    let exact = bound.as_i64().map(i128::from);
    if let Some(n) = exact.or_else(|| bound.as_u64().map(i128::from)) {
        return Some(n + sign * i128::from(exclusive));
    }
    let f = bound.as_f64()? * sign as f64;
    if !f.is_finite() || f.abs() > 1e30 {
        return None;
    }
    Some(
        sign * if exclusive {
            f.floor() as i128 + 1
        } else {
            f.ceil() as i128
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validator(schema: &Value) -> jsonschema::Validator {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap()
    }

    #[test]
    fn simple_scalar_schemas_are_native() {
        let cases = [
            (
                json!({"type": "string", "format": "email"}),
                Some(Native::String {
                    nullable: false,
                    email: true,
                    min_len: 0,
                    max_len: u64::MAX,
                }),
            ),
            (
                json!({"type": ["string", "null"], "minLength": 2, "maxLength": 4}),
                Some(Native::String {
                    nullable: true,
                    email: false,
                    min_len: 2,
                    max_len: 4,
                }),
            ),
            (
                json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": 150}),
                Some(Native::Integer {
                    nullable: false,
                    min: 0,
                    max: 150,
                }),
            ),
            (
                json!({"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 10}),
                Some(Native::Integer {
                    nullable: false,
                    min: 1,
                    max: 9,
                }),
            ),
            (json!({"type": "string", "format": "uuid"}), None),
            (json!({"type": "string", "pattern": "^a"}), None),
            (json!({"type": "integer", "multipleOf": 2}), None),
            (json!({"type": "integer", "format": "double"}), None),
            (json!({"type": ["string", "integer"]}), None),
            (json!({"enum": [1, 2]}), None),
        ];
        for (schema, expected) in cases {
            assert_eq!(Native::of(&schema), expected, "{schema}");
            if let Some(native) = expected {
                assert!(native.agrees_with(&validator(&schema)), "{schema}");
            }
        }
    }

    /// On many values, a native check says what the validator of its schema says.
    #[test]
    fn native_checks_agree_with_jsonschema() {
        let schemas = [
            json!({"type": "string", "format": "email"}),
            json!({"type": "string", "minLength": 3}),
            json!({"type": "string", "maxLength": 3}),
            json!({"type": ["null", "string"], "format": "email", "minLength": 8, "maxLength": 20}),
            json!({"type": "integer", "minimum": -5, "maximum": 5}),
            json!({"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255}),
            json!({"type": ["integer", "null"], "exclusiveMinimum": -2, "exclusiveMaximum": 2}),
            json!({"type": "number", "minimum": 1.5, "maximum": 7.25}),
            json!({"type": "number", "exclusiveMinimum": 1.5, "exclusiveMaximum": 7.0}),
            json!({"type": "integer", "maximum": 18446744073709551615u64}),
            json!({"type": "integer", "minimum": -9223372036854775808i64}),
        ];
        let mut values: Vec<Value> = vec![Value::Null, json!(true), json!([]), json!({})];
        for n in -12i64..=12 {
            values.push(json!(n));
        }
        values.extend([
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(255),
            json!(256),
        ]);
        let alphabet = ['a', 'é', '@', '.', 'b', 'c', 'o', '😀', ' '];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 2 % 60)) % alphabet.len() as u64) as usize])
                .collect();
            values.push(json!(s));
        }
        values.extend(["user17@example.com", "a@b.co", "x@y", "é@example.com"].map(Value::from));
        for schema in &schemas {
            let native = Native::of(schema).unwrap_or_else(|| panic!("{schema}"));
            let validator = validator(schema);
            assert!(native.agrees_with(&validator), "{schema}");
            let plan = Plan::new(&Value::Bool(true), |_| None);
            let shape = Shape::Native(&native);
            let shaped = Shaped { plan: &plan, shape };
            for value in &values {
                let native = value.serialize(shaped).is_ok();
                assert_eq!(native, validator.is_valid(value), "{schema} on {value}");
            }
        }
    }

    /// A native check that would disagree with its validator is not used.
    #[test]
    fn a_disagreeing_native_check_is_refused() {
        let schema = json!({"type": "string", "format": "email"});
        let no_formats = jsonschema::options()
            .should_validate_formats(false)
            .build(&schema)
            .unwrap();
        assert!(!Native::of(&schema).unwrap().agrees_with(&no_formats));
    }
}
