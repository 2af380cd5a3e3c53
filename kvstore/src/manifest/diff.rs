//! What changed between two manifests, and whether data stored under the old one still reads.
//!
//! The comparison is written here rather than taken from a JSON Schema diff crate: the one
//! maintained candidate (`json-schema-diff`) is a 0.1 work in progress that ignores `format`,
//! `pattern`, `enum` and length constraints — the changes that break stored data most often —
//! and knows nothing of a manifest's kinds, TTLs and `previous` versions.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use serde_json::{Map, Value};

use super::Manifest;

/// Whether data stored under the old manifest still reads under the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Compatibility {
    /// Old data still reads.
    Compatible,
    /// Old data no longer reads as the current version, but the pattern lists the old schema in
    /// `previous`: it reads through `migrate_from` (and `migrate()` rewrites it).
    Migrates,
    /// Old data no longer reads.
    Breaking,
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compatibility::Compatible => "compatible",
            Compatibility::Migrates => "migrates",
            Compatibility::Breaking => "breaking",
        })
    }
}

/// One change between two manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The key pattern.
    pub pattern: String,
    /// Where in the value (a JSON pointer; `""`: the pattern itself).
    pub path: String,
    /// What changed, and what it means for stored data.
    pub message: String,
    /// Whether old data still reads.
    pub compatibility: Compatibility,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<10} {}  {}",
            self.compatibility.to_string(),
            self.pattern,
            self.message
        )
    }
}

/// Every change from `old` to `new`, pattern by pattern, classified.
pub fn diff(old: &Manifest, new: &Manifest) -> Vec<Change> {
    let mut changes = Vec::new();
    let names: BTreeSet<&String> = old.patterns.keys().chain(new.patterns.keys()).collect();
    for name in names {
        let mut push = |path: &str, message: String, compatibility| {
            changes.push(Change {
                pattern: name.clone(),
                path: path.to_owned(),
                message,
                compatibility,
            })
        };
        let (o, n) = match (old.get(name), new.get(name)) {
            (None, Some(_)) => {
                push("", "new pattern".into(), Compatibility::Compatible);
                continue;
            }
            (Some(_), None) => {
                push(
                    "",
                    "pattern removed: its stored keys will be unknown keys".into(),
                    Compatibility::Breaking,
                );
                continue;
            }
            (Some(o), Some(n)) => (o, n),
            (None, None) => continue,
        };
        if o.kind != n.kind {
            push(
                "",
                format!(
                    "kind changed from {} to {}: stored keys will be of the wrong type",
                    o.kind, n.kind
                ),
                Compatibility::Breaking,
            );
            continue;
        }
        match (o.ttl_secs, n.ttl_secs) {
            (None, Some(t)) => push(
                "",
                format!("default TTL added ({t} s): keys written from now on expire"),
                Compatibility::Compatible,
            ),
            (Some(t), None) => push(
                "",
                format!("default TTL removed (was {t} s): keys written from now on never expire"),
                Compatibility::Compatible,
            ),
            (Some(a), Some(b)) if a != b => push(
                "",
                format!("default TTL changed from {a} s to {b} s (stored keys keep theirs)"),
                Compatibility::Compatible,
            ),
            _ => {}
        }
        if o.int != n.int {
            push(
                "",
                format!(
                    "integer type changed from {} to {}: stored slots will read differently",
                    o.int.as_deref().unwrap_or("none"),
                    n.int.as_deref().unwrap_or("none")
                ),
                Compatibility::Breaking,
            );
        }
        // Values still in an old `previous` version read only while the new pattern keeps it.
        let kept =
            |schema: &Value| n.previous.contains(schema) || n.schema.as_ref() == Some(schema);
        let removed = o.previous.iter().filter(|p| !kept(p)).count();
        if removed > 0 {
            push(
                "",
                format!(
                    "{removed} `previous` version(s) removed: stored values still in them will not read (run `migrate()` with the old version before deploying this one)"
                ),
                Compatibility::Breaking,
            );
        }
        let (os, ns) = match (&o.schema, &n.schema) {
            (Some(os), Some(ns)) => (os, ns),
            (None, Some(_)) => {
                push(
                    "",
                    "a schema was added: stored values that do not match it will not read".into(),
                    Compatibility::Breaking,
                );
                continue;
            }
            (Some(_), None) => {
                push(
                    "",
                    "the schema was removed: every stored value reads".into(),
                    Compatibility::Compatible,
                );
                continue;
            }
            (None, None) => continue,
        };
        let mut found = Vec::new();
        Walk {
            old_root: os,
            new_root: ns,
            seen: HashSet::new(),
            out: &mut found,
        }
        .compare("", os, ns);
        // A breaking change of shape is covered when the old schema is one of the new
        // `previous` ones: old values no longer read as the current version, so they read
        // through the old one. A tightened constraint is not: a value of the current shape that
        // breaks a constraint is invalid, even when an older version would accept it.
        let migrates = n.previous.iter().any(|p| p == os);
        for (path, mut message, mut compatibility, constraint) in found {
            if compatibility == Compatibility::Breaking && migrates {
                if constraint {
                    message.push_str(
                        " (listing the old version in `previous` does not help: a value of the current shape that breaks a constraint is invalid, not outdated)",
                    );
                } else {
                    compatibility = Compatibility::Migrates;
                }
            }
            push(&path, message, compatibility);
        }
    }
    changes
}

/// A recursive comparison of two schemas (each with its own `$defs`).
struct Walk<'a, 'o> {
    old_root: &'a Value,
    new_root: &'a Value,
    seen: HashSet<(String, String)>,
    /// Each change: where, what, how compatible, and whether it is a constraint (a bound, a
    /// length, a `pattern`, a `format`) rather than the shape of the value.
    out: &'o mut Vec<(String, String, Compatibility, bool)>,
}

/// The schema `$ref` points to inside `root` (`#/$defs/X`, `#/definitions/X`).
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..16 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return current;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return current;
        };
        match root.pointer(pointer) {
            Some(target) => current = target,
            None => return current,
        }
    }
    current
}

/// The JSON types a schema admits (`None`: any).
fn types(schema: &Value) -> Option<BTreeSet<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(BTreeSet::from([t.clone()])),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn shown(path: &str) -> String {
    if path.is_empty() {
        "the value".to_owned()
    } else {
        format!("`{path}`")
    }
}

fn number(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

impl Walk<'_, '_> {
    fn report(&mut self, path: &str, message: String, compatibility: Compatibility) {
        self.out
            .push((path.to_owned(), message, compatibility, false));
    }

    /// A change of a constraint (not of the shape): see [`Walk::out`].
    fn constraint(&mut self, path: &str, message: String, compatibility: Compatibility) {
        self.out
            .push((path.to_owned(), message, compatibility, true));
    }

    fn compare(&mut self, path: &str, old: &Value, new: &Value) {
        let key = (
            old.get("$ref").map(Value::to_string).unwrap_or_default(),
            new.get("$ref").map(Value::to_string).unwrap_or_default(),
        );
        if !key.0.is_empty() && !self.seen.insert((format!("{path}{}", key.0), key.1)) {
            return; // a recursive type, already compared here
        }
        let old = resolve(self.old_root, old);
        let new = resolve(self.new_root, new);
        if old == new {
            return;
        }
        let at = shown(path);
        match (types(old), types(new)) {
            (Some(a), Some(b)) if a != b => {
                // An integer is also a number.
                let lost: Vec<&String> = a
                    .difference(&b)
                    .filter(|t| !(*t == "integer" && b.contains("number")))
                    .collect();
                if lost.is_empty() {
                    self.report(
                        path,
                        format!(
                            "{at} may now also be {}: old data still reads",
                            join(b.difference(&a))
                        ),
                        Compatibility::Compatible,
                    );
                } else {
                    self.report(
                        path,
                        format!(
                            "{at} is now {} (was {}): stored values that are {} will not read",
                            join(b.iter()),
                            join(a.iter()),
                            join(lost.into_iter())
                        ),
                        Compatibility::Breaking,
                    );
                    return;
                }
            }
            (None, Some(b)) => self.report(
                path,
                format!(
                    "{at} must now be {}: other stored values will not read",
                    join(b.iter())
                ),
                Compatibility::Breaking,
            ),
            _ => {}
        }
        self.bounds(path, old, new);
        self.words(path, old, new);
        self.objects(path, old, new);
        for key in ["items", "additionalProperties"] {
            if let (Some(a), Some(b)) = (old.get(key), new.get(key)) {
                if a.is_object() && b.is_object() {
                    self.compare(&format!("{path}/*"), a, b);
                }
            }
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let (Some(Value::Array(a)), Some(Value::Array(b))) =
                (old.get(combinator), new.get(combinator))
            {
                if a.len() == b.len() {
                    for (x, y) in a.iter().zip(b) {
                        self.compare(path, x, y);
                    }
                } else {
                    // Compatible only when every old value still has what it needs: for
                    // `anyOf`/`oneOf` each old alternative is still one, for `allOf` each new
                    // requirement was already one.
                    let kept = if combinator == "allOf" {
                        b.iter().all(|x| a.contains(x))
                    } else {
                        a.iter().all(|x| b.contains(x))
                    };
                    self.report(
                        path,
                        if kept {
                            format!("{at}: the alternatives changed ({} → {}), every old one kept", a.len(), b.len())
                        } else {
                            format!("{at}: the alternatives changed ({} → {}): stored values of a changed or removed one will not read", a.len(), b.len())
                        },
                        if kept {
                            Compatibility::Compatible
                        } else {
                            Compatibility::Breaking
                        },
                    );
                }
            }
        }
    }

    /// Numeric and length bounds: a tighter bound breaks, a looser one does not.
    fn bounds(&mut self, path: &str, old: &Value, new: &Value) {
        let at = shown(path);
        for (key, lower, what) in [
            ("minimum", true, "minimum"),
            ("exclusiveMinimum", true, "exclusive minimum"),
            ("maximum", false, "maximum"),
            ("exclusiveMaximum", false, "exclusive maximum"),
            ("minLength", true, "minimum length"),
            ("maxLength", false, "maximum length"),
            ("minItems", true, "minimum number of items"),
            ("maxItems", false, "maximum number of items"),
            ("minProperties", true, "minimum number of fields"),
            ("maxProperties", false, "maximum number of fields"),
        ] {
            let (a, b) = (number(old, key), number(new, key));
            if a == b {
                continue;
            }
            let tighter = match (a, b) {
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => {
                    if lower {
                        b > a
                    } else {
                        b < a
                    }
                }
                (None, None) => false,
            };
            let show = |v: Option<f64>| v.map_or("none".to_owned(), |v| v.to_string());
            if tighter {
                self.constraint(
                    path,
                    format!(
                        "{at}: {what} tightened from {} to {}: stored values outside it will not read",
                        show(a),
                        show(b)
                    ),
                    Compatibility::Breaking,
                );
            } else {
                self.constraint(
                    path,
                    format!("{at}: {what} loosened from {} to {}", show(a), show(b)),
                    Compatibility::Compatible,
                );
            }
        }
    }

    /// `pattern`, `format` (constraints), `const`, `enum` (shape).
    fn words(&mut self, path: &str, old: &Value, new: &Value) {
        let at = shown(path);
        for key in ["pattern", "format", "const"] {
            let constraint = key != "const";
            let mut report = |message: String, compatibility| {
                if constraint {
                    self.constraint(path, message, compatibility);
                } else {
                    self.report(path, message, compatibility);
                }
            };
            match (old.get(key), new.get(key)) {
                (a, b) if a == b => {}
                (Some(a), None) => report(
                    format!("{at}: {key} {a} removed"),
                    Compatibility::Compatible,
                ),
                (a, Some(b)) => report(
                    match a {
                        None => format!("{at} must now match {key} {b}: stored values that do not will not read"),
                        Some(a) => format!("{at}: {key} changed from {a} to {b}: stored values that do not match it will not read"),
                    },
                    Compatibility::Breaking,
                ),
                (None, None) => {}
            }
        }
        match (old.get("enum"), new.get("enum")) {
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                let removed: Vec<String> = a
                    .iter()
                    .filter(|v| !b.contains(v))
                    .map(Value::to_string)
                    .collect();
                let added: Vec<String> = b
                    .iter()
                    .filter(|v| !a.contains(v))
                    .map(Value::to_string)
                    .collect();
                if !removed.is_empty() {
                    self.report(
                        path,
                        format!(
                            "{at} no longer allows {}: stored values with them will not read",
                            removed.join(", ")
                        ),
                        Compatibility::Breaking,
                    );
                }
                if !added.is_empty() {
                    self.report(
                        path,
                        format!("{at} now also allows {}", added.join(", ")),
                        Compatibility::Compatible,
                    );
                }
            }
            (None, Some(Value::Array(b))) => self.report(
                path,
                format!(
                    "{at} must now be one of {}: other stored values will not read",
                    Value::Array(b.clone())
                ),
                Compatibility::Breaking,
            ),
            (Some(_), None) => self.report(
                path,
                format!("{at} is no longer limited to a list of values"),
                Compatibility::Compatible,
            ),
            _ => {}
        }
    }

    /// Object fields: required, added, removed.
    fn objects(&mut self, path: &str, old: &Value, new: &Value) {
        let empty = Map::new();
        let props = |s: &Value| {
            s.get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_else(|| empty.clone())
        };
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (op, np) = (props(old), props(new));
        let (or, nr) = (required(old), required(new));
        let closed = new.get("additionalProperties") == Some(&Value::Bool(false));
        for field in nr.difference(&or) {
            let at = format!("{path}/{field}");
            self.report(
                &at,
                format!("`{at}` is now required: stored values without it will not read"),
                Compatibility::Breaking,
            );
        }
        for field in or.difference(&nr) {
            let at = format!("{path}/{field}");
            if np.contains_key(field) {
                self.report(
                    &at,
                    format!("`{at}` is now optional"),
                    Compatibility::Compatible,
                );
            }
        }
        for (field, schema) in &np {
            let at = format!("{path}/{field}");
            match op.get(field) {
                Some(old_schema) => self.compare(&at, old_schema, schema),
                None if !nr.contains(field) => self.report(
                    &at,
                    format!("`{at}` added (optional)"),
                    Compatibility::Compatible,
                ),
                None => {}
            }
        }
        for field in op.keys().filter(|f| !np.contains_key(*f)) {
            let at = format!("{path}/{field}");
            if closed {
                self.report(
                    &at,
                    format!("`{at}` removed and unknown fields are refused: stored values with it will not read"),
                    Compatibility::Breaking,
                );
            } else {
                self.report(
                    &at,
                    format!("`{at}` removed: stored values keep it, it is no longer read"),
                    Compatibility::Compatible,
                );
            }
        }
    }
}

fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items.map(String::as_str).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classes(old: Value, new: Value) -> Vec<(String, Compatibility)> {
        let old = Manifest::from_json(&old).unwrap();
        let new = Manifest::from_json(&new).unwrap();
        diff(&old, &new)
            .into_iter()
            .map(|c| (c.message, c.compatibility))
            .collect()
    }

    fn item(schema: Value) -> Value {
        json!({"app:p:*": {"kind": "item", "schema": schema}})
    }

    #[test]
    fn a_new_required_field_breaks_and_previous_covers_it() {
        let old = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
        let new = json!({"type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}}, "required": ["name", "country"]});
        let found = classes(item(old.clone()), item(new.clone()));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Compatibility::Breaking);
        assert!(
            found[0].0.contains("`/country` is now required"),
            "{found:?}"
        );
        let migrating =
            json!({"app:p:*": {"kind": "item", "schema": new, "previous": [old.clone()]}});
        let found = classes(item(old), migrating);
        assert_eq!(found[0].1, Compatibility::Migrates);
    }

    #[test]
    fn constraints_tighten_and_loosen() {
        let old = json!({"type": "integer", "maximum": 150});
        let tighter = json!({"type": "integer", "maximum": 100});
        let looser = json!({"type": "integer", "maximum": 200});
        assert_eq!(
            classes(item(old.clone()), item(tighter))[0].1,
            Compatibility::Breaking
        );
        assert_eq!(
            classes(item(old), item(looser))[0].1,
            Compatibility::Compatible
        );
        let s = json!({"type": "string"});
        let email = json!({"type": "string", "format": "email"});
        assert_eq!(
            classes(item(s.clone()), item(email.clone()))[0].1,
            Compatibility::Breaking
        );
        assert_eq!(
            classes(item(email), item(s))[0].1,
            Compatibility::Compatible
        );
        let e1 = json!({"type": "string", "enum": ["a", "b"]});
        let e2 = json!({"type": "string", "enum": ["a", "b", "c"]});
        assert_eq!(
            classes(item(e1.clone()), item(e2.clone()))[0].1,
            Compatibility::Compatible
        );
        assert_eq!(classes(item(e2), item(e1))[0].1, Compatibility::Breaking);
    }

    #[test]
    fn a_tightened_constraint_breaks_even_with_previous() {
        let old =
            json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}});
        let new =
            json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}});
        let with_previous = |schema: &Value, previous: &Value| json!({"app:p:*": {"kind": "item", "schema": schema, "previous": [previous]}});
        let found = classes(item(old.clone()), with_previous(&new, &old));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Compatibility::Breaking, "{found:?}");
        assert!(found[0].0.contains("does not help"), "{found:?}");
        let email = json!({"type": "object", "properties": {"name": {"type": "string", "format": "email", "maxLength": 20}}});
        let found = classes(item(old.clone()), with_previous(&email, &old));
        assert!(
            found.iter().all(|f| f.1 == Compatibility::Breaking),
            "{found:?}"
        );
        // A change of shape, with the old version listed, still migrates.
        let typed = json!({"type": "object", "properties": {"name": {"type": "integer"}}});
        let found = classes(item(old.clone()), with_previous(&typed, &old));
        assert_eq!(found[0].1, Compatibility::Migrates, "{found:?}");
    }

    #[test]
    fn removing_a_previous_version_breaks() {
        let v1 = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
        let v2 = json!({"type": "object", "properties": {"first": {"type": "string"}}, "required": ["first"]});
        let old = json!({"app:p:*": {"kind": "item", "schema": v2, "previous": [v1]}});
        let new = json!({"app:p:*": {"kind": "item", "schema": v2}});
        let found = classes(old.clone(), new);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Compatibility::Breaking, "{found:?}");
        assert!(found[0].0.contains("`previous` version"), "{found:?}");
        assert!(classes(old.clone(), old).is_empty());
    }

    #[test]
    fn schemas_added_alternatives_and_map_values() {
        let found = classes(
            json!({"app:s": {"kind": "set"}}),
            json!({"app:s": {"kind": "set", "schema": {"type": "string"}}}),
        );
        assert_eq!(found[0].1, Compatibility::Breaking, "{found:?}");
        let any = |alts: Value| item(json!({"anyOf": alts}));
        let found = classes(
            any(json!([{"type": "string"}, {"type": "integer"}])),
            any(json!([{"type": "boolean"}, {"type": "null"}, {"type": "number"}])),
        );
        assert_eq!(found[0].1, Compatibility::Breaking, "{found:?}");
        let found = classes(
            any(json!([{"type": "string"}])),
            any(json!([{"type": "string"}, {"type": "null"}])),
        );
        assert_eq!(found[0].1, Compatibility::Compatible, "{found:?}");
        let map = |t: &str| item(json!({"type": "object", "additionalProperties": {"type": t}}));
        let found = classes(map("integer"), map("string"));
        assert_eq!(found[0].1, Compatibility::Breaking, "{found:?}");
        let found = classes(map("integer"), map("number"));
        assert!(
            found.iter().all(|f| f.1 == Compatibility::Compatible),
            "{found:?}"
        );
    }

    #[test]
    fn types_refs_and_patterns() {
        let old = json!({"$ref": "#/$defs/U", "$defs": {"U": {"type": "object", "properties": {"age": {"type": "integer"}}}}});
        let new = json!({"$ref": "#/$defs/U", "$defs": {"U": {"type": "object", "properties": {"age": {"type": "string"}}}}});
        let found = classes(item(old), item(new));
        assert_eq!(found[0].1, Compatibility::Breaking, "{found:?}");
        assert!(
            found[0].0.contains("`/age` is now string (was integer)"),
            "{found:?}"
        );
        let found = classes(
            json!({"a": {"kind": "counter"}, "b": {"kind": "blob"}}),
            json!({"a": {"kind": "counter", "ttl_secs": 60}, "c": {"kind": "blob"}, "b": {"kind": "set"}}),
        );
        let compat: Vec<Compatibility> = found.iter().map(|f| f.1).collect();
        assert_eq!(
            compat,
            [
                Compatibility::Compatible,
                Compatibility::Breaking,
                Compatibility::Compatible
            ],
            "{found:?}"
        );
    }
}
