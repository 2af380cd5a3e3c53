//! Validation of a typed value in one walk, without building its projection.
//!
//! [`projection`](super::projection) turns the constrained parts of a value into a
//! [`serde_json::Value`] and validates that against the residual schema: exact, but every
//! check allocates a map, its keys and its values. [`is_valid`] walks the same [`Plan`] over the
//! value's `Serialize` implementation instead: fields whose projection is `Skip` are not
//! serialized at all, struct fields are found by the position they came in last time (one string
//! comparison), and only the `Keep` parts — a constrained string or number, typically — become a
//! `Value`, checked by the validator of their own sub-schema.
//!
//! It answers `true` only when the residual would accept the projection: every `Keep` part is
//! valid, every required property is there, and each object or array is of a `type` its node
//! admits. Anything else — an invalid part, a shape it does not follow (an enum where a struct
//! was expected, `null` where the node does not say it is allowed, a tuple), a serde error, a
//! `Keep` schema that does not compile alone — is `false`, and the caller asks the residual.
//! So it may be slower on unusual values, never wrong: the projection's tests run both.

use std::fmt;

use serde::ser::{self, Impossible, Serialize, Serializer};
use serde_json::value::Serializer as ValueSerializer;

use super::projection::{ArrayPlan, ObjectPlan, Plan, Projection};

/// Whether `value` is certainly valid under `plan` (see the module docs); `false` means "ask
/// the residual", not "invalid".
pub(crate) fn is_valid<T: Serialize + ?Sized>(value: &T, plan: &Plan) -> bool {
    Walk {
        plan,
        projection: plan.root(),
    }
    .check(value)
    .is_ok()
}

/// Not certainly valid: the walk stops at the first doubt.
#[derive(Debug)]
struct Unsure;

impl fmt::Display for Unsure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to the residual schema")
    }
}

impl std::error::Error for Unsure {}

impl ser::Error for Unsure {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Unsure
    }
}

type Checked = Result<(), Unsure>;

/// One node of the walk.
#[derive(Clone, Copy)]
struct Walk<'a> {
    plan: &'a Plan,
    projection: &'a Projection,
}

impl<'a> Walk<'a> {
    fn at(self, projection: &'a Projection) -> Walk<'a> {
        Walk {
            plan: self.plan,
            projection,
        }
    }

    fn check<T: Serialize + ?Sized>(self, value: &T) -> Checked {
        match self.projection {
            Projection::Skip => Ok(()),
            Projection::Keep(kept) => {
                let validator = self.plan.kept_validator(kept).ok_or(Unsure)?;
                let json = value.serialize(ValueSerializer).map_err(|_| Unsure)?;
                validator.is_valid(&json).then_some(()).ok_or(Unsure)
            }
            Projection::Object(object) => value.serialize(Shaped {
                walk: self,
                shape: Shape::Object(object),
            }),
            Projection::Array(array) => value.serialize(Shaped {
                walk: self,
                shape: Shape::Array(array),
            }),
        }
    }
}

#[derive(Clone, Copy)]
enum Shape<'a> {
    Object(&'a ObjectPlan),
    Array(&'a ArrayPlan),
}

/// The serializer of a value at an `Object` or `Array` node: follows structs, maps and
/// sequences; `null` when the node admits it; `Unsure` for everything else.
#[derive(Clone, Copy)]
struct Shaped<'a> {
    walk: Walk<'a>,
    shape: Shape<'a>,
}

impl Shaped<'_> {
    fn null(self) -> Checked {
        let admitted = match self.shape {
            Shape::Object(object) => object.accepts_null,
            Shape::Array(array) => array.accepts_null,
        };
        admitted.then_some(()).ok_or(Unsure)
    }
}

macro_rules! unsure {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Checked {
            Err(Unsure)
        })*
    };
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

    unsure! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_none(self) -> Checked {
        self.null()
    }

    fn serialize_unit(self) -> Checked {
        self.null()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Checked {
        self.null()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Checked {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Checked {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Checked {
        Err(Unsure)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Elements<'a>, Unsure> {
        match self.shape {
            Shape::Array(array) if array.accepts_array => Ok(Elements {
                walk: self.walk.at(&array.items),
            }),
            _ => Err(Unsure),
        }
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsure> {
        Err(Unsure)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsure> {
        Err(Unsure)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsure> {
        Err(Unsure)
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

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsure> {
        Err(Unsure)
    }
}

impl<'a> Shaped<'a> {
    fn entries(self) -> Result<Entries<'a>, Unsure> {
        match self.shape {
            Shape::Object(object) if object.accepts_object && !object.required_untracked => {
                Ok(Entries {
                    walk: self.walk,
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

/// A sequence's elements, each checked with the items' projection.
struct Elements<'a> {
    walk: Walk<'a>,
}

impl ser::SerializeSeq for Elements<'_> {
    type Ok = ();
    type Error = Unsure;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Checked {
        self.walk.check(value)
    }

    fn end(self) -> Checked {
        Ok(())
    }
}

/// A struct's fields or a map's entries.
struct Entries<'a> {
    walk: Walk<'a>,
    object: &'a ObjectPlan,
    /// The required properties seen so far.
    seen: u64,
    /// How many struct fields came so far.
    position: usize,
    /// The key of a map entry whose value comes next.
    pending_key: Option<String>,
}

impl Entries<'_> {
    fn entry<T: ?Sized + Serialize>(
        &mut self,
        position: Option<usize>,
        key: &str,
        value: &T,
    ) -> Checked {
        let projection = match self.object.field(position, key) {
            Some(field) => {
                if let Some(bit) = field.required_bit {
                    self.seen |= 1 << bit;
                }
                &field.projection
            }
            None => match self.object.additional() {
                Some(projection) => projection,
                None => return Ok(()),
            },
        };
        self.walk.at(projection).check(value)
    }

    fn end(self) -> Checked {
        (self.seen & self.object.required_bits == self.object.required_bits)
            .then_some(())
            .ok_or(Unsure)
    }
}

impl ser::SerializeStruct for Entries<'_> {
    type Ok = ();
    type Error = Unsure;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Checked {
        self.position += 1;
        self.entry(Some(self.position - 1), key, value)
    }

    fn end(self) -> Checked {
        Entries::end(self)
    }
}

impl ser::SerializeMap for Entries<'_> {
    type Ok = ();
    type Error = Unsure;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Checked {
        self.pending_key = Some(super::projection::serde_json_key(key).map_err(|_| Unsure)?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Checked {
        let key = self.pending_key.take().ok_or(Unsure)?;
        self.entry(None, &key, value)
    }

    fn end(self) -> Checked {
        Entries::end(self)
    }
}
