//! `keys`, `get` and `stats`: reading a store key by key, through the backend's commands.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;

use std::sync::Arc;

use kvstore::manifest::{self, Manifest, Pattern};
use kvstore::{
    backend::{
        BackendExt as _, Command, IntType, KeyOp, KeyTtl, ListOp, MapOp, Reply, SetOp, SetOptions,
        SortedSetOp, StreamId, StreamOp, StringOp,
    },
    DynBackend, Error, MemoryBackend,
};
use serde_json::{json, Value};

use crate::{glob, Fatal, FatalKind, Out};

/// Keys per scan page.
const PAGE: usize = 1000;

/// `key` for a person: control characters (and backslashes, so that an escape is never
/// ambiguous) escaped, everything else as is.
pub(crate) fn printable(key: &str) -> String {
    key.chars()
        .flat_map(|c| {
            if c.is_control() || c == '\\' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A stored key as `keys` prints it: on a terminal, [`printable`] (a key holding an escape
/// sequence must not rewrite the screen); elsewhere (a pipe, a file) exactly as stored, so that
/// what a script reads is the key.
pub(crate) fn shown_key(key: &str, terminal: bool) -> Cow<'_, str> {
    if terminal {
        Cow::Owned(printable(key))
    } else {
        Cow::Borrowed(key)
    }
}

/// Every stored key under `prefix`, page by page, each passed to `f`.
async fn scan(
    backend: &DynBackend,
    prefix: &str,
    mut f: impl FnMut(String) -> bool,
) -> Result<(), Fatal> {
    let mut cursor = String::new();
    loop {
        let command = Command::Scan {
            prefix,
            cursor: &cursor,
            count: PAGE,
        };
        let page = backend.execute(command).await?.into_page(&command)?;
        for key in page.keys {
            if !f(key) {
                return Ok(());
            }
        }
        match page.next {
            Some(next) => cursor = next,
            None => return Ok(()),
        }
    }
}

/// The keys the glob `pattern` matches as `SCAN MATCH` would (see [`crate::glob`]; a pattern
/// ending in `:`, or empty, is a prefix: everything under it), sorted; with `limit`, the first
/// `limit` of them in key order (every key is read; memory stays at `limit` keys).
pub(crate) async fn keys(
    backend: &DynBackend,
    pattern: &str,
    limit: Option<usize>,
) -> Result<Vec<String>, Fatal> {
    let glob = if pattern.is_empty() || pattern.ends_with(':') {
        format!("{pattern}*")
    } else {
        pattern.to_owned()
    };
    let prefix = glob::literal_prefix(&glob);
    let mut found = BTreeSet::new();
    scan(backend, prefix, |key| {
        if glob::matches(&glob, &key) {
            found.insert(key);
            if limit.is_some_and(|n| found.len() > n) {
                found.pop_last();
            }
        }
        true
    })
    .await?;
    Ok(found.into_iter().collect())
}

/// What a key holds, read with the command of its kind.
enum Held {
    Missing,
    String(Vec<u8>),
    Set(Vec<Vec<u8>>),
    List(Vec<Vec<u8>>),
    SortedSet(Vec<(Vec<u8>, f64)>),
    Map(Vec<(Vec<u8>, Vec<u8>)>),
    Stream(Vec<(StreamId, Vec<u8>)>),
}

impl Held {
    fn kind(&self) -> &'static str {
        match self {
            Held::Missing => "none",
            Held::String(_) => "string",
            Held::Set(_) => "set",
            Held::List(_) => "list",
            Held::SortedSet(_) => "sorted set",
            Held::Map(_) => "map (hash)",
            Held::Stream(_) => "stream",
        }
    }

    fn bytes(&self) -> u64 {
        let len = |v: &Vec<u8>| v.len() as u64;
        match self {
            Held::Missing => 0,
            Held::String(v) => len(v),
            Held::Set(m) | Held::List(m) => m.iter().map(len).sum(),
            Held::SortedSet(m) => m.iter().map(|(m, _)| len(m) + 8).sum(),
            Held::Map(m) => m.iter().map(|(f, v)| len(f) + len(v)).sum(),
            Held::Stream(m) => m.iter().map(|(_, v)| len(v) + 16).sum(),
        }
    }
}

async fn read(backend: &DynBackend, key: &str) -> Result<Held, Fatal> {
    let get = Command::Str {
        key,
        op: StringOp::Get,
    };
    match backend.execute(get).await {
        Ok(reply) => {
            return Ok(match reply.into_value(&get)? {
                Some(bytes) => Held::String(bytes),
                None => Held::Missing,
            })
        }
        Err(Error::WrongType { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let reads = [
        Command::Set {
            key,
            op: SetOp::Members,
        },
        Command::List {
            key,
            op: ListOp::Range { start: 0, stop: -1 },
        },
        Command::SortedSet {
            key,
            op: SortedSetOp::Range {
                start: 0,
                stop: -1,
                rev: false,
            },
        },
        Command::Map {
            key,
            op: MapOp::Entries,
        },
        Command::Stream {
            key,
            op: StreamOp::Range {
                start: StreamId::MIN,
                end: StreamId::MAX,
                count: usize::MAX,
                rev: false,
            },
        },
    ];
    for (i, command) in reads.into_iter().enumerate() {
        match backend.execute(command).await {
            Ok(Reply::Members(m)) if i == 0 => return Ok(Held::Set(m)),
            Ok(Reply::Members(m)) => return Ok(Held::List(m)),
            Ok(Reply::Scored(m)) => return Ok(Held::SortedSet(m)),
            Ok(Reply::Pairs(m)) => return Ok(Held::Map(m)),
            Ok(Reply::Entries(m)) => return Ok(Held::Stream(m)),
            Ok(other) => {
                return Err(Fatal::new(
                    FatalKind::Backend,
                    format!("unexpected reply for `{}`: {other:?}", printable(key)),
                ))
            }
            Err(Error::WrongType { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Fatal::new(
        FatalKind::Backend,
        format!(
            "`{}` holds a kind of value kvstore does not read",
            printable(key)
        ),
    ))
}

/// A value for a person: JSON compact (or pretty), else its text with control characters
/// escaped and `(not JSON)` after it, so that a raw `notjson` never looks like the JSON string
/// `"notjson"`.
fn shown(bytes: &[u8], pretty: bool) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        let text = if pretty {
            serde_json::to_string_pretty(&value)
        } else {
            serde_json::to_string(&value)
        };
        return text.unwrap_or_default();
    }
    format!("{} (not JSON)", raw_text(bytes))
}

/// Bytes as text: UTF-8 with control characters escaped, else every non-printable byte escaped.
fn raw_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => printable(text),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

/// A value for `--json`: the JSON it holds, else its text as a JSON string.
fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| match std::str::from_utf8(bytes) {
        Ok(text) => Value::from(text),
        Err(_) => Value::from(bytes.escape_ascii().to_string()),
    })
}

/// The integer type a manifest names (`"i8"`, `"u16"`, ...).
fn int_type(name: &str) -> Option<IntType> {
    let signed = match name.as_bytes().first()? {
        b'i' => true,
        b'u' => false,
        _ => return None,
    };
    let bits: u8 = name[1..].parse().ok()?;
    let known = matches!(bits, 8 | 16 | 32) || (bits == 64 && signed);
    known.then_some(IntType { bits, signed })
}

/// The offsets of the bits that are set (offset 0: the highest bit of the first byte).
fn set_bits(bytes: &[u8]) -> Vec<u64> {
    let mut offsets = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        for bit in 0..8u64 {
            if byte & (0x80 >> bit) != 0 {
                offsets.push(i as u64 * 8 + bit);
            }
        }
    }
    offsets
}

/// Something at a key that does not read: where (a member by its text, an element by its
/// position, a field by its name; `value` for the whole) and why.
struct Bad {
    at: String,
    message: String,
}

/// The verdict on one member of a container.
enum Member {
    Valid,
    Outdated,
    Invalid(String),
}

/// The one verdict (`manifest::audit_keys`) on each member of a container alone: the member is
/// written, as the value of an item of the same pattern with the same schemas, to an in-memory
/// store, and audited there. What the audit of the whole key says of its first bad member, this
/// says of each.
struct MemberCheck {
    store: DynBackend,
    manifest: Manifest,
    key: Vec<String>,
}

impl MemberCheck {
    fn new(pattern: &Pattern, key: &str) -> Option<MemberCheck> {
        let schema = pattern.schema.clone()?;
        let mut entry = serde_json::Map::new();
        entry.insert(
            pattern.pattern.clone(),
            json!({"kind": "item", "schema": schema, "previous": pattern.previous}),
        );
        let manifest = Manifest::from_json(&Value::Object(entry)).ok()?;
        Some(MemberCheck {
            store: Arc::new(MemoryBackend::new()),
            manifest,
            key: vec![key.to_owned()],
        })
    }

    async fn check(&self, bytes: &[u8]) -> Member {
        if let Err(e) = self
            .store
            .set(&self.key[0], bytes, SetOptions::default())
            .await
        {
            return Member::Invalid(format!("cannot be checked: {e}"));
        }
        match manifest::audit_keys(self.store.clone(), &self.manifest, &self.key).await {
            Ok(report) if report.valid == 1 => Member::Valid,
            Ok(report) if report.outdated == 1 => Member::Outdated,
            Ok(report) => Member::Invalid(
                report
                    .problems
                    .first()
                    .map_or_else(|| "invalid".to_owned(), |p| p.message.clone()),
            ),
            Err(e) => Member::Invalid(format!("cannot be checked: {e}")),
        }
    }
}

/// What `get` shows of a value: its JSON, its text lines, and what does not read in it.
#[derive(Default)]
struct Decoded {
    json: Value,
    summary: String,
    lines: Vec<String>,
    bad: Vec<Bad>,
}

impl Decoded {
    /// One member (`label` shown before it, `at` naming it in a problem), checked by `check`.
    async fn member(
        &mut self,
        label: String,
        at: String,
        bytes: &[u8],
        check: Option<&MemberCheck>,
    ) {
        let shown = shown(bytes, false).replace('\n', "\n    ");
        self.lines.push(format!("  {label}{shown}"));
        let verdict = match check {
            Some(check) => check.check(bytes).await,
            None if serde_json::from_slice::<Value>(bytes).is_err() => {
                Member::Invalid("not JSON".to_owned())
            }
            None => Member::Valid,
        };
        match verdict {
            Member::Valid => {}
            Member::Outdated => self
                .lines
                .push("      ^ outdated: an older version listed in `previous`".to_owned()),
            Member::Invalid(message) => {
                self.lines.push(format!("      ^ does not read: {message}"));
                self.bad.push(Bad { at, message });
            }
        }
    }
}

/// Decodes what `key` holds by its pattern's kind (by what it holds without one).
async fn decode(held: &Held, pattern: Option<&Pattern>, key: &str) -> Decoded {
    let kind = pattern.map(|p| p.kind.as_str()).unwrap_or("");
    let check = pattern.and_then(|p| MemberCheck::new(p, key));
    let check = check.as_ref();
    let mut out = Decoded::default();
    match held {
        Held::Missing => {}
        Held::String(bytes) => match kind {
            "counter" => {
                let number = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok());
                out.json = number.map_or_else(|| as_json(bytes), Value::from);
                out.summary = number.map_or_else(
                    || format!("{} (not a decimal 64-bit integer)", raw_text(bytes)),
                    |n| n.to_string(),
                );
            }
            "bits" => {
                let offsets = set_bits(bytes);
                out.summary = format!(
                    "{} of {} bits set, at offsets {offsets:?}",
                    offsets.len(),
                    bytes.len() * 8
                );
                out.json = Value::from(offsets);
            }
            "packed_ints" => match pattern.and_then(|p| p.int.as_deref()).and_then(int_type) {
                Some(ty) => {
                    let width = ty.bytes() as usize;
                    let slots: Vec<i64> =
                        bytes.chunks(width).map(|s| ty.decode_padded(s)).collect();
                    out.summary = format!("{} slots of {ty}: {slots:?}", slots.len());
                    out.json = Value::from(slots);
                }
                None => {
                    out.summary = format!(
                        "{} (the manifest names no integer type this version knows)",
                        raw_text(bytes)
                    );
                    out.json = as_json(bytes);
                }
            },
            "blob" => {
                out.summary = format!("{} ({} bytes)", raw_text(bytes), bytes.len());
                out.json = Value::from(raw_text(bytes));
            }
            _ => {
                out.summary = shown(bytes, true);
                out.json = as_json(bytes);
            }
        },
        Held::Set(members) => {
            out.summary = format!("{} members", members.len());
            let mut all = Vec::new();
            for member in members {
                let at = format!("member `{}`", raw_text(member));
                out.member("- ".to_owned(), at, member, check).await;
                all.push(as_json(member));
            }
            out.json = Value::from(all);
        }
        Held::List(elements) => {
            out.summary = format!("{} elements", elements.len());
            let mut all = Vec::new();
            for (i, element) in elements.iter().enumerate() {
                out.member(format!("[{i}] "), format!("element {i}"), element, check)
                    .await;
                all.push(as_json(element));
            }
            out.json = Value::from(all);
        }
        Held::SortedSet(members) => {
            out.summary = format!("{} members (score, member)", members.len());
            let mut all = Vec::new();
            for (member, score) in members {
                let at = format!("member `{}` (score {score})", raw_text(member));
                out.member(format!("{score}  "), at, member, check).await;
                all.push(json!({"member": as_json(member), "score": score}));
            }
            out.json = Value::from(all);
        }
        Held::Map(fields) => {
            out.summary = format!("{} fields", fields.len());
            let mut all = serde_json::Map::new();
            for (field, value) in fields {
                let name = raw_text(field);
                let at = format!("field `{name}`");
                out.member(format!("{name}: "), at, value, check).await;
                all.insert(String::from_utf8_lossy(field).into_owned(), as_json(value));
            }
            out.json = Value::Object(all);
        }
        Held::Stream(entries) => {
            out.summary = format!("{} entries (id, value)", entries.len());
            let mut all = Vec::new();
            for (id, value) in entries {
                let at = format!("entry {id}");
                out.member(format!("{id}  "), at, value, check).await;
                all.push(json!({"id": id.to_string(), "value": as_json(value)}));
            }
            out.json = Value::from(all);
        }
    }
    out
}

/// Prints what is at `key`, decoded by its pattern's kind when a manifest is given, and then
/// whether it is valid. Returns whether it is (`true` without a manifest; `false` for a missing
/// key).
pub(crate) async fn get(
    backend: &DynBackend,
    key: &str,
    manifest: Option<&Manifest>,
    json: bool,
    out: &mut Out,
) -> Result<bool, Fatal> {
    let held = read(backend, key).await?;
    let ttl_command = Command::Key {
        key,
        op: KeyOp::Ttl,
    };
    let ttl = match backend.execute(ttl_command).await?.into_ttl(&ttl_command)? {
        KeyTtl::Expires(left) => Some(left.as_secs_f64()),
        _ => None,
    };
    if matches!(held, Held::Missing) {
        if json {
            writeln!(
                out,
                "{}",
                json!({"key": key, "kind": "none", "exists": false})
            )?;
        } else {
            writeln!(out, "key:   {}\nkind:  none\n(no such key)", printable(key))?;
        }
        return Ok(false);
    }
    let pattern = manifest.and_then(|m| m.pattern_of(key));
    let decoded = decode(&held, pattern, key).await;
    let verdict = match (manifest, pattern) {
        (None, _) => None,
        (Some(_), None) => Some(("unknown", None)),
        (Some(manifest), Some(_)) => {
            let report = manifest::audit_keys(backend.clone(), manifest, &[key.to_owned()]).await?;
            Some(if report.valid == 1 {
                ("valid", None)
            } else if report.outdated == 1 {
                ("outdated", None)
            } else {
                let word = if report.wrong_type == 1 {
                    "wrong type"
                } else {
                    "invalid"
                };
                (word, report.problems.first().cloned())
            })
        }
    };
    // What does not read: the members found, else what the audit says of the whole value.
    let mut bad = decoded.bad;
    if let (Some((_, Some(problem))), true) = (&verdict, bad.is_empty()) {
        bad.push(Bad {
            at: problem
                .pointer
                .as_deref()
                .filter(|p| !p.is_empty())
                .map_or_else(|| "value".to_owned(), |p| format!("value at {p}")),
            message: problem.message.clone(),
        });
    }
    if json {
        let report = json!({
            "key": key,
            "kind": held.kind(),
            "ttl_secs": ttl,
            "pattern": pattern.map(|p| json!({"pattern": p.pattern, "kind": p.kind})),
            "value": decoded.json,
            "verdict": verdict.as_ref().map(|v| v.0),
            "problems": bad.iter().map(|b| json!({"at": b.at, "message": b.message})).collect::<Vec<_>>(),
        });
        writeln!(out, "{report}")?;
    } else {
        writeln!(out, "key:   {}", printable(key))?;
        writeln!(out, "kind:  {}", held.kind())?;
        let ttl = ttl.map_or_else(|| "none".to_owned(), |t| format!("{t:.3} s"));
        writeln!(out, "ttl:   {ttl}")?;
        writeln!(out, "value: {}", decoded.summary)?;
        for line in &decoded.lines {
            writeln!(out, "{line}")?;
        }
        if let Some((word, _)) = &verdict {
            let pattern = pattern.map_or_else(String::new, |p| {
                format!(" (pattern {}, kind {})", p.pattern, p.kind)
            });
            let line = match *word {
                "valid" => "yes".to_owned(),
                "outdated" => {
                    "outdated (an older version listed in `previous`: `migrate()` rewrites it)"
                        .to_owned()
                }
                "unknown" => "unknown (the key matches no pattern of the manifest)".to_owned(),
                _ => match bad.first() {
                    Some(b) => format!("no: {}: {}", b.at, b.message),
                    None => "no".to_owned(),
                },
            };
            writeln!(out, "valid: {line}{pattern}")?;
        }
    }
    Ok(match verdict {
        None => true,
        Some((word, _)) => word == "valid" || word == "outdated",
    })
}

/// Keys and bytes of one pattern.
#[derive(Default, Debug, Clone)]
pub(crate) struct PatternStats {
    pub(crate) kind: String,
    pub(crate) keys: u64,
    pub(crate) bytes: u64,
}

/// Keys and bytes per pattern, and of the keys that match none. Reads page by page, so memory
/// stays bounded on any number of keys (a key that `SCAN` returns on two pages, as it may while
/// Redis resizes its keyspace, is counted twice).
pub(crate) async fn stats(
    backend: &DynBackend,
    manifest: &Manifest,
) -> Result<BTreeMap<String, PatternStats>, Fatal> {
    let mut out: BTreeMap<String, PatternStats> = manifest
        .patterns()
        .map(|p| {
            (
                p.pattern.clone(),
                PatternStats {
                    kind: p.kind.clone(),
                    ..PatternStats::default()
                },
            )
        })
        .collect();
    let root = manifest.root();
    let mut cursor = String::new();
    loop {
        let command = Command::Scan {
            prefix: &root,
            cursor: &cursor,
            count: PAGE,
        };
        let page = backend.execute(command).await?.into_page(&command)?;
        let mut keys = page.keys;
        keys.sort();
        keys.dedup();
        for key in keys {
            let (name, kind) = match manifest.pattern_of(&key) {
                Some(p) => (p.pattern.clone(), p.kind.clone()),
                None => ("(unknown keys)".to_owned(), String::new()),
            };
            let held = read(backend, &key).await?;
            if matches!(held, Held::Missing) {
                continue; // expired since the scan
            }
            let entry = out.entry(name).or_insert_with(|| PatternStats {
                kind,
                ..PatternStats::default()
            });
            entry.keys += 1;
            entry.bytes += held.bytes();
        }
        match page.next {
            Some(next) => cursor = next,
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_on_a_terminal_only() {
        let hostile = "app:raw\x1b[31m\\x 100% a\tb";
        assert_eq!(
            shown_key(hostile, false),
            hostile,
            "a pipe gets the key as stored"
        );
        assert_eq!(
            shown_key(hostile, true),
            "app:raw\\u{1b}[31m\\\\x 100% a\\tb",
            "a terminal gets no control character, and every escape is unambiguous"
        );
    }

    #[test]
    fn raw_values_are_told_apart_from_json_strings() {
        assert_eq!(shown(b"notjson", false), "notjson (not JSON)");
        assert_eq!(shown(b"\"notjson\"", false), "\"notjson\"");
        assert_eq!(shown(b"\xff\x01", false), "\\xff\\x01 (not JSON)");
    }

    #[test]
    fn bits_and_integer_types() {
        assert_eq!(set_bits(&[0b0100_0000, 0b0010_0001]), [1, 10, 15]);
        assert_eq!(
            int_type("u8"),
            Some(IntType {
                bits: 8,
                signed: false
            })
        );
        assert_eq!(
            int_type("i64"),
            Some(IntType {
                bits: 64,
                signed: true
            })
        );
        assert_eq!(int_type("u64"), None);
        assert_eq!(int_type("x8"), None);
        assert_eq!(int_type(""), None);
    }
}
