//! `keys`, `get` and `stats`: reading a store key by key, through the backend's commands.

use std::collections::BTreeMap;

use kvstore::manifest::{self, Manifest};
use kvstore::{Command, DynBackend, Error, KeyTtl, ListOp, MapOp, Reply, SortedSetOp};

use crate::Fatal;

/// Keys per scan page.
const PAGE: usize = 1000;

/// `key` for a terminal: control characters (and backslashes) escaped, everything else as is.
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

/// The keys matching `pattern` (`*` one id, `{*}` one colocated id; a pattern ending in `:` is
/// a prefix), sorted, at most `limit`.
pub(crate) async fn keys(
    backend: &DynBackend,
    pattern: &str,
    limit: Option<usize>,
) -> Result<Vec<String>, Fatal> {
    let literal_end = pattern.find(['*', '{']).unwrap_or(pattern.len());
    let prefix = &pattern[..literal_end];
    let is_prefix = pattern.ends_with(':') || pattern.is_empty();
    let mut found = std::collections::BTreeSet::new();
    scan(backend, prefix, |key| {
        if is_prefix || manifest::matches(pattern, &key) {
            found.insert(key);
        }
        // A scan may repeat keys; stop only well past the limit.
        limit.is_none_or(|n| found.len() < n)
    })
    .await?;
    let mut keys: Vec<String> = found.into_iter().collect();
    if let Some(n) = limit {
        keys.truncate(n);
    }
    Ok(keys)
}

/// What a key holds, read with the command of its kind.
enum Held {
    Missing,
    String(Vec<u8>),
    Set(Vec<Vec<u8>>),
    List(Vec<Vec<u8>>),
    SortedSet(Vec<(Vec<u8>, f64)>),
    Map(Vec<(Vec<u8>, Vec<u8>)>),
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
        }
    }
}

async fn read(backend: &DynBackend, key: &str) -> Result<Held, Fatal> {
    let get = Command::Get { key };
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
        Command::SetMembers { key },
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
    ];
    for (i, command) in reads.into_iter().enumerate() {
        match backend.execute(command).await {
            Ok(Reply::Members(m)) if i == 0 => return Ok(Held::Set(m)),
            Ok(Reply::Members(m)) => return Ok(Held::List(m)),
            Ok(Reply::Scored(m)) => return Ok(Held::SortedSet(m)),
            Ok(Reply::Pairs(m)) => return Ok(Held::Map(m)),
            Ok(other) => return Err(Fatal(format!("unexpected reply for `{key}`: {other:?}"))),
            Err(Error::WrongType { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Fatal(format!(
        "`{}` holds a kind of value kvstore does not read",
        printable(key)
    )))
}

/// Bytes as pretty JSON when they are JSON, as text when they are UTF-8, else escaped.
fn shown(bytes: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return serde_json::to_string_pretty(&value).unwrap_or_default();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

/// Prints what is at `key`; with a manifest, whether it is valid. Returns whether it is (or
/// `true` without a manifest).
pub(crate) async fn get(
    backend: &DynBackend,
    key: &str,
    manifest: Option<&Manifest>,
) -> Result<bool, Fatal> {
    let held = read(backend, key).await?;
    let ttl_command = Command::Ttl { key };
    let ttl = backend.execute(ttl_command).await?.into_ttl(&ttl_command)?;
    println!("key:   {}", printable(key));
    println!("kind:  {}", held.kind());
    if matches!(held, Held::Missing) {
        println!("(no such key)");
        return Ok(false);
    }
    println!(
        "ttl:   {}",
        match ttl {
            KeyTtl::Expires(left) => format!("{:.3} s", left.as_secs_f64()),
            _ => "none".to_owned(),
        }
    );
    match &held {
        Held::String(bytes) => println!("value: {}", shown(bytes)),
        Held::Set(m) | Held::List(m) => {
            println!("value: {} members", m.len());
            for member in m {
                println!("  - {}", shown(member).replace('\n', "\n    "));
            }
        }
        Held::SortedSet(m) => {
            println!("value: {} members", m.len());
            for (member, score) in m {
                println!("  {score}  {}", shown(member).replace('\n', "\n    "));
            }
        }
        Held::Map(m) => {
            println!("value: {} fields", m.len());
            for (field, value) in m {
                println!(
                    "  {}: {}",
                    String::from_utf8_lossy(field),
                    shown(value).replace('\n', "\n    ")
                );
            }
        }
        Held::Missing => {}
    }
    let Some(manifest) = manifest else {
        return Ok(true);
    };
    let Some(pattern) = manifest.pattern_of(key) else {
        println!("valid: unknown (the key matches no pattern of the manifest)");
        return Ok(false);
    };
    let report = manifest::audit_keys(backend.clone(), manifest, &[key.to_owned()]).await?;
    let verdict = if report.valid == 1 {
        "yes".to_owned()
    } else if report.outdated == 1 {
        "outdated (an older version listed in `previous`: `migrate()` rewrites it)".to_owned()
    } else {
        let why = report
            .problems
            .first()
            .map_or_else(String::new, |p| p.message.clone());
        format!("no: {why}")
    };
    println!(
        "valid: {verdict} (pattern {}, kind {})",
        pattern.pattern, pattern.kind
    );
    Ok(report.valid + report.outdated == 1)
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
