//! Validation of only the constrained parts of a value.
//!
//! A Rust value already has the *structure* its JSON Schema describes (types, properties, required
//! fields, items): only constraint keywords (`format`, `pattern`, `minLength`, ranges, `minItems`,
//! ...) can reject what serde produces. A [`Plan`], built once per type from its root schema,
//! records where those keywords are; [`project`] then serializes a typed value into a
//! [`serde_json::Value`] holding only the parts the constraints look at, and the plan's *residual*
//! schema validates that partial value. Fields whose schema holds no constraint are never
//! serialized.
//!
//! # The projection
//!
//! Each schema node gets a [`Projection`]:
//!
//! - `Skip`: nothing below constrains the value, so it is not looked at. This is the same notion
//!   as the codec's *structural* schemas (types, properties, `required`, items, `const`/`enum`,
//!   tuples, integer formats), refined in one place: a `minimum`/`maximum` equal to (or wider than)
//!   the bound of the integer format next to it (`uint8` and `maximum: 255`) is implied by the Rust
//!   type and is not a constraint.
//! - `Keep`: the whole sub-value is kept and checked against the original sub-schema. For nodes
//!   with a constraint keyword of their own, and for everything not understood or not worth
//!   splitting: `anyOf`/`oneOf`/`allOf` (except the `Option` pattern below), `not`, `if`,
//!   `patternProperties`, `propertyNames`, `prefixItems`, `contains`, `const`/`enum` on a
//!   constrained node, `$ref` with sibling keywords, a `$ref` cycle, ...
//! - `Object`: a node with only `type`, `properties`, `required` and `additionalProperties` (and
//!   annotations). Structs and maps keep only their constrained entries.
//! - `Array`: a node with only `type` and `items`: every element is projected.
//!
//! `$ref: "#/$defs/Name"` (or `#`, the root) with annotations only is resolved and projected in
//! place (inlined); a reference back into a definition being expanded is `Keep`. The `Option`
//! pattern `anyOf`/`oneOf` of exactly `[X, {"type": "null"}]` is projected as `X` (`None` is
//! `null` in both). Any `$ref` other than `#`, `#/$defs/..` and `#/definitions/..`, any `$anchor`,
//! `$dynamicRef`, nested `$id` or a draft other than 2019-09/2020-12 makes the whole plan `Keep`.
//!
//! # The residual schema
//!
//! `Keep` parts of the residual are copies of the original sub-schemas; the original `$defs` are
//! kept at the residual root, so their `$ref`s resolve to the same schemas (`$ref: "#"` is
//! rewritten to a copy of the original root kept in `$defs`). `Object` and `Array` nodes are
//! rebuilt, inlined, in the residual: `type`, the residuals of their constrained properties or
//! items, `additionalProperties` when it constrains, and `required` restricted to constrained
//! properties.
//!
//! Why `required` can be cut down, yet stays exact: a required property that is present in the
//! serialized value is present in the projection when it is constrained, so `required` still
//! checks it. For a required property that is *not* constrained the projector only records
//! whether serde wrote it (`#[serde(skip_serializing_if)]` can leave it out, and the original
//! schema then rejects the value); the residual has `"name": false` for it, and the projector
//! writes `"name": null` only when it was missing, so the residual rejects exactly those values.
//! Those `false` schemas would wrongly reject full values, which is why `Object` nodes are rebuilt
//! inline rather than shared with `Keep` parts through `$defs`: what `Keep` checks is always the
//! unmodified original.
//!
//! # Correctness
//!
//! For every value `v` serde produces at a node `N` with residual `N'`,
//! `N'(project(v)) == N(to_value(v))`:
//!
//! - `Keep`: `project(v) == to_value(v)` and `N' == N`.
//! - `Object`: both schemas check `type` on the same kind of value; the other keywords only look
//!   at objects. A struct or map is projected entry by entry: every entry whose property (or
//!   `additionalProperties`) schema constrains is projected with that schema's projection, the
//!   others are left out (and their schemas out of `N'`), and `required` is handled as above.
//!   A value of any other kind falls back to `to_value(v)`, then re-projected if it is an object.
//! - `Array`: elements are projected one by one, so lengths and indices are unchanged.
//!
//! The one assumption is the codec's: a `Skip` schema accepts whatever serde writes for the type
//! the schema was generated from.
//!
//! # Using it
//!
//! Build the plan and a validator for [`Plan::residual`] once per type. To write a value: unless
//! the plan [is trivial](Plan::is_trivial), validate [`project`]`(&value)` against the residual,
//! then `serde_json::to_vec(&value)`. To read: `serde_json::from_slice::<T>` first, then the same
//! check on the decoded value. Validation errors from the residual have the same instance paths,
//! but a missing required field reads "False schema does not allow null" rather than "is a
//! required property": when a value is rejected, validate `to_value(&value)` against the original
//! schema to report the issues (a failure path, so its cost does not matter).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::ser::{self, Impossible, Serialize, Serializer};
use serde_json::{Map, Value};

use serde_json::value::Serializer as ValueSerializer;

use super::check::Native;
type Result<T> = std::result::Result<T, serde_json::Error>;

/// Keywords that never affect validation here (`$defs` are reached through `$ref`s).
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$defs",
    "definitions",
];

/// Keywords whose value is a map of sub-schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords whose value is one sub-schema (`items` may also be an array, in 2019-09).
const SCHEMA_VALUES: &[&str] = &[
    "items",
    "additionalProperties",
    "additionalItems",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];

/// Keywords whose value is an array of sub-schemas.
const SCHEMA_ARRAYS: &[&str] = &["prefixItems", "allOf", "anyOf", "oneOf", "items"];

/// Where the residual keeps a copy of the original root, for `$ref: "#"` in kept parts.
const ROOT_COPY: &str = "kvstore_projection_root";

/// How many `$ref`s are inlined into the residual before the rest is simply kept.
const MAX_EXPANSIONS: usize = 1024;

/// Serde fields beyond this many required, unconstrained ones per object are kept in full
/// (their presence is tracked in a `u64`).
const MAX_TRACKED: u32 = 64;

/// What validating values of one type needs: where the constraints are, and the residual schema
/// that checks the projected values.
#[derive(Debug)]
pub(crate) struct Plan {
    root: Projection,
    residual: Value,
    /// What a `Keep` node's sub-schema needs around it to compile alone: the residual's
    /// `$schema`, `$id`, `$defs` and `definitions`. `None` when the root itself is kept (the
    /// residual is then the whole schema).
    context: Option<Map<String, Value>>,
    /// How the `Keep` nodes' validators are compiled.
    compile: Compile,
}

/// How a [`Plan`] compiles a sub-schema (the codec's options: formats checked, offline).
pub(crate) type Compile = fn(&Value) -> Option<jsonschema::Validator>;

/// The part of a value at one schema node that validation needs.
#[derive(Debug)]
pub(crate) enum Projection {
    /// No constraint below: the value is not looked at.
    Skip,
    /// The whole value, checked against the original sub-schema.
    Keep(Kept),
    /// A struct or map: only constrained entries.
    Object(Box<ObjectPlan>),
    /// A sequence: every element, projected.
    Array(Box<ArrayPlan>),
}

/// A `Keep` node: its sub-schema (a copy of the original, as the residual holds it), and the
/// validator of that sub-schema alone, compiled the first time [`check`](super::check) needs it.
pub(crate) struct Kept {
    schema: Value,
    compiled: OnceLock<Option<KeptCheck>>,
}

/// How [`check`](super::check) checks a kept part.
pub(crate) struct KeptCheck {
    /// The sub-schema's validator.
    pub(crate) validator: jsonschema::Validator,
    /// For a simple scalar schema: the same check without jsonschema (see [`Native`]).
    pub(crate) native: Option<Native>,
}

impl Kept {
    fn new(schema: Value) -> Kept {
        Kept {
            schema,
            compiled: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keep({})", self.schema)
    }
}

/// The projection of an object node.
#[derive(Debug)]
pub(crate) struct ObjectPlan {
    /// Declared properties, in the schema's order. Unconstrained, optional ones are `Skip`.
    fields: Vec<(String, Field)>,
    /// Where each of `fields` is, by name.
    index: HashMap<String, usize, BuildHasherDefault<FieldHasher>>,
    /// For the n-th field a struct serializes: the name it had last time and which of `fields`
    /// that is (see [`ObjectPlan::struct_field`]). A struct serializes its fields in the same
    /// order, with the same `&'static str` names, every time: after the first value a lookup is
    /// one comparison.
    order: Box<[AtomicU64]>,
    /// The projection of undeclared keys (`additionalProperties`); `None` when they are not
    /// constrained.
    additional: Option<Box<Projection>>,
    /// The presence bits of the required, unconstrained fields.
    required_mask: u64,
    /// The bits ([`Field::required_bit`]) of every required property.
    pub(crate) required_bits: u64,
    /// More than 64 properties are required: [`check`](super::check) leaves the node to the
    /// residual.
    pub(crate) required_untracked: bool,
    /// Whether the node's `type` lets an object through, and `null` (properties, `required`
    /// and `additionalProperties` only look at objects).
    pub(crate) accepts_object: bool,
    pub(crate) accepts_null: bool,
}

/// One declared property of an [`ObjectPlan`].
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) projection: Projection,
    /// For a required, unconstrained (`Skip`) property: its bit in the presence mask.
    presence_bit: Option<u32>,
    /// For a required property: its bit in [`ObjectPlan::required_bits`].
    pub(crate) required_bit: Option<u32>,
}

/// The projection of an array node.
#[derive(Debug)]
pub(crate) struct ArrayPlan {
    /// Every element's.
    pub(crate) items: Projection,
    /// Whether the node's `type` lets an array through, and `null`.
    pub(crate) accepts_array: bool,
    pub(crate) accepts_null: bool,
}

impl ObjectPlan {
    /// The declared property `key` (a map's entry, or a field of a struct in tests).
    pub(crate) fn field(&self, key: &str) -> Option<&Field> {
        self.index.get(key).map(|&i| &self.fields[i].1)
    }

    /// The declared property `key`, the `position`-th field of a struct.
    ///
    /// The slot of the position remembers the address and length of the name it saw last and
    /// what it was (the index in `fields`, or `NOT_DECLARED`) in one word: address << 16 |
    /// length << 8 | index. A `&'static str` never changes, so the same address and length is
    /// the same name. Names longer than 255 bytes, addresses above 48 bits and plans of 255
    /// fields or more are looked up by hash every time.
    pub(crate) fn struct_field(&self, position: usize, key: &'static str) -> Option<&Field> {
        const NOT_DECLARED: u64 = 0xff;
        let Some(slot) = self.order.get(position) else {
            return self.field(key);
        };
        let address = key.as_ptr() as usize as u64;
        let tag = (address << 16) | ((key.len() as u64) << 8);
        let word = slot.load(Ordering::Relaxed);
        if word != 0 && word & !0xff == tag {
            return match word & 0xff {
                NOT_DECLARED => None,
                i => self.fields.get(i as usize).map(|(_, field)| field),
            };
        }
        let found = self.index.get(key).copied();
        if address >> 48 == 0 && key.len() < 256 && self.fields.len() < NOT_DECLARED as usize {
            slot.store(
                tag | found.map_or(NOT_DECLARED, |i| i as u64),
                Ordering::Relaxed,
            );
        }
        found.map(|i| &self.fields[i].1)
    }

    /// The projection of undeclared keys, when they are constrained.
    pub(crate) fn additional(&self) -> Option<&Projection> {
        self.additional.as_deref()
    }
}

/// Whether a node's `type` keyword (absent: any type) admits `kind`.
fn admits(map: &Map<String, Value>, kind: &str) -> bool {
    match map.get("type") {
        None => true,
        Some(Value::String(t)) => t == kind,
        Some(Value::Array(types)) => types.iter().any(|t| t == kind),
        Some(_) => false,
    }
}

/// The hash of field-name lookups, done for every field of every projected struct: FxHash
/// (rustc's), several times faster than the default SipHash, or than comparing strings in a
/// `BTreeMap`. The tables are built once from the schema and only looked up afterwards, so keys
/// chosen to collide cannot slow them down.
#[derive(Default)]
pub(crate) struct FieldHasher(u64);

impl FieldHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FieldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ rest.len() as u64);
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(byte.into());
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Plan {
    /// The plan of a root schema (draft 2020-12, as schemars emits). Never fails: whatever it
    /// does not understand is kept whole.
    pub(crate) fn new(schema: &Value, compile: Compile) -> Plan {
        Builder::plan(schema, compile).unwrap_or_else(|| Plan {
            root: Projection::Keep(Kept::new(schema.clone())),
            residual: schema.clone(),
            context: None,
            compile,
        })
    }

    /// Whether no value of the type can fail validation: nothing needs checking.
    pub(crate) fn is_trivial(&self) -> bool {
        matches!(self.root, Projection::Skip)
    }

    /// The schema [`project`]ed values are validated against.
    pub(crate) fn residual(&self) -> &Value {
        &self.residual
    }

    /// The projection of the root.
    pub(crate) fn root(&self) -> &Projection {
        &self.root
    }

    /// How to check a `Keep` node: the validator of its sub-schema alone (with the definitions
    /// it may refer to) and, for a simple scalar schema, its [`Native`] check — built on first
    /// use; `None` when the sub-schema does not compile. When the root is kept, its sub-schema
    /// is the residual, the whole schema.
    pub(crate) fn kept_check<'p>(&self, kept: &'p Kept) -> Option<&'p KeptCheck> {
        kept.compiled
            .get_or_init(|| {
                let validator = match &self.context {
                    Some(context) => (self.compile)(&kept_document(&kept.schema, context)),
                    None => (self.compile)(&self.residual),
                }?;
                let native = Native::of(&kept.schema).filter(|n| n.agrees_with(&validator));
                Some(KeptCheck { validator, native })
            })
            .as_ref()
    }
}

/// A kept sub-schema as a schema document of its own: with the draft of the root, and, when it
/// refers to definitions, under an `allOf` next to them.
fn kept_document(schema: &Value, context: &Map<String, Value>) -> Value {
    match schema {
        Value::Object(map) if !has_reference(schema) => {
            let mut doc = map.clone();
            if let Some(draft) = context.get("$schema") {
                doc.entry("$schema").or_insert_with(|| draft.clone());
            }
            Value::Object(doc)
        }
        Value::Object(_) => {
            let mut doc = context.clone();
            doc.insert("allOf".to_owned(), Value::Array(vec![schema.clone()]));
            Value::Object(doc)
        }
        _ => schema.clone(),
    }
}

fn has_reference(node: &Value) -> bool {
    match node {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k == "$ref" || k == "$dynamicRef" || has_reference(v)),
        Value::Array(items) => items.iter().any(has_reference),
        _ => false,
    }
}

/// Serializes the parts of `value` that `plan`'s residual schema checks: the residual accepts the
/// result exactly when the original schema accepts `serde_json::to_value(value)`. Returns `null`
/// for a trivial plan.
///
/// Fails when serde fails on a part that is projected; parts that are left out are not
/// serialized at all, so their errors only show when the value is written out.
pub(crate) fn project<T: Serialize + ?Sized>(value: &T, plan: &Plan) -> Result<Value> {
    project_with(value, &plan.root)
}

fn project_with<T: Serialize + ?Sized>(value: &T, projection: &Projection) -> Result<Value> {
    match projection {
        Projection::Skip => Ok(Value::Null),
        Projection::Keep(_) => value.serialize(ValueSerializer),
        Projection::Object(object) => value.serialize(Projector {
            shape: Shape::Object(object),
        }),
        Projection::Array(array) => value.serialize(Projector {
            shape: Shape::Array(&array.items),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Building a plan.
// ---------------------------------------------------------------------------------------------

/// A schema `$ref` can point to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum DefKey {
    /// `#`.
    Root,
    /// `#/$defs/{name}`.
    Defs(String),
    /// `#/definitions/{name}`.
    Definitions(String),
}

struct Builder<'s> {
    root: &'s Map<String, Value>,
    defs: HashMap<DefKey, &'s Value>,
    /// Whether the closure of each definition (through `$ref`s) holds a constraint.
    constrained: HashMap<DefKey, bool>,
    /// Where `$ref: "#"` points in the residual, when the schema has such references.
    root_copy: Option<String>,
    /// Definitions being expanded.
    stack: Vec<DefKey>,
    expansions: usize,
}

impl<'s> Builder<'s> {
    /// `None` when the schema is outside what projection supports (the whole value is kept).
    fn plan(schema: &'s Value, compile: Compile) -> Option<Plan> {
        let root = match schema {
            Value::Bool(true) => {
                return Some(Plan {
                    root: Projection::Skip,
                    residual: Value::Bool(true),
                    context: Some(Map::new()),
                    compile,
                })
            }
            Value::Object(root) => root,
            _ => return None,
        };
        let draft_ok = match root.get("$schema") {
            None => true,
            Some(Value::String(s)) => matches!(
                s.trim_end_matches('#'),
                "https://json-schema.org/draft/2020-12/schema"
                    | "https://json-schema.org/draft/2019-09/schema"
            ),
            Some(_) => false,
        };
        if !draft_ok {
            return None;
        }
        let mut root_refs = false;
        if !check_references(schema, true, root, &mut root_refs) {
            return None;
        }

        let mut defs = HashMap::new();
        defs.insert(DefKey::Root, schema);
        for (container, key) in [
            ("$defs", DefKey::Defs as fn(String) -> DefKey),
            ("definitions", DefKey::Definitions),
        ] {
            match root.get(container) {
                None => {}
                Some(Value::Object(map)) => {
                    for (name, def) in map {
                        defs.insert(key(name.clone()), def);
                    }
                }
                Some(_) => return None,
            }
        }

        // Which definitions reach a constraint: a fixpoint over the `$ref` graph.
        let mut local = HashMap::new();
        for (key, def) in &defs {
            let mut refs = Vec::new();
            let constrained = scan(def, root, &mut refs);
            local.insert(key.clone(), (constrained, refs));
        }
        let mut constrained: HashMap<DefKey, bool> =
            local.iter().map(|(k, (c, _))| (k.clone(), *c)).collect();
        loop {
            let mut changed = false;
            for (key, (_, refs)) in &local {
                if !constrained[key] && refs.iter().any(|r| constrained[r]) {
                    constrained.insert(key.clone(), true);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }

        let root_copy = root_refs.then(|| {
            let mut name = ROOT_COPY.to_owned();
            while defs.contains_key(&DefKey::Defs(name.clone())) {
                name.push('_');
            }
            name
        });
        let mut builder = Builder {
            root,
            defs,
            constrained,
            root_copy: root_copy.as_ref().map(|name| format!("#/$defs/{name}")),
            stack: vec![DefKey::Root],
            expansions: 0,
        };
        let (projection, residual) = builder.build(schema);
        let residual = match projection {
            Projection::Skip => Value::Bool(true),
            Projection::Keep(_) => schema.clone(),
            Projection::Object(_) | Projection::Array(_) => {
                let Value::Object(mut out) = residual else {
                    return None;
                };
                for keyword in ["$schema", "$id"] {
                    if let Some(value) = root.get(keyword) {
                        out.insert(keyword.to_owned(), value.clone());
                    }
                }
                let mut defs = match root.get("$defs") {
                    Some(Value::Object(defs)) => defs.clone(),
                    _ => Map::new(),
                };
                let mut definitions = root.get("definitions").cloned();
                if let (Some(name), Some(target)) = (&root_copy, &builder.root_copy) {
                    for def in defs.values_mut() {
                        rewrite_root_refs(def, target);
                    }
                    if let Some(definitions) = &mut definitions {
                        rewrite_root_refs(definitions, target);
                    }
                    let mut copy = root.clone();
                    for keyword in ["$schema", "$id", "$defs", "definitions"] {
                        copy.remove(keyword);
                    }
                    let mut copy = Value::Object(copy);
                    rewrite_root_refs(&mut copy, target);
                    defs.insert(name.clone(), copy);
                }
                if !defs.is_empty() {
                    out.insert("$defs".to_owned(), Value::Object(defs));
                }
                if let Some(definitions) = definitions {
                    out.insert("definitions".to_owned(), definitions);
                }
                Value::Object(out)
            }
        };
        let context = match (&projection, &residual) {
            (Projection::Keep(_), _) => None,
            (_, Value::Object(out)) => Some(
                ["$schema", "$id", "$defs", "definitions"]
                    .into_iter()
                    .filter_map(|k| out.get(k).map(|v| (k.to_owned(), v.clone())))
                    .collect(),
            ),
            _ => Some(Map::new()),
        };
        Some(Plan {
            root: projection,
            residual,
            context,
            compile,
        })
    }

    /// Whether `node` or anything it references holds a constraint.
    fn is_constrained(&self, node: &Value) -> bool {
        let mut refs = Vec::new();
        scan(node, self.root, &mut refs)
            || refs
                .iter()
                .any(|r| self.constrained.get(r).copied().unwrap_or(true))
    }

    /// The projection of `node` and its residual schema.
    fn build(&mut self, node: &'s Value) -> (Projection, Value) {
        if !self.is_constrained(node) {
            return (Projection::Skip, Value::Bool(true));
        }
        let Value::Object(map) = node else {
            return self.keep(node);
        };
        let keywords: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| !ANNOTATIONS.contains(k))
            .collect();
        let only = |allowed: &[&str]| keywords.iter().all(|k| allowed.contains(k));
        if keywords == ["$ref"] {
            return self.build_ref(node, &map["$ref"]);
        }
        if only(&["type", "properties", "required", "additionalProperties"])
            && (map.contains_key("properties") || map.contains_key("additionalProperties"))
        {
            return self.build_object(node, map);
        }
        if only(&["type", "items"]) && matches!(map.get("items"), Some(Value::Object(_))) {
            return self.build_array(node, map);
        }
        if keywords == ["anyOf"] || keywords == ["oneOf"] {
            return self.build_nullable(node, keywords[0], &map[keywords[0]]);
        }
        self.keep(node)
    }

    /// `Keep`, with a copy of the original as residual.
    fn keep(&self, node: &Value) -> (Projection, Value) {
        let mut copy = node.clone();
        if let Some(target) = &self.root_copy {
            rewrite_root_refs(&mut copy, target);
        }
        (Projection::Keep(Kept::new(copy.clone())), copy)
    }

    fn build_ref(&mut self, node: &'s Value, reference: &Value) -> (Projection, Value) {
        let Some(key) = reference.as_str().and_then(|r| parse_ref(r, self.root)) else {
            return self.keep(node);
        };
        let Some(&target) = self.defs.get(&key) else {
            return self.keep(node);
        };
        if self.stack.contains(&key) || self.expansions >= MAX_EXPANSIONS {
            return self.keep(node);
        }
        self.expansions += 1;
        self.stack.push(key);
        let built = self.build(target);
        self.stack.pop();
        match built.0 {
            // A reference to a kept definition stays a reference.
            Projection::Keep(_) => self.keep(node),
            _ => built,
        }
    }

    fn build_object(
        &mut self,
        node: &'s Value,
        map: &'s Map<String, Value>,
    ) -> (Projection, Value) {
        let properties = match map.get("properties") {
            None => None,
            Some(Value::Object(properties)) => Some(properties),
            Some(_) => return self.keep(node),
        };
        let mut required = Vec::new();
        match map.get("required") {
            None => {}
            Some(Value::Array(names)) => {
                for name in names {
                    match name.as_str() {
                        Some(name) if properties.is_some_and(|p| p.contains_key(name)) => {
                            required.push(name);
                        }
                        // Required but undeclared, or not a name: not worth the trouble.
                        _ => return self.keep(node),
                    }
                }
            }
            Some(_) => return self.keep(node),
        }

        let (additional, additional_residual) = match map.get("additionalProperties") {
            None => (None, None),
            // Serde never writes undeclared keys where this is false; if it does, keep them so
            // that the residual rejects them too.
            Some(Value::Bool(false)) => (
                Some(Box::new(Projection::Keep(Kept::new(Value::Bool(false))))),
                Some(Value::Bool(false)),
            ),
            Some(schema) => match self.build(schema) {
                (Projection::Skip, _) => (None, None),
                (projection, residual) => (Some(Box::new(projection)), Some(residual)),
            },
        };

        let mut fields = Vec::new();
        let mut residual_properties = Map::new();
        let mut residual_required = Vec::new();
        let mut required_mask = 0u64;
        let mut tracked = 0u32;
        let mut required_bits = 0u64;
        let mut required_count = 0u32;
        for (name, schema) in properties.into_iter().flatten() {
            let is_required = required.contains(&name.as_str());
            let required_bit = (is_required && required_count < 64).then(|| {
                required_bits |= 1 << required_count;
                required_count += 1;
                required_count - 1
            });
            let (projection, residual) = match schema {
                // Present only if serde disagrees with the schema: keep it, to be rejected.
                Value::Bool(false) => (
                    Projection::Keep(Kept::new(Value::Bool(false))),
                    Value::Bool(false),
                ),
                schema => self.build(schema),
            };
            let field = match projection {
                Projection::Skip if is_required && tracked < MAX_TRACKED => {
                    required_mask |= 1 << tracked;
                    residual_properties.insert(name.clone(), Value::Bool(false));
                    tracked += 1;
                    Field {
                        projection,
                        presence_bit: Some(tracked - 1),
                        required_bit,
                    }
                }
                Projection::Skip if is_required => {
                    let (projection, residual) = self.keep(schema);
                    residual_properties.insert(name.clone(), residual);
                    residual_required.push(Value::String(name.clone()));
                    Field {
                        projection,
                        presence_bit: None,
                        required_bit,
                    }
                }
                // Left out either way; listed so that a struct's fields are found in order.
                Projection::Skip => Field {
                    projection,
                    presence_bit: None,
                    required_bit: None,
                },
                projection => {
                    residual_properties.insert(name.clone(), residual);
                    if is_required {
                        residual_required.push(Value::String(name.clone()));
                    }
                    Field {
                        projection,
                        presence_bit: None,
                        required_bit,
                    }
                }
            };
            fields.push((name.clone(), field));
        }

        let mut residual = Map::new();
        if let Some(ty) = map.get("type") {
            residual.insert("type".to_owned(), ty.clone());
        }
        if !residual_properties.is_empty() {
            residual.insert("properties".to_owned(), Value::Object(residual_properties));
        }
        if !residual_required.is_empty() {
            residual.insert("required".to_owned(), Value::Array(residual_required));
        }
        if let Some(additional) = additional_residual {
            residual.insert("additionalProperties".to_owned(), additional);
        }
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let order = (0..fields.len().min(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        let plan = ObjectPlan {
            fields,
            index,
            order,
            additional,
            required_mask,
            required_bits,
            required_untracked: required.len() > 64,
            accepts_object: admits(map, "object"),
            accepts_null: admits(map, "null"),
        };
        (Projection::Object(Box::new(plan)), Value::Object(residual))
    }

    fn build_array(&mut self, node: &'s Value, map: &'s Map<String, Value>) -> (Projection, Value) {
        match self.build(&map["items"]) {
            // Projecting every element in full is keeping the array, only slower.
            (Projection::Skip | Projection::Keep(_), _) => self.keep(node),
            (items, items_residual) => {
                let mut residual = Map::new();
                if let Some(ty) = map.get("type") {
                    residual.insert("type".to_owned(), ty.clone());
                }
                residual.insert("items".to_owned(), items_residual);
                let plan = ArrayPlan {
                    items,
                    accepts_array: admits(map, "array"),
                    accepts_null: admits(map, "null"),
                };
                (Projection::Array(Box::new(plan)), Value::Object(residual))
            }
        }
    }

    /// `anyOf`/`oneOf` of `[X, {"type": "null"}]` (an `Option`): projected as `X`. `null` is
    /// projected as `null`, and any other value as a non-null value, on which the null branch
    /// fails in both schemas; `X`'s residual keeps `X`'s `type`, so both agree on `null` too.
    fn build_nullable(
        &mut self,
        node: &'s Value,
        keyword: &str,
        branches: &'s Value,
    ) -> (Projection, Value) {
        let is_null = |schema: &Value| {
            schema
                .as_object()
                .is_some_and(|m| m.len() == 1 && m.get("type") == Some(&Value::from("null")))
        };
        let Value::Array(branches) = branches else {
            return self.keep(node);
        };
        let [a, b] = branches.as_slice() else {
            return self.keep(node);
        };
        let (other, other_first) = match (is_null(a), is_null(b)) {
            (false, true) => (a, true),
            (true, false) => (b, false),
            _ => return self.keep(node),
        };
        match self.build(other) {
            (Projection::Skip | Projection::Keep(_), _) => self.keep(node),
            (mut projection, residual) => {
                // The `null` branch lets `null` through, whatever `X` says.
                match &mut projection {
                    Projection::Object(plan) => plan.accepts_null = true,
                    Projection::Array(plan) => plan.accepts_null = true,
                    Projection::Skip | Projection::Keep(_) => {}
                }
                let null = Value::from(Map::from_iter([("type".to_owned(), Value::from("null"))]));
                let branches = if other_first {
                    vec![residual, null]
                } else {
                    vec![null, residual]
                };
                let residual = Map::from_iter([(keyword.to_owned(), Value::Array(branches))]);
                (projection, Value::Object(residual))
            }
        }
    }
}

/// Whether `node` itself (not counting what its `$ref`s point to, which are pushed to `refs`)
/// holds a constraint. May stop early, with `refs` incomplete, when it does.
fn scan(node: &Value, root: &Map<String, Value>, refs: &mut Vec<DefKey>) -> bool {
    let map = match node {
        Value::Bool(_) => return false,
        Value::Object(map) => map,
        _ => return true,
    };
    for (keyword, value) in map {
        let structural = match keyword.as_str() {
            "$ref" => match value.as_str().and_then(|r| parse_ref(r, root)) {
                Some(key) => {
                    refs.push(key);
                    true
                }
                None => false,
            },
            "properties" => value
                .as_object()
                .is_some_and(|p| p.values().all(|s| !scan(s, root, refs))),
            "items" | "additionalProperties" => !scan(value, root, refs),
            "prefixItems" | "anyOf" | "oneOf" | "allOf" => value
                .as_array()
                .is_some_and(|a| a.iter().all(|s| !scan(s, root, refs))),
            keyword => !is_constraint(keyword, value, map),
        };
        if !structural {
            return true;
        }
    }
    false
}

/// Whether `keyword: value` of the schema object `map` is a constraint: something a value of
/// the Rust type the schema describes can break. The structural keywords are the annotations,
/// `type`, `required`, `const`, `enum`, the integer and float formats, the bounds those formats
/// imply, and the length of a tuple; every keyword not listed is a constraint. (The keywords
/// holding sub-schemas that [`scan`] and [`shape`] look into are theirs to handle.)
fn is_constraint(keyword: &str, value: &Value, map: &Map<String, Value>) -> bool {
    let format = map.get("format").and_then(Value::as_str);
    !match keyword {
        k if ANNOTATIONS.contains(&k) => true,
        "type" | "required" | "const" | "enum" => true,
        "format" => value.as_str().is_some_and(is_numeric_format),
        "minimum" => format.is_some_and(|f| implied_minimum(f, value)),
        "maximum" => format.is_some_and(|f| implied_maximum(f, value)),
        // Tuples: schemars bounds the length with the arity.
        "minItems" | "maxItems" => map.contains_key("prefixItems"),
        _ => false,
    }
}

/// The *shape* of a schema: a copy with every constraint removed (see [`is_constraint`]), so
/// that it accepts exactly the values of the right structure — what a schema alone can say of
/// "decodes as the type", where there is no Rust type to ask serde.
///
/// Everywhere in the schema (definitions included): constraint keywords are dropped, together
/// with the applicators the plan never looks into (`not`, `if`, `patternProperties`,
/// `contains`, ...: a value that only they would reject is still of the right structure); a
/// `minimum`/`maximum` next to an integer format becomes that integer type's bound (what serde
/// checks); `oneOf` becomes `anyOf` (with their constraints gone, two branches may both fit).
/// It errs towards accepting: a value the shape accepts is judged by the whole schema.
pub(crate) fn shape(schema: &Value) -> Value {
    /// The applicators whose sub-schemas keep their structure.
    const KEPT: &[&str] = &[
        "$ref",
        "properties",
        "items",
        "additionalProperties",
        "prefixItems",
        "anyOf",
        "oneOf",
        "allOf",
        "$defs",
        "definitions",
    ];
    let mut shape = schema.clone();
    for_each_schema_mut(&mut shape, &mut |map| {
        let bounds = map
            .get("format")
            .and_then(Value::as_str)
            .and_then(integer_bounds);
        let dropped: Vec<String> = map
            .iter()
            .filter(|(k, v)| !KEPT.contains(&k.as_str()) && is_constraint(k, v, map))
            .map(|(k, _)| k.clone())
            .collect();
        for keyword in dropped {
            map.remove(&keyword);
            match (keyword.as_str(), bounds) {
                ("minimum", Some((min, _))) => {
                    map.insert(keyword, min_value(min));
                }
                ("maximum", Some((_, max))) => {
                    map.insert(keyword, max_value(max));
                }
                _ => {}
            }
        }
        if let Some(branches) = map.remove("oneOf") {
            map.insert("anyOf".to_owned(), branches);
        }
    });
    shape
}

/// An integer type's minimum as JSON.
fn min_value(min: i128) -> Value {
    i64::try_from(min).map_or_else(|_| Value::from(min as f64), Value::from)
}

/// An integer type's maximum as JSON.
fn max_value(max: u128) -> Value {
    u64::try_from(max).map_or_else(|_| Value::from(max as f64), Value::from)
}

/// Whether every `$ref` under `node` is one [`parse_ref`] understands and nothing changes how
/// references resolve (`$id` below the root, anchors, dynamic references). Sets `root_refs` when
/// some `$ref` is `#`.
fn check_references(
    node: &Value,
    is_root: bool,
    root: &Map<String, Value>,
    root_refs: &mut bool,
) -> bool {
    let Value::Object(map) = node else {
        return true;
    };
    map.iter().all(|(keyword, value)| match keyword.as_str() {
        "$ref" => match value.as_str().and_then(|r| parse_ref(r, root)) {
            Some(DefKey::Root) => {
                *root_refs = true;
                true
            }
            Some(_) => true,
            None => false,
        },
        "$id" => is_root,
        "$anchor" | "$dynamicRef" | "$dynamicAnchor" | "$recursiveRef" | "$recursiveAnchor" => {
            false
        }
        k => subschemas(k, value).all(|s| check_references(s, false, root, root_refs)),
    })
}

/// The sub-schemas under `keyword: value` of a schema object.
fn subschemas<'v>(keyword: &str, value: &'v Value) -> Box<dyn Iterator<Item = &'v Value> + 'v> {
    match value {
        Value::Object(map) if SCHEMA_MAPS.contains(&keyword) => Box::new(map.values()),
        Value::Object(map) if keyword == "dependencies" => {
            Box::new(map.values().filter(|v| !v.is_array()))
        }
        Value::Object(_) | Value::Bool(_) if SCHEMA_VALUES.contains(&keyword) => {
            Box::new(std::iter::once(value))
        }
        Value::Array(items) if SCHEMA_ARRAYS.contains(&keyword) => Box::new(items.iter()),
        _ => Box::new(std::iter::empty()),
    }
}

/// Rewrites every `$ref: "#"` under `node` to `target`.
fn rewrite_root_refs(node: &mut Value, target: &str) {
    for_each_schema_mut(node, &mut |map| {
        if let Some(reference) = map.get_mut("$ref") {
            if reference == "#" {
                *reference = Value::from(target);
            }
        }
    });
}

/// Calls `f` on the schema object `node` and then on every schema object under it (what `f`
/// left of it).
fn for_each_schema_mut(node: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    let Value::Object(map) = node else {
        return;
    };
    f(map);
    for (keyword, value) in map.iter_mut() {
        match (keyword.as_str(), value) {
            (k, Value::Object(children)) if SCHEMA_MAPS.contains(&k) || k == "dependencies" => {
                children
                    .values_mut()
                    .for_each(|s| for_each_schema_mut(s, f));
            }
            (k, value @ Value::Object(_)) if SCHEMA_VALUES.contains(&k) => {
                for_each_schema_mut(value, f);
            }
            (k, Value::Array(items)) if SCHEMA_ARRAYS.contains(&k) => {
                items.iter_mut().for_each(|s| for_each_schema_mut(s, f));
            }
            _ => {}
        }
    }
}

/// `#`, `#/$defs/{name}` or `#/definitions/{name}` naming an existing definition.
fn parse_ref(reference: &str, root: &Map<String, Value>) -> Option<DefKey> {
    if reference == "#" {
        return Some(DefKey::Root);
    }
    let (container, token) = if let Some(token) = reference.strip_prefix("#/$defs/") {
        ("$defs", token)
    } else {
        ("definitions", reference.strip_prefix("#/definitions/")?)
    };
    if token.contains('/') {
        return None;
    }
    let name = unescape_pointer_token(&percent_decode(token)?)?;
    root.get(container)?.as_object()?.get(&name)?;
    Some(if container == "$defs" {
        DefKey::Defs(name)
    } else {
        DefKey::Definitions(name)
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn unescape_pointer_token(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next()? {
                '0' => out.push('~'),
                '1' => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn is_numeric_format(format: &str) -> bool {
    matches!(
        format,
        "int8"
            | "int16"
            | "int32"
            | "int64"
            | "int128"
            | "int"
            | "uint8"
            | "uint16"
            | "uint32"
            | "uint64"
            | "uint128"
            | "uint"
            | "float"
            | "double"
    )
}

/// The range of the Rust integer type behind a schemars integer format.
fn integer_bounds(format: &str) -> Option<(i128, u128)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX as u128),
        "int16" => (i16::MIN.into(), i16::MAX as u128),
        "int32" => (i32::MIN.into(), i32::MAX as u128),
        "int64" => (i64::MIN.into(), i64::MAX as u128),
        "int128" => (i128::MIN, i128::MAX as u128),
        "int" => (isize::MIN as i128, isize::MAX as u128),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" => (0, u64::MAX.into()),
        "uint128" => (0, u128::MAX),
        "uint" => (0, usize::MAX as u128),
        _ => return None,
    })
}

/// Whether `minimum: bound` is implied by the integer `format` (the bound is at or below the
/// type's minimum).
fn implied_minimum(format: &str, bound: &Value) -> bool {
    let Some((min, _)) = integer_bounds(format) else {
        return false;
    };
    if let Some(b) = bound.as_i64() {
        i128::from(b) <= min
    } else if bound.is_u64() {
        false // above i64::MAX, above every minimum
    } else {
        // Every minimum is a power of two or zero: exact as f64.
        bound.as_f64().is_some_and(|b| b <= min as f64)
    }
}

/// Whether `maximum: bound` is implied by the integer `format` (the bound is at or above the
/// type's maximum).
fn implied_maximum(format: &str, bound: &Value) -> bool {
    let Some((_, max)) = integer_bounds(format) else {
        return false;
    };
    if let Some(b) = bound.as_u64() {
        u128::from(b) >= max
    } else if bound.is_i64() {
        false // negative
    } else {
        // The maxima are 2^k - 1, which round up to 2^k as f64: the comparison errs on the side
        // of calling the bound a constraint.
        bound.as_f64().is_some_and(|b| b >= max as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// Projecting a value.
// ---------------------------------------------------------------------------------------------

/// The node a [`Projector`] serializes for.
#[derive(Clone, Copy)]
enum Shape<'a> {
    Object(&'a ObjectPlan),
    Array(&'a Projection),
}

/// A serializer building the projection of a value at an `Object` or `Array` node. Values of
/// another shape than the node's are serialized in full (with `serde_json`'s own serializer).
#[derive(Clone, Copy)]
struct Projector<'a> {
    shape: Shape<'a>,
}

impl Projector<'_> {
    /// A value serialized in full: projected again when it has the node's shape (an enum
    /// variant where a struct was expected, say), as-is otherwise.
    fn full(self, value: Value) -> Result<Value> {
        match (self.shape, &value) {
            (Shape::Object(_), Value::Object(_)) | (Shape::Array(_), Value::Array(_)) => {
                value.serialize(self)
            }
            _ => Ok(value),
        }
    }
}

type FullSeq = <ValueSerializer as Serializer>::SerializeSeq;
type FullTuple = <ValueSerializer as Serializer>::SerializeTuple;
type FullTupleStruct = <ValueSerializer as Serializer>::SerializeTupleStruct;
type FullTupleVariant = <ValueSerializer as Serializer>::SerializeTupleVariant;
type FullMap = <ValueSerializer as Serializer>::SerializeMap;
type FullStruct = <ValueSerializer as Serializer>::SerializeStruct;
type FullStructVariant = <ValueSerializer as Serializer>::SerializeStructVariant;

impl<'a> Serializer for Projector<'a> {
    type Ok = Value;
    type Error = serde_json::Error;
    type SerializeSeq = SeqProjector<'a>;
    type SerializeTuple = Reproject<'a, FullTuple>;
    type SerializeTupleStruct = Reproject<'a, FullTupleStruct>;
    type SerializeTupleVariant = Reproject<'a, FullTupleVariant>;
    type SerializeMap = MapProjector<'a>;
    type SerializeStruct = StructProjector<'a>;
    type SerializeStructVariant = Reproject<'a, FullStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        ValueSerializer.serialize_bool(v)
    }

    fn serialize_i8(self, v: i8) -> Result<Value> {
        ValueSerializer.serialize_i8(v)
    }

    fn serialize_i16(self, v: i16) -> Result<Value> {
        ValueSerializer.serialize_i16(v)
    }

    fn serialize_i32(self, v: i32) -> Result<Value> {
        ValueSerializer.serialize_i32(v)
    }

    fn serialize_i64(self, v: i64) -> Result<Value> {
        ValueSerializer.serialize_i64(v)
    }

    fn serialize_i128(self, v: i128) -> Result<Value> {
        ValueSerializer.serialize_i128(v)
    }

    fn serialize_u8(self, v: u8) -> Result<Value> {
        ValueSerializer.serialize_u8(v)
    }

    fn serialize_u16(self, v: u16) -> Result<Value> {
        ValueSerializer.serialize_u16(v)
    }

    fn serialize_u32(self, v: u32) -> Result<Value> {
        ValueSerializer.serialize_u32(v)
    }

    fn serialize_u64(self, v: u64) -> Result<Value> {
        ValueSerializer.serialize_u64(v)
    }

    fn serialize_u128(self, v: u128) -> Result<Value> {
        ValueSerializer.serialize_u128(v)
    }

    fn serialize_f32(self, v: f32) -> Result<Value> {
        ValueSerializer.serialize_f32(v)
    }

    fn serialize_f64(self, v: f64) -> Result<Value> {
        ValueSerializer.serialize_f64(v)
    }

    fn serialize_char(self, v: char) -> Result<Value> {
        ValueSerializer.serialize_char(v)
    }

    fn serialize_str(self, v: &str) -> Result<Value> {
        ValueSerializer.serialize_str(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        self.full(ValueSerializer.serialize_bytes(v)?)
    }

    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        ValueSerializer.serialize_unit_variant(name, variant_index, variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        self.full(ValueSerializer.serialize_newtype_variant(name, variant_index, variant, value)?)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqProjector<'a>> {
        Ok(match self.shape {
            Shape::Array(items) => SeqProjector::Project {
                items,
                values: Vec::with_capacity(len.unwrap_or(0)),
            },
            Shape::Object(_) => SeqProjector::Full(ValueSerializer.serialize_seq(len)?),
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        Ok(Reproject {
            inner: ValueSerializer.serialize_tuple(len)?,
            projector: self,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Ok(Reproject {
            inner: ValueSerializer.serialize_tuple_struct(name, len)?,
            projector: self,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Ok(Reproject {
            inner: ValueSerializer.serialize_tuple_variant(name, variant_index, variant, len)?,
            projector: self,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<MapProjector<'a>> {
        Ok(match self.shape {
            Shape::Object(plan) => MapProjector::Project(ObjectState::new(plan)),
            Shape::Array(_) => MapProjector::Full(ValueSerializer.serialize_map(len)?),
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<StructProjector<'a>> {
        Ok(match self.shape {
            // serde_json's own tokens (raw values, arbitrary-precision numbers) are not structs.
            Shape::Object(plan) if !name.starts_with("$serde_json::private::") => {
                StructProjector::Project(ObjectState::new(plan))
            }
            _ => StructProjector::Full(Reproject {
                inner: ValueSerializer.serialize_struct(name, len)?,
                projector: self,
            }),
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Ok(Reproject {
            inner: ValueSerializer.serialize_struct_variant(name, variant_index, variant, len)?,
            projector: self,
        })
    }

    fn collect_str<T: ?Sized + std::fmt::Display>(self, value: &T) -> Result<Value> {
        ValueSerializer.collect_str(value)
    }
}

/// The entries of an object being projected.
struct ObjectState<'a> {
    plan: &'a ObjectPlan,
    map: Map<String, Value>,
    /// Presence bits of the required, unconstrained fields seen so far.
    seen: u64,
    /// The key of a map entry whose value comes next.
    pending_key: Option<String>,
    /// How many fields of a struct came so far.
    position: usize,
}

impl<'a> ObjectState<'a> {
    fn new(plan: &'a ObjectPlan) -> Self {
        ObjectState {
            plan,
            map: Map::new(),
            seen: 0,
            pending_key: None,
            position: 0,
        }
    }

    /// Records an entry (its declared property, if any) and returns the projection of its
    /// value, if it is kept.
    fn route(&mut self, field: Option<&'a Field>) -> Option<&'a Projection> {
        match field {
            Some(field) => {
                if let Some(bit) = field.presence_bit {
                    self.seen |= 1 << bit;
                }
                match field.projection {
                    Projection::Skip => None,
                    ref projection => Some(projection),
                }
            }
            None => self.plan.additional.as_deref(),
        }
    }

    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.position += 1;
        let field = self.plan.struct_field(self.position - 1, key);
        if let Some(projection) = self.route(field) {
            let value = project_with(value, projection)?;
            self.map.insert(key.to_owned(), value);
        }
        Ok(())
    }

    fn entry<T: ?Sized + Serialize>(&mut self, key: String, value: &T) -> Result<()> {
        if let Some(projection) = self.route(self.plan.field(&key)) {
            let value = project_with(value, projection)?;
            self.map.insert(key, value);
        }
        Ok(())
    }

    fn end(mut self) -> Value {
        let missing = self.plan.required_mask & !self.seen;
        if missing != 0 {
            // The residual has `false` for these: it rejects the value, as the original does.
            for (name, field) in &self.plan.fields {
                if field
                    .presence_bit
                    .is_some_and(|bit| missing & (1 << bit) != 0)
                {
                    self.map.insert(name.clone(), Value::Null);
                }
            }
        }
        Value::Object(self.map)
    }
}

/// [`Projector::serialize_seq`]'s state.
enum SeqProjector<'a> {
    Project {
        items: &'a Projection,
        values: Vec<Value>,
    },
    Full(FullSeq),
}

impl ser::SerializeSeq for SeqProjector<'_> {
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        match self {
            SeqProjector::Project { items, values } => {
                values.push(project_with(value, items)?);
                Ok(())
            }
            SeqProjector::Full(inner) => inner.serialize_element(value),
        }
    }

    fn end(self) -> Result<Value> {
        match self {
            SeqProjector::Project { values, .. } => Ok(Value::Array(values)),
            SeqProjector::Full(inner) => inner.end(),
        }
    }
}

/// [`Projector::serialize_map`]'s state.
enum MapProjector<'a> {
    Project(ObjectState<'a>),
    Full(FullMap),
}

impl ser::SerializeMap for MapProjector<'_> {
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<()> {
        match self {
            MapProjector::Project(state) => {
                state.pending_key = Some(key.serialize(KeySerializer)?);
                Ok(())
            }
            MapProjector::Full(inner) => inner.serialize_key(key),
        }
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        match self {
            MapProjector::Project(state) => {
                let key = state
                    .pending_key
                    .take()
                    .expect("serialize_value called before serialize_key");
                state.entry(key, value)
            }
            MapProjector::Full(inner) => inner.serialize_value(value),
        }
    }

    fn end(self) -> Result<Value> {
        match self {
            MapProjector::Project(state) => Ok(state.end()),
            MapProjector::Full(inner) => inner.end(),
        }
    }
}

/// [`Projector::serialize_struct`]'s state.
enum StructProjector<'a> {
    Project(ObjectState<'a>),
    Full(Reproject<'a, FullStruct>),
}

impl ser::SerializeStruct for StructProjector<'_> {
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        match self {
            StructProjector::Project(state) => state.field(key, value),
            StructProjector::Full(inner) => inner.serialize_field(key, value),
        }
    }

    fn skip_field(&mut self, key: &'static str) -> Result<()> {
        match self {
            StructProjector::Project(_) => Ok(()),
            StructProjector::Full(inner) => inner.skip_field(key),
        }
    }

    fn end(self) -> Result<Value> {
        match self {
            StructProjector::Project(state) => Ok(state.end()),
            StructProjector::Full(inner) => inner.end(),
        }
    }
}

/// A compound value serialized in full by `serde_json`, then handed to [`Projector::full`].
struct Reproject<'a, S> {
    inner: S,
    projector: Projector<'a>,
}

impl<S> ser::SerializeTuple for Reproject<'_, S>
where
    S: ser::SerializeTuple<Ok = Value, Error = serde_json::Error>,
{
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.inner.serialize_element(value)
    }

    fn end(self) -> Result<Value> {
        self.projector.full(self.inner.end()?)
    }
}

impl<S> ser::SerializeTupleStruct for Reproject<'_, S>
where
    S: ser::SerializeTupleStruct<Ok = Value, Error = serde_json::Error>,
{
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.inner.serialize_field(value)
    }

    fn end(self) -> Result<Value> {
        self.projector.full(self.inner.end()?)
    }
}

impl<S> ser::SerializeTupleVariant for Reproject<'_, S>
where
    S: ser::SerializeTupleVariant<Ok = Value, Error = serde_json::Error>,
{
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<()> {
        self.inner.serialize_field(value)
    }

    fn end(self) -> Result<Value> {
        self.projector.full(self.inner.end()?)
    }
}

impl<S> ser::SerializeStruct for Reproject<'_, S>
where
    S: ser::SerializeStruct<Ok = Value, Error = serde_json::Error>,
{
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.inner.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<()> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<Value> {
        self.projector.full(self.inner.end()?)
    }
}

impl<S> ser::SerializeStructVariant for Reproject<'_, S>
where
    S: ser::SerializeStructVariant<Ok = Value, Error = serde_json::Error>,
{
    type Ok = Value;
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.inner.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<()> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<Value> {
        self.projector.full(self.inner.end()?)
    }
}

/// Map keys as `serde_json` writes them: strings as they are, integers, `bool`s and `char`s as
/// their text, finite floats in `serde_json`'s format; anything else is an error.
struct KeySerializer;

/// The key `serde_json` makes of `key` (through a one-entry map).
pub(crate) fn serde_json_key<K: ?Sized + Serialize>(key: &K) -> Result<String> {
    struct OneEntry<'k, K: ?Sized>(&'k K);

    impl<K: ?Sized + Serialize> Serialize for OneEntry<'_, K> {
        fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            use ser::SerializeMap as _;
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, &())?;
            map.end()
        }
    }

    match serde_json::to_value(OneEntry(key))? {
        Value::Object(map) => map
            .into_iter()
            .next()
            .map(|(key, _)| key)
            .ok_or_else(key_must_be_a_string),
        _ => Err(key_must_be_a_string()),
    }
}

fn key_must_be_a_string() -> serde_json::Error {
    ser::Error::custom("key must be a string")
}

impl Serializer for KeySerializer {
    type Ok = String;
    type Error = serde_json::Error;
    type SerializeSeq = Impossible<String, serde_json::Error>;
    type SerializeTuple = Impossible<String, serde_json::Error>;
    type SerializeTupleStruct = Impossible<String, serde_json::Error>;
    type SerializeTupleVariant = Impossible<String, serde_json::Error>;
    type SerializeMap = Impossible<String, serde_json::Error>;
    type SerializeStruct = Impossible<String, serde_json::Error>;
    type SerializeStructVariant = Impossible<String, serde_json::Error>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }

    fn serialize_bool(self, v: bool) -> Result<String> {
        serde_json_key(&v)
    }

    fn serialize_i8(self, v: i8) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_i16(self, v: i16) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_i32(self, v: i32) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_i64(self, v: i64) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_i128(self, v: i128) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_u8(self, v: u8) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_u16(self, v: u16) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_u32(self, v: u32) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_u64(self, v: u64) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_u128(self, v: u128) -> Result<String> {
        Ok(v.to_string())
    }

    fn serialize_f32(self, v: f32) -> Result<String> {
        serde_json_key(&v)
    }

    fn serialize_f64(self, v: f64) -> Result<String> {
        serde_json_key(&v)
    }

    fn serialize_char(self, v: char) -> Result<String> {
        serde_json_key(&v)
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<String> {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result<String> {
        Err(key_must_be_a_string())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<String> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result<String> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<String> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String> {
        Err(key_must_be_a_string())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};
    use serde_json::json;
    use std::collections::{BTreeMap, HashMap};

    // ---- The shape of a schema -----------------------------------------------------------

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct Shaped {
        #[schemars(length(max = 8))]
        last: String,
        #[schemars(email)]
        email: String,
        #[schemars(range(max = 150))]
        age: u8,
        inner: Vec<ShapedInner>,
        choice: ShapedChoice,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct ShapedInner {
        #[schemars(regex(pattern = "^[a-z]+$"))]
        tag: String,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    enum ShapedChoice {
        Short(#[schemars(length(max = 1))] String),
        Long(#[schemars(length(min = 2))] String),
    }

    #[test]
    fn the_shape_drops_constraints_and_keeps_structure() {
        let schema = schema_of::<Shaped>();
        let shape = shape(&schema);
        let text = shape.to_string();
        for constraint in [
            "maxLength",
            "minLength",
            "\"format\":\"email\"",
            "pattern",
            "oneOf",
        ] {
            assert!(!text.contains(constraint), "{constraint} left in {shape:#}");
        }
        let full = jsonschema::validator_for(&schema).unwrap();
        let shape = jsonschema::validator_for(&shape).unwrap();
        let broken = json!({
            "last": "far too long a name", "email": "nope", "age": 200,
            "inner": [{"tag": "UPPER"}], "choice": {"Short": "xyz"},
        });
        assert!(!full.is_valid(&broken) && shape.is_valid(&broken));
        // What serde would refuse stays refused: missing or mistyped fields, an integer
        // beyond its type (the constraint's bound becomes the type's), an unknown variant.
        for other in [
            json!({"email": "", "age": 1, "inner": [], "choice": {"Short": ""}}),
            json!({"last": 1, "email": "", "age": 1, "inner": [], "choice": {"Short": ""}}),
            json!({"last": "", "email": "", "age": 256, "inner": [], "choice": {"Short": ""}}),
            json!({"last": "", "email": "", "age": 1, "inner": [{}], "choice": {"Short": ""}}),
            json!({"last": "", "email": "", "age": 1, "inner": [], "choice": {"Other": ""}}),
        ] {
            assert!(!shape.is_valid(&other), "{other}");
        }
    }

    // ---- Harness -------------------------------------------------------------------------

    fn schema_of<T: JsonSchema>() -> Value {
        schemars::SchemaGenerator::default()
            .into_root_schema_for::<T>()
            .to_value()
    }

    fn validator(schema: &Value) -> jsonschema::Validator {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .unwrap_or_else(|e| panic!("{e}: {schema}"))
    }

    /// The plans' `Keep` validators: the same options as [`validator`].
    fn compiled(schema: &Value) -> Option<jsonschema::Validator> {
        Some(validator(schema))
    }

    /// How many values the original schema accepted and rejected, and how many of the accepted
    /// ones [`check::is_valid`] vouched for.
    #[derive(Debug, Default)]
    struct Tally {
        valid: usize,
        invalid: usize,
        vouched: usize,
    }

    /// Asserts the correctness property for every value, projected with the plan of `schema`.
    fn check_against<V: Serialize>(schema: &Value, values: &[V]) -> Tally {
        let plan = Plan::new(schema, compiled);
        let original = validator(schema);
        let residual = validator(plan.residual());
        let mut tally = Tally::default();
        for value in values {
            let full = serde_json::to_value(value).unwrap();
            let projected = project(value, &plan).unwrap();
            let expected = original.is_valid(&full);
            assert_eq!(
                residual.is_valid(&projected),
                expected,
                "schema: {schema}\nresidual: {}\nplan: {:?}\nvalue: {full}\nprojected: {projected}",
                plan.residual(),
                plan.root(),
            );
            // The walk vouches only for valid values (and, on the usual shapes, for all of them).
            let vouched = crate::value::check::is_valid(value, &plan);
            assert!(
                !vouched || expected,
                "the walk accepted an invalid value\nschema: {schema}\nplan: {:?}\nvalue: {full}",
                plan.root(),
            );
            if expected {
                tally.valid += 1;
                tally.vouched += usize::from(vouched);
            } else {
                tally.invalid += 1;
            }
        }
        tally
    }

    /// [`check_against`] the schema of `T`, over `n` generated values; asserts that both valid
    /// and invalid values came up, so the comparison is not vacuous.
    fn check_type<T: Serialize + JsonSchema>(n: usize, generate: fn(&mut Rng) -> T) -> Plan {
        let mut rng = Rng(0x5EED ^ n as u64);
        let values: Vec<T> = (0..n).map(|_| generate(&mut rng)).collect();
        let schema = schema_of::<T>();
        let tally = check_against(&schema, &values);
        assert!(
            tally.vouched * 10 >= tally.valid * 9,
            "the walk left most valid values to the residual: {}: {tally:?}",
            std::any::type_name::<T>()
        );
        assert!(
            tally.valid > n / 100 && tally.invalid > n / 100,
            "{}: {tally:?}",
            std::any::type_name::<T>()
        );
        Plan::new(&schema, compiled)
    }

    /// A small deterministic generator (SplitMix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn coin(&mut self) -> bool {
            self.next() & 1 == 1
        }

        /// Mostly one of `good`, sometimes one of `bad`.
        fn choose<T: Clone>(&mut self, good: &[T], bad: &[T]) -> T {
            if self.below(8) == 0 {
                bad[self.below(bad.len())].clone()
            } else {
                good[self.below(good.len())].clone()
            }
        }

        fn any<T: Clone>(&mut self, all: &[T]) -> T {
            all[self.below(all.len())].clone()
        }

        fn word(&mut self) -> String {
            self.choose(
                &["abc", "hello", "x", "zz"],
                &["", "ABC", "a1", "toolongword"],
            )
            .to_owned()
        }

        fn text(&mut self) -> String {
            self.any(&["", "Any Text", "ü", "a@b", "42"]).to_owned()
        }

        fn email(&mut self) -> String {
            self.choose(
                &["a@example.com", "bob.smith@mail.io", "x@y.org"],
                &["not-an-email", "", "@no-local", "two@@at"],
            )
            .to_owned()
        }

        fn vec<T>(&mut self, max: usize, mut f: impl FnMut(&mut Rng) -> T) -> Vec<T> {
            (0..self.below(max + 1)).map(|_| f(self)).collect()
        }

        fn option<T>(&mut self, f: impl FnOnce(&mut Rng) -> T) -> Option<T> {
            self.coin().then(|| f(self))
        }

        fn map<T>(&mut self, max: usize, mut f: impl FnMut(&mut Rng) -> T) -> BTreeMap<String, T> {
            (0..self.below(max + 1))
                .map(|_| (self.any(&["a", "b", "k", "long key"]).to_owned(), f(self)))
                .collect()
        }
    }

    // ---- Types -----------------------------------------------------------------------------

    #[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
    struct Profile {
        name: String,
        #[schemars(email)]
        email: String,
        #[schemars(range(max = 150))]
        age: u32,
        city: String,
        tags: Vec<String>,
        active: bool,
    }

    fn profile(r: &mut Rng) -> Profile {
        Profile {
            name: r.text(),
            email: r.email(),
            age: r.choose(&[0, 30, 150], &[151, 4000]),
            city: r.text(),
            tags: r.vec(3, Rng::text),
            active: r.coin(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Inner {
        #[schemars(length(min = 1, max = 5))]
        code: String,
        note: String,
        #[schemars(range(min = 1, max = 10))]
        n: i32,
    }

    fn inner(r: &mut Rng) -> Inner {
        Inner {
            code: r.word(),
            note: r.text(),
            n: r.choose(&[1, 5, 10], &[0, 11, -3]),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Level2 {
        #[schemars(regex(pattern = "^[a-z]+$"))]
        word: String,
        n: u8,
    }

    #[derive(Serialize, JsonSchema)]
    struct Deep {
        level: Level2,
        plain: Vec<String>,
    }

    #[derive(Serialize, JsonSchema)]
    struct Nested {
        id: u64,
        items: Vec<Inner>,
        maybe: Option<Inner>,
        by_name: BTreeMap<String, Inner>,
        label: String,
        deep: Deep,
    }

    fn nested(r: &mut Rng) -> Nested {
        Nested {
            id: r.next(),
            items: r.vec(2, inner),
            maybe: r.option(inner),
            by_name: r.map(2, inner),
            label: r.text(),
            deep: Deep {
                level: Level2 {
                    word: r.word(),
                    n: r.next() as u8,
                },
                plain: r.vec(2, Rng::text),
            },
        }
    }

    #[derive(Serialize, JsonSchema, Clone)]
    #[serde(tag = "t")]
    enum Event {
        Login {
            #[schemars(email)]
            who: String,
        },
        Logout {
            at: u64,
        },
        Ping,
    }

    fn event(r: &mut Rng) -> Event {
        match r.below(3) {
            0 => Event::Login { who: r.email() },
            1 => Event::Logout { at: r.next() },
            _ => Event::Ping,
        }
    }

    #[derive(Serialize, JsonSchema, Clone)]
    enum Figure {
        Unit,
        Named(#[schemars(length(max = 4))] String),
        Circle {
            #[schemars(range(min = 0.0))]
            r: f64,
        },
    }

    fn figure(r: &mut Rng) -> Figure {
        match r.below(3) {
            0 => Figure::Unit,
            1 => Figure::Named(r.word()),
            _ => Figure::Circle {
                r: r.choose(&[0.0, 2.5], &[-1.0, f64::NAN]),
            },
        }
    }

    #[derive(Serialize, JsonSchema)]
    #[serde(untagged)]
    enum Loose {
        Num(u8),
        Text {
            #[schemars(regex(pattern = "^[a-z]+$"))]
            s: String,
        },
    }

    #[derive(Serialize, JsonSchema)]
    struct Enums {
        ext: Figure,
        int: Event,
        unt: Loose,
        list: Vec<Event>,
        opt: Option<Figure>,
        label: String,
    }

    fn gen_enums(r: &mut Rng) -> Enums {
        Enums {
            ext: figure(r),
            int: event(r),
            unt: if r.coin() {
                Loose::Num(r.next() as u8)
            } else {
                Loose::Text { s: r.word() }
            },
            list: r.vec(2, event),
            opt: r.option(figure),
            label: r.text(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct Camel {
        first_name: String,
        #[schemars(length(max = 3))]
        short_code: String,
        #[schemars(email)]
        contact_email: Option<String>,
        nested_inner: Inner,
        plain_list: Vec<u8>,
    }

    fn camel(r: &mut Rng) -> Camel {
        Camel {
            first_name: r.text(),
            short_code: r.choose(&["ab", "xyz", ""], &["abcd"]).to_owned(),
            contact_email: r.option(Rng::email),
            nested_inner: inner(r),
            plain_list: r.vec(3, |r| r.next() as u8),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Meta {
        #[schemars(email)]
        contact: String,
        note: String,
    }

    #[derive(Serialize, JsonSchema)]
    struct Flat {
        #[schemars(length(min = 2))]
        id: String,
        #[serde(flatten)]
        meta: Meta,
        label: String,
    }

    fn flat(r: &mut Rng) -> Flat {
        Flat {
            id: r.word(),
            meta: Meta {
                contact: r.email(),
                note: r.text(),
            },
            label: r.text(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Small(#[schemars(range(max = 9))] u8);

    fn small(r: &mut Rng) -> Small {
        Small(r.choose(&[0, 9], &[10, 255]))
    }

    #[derive(Serialize, JsonSchema)]
    struct FlatMap {
        #[schemars(range(max = 9))]
        k: u8,
        note: String,
        #[serde(flatten)]
        rest: BTreeMap<String, Small>,
    }

    fn flat_map(r: &mut Rng) -> FlatMap {
        FlatMap {
            k: r.choose(&[1, 9], &[10]),
            note: r.text(),
            rest: r.map(2, small),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Tree {
        #[schemars(length(max = 3))]
        name: String,
        children: Vec<Tree>,
    }

    fn tree_at(r: &mut Rng, depth: usize) -> Tree {
        Tree {
            name: r.choose(&["a", "ab", "abc"], &["abcd"]).to_owned(),
            children: if depth < 3 {
                r.vec(2, |r| tree_at(r, depth + 1))
            } else {
                Vec::new()
            },
        }
    }

    fn tree(r: &mut Rng) -> Tree {
        tree_at(r, 0)
    }

    #[derive(Serialize, JsonSchema)]
    struct Pair(#[schemars(email)] String, u32);

    #[derive(Serialize, JsonSchema)]
    struct Tuples {
        pair: (String, Inner),
        list: Vec<(u8, Small)>,
        plain: (u8, String),
        pt: Pair,
        label: String,
    }

    fn tuples(r: &mut Rng) -> Tuples {
        Tuples {
            pair: (r.text(), inner(r)),
            list: r.vec(2, |r| (r.next() as u8, small(r))),
            plain: (r.next() as u8, r.text()),
            pt: Pair(r.email(), r.next() as u32),
            label: r.text(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Wrap(Inner);

    #[derive(Serialize, JsonSchema)]
    struct Email(#[schemars(email)] String);

    #[derive(Serialize, JsonSchema)]
    struct Newtypes {
        wrapped: Wrap,
        emails: Vec<Email>,
        small: Small,
        label: String,
    }

    fn newtypes(r: &mut Rng) -> Newtypes {
        Newtypes {
            wrapped: Wrap(inner(r)),
            emails: r.vec(2, |r| Email(r.email())),
            small: small(r),
            label: r.text(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Lists {
        #[schemars(length(min = 1))]
        tags: Vec<String>,
        #[schemars(length(max = 2))]
        inners: Vec<Inner>,
        all: Vec<Vec<Inner>>,
        name: String,
    }

    fn lists(r: &mut Rng) -> Lists {
        Lists {
            tags: r.vec(2, Rng::text),
            inners: r.vec(3, inner),
            all: r.vec(2, |r| r.vec(1, inner)),
            name: r.text(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Skippy {
        #[serde(skip_serializing_if = "String::is_empty")]
        name: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        nickname: String,
        #[schemars(email)]
        email: String,
    }

    fn skippy(r: &mut Rng) -> Skippy {
        Skippy {
            name: r.choose(&["Ann", "Bo"], &[""]).to_owned(),
            nickname: r.any(&["", "Bobby"]).to_owned(),
            email: r.email(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    struct Keys {
        #[schemars(range(max = 5))]
        x: u8,
        by_id: BTreeMap<u32, Inner>,
        by_name: HashMap<String, Inner>,
    }

    fn keys(r: &mut Rng) -> Keys {
        Keys {
            x: r.choose(&[0, 5], &[6]),
            by_id: r
                .vec(2, |r| (r.below(100) as u32, inner(r)))
                .into_iter()
                .collect(),
            by_name: r.map(2, inner).into_iter().collect(),
        }
    }

    #[derive(Serialize, JsonSchema)]
    enum Kind {
        A,
        B,
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    struct PlainInner {
        s: String,
        n: u64,
    }

    #[derive(Serialize, JsonSchema)]
    struct Plain {
        name: String,
        n: u32,
        small: u8,
        i: i16,
        tags: Vec<String>,
        maybe: Option<i64>,
        kind: Kind,
        map: BTreeMap<String, Vec<u8>>,
        pair: (u8, String),
        nested: Vec<PlainInner>,
        opt: Option<PlainInner>,
    }

    fn plain(r: &mut Rng) -> Plain {
        Plain {
            name: r.text(),
            n: r.next() as u32,
            small: r.next() as u8,
            i: r.next() as i16,
            tags: r.vec(2, Rng::text),
            maybe: r.option(|r| r.next() as i64),
            kind: if r.coin() { Kind::A } else { Kind::B },
            map: r.map(2, |r| r.vec(2, |r| r.next() as u8)),
            pair: (r.next() as u8, r.text()),
            nested: r.vec(2, |r| PlainInner {
                s: r.text(),
                n: r.next(),
            }),
            opt: r.option(|r| PlainInner {
                s: r.text(),
                n: r.next(),
            }),
        }
    }

    fn keys_of(value: &Value) -> Vec<&str> {
        value
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    // ---- Tests -----------------------------------------------------------------------------

    #[test]
    fn profile_projects_only_constrained_fields() {
        let plan = check_type(2000, profile);
        assert!(!plan.is_trivial());
        let p = profile(&mut Rng(1));
        let projected = project(&p, &plan).unwrap();
        assert_eq!(keys_of(&projected), ["age", "email"], "{projected}");
        assert_eq!(projected["email"], json!(p.email));
        assert_eq!(projected["age"], json!(p.age));
        let residual = plan.residual();
        assert_eq!(residual["required"], json!(["age", "email"]), "{residual}");
        // Required, unconstrained fields are only tracked.
        assert_eq!(residual["properties"]["name"], json!(false), "{residual}");
    }

    #[test]
    fn nested_structs_lists_options_and_maps() {
        let plan = check_type(2000, nested);
        let n = nested(&mut Rng(7));
        let projected = project(&n, &plan).unwrap();
        assert_eq!(keys_of(&projected), ["by_name", "deep", "items", "maybe"]);
        assert_eq!(keys_of(&projected["deep"]), ["level"]);
        assert_eq!(keys_of(&projected["deep"]["level"]), ["word"]);
        for item in projected["items"].as_array().unwrap() {
            assert_eq!(keys_of(item), ["code", "n"]);
        }
        for item in projected["by_name"].as_object().unwrap().values() {
            assert_eq!(keys_of(item), ["code", "n"]);
        }
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        assert!(matches!(
            root.field("items").unwrap().projection,
            Projection::Array(_)
        ));
        assert!(matches!(
            root.field("maybe").unwrap().projection,
            Projection::Object(_)
        ));
        assert!(matches!(
            root.field("by_name").unwrap().projection,
            Projection::Object(_)
        ));
    }

    #[test]
    fn enum_fields() {
        let plan = check_type(2000, gen_enums);
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        // Tagged unions are kept whole; `label` is only checked for presence.
        assert!(matches!(
            root.field("ext").unwrap().projection,
            Projection::Keep(_)
        ));
        assert!(matches!(
            root.field("int").unwrap().projection,
            Projection::Keep(_)
        ));
        assert!(matches!(
            root.field("unt").unwrap().projection,
            Projection::Keep(_)
        ));
        assert!(matches!(
            root.field("label").unwrap().projection,
            Projection::Skip
        ));
        let projected = project(&gen_enums(&mut Rng(4)), &plan).unwrap();
        assert_eq!(keys_of(&projected), ["ext", "int", "list", "opt", "unt"]);
        check_type(500, event);
        check_type(500, figure);
    }

    #[test]
    fn renamed_fields() {
        let plan = check_type(2000, camel);
        let projected = project(&camel(&mut Rng(3)), &plan).unwrap();
        assert_eq!(
            keys_of(&projected),
            ["contactEmail", "nestedInner", "shortCode"]
        );
    }

    #[test]
    fn flattened_fields() {
        let plan = check_type(2000, flat);
        let projected = project(&flat(&mut Rng(3)), &plan).unwrap();
        assert_eq!(
            keys_of(&projected),
            ["contact", "id"],
            "{}",
            plan.residual()
        );
        let plan = check_type(2000, flat_map);
        assert!(
            matches!(plan.root(), Projection::Object(_)),
            "{:?}",
            plan.root()
        );
        let projected = project(
            &FlatMap {
                k: 1,
                note: "n".into(),
                rest: BTreeMap::from([("z".into(), Small(3))]),
            },
            &plan,
        )
        .unwrap();
        assert_eq!(projected, json!({"k": 1, "z": 3}));
    }

    #[test]
    fn recursive_type() {
        let plan = check_type(2000, tree);
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        // The root is projected; the recursion (`$ref: "#"`) below is kept whole.
        assert!(matches!(
            root.field("name").unwrap().projection,
            Projection::Keep(_)
        ));
        assert!(matches!(
            root.field("children").unwrap().projection,
            Projection::Keep(_)
        ));
        assert_eq!(
            plan.residual()["properties"]["children"]["items"]["$ref"],
            json!(format!("#/$defs/{ROOT_COPY}")),
        );
        assert!(
            plan.residual()["$defs"][ROOT_COPY].is_object(),
            "{}",
            plan.residual()
        );
    }

    #[test]
    fn tuples_and_newtypes() {
        check_type(2000, tuples);
        let plan = check_type(2000, newtypes);
        let projected = project(&newtypes(&mut Rng(5)), &plan).unwrap();
        assert_eq!(keys_of(&projected), ["emails", "small", "wrapped"]);
        assert_eq!(keys_of(&projected["wrapped"]), ["code", "n"]);
        check_type(500, small);
        check_type(500, |r| Wrap(inner(r)));
        check_type(500, |r| Pair(r.email(), 3));
    }

    #[test]
    fn lists_with_length_constraints() {
        check_type(2000, lists);
    }

    #[test]
    fn maps_with_non_string_keys() {
        check_type(1000, keys);
        // Integer keys become strings, as serde_json writes them.
        let schema = schema_of::<BTreeMap<String, Inner>>();
        let values: Vec<BTreeMap<i64, Inner>> = (0..200)
            .map(|i| {
                let mut r = Rng(i);
                r.vec(2, |r| (r.below(20) as i64 - 10, inner(r)))
                    .into_iter()
                    .collect()
            })
            .collect();
        let tally = check_against(&schema, &values);
        assert!(tally.valid > 0 && tally.invalid > 0, "{tally:?}");
    }

    #[test]
    fn map_keys_match_serde_json() {
        fn same<K: Serialize>(key: K) {
            let ours = key.serialize(KeySerializer).map_err(|e| e.to_string());
            let theirs = serde_json_key(&key).map_err(|e| e.to_string());
            assert_eq!(ours, theirs);
        }
        same("text");
        same(-17i64);
        same(u128::MAX);
        same(1.5f64);
        same(f32::NAN);
        same('c');
        same(true);
        same(Kind::B);
        same(Email("a@b.c".into()));
        same(Option::<u8>::None);
        same(Some(1u8));
        same(());
        same(vec![1]);
    }

    #[test]
    fn skipped_required_fields_are_still_required() {
        let plan = check_type(1000, skippy);
        let bad = Skippy {
            name: String::new(),
            nickname: String::new(),
            email: "a@example.com".into(),
        };
        let full = serde_json::to_value(&bad).unwrap();
        assert!(!validator(&schema_of::<Skippy>()).is_valid(&full));
        let projected = project(&bad, &plan).unwrap();
        assert!(
            !validator(plan.residual()).is_valid(&projected),
            "{projected}"
        );
    }

    #[test]
    fn option_vec_and_map_roots() {
        check_type(1000, |r| r.option(profile));
        check_type(1000, |r| r.vec(3, profile));
        check_type(1000, |r| r.map(2, inner));
        check_type(1000, |r| r.option(inner));
        let plan = Plan::new(&schema_of::<Option<Profile>>(), compiled);
        assert_eq!(project(&None::<Profile>, &plan).unwrap(), Value::Null);
    }

    #[test]
    fn unconstrained_types_are_trivial() {
        let schema = schema_of::<Plain>();
        let plan = Plan::new(&schema, compiled);
        assert!(plan.is_trivial(), "{schema}\n{:?}", plan.root());
        assert_eq!(plan.residual(), &json!(true));
        assert_eq!(project(&plain(&mut Rng(1)), &plan).unwrap(), Value::Null);
        let mut rng = Rng(2);
        let values: Vec<Plain> = (0..200).map(|_| plain(&mut rng)).collect();
        assert_eq!(check_against(&schema, &values).invalid, 0);
        for schema in [
            schema_of::<u8>(),
            schema_of::<i16>(),
            schema_of::<u64>(),
            schema_of::<String>(),
            schema_of::<Vec<(u8, String)>>(),
            schema_of::<BTreeMap<String, PlainInner>>(),
            schema_of::<Kind>(),
        ] {
            assert!(Plan::new(&schema, compiled).is_trivial(), "{schema}");
        }
        // Every type the codec calls structural is trivial here too.
        assert!(crate::value::codec::codec::<PlainInner>().is_structural());
        assert!(Plan::new(
            crate::value::codec::codec::<PlainInner>().schema(),
            compiled
        )
        .is_trivial());
    }

    #[test]
    fn integer_bounds_of_the_type_are_not_constraints() {
        #[derive(Serialize, JsonSchema)]
        struct Bounds {
            #[schemars(range(max = 255))]
            all: u8,
            #[schemars(range(min = -128, max = 127))]
            signed: i8,
        }
        #[derive(Serialize, JsonSchema)]
        struct Tighter {
            #[schemars(range(max = 254))]
            some: u8,
        }
        assert!(Plan::new(&schema_of::<Bounds>(), compiled).is_trivial());
        assert!(!Plan::new(&schema_of::<Tighter>(), compiled).is_trivial());
        assert!(implied_maximum("uint64", &json!(u64::MAX)));
        assert!(!implied_maximum("uint64", &json!(u64::MAX - 1)));
        assert!(!implied_maximum("int64", &json!(9.223372036854775e18)));
        assert!(implied_minimum("int64", &json!(i64::MIN)));
        assert!(!implied_minimum("int64", &json!(i64::MIN + 1)));
        assert!(!implied_minimum("double", &json!(0)));
    }

    #[test]
    fn values_of_another_shape_fall_back_to_the_full_value() {
        let schema = schema_of::<Profile>();
        let good = json!({
            "name": "Ann", "email": "ann@example.com", "age": 40,
            "city": "Oslo", "tags": ["a"], "active": true
        });
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("city");
        let mut extra = good.clone();
        extra["unknown"] = json!(1);
        let values = vec![
            good.clone(),
            missing,
            extra,
            json!({"email": "a@example.com", "age": 3}),
            json!({"Profile": good}),
            json!("x"),
            json!(null),
            json!([good]),
        ];
        let tally = check_against(&schema, &values);
        assert!(tally.valid >= 2 && tally.invalid >= 5, "{tally:?}");
        // An enum where a struct is expected: serialized in full, then projected.
        let mut rng = Rng(12);
        let figures: Vec<Figure> = (0..50).map(|_| figure(&mut rng)).collect();
        check_against(&schema, &figures);
        // Tuples and byte strings where a list is expected.
        let schema = schema_of::<Vec<Inner>>();
        let tuples: Vec<(Inner, Inner)> = (0..100)
            .map(|i| (inner(&mut Rng(i)), inner(&mut Rng(i + 1000))))
            .collect();
        let tally = check_against(&schema, &tuples);
        assert!(tally.valid > 0 && tally.invalid > 0, "{tally:?}");
        check_against(
            &schema_of::<Vec<Small>>(),
            &[serde_bytes_like(&[1, 2, 3]), serde_bytes_like(&[10])],
        );
        // Wrong shapes inside.
        let schema = schema_of::<Nested>();
        let good = serde_json::to_value(nested(&mut Rng(13))).unwrap();
        let mut values = vec![good.clone()];
        for (field, bad) in [
            ("items", json!("no")),
            ("items", json!({"a": 1})),
            ("maybe", json!(5)),
            ("maybe", json!([])),
            ("by_name", json!([])),
            ("deep", json!(null)),
        ] {
            let mut value = good.clone();
            value[field] = bad;
            values.push(value);
        }
        check_against(&schema, &values);
    }

    /// Serializes as a byte string.
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    fn serde_bytes_like(bytes: &[u8]) -> Bytes {
        Bytes(bytes.to_vec())
    }

    #[test]
    fn unsupported_references_keep_everything() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string", "format": "email"},
                "b": {"$ref": "https://example.com/schema"}
            }
        });
        let plan = Plan::new(&schema, compiled);
        assert!(matches!(plan.root(), Projection::Keep(_)));
        assert_eq!(plan.residual(), &schema);
        let draft7 = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"a": {"type": "string", "format": "email"}}
        });
        assert!(matches!(
            Plan::new(&draft7, compiled).root(),
            Projection::Keep(_)
        ));
        assert!(Plan::new(&json!(true), compiled).is_trivial());
        assert!(matches!(
            Plan::new(&json!(false), compiled).root(),
            Projection::Keep(_)
        ));
    }

    #[test]
    fn struct_fields_are_found_by_position_and_name() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "string", "minLength": 1},
                "b": {"type": "integer", "maximum": 3}
            },
            "required": ["a"]
        });
        let plan = Plan::new(&schema, compiled);
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        let is = |found: Option<&Field>, name: &str| match (found, root.field(name)) {
            (Some(found), Some(expected)) => std::ptr::eq(found, expected),
            (None, None) => true,
            _ => false,
        };
        // Learned, then remembered; another name at the same position, an undeclared one, a
        // name with the same length at another address.
        let a2 = String::leak("a".to_owned());
        for (position, name) in [
            (0, "a"),
            (0, "a"),
            (1, "b"),
            (1, "b"),
            (0, "b"),
            (0, "zz"),
            (0, "zz"),
            (0, &*a2),
            (0, "a"),
            (70, "a"),
        ] {
            assert!(
                is(root.struct_field(position, name), name),
                "{position} {name}"
            );
        }
    }

    #[test]
    fn escaped_definition_names() {
        let schema = json!({
            "$defs": {"a/b c": {"type": "string", "minLength": 2}},
            "type": "object",
            "properties": {"x": {"$ref": "#/$defs/a~1b%20c"}, "y": {"type": "string"}},
            "required": ["x", "y"]
        });
        let plan = Plan::new(&schema, compiled);
        assert!(
            matches!(plan.root(), Projection::Object(_)),
            "{:?}",
            plan.root()
        );
        let values = [json!({"x": "ab", "y": ""}), json!({"x": "a", "y": ""})];
        let tally = check_against(&schema, &values);
        assert_eq!((tally.valid, tally.invalid), (1, 1));
    }

    /// `cargo test --release -p kvstore project_timing -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, run in release mode"]
    fn project_timing() {
        use std::hint::black_box;
        use std::time::Instant;

        /// The best of 20 rounds of `n / 20` calls: the machine may be shared.
        fn time(label: &str, n: usize, mut f: impl FnMut(usize)) {
            let per_round = n / 20;
            let mut best = f64::INFINITY;
            for round in 0..21 {
                let start = Instant::now();
                for i in 0..per_round {
                    f(i);
                }
                let ns = start.elapsed().as_nanos() as f64 / per_round as f64;
                if round > 0 {
                    best = best.min(ns); // round 0 warms up
                }
            }
            println!("{label:<58} {best:>8.0} ns/value");
        }

        fn run<T: Serialize + JsonSchema + serde::de::DeserializeOwned>(name: &str, values: &[T]) {
            let n = 200_000;
            let schema = schema_of::<T>();
            let plan = Plan::new(&schema, compiled);
            let original = validator(&schema);
            let residual = validator(plan.residual());
            let bytes: Vec<Vec<u8>> = values
                .iter()
                .map(|v| serde_json::to_vec(v).unwrap())
                .collect();
            let m = values.len();
            println!("{name}:");
            time("  write, plain serde: to_vec", n, |i| {
                black_box(serde_json::to_vec(&values[i % m]).unwrap());
            });
            time(
                "  write, now: to_value + validate + to_vec(value)",
                n,
                |i| {
                    let value = serde_json::to_value(&values[i % m]).unwrap();
                    black_box(original.is_valid(&value));
                    black_box(serde_json::to_vec(&value).unwrap());
                },
            );
            time(
                "  write, projected: project + validate + to_vec(&t)",
                n,
                |i| {
                    let value = project(&values[i % m], &plan).unwrap();
                    black_box(residual.is_valid(&value));
                    black_box(serde_json::to_vec(&values[i % m]).unwrap());
                },
            );
            time("  read, plain serde: from_slice::<T>", n, |i| {
                black_box(serde_json::from_slice::<T>(&bytes[i % m]).unwrap());
            });
            time(
                "  read, now: from_slice::<Value> + validate + from_value",
                n,
                |i| {
                    let value: Value = serde_json::from_slice(&bytes[i % m]).unwrap();
                    black_box(original.is_valid(&value));
                    black_box(serde_json::from_value::<T>(value).unwrap());
                },
            );
            time(
                "  read, projected: from_slice::<T> + project + validate",
                n,
                |i| {
                    let t: T = serde_json::from_slice(&bytes[i % m]).unwrap();
                    let value = project(&t, &plan).unwrap();
                    black_box(residual.is_valid(&value));
                    black_box(t);
                },
            );
            time("  only: to_value + validate(original)", n, |i| {
                let value = serde_json::to_value(&values[i % m]).unwrap();
                black_box(original.is_valid(&value));
            });
            time("  only: project + validate(residual)", n, |i| {
                let value = project(&values[i % m], &plan).unwrap();
                black_box(residual.is_valid(&value));
            });
            let full: Vec<Value> = values
                .iter()
                .map(|v| serde_json::to_value(v).unwrap())
                .collect();
            let projected: Vec<Value> = values.iter().map(|v| project(v, &plan).unwrap()).collect();
            time("  only: to_value", n, |i| {
                black_box(serde_json::to_value(&values[i % m]).unwrap());
            });
            time("  only: project", n, |i| {
                black_box(project(&values[i % m], &plan).unwrap());
            });
            time("  only: validate(original) of the full value", n, |i| {
                black_box(original.is_valid(&full[i % m]));
            });
            time(
                "  only: validate(residual) of the projected value",
                n,
                |i| {
                    black_box(residual.is_valid(&projected[i % m]));
                },
            );
        }

        let mut rng = Rng(99);
        let profiles: Vec<Profile> = (0..64)
            .map(|_| Profile {
                name: "Alice Example".into(),
                email: rng
                    .any(&["alice@example.com", "bob@mail.example.org"])
                    .into(),
                age: 30,
                city: "Amsterdam".into(),
                tags: vec!["admin".into(), "beta".into(), "eu-west".into()],
                active: rng.coin(),
            })
            .collect();
        run("Profile", &profiles);
    }
}
