//! The conformance suite of kvstore: every rule a backend must keep (kvstore's key layout,
//! values, validation, TTL, atomicity, listing, bad input, schema evolution) and every row of the
//! node API, written once against the public API and run against every backend — the memory
//! backend, Redis, Redis Cluster, and yours.
//!
//! Run it from a test target with `harness = false`; every rule becomes one test, named
//! `<label>::<rule>`, filtered and reported like any `cargo test` test
//! (`cargo test --test conformance item_modify`):
//!
//! ```toml
//! [dev-dependencies]
//! kvstore-conformance = "=0.1.0"
//!
//! [[test]]
//! name = "conformance"
//! path = "tests/conformance.rs"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/conformance.rs
//! use kvstore_conformance::Env;
//! # mod my_crate {
//! #     // Stands in for your own `kvstore::backend::Backend`.
//! #     pub fn connect() -> kvstore::MemoryBackend { kvstore::MemoryBackend::new() }
//! # }
//!
//! fn main() {
//!     // Each test gets an environment made for its name: a backend (fresh, or shared by
//!     // every test: each rule stays under its own key prefix, derived from the name).
//!     let trials = kvstore_conformance::trials("mine", |test_name| async move {
//!         Env::new(my_crate::connect(), &test_name)
//!     });
//!     // Drop whatever the tests needed (a server process) before `exit`: it ends the process.
//!     kvstore_conformance::run(trials).exit();
//! }
//! ```
//!
//! [`main`] does the same in one call. [`rules`] lists the rules, to run a subset
//! ([`trials_of`]) or to run one on an [`Env`] yourself ([`Rule::run`]).
//!
//! A backend on a clock you control can use [`Env::with_manual_clock`], so that TTL rules run
//! without sleeping. Every rule only touches keys under its own [`Env::prefix`], so one server
//! can serve every rule of a run.
//!
//! Rules are registered where they are written (the `rules!` blocks of each module): a rule
//! cannot be written and forgotten.
#![warn(missing_docs)]

use kvstore::backend::BackendExt as _;
use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kvstore::{
    Blob, Counter, DynBackend, Dynamic, Error, IntoBackend, InvalidKeyReason, Issue, Item,
    ManualClock, MemoryBackend, SetOf, Store,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Defines a module's rules and registers them: every `pub async fn rule(env: Env)` inside is
/// also listed in the module's `RULES`.
macro_rules! rules {
    ($( $(#[$meta:meta])* pub async fn $name:ident($env:ident: Env) $body:block )*) => {
        $( $(#[$meta])* pub async fn $name($env: Env) $body )*

        /// This module's rules, in order.
        pub(crate) const RULES: &[crate::Rule] = &[
            $( crate::Rule { name: stringify!($name), run: |env| Box::pin($name(env)) }, )*
        ];
    };
}

mod atomic;
mod blob;
mod cache;
mod counter;
mod dynamic;
mod evolution;
mod indexes;
mod item;
mod keys;
mod native;
mod native_steps;
mod schema;
mod set;
mod steps;
mod stream_groups;
mod streams;
mod ttl;
mod validation;
mod values;
mod versioned;
mod watch;

pub use libtest_mimic::{Arguments, Conclusion, Failed, Trial};

/// A boxed rule future.
pub type RuleFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One rule of the suite: a name and a test that panics when the backend breaks the rule.
#[derive(Clone, Copy)]
pub struct Rule {
    /// The rule's name (`item_modify`, `ttl_set_replaces`, ...).
    pub name: &'static str,
    /// Runs the rule on an environment: `(rule.run)(env).await` panics when the backend breaks
    /// the rule.
    pub run: fn(Env) -> RuleFuture,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Rule").field(&self.name).finish()
    }
}

impl Rule {
    /// The test `<label>::<name>`: runs the rule on its own multi-threaded tokio runtime (2
    /// workers), on the environment that `env` makes for the test's name. A panic (a broken
    /// rule) fails the test with its message.
    pub fn trial<F, Fut>(self, label: &str, env: F) -> Trial
    where
        F: FnOnce(String) -> Fut + Send + 'static,
        Fut: Future<Output = Env> + Send,
    {
        let name = format!("{label}::{}", self.name);
        Trial::test(name.clone(), move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            runtime.block_on(async move {
                let env = env(name).await;
                (self.run)(env).await;
            });
            Ok(())
        })
    }
}

/// Every rule of the suite, in a stable order.
pub fn rules() -> Vec<Rule> {
    [
        item::RULES,
        counter::RULES,
        set::RULES,
        blob::RULES,
        dynamic::RULES,
        keys::RULES,
        values::RULES,
        validation::RULES,
        ttl::RULES,
        atomic::RULES,
        steps::RULES,
        native_steps::RULES,
        versioned::RULES,
        evolution::RULES,
        schema::RULES,
        native::RULES,
        streams::RULES,
        stream_groups::RULES,
        watch::RULES,
        cache::RULES,
        indexes::RULES,
    ]
    .concat()
}

/// One test per rule of the suite, named `<label>::<rule>` (see [`Rule::trial`]), each on the
/// environment that `env` makes for the test's name (pass the name to [`Env::new`]: it becomes
/// the test's key prefix).
pub fn trials<F, Fut>(label: &str, env: F) -> Vec<Trial>
where
    F: Fn(String) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Env> + Send,
{
    trials_of(rules(), label, env)
}

/// Like [`trials`], for some rules only (for example a subset of [`rules`] picked by name).
pub fn trials_of<F, Fut>(rules: impl IntoIterator<Item = Rule>, label: &str, env: F) -> Vec<Trial>
where
    F: Fn(String) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Env> + Send,
{
    rules
        .into_iter()
        .map(|rule| rule.trial(label, env.clone()))
        .collect()
}

/// Runs `trials` with the command line's arguments (filters, `--list`, `--test-threads`, ...)
/// and returns the outcome; call [`Conclusion::exit`] on it last (after dropping whatever the
/// tests needed, such as a server process: `exit` ends the process without running
/// destructors).
pub fn run(trials: Vec<Trial>) -> Conclusion {
    libtest_mimic::run(&Arguments::from_args(), trials)
}

/// The whole `main` of a `harness = false` test: runs every rule as [`trials`]`(label, env)`
/// with the command line's arguments, drops `env` (and whatever it holds, such as an `Arc` of a
/// server), then exits the process (status 101 when a test failed).
pub fn main<F, Fut>(label: &str, env: F) -> !
where
    F: Fn(String) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Env> + Send,
{
    let conclusion = run(trials(label, env));
    conclusion.exit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_once() {
        let rules = super::rules();
        let mut names: Vec<&str> = rules.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rules.len(), "rule names are unique");
        assert!(rules.len() >= 73, "{} rules", rules.len());
    }

    #[test]
    fn one_trial_per_rule_named_label_rule() {
        let trials = trials("mine", |name| async move { Env::memory(&name) });
        let rules = rules();
        assert_eq!(trials.len(), rules.len());
        for (trial, rule) in trials.iter().zip(&rules) {
            assert_eq!(trial.name(), format!("mine::{}", rule.name));
        }
    }

    /// A rule that panics is a failed test (with the panic's message), not an aborted run; the
    /// environment is made for the test's name.
    #[test]
    fn a_broken_rule_fails_its_trial() {
        fn broken(env: Env) -> RuleFuture {
            Box::pin(async move {
                assert!(
                    env.prefix.starts_with("kvt:label.broken:"),
                    "{}",
                    env.prefix
                );
                env.shop().visits().increment(1).await.unwrap();
                panic!("a broken rule (this failure is expected by the unit test)");
            })
        }
        let rule = Rule {
            name: "broken",
            run: broken,
        };
        let args = Arguments {
            quiet: true,
            test_threads: Some(1),
            ..Arguments::default()
        };
        let trial = rule.trial("label", |name| async move { Env::memory(&name) });
        let conclusion = libtest_mimic::run(&args, vec![trial]);
        assert_eq!((conclusion.num_passed, conclusion.num_failed), (0, 1));

        let ok = Rule {
            name: "item_modify",
            run: rules()
                .into_iter()
                .find(|r| r.name == "item_modify")
                .expect("item_modify is a rule")
                .run,
        };
        let trial = ok.trial("label", |name| async move { Env::memory(&name) });
        let conclusion = libtest_mimic::run(&args, vec![trial]);
        assert_eq!((conclusion.num_passed, conclusion.num_failed), (1, 0));
    }
}

// ---------------------------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------------------------

/// A user, with the constraints of the README's tour.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct User {
    /// The name.
    pub name: String,
    /// An email address (`format: email`).
    #[schemars(email)]
    pub email: String,
    /// At most 150.
    #[schemars(range(max = 150))]
    pub age: u32,
}

impl User {
    /// A valid user: `<name>@example.com`, of age `age`.
    pub fn new(name: &str, age: u32) -> User {
        User {
            name: name.to_owned(),
            email: format!("{name}@example.com"),
            age,
        }
    }
}

/// Settings, with a length constraint.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Settings {
    /// The theme.
    pub theme: String,
    /// The message of the day, at most 16 characters.
    #[schemars(length(max = 16))]
    pub motd: String,
}

impl Settings {
    /// Valid settings with the theme `theme`.
    pub fn new(theme: &str) -> Settings {
        Settings {
            theme: theme.to_owned(),
            motd: "hello".to_owned(),
        }
    }
}

/// A session, stored under fields with default TTLs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Session {
    /// Whose session.
    pub user: String,
    /// A number that tells versions apart.
    pub n: u64,
}

impl Session {
    /// The session `n` of `user`.
    pub fn new(user: &str, n: u64) -> Session {
        Session {
            user: user.to_owned(),
            n,
        }
    }
}

/// A value without constraints.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Note {
    /// The text.
    pub text: String,
}

/// A note with the text `text`.
pub fn note(text: impl Into<String>) -> Note {
    Note { text: text.into() }
}

/// A set member with a constraint.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Label {
    /// At most 8 characters.
    #[schemars(length(max = 8))]
    pub name: String,
}

/// The label `name`.
pub fn label(name: &str) -> Label {
    Label {
        name: name.to_owned(),
    }
}

/// A number to increment with `modify`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Tally {
    /// The number.
    pub n: u64,
}

// ---------------------------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------------------------

/// The store every rule runs on, opened at `env.prefix`.
#[derive(Store)]
pub struct Shop {
    /// A single item.
    pub settings: Item<Settings>,
    /// Users by id, under the segment `u`.
    #[store(rename = "u")]
    pub users: Dynamic<Item<User>>,
    /// A sibling whose name starts with the name of `users` (`u`).
    pub u2: Dynamic<Item<User>>,
    /// Sessions with a default TTL of 30 minutes.
    #[store(ttl = "30m")]
    pub sessions: Dynamic<Item<Session>>,
    /// A short default TTL, for expiry on a real clock.
    #[store(ttl = "300ms")]
    pub flash: Dynamic<Item<Session>>,
    /// A single counter.
    pub visits: Counter,
    /// Counters by a numeric id.
    pub views: Dynamic<Counter, u64>,
    /// A fixed-window rate limiter.
    #[store(ttl = "1s")]
    pub hits: Dynamic<Counter>,
    /// A set of strings.
    pub tags: SetOf<String>,
    /// A set of constrained members.
    pub labels: SetOf<Label>,
    /// A set with a default TTL.
    #[store(ttl = "30m")]
    pub recent: SetOf<String>,
    /// A single blob.
    pub logo: Blob,
    /// Blobs by id, with a default TTL.
    #[store(ttl = "30m")]
    pub thumbs: Dynamic<Blob>,
    /// Nested stores by id.
    pub tenants: Dynamic<Tenant>,
    /// Nested stores by id, each in one cluster slot (`colocate`).
    #[store(colocate)]
    pub ctenants: Dynamic<Tenant>,
    /// A nested static store.
    pub stats: Stats,
    /// A nested static store with a default TTL for everything below it.
    #[store(ttl = "1h")]
    pub cache: Stats,
    /// Two levels of ids.
    pub grid: Dynamic<Dynamic<Item<Note>>>,
    /// Items by a signed id.
    pub ledger: Dynamic<Item<Note>, i64>,
    /// Items by a `u32` id.
    pub small: Dynamic<Item<Note>, u32>,
    /// Items by a `u128` id.
    pub big: Dynamic<Item<Note>, u128>,
    /// An item to `modify` concurrently.
    pub tally: Item<Tally>,
    /// Notes by id.
    pub notes: Dynamic<Item<Note>>,
}

/// A nested store, one per tenant id.
#[derive(Store)]
pub struct Tenant {
    /// The tenant's settings.
    pub config: Item<Settings>,
    /// The tenant's users by id.
    pub users: Dynamic<Item<User>>,
    /// A set of strings.
    pub seen: SetOf<String>,
    /// A counter.
    pub hits: Counter,
    /// Notes by id.
    pub notes: Dynamic<Item<Note>>,
    /// Notes by a numeric id, in the same cluster slot (`colocate`).
    #[store(colocate)]
    pub docs: Dynamic<Item<Note>, u64>,
}

/// A nested static store.
#[derive(Store)]
pub struct Stats {
    /// A counter.
    pub hits: Counter,
    /// An item.
    pub last: Item<Note>,
    /// Counters by day.
    pub daily: Dynamic<Counter>,
}

/// A store with a root prefix (only its manifest and `key()`s are used: no I/O outside the
/// test's prefix).
#[derive(Store)]
#[store(prefix = "app:v1")]
pub struct Prefixed {
    /// An item.
    pub name: Item<Note>,
    /// Counters by a numeric id.
    pub counts: Dynamic<Counter, u64>,
}

// ---------------------------------------------------------------------------------------------
// The test environment
// ---------------------------------------------------------------------------------------------

/// What every rule gets: a backend, a key prefix of its own, and a clock.
#[derive(Clone)]
pub struct Env {
    /// The backend under test (shared with other tests on Redis: stay under `prefix`).
    pub backend: DynBackend,
    /// The root prefix of every key this test may touch.
    pub prefix: String,
    clock: Option<ManualClock>,
    /// Whatever must live as long as the test (a shared server), dropped with the `Env`.
    keep_alive: Option<Arc<dyn Any + Send + Sync>>,
    /// Makes a second client of the same data that keeps a client-side read cache.
    cached_client: Option<CachedClient>,
}

/// Makes a second client of an [`Env`]'s data that keeps a client-side read cache (see
/// [`Env::with_cached_client`]).
type CachedClient = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = DynBackend> + Send>> + Send + Sync>;

/// One `T` (a server) shared by every test that is running, started by the first and dropped
/// (its `Drop` run: the process killed, its files removed) when the last one ends.
///
/// A plain `static` would never run `Drop`, leaving the server behind after the tests; here each
/// `Env` holds an `Arc` (see [`Env::keep_alive`]) and the static only a `Weak`.
pub fn shared<T: Send + Sync + 'static>(
    slot: &Mutex<Weak<T>>,
    start: impl FnOnce() -> T,
) -> Arc<T> {
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(running) = slot.upgrade() {
        return running;
    }
    let started = Arc::new(start());
    *slot = Arc::downgrade(&started);
    started
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A unique, valid root prefix for a test: `kvt:<test name>:<unique>`.
pub fn test_prefix(test_name: &str) -> String {
    let name: String = test_name
        .replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("kvt:{name}:{:x}-{nanos:x}-{n}", std::process::id())
}

impl Env {
    /// An environment over a backend that runs on the real clock (Redis).
    pub fn new(backend: impl IntoBackend, test_name: &str) -> Env {
        Env {
            backend: backend.into_backend(),
            prefix: test_prefix(test_name),
            clock: None,
            keep_alive: None,
            cached_client: None,
        }
    }

    /// An environment over a backend driven by `clock`: `sleep` advances it.
    pub fn with_manual_clock(
        backend: impl IntoBackend,
        clock: ManualClock,
        test_name: &str,
    ) -> Env {
        Env {
            backend: backend.into_backend(),
            prefix: test_prefix(test_name),
            clock: Some(clock),
            keep_alive: None,
            cached_client: None,
        }
    }

    /// Keeps `guard` (for example the `Arc` of a [`shared`] server) alive as long as this `Env`.
    pub fn keep_alive(mut self, guard: Arc<dyn Any + Send + Sync>) -> Env {
        self.keep_alive = Some(guard);
        self
    }

    /// Lets the cache rules read through a client-side read cache: `make` opens another client
    /// of the same data that keeps one (for example `RedisBackend::builder(url)
    /// .client_cache(1_000).build()`). It is called on the runtime the rule reads from (a
    /// current-thread one), so that the cache's own tasks run there too. Without it, those rules
    /// read through [`Env::backend`].
    pub fn with_cached_client<F, Fut, B>(mut self, make: F) -> Env
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = B> + Send + 'static,
        B: IntoBackend,
    {
        self.cached_client = Some(Arc::new(move || {
            let made = make();
            Box::pin(async move { made.await.into_backend() })
        }));
        self
    }

    /// A client of this environment's data that keeps a client-side read cache, made on the
    /// current runtime (see [`Env::with_cached_client`]), or [`Env::backend`] when there is none.
    pub async fn cached_client(&self) -> DynBackend {
        match &self.cached_client {
            Some(make) => make().await,
            None => self.backend.clone(),
        }
    }

    /// A fresh in-memory backend on a manual clock.
    pub fn memory(test_name: &str) -> Env {
        let clock = ManualClock::new();
        Env::with_manual_clock(
            MemoryBackend::with_clock(clock.clone()).interleaved(),
            clock,
            test_name,
        )
    }

    /// Lets `d` pass: advances the manual clock, or really sleeps.
    pub async fn sleep(&self, d: Duration) {
        match &self.clock {
            Some(clock) => {
                clock.advance(d);
                tokio::task::yield_now().await;
            }
            None => tokio::time::sleep(d).await,
        }
    }

    /// Whether time only moves when `sleep` is called (TTLs can be checked exactly).
    pub fn manual_clock(&self) -> bool {
        self.clock.is_some()
    }

    /// The test's `Shop`.
    pub fn shop(&self) -> Shop {
        Shop::open_with_prefix(self.backend.clone(), &self.prefix)
    }

    /// Another `Shop` at `<prefix>:<sub>` (still under the test's prefix).
    pub fn shop_at(&self, sub: &str) -> Shop {
        Shop::open_with_prefix(self.backend.clone(), &format!("{}:{sub}", self.prefix))
    }

    /// The full key `<prefix>:<tail>`.
    pub fn key(&self, tail: &str) -> String {
        format!("{}:{tail}", self.prefix)
    }

    /// Writes raw bytes at `<prefix>:<tail>` through the backend, as another program would.
    pub async fn raw_set(&self, tail: &str, value: &[u8]) {
        let key = self.key(tail);
        assert!(self
            .backend
            .set(&key, value, Default::default())
            .await
            .unwrap_or_else(|e| panic!("raw set {key}: {e}")));
    }

    /// The raw bytes at `<prefix>:<tail>`.
    pub async fn raw_get(&self, tail: &str) -> Option<Vec<u8>> {
        let key = self.key(tail);
        self.backend
            .get(&key)
            .await
            .unwrap_or_else(|e| panic!("raw get {key}: {e}"))
    }

    /// Whether `<prefix>:<tail>` exists, of any kind.
    pub async fn raw_exists(&self, tail: &str) -> bool {
        let key = self.key(tail);
        self.backend
            .exists(&key)
            .await
            .unwrap_or_else(|e| panic!("raw exists {key}: {e}"))
    }

    /// Every stored key under the test's prefix.
    pub async fn raw_keys(&self) -> Vec<String> {
        let mut keys = self
            .backend
            .scan_prefix(&format!("{}:", self.prefix))
            .await
            .expect("raw scan");
        keys.sort();
        keys
    }

    /// Adds a raw member to the set at `<prefix>:<tail>`.
    pub async fn raw_set_add(&self, tail: &str, member: &[u8]) {
        let key = self.key(tail);
        self.backend
            .set_add(&key, member, None)
            .await
            .unwrap_or_else(|e| panic!("raw sadd {key}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Assertion helpers
// ---------------------------------------------------------------------------------------------

/// Checks that the error names `key` (in `Error::key()` and in its `Display`).
#[track_caller]
pub fn assert_names_key(e: &Error, key: &str) {
    assert_eq!(
        e.key(),
        Some(key),
        "error {e:?} should be about key {key:?}"
    );
    let shown = e.to_string();
    assert!(
        shown.contains(key),
        "Display of the error should name the key {key:?}: {shown}"
    );
}

/// Unwraps an `Err`, with the `Ok` value in the panic message.
#[track_caller]
pub fn err<T: Debug>(r: kvstore::Result<T>, what: &str) -> Error {
    match r {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// Expects `Error::Validation` about `key`; returns the issues.
#[track_caller]
pub fn expect_validation<T: Debug>(r: kvstore::Result<T>, key: &str) -> Vec<Issue> {
    let e = err(r, "expected Error::Validation");
    assert_names_key(&e, key);
    match e {
        Error::Validation { issues, .. } => {
            assert!(
                !issues.is_empty(),
                "a validation error has at least one issue"
            );
            issues
        }
        other => panic!("expected Error::Validation for {key}, got {other:?}"),
    }
}

/// Expects a validation issue at JSON pointer `path` (a failure lists every issue).
#[track_caller]
pub fn assert_issue_at(issues: &[Issue], path: &str) {
    assert!(
        issues.iter().any(|i| i.path == path),
        "expected an issue at {path:?}, got {issues:?}"
    );
}

/// Expects `Error::Decode` about `key`.
#[track_caller]
pub fn expect_decode<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::Decode");
    assert_names_key(&e, key);
    assert!(
        matches!(e, Error::Decode { .. }),
        "expected Error::Decode for {key}, got {e:?}"
    );
}

/// Expects `Error::Decode` or `Error::Validation` about `key` (JSON of the wrong shape is both
/// not decodable and against the schema; either is a typed error naming the key).
#[track_caller]
pub fn expect_decode_or_validation<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::Decode or Error::Validation");
    assert_names_key(&e, key);
    assert!(
        matches!(e, Error::Decode { .. } | Error::Validation { .. }),
        "expected Error::Decode or Error::Validation for {key}, got {e:?}"
    );
}

/// Expects `Error::WrongType` about `key`.
#[track_caller]
pub fn expect_wrong_type<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::WrongType");
    assert_names_key(&e, key);
    assert!(
        matches!(e, Error::WrongType { .. }),
        "expected Error::WrongType for {key}, got {e:?}"
    );
}

/// Expects `Error::InvalidTtl` about `key`.
#[track_caller]
pub fn expect_invalid_ttl<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::InvalidTtl");
    assert_names_key(&e, key);
    assert!(
        matches!(e, Error::InvalidTtl { .. }),
        "expected Error::InvalidTtl for {key}, got {e:?}"
    );
}

/// Expects `Error::Overflow` about `key`.
#[track_caller]
pub fn expect_overflow<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::Overflow");
    assert_names_key(&e, key);
    assert!(
        matches!(e, Error::Overflow { .. }),
        "expected Error::Overflow for {key}, got {e:?}"
    );
}

/// Expects `Error::InvalidKey`, with a key that starts with `key_start`; returns the reason.
#[track_caller]
pub fn expect_invalid_key<T: Debug>(r: kvstore::Result<T>, key_start: &str) -> InvalidKeyReason {
    let e = err(r, "expected Error::InvalidKey");
    let shown = e.to_string();
    match e {
        Error::InvalidKey { key, reason } => {
            assert!(
                key.starts_with(key_start),
                "InvalidKey should name the key (starting with {key_start:?}), got {key:?}"
            );
            assert!(shown.contains(&key), "Display should name the key: {shown}");
            reason
        }
        other => panic!("expected Error::InvalidKey for {key_start}, got {other:?}"),
    }
}

/// Expects `InvalidKey` because of an empty id.
#[track_caller]
pub fn expect_empty_id<T: Debug>(r: kvstore::Result<T>, key_start: &str) {
    let reason = expect_invalid_key(r, key_start);
    assert_eq!(reason, InvalidKeyReason::EmptyId);
}

/// Expects `InvalidKey` because the encoded key is too long.
#[track_caller]
pub fn expect_key_too_long<T: Debug>(r: kvstore::Result<T>, key_start: &str) {
    let reason = expect_invalid_key(r, key_start);
    assert!(
        matches!(reason, InvalidKeyReason::KeyTooLong { .. }),
        "expected KeyTooLong, got {reason:?}"
    );
}

/// Expects `InvalidKey` because the value is too large; `key` is exact.
#[track_caller]
pub fn expect_value_too_large<T: Debug>(r: kvstore::Result<T>, key: &str) {
    let e = err(r, "expected Error::InvalidKey (value too large)");
    assert_names_key(&e, key);
    match e {
        Error::InvalidKey {
            reason: InvalidKeyReason::ValueTooLarge { .. },
            ..
        } => {}
        other => panic!("expected InvalidKey/ValueTooLarge for {key}, got {other:?}"),
    }
}

/// Expects a TTL in `[lo, hi]`.
#[track_caller]
pub fn assert_ttl_in(ttl: Option<Duration>, lo: Duration, hi: Duration) {
    match ttl {
        Some(t) if t >= lo && t <= hi => {}
        other => panic!("expected a TTL in [{lo:?}, {hi:?}], got {other:?}"),
    }
}

/// Expects a TTL of `d`, minus at most `slack` of elapsed time (exact on a manual clock up to
/// millisecond rounding).
#[track_caller]
pub fn assert_ttl_about(env: &Env, ttl: Option<Duration>, d: Duration, slack: Duration) {
    let slack = if env.manual_clock() {
        Duration::from_millis(1)
    } else {
        slack
    };
    assert_ttl_in(ttl, d.saturating_sub(slack), d);
}

/// A sorted copy.
pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// `&str`s to `String`s.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// One second.
pub const SECOND: Duration = Duration::from_secs(1);
/// One minute.
pub const MINUTE: Duration = Duration::from_secs(60);
