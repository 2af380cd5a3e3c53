//! One index compared with its records — and, when repairing, made to match them. Two passes,
//! both paged: the records (each live, valid record that has a key: is its entry there?), then
//! the entries (does the record each names still have that key?). What `repair()`, a store's
//! `audit()`, the manifest audit and `kvstore repair` all run.

use super::encoding::{now_ms, parse_ordered_member, Claim};
use super::hooks::{Indexes, Keyed, Kind};
use super::many::Entry;
use super::types::IndexReport;
use super::unique;
use crate::backend::command::{Command, LexBound, SetOp, SortedSetOp};
use crate::error::{Error, Result};
use crate::layout::decode_id;
use crate::node::audit::{Run, MAX_PROBLEMS, PAGE};
use crate::node::item::ItemAt;
use crate::node::Context;
use crate::value::{Json, Migrations, Storable};

/// What a check or a repair of one index found.
#[derive(Debug, Default)]
pub(crate) struct Reconciled {
    /// `added`: entries the records need and the index missed (added when repairing);
    /// `removed`: stale entries (removed when repairing).
    pub(crate) report: IndexReport,
    /// The first record keys whose entry was missing.
    pub(crate) missing: Vec<String>,
    /// The first stale entries (a unique entry's key; `<set or sorted set> <member>`).
    pub(crate) stale: Vec<String>,
    /// The first records in conflict: the record's key, and the holder's id.
    pub(crate) conflicts: Vec<(String, String)>,
}

/// One index of `indexes` (the hook at `hook`), to check (`write: false`) or repair.
pub(crate) struct Reconcile<'a, T> {
    pub(crate) ctx: &'a Context,
    pub(crate) indexes: &'a Indexes<T>,
    pub(crate) migrations: Option<&'a Migrations<T>>,
    pub(crate) hook: usize,
    pub(crate) write: bool,
}

fn note(list: &mut Vec<String>, what: impl FnOnce() -> String) {
    if list.len() < MAX_PROBLEMS {
        list.push(what());
    }
}

impl<T: Storable> Reconcile<'_, T> {
    /// The records' reader (no indexes: it only reads).
    fn reader(&self) -> ItemAt<'_, T> {
        ItemAt {
            ctx: self.ctx,
            key: "",
            json: Json::new(),
            ttl: None,
            migrations: self.migrations,
            clone: None,
            indexes: None,
        }
    }

    /// Whether the record `id` (encoded) is live and keyed by `keyed` in this index.
    async fn has_key(&self, id: &str, keyed: &Keyed) -> Result<bool> {
        self.reader()
            .has_key(self.indexes, self.hook, id, keyed)
            .await
    }

    /// Both passes; `progress` is told the records and entries read so far.
    pub(crate) async fn run(&self, progress: &mut (dyn FnMut(u64) + Send)) -> Result<Reconciled> {
        let mut out = Reconciled::default();
        self.records(&mut out, progress).await?;
        let hook = &self.indexes.hooks[self.hook];
        match hook.kind {
            Kind::Unique | Kind::Many => {
                let prefix = format!("{}:", hook.path.as_str());
                let mut cursor = String::new();
                loop {
                    let scan = Command::Scan {
                        prefix: &prefix,
                        cursor: &cursor,
                        count: PAGE,
                    };
                    let page = self.ctx.execute(scan).await?.into_page(&scan)?;
                    let mut keys = page.keys;
                    keys.sort();
                    keys.dedup();
                    for entry in &keys {
                        let Some(tail) = entry.strip_prefix(&prefix) else {
                            continue;
                        };
                        let keyed = Keyed::Id(tail.to_owned());
                        match hook.kind {
                            Kind::Unique => self.unique_entry(entry, &keyed, &mut out).await?,
                            _ => self.set_entry(entry, &keyed, &mut out).await?,
                        }
                    }
                    progress(out.report.scanned + keys.len() as u64);
                    match page.next {
                        Some(next) => cursor = next,
                        None => break,
                    }
                }
            }
            Kind::Ordered => self.ordered_entries(&mut out).await?,
        }
        Ok(out)
    }

    /// Pass one: every live, valid record with a key, and its entry.
    async fn records(
        &self,
        out: &mut Reconciled,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<()> {
        let hook = &self.indexes.hooks[self.hook];
        let prefix = self.indexes.records.scan_prefix();
        let mut cursor = String::new();
        loop {
            let scan = Command::Scan {
                prefix: &prefix,
                cursor: &cursor,
                count: PAGE,
            };
            let page = self.ctx.execute(scan).await?.into_page(&scan)?;
            let mut keys: Vec<String> = page
                .keys
                .into_iter()
                .filter(|k| self.indexes.id_of(k).is_some())
                .collect();
            keys.sort();
            keys.dedup();
            if !keys.is_empty() {
                let get = Command::GetMany { keys: &keys };
                let values = self.ctx.execute(get).await?.into_values(&get)?;
                for (key, bytes) in keys.iter().zip(values) {
                    let Some(bytes) = bytes else { continue };
                    let at = ItemAt {
                        key,
                        ..self.reader()
                    };
                    // An invalid record is the audit's to report, not the index's.
                    let Ok(read) = at.classify(&bytes) else {
                        continue;
                    };
                    out.report.scanned += 1;
                    let Some(Ok(keyed)) = (hook.key)(&read.into_value()) else {
                        continue;
                    };
                    let Some(id) = self.indexes.id_of(key) else {
                        continue;
                    };
                    self.record(key, id, &keyed, out).await?;
                }
            }
            progress(out.report.scanned);
            match page.next {
                Some(next) => cursor = next,
                None => return Ok(()),
            }
        }
    }

    /// The record `id` at `key`, keyed by `keyed`: its entry there, added, or a conflict.
    async fn record(&self, key: &str, id: &str, keyed: &Keyed, out: &mut Reconciled) -> Result<()> {
        let hook = &self.indexes.hooks[self.hook];
        if hook.kind != Kind::Unique {
            let entry = hook.entry(id, keyed);
            let missing = if self.write {
                entry.add(self.ctx).await?
            } else {
                !entry.exists(self.ctx).await?
            };
            if missing {
                out.report.added += 1;
                note(&mut out.missing, || key.to_owned());
            }
            return Ok(());
        }
        let entry = hook.unique_entry(keyed);
        let holder = unique::holder(self.ctx, &entry).await?;
        if holder.as_ref().is_some_and(|(h, _)| h == id) {
            return Ok(());
        }
        let conflict = if self.write {
            let holds = |holder: String| async move { self.has_key(&holder, keyed).await };
            match unique::claim(self.ctx, &entry, id, holds).await {
                Ok(claimed) => {
                    unique::confirm(self.ctx, &entry, &claimed).await?;
                    None
                }
                Err(Error::Unique { holder, .. }) => Some(holder),
                Err(e) => return Err(e),
            }
        } else {
            match holder {
                Some((holder, bytes)) if self.holds(&holder, &bytes, keyed).await? => {
                    Some(decode_id(&holder).unwrap_or(holder))
                }
                _ => None,
            }
        };
        match conflict {
            Some(holder) => {
                out.report.conflicts += 1;
                if out.conflicts.len() < MAX_PROBLEMS {
                    out.conflicts.push((key.to_owned(), holder.clone()));
                }
                let id = decode_id(id).unwrap_or_else(|| id.to_owned());
                out.report.conflicting.push((id, holder));
            }
            None => {
                out.report.added += 1;
                note(&mut out.missing, || key.to_owned());
            }
        }
        Ok(())
    }

    /// Whether the claim `bytes` of `holder` holds its key: pending within its lease, or the
    /// holder's record has the key.
    async fn holds(&self, holder: &str, bytes: &[u8], keyed: &Keyed) -> Result<bool> {
        let pending = Claim::parse(bytes).is_some_and(|c| c.within_lease(now_ms()));
        Ok(pending || self.has_key(holder, keyed).await?)
    }

    /// Pass two, unique: the claim at `entry` is stale when its holder's record does not have
    /// the key (a pending claim within its lease is a writer at work: left alone).
    async fn unique_entry(&self, entry: &str, keyed: &Keyed, out: &mut Reconciled) -> Result<()> {
        let Some((holder, bytes)) = unique::holder(self.ctx, entry).await? else {
            return Ok(());
        };
        if self.holds(&holder, &bytes, keyed).await? {
            return Ok(());
        }
        out.report.removed += 1;
        note(&mut out.stale, || entry.to_owned());
        if self.write {
            unique::clean(self.ctx, entry, &bytes).await?;
        }
        Ok(())
    }

    /// Pass two, non-unique: each id in the set at `set` whose record does not have the key.
    async fn set_entry(&self, set: &str, keyed: &Keyed, out: &mut Reconciled) -> Result<()> {
        let members = Command::Set {
            key: set,
            op: SetOp::Members,
        };
        let members = self.ctx.execute(members).await?.into_members(&members)?;
        for member in members {
            let Ok(id) = String::from_utf8(member) else {
                continue;
            };
            if self.has_key(&id, keyed).await? {
                continue;
            }
            let entry = Entry::Set {
                key: set.to_owned(),
                member: id.clone(),
            };
            self.stale(entry, &id, keyed, out).await?;
        }
        Ok(())
    }

    /// A stale non-unique entry: counted, and removed when repairing (then the record re-read:
    /// a writer that gave it the key meanwhile gets its entry back).
    async fn stale(
        &self,
        entry: Entry,
        id: &str,
        keyed: &Keyed,
        out: &mut Reconciled,
    ) -> Result<()> {
        out.report.removed += 1;
        let (Entry::Set { key, member } | Entry::Ordered { key, member }) = &entry;
        note(&mut out.stale, || format!("{key} {member}"));
        if self.write {
            entry
                .remove_stale(self.ctx, self.has_key(id, keyed))
                .await?;
        }
        Ok(())
    }

    /// Pass two, ordered: each member of the sorted set whose record does not have its score.
    async fn ordered_entries(&self, out: &mut Reconciled) -> Result<()> {
        let hook = &self.indexes.hooks[self.hook];
        let key = hook.path.as_str();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let range = Command::SortedSet {
                key,
                op: SortedSetOp::RangeByLex {
                    min: after.as_deref().map_or(LexBound::Min, LexBound::Excluded),
                    max: LexBound::Max,
                    rev: false,
                    limit: Some(PAGE),
                },
            };
            let page = self.ctx.execute(range).await?.into_members(&range)?;
            let len = page.len();
            after = page.last().cloned();
            for member in page {
                let Ok(member) = String::from_utf8(member) else {
                    continue;
                };
                let Some((score, _)) = parse_ordered_member::<String>(&member) else {
                    continue;
                };
                // The encoded id, as the member holds it.
                let id = member[17..].to_owned();
                let keyed = Keyed::Score(score);
                if self.has_key(&id, &keyed).await? {
                    continue;
                }
                let entry = Entry::Ordered {
                    key: key.to_owned(),
                    member,
                };
                self.stale(entry, &id, &keyed, out).await?;
            }
            if len < PAGE {
                return Ok(());
            }
        }
    }
}

impl<T: Storable> Indexes<T> {
    /// Checks every index against the records (nothing written), into the audit `run`.
    pub(crate) async fn audit(
        &self,
        ctx: &Context,
        migrations: Option<&Migrations<T>>,
        run: &mut Run<'_>,
    ) -> Result<()> {
        for (hook, h) in self.hooks.iter().enumerate() {
            let check = Reconcile {
                ctx,
                indexes: self,
                migrations,
                hook,
                write: false,
            };
            let found = check.run(&mut |_| {}).await?;
            run.index(h.path.as_str(), found);
        }
        Ok(())
    }
}
