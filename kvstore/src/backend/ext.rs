//! [`BackendExt`]: one typed method per [`Command`], on every backend.

use std::time::Duration;

use super::command::{Command, KeyOp, KeyTtl, Reply, ScanPage, SetOp, SetOptions, StringOp, Swap};
use super::{async_trait, dispatch, Backend, Subscription};
use crate::error::Result;

/// Typed shortcuts over [`Backend::execute`]: `backend.get(key)` instead of
/// `backend.execute(Command::Str { key, op: StringOp::Get })` and a match on the [`Reply`]. Implemented for every
/// backend (and `dyn Backend`); each method's semantics are its [`Command`]'s.
///
/// ```
/// use kvstore::{MemoryBackend, backend::BackendExt};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let backend = MemoryBackend::new();
/// backend.set("k", b"v", Default::default()).await?;
/// assert_eq!(backend.get("k").await?.as_deref(), Some(&b"v"[..]));
/// assert_eq!(backend.increment("n", 5, None).await?, 5);
/// # Ok::<(), kvstore::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait BackendExt: Backend {
    /// [`StringOp::Get`].
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        run(
            self,
            Command::Str {
                key,
                op: StringOp::Get,
            },
            Reply::into_value,
        )
        .await
    }

    /// [`StringOp::Set`].
    async fn set(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        let command = Command::Str {
            key,
            op: StringOp::Set { value, options },
        };
        run(self, command, Reply::into_bool).await
    }

    /// [`Command::GetMany`].
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        run(self, Command::GetMany { keys }, Reply::into_values).await
    }

    /// [`Command::SetMany`].
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Option<Duration>) -> Result<()> {
        run(self, Command::SetMany { entries, ttl }, Reply::into_unit).await
    }

    /// [`StringOp::CompareAndSwap`], reduced to whether it swapped.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<bool> {
        let swap = self.compare_and_swap_or_get(key, expected, new, ttl_if_created);
        Ok(swap.await? == Swap::Done)
    }

    /// [`StringOp::CompareAndSwap`]: on a mismatch, the value stored now.
    async fn compare_and_swap_or_get(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_if_created: Option<Duration>,
    ) -> Result<Swap> {
        let command = Command::Str {
            key,
            op: StringOp::CompareAndSwap {
                expected,
                new,
                ttl_if_created,
            },
        };
        run(self, command, Reply::into_swap).await
    }

    /// [`StringOp::Increment`].
    async fn increment(
        &self,
        key: &str,
        delta: i64,
        ttl_if_created: Option<Duration>,
    ) -> Result<i64> {
        let command = Command::Str {
            key,
            op: StringOp::Increment {
                delta,
                ttl_if_created,
            },
        };
        run(self, command, Reply::into_int).await
    }

    /// [`Command::Delete`].
    async fn delete(&self, keys: &[String]) -> Result<usize> {
        run(self, Command::Delete { keys }, Reply::into_len).await
    }

    /// [`KeyOp::Exists`].
    async fn exists(&self, key: &str) -> Result<bool> {
        run(
            self,
            Command::Key {
                key,
                op: KeyOp::Exists,
            },
            Reply::into_bool,
        )
        .await
    }

    /// [`KeyOp::Ttl`].
    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        run(
            self,
            Command::Key {
                key,
                op: KeyOp::Ttl,
            },
            Reply::into_ttl,
        )
        .await
    }

    /// [`KeyOp::Expire`].
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool> {
        run(
            self,
            Command::Key {
                key,
                op: KeyOp::Expire { ttl },
            },
            Reply::into_bool,
        )
        .await
    }

    /// [`KeyOp::Persist`].
    async fn persist(&self, key: &str) -> Result<bool> {
        run(
            self,
            Command::Key {
                key,
                op: KeyOp::Persist,
            },
            Reply::into_bool,
        )
        .await
    }

    /// [`SetOp::Add`].
    async fn set_add(
        &self,
        key: &str,
        member: &[u8],
        ttl_if_created: Option<Duration>,
    ) -> Result<bool> {
        let command = Command::Set {
            key,
            op: SetOp::Add {
                member,
                ttl_if_created,
            },
        };
        run(self, command, Reply::into_bool).await
    }

    /// [`SetOp::Remove`].
    async fn set_remove(&self, key: &str, member: &[u8]) -> Result<bool> {
        run(
            self,
            Command::Set {
                key,
                op: SetOp::Remove { member },
            },
            Reply::into_bool,
        )
        .await
    }

    /// [`SetOp::Contains`].
    async fn set_contains(&self, key: &str, member: &[u8]) -> Result<bool> {
        run(
            self,
            Command::Set {
                key,
                op: SetOp::Contains { member },
            },
            Reply::into_bool,
        )
        .await
    }

    /// [`SetOp::Members`].
    async fn set_members(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        run(
            self,
            Command::Set {
                key,
                op: SetOp::Members,
            },
            Reply::into_members,
        )
        .await
    }

    /// [`SetOp::Len`].
    async fn set_len(&self, key: &str) -> Result<usize> {
        run(
            self,
            Command::Set {
                key,
                op: SetOp::Len,
            },
            Reply::into_len,
        )
        .await
    }

    /// [`Command::Scan`]: one page of keys.
    async fn scan(&self, prefix: &str, cursor: &str, count: usize) -> Result<ScanPage> {
        let command = Command::Scan {
            prefix,
            cursor,
            count,
        };
        run(self, command, Reply::into_page).await
    }

    /// [`Command::ScanPrefix`].
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        run(self, Command::ScanPrefix { prefix }, Reply::into_keys).await
    }

    /// [`Command::Watch`]: changes of `key`, or with `prefix` of every key under it.
    async fn watch(&self, key: &str, prefix: bool) -> Result<Subscription> {
        run(
            self,
            Command::Watch { key, prefix },
            Reply::into_subscription,
        )
        .await
    }
}

impl<B: Backend + ?Sized> BackendExt for B {}

/// Sends `command` and converts its reply with `into`.
async fn run<B, T>(
    backend: &B,
    command: Command<'_>,
    into: fn(Reply, &Command<'_>) -> Result<T>,
) -> Result<T>
where
    B: Backend + ?Sized,
{
    let observer = super::metrics::Observer::of(&backend.info());
    let reply = dispatch(backend, observer.as_ref(), &|_| None, command).await?;
    into(reply, &command)
}
