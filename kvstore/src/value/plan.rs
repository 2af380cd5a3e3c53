//! The plan of a type's validation: where in its JSON Schema the constraints are.
//!
//! A Rust value already has the *structure* its JSON Schema describes (types, properties, required
//! fields, items): only constraint keywords (`format`, `pattern`, `minLength`, ranges, `minItems`,
//! ...) can reject what serde produces. A [`Plan`], built once per type from its root schema,
//! records where those keywords are, and [`check`](super::check) walks it over a typed value:
//! fields whose schema holds no constraint are never serialized.
//!
//! # The plan
//!
//! Each schema node gets a [`Projection`]:
//!
//! - `Skip`: nothing below constrains the value, so it is not looked at. This is the same notion
//!   as the codec's *structural* schemas (types, properties, `required`, items, `const`/`enum`,
//!   tuples, integer formats), refined in one place: a `minimum`/`maximum` equal to (or wider than)
//!   the bound of the integer format next to it (`uint8` and `maximum: 255`) is implied by the Rust
//!   type and is not a constraint.
//! - `Keep`: the whole sub-value is checked against the original sub-schema. For nodes with a
//!   constraint keyword of their own, and for everything not understood or not worth splitting:
//!   `anyOf`/`oneOf`/`allOf` (except the `Option` pattern below), `not`, `if`,
//!   `patternProperties`, `propertyNames`, `prefixItems`, `contains`, `const`/`enum` on a
//!   constrained node, `$ref` with sibling keywords, a `$ref` cycle, ...
//! - `Object`: a node with only `type`, `properties`, `required` and `additionalProperties` (and
//!   annotations). Structs and maps are checked entry by entry, `required` by presence bits.
//! - `Array`: a node with only `type` and `items`: every element is checked.
//!
//! `$ref: "#/$defs/Name"` (or `#`, the root) with annotations only is resolved and planned in
//! place (inlined); a reference back into a definition being expanded is `Keep`. The `Option`
//! pattern `anyOf`/`oneOf` of exactly `[X, {"type": "null"}]` is planned as `X` with `null`
//! admitted. Any `$ref` other than `#`, `#/$defs/..` and `#/definitions/..`, any `$anchor`,
//! `$dynamicRef`, nested `$id` or a draft other than 2019-09/2020-12 makes the whole plan `Keep`.
//!
//! A `Keep` node's sub-schema is compiled alone, with the root's `$defs` around it (a `$ref: "#"`
//! in it points to a copy of the root kept among them).
//!
//! The walk may only ever say "valid" when the whole schema accepts the whole value; whenever
//! it is not sure, the codec validates the whole value against the whole schema. The tests
//! check that on generated values of many shapes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use schemars::transform::{transform_subschemas, Transform};
use schemars::Schema;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::check::{integer_bound, Native};

/// Keywords that never affect validation here (`$defs` are reached through `$ref`s).
pub(super) const ANNOTATIONS: &[&str] = &[
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

/// The root's keywords that hold definitions.
const DEF_CONTAINERS: [&str; 2] = ["$defs", "definitions"];

/// Where the `Keep` nodes' context keeps a copy of the original root, for `$ref: "#"`.
const ROOT_COPY: &str = "kvstore_projection_root";

/// How many `$ref`s are inlined into the plan before the rest is simply kept.
const MAX_EXPANSIONS: usize = 1024;

/// Where the constraints of one type's schema are.
#[cfg_attr(test, derive(Debug))]
pub(crate) struct Plan {
    root: Projection,
    /// What a `Keep` node's sub-schema needs around it to compile alone: the root's `$schema`,
    /// `$id`, `$defs` and `definitions` (an object). `None` when the root itself is kept.
    context: Option<Value>,
    /// How the `Keep` nodes' validators are compiled.
    compile: Compile,
}

/// How a [`Plan`] compiles a sub-schema (the codec's options: formats checked, offline).
pub(crate) type Compile = fn(&Value) -> Option<jsonschema::Validator>;

/// What validation needs of the value at one schema node.
#[cfg_attr(test, derive(Debug))]
pub(crate) enum Projection {
    /// No constraint below: the value is not looked at.
    Skip,
    /// The whole value, checked against the original sub-schema.
    Keep(Kept),
    /// A struct or map: only constrained entries.
    Object(Box<ObjectPlan>),
    /// A sequence: every element.
    Array(Box<ArrayPlan>),
}

/// A `Keep` node: its sub-schema (a copy of the original), and the validator of that sub-schema
/// alone, compiled the first time [`check`](super::check) needs it.
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

/// The plan of an object node.
#[cfg_attr(test, derive(Debug))]
pub(crate) struct ObjectPlan {
    /// Declared properties, in the schema's order. Unconstrained ones are `Skip`.
    fields: Vec<(String, Field)>,
    /// Where each of `fields` is, by name.
    index: hashbrown::HashMap<String, usize>,
    /// For the n-th field a struct serializes: the name it had last time and which of `fields`
    /// that is (see [`ObjectPlan::struct_field`]). A struct serializes its fields in the same
    /// order, with the same `&'static str` names, every time: after the first value a lookup is
    /// one comparison.
    order: Box<[AtomicU64]>,
    /// The plan of undeclared keys (`additionalProperties`); `None` when they are not
    /// constrained.
    pub(crate) additional: Option<Box<Projection>>,
    /// The bits ([`Field::required_bit`]) of every required property.
    pub(crate) required_bits: u64,
    /// More than 64 properties are required: [`check`](super::check) leaves the node to the
    /// full schema.
    pub(crate) required_untracked: bool,
    /// Whether the node's `type` lets an object through, and `null` (properties, `required`
    /// and `additionalProperties` only look at objects).
    pub(crate) accepts_object: bool,
    pub(crate) accepts_null: bool,
}

/// One declared property of an [`ObjectPlan`].
#[cfg_attr(test, derive(Debug))]
pub(crate) struct Field {
    pub(crate) projection: Projection,
    /// For a required property: its bit in [`ObjectPlan::required_bits`].
    pub(crate) required_bit: Option<u32>,
}

/// The plan of an array node.
#[cfg_attr(test, derive(Debug))]
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
}

/// Whether a node's `type` keyword (absent: any type) admits `kind`.
fn admits(map: &Map<String, Value>, kind: &str) -> bool {
    match map.get("type") {
        None => true,
        Some(Value::Array(types)) => types.iter().any(|t| t == kind),
        Some(t) => t == kind,
    }
}

impl Plan {
    /// The plan of a root schema (draft 2020-12, as schemars emits). Never fails: whatever it
    /// does not understand is kept whole.
    pub(crate) fn new(schema: &Value, compile: Compile) -> Plan {
        let (root, context) = match (schema, Builder::new(schema)) {
            (Value::Bool(true), _) => (Projection::Skip, Some(Map::new().into())),
            (_, Some(builder)) => builder.plan(schema),
            (_, None) => (Projection::Keep(Kept::new(schema.clone())), None),
        };
        Plan {
            root,
            context,
            compile,
        }
    }

    /// Whether no value of the type can fail validation: nothing needs checking.
    pub(crate) fn is_trivial(&self) -> bool {
        matches!(self.root, Projection::Skip)
    }

    /// The plan of the root.
    pub(crate) fn root(&self) -> &Projection {
        &self.root
    }

    /// How to check a `Keep` node: the validator of its sub-schema alone (with the definitions
    /// it may refer to) and, for a simple scalar schema, its [`Native`] check — built on first
    /// use; `None` when the sub-schema does not compile. When the root is kept, its sub-schema
    /// is the whole schema.
    pub(crate) fn kept_check<'p>(&self, kept: &'p Kept) -> Option<&'p KeptCheck> {
        kept.compiled
            .get_or_init(|| {
                let validator = match &self.context {
                    // A `$ref: "#"` that was not rewritten would point to the document made
                    // here, not the root: such a part is left to the whole schema.
                    Some(_) if any_keyword(&kept.schema, &refers_to_root) => return None,
                    Some(context) => (self.compile)(&kept_document(&kept.schema, context)),
                    None => (self.compile)(&kept.schema),
                }?;
                let native = Native::of(&kept.schema).filter(|n| n.agrees_with(&validator));
                Some(KeptCheck { validator, native })
            })
            .as_ref()
    }
}

/// A kept sub-schema as a schema document of its own: with the draft of the root, and, when it
/// refers to definitions, under an `allOf` next to them.
fn kept_document(schema: &Value, context: &Value) -> Value {
    match schema {
        Value::Object(map) if !any_keyword(schema, &|k, _| k == "$ref") => {
            let mut doc = map.clone();
            if let Some(draft) = context.get("$schema") {
                doc.entry("$schema").or_insert_with(|| draft.clone());
            }
            Value::Object(doc)
        }
        Value::Object(_) => {
            let mut doc = context.clone();
            doc["allOf"] = Value::Array(vec![schema.clone()]);
            doc
        }
        _ => schema.clone(),
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
    /// `#/$defs/{name}` or `#/definitions/{name}`: the container and the name.
    Def(&'static str, String),
}

struct Builder<'s> {
    root: &'s Map<String, Value>,
    defs: HashMap<DefKey, &'s Value>,
    /// Whether the closure of each definition (through `$ref`s) holds a constraint.
    constrained: HashMap<DefKey, bool>,
    /// The name of the root's copy among the `$defs` of a kept part's context, when the schema
    /// has `$ref: "#"`s.
    root_copy: Option<String>,
    /// Definitions being expanded.
    stack: Vec<DefKey>,
    /// How many `$ref`s were followed.
    expansions: usize,
}

impl<'s> Builder<'s> {
    /// The builder of the plan (or of the [`nesting`]) of a root schema; `None` when the schema
    /// is outside what the plan supports (the whole value is kept).
    fn new(schema: &'s Value) -> Option<Builder<'s>> {
        let root = schema.as_object()?;
        let draft = root
            .get("$schema")
            .map(|d| d.as_str().map(|d| d.trim_end_matches('#')));
        if !matches!(
            draft,
            None | Some(Some(
                "https://json-schema.org/draft/2020-12/schema"
                    | "https://json-schema.org/draft/2019-09/schema"
            ))
        ) {
            return None;
        }
        // Every `$ref` must be one `parse_ref` understands, and nothing may change how they
        // resolve (`$id` below the root, anchors, dynamic references). Under every key, where
        // sub-schemas are and where they are not: a property named `$id` makes the plan keep
        // everything, which is only slower.
        let unsupported = |keyword: &str, value: &Value| match keyword {
            "$ref" => value.as_str().and_then(|r| parse_ref(r, root)).is_none(),
            "$id" | "$anchor" | "$dynamicRef" | "$dynamicAnchor" | "$recursiveRef"
            | "$recursiveAnchor" => true,
            _ => false,
        };
        if root
            .iter()
            .any(|(k, v)| (k != "$id" && unsupported(k, v)) || any_keyword(v, &unsupported))
        {
            return None;
        }
        let root_refs = any_keyword(schema, &refers_to_root);

        let mut defs = HashMap::new();
        defs.insert(DefKey::Root, schema);
        for container in DEF_CONTAINERS {
            match root.get(container) {
                None => {}
                Some(Value::Object(map)) => {
                    for (name, def) in map {
                        defs.insert(DefKey::Def(container, name.clone()), def);
                    }
                }
                Some(_) => return None,
            }
        }

        // Which definitions reach a constraint: a fixpoint over the `$ref` graph.
        let mut refs: HashMap<&DefKey, Vec<DefKey>> = HashMap::new();
        let mut constrained: HashMap<DefKey, bool> = defs
            .iter()
            .map(|(key, def)| (key.clone(), scan(def, root, refs.entry(key).or_default())))
            .collect();
        while let Some(key) = refs.iter().find_map(|(key, to)| {
            (!constrained[*key] && to.iter().any(|r| constrained[r])).then(|| (*key).clone())
        }) {
            constrained.insert(key, true);
        }

        let root_copy = root_refs.then(|| {
            let mut name = ROOT_COPY.to_owned();
            while defs.contains_key(&DefKey::Def("$defs", name.clone())) {
                name.push('_');
            }
            name
        });
        Some(Builder {
            root,
            defs,
            constrained,
            root_copy,
            stack: vec![DefKey::Root],
            expansions: 0,
        })
    }

    /// The plan of the root `schema`, and the context of its `Keep` nodes.
    fn plan(mut self, schema: &'s Value) -> (Projection, Option<Value>) {
        match self.build(schema) {
            root @ Projection::Keep(_) => (root, None),
            root => (root, Some(context(self.root, self.root_copy.as_deref()))),
        }
    }

    /// Whether `node` or anything it references holds a constraint.
    fn is_constrained(&self, node: &Value) -> bool {
        let mut refs = Vec::new();
        scan(node, self.root, &mut refs)
            || refs
                .iter()
                .any(|r| self.constrained.get(r).copied().unwrap_or(true))
    }

    /// The plan of `node`.
    fn build(&mut self, node: &'s Value) -> Projection {
        if !self.is_constrained(node) {
            return Projection::Skip;
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

    /// `Keep`, with a copy of the original (its `$ref: "#"`s pointing to the root's copy).
    fn keep(&self, node: &Value) -> Projection {
        let mut copy = node.clone();
        if let Some(name) = &self.root_copy {
            rewrite_root_refs(&mut copy, &format!("#/$defs/{name}"));
        }
        Projection::Keep(Kept::new(copy))
    }

    /// The definition `reference` points to, pushed on the stack of those being expanded;
    /// `None` when it is not one, is being expanded already (a cycle), or too many `$ref`s were
    /// followed.
    fn enter(&mut self, reference: &Value) -> Option<&'s Value> {
        let key = parse_ref(reference.as_str()?, self.root)?;
        let target = *self.defs.get(&key)?;
        if self.stack.contains(&key) || self.expansions >= MAX_EXPANSIONS {
            return None;
        }
        self.expansions += 1;
        self.stack.push(key);
        Some(target)
    }

    fn build_ref(&mut self, node: &'s Value, reference: &Value) -> Projection {
        let Some(target) = self.enter(reference) else {
            return self.keep(node);
        };
        let built = self.build(target);
        self.stack.pop();
        match built {
            // A reference to a kept definition stays a reference.
            Projection::Keep(_) => self.keep(node),
            _ => built,
        }
    }

    fn build_object(&mut self, node: &'s Value, map: &'s Map<String, Value>) -> Projection {
        let properties = match map.get("properties") {
            None => None,
            Some(Value::Object(properties)) => Some(properties),
            Some(_) => return self.keep(node),
        };
        // Required but undeclared, or not a name: not worth the trouble.
        let declared = |name: &&str| properties.is_some_and(|p| p.contains_key(*name));
        let required: Vec<&str> = match map.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => {
                match names.iter().map(|n| n.as_str().filter(declared)).collect() {
                    Some(required) => required,
                    None => return self.keep(node),
                }
            }
            Some(_) => return self.keep(node),
        };

        let additional = match map.get("additionalProperties") {
            None => None,
            // Serde never writes undeclared keys where this is false; if it does, they are
            // checked, to be rejected.
            Some(Value::Bool(false)) => Some(Box::new(Projection::Keep(Kept::new(false.into())))),
            Some(schema) => match self.build(schema) {
                Projection::Skip => None,
                projection => Some(Box::new(projection)),
            },
        };

        let mut fields = Vec::new();
        let mut required_count = 0u32;
        for (name, schema) in properties.into_iter().flatten() {
            let is_required = required.contains(&name.as_str());
            let required_bit = (is_required && required_count < 64).then(|| {
                required_count += 1;
                required_count - 1
            });
            let projection = match schema {
                // Present only if serde disagrees with the schema: checked, to be rejected.
                Value::Bool(false) => Projection::Keep(Kept::new(false.into())),
                // Unconstrained fields are listed too, so that a struct's fields are found in
                // order and required ones are counted.
                schema => self.build(schema),
            };
            fields.push((
                name.clone(),
                Field {
                    projection,
                    required_bit,
                },
            ));
        }

        let index = fields
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let order = (0..fields.len().min(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        Projection::Object(Box::new(ObjectPlan {
            fields,
            index,
            order,
            additional,
            required_bits: ((1u128 << required_count) - 1) as u64,
            required_untracked: required.len() > 64,
            accepts_object: admits(map, "object"),
            accepts_null: admits(map, "null"),
        }))
    }

    fn build_array(&mut self, node: &'s Value, map: &'s Map<String, Value>) -> Projection {
        match self.build(&map["items"]) {
            // Checking every element in full is checking the array, only slower.
            Projection::Skip | Projection::Keep(_) => self.keep(node),
            items => Projection::Array(Box::new(ArrayPlan {
                items,
                accepts_array: admits(map, "array"),
                accepts_null: admits(map, "null"),
            })),
        }
    }

    /// `anyOf`/`oneOf` of `[X, {"type": "null"}]` (an `Option`): planned as `X`, admitting
    /// `null` (under `oneOf`, only when `X` does not admit it already: both branches would
    /// match). Any other value fails the null branch, so `X` alone decides.
    fn build_nullable(
        &mut self,
        node: &'s Value,
        keyword: &str,
        branches: &'s Value,
    ) -> Projection {
        let is_null = |schema: &Value| *schema == serde_json::json!({"type": "null"});
        let Value::Array(branches) = branches else {
            return self.keep(node);
        };
        let other = match branches.as_slice() {
            [a, b] if !is_null(a) && is_null(b) => a,
            [a, b] if is_null(a) && !is_null(b) => b,
            _ => return self.keep(node),
        };
        let mut projection = self.build(other);
        let accepts_null = match &mut projection {
            Projection::Object(plan) => &mut plan.accepts_null,
            Projection::Array(plan) => &mut plan.accepts_null,
            Projection::Skip | Projection::Keep(_) => return self.keep(node),
        };
        if keyword == "oneOf" && *accepts_null {
            return self.keep(node);
        }
        *accepts_null = true;
        projection
    }
}

/// What a `Keep` node's sub-schema needs around it: the root's `$schema`, `$id`, `$defs` and
/// `definitions`, and — when some `$ref` is `#` — a copy of the root among the `$defs`, named
/// `root_copy`, that the `$ref: "#"`s are rewritten to point to.
fn context(root: &Map<String, Value>, root_copy: Option<&str>) -> Value {
    const CONTEXT: [&str; 4] = ["$schema", "$id", "$defs", "definitions"];
    let mut context: Map<String, Value> = CONTEXT
        .into_iter()
        .filter_map(|k| root.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect();
    let Some(name) = root_copy else {
        return context.into();
    };
    let mut copy = root.clone();
    copy.retain(|keyword, _| !CONTEXT.contains(&keyword.as_str()));
    let defs = context.entry("$defs").or_insert_with(|| Map::new().into());
    if let Value::Object(defs) = defs {
        defs.insert(name.to_owned(), Value::Object(copy));
    }
    // In the definitions (the copy among them), `#` is the copy.
    let mut context = Value::Object(context);
    rewrite_root_refs(&mut context, &format!("#/$defs/{name}"));
    context
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
            "$ref" => value
                .as_str()
                .and_then(|r| parse_ref(r, root))
                .map(|key| refs.push(key))
                .is_some(),
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
        "format" => value
            .as_str()
            .is_some_and(|f| is_integer_format(f) || matches!(f, "float" | "double")),
        "minimum" | "maximum" => format.is_some_and(|f| implied_bound(f, keyword, value)),
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
            // The integer type's bound, as JSON (a float beyond 64 bits).
            let bound = match (keyword.as_str(), bounds) {
                ("minimum", Some((min, _))) => {
                    i64::try_from(min).map_or(Value::from(min as f64), Value::from)
                }
                ("maximum", Some((_, max))) => {
                    u64::try_from(max).map_or(Value::from(max as f64), Value::from)
                }
                _ => continue,
            };
            map.insert(keyword, bound);
        }
        if let Some(branches) = map.remove("oneOf") {
            map.insert("anyOf".to_owned(), branches);
        }
    });
    shape
}

/// How deep (open arrays and objects) what serde writes for the type of the root `schema` can
/// nest; `None` when the schema sets no bound: a `$ref` cycle (a recursive type), or a part that
/// admits any value (`true` or `{}`, a `serde_json::Value`), any object or any array (and for
/// a schema outside what a plan supports, see [`Builder::new`]). The schema is read as a
/// description of what serde writes (the codec's one assumption): undeclared properties count
/// only when `additionalProperties` says what they are, and a tuple's items are its
/// `prefixItems`.
pub(crate) fn nesting(schema: &Value) -> Option<usize> {
    Builder::new(schema)?.depth(schema)
}

/// The walk of [`nesting`].
impl Builder<'_> {
    /// The bound of `node`: the tightest of what its keywords say (each must hold).
    fn depth(&mut self, node: &Value) -> Option<usize> {
        let map = match node {
            Value::Bool(any) => return (!any).then_some(0),
            Value::Object(map) => map,
            _ => return None,
        };
        let mut bounds = vec![self.own(map)];
        // What a `$ref` points to (unbounded in a cycle: nothing to add).
        if let Some(target) = map.get("$ref").and_then(|r| self.enter(r)) {
            bounds.push(self.depth(target));
            self.stack.pop();
        }
        for (keyword, value) in map {
            let Some(branches) = value.as_array() else {
                continue;
            };
            match keyword.as_str() {
                "allOf" => bounds.extend(branches.iter().map(|b| self.depth(b))),
                "anyOf" | "oneOf" => bounds.push(self.deepest(branches)),
                _ => {}
            }
        }
        bounds.into_iter().flatten().min()
    }

    /// The deepest of `schemas` (`None` if any is unbounded).
    fn deepest<'v>(&mut self, schemas: impl IntoIterator<Item = &'v Value>) -> Option<usize> {
        schemas
            .into_iter()
            .try_fold(0, |deepest, s| Some(deepest.max(self.depth(s)?)))
    }

    /// The bound that `type`, `enum`/`const` and the object and array keywords set.
    fn own(&mut self, map: &Map<String, Value>) -> Option<usize> {
        if let Some(values) = map.get("enum").and_then(Value::as_array) {
            return Some(values.iter().map(json_depth).max().unwrap_or(0));
        }
        if let Some(value) = map.get("const") {
            return Some(json_depth(value));
        }
        let mut deepest = 0;
        if admits(map, "object") {
            let additional = map.get("additionalProperties");
            if !map.contains_key("properties") && additional.is_none() {
                return None;
            }
            let declared = ["properties", "patternProperties"]
                .into_iter()
                .filter_map(|k| map.get(k).and_then(Value::as_object))
                .flat_map(|p| p.values());
            deepest = self.deepest(declared.chain(additional))? + 1;
        }
        if admits(map, "array") {
            let (prefix, items) = (map.get("prefixItems"), map.get("items"));
            if prefix.is_none() && items.is_none() {
                return None;
            }
            let prefix = prefix.and_then(Value::as_array).into_iter().flatten();
            deepest = deepest.max(self.deepest(prefix.chain(items))? + 1);
        }
        Some(deepest)
    }
}

/// How deep a JSON value nests.
fn json_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
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
/// left of it), as schemars' transforms walk them.
fn for_each_schema_mut(node: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    struct Each<F>(F);

    impl<F: FnMut(&mut Map<String, Value>)> Transform for Each<F> {
        fn transform(&mut self, schema: &mut Schema) {
            if let Some(map) = schema.as_object_mut() {
                (self.0)(map);
            }
            transform_subschemas(self, schema);
        }
    }

    if let Ok(schema) = <&mut Schema>::try_from(node) {
        Each(f).transform(schema);
    }
}

/// Whether `f` holds for some `keyword: value` anywhere in `node` (under any key, in
/// sub-schemas or not).
fn any_keyword(node: &Value, f: &impl Fn(&str, &Value) -> bool) -> bool {
    match node {
        Value::Object(map) => map.iter().any(|(k, v)| f(k, v) || any_keyword(v, f)),
        Value::Array(items) => items.iter().any(|item| any_keyword(item, f)),
        _ => false,
    }
}

/// Whether `keyword: value` is a `$ref: "#"`.
fn refers_to_root(keyword: &str, value: &Value) -> bool {
    keyword == "$ref" && value == "#"
}

/// `#`, `#/$defs/{name}` or `#/definitions/{name}` naming an existing definition.
fn parse_ref(reference: &str, root: &Map<String, Value>) -> Option<DefKey> {
    if reference == "#" {
        return Some(DefKey::Root);
    }
    let (container, token) = DEF_CONTAINERS.into_iter().find_map(|container| {
        let token = reference.strip_prefix("#/")?.strip_prefix(container)?;
        Some((container, token.strip_prefix('/')?))
    })?;
    if token.contains('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(token)
        .decode_utf8()
        .ok()?;
    // A JSON pointer token: `~1` is `/`, then `~0` is `~`.
    let name = decoded.replace("~1", "/").replace("~0", "~");
    root.get(container)?.as_object()?.get(&name)?;
    Some(DefKey::Def(container, name))
}

/// Whether `format` is one of the integer formats schemars writes (which jsonschema does not
/// check: the Rust type does).
pub(super) fn is_integer_format(format: &str) -> bool {
    integer_bounds(format).is_some()
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

/// Whether `keyword: bound` (`minimum` or `maximum`) is implied by the integer `format`: the
/// bound is at or beyond the type's own.
fn implied_bound(format: &str, keyword: &str, bound: &Value) -> bool {
    let Some((min, max)) = integer_bounds(format) else {
        return false;
    };
    if keyword == "minimum" {
        integer_bound(bound, false, 1).is_some_and(|b| b <= min)
    } else {
        integer_bound(bound, false, -1).is_some_and(|b| u128::try_from(b).is_ok_and(|b| b >= max))
    }
}

/// The key `serde_json` makes of a map's `key` (through a one-entry map); `None` when it makes
/// none.
pub(crate) fn serde_json_key<K: ?Sized + Serialize>(key: &K) -> Option<String> {
    struct OneEntry<'k, K: ?Sized>(&'k K);

    impl<K: ?Sized + Serialize> Serialize for OneEntry<'_, K> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, &())?;
            map.end()
        }
    }

    match serde_json::to_value(OneEntry(key)).ok()? {
        Value::Object(map) => map.into_iter().next().map(|(key, _)| key),
        _ => None,
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

    impl std::fmt::Debug for Kept {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Keep({})", self.schema)
        }
    }

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

    /// Asserts, for every value, that the walk of the plan of `schema` accepts it only when the
    /// whole schema accepts the whole value (the differential test of the one route).
    fn check_against<V: Serialize>(schema: &Value, values: &[V]) -> Tally {
        let plan = Plan::new(schema, compiled);
        let original = validator(schema);
        let mut tally = Tally::default();
        for value in values {
            let full = serde_json::to_value(value).unwrap();
            let expected = original.is_valid(&full);
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
            "the walk left most valid values to the whole schema: {}: {tally:?}",
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

    /// The names of the constrained fields of an object node, sorted.
    fn constrained(projection: &Projection) -> Vec<&str> {
        let Projection::Object(object) = projection else {
            panic!("{projection:?}");
        };
        let mut names: Vec<&str> = object
            .fields
            .iter()
            .filter(|(_, field)| !matches!(field.projection, Projection::Skip))
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    // ---- Tests -----------------------------------------------------------------------------

    #[test]
    fn profile_projects_only_constrained_fields() {
        let plan = check_type(2000, profile);
        assert!(!plan.is_trivial());
        assert_eq!(constrained(plan.root()), ["age", "email"]);
        // Required, unconstrained fields are only counted.
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        let name = root.field("name").unwrap();
        assert!(matches!(name.projection, Projection::Skip) && name.required_bit.is_some());
    }

    #[test]
    fn nested_structs_lists_options_and_maps() {
        let plan = check_type(2000, nested);
        assert_eq!(
            constrained(plan.root()),
            ["by_name", "deep", "items", "maybe"]
        );
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        let deep = &root.field("deep").unwrap().projection;
        assert_eq!(constrained(deep), ["level"]);
        let Projection::Array(items) = &root.field("items").unwrap().projection else {
            panic!("{:?}", plan.root());
        };
        assert_eq!(constrained(&items.items), ["code", "n"]);
        let Projection::Object(by_name) = &root.field("by_name").unwrap().projection else {
            panic!("{:?}", plan.root());
        };
        assert_eq!(
            constrained(by_name.additional.as_ref().unwrap()),
            ["code", "n"]
        );
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
        assert_eq!(
            constrained(plan.root()),
            ["ext", "int", "list", "opt", "unt"]
        );
        check_type(500, event);
        check_type(500, figure);
    }

    #[test]
    fn renamed_fields() {
        let plan = check_type(2000, camel);
        assert_eq!(
            constrained(plan.root()),
            ["contactEmail", "nestedInner", "shortCode"]
        );
    }

    #[test]
    fn flattened_fields() {
        let plan = check_type(2000, flat);
        assert_eq!(constrained(plan.root()), ["contact", "id"]);
        let plan = check_type(2000, flat_map);
        assert!(
            matches!(plan.root(), Projection::Object(_)),
            "{:?}",
            plan.root()
        );
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        assert_eq!(constrained(plan.root()), ["k"]);
        assert!(root.additional.is_some());
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
        // The kept part refers to the root: it compiles with a copy of the root next to it.
        let Projection::Keep(children) = &root.field("children").unwrap().projection else {
            unreachable!()
        };
        assert!(plan.kept_check(children).is_some());
        assert!(plan.context.as_ref().unwrap()["$defs"][ROOT_COPY].is_object());
    }

    #[test]
    fn tuples_and_newtypes() {
        check_type(2000, tuples);
        let plan = check_type(2000, newtypes);
        assert_eq!(constrained(plan.root()), ["emails", "small", "wrapped"]);
        let Projection::Object(root) = plan.root() else {
            panic!("{:?}", plan.root());
        };
        assert_eq!(
            constrained(&root.field("wrapped").unwrap().projection),
            ["code", "n"]
        );
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
        assert_eq!(serde_json_key(&"text"), Some("text".to_owned()));
        assert_eq!(serde_json_key(&-17i64), Some("-17".to_owned()));
        assert_eq!(serde_json_key(&u128::MAX), Some(u128::MAX.to_string()));
        assert_eq!(serde_json_key(&'c'), Some("c".to_owned()));
        assert_eq!(serde_json_key(&true), Some("true".to_owned()));
        assert_eq!(serde_json_key(&Kind::B), Some("B".to_owned()));
        assert_eq!(
            serde_json_key(&Email("a@b.c".into())),
            Some("a@b.c".to_owned())
        );
        assert_eq!(serde_json_key(&vec![1]), None);
        assert_eq!(serde_json_key(&()), None);
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
        assert!(!crate::value::check::is_valid(&bad, &plan));
    }

    #[test]
    fn option_vec_and_map_roots() {
        check_type(1000, |r| r.option(profile));
        check_type(1000, |r| r.vec(3, profile));
        check_type(1000, |r| r.map(2, inner));
        check_type(1000, |r| r.option(inner));
        let plan = Plan::new(&schema_of::<Option<Profile>>(), compiled);
        assert!(crate::value::check::is_valid(&None::<Profile>, &plan));
    }

    #[test]
    fn unconstrained_types_are_trivial() {
        let schema = schema_of::<Plain>();
        let plan = Plan::new(&schema, compiled);
        assert!(plan.is_trivial(), "{schema}\n{:?}", plan.root());
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
        assert!(implied_bound("uint64", "maximum", &json!(u64::MAX)));
        assert!(implied_bound(
            "uint64",
            "maximum",
            &json!(1.8446744073709552e19)
        ));
        assert!(!implied_bound("uint64", "maximum", &json!(u64::MAX - 1)));
        assert!(!implied_bound(
            "int64",
            "maximum",
            &json!(9.223372036854775e18)
        ));
        assert!(implied_bound("int64", "minimum", &json!(i64::MIN)));
        assert!(implied_bound("int8", "minimum", &json!(-128.5)));
        assert!(!implied_bound("int64", "minimum", &json!(i64::MIN + 1)));
        assert!(!implied_bound("int8", "minimum", &json!(-127.5)));
        assert!(!implied_bound("double", "minimum", &json!(0)));
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

    #[test]
    fn nesting_is_bounded_unless_a_type_can_nest() {
        assert_eq!(nesting(&schema_of::<u32>()), Some(0));
        assert_eq!(nesting(&schema_of::<Option<String>>()), Some(0));
        assert_eq!(nesting(&schema_of::<Profile>()), Some(2));
        assert_eq!(nesting(&schema_of::<BTreeMap<String, Vec<u8>>>()), Some(2));
        assert!(nesting(&schema_of::<Nested>()).is_some());
        assert_eq!(nesting(&schema_of::<Tree>()), None);
        assert_eq!(nesting(&schema_of::<Value>()), None);
        assert_eq!(nesting(&schema_of::<Vec<Value>>()), None);
    }
}
