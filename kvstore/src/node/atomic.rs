//! [`Atomic`]: several keys changed together, under checks, all or nothing.

use std::future::Future;
use std::time::Duration;

use super::bits::check_len;
use super::index::step::{self, StepRecord, StepWrite};
use super::map::encode_field;
use super::{
    Bits, Blob, Context, Counter, Item, Leaf, ListOf, MapOf, PackedInt, PackedInts, SetOf,
    SortedSetOf, Versioned,
};
use crate::backend::command::{
    BitsOp, Check, Command, End, ListOp, MapOp, SetOp, SetOptions, SortedSetOp, StringOp,
};
use crate::backend::write_ttl;
use crate::error::{not_a_number, Error, Result};
use crate::layout::{Id, IntoId};
use crate::value::{Json, LeafCodec, Storable};

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
/// Checks: [`check_unchanged`](Atomic::check_unchanged) (the key still holds the bytes a
/// [`get_versioned`](Item::get_versioned) read — the check for a read-check-write) and
/// [`check`](Atomic::check) (the key holds the canonical encoding of a value). Writes: items
/// (`set`, `set_with_ttl`), counters (`increment`), sets (`add`, `remove_member`), lists
/// (`push_back`, `push_front`), sorted sets (`add_scored`, `increment_score`, `remove_member`),
/// maps (`set_field`, `remove_field`, `increment_field`), bits (`set_bit`), packed integers
/// (`set_slot`, `increment_slot`), and [`remove`](Atomic::remove) of any single-key handle's
/// key.
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
///
/// A record that secondary indexes are kept for (a `Dynamic<Item<T>>` with an
/// [`index`](crate::guide::indexes)) is written and removed by a step as by `set` and `remove`:
/// its unique keys are claimed before the commit (a key another record holds fails the step with
/// [`Error::Unique`] before anything is sent), its entries are settled after it; a step that is
/// not committed puts its claims back. The index entries are not part of the step's keys.
#[derive(Default)]
#[must_use = "an atomic step does nothing until `.commit().await`"]
pub struct Atomic {
    ctx: Option<Context>,
    checks: Vec<(String, Option<Vec<u8>>)>,
    writes: Vec<Write>,
    /// The records of the step that indexes are kept for (claimed before the commit).
    indexed: Vec<Box<dyn StepRecord>>,
    error: Option<Error>,
}

impl std::fmt::Debug for Atomic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atomic")
            .field("checks", &self.checks.len())
            .field("writes", &self.writes.len())
            .field("indexed", &self.indexed.len())
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
    Push {
        key: String,
        end: End,
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    Scored {
        key: String,
        member: Vec<u8>,
        op: ScoreWrite,
        ttl: Option<Duration>,
    },
    Field {
        key: String,
        field: String,
        op: FieldWrite,
        ttl: Option<Duration>,
    },
    Bits {
        key: String,
        op: BitsOp,
    },
}

/// What a step does to a sorted-set member.
enum ScoreWrite {
    Add(f64),
    Increment(f64),
    Remove,
}

/// What a step does to a map field.
enum FieldWrite {
    Set(Vec<u8>),
    Remove,
    Increment(i64),
}

impl Write {
    fn command(&self) -> Command<'_> {
        match self {
            Write::Set { key, value, ttl } => Command::Str {
                key,
                op: StringOp::Set {
                    value,
                    options: SetOptions {
                        ttl: *ttl,
                        ..SetOptions::default()
                    },
                },
            },
            Write::Delete { keys } => Command::Delete { keys },
            Write::Increment { key, delta, ttl } => Command::Str {
                key,
                op: StringOp::Increment {
                    delta: *delta,
                    ttl_if_created: *ttl,
                },
            },
            Write::SetAdd { key, member, ttl } => Command::Set {
                key,
                op: SetOp::Add {
                    member,
                    ttl_if_created: *ttl,
                },
            },
            Write::SetRemove { key, member } => Command::Set {
                key,
                op: SetOp::Remove { member },
            },
            Write::Push {
                key,
                end,
                value,
                ttl,
            } => Command::List {
                key,
                op: ListOp::Push {
                    end: *end,
                    value,
                    ttl_if_created: *ttl,
                },
            },
            Write::Scored {
                key,
                member,
                op,
                ttl,
            } => Command::SortedSet {
                key,
                op: match *op {
                    ScoreWrite::Add(score) => SortedSetOp::Add {
                        member,
                        score,
                        ttl_if_created: *ttl,
                    },
                    ScoreWrite::Increment(by) => SortedSetOp::Increment {
                        member,
                        by,
                        ttl_if_created: *ttl,
                    },
                    ScoreWrite::Remove => SortedSetOp::Remove { member },
                },
            },
            Write::Field {
                key,
                field,
                op,
                ttl,
            } => Command::Map {
                key,
                op: match op {
                    FieldWrite::Set(value) => MapOp::Set {
                        field,
                        value,
                        only_if_absent: false,
                        ttl_if_created: *ttl,
                    },
                    FieldWrite::Remove => MapOp::Remove { field },
                    FieldWrite::Increment(delta) => MapOp::Increment {
                        field,
                        delta: *delta,
                        ttl_if_created: *ttl,
                    },
                },
            },
            Write::Bits { key, op } => Command::Bits { key, op: *op },
        }
    }

    fn key(&self) -> &str {
        match self {
            Write::Set { key, .. }
            | Write::Increment { key, .. }
            | Write::SetAdd { key, .. }
            | Write::SetRemove { key, .. }
            | Write::Push { key, .. }
            | Write::Scored { key, .. }
            | Write::Field { key, .. }
            | Write::Bits { key, .. } => key,
            Write::Delete { keys } => &keys[0],
        }
    }
}

/// A handle whose key [`Atomic::remove`] can delete, whatever its kind: any single-key handle
/// ([`Item`], [`Counter`], [`SetOf`], [`Blob`], [`ListOf`], [`SortedSetOf`], [`MapOf`], [`Bits`],
/// [`PackedInts`]).
pub trait AtomicKey: sealed::Sealed {}

#[allow(private_interfaces)]
mod sealed {
    pub trait Sealed {
        fn leaf(&self) -> &super::Leaf;
        /// What a removal of the handle's key does to indexes (a record's: its entries).
        fn removal(&self) -> Option<Box<dyn super::StepRecord>> {
            None
        }
    }

    pub trait Members<T>: Sealed {
        fn codec(&self) -> super::Json<T>;
        fn remove(key: String, member: Vec<u8>) -> super::Write;
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

#[allow(private_interfaces)]
impl<T: Storable> sealed::Sealed for Item<T> {
    fn leaf(&self) -> &Leaf {
        &self.leaf
    }

    fn removal(&self) -> Option<Box<dyn StepRecord>> {
        StepWrite::removal(self)
    }
}
impl<T: Storable> AtomicKey for Item<T> {}

atomic_key!(
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
            Some(ctx) if ctx.backend().info().instance != leaf.ctx.backend().info().instance => {
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

    /// Commits only if `item` holds exactly the canonical encoding of `expected` (the bytes
    /// [`Item::set`] would write: serde_json's compact text of the value), or is absent for
    /// `None`.
    ///
    /// It compares bytes, not values: a value written by another program in another form
    /// (`{"coins": 100}` with a space, fields in another order) or stored in an older version's
    /// shape never matches, so a read-check-write loop over such a value ends in
    /// [`Error::Conflict`]. To check that a key is unchanged since you read it, read it with
    /// [`Item::get_versioned`] and use [`check_unchanged`](Atomic::check_unchanged).
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

    /// Commits only if `item` still holds exactly the bytes it held when `read` was read with
    /// [`Item::get_versioned`] (or [`Dynamic::get_versioned`](crate::Dynamic::get_versioned)),
    /// or, for `&None`, only if it is still absent.
    ///
    /// Whatever form the stored value has (written by another program, of an older version read
    /// with write-back off), the check holds as long as the key holds those exact bytes — so
    /// when nobody wrote it in between (a write of the very same bytes is not told apart). It
    /// compares bytes only: pass the version read from this same `item`.
    pub fn check_unchanged<T: Storable>(
        mut self,
        item: &Item<T>,
        read: &Option<Versioned<T>>,
    ) -> Atomic {
        if let Some(key) = self.key(&item.leaf) {
            let stored = read.as_ref().map(|v| v.stored.to_vec());
            self.checks.push((key, stored));
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
            let indexed = encoded
                .as_ref()
                .map_or(Ok(None), |(bytes, _)| StepWrite::write(item, value, bytes));
            if let (Some((value, ttl)), Some(indexed)) =
                (self.encoded(encoded), self.encoded(indexed))
            {
                self.indexed.extend(indexed);
                self.writes.push(Write::Set { key, value, ttl });
            }
        }
        self
    }

    /// Removes the key of `handle`, whatever its kind: any single-key handle (see
    /// [`AtomicKey`]). To remove one member of a set, use
    /// [`remove_member`](Atomic::remove_member).
    pub fn remove(mut self, handle: &impl AtomicKey) -> Atomic {
        if let Some(key) = self.key(sealed::Sealed::leaf(handle)) {
            self.indexed.extend(sealed::Sealed::removal(handle));
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

    /// Removes `member` from `set`, a [`SetOf`] or a [`SortedSetOf`] (as [`SetOf::remove`] and
    /// [`SortedSetOf::remove`]).
    pub fn remove_member<T: Storable, S: MemberSet<T>>(mut self, set: &S, member: &T) -> Atomic {
        let leaf = sealed::Sealed::leaf(set);
        if let Some(key) = self.key(leaf) {
            let max = leaf.max_value_size();
            let codec = sealed::Members::codec(set);
            if let Some(member) = self.encoded(codec.encode(&key, member, max)) {
                self.writes.push(S::remove(key, member));
            }
        }
        self
    }

    /// Appends `value` to `list` (as [`ListOf::push_back`]: a list created here gets the
    /// field's TTL).
    pub fn push_back<T: Storable>(self, list: &ListOf<T>, value: &T) -> Atomic {
        self.push(list, End::Back, value)
    }

    /// Prepends `value` to `list` (as [`ListOf::push_front`]).
    pub fn push_front<T: Storable>(self, list: &ListOf<T>, value: &T) -> Atomic {
        self.push(list, End::Front, value)
    }

    fn push<T: Storable>(mut self, list: &ListOf<T>, end: End, value: &T) -> Atomic {
        if let Some(key) = self.key(&list.leaf) {
            let max = list.leaf.max_value_size();
            if let Some(value) = self.encoded(list.json.encode(&key, value, max)) {
                let ttl = list.leaf.ttl;
                self.writes.push(Write::Push {
                    key,
                    end,
                    value,
                    ttl,
                });
            }
        }
        self
    }

    /// Adds `member` to `set` with `score`, or updates its score (as [`SortedSetOf::add`]; a
    /// NaN score fails the step).
    pub fn add_scored<T: Storable>(self, set: &SortedSetOf<T>, member: &T, score: f64) -> Atomic {
        self.scored(set, member, ScoreWrite::Add(score), score)
    }

    /// Adds `by` to the score of `member` in `set`, adding it when absent (as
    /// [`SortedSetOf::increment`]; a NaN, or a sum that is not a number, fails the step).
    pub fn increment_score<T: Storable>(self, set: &SortedSetOf<T>, member: &T, by: f64) -> Atomic {
        self.scored(set, member, ScoreWrite::Increment(by), by)
    }

    fn scored<T: Storable>(
        mut self,
        set: &SortedSetOf<T>,
        member: &T,
        op: ScoreWrite,
        score: f64,
    ) -> Atomic {
        if let Some(key) = self.key(&set.leaf) {
            let max = set.leaf.max_value_size();
            let member = if score.is_nan() {
                Err(not_a_number(&key))
            } else {
                set.json.encode(&key, member, max)
            };
            if let Some(member) = self.encoded(member) {
                let ttl = set.leaf.ttl;
                self.writes.push(Write::Scored {
                    key,
                    member,
                    op,
                    ttl,
                });
            }
        }
        self
    }

    /// Sets `field` of `map` to `value` (as [`MapOf::set`]: a map created here gets the
    /// field's TTL).
    pub fn set_field<F: Id, V: Storable, I: IntoId<F>>(
        mut self,
        map: &MapOf<F, V>,
        field: I,
        value: &V,
    ) -> Atomic {
        if let Some((key, field)) = self.field(map, &field) {
            let max = map.leaf.max_value_size();
            if let Some(value) = self.encoded(map.json.encode(&key, value, max)) {
                let ttl = map.leaf.ttl;
                let op = FieldWrite::Set(value);
                self.writes.push(Write::Field {
                    key,
                    field,
                    op,
                    ttl,
                });
            }
        }
        self
    }

    /// Removes `field` from `map` (as [`MapOf::remove`]).
    pub fn remove_field<F: Id, V: Storable, I: IntoId<F>>(
        mut self,
        map: &MapOf<F, V>,
        field: I,
    ) -> Atomic {
        if let Some((key, field)) = self.field(map, &field) {
            self.writes.push(Write::Field {
                key,
                field,
                op: FieldWrite::Remove,
                ttl: None,
            });
        }
        self
    }

    /// Adds `by` to the integer in `field` of `map` (as [`MapOf::increment`]: a stored value
    /// that is not a decimal `i64`, or an overflow, fails the step).
    pub fn increment_field<F: Id, I: IntoId<F>>(
        mut self,
        map: &MapOf<F, i64>,
        field: I,
        by: i64,
    ) -> Atomic {
        if let Some((key, field)) = self.field(map, &field) {
            let ttl = map.leaf.ttl;
            self.writes.push(Write::Field {
                key,
                field,
                op: FieldWrite::Increment(by),
                ttl,
            });
        }
        self
    }

    /// The key of `map` and `field` encoded, or `None` with the error kept.
    fn field<F, V, I: IntoId<F>>(
        &mut self,
        map: &MapOf<F, V>,
        field: &I,
    ) -> Option<(String, String)> {
        let key = self.key(&map.leaf)?;
        let field = self.encoded(encode_field(&map.leaf, &key, field))?;
        Some((key, field))
    }

    /// Sets the bit at `offset` of `bits` (as [`Bits::set`]).
    pub fn set_bit(mut self, bits: &Bits, offset: u64, bit: bool) -> Atomic {
        let ttl_if_created = bits.leaf.ttl;
        let op = BitsOp::Set {
            offset,
            bit,
            ttl_if_created,
        };
        self.bits(&bits.leaf, op, check_len(&bits.leaf, offset / 8 + 1));
        self
    }

    /// Sets slot `index` of `ints` to `value` (as [`PackedInts::set`]).
    pub fn set_slot<I: PackedInt>(mut self, ints: &PackedInts<I>, index: u64, value: I) -> Atomic {
        let op = BitsOp::FieldSet {
            ty: I::TYPE,
            index,
            value: value.to_i64(),
            ttl_if_created: ints.leaf.ttl,
        };
        self.bits(&ints.leaf, op, ints.check_slot(index));
        self
    }

    /// Adds `by` to slot `index` of `ints` (as [`PackedInts::increment`]: a result out of
    /// `I`'s range fails the step with [`Error::Overflow`]).
    pub fn increment_slot<I: PackedInt>(
        mut self,
        ints: &PackedInts<I>,
        index: u64,
        by: I,
    ) -> Atomic {
        let op = BitsOp::FieldIncrement {
            ty: I::TYPE,
            index,
            by: by.to_i64(),
            ttl_if_created: ints.leaf.ttl,
        };
        self.bits(&ints.leaf, op, ints.check_slot(index));
        self
    }

    fn bits(&mut self, leaf: &Leaf, op: BitsOp, checked: Result<()>) {
        if let Some(key) = self.key(leaf) {
            if self.encoded(checked).is_some() {
                self.writes.push(Write::Bits { key, op });
            }
        }
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
        let mut indexed = self.indexed;
        step::around(&mut indexed, async {
            ctx.execute(command).await?.into_bool(&command)
        })
        .await
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
    ///     // Versioned reads: the step commits only if nobody wrote either key since.
    ///     let (from, to) = (a.get_versioned().await?, b.get_versioned().await?);
    ///     let balance = from.as_deref().copied().unwrap_or(0);
    ///     if balance < 30 {
    ///         return Ok(None); // not enough: give up, nothing written
    ///     }
    ///     let credit = to.as_deref().copied().unwrap_or(0) + 30;
    ///     Ok(Some(
    ///         Atomic::new()
    ///             .check_unchanged(&a, &from)
    ///             .check_unchanged(&b, &to)
    ///             .set(&a, &(balance - 30))
    ///             .set(&b, &credit),
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
            .or_else(|| self.writes.first().map(|w| w.key().to_owned()))
            .unwrap_or_default()
    }
}

/// A set whose members [`Atomic::remove_member`] can remove: a [`SetOf`] or a [`SortedSetOf`].
pub trait MemberSet<T>: sealed::Members<T> {}

#[allow(private_interfaces)]
impl<T: Storable> sealed::Members<T> for SetOf<T> {
    fn codec(&self) -> Json<T> {
        self.json
    }

    fn remove(key: String, member: Vec<u8>) -> Write {
        Write::SetRemove { key, member }
    }
}
impl<T: Storable> MemberSet<T> for SetOf<T> {}

#[allow(private_interfaces)]
impl<T: Storable> sealed::Members<T> for SortedSetOf<T> {
    fn codec(&self) -> Json<T> {
        self.json
    }

    fn remove(key: String, member: Vec<u8>) -> Write {
        Write::Scored {
            key,
            member,
            op: ScoreWrite::Remove,
            ttl: None,
        }
    }
}
impl<T: Storable> MemberSet<T> for SortedSetOf<T> {}
