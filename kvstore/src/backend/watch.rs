//! Change notifications: the [`Subscription`] a backend hands out for [`Command::Watch`], and
//! the [`Hub`] every backend routes changed keys through.
//!
//! A backend only says *which keys changed* (or that it may have missed some: after a
//! reconnect, "re-read everything"); the typed `watch()` streams re-read what changed and
//! yield it. That split makes every watch converge on what is stored, coalesces by itself (a
//! key that changed ten times while the consumer was busy is re-read once), and keeps the
//! backend interface to one command.
//!
//! [`Command::Watch`]: super::Command::Watch

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::Error;

/// What changed since the last [`Subscription::changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Changes {
    /// These keys changed (each once, however many times it changed meanwhile): written,
    /// removed or expired.
    Keys(Vec<String>),
    /// Changes may have been missed (the backend reconnected, or too many keys changed at
    /// once): re-read everything watched.
    Everything,
}

/// The most changed keys a subscription holds before it falls back to
/// [`Changes::Everything`] (its memory stays bounded whatever the write rate).
const MAX_PENDING_KEYS: usize = 65_536;

#[derive(Default)]
struct MailState {
    keys: Vec<String>,
    seen: HashSet<String>,
    everything: bool,
    failed: Option<Error>,
    closed: bool,
}

/// Where the hub leaves a subscriber's changes.
#[derive(Default)]
struct Mailbox {
    state: Mutex<MailState>,
    notify: Notify,
}

impl Mailbox {
    fn post(&self, key: &str) {
        let mut state = self.state.lock();
        if state.everything || state.seen.contains(key) {
            return;
        }
        if state.keys.len() >= MAX_PENDING_KEYS {
            state.keys = Vec::new();
            state.seen = HashSet::new();
            state.everything = true;
        } else {
            state.seen.insert(key.to_owned());
            state.keys.push(key.to_owned());
        }
        drop(state);
        self.notify.notify_one();
    }

    fn post_everything(&self) {
        let mut state = self.state.lock();
        state.everything = true;
        state.keys = Vec::new();
        state.seen = HashSet::new();
        drop(state);
        self.notify.notify_one();
    }

    fn fail(&self, error: Error) {
        self.state.lock().failed = Some(error);
        self.notify.notify_one();
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.notify.notify_one();
    }

    fn take(&self) -> Option<Option<Result<Changes, Error>>> {
        let mut state = self.state.lock();
        if let Some(error) = state.failed.take() {
            state.closed = true;
            return Some(Some(Err(error)));
        }
        if state.everything {
            state.everything = false;
            return Some(Some(Ok(Changes::Everything)));
        }
        if !state.keys.is_empty() {
            state.seen.clear();
            return Some(Some(Ok(Changes::Keys(std::mem::take(&mut state.keys)))));
        }
        if state.closed {
            return Some(None);
        }
        None
    }
}

/// What a subscription watches: one key, or every key that starts with a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) key: String,
    pub(crate) prefix: bool,
}

#[derive(Default)]
struct Subscribers {
    next_id: u64,
    exact: HashMap<String, Vec<(u64, Arc<Mailbox>)>>,
    prefixes: Vec<(u64, String, Arc<Mailbox>)>,
}

type UnusedHook = Box<dyn Fn(&Target) + Send + Sync>;

struct HubInner {
    /// How many subscriptions are open: publishing is one atomic load when there are none.
    active: AtomicUsize,
    subscribers: Mutex<Subscribers>,
    /// Called when a target's last subscription is dropped (a Redis backend unsubscribes).
    on_unused: Mutex<Option<UnusedHook>>,
    /// Bumped by every [`Hub::publish_everything`].
    generation: AtomicU64,
}

/// The routing table from changed keys to the subscriptions that watch them; one per backend
/// (shared by its clones).
#[derive(Clone)]
pub(crate) struct Hub {
    inner: Arc<HubInner>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            inner: Arc::new(HubInner {
                active: AtomicUsize::new(0),
                subscribers: Mutex::default(),
                on_unused: Mutex::new(None),
                generation: AtomicU64::new(0),
            }),
        }
    }
}

impl Hub {
    /// Sets the hook called with a target when its last subscription goes.
    pub(crate) fn on_unused(&self, hook: impl Fn(&Target) + Send + Sync + 'static) {
        *self.inner.on_unused.lock() = Some(Box::new(hook));
    }

    /// Whether any subscription is open.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.inner.active.load(Ordering::Acquire) > 0
    }

    /// A new subscription to `target`.
    pub(crate) fn subscribe(&self, target: Target) -> Subscription {
        let mailbox = Arc::new(Mailbox::default());
        let mut subs = self.inner.subscribers.lock();
        let id = subs.next_id;
        subs.next_id += 1;
        if target.prefix {
            subs.prefixes
                .push((id, target.key.clone(), Arc::clone(&mailbox)));
        } else {
            subs.exact
                .entry(target.key.clone())
                .or_default()
                .push((id, Arc::clone(&mailbox)));
        }
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        drop(subs);
        Subscription {
            inner: Arc::new(SubscriptionInner {
                mailbox,
                hub: Arc::downgrade(&self.inner),
                target,
                id,
            }),
        }
    }

    /// `key` changed: tell every subscription that watches it.
    #[inline]
    pub(crate) fn publish(&self, key: &str) {
        if self.is_active() {
            self.publish_slow(key);
        }
    }

    fn publish_slow(&self, key: &str) {
        let subs = self.inner.subscribers.lock();
        if let Some(list) = subs.exact.get(key) {
            for (_, mailbox) in list {
                mailbox.post(key);
            }
        }
        for (_, prefix, mailbox) in &subs.prefixes {
            if key.starts_with(prefix.as_str()) {
                mailbox.post(key);
            }
        }
    }

    /// Whether a subscription watches `key`.
    pub(crate) fn watches(&self, key: &str) -> bool {
        let subs = self.inner.subscribers.lock();
        subs.exact.contains_key(key)
            || subs
                .prefixes
                .iter()
                .any(|(_, p, _)| key.starts_with(p.as_str()))
    }

    /// Changes may have been missed: every subscription re-reads what it watches.
    pub(crate) fn publish_everything(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.each(|mailbox| mailbox.post_everything());
    }

    /// The subscriptions cannot go on: each yields `error()` and ends.
    pub(crate) fn fail_all(&self, error: impl Fn() -> Error) {
        self.each(|mailbox| mailbox.fail(error()));
    }

    /// Whether `target` has a subscription.
    pub(crate) fn is_watched(&self, target: &Target) -> bool {
        let subs = self.inner.subscribers.lock();
        if target.prefix {
            subs.prefixes.iter().any(|(_, p, _)| *p == target.key)
        } else {
            subs.exact.contains_key(&target.key)
        }
    }

    fn each(&self, f: impl Fn(&Mailbox)) {
        let subs = self.inner.subscribers.lock();
        for list in subs.exact.values() {
            for (_, mailbox) in list {
                f(mailbox);
            }
        }
        for (_, _, mailbox) in &subs.prefixes {
            f(mailbox);
        }
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        let subs = self.subscribers.get_mut();
        for list in subs.exact.values() {
            for (_, mailbox) in list {
                mailbox.close();
            }
        }
        for (_, _, mailbox) in &subs.prefixes {
            mailbox.close();
        }
    }
}

struct SubscriptionInner {
    mailbox: Arc<Mailbox>,
    hub: Weak<HubInner>,
    target: Target,
    id: u64,
}

impl Drop for SubscriptionInner {
    fn drop(&mut self) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let mut subs = hub.subscribers.lock();
        let unused = if self.target.prefix {
            subs.prefixes.retain(|(id, _, _)| *id != self.id);
            !subs.prefixes.iter().any(|(_, p, _)| *p == self.target.key)
        } else {
            match subs.exact.get_mut(&self.target.key) {
                Some(list) => {
                    list.retain(|(id, _)| *id != self.id);
                    let empty = list.is_empty();
                    if empty {
                        subs.exact.remove(&self.target.key);
                    }
                    empty
                }
                None => true,
            }
        };
        hub.active.fetch_sub(1, Ordering::AcqRel);
        drop(subs);
        if unused {
            if let Some(hook) = hub.on_unused.lock().as_ref() {
                hook(&self.target);
            }
        }
    }
}

/// Notifications of changes to one key, or to every key under a prefix: what a backend
/// answers to [`Command::Watch`](super::Command::Watch) ([`Reply::Watch`](super::Reply::Watch)).
///
/// It only says which keys changed; read them to learn their values. Changes coalesce while
/// nobody calls [`changed`](Self::changed) (a key that changed several times is listed once),
/// and after the backend may have missed some (a reconnection) it says
/// [`Changes::Everything`]. Dropping the last clone unsubscribes. Clones share one mailbox.
#[derive(Clone)]
pub struct Subscription {
    inner: Arc<SubscriptionInner>,
}

impl Subscription {
    /// Waits for the next changes. `None` when the backend is gone; `Some(Err(_))` when the
    /// backend cannot watch any more (the error says why), after which it returns `None`.
    pub async fn changed(&self) -> Option<Result<Changes, Error>> {
        loop {
            let notified = self.inner.mailbox.notify.notified();
            if let Some(next) = self.inner.mailbox.take() {
                return next;
            }
            notified.await;
        }
    }

    /// The watched key, or prefix.
    pub fn key(&self) -> &str {
        &self.inner.target.key
    }

    /// Whether every key under [`key`](Self::key) is watched (not only that key).
    pub fn is_prefix(&self) -> bool {
        self.inner.target.prefix
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.inner.target.key)
            .field("prefix", &self.inner.target.prefix)
            .finish()
    }
}

impl PartialEq for Subscription {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn changes_coalesce_route_and_unsubscribe() {
        let hub = Hub::default();
        let unused = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&unused);
        hub.on_unused(move |t| seen.lock().push(t.clone()));
        let one = hub.subscribe(Target {
            key: "app:a".into(),
            prefix: false,
        });
        let all = hub.subscribe(Target {
            key: "app:".into(),
            prefix: true,
        });
        for _ in 0..3 {
            hub.publish("app:a");
        }
        hub.publish("app:b");
        hub.publish("other");
        assert_eq!(
            one.changed().await.unwrap().unwrap(),
            Changes::Keys(vec!["app:a".into()])
        );
        assert_eq!(
            all.changed().await.unwrap().unwrap(),
            Changes::Keys(vec!["app:a".into(), "app:b".into()])
        );
        hub.publish_everything();
        assert_eq!(one.changed().await.unwrap().unwrap(), Changes::Everything);
        drop(one);
        assert_eq!(unused.lock().len(), 1);
        assert!(hub.is_active());
        drop(all);
        assert!(!hub.is_active());
    }

    #[tokio::test]
    async fn too_many_keys_fall_back_to_everything() {
        let hub = Hub::default();
        let all = hub.subscribe(Target {
            key: String::new(),
            prefix: true,
        });
        for i in 0..=MAX_PENDING_KEYS {
            hub.publish(&i.to_string());
        }
        assert_eq!(all.changed().await.unwrap().unwrap(), Changes::Everything);
    }

    #[tokio::test]
    async fn a_gone_hub_ends_the_subscription() {
        let hub = Hub::default();
        let sub = hub.subscribe(Target {
            key: "k".into(),
            prefix: false,
        });
        drop(hub);
        assert!(sub.changed().await.is_none());
    }
}
