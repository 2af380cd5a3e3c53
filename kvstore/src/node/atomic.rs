//! [`Atomic`]: several keys changed together, under checks, all or nothing.

use std::future::Future;
use std::time::Duration;

use super::{
    Bits, Blob, Context, Counter, Item, Leaf, ListOf, MapOf, PackedInts, SetOf, SortedSetOf,
};
use crate::backend::command::{Check, Command, SetOptions};
use crate::backend::write_ttl;
use crate::error::{Error, Result};
use crate::value::{LeafCodec, Storable};

/// Most commit rounds [`Atomic::retry`] tries before [`Error::Conflict`].
const RETRY_ATTEMPTS: u32 = 100;

/// Longest [`Atomic::retry`] keeps trying before [`Error::Conflict`].
const RETRY_DEADLINE: Duration = Duration::from_secs(15);

/// An atomic step across keys: checks on items, then writes, committed together — all of them
/// or none, and no reader ever sees part of a committed step.
///
/// ```
/// # use kvstore::{Atomic, Counter, Dynamic, Item, MemoryBackend, Store};
/// #[derive(Store)]
/// struct Bank {
///     accounts: Dynamic<Item<i64>>,
///     transfers: Counter,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let bank = Bank::open(MemoryBackend::new());
/// bank.accounts().set("a", &100).await?;
/// bank.accounts().set("b", &0).await?;
///
/// let (a, b) = (bank.accounts().at("a"), bank.accounts().at("b"));
/// let committed = Atomic::new()
///     .check(&a, Some(&100)) // commit only if `a` still holds exactly 100
///     .check(&b, Some(&0))
///     .set(&a, &70)
///     .set(&b, &30)
///     .increment(&bank.transfers(), 1)
///     .commit()
///     .await?;
/// assert!(committed);
/// assert_eq!(bank.accounts().get("b").await?, Some(30));
/// # Ok::<(), kvstore::Error>(()) }).unwrap();
/// ```
///
/// Every value is encoded and validated when it is added; an invalid value, an invalid key, or
/// handles of different backends make [`commit`](Atomic::commit) fail before anything is sent.
/// `commit` returns `false` when a check does not hold (nothing written).
///
/// Where it is atomic: the memory backend runs the step under its lock; Redis runs it as one Lua
/// script (checks, then writes; a write that fails restores every key of the step); a Redis
/// Cluster runs it on one node, so every key must hash to one slot — put them under one
/// colocated id (`#[store(colocate)]`), or `commit` fails with [`Error::CrossSlot`] before
/// anything is sent.
#[derive(Default)]
#[must_use = "an atomic step does nothing until `.commit().await`"]
pub struct Atomic {
    ctx: Option<Context>,
    checks: Vec<(String, Option<Vec<u8>>)>,
    writes: Vec<Write>,
    error: Option<Error>,
}

impl std::fmt::Debug for Atomic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atomic")
            .field("checks", &self.checks.len())
            .field("writes", &self.writes.len())
            .field("error", &self.error)
            .finish()
    }
}

/// One write of a step, owned until the commit borrows it into a [`Command`].
enum Write {
    Set {
        key: String,
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    Delete {
        keys: [String; 1],
    },
    Increment {
        key: String,
        delta: i64,
        ttl: Option<Duration>,
    },
    SetAdd {
        key: String,
        member: Vec<u8>,
        ttl: Option<Duration>,
    },
    SetRemove {
        key: String,
        member: Vec<u8>,
    },
}

impl Write {
    fn command(&self) -> Command<'_> {
        match self {
            Write::Set { key, value, ttl } => Command::Set {
                key,
                value,
                options: SetOptions {
                    ttl: *ttl,
                    ..SetOptions::default()
                },
            },
            Write::Delete { keys } => Command::Delete { keys },
            Write::Increment { key, delta, ttl } => Command::Increment {
                key,
                delta: *delta,
                ttl_if_created: *ttl,
            },
            Write::SetAdd { key, member, ttl } => Command::SetAdd {
                key,
                member,
                ttl_if_created: *ttl,
            },
            Write::SetRemove { key, member } => Command::SetRemove { key, member },
        }
    }
}

/// A handle whose key [`Atomic::remove`] can delete: any single-key handle ([`Item`], [`Counter`],
/// [`SetOf`], [`Blob`], [`ListOf`], [`SortedSetOf`], [`MapOf`], [`Bits`], [`PackedInts`]).
pub trait AtomicKey: sealed::Sealed {}

#[allow(private_interfaces)]
mod sealed {
    pub trait Sealed {
        fn leaf(&self) -> &super::Leaf;
    }
}

macro_rules! atomic_key {
    ($($handle:ident $(<$($t:ident),+>)?),*) => {$(
        #[allow(private_interfaces)]
        impl$(<$($t),+>)? sealed::Sealed for $handle$(<$($t),+>)? {
            fn leaf(&self) -> &Leaf {
                &self.leaf
            }
        }
        impl$(<$($t),+>)? AtomicKey for $handle$(<$($t),+>)? {}
    )*};
}

atomic_key!(
    Item<T>,
    Counter,
    SetOf<T>,
    Blob,
    ListOf<T>,
    SortedSetOf<T>,
    MapOf<F, V>,
    Bits,
    PackedInts<I>
);

impl Atomic {
    /// An empty step.
    pub fn new() -> Atomic {
        Atomic::default()
    }

    /// The key of `leaf`, after checking that it is usable and of this step's backend; `None`
    /// (with the error kept for `commit`) otherwise.
    fn key(&mut self, leaf: &Leaf) -> Option<String> {
        if self.error.is_some() {
            return None;
        }
        let key = match leaf.key() {
            Ok(key) => key.to_owned(),
            Err(e) => {
                self.error = Some(e);
                return None;
            }
        };
        match &self.ctx {
            None => self.ctx = Some(leaf.ctx.clone()),
            Some(ctx) if ctx.backend().instance() != leaf.ctx.backend().instance() => {
                self.error = Some(Error::MixedBackends { key });
                return None;
            }
            Some(_) => {}
        }
        Some(key)
    }

    fn encoded<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// Commits only if `item` holds exactly `expected` (compared as stored JSON), or is absent
    /// for `None`.
    pub fn check<T: Storable>(mut self, item: &Item<T>, expected: Option<&T>) -> Atomic {
        if let Some(key) = self.key(&item.leaf) {
            let max = item.leaf.max_value_size();
            let bytes = expected.map(|v| item.json.encode(&key, v, max));
            if let Some(bytes) = self.encoded(bytes.transpose()) {
                self.checks.push((key, bytes));
            }
        }
        self
    }

    /// Writes `value` to `item`, with the field's default TTL (as [`Item::set`]).
    pub fn set<T: Storable>(self, item: &Item<T>, value: &T) -> Atomic {
        let ttl = item.leaf.ttl;
        self.write_item(item, value, Ok(ttl))
    }

    /// Writes `value` to `item` with its own TTL (as [`Item::set_with_ttl`]).
    pub fn set_with_ttl<T: Storable>(self, item: &Item<T>, value: &T, ttl: Duration) -> Atomic {
        let ttl = write_ttl(&item.leaf.key, Some(ttl));
        self.write_item(item, value, ttl)
    }

    fn write_item<T: Storable>(
        mut self,
        item: &Item<T>,
        value: &T,
        ttl: Result<Option<Duration>>,
    ) -> Atomic {
        if let Some(key) = self.key(&item.leaf) {
            let max = item.leaf.max_value_size();
            let encoded = ttl.and_then(|ttl| Ok((item.json.encode(&key, value, max)?, ttl)));
            if let Some((value, ttl)) = self.encoded(encoded) {
                self.writes.push(Write::Set { key, value, ttl });
            }
        }
        self
    }

    /// Removes the key of `handle` (an item, a counter, a set or a blob).
    pub fn remove(mut self, handle: &impl AtomicKey) -> Atomic {
        if let Some(key) = self.key(sealed::Sealed::leaf(handle)) {
            self.writes.push(Write::Delete { keys: [key] });
        }
        self
    }

    /// Adds `by` to `counter` (as [`Counter::increment`]: a counter created here gets the field's
    /// TTL; an overflow fails the whole step).
    pub fn increment(mut self, counter: &Counter, by: i64) -> Atomic {
        if let Some(key) = self.key(&counter.leaf) {
            let ttl = counter.leaf.ttl;
            self.writes.push(Write::Increment {
                key,
                delta: by,
                ttl,
            });
        }
        self
    }

    /// Adds `member` to `set` (as [`SetOf::add`]).
    pub fn add<T: Storable>(mut self, set: &SetOf<T>, member: &T) -> Atomic {
        if let Some(key) = self.key(&set.leaf) {
            let max = set.leaf.max_value_size();
            if let Some(member) = self.encoded(set.json.encode(&key, member, max)) {
                let ttl = set.leaf.ttl;
                self.writes.push(Write::SetAdd { key, member, ttl });
            }
        }
        self
    }

    /// Removes `member` from `set` (as [`SetOf::remove`]).
    pub fn remove_member<T: Storable>(mut self, set: &SetOf<T>, member: &T) -> Atomic {
        if let Some(key) = self.key(&set.leaf) {
            let max = set.leaf.max_value_size();
            if let Some(member) = self.encoded(set.json.encode(&key, member, max)) {
                self.writes.push(Write::SetRemove { key, member });
            }
        }
        self
    }

    /// Sends the step: `true` when every check held and every write was applied, `false` when a
    /// check did not hold (nothing written). An error (invalid value or key, mixed backends,
    /// keys of different slots on a cluster, a write the backend refused) means nothing was
    /// written.
    pub async fn commit(self) -> Result<bool> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let Some(ctx) = self.ctx else {
            return Ok(true); // an empty step
        };
        let checks: Vec<Check<'_>> = self
            .checks
            .iter()
            .map(|(key, expected)| Check {
                key,
                expected: expected.as_deref(),
            })
            .collect();
        let writes: Vec<Command<'_>> = self.writes.iter().map(Write::command).collect();
        let command = Command::Atomic {
            checks: &checks,
            writes: &writes,
        };
        ctx.execute(command).await?.into_bool(&command)
    }

    /// The read-check-write loop: calls `step` for a step built from fresh reads (`None`: there
    /// is nothing to do, stop), commits it, and when a check did not hold (someone changed what
    /// was read) waits a little (jittered, growing) and calls `step` again. Returns whether a
    /// step was committed; [`Error::Conflict`] after 100 rounds or 15 s of lost races.
    ///
    /// ```
    /// # use kvstore::{Atomic, Dynamic, Item, MemoryBackend, Store};
    /// # #[derive(Store)]
    /// # struct Bank { accounts: Dynamic<Item<i64>> }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let bank = Bank::open(MemoryBackend::new());
    /// # bank.accounts().set("a", &100).await?;
    /// let (a, b) = (bank.accounts().at("a"), bank.accounts().at("b"));
    /// let moved = Atomic::retry(|| async {
    ///     let (from, to) = (a.get().await?, b.get().await?);
    ///     let balance = from.unwrap_or(0);
    ///     if balance < 30 {
    ///         return Ok(None); // not enough: give up, nothing written
    ///     }
    ///     Ok(Some(
    ///         Atomic::new()
    ///             .check(&a, from.as_ref())
    ///             .check(&b, to.as_ref())
    ///             .set(&a, &(balance - 30))
    ///             .set(&b, &(to.unwrap_or(0) + 30)),
    ///     ))
    /// })
    /// .await?;
    /// assert!(moved);
    /// # Ok::<(), kvstore::Error>(()) }).unwrap();
    /// ```
    pub async fn retry<F, Fut>(mut step: F) -> Result<bool>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<Atomic>>>,
    {
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        let mut first_key = String::new();
        while attempt < RETRY_ATTEMPTS && started.elapsed() < RETRY_DEADLINE {
            if attempt > 0 {
                super::item::backoff(attempt + 3).await;
            }
            attempt += 1;
            let Some(atomic) = step().await? else {
                return Ok(false);
            };
            if first_key.is_empty() {
                first_key = atomic.first_key();
            }
            if atomic.commit().await? {
                return Ok(true);
            }
        }
        Err(Error::Conflict {
            key: first_key,
            attempts: attempt,
        })
    }

    fn first_key(&self) -> String {
        self.checks
            .first()
            .map(|(key, _)| key.clone())
            .or_else(|| {
                self.writes.first().map(|w| match w {
                    Write::Set { key, .. }
                    | Write::Increment { key, .. }
                    | Write::SetAdd { key, .. }
                    | Write::SetRemove { key, .. } => key.clone(),
                    Write::Delete { keys } => keys[0].clone(),
                })
            })
            .unwrap_or_default()
    }
}
