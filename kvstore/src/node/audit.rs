//! `audit()` and `migrate()`: every stored value under a handle or a store, checked (and, for
//! `migrate`, rewritten in the current shape), in batches, never stopping at a bad key.
//!
//! One walk serves both: each node checks the keys of its own layout (a `Dynamic` scans its
//! keyspace page by page and checks a page of leaf keys with one `MGET`), and records each key's
//! verdict in a [`Run`]. The entry point (the handle or store `audit()` was called on) also
//! reports the keys under it that fit no pattern of its layout.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use super::{Context, Node};
use crate::backend::command::{
    Command, KeyOp, ListOp, MapOp, Reply, SetOp, SortedSetOp, StreamId, StreamOp, StringOp, Swap,
};
use crate::error::{Error, Result};
use crate::layout::SEPARATOR;
use crate::node::index::reconcile::Reconciled;

/// A boxed future, as the walk's recursive methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How many keys one page of a scan looks at (and one `MGET` reads).
pub(crate) const PAGE: usize = 500;

/// Most problems a report lists one by one (the counts are always complete).
pub const MAX_PROBLEMS: usize = 100;

/// What [`audit`](crate::Dynamic::audit) found under a store or a handle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditReport {
    /// Values read and checked (`valid + outdated + invalid + wrong_type`).
    pub checked: u64,
    /// Values of the current type.
    pub valid: u64,
    /// Values of an older version listed in `migrate_from`: `migrate()` would rewrite them.
    pub outdated: u64,
    /// Values that fit no version (or break a constraint of the current type).
    pub invalid: u64,
    /// Keys holding another kind of value (a set where an item belongs, ...).
    pub wrong_type: u64,
    /// Keys under the audited prefix that match no pattern of the layout.
    pub unknown: u64,
    /// Secondary-index entries missing: live, valid records that an index does not list under
    /// their key (lookups miss them; `repair()` adds them).
    pub missing_entries: u64,
    /// Secondary-index entries whose record is gone or no longer has their key (harmless:
    /// lookups skip and clean them; `repair()` removes them).
    pub stale_entries: u64,
    /// Unique keys that two live records have (`repair()` reports them; resolve them by
    /// changing one of the records).
    pub index_conflicts: u64,
    /// The counts per key pattern (`app:profiles:*`), in pattern order.
    pub patterns: Vec<PatternReport>,
    /// The offending keys with what is wrong, at most [`MAX_PROBLEMS`].
    pub problems: Vec<Problem>,
}

/// The counts of one key pattern in an [`AuditReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatternReport {
    /// The key pattern, as in the manifest (`*` for each id).
    pub pattern: String,
    /// Values checked.
    pub checked: u64,
    /// Values of the current type.
    pub valid: u64,
    /// Values of an older version.
    pub outdated: u64,
    /// Values that fit no version.
    pub invalid: u64,
    /// Keys holding another kind of value.
    pub wrong_type: u64,
}

/// One offending key in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The full key.
    pub key: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, in words (the error's message).
    pub message: String,
    /// Where in the value, for a value that breaks its schema: the JSON pointer of the first
    /// issue (`""`: the value itself).
    pub pointer: Option<String>,
}

/// The kinds of [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The value fits no version of its type.
    Invalid,
    /// The key holds another kind of value.
    WrongType,
    /// The key matches no pattern of the layout.
    Unknown,
    /// `migrate` could not write the value back.
    WriteFailed,
    /// A record that an index misses (the key is the record's).
    MissingEntry,
    /// An index entry whose record is gone or no longer has its key (the key is the entry's).
    StaleEntry,
    /// A record whose unique key another live record has (the key is the record's).
    IndexConflict,
}

/// What [`migrate`](crate::Dynamic::migrate) did under a store or a handle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Values read.
    pub scanned: u64,
    /// Values of an older version rewritten in the current shape.
    pub migrated: u64,
    /// Values of an older version that changed while being migrated (someone wrote a newer
    /// value): left as they are now.
    pub skipped: u64,
    /// Values that could not be migrated: they fit no version, the key holds another kind of
    /// value, or the write failed (see `problems`).
    pub failed: u64,
    /// What failed, at most [`MAX_PROBLEMS`].
    pub problems: Vec<Problem>,
}

/// Where an audit or a migration is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Keys looked at so far.
    pub scanned: u64,
}

/// A kind of container, as an audit reads it: whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// `SMEMBERS`.
    Set,
    /// `LRANGE 0 -1`.
    List,
    /// `ZRANGE 0 -1 WITHSCORES`.
    SortedSet,
    /// `HGETALL`.
    Map,
    /// `XRANGE - +`.
    Stream,
}

impl Container {
    /// The command that reads the whole container at `key`.
    pub(crate) fn read(self, key: &str) -> Command<'_> {
        match self {
            Container::Set => Command::Set {
                key,
                op: SetOp::Members,
            },
            Container::List => Command::List {
                key,
                op: ListOp::Range { start: 0, stop: -1 },
            },
            Container::SortedSet => Command::SortedSet {
                key,
                op: SortedSetOp::Range {
                    start: 0,
                    stop: -1,
                    rev: false,
                },
            },
            Container::Map => Command::Map {
                key,
                op: MapOp::Entries,
            },
            Container::Stream => Command::Stream {
                key,
                op: StreamOp::Range {
                    start: StreamId::MIN,
                    end: StreamId::MAX,
                    count: usize::MAX,
                    rev: false,
                },
            },
        }
    }
}

/// The members of a container's reply (with their field, for a map).
fn members(reply: &Reply) -> Vec<(Option<&[u8]>, &[u8])> {
    match reply {
        Reply::Members(m) => m.iter().map(|v| (None, v.as_slice())).collect(),
        Reply::Scored(m) => m.iter().map(|(v, _)| (None, v.as_slice())).collect(),
        Reply::Pairs(m) => m
            .iter()
            .map(|(f, v)| (Some(f.as_slice()), v.as_slice()))
            .collect(),
        Reply::Entries(m) => m.iter().map(|(_, v)| (None, v.as_slice())).collect(),
        _ => Vec::new(),
    }
}

/// The verdict on one stored value, as [`judge`](crate::value::judge) gave it.
pub(crate) enum Verdict {
    /// Of the current type.
    Valid,
    /// Of an older version; `encoded`: the value in the current shape, to write back, when the
    /// verdict came with a conversion (a typed field's; not a manifest's schemas, which have
    /// none, nor a container, which is not rewritten).
    Outdated { encoded: Option<Vec<u8>> },
    /// Fits no version (the error says why).
    Invalid(Error),
}

/// How a migration writes an outdated value back when a compare-and-swap of its bytes is not
/// enough (a record with indexes: through the index protocol). `Ok(false)`: the value changed
/// meanwhile (skipped).
pub(crate) trait WriteBack: Send + Sync {
    fn write_back<'a>(&'a self, key: &'a str, stored: &'a [u8]) -> BoxFuture<'a, Result<bool>>;
}

/// One audit or migration in progress.
pub struct Run<'p> {
    migrate: bool,
    segments: Vec<String>,
    depth: usize,
    audit: AuditReport,
    patterns: BTreeMap<String, PatternReport>,
    migration: MigrationReport,
    scanned: u64,
    progress: &'p mut (dyn FnMut(&Progress) + Send),
}

impl fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("migrate", &self.migrate)
            .field("pattern", &self.pattern())
            .field("scanned", &self.scanned)
            .finish()
    }
}

impl<'p> Run<'p> {
    /// A run rooted at the key or path `root`.
    pub(crate) fn new(
        root: &str,
        migrate: bool,
        progress: &'p mut (dyn FnMut(&Progress) + Send),
    ) -> Run<'p> {
        Run {
            migrate,
            segments: (!root.is_empty())
                .then(|| root.to_owned())
                .into_iter()
                .collect(),
            depth: 0,
            audit: AuditReport::default(),
            patterns: BTreeMap::new(),
            migration: MigrationReport::default(),
            scanned: 0,
            progress,
        }
    }

    /// Enters a static segment (a field) or an id pattern (`*`, `{*}`).
    pub fn push(&mut self, segment: &str) {
        self.segments.push(segment.to_owned());
        self.depth += 1;
    }

    /// Leaves what [`Run::push`] entered.
    pub fn pop(&mut self) {
        self.segments.pop();
        self.depth -= 1;
    }

    /// Counts what follows under `pattern` (a whole pattern, for an audit driven by a
    /// manifest rather than by a walk of the nodes).
    pub(crate) fn at_pattern(&mut self, pattern: &str) {
        self.segments = vec![pattern.to_owned()];
        self.depth = 1;
    }

    /// Whether the node walking now is the one the audit was called on.
    pub(crate) fn at_entry(&self) -> bool {
        self.depth == 0
    }

    fn pattern(&self) -> String {
        self.segments.join(":")
    }

    fn problem(list: &mut Vec<Problem>, key: &str, kind: ProblemKind, message: String) {
        Self::problem_at(list, key, kind, message, None);
    }

    fn problem_at(
        list: &mut Vec<Problem>,
        key: &str,
        kind: ProblemKind,
        message: String,
        pointer: Option<String>,
    ) {
        if list.len() < MAX_PROBLEMS {
            list.push(Problem {
                key: key.to_owned(),
                kind,
                message,
                pointer,
            });
        }
    }

    /// Counts keys looked at and reports progress.
    pub(crate) fn scanned(&mut self, keys: usize) {
        self.scanned += keys as u64;
        (self.progress)(&Progress {
            scanned: self.scanned,
        });
    }

    /// Records a key under the audited prefix that fits no pattern.
    pub(crate) fn unknown(&mut self, key: &str) {
        self.audit.unknown += 1;
        Self::problem(
            &mut self.audit.problems,
            key,
            ProblemKind::Unknown,
            "matches no key pattern of this layout".to_owned(),
        );
    }

    fn counts(&mut self) -> &mut PatternReport {
        let pattern = self.pattern();
        self.patterns
            .entry(pattern.clone())
            .or_insert_with(|| PatternReport {
                pattern,
                ..PatternReport::default()
            })
    }

    /// Records a key of another kind.
    pub(crate) fn wrong_type(&mut self, key: &str) {
        self.audit.checked += 1;
        self.audit.wrong_type += 1;
        self.migration.scanned += 1;
        self.migration.failed += 1;
        let counts = self.counts();
        counts.checked += 1;
        counts.wrong_type += 1;
        let message = Error::WrongType {
            key: key.to_owned(),
        }
        .to_string();
        Self::problem(
            &mut self.audit.problems,
            key,
            ProblemKind::WrongType,
            message.clone(),
        );
        Self::problem(
            &mut self.migration.problems,
            key,
            ProblemKind::WrongType,
            message,
        );
    }

    /// Records the verdict on the value `bytes` at `key`; when migrating, writes an outdated
    /// value back (compare-and-swap against `bytes`, keeping the TTL).
    pub(crate) async fn verdict(
        &mut self,
        ctx: &Context,
        key: &str,
        bytes: &[u8],
        verdict: Verdict,
        write_back: Option<&dyn WriteBack>,
    ) -> Result<()> {
        self.audit.checked += 1;
        self.migration.scanned += 1;
        self.counts().checked += 1;
        match verdict {
            Verdict::Valid => {
                self.audit.valid += 1;
                self.counts().valid += 1;
            }
            Verdict::Invalid(error) => {
                self.audit.invalid += 1;
                self.migration.failed += 1;
                self.counts().invalid += 1;
                let message = error.to_string();
                let pointer = match &error {
                    Error::Validation { issues, .. } => issues.first().map(|i| i.path.clone()),
                    _ => None,
                };
                Self::problem_at(
                    &mut self.audit.problems,
                    key,
                    ProblemKind::Invalid,
                    message.clone(),
                    pointer.clone(),
                );
                Self::problem_at(
                    &mut self.migration.problems,
                    key,
                    ProblemKind::Invalid,
                    message,
                    pointer,
                );
            }
            Verdict::Outdated { encoded } => {
                self.audit.outdated += 1;
                self.counts().outdated += 1;
                if self.migrate {
                    let Some(encoded) = encoded else {
                        // Nothing to write back: no conversion came with the verdict.
                        self.migration.failed += 1;
                        Self::problem(
                            &mut self.migration.problems,
                            key,
                            ProblemKind::WriteFailed,
                            "an older version, but no conversion to write back".to_owned(),
                        );
                        return Ok(());
                    };
                    let written = match write_back {
                        Some(write_back) => write_back.write_back(key, bytes).await,
                        None => {
                            let swap = Command::Str {
                                key,
                                op: StringOp::CompareAndSwap {
                                    expected: Some(bytes),
                                    new: Some(&encoded),
                                    ttl_if_created: None,
                                },
                            };
                            ctx.execute(swap)
                                .await
                                .and_then(|r| r.into_swap(&swap))
                                .map(|swap| swap == Swap::Done)
                        }
                    };
                    match written {
                        Ok(true) => {
                            self.migration.migrated += 1;
                            ctx.migrated(key);
                        }
                        Ok(false) => self.migration.skipped += 1,
                        // The backend is down: stop (a later run picks up where this one was).
                        Err(Error::Backend(e)) if e.is_transient() => {
                            return Err(Error::Backend(e))
                        }
                        Err(e) => {
                            self.migration.failed += 1;
                            Self::problem(
                                &mut self.migration.problems,
                                key,
                                ProblemKind::WriteFailed,
                                e.to_string(),
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the string values at `keys` (one `MGET`): a missing value that still exists is
    /// of another kind; `check` gives the verdict on the others.
    pub(crate) async fn check_strings(
        &mut self,
        ctx: &Context,
        keys: &[String],
        check: impl Fn(&str, &[u8]) -> Verdict,
    ) -> Result<()> {
        self.check_strings_with(ctx, keys, check, None).await
    }

    /// [`check_strings`](Self::check_strings), writing outdated values back with `write_back`
    /// (when given) instead of a compare-and-swap of the bytes.
    pub(crate) async fn check_strings_with(
        &mut self,
        ctx: &Context,
        keys: &[String],
        check: impl Fn(&str, &[u8]) -> Verdict,
        write_back: Option<&dyn WriteBack>,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let command = Command::GetMany { keys };
        let values = ctx.execute(command).await?.into_values(&command)?;
        for (key, value) in keys.iter().zip(values) {
            match value {
                Some(bytes) => {
                    let verdict = check(key, &bytes);
                    self.verdict(ctx, key, &bytes, verdict, write_back).await?;
                }
                None => {
                    // `MGET` reads a key of another kind as nil; an expired key is just gone.
                    let exists = Command::Key {
                        key,
                        op: KeyOp::Exists,
                    };
                    if ctx.execute(exists).await?.into_bool(&exists)? {
                        self.wrong_type(key);
                    }
                }
            }
        }
        self.scanned(keys.len());
        Ok(())
    }

    /// Checks the containers at `keys`, each read whole: `verdict` judges each member (with
    /// its field, for a map); a container is invalid at its first invalid member, outdated when
    /// a member is, valid otherwise. A container that is gone (expired or removed since the
    /// scan) is skipped; a key of another kind is counted as such.
    pub(crate) async fn check_members(
        &mut self,
        ctx: &Context,
        keys: &[String],
        container: Container,
        verdict: impl Fn(&str, Option<&[u8]>, &[u8]) -> Verdict,
    ) -> Result<()> {
        for key in keys {
            let command = container.read(key);
            let reply = match ctx.execute(command).await {
                Ok(reply) => reply,
                Err(Error::WrongType { .. }) => {
                    self.wrong_type(key);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let members = members(&reply);
            if members.is_empty() {
                continue;
            }
            let mut outdated = false;
            let mut invalid = None;
            for (field, value) in members {
                match verdict(key, field, value) {
                    Verdict::Valid => {}
                    Verdict::Outdated { .. } => outdated = true,
                    Verdict::Invalid(e) => {
                        invalid = Some(e);
                        break;
                    }
                }
            }
            let verdict = match invalid {
                Some(e) => Verdict::Invalid(e),
                None if outdated => Verdict::Outdated { encoded: None },
                None => Verdict::Valid,
            };
            self.verdict(ctx, key, &[], verdict, None).await?;
        }
        self.scanned(keys.len());
        Ok(())
    }

    /// Checks the containers at `keys` whose members are all JSON values of `T` (sets, lists,
    /// sorted sets).
    pub(crate) async fn check_json_members<T: crate::value::Storable>(
        &mut self,
        ctx: &Context,
        keys: &[String],
        container: Container,
    ) -> Result<()> {
        use crate::value::LeafCodec;
        let json = crate::value::Json::<T>::new();
        self.check_members(ctx, keys, container, |key, _, member| {
            json.decode(key, member)
                .map_or_else(Verdict::Invalid, |_| Verdict::Valid)
        })
        .await
    }

    /// The audit report.
    /// Records what a check of the index at `index` found.
    pub(crate) fn index(&mut self, index: &str, found: Reconciled) {
        let report = found.report;
        self.audit.missing_entries += report.added;
        self.audit.stale_entries += report.removed;
        self.audit.index_conflicts += report.conflicts;
        for key in found.missing {
            let message =
                format!("the index `{index}` does not list this record: run its repair()");
            Self::problem(
                &mut self.audit.problems,
                &key,
                ProblemKind::MissingEntry,
                message,
            );
        }
        for key in found.stale {
            let message = format!(
                "an entry of the index `{index}` whose record is gone or no longer has its key \
                 (lookups skip it; repair() removes it)"
            );
            Self::problem(
                &mut self.audit.problems,
                &key,
                ProblemKind::StaleEntry,
                message,
            );
        }
        for (key, holder) in found.conflicts {
            let message = format!(
                "this record has a unique key of the index `{index}` that the record `{holder}` \
                 holds: change one of the two"
            );
            Self::problem(
                &mut self.audit.problems,
                &key,
                ProblemKind::IndexConflict,
                message,
            );
        }
    }

    /// Whether this run migrates (an audit only reads).
    pub(crate) fn migrating(&self) -> bool {
        self.migrate
    }

    pub(crate) fn into_audit(mut self) -> AuditReport {
        self.audit.patterns = std::mem::take(&mut self.patterns).into_values().collect();
        self.audit
    }

    /// The migration report.
    pub(crate) fn into_migration(self) -> MigrationReport {
        self.migration
    }
}

/// Walks `node` (the entry point) in `run`. For a store, first reports the keys under its root
/// that fit no pattern of its layout (a `Dynamic` does that itself, as it walks).
async fn walk<S: Node>(node: &S, run: &mut Run<'_>, store: bool) -> Result<()> {
    let Some((ctx, root)) = node.__location() else {
        return Ok(());
    };
    if store {
        let prefix = if root.is_empty() {
            String::new()
        } else {
            format!("{root}{SEPARATOR}")
        };
        let mut cursor = String::new();
        loop {
            let command = Command::Scan {
                prefix: &prefix,
                cursor: &cursor,
                count: PAGE,
            };
            let page = ctx.execute(command).await?.into_page(&command)?;
            for key in &page.keys {
                if !S::__owns(Some(&key[prefix.len()..])) {
                    run.unknown(key);
                }
            }
            run.scanned(page.keys.len());
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
    }
    node.__audit(run).await
}

/// The root key or path of `node`, where its report's patterns start.
fn root<S: Node>(node: &S) -> String {
    node.__location().map(|(_, root)| root).unwrap_or_default()
}

/// `audit()` on `node` (`store`: a `#[derive(Store)]` struct).
pub async fn audit<S: Node>(
    node: &S,
    store: bool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<AuditReport> {
    let mut run = Run::new(&root(node), false, progress);
    walk(node, &mut run, store).await?;
    Ok(run.into_audit())
}

/// `migrate()` on `node` (`store`: a `#[derive(Store)]` struct).
pub async fn migrate<S: Node>(
    node: &S,
    store: bool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<MigrationReport> {
    let mut run = Run::new(&root(node), true, progress);
    walk(node, &mut run, store).await?;
    Ok(run.into_migration())
}

impl fmt::Display for AuditReport {
    /// A per-pattern table, then the totals and the problems.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .patterns
            .iter()
            .map(|p| p.pattern.len())
            .chain(["pattern".len(), "(unknown keys)".len()])
            .max()
            .unwrap_or(7);
        writeln!(
            f,
            "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>10}",
            "pattern", "checked", "valid", "outdated", "invalid", "wrong type"
        )?;
        for p in &self.patterns {
            writeln!(
                f,
                "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>10}",
                p.pattern, p.checked, p.valid, p.outdated, p.invalid, p.wrong_type
            )?;
        }
        writeln!(f, "{:<width$}  {:>8}", "(unknown keys)", self.unknown)?;
        writeln!(
            f,
            "total: {} checked, {} valid, {} outdated, {} invalid, {} wrong type, {} unknown",
            self.checked, self.valid, self.outdated, self.invalid, self.wrong_type, self.unknown
        )?;
        if self.missing_entries + self.stale_entries + self.index_conflicts > 0 {
            writeln!(
                f,
                "indexes: {} missing entries, {} stale entries, {} unique-key conflicts",
                self.missing_entries, self.stale_entries, self.index_conflicts
            )?;
        }
        for p in &self.problems {
            writeln!(f, "  {:?} {}: {}", p.kind, p.key, p.message)?;
        }
        Ok(())
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} scanned, {} migrated, {} skipped (changed meanwhile), {} failed",
            self.scanned, self.migrated, self.skipped, self.failed
        )?;
        for p in &self.problems {
            writeln!(f, "  {:?} {}: {}", p.kind, p.key, p.message)?;
        }
        Ok(())
    }
}
