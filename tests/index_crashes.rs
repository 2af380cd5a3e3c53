//! Crash injection into the secondary-index protocol (ARCHITECTURE.md, "Secondary indexes").
//!
//! A layer (`Faulty`, a public `Backend`) fails the Nth command of one indexed write with a
//! backend timeout — either before forwarding it (nothing applied) or after (applied, the reply
//! lost). For every N over the commands of `set` (a new record, a changed email, a changed score
//! and country), `remove`, `modify` and `set_many`, and both kinds of failure, on memory,
//! standalone Redis and a Redis Cluster:
//!
//! - the call fails with that backend error, or succeeds (a failure the write does not need);
//!   every record is either as before or as written (never anything else);
//! - a successful write is found by every lookup;
//! - lookups never return a record whose current email/country/score differs from the one
//!   asked for, and no two live records have one unique email;
//! - a second writer can claim an email no live record has: at once, unless the crash left a
//!   pending claim (refused with `Error::Unique` naming the crashed writer, within the lease);
//!   after the lease (the claim's token aged by 31 s behind the store's back: the lease is
//!   measured on the system clock, not the backend's `ManualClock`), always;
//! - `repair()` makes the raw entries exactly what the records say.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kvstore::backend::{
    async_trait, Backend, BackendExt as _, BackendInfo, Command, Reply, SetOptions, SortedSetOp,
};
use kvstore::{
    BackendErrorKind, DynBackend, Dynamic, Error, IndexOf, Item, OrderedIndex, Store, UniqueIndex,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use support::backends::{self, Kind, Options};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    email: String,
    country: Option<String>,
    score: i64,
}

#[derive(Store)]
struct App {
    users: Dynamic<Item<User>>,
    #[store(index(of = users, key = email))]
    user_by_email: UniqueIndex<String>,
    #[store(index(of = users, key = country))]
    users_by_country: IndexOf<String>,
    #[store(index(of = users, key = score))]
    users_by_score: OrderedIndex<i64>,
}

fn user(email: &str, country: Option<&str>, score: i64) -> User {
    User {
        email: email.into(),
        country: country.map(Into::into),
        score,
    }
}

const EMAILS: [&str; 4] = ["a@x.io", "a2@x.io", "b@x.io", "c@x.io"];
const COUNTRIES: [&str; 2] = ["NO", "SE"];

// ---------------------------------------------------------------------------------------------
// The faulty layer
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Plan {
    /// Commands executed since armed.
    count: usize,
    /// Fail this command (0-based, counted from arming).
    fail_at: Option<usize>,
    /// Forward it first (applied, the reply lost).
    forward: bool,
    /// Whether the failure was injected.
    fired: bool,
}

struct Faulty {
    inner: DynBackend,
    plan: Mutex<Plan>,
}

#[async_trait]
impl Backend for Faulty {
    fn info(&self) -> BackendInfo<'_> {
        self.inner.info()
    }

    async fn execute(&self, command: Command<'_>) -> kvstore::Result<Reply> {
        let (fail, forward) = {
            let mut plan = self.plan.lock().unwrap();
            let n = plan.count;
            plan.count += 1;
            let fail = plan.fail_at == Some(n);
            if fail {
                plan.fired = true;
            }
            (fail, plan.forward)
        };
        if !fail {
            return self.inner.execute(command).await;
        }
        if forward {
            let _ = self.inner.execute(command).await;
        }
        let key = command.key().to_owned();
        Err(Error::backend(
            BackendErrorKind::Timeout,
            Some(&key),
            "injected: no reply",
        ))
    }
}

impl Faulty {
    fn arm(&self, fail_at: Option<usize>, forward: bool) {
        *self.plan.lock().unwrap() = Plan {
            fail_at,
            forward,
            ..Plan::default()
        };
    }

    /// Commands run since armed, and whether the failure fired.
    fn disarm(&self) -> (usize, bool) {
        let mut plan = self.plan.lock().unwrap();
        let out = (plan.count, plan.fired);
        *plan = Plan::default();
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Op {
    SetNew,
    SetEmail,
    SetScore,
    Remove,
    Modify,
    SetMany,
}

const OPS: [Op; 6] = [
    Op::SetNew,
    Op::SetEmail,
    Op::SetScore,
    Op::Remove,
    Op::Modify,
    Op::SetMany,
];

/// The records before every scenario.
fn before() -> BTreeMap<String, User> {
    BTreeMap::from([
        ("a".into(), user("a@x.io", Some("NO"), 1)),
        ("b".into(), user("b@x.io", Some("SE"), 2)),
    ])
}

/// What the op writes: each record's value after it (`None`: removed).
fn after(op: Op) -> Vec<(String, Option<User>)> {
    match op {
        Op::SetNew => vec![("c".into(), Some(user("c@x.io", Some("NO"), 3)))],
        Op::SetEmail => vec![("a".into(), Some(user("a2@x.io", Some("NO"), 1)))],
        Op::SetScore => vec![("a".into(), Some(user("a@x.io", Some("SE"), 9)))],
        Op::Remove => vec![("a".into(), None)],
        Op::Modify => vec![("a".into(), Some(user("a2@x.io", None, 2)))],
        Op::SetMany => vec![
            ("c".into(), Some(user("c@x.io", None, 2))),
            ("a".into(), Some(user("a2@x.io", Some("SE"), 5))),
        ],
    }
}

async fn run(app: &App, op: Op) -> kvstore::Result<()> {
    let users = app.users();
    let mut writes = after(op);
    match op {
        Op::SetNew | Op::SetEmail | Op::SetScore => {
            let (id, v) = writes.remove(0);
            users.at(id.as_str()).set(&v.unwrap()).await
        }
        Op::Remove => users.remove("a").await.map(drop),
        Op::Modify => users
            .at("a")
            .modify(|cur| {
                cur.map(|u| User {
                    email: "a2@x.io".into(),
                    country: None,
                    score: u.score + 1,
                })
            })
            .await
            .map(drop),
        Op::SetMany => {
            let entries: Vec<(String, User)> =
                writes.into_iter().map(|(i, v)| (i, v.unwrap())).collect();
            users
                .set_many(entries.iter().map(|(i, v)| (i.as_str(), v)))
                .await
        }
    }
}

static CASE: AtomicU64 = AtomicU64::new(0);
/// How many times a second writer was refused by a pending claim (the lease path is covered).
static REFUSED_PENDING: AtomicU64 = AtomicU64::new(0);

fn prefix() -> String {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    format!("ixc:{:08x}{n:06}", std::process::id())
}

struct Case {
    raw: DynBackend,
    faulty: Arc<Faulty>,
    app: App,
    prefix: String,
    what: String,
}

impl Case {
    async fn new(raw: &DynBackend, what: String) -> Case {
        let faulty = Arc::new(Faulty {
            inner: raw.clone(),
            plan: Mutex::new(Plan::default()),
        });
        let prefix = prefix();
        let app = App::open_with_prefix(faulty.clone() as DynBackend, &prefix);
        for (id, u) in before() {
            app.users().set(id.as_str(), &u).await.unwrap();
        }
        Case {
            raw: raw.clone(),
            faulty,
            app,
            prefix,
            what,
        }
    }

    /// The live records, read raw.
    async fn records(&self) -> BTreeMap<String, User> {
        let mut out = BTreeMap::new();
        for id in ["a", "b", "c", "z"] {
            if let Some(bytes) = self.raw.get(&self.rec_key(id)).await.unwrap() {
                out.insert(id.to_owned(), serde_json::from_slice(&bytes).unwrap());
            }
        }
        out
    }

    fn rec_key(&self, id: &str) -> String {
        format!("{}:users:{id}", self.prefix)
    }

    fn email_key(&self, e: &str) -> String {
        format!("{}:user_by_email:{e}", self.prefix)
    }

    /// The claim at `email`: (id, held, bytes).
    async fn claim(&self, email: &str) -> Option<(String, bool, serde_json::Value)> {
        let bytes = self.raw.get(&self.email_key(email)).await.unwrap()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        Some((
            v["id"].as_str().unwrap().to_owned(),
            v["held"].as_bool().unwrap(),
            v,
        ))
    }

    /// Lookups never lie; no two live records hold one email.
    async fn check_lookups(&self, step: &str) {
        let what = format!("{} ({step})", self.what);
        let records = self.records().await;
        let mut by_email: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (id, u) in &records {
            by_email.entry(&u.email).or_default().push(id);
        }
        for (e, ids) in &by_email {
            assert!(ids.len() <= 1, "{what}: two live records have {e}: {ids:?}");
        }
        for e in EMAILS {
            let got = self.app.user_by_email().get(e).await.unwrap();
            let id = self.app.user_by_email().id(e).await.unwrap();
            if let Some(u) = &got {
                assert_eq!(&u.email, e, "{what}: get({e}) returned {u:?}");
            }
            if let Some(id) = &id {
                assert_eq!(
                    records.get(id).map(|u| u.email.as_str()),
                    Some(e),
                    "{what}: id({e}) = {id}, whose record is {:?}",
                    records.get(id)
                );
            }
        }
        for c in COUNTRIES {
            for (id, u) in self.app.users_by_country().get(c).await.unwrap() {
                assert_eq!(u.country.as_deref(), Some(c), "{what}: country {c}: {u:?}");
                assert_eq!(records.get(&id), Some(&u), "{what}: country {c}: {id}");
            }
        }
        let ranked = self.app.users_by_score().first(100).await.unwrap();
        let mut last = None;
        for (id, u) in &ranked {
            assert_eq!(records.get(id), Some(u), "{what}: by score: {id}");
            let at = (u.score, id.clone());
            assert!(last < Some(at.clone()), "{what}: order {ranked:?}");
            last = Some(at);
        }
        for (lo, hi) in [(0, 2), (3, 9)] {
            for (id, u) in self.app.users_by_score().range(lo, hi, 100).await.unwrap() {
                assert!(u.score >= lo && u.score <= hi, "{what}: range {lo}..={hi}");
                assert_eq!(records.get(&id), Some(&u), "{what}: range: {id}");
            }
        }
    }

    /// Every live record is found by every lookup (after a successful write or a repair).
    async fn check_complete(&self, step: &str) {
        let what = format!("{} ({step})", self.what);
        let records = self.records().await;
        for (id, u) in &records {
            assert_eq!(
                self.app.user_by_email().id(u.email.as_str()).await.unwrap(),
                Some(id.clone()),
                "{what}: {id} by email"
            );
            if let Some(c) = &u.country {
                let ids = self.app.users_by_country().ids(c.as_str()).await.unwrap();
                assert!(ids.contains(id), "{what}: {id} by country: {ids:?}");
            }
        }
        let ranked: Vec<String> = self
            .app
            .users_by_score()
            .first(100)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut want: Vec<(i64, String)> = records
            .iter()
            .map(|(id, u)| (u.score, id.clone()))
            .collect();
        want.sort();
        let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
        assert_eq!(ranked, want, "{what}: by score");
    }

    /// A second writer (`z`) tries every email: refused exactly when a live record has it
    /// (that record named), or a pending claim within its lease names another writer; when it
    /// succeeds, `z` is removed again.
    async fn second_writer(&self, step: &str, lease_over: bool) {
        let what = format!("{} ({step})", self.what);
        for e in EMAILS {
            let records = self.records().await;
            let owner = records.iter().find(|(_, u)| u.email == e).map(|(i, _)| i);
            let claim = self.claim(e).await;
            let pending = claim.as_ref().filter(|(_, held, _)| !held);
            let result = self.app.users().set("z", &user(e, Some("NO"), 0)).await;
            match (owner, pending) {
                (Some(owner), _) => match &result {
                    Err(Error::Unique { holder, .. }) => {
                        assert_eq!(holder, owner, "{what}: z on {e}")
                    }
                    other => panic!("{what}: z took {e}, held by {owner}: {other:?}"),
                },
                (None, Some((id, _, _))) if !lease_over => match &result {
                    Err(Error::Unique { holder, .. }) => {
                        assert_eq!(holder, id, "{what}: z on pending {e}");
                        REFUSED_PENDING.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("{what}: z took {e}, pending for {id}: {other:?}"),
                },
                (None, _) => {
                    assert!(result.is_ok(), "{what}: z could not take {e}: {result:?}");
                    assert!(self.app.users().remove("z").await.unwrap());
                }
            }
            if result.is_err() {
                assert_eq!(
                    self.raw.get(&self.rec_key("z")).await.unwrap(),
                    None,
                    "{what}: a refused z wrote its record"
                );
            }
        }
    }

    /// Ages every pending claim's token by 31 s (its lease is over), behind the store's back.
    async fn end_leases(&self) {
        for e in EMAILS {
            let Some((_, false, mut v)) = self.claim(e).await else {
                continue;
            };
            let token = v["token"].as_str().unwrap().to_owned();
            let (ms, rest) = token.split_once('-').unwrap();
            let ms: u64 = ms.parse().unwrap();
            v["token"] = format!("{}-{rest}", ms - 31_000).into();
            let bytes = serde_json::to_vec(&v).unwrap();
            self.raw
                .set(&self.email_key(e), &bytes, SetOptions::default())
                .await
                .unwrap();
        }
    }

    /// `repair()` of every index, then the raw entries are exactly the records'.
    async fn repair_and_compare(&self, step: &str) {
        let what = format!("{} ({step})", self.what);
        self.app.user_by_email().repair().await.unwrap();
        self.app.users_by_country().repair().await.unwrap();
        self.app.users_by_score().repair().await.unwrap();
        let records = self.records().await;
        let p = &self.prefix;
        let mut keys = self.raw.scan_prefix(&format!("{p}:")).await.unwrap();
        keys.sort();
        let mut want: BTreeSet<String> = BTreeSet::new();
        for (id, u) in &records {
            want.insert(self.rec_key(id));
            want.insert(self.email_key(&u.email));
            if let Some(c) = &u.country {
                want.insert(format!("{p}:users_by_country:{c}"));
            }
            want.insert(format!("{p}:users_by_score"));
        }
        assert_eq!(keys, want.into_iter().collect::<Vec<_>>(), "{what}: keys");
        for (id, u) in &records {
            let (holder, held, v) = self.claim(&u.email).await.unwrap();
            assert_eq!(&holder, id, "{what}: claim of {}: {v}", u.email);
            if !held {
                // A pending claim whose record has the key: held in effect (the record
                // agrees); repair() leaves it pending.
                eprintln!(
                    "note: {what}: {}'s claim stays pending after repair",
                    u.email
                );
            }
        }
        for c in COUNTRIES {
            let mut members: Vec<String> = self
                .raw
                .set_members(&format!("{p}:users_by_country:{c}"))
                .await
                .unwrap()
                .into_iter()
                .map(|m| String::from_utf8(m).unwrap())
                .collect();
            members.sort();
            let want: Vec<String> = records
                .iter()
                .filter(|(_, u)| u.country.as_deref() == Some(c))
                .map(|(i, _)| i.clone())
                .collect();
            assert_eq!(members, want, "{what}: country {c}");
        }
        let key = format!("{p}:users_by_score");
        let range = Command::SortedSet {
            key: &key,
            op: SortedSetOp::Range {
                start: 0,
                stop: -1,
                rev: false,
            },
        };
        let Reply::Scored(scored) = self.raw.execute(range).await.unwrap() else {
            panic!("{what}: ZRANGE")
        };
        let got: Vec<(String, f64)> = scored
            .into_iter()
            .map(|(m, s)| (String::from_utf8(m).unwrap(), s))
            .collect();
        let mut want: Vec<(String, f64)> = records
            .iter()
            .map(|(i, u)| (format!("{:016x}:{i}", sortable(u.score as f64)), 0.0))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "{what}: ordered entries");
    }

    async fn cleanup(&self) {
        let keys = self
            .raw
            .scan_prefix(&format!("{}:", self.prefix))
            .await
            .unwrap();
        if !keys.is_empty() {
            self.raw.delete(&keys).await.unwrap();
        }
    }
}

fn sortable(score: f64) -> u64 {
    let bits = score.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Every crash point of every op, both kinds of failure; returns the scenarios run.
async fn crash_everywhere(raw: DynBackend, name: &str) -> usize {
    let mut scenarios = 0;
    for op in OPS {
        // How many commands the op runs when nothing fails.
        let case = Case::new(&raw, format!("{name} {op:?} dry run")).await;
        case.faulty.arm(None, false);
        run(&case.app, op).await.unwrap();
        let (total, _) = case.faulty.disarm();
        case.check_lookups("dry run").await;
        case.check_complete("dry run").await;
        case.cleanup().await;
        assert!(total > 1, "{op:?} ran {total} commands");
        for n in 0..total {
            for forward in [false, true] {
                scenarios += 1;
                let what = format!(
                    "{name} {op:?}, command #{n} of {total} fails {}",
                    if forward {
                        "after applying"
                    } else {
                        "before applying"
                    }
                );
                let case = Case::new(&raw, what.clone()).await;
                case.faulty.arm(Some(n), forward);
                let result = run(&case.app, op).await;
                let (_, fired) = case.faulty.disarm();
                assert!(fired, "{what}: the failure did not fire");
                // Each record is as before or as written.
                let records = case.records().await;
                let old = before();
                for (id, new) in after(op) {
                    let now = records.get(&id);
                    assert!(
                        now == old.get(&id) || now == new.as_ref(),
                        "{what}: {id} is {now:?}"
                    );
                }
                match &result {
                    Ok(()) => {
                        for (id, new) in after(op) {
                            assert_eq!(records.get(&id), new.as_ref(), "{what}: Ok, but {id}");
                        }
                        case.check_complete("after an Ok write").await;
                    }
                    Err(Error::Backend(b)) => {
                        assert_eq!(b.kind(), BackendErrorKind::Timeout, "{what}: {b}")
                    }
                    Err(e) => panic!("{what}: {e:?}"),
                }
                case.check_lookups("after the crash").await;
                case.second_writer("within the lease", false).await;
                case.check_lookups("after the second writer").await;
                case.end_leases().await;
                case.repair_and_compare("after the lease").await;
                case.check_lookups("after repair").await;
                case.check_complete("after repair").await;
                case.second_writer("after the lease", true).await;
                case.cleanup().await;
            }
        }
    }
    assert!(
        REFUSED_PENDING.load(Ordering::Relaxed) > 0,
        "no crash left a pending claim of a key no record has"
    );
    scenarios
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn on(kind: Kind) {
    let rt = runtime();
    let running = rt.block_on(backends::start(kind, Options::default()));
    let started = std::time::Instant::now();
    let n = rt.block_on(crash_everywhere(
        running.backend.clone(),
        &format!("{kind:?}"),
    ));
    eprintln!("{kind:?}: {n} crash scenarios in {:?}", started.elapsed());
}

#[test]
fn crashes_memory() {
    on(Kind::Memory);
}

#[test]
fn crashes_redis() {
    on(Kind::Redis);
}

#[test]
fn crashes_redis_cluster() {
    on(Kind::Cluster);
}
