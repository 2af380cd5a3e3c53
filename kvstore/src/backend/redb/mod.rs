//! [`RedbBackend`]: the engine over a file, with [redb](https://docs.rs/redb): an embedded,
//! persistent store with Redis's semantics and no server.

mod format;
mod group;

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTable, Table, TableDefinition, TableHandle,
};

use super::engine::{Access, Engine, Entry, Storage, StorageTxn, Stored};
use super::memory::{Clock, SystemClock};
use super::{async_trait, Backend, BackendInfo, Command, Limits, Reply};
use crate::error::{BackendErrorKind, Error, Result};
use group::GroupCommit;

pub use format::FORMAT_VERSION;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("kvstore.meta");
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("kvstore.entries");
const EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("kvstore.expiry");

/// How often the background sweep reclaims expired entries (writes reclaim some too).
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Expired entries, at most, reclaimed by one background sweep (one write transaction).
const SWEEP_BATCH: usize = 10_000;

/// A backend that keeps its data in one file, with Redis's semantics: the embedded, persistent
/// choice for CLIs, single-process services and tests that must survive a restart.
///
/// Every rule of the memory backend holds (it is the same engine over another storage): TTLs
/// (deadlines are wall-clock times, so a key that expired while the file was closed is gone when
/// it is opened again), `WRONGTYPE`, atomic steps, sets, lists, sorted sets, maps, bits. Keys
/// are listed in key order.
///
/// **Durability**: every acknowledged write is on disk (redb's `Durability::Immediate`: the
/// commit is fsynced before the call returns), so it survives a crash of the process or the
/// machine. Concurrent writers share commits (*group commit*): writes that arrive while a commit
/// is being synced are applied together in the next transaction and synced once, so many
/// writers do not each pay an fsync. Writes run on the calling thread (with
/// `tokio::task::block_in_place` on a multi-threaded runtime, so other tasks keep running).
///
/// **One process at a time**: the file is locked while open; opening it again (from another
/// process, or twice in this one) is an error that says so, never a hang.
///
/// **Format**: the file holds three tables, described with the format version (currently
/// [`FORMAT_VERSION`]) in the crate's `ARCHITECTURE.md`; a file of an unknown version, a redb
/// file of another layout, or a file that is not a redb database is refused when opened.
///
/// ```no_run
/// # fn demo() -> kvstore::Result<()> {
/// let backend = kvstore::RedbBackend::open("data.redb")?;
/// # Ok(()) }
/// ```
///
/// Also from a URL: `kvstore::connect("redb://./data.redb")`. Cloning is cheap (the clones share
/// the open file).
#[derive(Clone)]
pub struct RedbBackend {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine<RedbStorage>,
    path: PathBuf,
}

impl fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbBackend")
            .field("path", &self.inner.path)
            .field("limits", &self.inner.engine.info().limits)
            .finish()
    }
}

/// Configures and opens a [`RedbBackend`]: from [`RedbBackend::builder`].
#[must_use = "a builder does nothing until `.open()`"]
pub struct RedbBackendBuilder {
    path: PathBuf,
    clock: Box<dyn Clock>,
    limits: Limits,
    background_sweep: bool,
}

impl fmt::Debug for RedbBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbBackendBuilder")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish()
    }
}

impl RedbBackend {
    /// Opens the store in the file at `path`, creating it if it does not exist (see
    /// [`RedbBackendBuilder::open`]).
    pub fn open(path: impl AsRef<Path>) -> Result<RedbBackend> {
        Self::builder(path).open()
    }

    /// A builder to set the clock and limits before opening.
    pub fn builder(path: impl AsRef<Path>) -> RedbBackendBuilder {
        RedbBackendBuilder {
            path: path.as_ref().to_owned(),
            clock: Box::new(SystemClock),
            limits: Limits::default(),
            background_sweep: true,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl RedbBackendBuilder {
    /// The clock TTLs run on (default: the system clock). With a
    /// [`ManualClock`](crate::ManualClock), time only moves when the test says so.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The largest value accepted, in bytes (default 1 MiB).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.limits.max_value_size = bytes;
        self
    }

    /// The limits values and keys are checked against.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether a background thread reclaims expired entries every few seconds (default on;
    /// writes and opening reclaim them too, and expired entries are never visible either way).
    pub fn background_sweep(mut self, on: bool) -> Self {
        self.background_sweep = on;
        self
    }

    /// Opens the file (creating it when it does not exist), checks its format, and removes the
    /// entries that expired while it was closed.
    ///
    /// Errors (all [`Error::Backend`] naming the path): the file is open elsewhere
    /// (`Unavailable`), it is not a redb database, it is a redb database of another layout, or it
    /// was written in a format version this build does not know (`Other`).
    pub fn open(self) -> Result<RedbBackend> {
        let shown = self.path.display().to_string();
        let db = Database::create(&self.path).map_err(|e| open_error(&shown, e.into()))?;
        check_format(&db).map_err(|message| file_error(&shown, message))?;
        let storage = RedbStorage {
            db,
            group: GroupCommit::default(),
        };
        let engine = Engine::new(storage, ClockBox(self.clock), self.limits);
        engine.purge_expired()?;
        let inner = Arc::new(Inner {
            engine,
            path: self.path,
        });
        if self.background_sweep {
            sweep_in_background(Arc::downgrade(&inner));
        }
        Ok(RedbBackend { inner })
    }
}

/// A boxed clock is a clock.
struct ClockBox(Box<dyn Clock>);

impl Clock for ClockBox {
    fn now(&self) -> std::time::Instant {
        self.0.now()
    }
}

fn sweep_in_background(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("kvstore-redb-sweep".into())
        .spawn(move || loop {
            std::thread::sleep(SWEEP_EVERY);
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let now = inner.engine.now_ms();
            let _ = inner
                .engine
                .storage()
                .transaction(Access::Write, |txn| txn.purge_expired(now, SWEEP_BATCH));
        });
    // Without the thread, writes and opening still reclaim expired entries.
    drop(spawned);
}

fn file_error(path: &str, message: impl fmt::Display) -> Error {
    Error::backend(
        BackendErrorKind::Other,
        None,
        format!("cannot open the kvstore file `{path}`: {message}"),
    )
}

fn open_error(path: &str, e: ::redb::Error) -> Error {
    match e {
        ::redb::Error::DatabaseAlreadyOpen => Error::backend(
            BackendErrorKind::Unavailable,
            None,
            format!(
                "cannot open the kvstore file `{path}`: it is already open (in another process, or elsewhere in this one); one process at a time can use it"
            ),
        ),
        ::redb::Error::UpgradeRequired(version) => file_error(
            path,
            format!("it is a redb file of an older redb format ({version}): upgrade it with redb first"),
        ),
        other => file_error(path, format!("it is not a readable redb database ({other})")),
    }
}

/// Creates the tables of a new file, or checks those of an existing one.
fn check_format(db: &Database) -> std::result::Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    let tables: Vec<String> = txn
        .list_tables()
        .map_err(|e| e.to_string())?
        .map(|t| t.name().to_owned())
        .collect();
    {
        let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
        let version = meta
            .get("format")
            .map_err(|e| e.to_string())?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned());
        match version {
            None if tables.is_empty() => {
                let v = FORMAT_VERSION.to_string();
                meta.insert("format", v.as_bytes()).map_err(|e| e.to_string())?;
            }
            None => {
                return Err(format!(
                    "it is a redb database of another layout (tables {tables:?}), not a kvstore file"
                ))
            }
            Some(v) if v == FORMAT_VERSION.to_string() => {}
            Some(v) => {
                return Err(format!(
                    "it was written in kvstore file format {v:?}, which this version of kvstore (format {FORMAT_VERSION}) cannot read; use the kvstore version that wrote it"
                ))
            }
        }
    }
    txn.open_table(ENTRIES).map_err(|e| e.to_string())?;
    txn.open_table(EXPIRY).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
}

#[async_trait]
impl Backend for RedbBackend {
    fn info(&self) -> BackendInfo<'_> {
        self.inner.engine.info()
    }

    async fn execute(&self, command: Command<'_>) -> Result<Reply> {
        let engine = &self.inner.engine;
        if !command.is_write() {
            return engine.run_async(command).await;
        }
        // A write may wait for an fsync: let the runtime's other tasks move to another thread.
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_threaded && !matches!(command, Command::List { .. }) {
            tokio::task::block_in_place(|| engine.run(command))
        } else {
            engine.run_async(command).await
        }
    }

    fn execute_now(&self, command: Command<'_>) -> Option<Result<Reply>> {
        // Reads answer at once; writes go through `execute` (a write may wait for an fsync).
        if command.is_write() || command.may_wait() {
            return None;
        }
        Some(self.inner.engine.run(command))
    }
}

/// A redb error inside a transaction.
fn storage_error(e: impl Into<::redb::Error>) -> Error {
    let e: ::redb::Error = e.into();
    Error::backend(
        BackendErrorKind::Other,
        None,
        format!("the redb file failed: {e}"),
    )
}

fn corrupt(key: &str, what: &str) -> Error {
    Error::backend(
        BackendErrorKind::Other,
        Some(key),
        format!("the redb file holds a corrupt entry at key `{key}`: {what}"),
    )
}

/// The engine's [`Storage`] over a redb database.
pub(crate) struct RedbStorage {
    db: Database,
    group: GroupCommit,
}

impl Storage for RedbStorage {
    type Txn<'a> = RedbTxn<'a>;

    fn name(&self) -> &'static str {
        "redb"
    }

    fn transaction<R>(
        &self,
        access: Access,
        f: impl FnOnce(&mut RedbTxn<'_>) -> Result<R>,
    ) -> Result<R> {
        match access {
            Access::Read => {
                let txn = self.db.begin_read().map_err(storage_error)?;
                let entries = txn.open_table(ENTRIES).map_err(storage_error)?;
                let mut txn = RedbTxn {
                    tables: Tables::Read(entries),
                    cache: HashMap::new(),
                };
                f(&mut txn)
            }
            Access::Write => self.group.run(&self.db, |wtx| {
                let entries = wtx.open_table(ENTRIES).map_err(storage_error)?;
                let expiry = wtx.open_table(EXPIRY).map_err(storage_error)?;
                let mut txn = RedbTxn {
                    tables: Tables::Write(entries, expiry),
                    cache: HashMap::new(),
                };
                let result = f(&mut txn)?;
                let wrote = txn.flush()?;
                Ok((result, wrote))
            }),
        }
    }
}

enum Tables<'t> {
    Read(ReadOnlyTable<&'static str, &'static [u8]>),
    Write(
        Table<'t, &'static str, &'static [u8]>,
        Table<'t, (u64, &'static str), ()>,
    ),
}

impl Tables<'_> {
    /// The raw bytes at `key`.
    fn raw(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let guard = match self {
            Tables::Read(t) => t.get(key),
            Tables::Write(t, _) => t.get(key),
        }
        .map_err(storage_error)?;
        Ok(guard.map(|g| g.value().to_vec()))
    }

    /// The deadline stored at `key` (`None`: no entry).
    fn header(&self, key: &str) -> Result<Option<Option<u64>>> {
        let guard = match self {
            Tables::Read(t) => t.get(key),
            Tables::Write(t, _) => t.get(key),
        }
        .map_err(storage_error)?;
        match guard {
            None => Ok(None),
            Some(g) => format::deadline(g.value())
                .map(Some)
                .map_err(|what| corrupt(key, what)),
        }
    }
}

/// One key in a transaction: what the table holds and what the transaction made of it.
struct Cached {
    /// The deadline of the row in the table (`None`: no row).
    stored: Option<Option<u64>>,
    /// The entry now (`None`: removed or absent), decoded when it was read.
    current: Option<Entry>,
    /// Whether it must be written back.
    dirty: bool,
}

/// A transaction of [`RedbStorage`]: reads go to the tables, changes collect in a write-back
/// cache that is written at the end (only when the command succeeded).
pub(crate) struct RedbTxn<'t> {
    tables: Tables<'t>,
    cache: HashMap<String, Cached>,
}

impl RedbTxn<'_> {
    fn cached(&mut self, key: &str) -> Result<&mut Cached> {
        match self.cache.entry(key.to_owned()) {
            MapEntry::Occupied(slot) => Ok(slot.into_mut()),
            MapEntry::Vacant(slot) => {
                let cached = match self.tables.raw(key)? {
                    None => Cached {
                        stored: None,
                        current: None,
                        dirty: false,
                    },
                    Some(bytes) => {
                        let entry =
                            format::decode_owned(bytes).map_err(|what| corrupt(key, what))?;
                        Cached {
                            stored: Some(entry.expires_at),
                            current: Some(entry),
                            dirty: false,
                        }
                    }
                };
                Ok(slot.insert(cached))
            }
        }
    }

    /// Writes the changes back; whether anything was written.
    fn flush(self) -> Result<bool> {
        let Tables::Write(mut entries, mut expiry) = self.tables else {
            return Ok(false);
        };
        let mut wrote = false;
        for (key, cached) in self.cache {
            if !cached.dirty {
                continue;
            }
            let new_deadline = cached.current.as_ref().map(|e| e.expires_at);
            match &cached.current {
                Some(entry) => {
                    entries
                        .insert(key.as_str(), format::encode(entry).as_slice())
                        .map_err(storage_error)?;
                    wrote = true;
                }
                None if cached.stored.is_some() => {
                    entries.remove(key.as_str()).map_err(storage_error)?;
                    wrote = true;
                }
                None => {}
            }
            let old = cached.stored.flatten();
            let new = new_deadline.flatten();
            if old != new {
                if let Some(at) = old {
                    expiry.remove((at, key.as_str())).map_err(storage_error)?;
                }
                if let Some(at) = new {
                    expiry
                        .insert((at, key.as_str()), ())
                        .map_err(storage_error)?;
                }
            }
        }
        Ok(wrote)
    }
}

impl StorageTxn for RedbTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<(&mut Stored, Option<u64>)>> {
        let write = matches!(self.tables, Tables::Write(..));
        let cached = self.cached(key)?;
        // The engine may change the value in place.
        cached.dirty |= write && cached.current.is_some();
        Ok(cached
            .current
            .as_mut()
            .map(|e| (&mut e.value, e.expires_at)))
    }

    fn put(&mut self, key: &str, entry: Entry) -> Result<()> {
        match self.cache.get_mut(key) {
            Some(cached) => {
                cached.current = Some(entry);
                cached.dirty = true;
            }
            None => {
                // Only the old deadline is needed (for the expiry index), not the old value.
                let stored = self.tables.header(key)?;
                self.cache.insert(
                    key.to_owned(),
                    Cached {
                        stored,
                        current: Some(entry),
                        dirty: true,
                    },
                );
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<Option<Entry>> {
        let cached = self.cached(key)?;
        cached.dirty = true;
        Ok(cached.current.take())
    }

    fn set_expiry(&mut self, key: &str, expires_at: Option<u64>) -> Result<()> {
        let cached = self.cached(key)?;
        if let Some(entry) = &mut cached.current {
            entry.expires_at = expires_at;
            cached.dirty = true;
        }
        Ok(())
    }

    fn scan_prefix(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Option<u64>)) -> Result<()> {
        let range = match &self.tables {
            Tables::Read(t) => t.range::<&str>(prefix..),
            Tables::Write(t, _) => t.range::<&str>(prefix..),
        }
        .map_err(storage_error)?;
        let cached = !self.cache.is_empty();
        for row in range {
            let (key, value) = row.map_err(storage_error)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            // A key this transaction read or changed is reported from the cache below.
            if !cached || !self.cache.contains_key(key) {
                f(
                    key,
                    format::deadline(value.value()).map_err(|what| corrupt(key, what))?,
                );
            }
        }
        for (key, cached) in &self.cache {
            if let Some(entry) = &cached.current {
                if key.starts_with(prefix) {
                    f(key, entry.expires_at);
                }
            }
        }
        Ok(())
    }

    fn purge_expired(&mut self, now: u64, max: usize) -> Result<usize> {
        let Tables::Write(_, expiry) = &self.tables else {
            return Ok(0);
        };
        let mut due = Vec::new();
        for row in expiry
            .range::<(u64, &str)>(..(now.saturating_add(1), ""))
            .map_err(storage_error)?
            .take(max)
        {
            let (key, _) = row.map_err(storage_error)?;
            let (at, key) = key.value();
            due.push((at, key.to_owned()));
        }
        let removed = due.len();
        for (at, key) in due {
            match self.cache.get_mut(&key) {
                Some(cached) => {
                    cached.current = None;
                    cached.dirty = true;
                }
                None => {
                    self.cache.insert(
                        key,
                        Cached {
                            stored: Some(Some(at)),
                            current: None,
                            dirty: true,
                        },
                    );
                }
            }
        }
        Ok(removed)
    }
}
