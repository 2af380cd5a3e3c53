//! The typed command set: what handles ask a backend to do, and what it answers.
//!
//! One file per data type, as Redis's `t_*.c`: [`strings`](StringOp), [`sets`](SetOp),
//! [`lists`](ListOp), [`sorted sets`](SortedSetOp), [`hashes`](MapOp), [`bits`](BitsOp),
//! [`streams`](StreamOp) and the [`keyspace`](KeyOp). A command on one key is `Command::<Type> { key, op }`, the op named
//! after the Redis command it has the semantics of; a command on many keys, on a prefix, or
//! across types (an atomic step) is a variant of its own. Handles build commands with borrowed
//! keys and values (no copy on the way in), a backend answers with one [`Reply`]. Adding a
//! primitive is adding an op here, one arm in the engine's file for its type (memory and every
//! embedded storage) and one in the Redis mapping's; the enums are `#[non_exhaustive]`, so a
//! backend written outside this crate keeps compiling and answers a command it does not know
//! with [`Command::unsupported`].

mod bits;
mod hashes;
mod keys;
mod lists;
mod sets;
mod sorted_sets;
mod streams;
mod strings;

use std::time::Duration;

pub(crate) use bits::MAX_BIT_OFFSET;
pub use bits::{BitsOp, IntType};
pub use hashes::MapOp;
pub use keys::{KeyOp, KeyTtl, ScanPage};
pub use lists::{End, ListOp, MAX_BLOCKING_WAIT};
pub use sets::SetOp;
pub use sorted_sets::{LexBound, SortedSetOp};
pub(crate) use streams::CLAIM_ATTEMPTS_FACTOR;
pub use streams::{StreamId, StreamIdError, StreamOp};
pub use strings::{SetOptions, StringOp, Swap};

use crate::backend::watch::Subscription;
use crate::error::{BackendErrorKind, Error, Result};

/// One operation on a backend.
///
/// Keys are full, encoded keys (built and checked by the handles). A key holds a *string* (items,
/// blobs, counters, bits), a *set*, a *list*, a *sorted set*, a *hash* or a *stream*; using it as another
/// kind is [`Error::WrongType`] naming the key. Expired keys are invisible to every command. A
/// command that fails writes nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// An operation on the string at `key` (see [`StringOp`]).
    Str {
        /// The key.
        key: &'a str,
        /// The operation.
        op: StringOp<'a>,
    },
    /// The strings at `keys`, in order (`MGET`); a missing key and a key of another kind read
    /// as `None`. Reply: [`Reply::Values`].
    GetMany {
        /// The keys.
        keys: &'a [String],
    },
    /// Writes every entry as one atomic step, each with `ttl` or none (`MSET`, or a transaction
    /// with a TTL): no reader sees some written and not others. A backend that cannot write all
    /// keys atomically (a cluster, across slots) says which keys were written in its error.
    /// Reply: [`Reply::Unit`].
    SetMany {
        /// The keys and their values.
        entries: &'a [(String, Vec<u8>)],
        /// The TTL of every key (`None`: no TTL).
        ttl: Option<Duration>,
    },
    /// An operation on the set at `key` (see [`SetOp`]).
    Set {
        /// The key.
        key: &'a str,
        /// The operation.
        op: SetOp<'a>,
    },
    /// An operation on the list at `key` (see [`ListOp`]).
    List {
        /// The key.
        key: &'a str,
        /// The operation.
        op: ListOp<'a>,
    },
    /// An operation on the sorted set at `key` (see [`SortedSetOp`]).
    SortedSet {
        /// The key.
        key: &'a str,
        /// The operation.
        op: SortedSetOp<'a>,
    },
    /// An operation on the hash at `key` (see [`MapOp`]).
    Map {
        /// The key.
        key: &'a str,
        /// The operation.
        op: MapOp<'a>,
    },
    /// An operation on the string at `key` as bits or fixed-width integers (see [`BitsOp`]).
    Bits {
        /// The key.
        key: &'a str,
        /// The operation.
        op: BitsOp,
    },
    /// An operation on the stream at `key` (see [`StreamOp`]).
    Stream {
        /// The key.
        key: &'a str,
        /// The operation.
        op: StreamOp<'a>,
    },
    /// An operation on `key`, of any kind: existence and TTL (see [`KeyOp`]).
    Key {
        /// The key.
        key: &'a str,
        /// The operation.
        op: KeyOp,
    },
    /// Deletes the keys, of any kind (`UNLINK`). Reply: [`Reply::Len`], how many existed.
    Delete {
        /// The keys.
        keys: &'a [String],
    },
    /// Every live key starting with the literal `prefix`, each once, in no particular order
    /// (`SCAN MATCH <escaped prefix>*`; never `KEYS`). Reply: [`Reply::Keys`]. The whole
    /// listing at once, deduplicated by the backend (a cluster scans its primaries in
    /// parallel); [`Command::Scan`] is the resumable one, a page at a time in bounded memory.
    ScanPrefix {
        /// The literal prefix (not a glob).
        prefix: &'a str,
    },
    /// One page of the live keys starting with the literal `prefix` (`SCAN cursor MATCH
    /// <escaped prefix>* COUNT count`): start with the cursor `""`, continue with the reply's
    /// `next` until it is `None`. A key may appear on two pages (as with Redis's `SCAN`); one that
    /// lives from the first page to the last appears at least once. `count` is a hint. Reply:
    /// [`Reply::Page`].
    Scan {
        /// The literal prefix (not a glob).
        prefix: &'a str,
        /// Where to continue (`""`: from the start).
        cursor: &'a str,
        /// About how many keys to look at.
        count: usize,
    },
    /// Subscribes to changes of the key `key` or, with `prefix`, of every key that starts
    /// with `key`: writes, removals and expiries (Redis: keyspace notifications). Reply:
    /// [`Reply::Watch`], a [`Subscription`] that lists the keys that changed from now on (it
    /// is registered before the reply, so a read made after it misses nothing). A backend
    /// that cannot watch answers [`BackendErrorKind::Unsupported`].
    Watch {
        /// The key, or the prefix.
        key: &'a str,
        /// Whether `key` is a prefix.
        prefix: bool,
    },
    /// An atomic step across keys: if every check holds (each key's string is exactly its
    /// `expected` bytes; `None`: the key is absent), run every write, in order, as one step that
    /// no reader sees half done, and answer `true`; otherwise write nothing and answer `false`.
    /// A write that fails (`WRONGTYPE`, a counter overflow) undoes the step and is the error.
    /// Writes may be any command for which [`Command::is_atomic_write`] holds (every
    /// single-key write); their replies are not returned. A cluster needs every key in one hash
    /// slot. Reply: [`Reply::Bool`].
    Atomic {
        /// What must hold.
        checks: &'a [Check<'a>],
        /// What to write when it does.
        writes: &'a [Command<'a>],
    },
}

/// A condition of [`Command::Atomic`]: the string at `key` is exactly `expected` (`None`: the
/// key does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check<'a> {
    /// The key.
    pub key: &'a str,
    /// The bytes it must hold (`None`: absent).
    pub expected: Option<&'a [u8]>,
}

/// A backend's answer to one [`Command`] (each variant's docs say which).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// Done, nothing to report.
    Unit,
    /// A yes/no answer.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A count.
    Len(usize),
    /// One string, or nothing.
    Value(Option<Vec<u8>>),
    /// Strings of several keys, in order.
    Values(Vec<Option<Vec<u8>>>),
    /// Set members.
    Members(Vec<Vec<u8>>),
    /// Keys.
    Keys(Vec<String>),
    /// A TTL.
    Ttl(KeyTtl),
    /// The outcome of a compare-and-swap.
    Swap(Swap),
    /// One page of a scan.
    Page(ScanPage),
    /// A sorted-set score, or nothing.
    Score(Option<f64>),
    /// A rank, or nothing.
    Rank(Option<usize>),
    /// Sorted-set members with their scores, in order.
    Scored(Vec<(Vec<u8>, f64)>),
    /// Hash fields with their values.
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
    /// A subscription to changes ([`Command::Watch`]).
    Watch(Subscription),
    /// The id of a stream entry just added.
    EntryId(StreamId),
    /// Stream entries (id and value), in the order asked.
    Entries(Vec<(StreamId, Vec<u8>)>),
    /// Stream entries taken over by a consumer ([`StreamOp::ClaimIdle`]): id, value and
    /// delivery count (this delivery included), oldest first.
    Claimed(Vec<(StreamId, Vec<u8>, u64)>),
}

impl Command<'_> {
    /// The command's name in metrics and traces: `"get"`, `"set"`, `"compare_and_swap"`, ...
    pub fn name(&self) -> &'static str {
        Command::NAMES[self.index()]
    }

    /// The position of [`Command::name`] in [`Command::NAMES`].
    pub fn index(&self) -> usize {
        match self {
            Command::Str { op, .. } => op.index(),
            Command::GetMany { .. } => 4,
            Command::SetMany { .. } => 5,
            Command::Set { op, .. } => 6 + op.index(),
            Command::List { op, .. } => 11 + op.index(),
            Command::SortedSet { op, .. } => 18 + op.index(),
            Command::Map { op, .. } => 28 + op.index(),
            Command::Bits { op, .. } => 38 + op.index(),
            Command::Stream { op, .. } => 46 + op.index(),
            Command::Key { op, .. } => 56 + op.index(),
            Command::Delete { .. } => 60,
            Command::ScanPrefix { .. } => 61,
            Command::Scan { .. } => 62,
            Command::Watch { .. } => 63,
            Command::Atomic { .. } => 64,
        }
    }

    /// Every command name, in a fixed order (what [`Command::name`] returns).
    pub const NAMES: [&'static str; 65] = [
        // strings
        "get",
        "set",
        "compare_and_swap",
        "increment",
        "get_many",
        "set_many",
        // sets
        "set_add",
        "set_remove",
        "set_contains",
        "set_members",
        "set_len",
        // lists
        "list_push",
        "list_pop",
        "list_pop_blocking",
        "list_move",
        "list_range",
        "list_trim",
        "list_len",
        // sorted sets
        "sorted_set_add",
        "sorted_set_score",
        "sorted_set_increment",
        "sorted_set_remove",
        "sorted_set_rank",
        "sorted_set_range",
        "sorted_set_range_by_score",
        "sorted_set_len",
        "sorted_set_range_by_lex",
        "sorted_set_count_by_lex",
        // hashes
        "map_get",
        "map_set",
        "map_set_many",
        "map_remove",
        "map_contains",
        "map_get_many",
        "map_fields",
        "map_entries",
        "map_len",
        "map_increment",
        // bits
        "bits_get",
        "bits_set",
        "bits_count",
        "ints_get",
        "ints_set",
        "ints_increment",
        "ints_sum",
        "bits_len",
        // streams
        "stream_append",
        "stream_range",
        "stream_len",
        "stream_trim",
        "stream_read",
        "stream_group_create",
        "stream_group_read",
        "stream_ack",
        "stream_pending",
        "stream_claim",
        // keys
        "exists",
        "ttl",
        "expire",
        "persist",
        "delete",
        "scan_prefix",
        "scan",
        "watch",
        "atomic",
    ];

    /// The key errors and traces name: the key, the first key of a multi-key command, the prefix
    /// of a scan (`""` when there is none).
    pub fn key(&self) -> &str {
        match self {
            Command::Str { key, .. }
            | Command::Set { key, .. }
            | Command::List { key, .. }
            | Command::SortedSet { key, .. }
            | Command::Map { key, .. }
            | Command::Bits { key, .. }
            | Command::Stream { key, .. }
            | Command::Key { key, .. }
            | Command::Watch { key, .. } => key,
            Command::GetMany { keys } | Command::Delete { keys } => {
                keys.first().map_or("", String::as_str)
            }
            Command::SetMany { entries, .. } => entries.first().map_or("", |(key, _)| key),
            Command::ScanPrefix { prefix } | Command::Scan { prefix, .. } => prefix,
            Command::Atomic { checks, writes } => checks
                .first()
                .map(|c| c.key)
                .or_else(|| writes.first().map(|w| w.key()))
                .unwrap_or(""),
        }
    }

    /// Whether the command may wait for something to happen (a blocking pop, a blocking
    /// stream read): it cannot be answered at once, even by an in-process backend.
    pub fn may_wait(&self) -> bool {
        match self {
            Command::List {
                op: ListOp::PopFrontBlocking { .. },
                ..
            } => true,
            Command::Stream { op, .. } => op.may_wait(),
            _ => false,
        }
    }

    /// Whether the command may be a write of a [`Command::Atomic`] step: every single-key write
    /// (strings, counters, sets; list pushes; sorted-set adds, increments and removals; hash
    /// field sets, removals and increments; bits and integer slots) and deletes.
    pub fn is_atomic_write(&self) -> bool {
        match self {
            Command::Delete { .. } => true,
            Command::Str { op, .. } => op.is_atomic_write(),
            Command::Set { op, .. } => op.is_write(),
            Command::List { op, .. } => matches!(op, ListOp::Push { .. }),
            Command::SortedSet { op, .. } => op.is_write(),
            Command::Map { op, .. } => op.is_write() && !matches!(op, MapOp::SetMany { .. }),
            Command::Bits { op, .. } => op.is_write(),
            _ => false,
        }
    }

    /// Whether the command may change what is stored.
    pub fn is_write(&self) -> bool {
        match self {
            Command::Str { op, .. } => op.is_write(),
            Command::Set { op, .. } => op.is_write(),
            Command::List { op, .. } => op.is_write(),
            Command::SortedSet { op, .. } => op.is_write(),
            Command::Map { op, .. } => op.is_write(),
            Command::Bits { op, .. } => op.is_write(),
            Command::Stream { op, .. } => op.is_write(),
            Command::Key { op, .. } => op.is_write(),
            Command::SetMany { .. } | Command::Delete { .. } => true,
            Command::Atomic { writes, .. } => !writes.is_empty(),
            Command::GetMany { .. }
            | Command::ScanPrefix { .. }
            | Command::Scan { .. }
            | Command::Watch { .. } => false,
        }
    }

    /// Every key the command touches (the keys of its checks and writes, for an atomic step).
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Command::GetMany { keys } | Command::Delete { keys } => {
                keys.iter().map(String::as_str).collect()
            }
            Command::SetMany { entries, .. } => entries.iter().map(|(k, _)| k.as_str()).collect(),
            Command::Atomic { checks, writes } => checks
                .iter()
                .map(|c| c.key)
                .chain(writes.iter().flat_map(Command::keys))
                .collect(),
            Command::ScanPrefix { .. } | Command::Scan { .. } => Vec::new(),
            Command::List {
                key,
                op: ListOp::MoveFrontToBack { dest, .. },
            } => vec![key, dest],
            other => vec![other.key()],
        }
    }

    /// The error a backend returns for a command it does not implement.
    pub fn unsupported(&self, backend: &str) -> Error {
        let key = self.key();
        Error::backend(
            BackendErrorKind::Unsupported,
            (!key.is_empty()).then_some(key),
            format!(
                "the `{backend}` backend does not implement `{}`",
                self.name()
            ),
        )
    }

    /// The error for a reply of the wrong kind (a backend bug).
    pub(crate) fn unexpected(&self, reply: &Reply) -> Error {
        let key = self.key();
        Error::backend(
            BackendErrorKind::Other,
            (!key.is_empty()).then_some(key),
            format!(
                "the backend answered `{}` with an unexpected reply: {reply:?}",
                self.name()
            ),
        )
    }
}

/// Conversions of a [`Reply`] to what a command promises, failing on a reply of another kind.
macro_rules! reply_as {
    ($($fn:ident($variant:ident) -> $t:ty;)*) => {
        impl Reply {
            $(
                /// The reply's payload, or an error naming `command` if it is of another kind.
                pub fn $fn(self, command: &Command<'_>) -> Result<$t> {
                    match self {
                        Reply::$variant(v) => Ok(v),
                        other => Err(command.unexpected(&other)),
                    }
                }
            )*
        }
    };
}

reply_as! {
    into_bool(Bool) -> bool;
    into_int(Int) -> i64;
    into_len(Len) -> usize;
    into_value(Value) -> Option<Vec<u8>>;
    into_values(Values) -> Vec<Option<Vec<u8>>>;
    into_members(Members) -> Vec<Vec<u8>>;
    into_keys(Keys) -> Vec<String>;
    into_ttl(Ttl) -> KeyTtl;
    into_swap(Swap) -> Swap;
    into_page(Page) -> ScanPage;
    into_score(Score) -> Option<f64>;
    into_rank(Rank) -> Option<usize>;
    into_scored(Scored) -> Vec<(Vec<u8>, f64)>;
    into_pairs(Pairs) -> Vec<(Vec<u8>, Vec<u8>)>;
    into_subscription(Watch) -> Subscription;
    into_entry_id(EntryId) -> StreamId;
    into_entries(Entries) -> Vec<(StreamId, Vec<u8>)>;
    into_claimed(Claimed) -> Vec<(StreamId, Vec<u8>, u64)>;
}

impl Reply {
    /// `()`, or an error naming `command` if the reply is of another kind.
    pub fn into_unit(self, command: &Command<'_>) -> Result<()> {
        match self {
            Reply::Unit => Ok(()),
            other => Err(command.unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_listed_once() {
        let mut names = Command::NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Command::NAMES.len());
        let key = "k";
        let named = [
            (
                Command::Str {
                    key,
                    op: StringOp::Get,
                },
                "get",
            ),
            (
                Command::Str {
                    key,
                    op: StringOp::Increment {
                        delta: 1,
                        ttl_if_created: None,
                    },
                },
                "increment",
            ),
            (Command::GetMany { keys: &[] }, "get_many"),
            (
                Command::Set {
                    key,
                    op: SetOp::Members,
                },
                "set_members",
            ),
            (
                Command::Set {
                    key,
                    op: SetOp::Len,
                },
                "set_len",
            ),
            (
                Command::List {
                    key,
                    op: ListOp::Push {
                        end: End::Back,
                        value: b"v",
                        ttl_if_created: None,
                    },
                },
                "list_push",
            ),
            (
                Command::Key {
                    key,
                    op: KeyOp::Exists,
                },
                "exists",
            ),
            (
                Command::Key {
                    key,
                    op: KeyOp::Persist,
                },
                "persist",
            ),
            (Command::Delete { keys: &[] }, "delete"),
            (Command::Watch { key, prefix: true }, "watch"),
            (
                Command::Atomic {
                    checks: &[],
                    writes: &[],
                },
                "atomic",
            ),
        ];
        for (command, name) in named {
            assert_eq!(command.name(), name);
        }
    }

    #[test]
    fn every_command_has_its_own_name() {
        let key = "k";
        let ops = [
            Command::List {
                key,
                op: ListOp::Len,
            },
            Command::List {
                key,
                op: ListOp::Trim { start: 0, stop: 1 },
            },
            Command::SortedSet {
                key,
                op: SortedSetOp::Len,
            },
            Command::Map {
                key,
                op: MapOp::Increment {
                    field: "f",
                    delta: 1,
                    ttl_if_created: None,
                },
            },
            Command::Bits {
                key,
                op: BitsOp::Len,
            },
            Command::Stream {
                key,
                op: StreamOp::ReadAfter {
                    after: StreamId::MIN,
                    count: 1,
                    block: None,
                },
            },
            Command::Stream {
                key,
                op: StreamOp::ClaimIdle {
                    group: "g",
                    consumer: "c",
                    min_idle: Duration::ZERO,
                    count: 1,
                },
            },
            Command::Key {
                key,
                op: KeyOp::Exists,
            },
        ];
        let names: Vec<&str> = ops.iter().map(Command::name).collect();
        assert_eq!(
            names,
            [
                "list_len",
                "list_trim",
                "sorted_set_len",
                "map_increment",
                "bits_len",
                "stream_read",
                "stream_claim",
                "exists"
            ]
        );
        let blocking = Command::Stream {
            key,
            op: StreamOp::ReadAfter {
                after: StreamId::MIN,
                count: 1,
                block: Some(Duration::from_millis(5)),
            },
        };
        assert!(blocking.may_wait() && !blocking.is_write());
        let append = Command::Stream {
            key,
            op: StreamOp::Append {
                value: b"1",
                max_len: None,
                ttl_if_created: None,
            },
        };
        assert!(append.is_write() && !append.may_wait());
        assert_eq!(append.name(), "stream_append");
        let moved = Command::List {
            key: "a",
            op: ListOp::MoveFrontToBack {
                dest: "b",
                ttl_if_created: None,
            },
        };
        assert_eq!(moved.keys(), ["a", "b"]);
        assert!(moved.is_write());
    }

    #[test]
    fn replies_of_the_wrong_kind_are_errors() {
        let cmd = Command::Key {
            key: "k",
            op: KeyOp::Exists,
        };
        assert!(Reply::Bool(true).into_bool(&cmd).unwrap());
        let err = Reply::Int(1).into_bool(&cmd).unwrap_err();
        assert_eq!(err.key(), Some("k"));
    }
}
