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
        let (Some(os), Some(ns)) = (&o.schema, &n.schema) else {
            continue;
        };
        let mut found = Vec::new();
        Walk {
            old_root: os,
            new_root: ns,
            seen: HashSet::new(),
            out: &mut found,
        }
        .compare("", os, ns);
        // A breaking change is covered when the old schema is one of the new `previous` ones.
        let migrates = n.previous.iter().any(|p| p == os);
        for (path, message, mut compatibility) in found {
            if compatibility == Compatibility::Breaking && migrates {
                compatibility = Compatibility::Migrates;
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
    out: &'o mut Vec<(String, String, Compatibility)>,
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
        self.out.push((path.to_owned(), message, compatibility));
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
                let lost: Vec<&String> = a.difference(&b).collect();
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
        if let (Some(a), Some(b)) = (old.get("items"), new.get("items")) {
            if a.is_object() && b.is_object() {
                self.compare(&format!("{path}/*"), a, b);
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
                    self.report(
                        path,
                        format!("{at}: the alternatives changed ({} → {})", a.len(), b.len()),
                        if b.len() > a.len() && combinator != "allOf" {
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
                self.report(
                    path,
                    format!(
                        "{at}: {what} tightened from {} to {}: stored values outside it will not read",
                        show(a),
                        show(b)
                    ),
                    Compatibility::Breaking,
                );
            } else {
                self.report(
                    path,
                    format!("{at}: {what} loosened from {} to {}", show(a), show(b)),
                    Compatibility::Compatible,
                );
            }
        }
    }

    /// `pattern`, `format`, `enum`, `const`.
    fn words(&mut self, path: &str, old: &Value, new: &Value) {
        let at = shown(path);
        for key in ["pattern", "format", "const"] {
            match (old.get(key), new.get(key)) {
                (a, b) if a == b => {}
                (Some(a), None) => self.report(
                    path,
                    format!("{at}: {key} {a} removed"),
                    Compatibility::Compatible,
                ),
                (a, Some(b)) => self.report(
                    path,
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
