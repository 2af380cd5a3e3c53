//! Manifests: a store's layout as data (what `Store::schema()` returns), read back to check
//! and compare stores from outside the program that defines them.
//!
//! - [`Manifest`]: the patterns of a manifest, their kinds, schemas (current and `previous`) and
//!   TTLs, and which pattern a stored key belongs to.
//! - [`audit`]: every stored value under a manifest checked against its pattern's schema — the
//!   same report (and the same counting) as a store's own `audit()`, for a tool that has the
//!   manifest but not the Rust types (the `kvstore` command line).
//!   Secondary indexes whose key is a field are checked against their records too.
//! - [`repair`]: those indexes made to match their records (`kvstore repair`).
//! - [`diff`]: what changed between two manifests, each change compatible or breaking.
//! - `assert_snapshot` (feature `test-support`): a test helper that keeps a manifest in a
//!   committed file.

mod diff;
mod indexes;
#[cfg(feature = "test-support")]
mod snapshot;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

pub use diff::{diff, Change, Compatibility};
pub use indexes::{repair, IndexRepair};
#[cfg(feature = "test-support")]
pub use snapshot::{assert_snapshot, ACCEPT_ENV};

use crate::backend::Command;
use crate::error::{Error, Result};
use crate::layout::decode_id;
use crate::node::{AuditReport, Container, Context, Progress, Run, Verdict};
use crate::value::{self, judge, Codec, Decimal, LeafCodec, StoredValue, Versions};
use crate::IntoBackend;

/// What a manifest says about one key pattern.
pub struct Pattern {
    /// The pattern: literal segments and `*` (`{*}` when colocated) for ids.
    pub pattern: String,
    /// Its kind: `item`, `counter`, `set`, `blob`, `list`, `sorted_set`, `map`, `bits`,
    /// `packed_ints`.
    pub kind: String,
    /// The JSON Schema of its values (items, set members, list elements, sorted-set members,
    /// map values).
    pub schema: Option<Value>,
    /// The schemas of older versions its values may still have (`migrate_from`).
    pub previous: Vec<Value>,
    /// The default TTL, in seconds.
    pub ttl_secs: Option<f64>,
    /// The integer type of `packed_ints`.
    pub int: Option<String>,
    /// An index's records: their pattern.
    pub of: Option<String>,
    /// An index's key: the records' field path (`email`, `address.city`), or the name of the
    /// function that computes it (then `computed`).
    pub key: Option<String>,
    /// An index whose key a function computes: only the program that has it can check it.
    pub computed: bool,
    codec: Option<Codec>,
    /// The `previous` schemas' codecs, each with its name (its `title`, or its position).
    older: Vec<(String, Codec)>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern")
            .field("pattern", &self.pattern)
            .field("kind", &self.kind)
            .field("ttl_secs", &self.ttl_secs)
            .field("previous", &self.previous.len())
            .finish()
    }
}

/// The kinds a manifest may name.
const KINDS: [&str; 13] = [
    "item",
    "counter",
    "set",
    "blob",
    "list",
    "stream",
    "sorted_set",
    "map",
    "bits",
    "packed_ints",
    "unique_index",
    "index",
    "ordered_index",
];

/// A store's layout, read from its manifest (`Store::schema()`, or that written to a file).
#[derive(Debug)]
pub struct Manifest {
    patterns: BTreeMap<String, Pattern>,
}

/// Why a manifest could not be read.
fn bad_manifest(message: impl fmt::Display) -> Error {
    Error::backend(
        crate::error::BackendErrorKind::Other,
        None,
        format!("not a kvstore manifest: {message}"),
    )
}

impl Manifest {
    /// Reads a manifest (an object of patterns, each `{"kind", "schema"?, "previous"?,
    /// "ttl_secs"?, "int"?}`); an error says what is wrong with it.
    pub fn from_json(value: &Value) -> Result<Manifest> {
        let object = value
            .as_object()
            .ok_or_else(|| bad_manifest("expected a JSON object of key patterns"))?;
        let mut patterns = BTreeMap::new();
        for (pattern, entry) in object {
            let kind = entry
                .get("kind")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_manifest(format!("pattern `{pattern}` has no \"kind\"")))?;
            if !KINDS.contains(&kind) {
                return Err(bad_manifest(format!(
                    "pattern `{pattern}` has an unknown kind {kind:?} (known: {})",
                    KINDS.join(", ")
                )));
            }
            let schema = entry.get("schema").cloned();
            let previous: Vec<Value> = match entry.get("previous") {
                None => Vec::new(),
                Some(Value::Array(list)) => list.clone(),
                Some(_) => {
                    return Err(bad_manifest(format!(
                        "pattern `{pattern}`: \"previous\" is not a list of schemas"
                    )))
                }
            };
            patterns.insert(
                pattern.clone(),
                Pattern {
                    pattern: pattern.clone(),
                    kind: kind.to_owned(),
                    codec: schema
                        .clone()
                        .map(|s| Codec::from_schema(s, "the manifest's schema")),
                    older: previous
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let name = match s.get("title").and_then(Value::as_str) {
                                Some(title) => title.to_owned(),
                                None => format!("previous[{i}]"),
                            };
                            (name, Codec::from_schema(s.clone(), "a previous schema"))
                        })
                        .collect(),
                    schema,
                    previous,
                    ttl_secs: entry.get("ttl_secs").and_then(Value::as_f64),
                    int: entry.get("int").and_then(Value::as_str).map(str::to_owned),
                    of: entry.get("of").and_then(Value::as_str).map(str::to_owned),
                    key: entry.get("key").and_then(Value::as_str).map(str::to_owned),
                    computed: entry.get("computed").and_then(Value::as_bool) == Some(true),
                },
            );
        }
        Ok(Manifest { patterns })
    }

    /// Reads the manifest in the JSON file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Manifest> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad_manifest(format!("cannot read `{}`: {e}", path.display())))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| bad_manifest(format!("`{}` is not JSON: {e}", path.display())))?;
        Manifest::from_json(&value)
    }

    /// Every pattern, in pattern order.
    pub fn patterns(&self) -> impl Iterator<Item = &Pattern> {
        self.patterns.values()
    }

    /// The pattern `pattern`, if the manifest has it.
    pub fn get(&self, pattern: &str) -> Option<&Pattern> {
        self.patterns.get(pattern)
    }

    /// The pattern a stored key belongs to: literal segments equal, each `*` one encoded id,
    /// each `{*}` one hash-tagged encoded id.
    pub fn pattern_of(&self, key: &str) -> Option<&Pattern> {
        self.patterns.values().find(|p| matches(&p.pattern, key))
    }

    /// The literal prefix every pattern starts with, up to a `:` (`""` when they share none):
    /// where an audit scans.
    pub fn root(&self) -> String {
        let mut patterns = self.patterns.keys();
        let Some(first) = patterns.next() else {
            return String::new();
        };
        let mut common: &str = first;
        for p in patterns {
            let n = common
                .char_indices()
                .zip(p.chars())
                .find(|((_, a), b)| a != b)
                .map_or(common.len().min(p.len()), |((i, _), _)| i);
            common = &common[..n];
        }
        let common = common.split('*').next().unwrap_or("");
        let common = common.strip_suffix('{').unwrap_or(common);
        match common.rfind(':') {
            Some(at) => common[..=at].to_owned(),
            None => String::new(),
        }
    }
}

/// Whether `key` is a key of `pattern`.
pub fn matches(pattern: &str, key: &str) -> bool {
    let mut keys = key.split(':');
    for segment in pattern.split(':') {
        let Some(part) = keys.next() else {
            return false;
        };
        let ok = match segment {
            "*" => !part.is_empty() && decode_id(part).is_some(),
            "{*}" => part
                .strip_prefix('{')
                .and_then(|p| p.strip_suffix('}'))
                .is_some_and(|id| !id.is_empty() && decode_id(id).is_some()),
            literal => literal == part,
        };
        if !ok {
            return false;
        }
    }
    keys.next().is_none()
}

/// The verdict on one JSON value of `pattern`, by [`judge`] (the one decision a store's own
/// `audit()` makes too): of the current schema, of a `previous` one (nothing to write back:
/// this audit only reads), or invalid. "Of the current type's shape" is decided by the current
/// schema without its constraints, so a value of that shape that breaks a constraint is
/// invalid even when an older schema accepts it.
fn json_verdict(pattern: &Pattern, key: &str, bytes: &[u8]) -> Verdict {
    let Some(codec) = &pattern.codec else {
        return Verdict::Valid;
    };
    let stored = StoredValue::new(key, bytes);
    match judge(codec.fits(&stored), &Previous(&pattern.older), &stored) {
        value::Verdict::Valid(()) => Verdict::Valid,
        value::Verdict::Outdated(()) => Verdict::Outdated { encoded: None },
        value::Verdict::Invalid(error) => Verdict::Invalid(error),
    }
}

/// A pattern's `previous` schemas, each with its name: what [`judge`] tries a value as.
struct Previous<'a>(&'a [(String, Codec)]);

impl Versions for Previous<'_> {
    /// A manifest has no conversions: only the verdict.
    type Converted = ();

    const LISTED: &'static str = "in the manifest's `previous`";

    fn version(&self, index: usize) -> Option<(&str, &Codec)> {
        self.0
            .get(index)
            .map(|(name, codec)| (name.as_str(), codec))
    }

    fn convert(&self, _: usize, _: &StoredValue<'_>) -> Result<()> {
        Ok(())
    }
}

/// Checks every value stored under `manifest` (its [`Manifest::root`], or `prefix` when given)
/// against its pattern's schema, and lists the keys that match no pattern: the report of a
/// store's own `audit()`, from the manifest alone. Reads in pages (`SCAN` and one `MGET` per
/// page), so memory stays bounded on any number of keys; on a cluster, every primary.
pub async fn audit(
    backend: impl IntoBackend,
    manifest: &Manifest,
    prefix: Option<&str>,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<AuditReport> {
    let ctx = Context::new(backend);
    let root = prefix.map_or_else(|| manifest.root(), str::to_owned);
    let mut run = Run::new("", false, progress);
    let mut cursor = String::new();
    loop {
        let command = Command::Scan {
            prefix: &root,
            cursor: &cursor,
            count: crate::node::PAGE,
        };
        let page = ctx.execute(command).await?.into_page(&command)?;
        let mut keys = page.keys;
        keys.sort();
        keys.dedup();
        let mut by_pattern: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for key in keys {
            match manifest.pattern_of(&key) {
                Some(p) => by_pattern.entry(&p.pattern).or_default().push(key),
                None => {
                    run.unknown(&key);
                    run.scanned(1);
                }
            }
        }
        for (name, keys) in by_pattern {
            let Some(pattern) = manifest.get(name) else {
                continue;
            };
            run.at_pattern(name);
            check(&ctx, pattern, &keys, &mut run).await?;
        }
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    for pattern in manifest.patterns() {
        if pattern.pattern.starts_with(&root) {
            indexes::audit(&ctx, pattern, &mut run).await?;
        }
    }
    Ok(run.into_audit())
}

/// Checks the values at `keys` (any keys: each against its pattern, or counted unknown) — the
/// audit of a few keys, for a tool that inspects one.
pub async fn audit_keys(
    backend: impl IntoBackend,
    manifest: &Manifest,
    keys: &[String],
) -> Result<AuditReport> {
    let ctx = Context::new(backend);
    let mut progress = |_: &Progress| {};
    let mut run = Run::new("", false, &mut progress);
    for key in keys {
        match manifest.pattern_of(key) {
            Some(pattern) => {
                run.at_pattern(&pattern.pattern);
                check(&ctx, pattern, std::slice::from_ref(key), &mut run).await?;
            }
            None => run.unknown(key),
        }
    }
    Ok(run.into_audit())
}

/// Checks `keys`, all of `pattern`.
async fn check(ctx: &Context, pattern: &Pattern, keys: &[String], run: &mut Run<'_>) -> Result<()> {
    match pattern.kind.as_str() {
        "item" => {
            run.check_strings(ctx, keys, |key, bytes| json_verdict(pattern, key, bytes))
                .await
        }
        "counter" => {
            run.check_strings(ctx, keys, |key, bytes| match Decimal.decode(key, bytes) {
                Ok(_) => Verdict::Valid,
                Err(e) => Verdict::Invalid(e),
            })
            .await
        }
        "blob" | "bits" | "packed_ints" | "unique_index" => {
            run.check_strings(ctx, keys, |_, _| Verdict::Valid).await
        }
        // Index entries are checked against their records by the index itself.
        "index" | "ordered_index" => {
            let container = match pattern.kind.as_str() {
                "index" => Container::Set,
                _ => Container::SortedSet,
            };
            run.check_members(ctx, keys, container, |_, _, _| Verdict::Valid)
                .await
        }
        kind => {
            let container = match kind {
                "set" => Container::Set,
                "list" => Container::List,
                "stream" => Container::Stream,
                "sorted_set" => Container::SortedSet,
                _ => Container::Map,
            };
            run.check_members(ctx, keys, container, |key, _, value| {
                json_verdict(pattern, key, value)
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_their_patterns() {
        assert!(matches("shop:u:*", "shop:u:alice"));
        assert!(matches("shop:u:*", "shop:u:a%3Ab"));
        assert!(!matches("shop:u:*", "shop:u:a:b"));
        assert!(!matches("shop:u:*", "shop:u:"));
        assert!(!matches("shop:u:*", "shop:u"));
        assert!(
            !matches("shop:u:*", "shop:u:a*"),
            "a raw `*` is not an encoded id"
        );
        assert!(matches("shop:t:{*}:config", "shop:t:{acme}:config"));
        assert!(!matches("shop:t:{*}:config", "shop:t:acme:config"));
        assert!(matches("shop:settings", "shop:settings"));
        assert!(!matches("shop:settings", "shop:settingsx"));
    }

    #[test]
    fn the_root_is_the_common_literal_prefix() {
        let m = Manifest::from_json(&json!({
            "app:v1:a": {"kind": "counter"},
            "app:v1:b:*": {"kind": "counter"},
            "app:v1:bc": {"kind": "blob"},
        }))
        .unwrap();
        assert_eq!(m.root(), "app:v1:");
        let m =
            Manifest::from_json(&json!({"a": {"kind": "counter"}, "b": {"kind": "blob"}})).unwrap();
        assert_eq!(m.root(), "");
        let m = Manifest::from_json(&json!({"x:*": {"kind": "counter"}})).unwrap();
        assert_eq!(m.root(), "x:");
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let e = Manifest::from_json(&json!([1])).unwrap_err();
        assert!(e.to_string().contains("object"), "{e}");
        let e = Manifest::from_json(&json!({"a": {}})).unwrap_err();
        assert!(e.to_string().contains("no \"kind\""), "{e}");
        let e = Manifest::from_json(&json!({"a": {"kind": "table"}})).unwrap_err();
        assert!(e.to_string().contains("unknown kind"), "{e}");
    }
}
