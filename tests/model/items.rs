//! The first model: items, counters, sets, dynamic keyspaces, nested and colocated tenants,
//! atomic steps (`M`, `Op`, `Model`), its cases and its fixed sequences.

use super::*;

/// An older version of `Rec`: `docs` reads it (converted, and written back).
#[derive(Serialize, Deserialize, JsonSchema)]
struct RecV1 {
    v1: u32,
}

impl From<RecV1> for Rec {
    fn from(old: RecV1) -> Rec {
        Rec {
            n: old.v1,
            s: "v1".into(),
        }
    }
}

#[derive(Store)]
struct M {
    item: Item<Rec>,
    ctr: Counter,
    tags: SetOf<String>,
    #[store(migrate_from(RecV1))]
    docs: Dynamic<Item<Rec>>,
    #[store(ttl = "2m")]
    sess: Dynamic<Item<Rec>>,
    #[store(ttl = "2m")]
    hits: Dynamic<Counter>,
    t: Dynamic<Ten>,
    #[store(colocate)]
    ct: Dynamic<Ten>,
}

#[derive(Store)]
struct Ten {
    item: Item<Rec>,
    ctr: Counter,
    docs: Dynamic<Item<Rec>>,
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Where an `Item<Rec>` lives. `bool`: the colocated tenants (`ct`) rather than `t`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RecAddr {
    Item,
    Doc(Id),
    Sess(Id),
    TItem(bool, Id),
    TDoc(bool, Id, Id),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CtrAddr {
    Ctr,
    Hit(Id),
    TCtr(bool, Id),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Addr {
    Rec(RecAddr),
    Ctr(CtrAddr),
    Tags,
}

/// A `Dynamic` keyspace.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Dyn {
    Docs,
    Sess,
    Hits,
    Tenants(bool),
    TDocs(bool, Id),
}

/// The closures `modify` is called with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ModF {
    /// `n + 1`, or `n = 0` when absent.
    Inc,
    /// Remove.
    Del,
    /// Keep the current value (absent stays absent).
    Keep,
    /// A value that fails validation.
    Invalid,
}

impl ModF {
    fn apply(self, cur: Option<Rec>) -> Option<Rec> {
        match self {
            ModF::Inc => Some(match cur {
                Some(r) => Rec { n: r.n + 1, s: r.s },
                None => Rec {
                    n: 0,
                    s: String::new(),
                },
            }),
            ModF::Del => None,
            ModF::Keep => cur,
            ModF::Invalid => Some(Rec {
                n: 5000,
                s: "bad".into(),
            }),
        }
    }
}

/// Bytes written behind the store's back with the raw backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Raw {
    /// `not json` (a string key), or a set member `{bad`.
    NotJson,
    /// `{"n":5000,"s":""}`: JSON of the right shape that breaks the schema.
    OutOfRange,
    /// `42`: valid JSON of the wrong shape (a valid counter).
    Number,
    /// `{"v1":7}`: an older version of `Rec` (read as `Rec(7, "v1")` under `docs`, which lists
    /// it in `migrate_from`; a decode error everywhere else).
    OldVersion,
}

impl Raw {
    fn bytes(self) -> &'static [u8] {
        match self {
            Raw::NotJson => b"not json",
            Raw::OutOfRange => br#"{"n":5000,"s":""}"#,
            Raw::Number => b"42",
            Raw::OldVersion => br#"{"v1":7}"#,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Get(RecAddr),
    Set(RecAddr, Rec),
    SetTtl(RecAddr, Rec, u64),
    SetIfAbsent(RecAddr, Rec),
    Modify(RecAddr, ModF),
    Remove(Addr),
    Exists(Addr),
    Ttl(Addr),
    Expire(Addr, u64),
    Persist(Addr),
    CtrGet(CtrAddr),
    Incr(CtrAddr, i64),
    Decr(CtrAddr, i64),
    SAdd(Id),
    SRem(Id),
    SContains(Id),
    SMembers,
    SLen,
    DGet(Dyn, Id),
    DSet(Dyn, Id, Rec),
    DRemove(Dyn, Id),
    GetMany(Dyn, Vec<Id>),
    SetMany(Dyn, Vec<(Id, Rec)>),
    Entries(Dyn),
    Keys(Dyn),
    Count(Dyn),
    Clear(Dyn),
    RawWrite(Addr, Raw),
    /// An atomic step inside one colocated tenant (one hash slot on a cluster): checks, then
    /// writes.
    Step(Id, Vec<(StepRec, Option<Rec>)>, Vec<StepWrite>),
    /// Advance the manual clock (memory only).
    Sleep(u64),
}

/// An item of the colocated tenant of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
enum StepRec {
    Item,
    Doc(Id),
}

impl StepRec {
    fn addr(&self, tenant: &Id) -> RecAddr {
        match self {
            StepRec::Item => RecAddr::TItem(true, tenant.clone()),
            StepRec::Doc(i) => RecAddr::TDoc(true, tenant.clone(), i.clone()),
        }
    }
}

/// A write of a step.
#[derive(Clone, Debug)]
enum StepWrite {
    Set(StepRec, Rec),
    Remove(StepRec),
    /// On the tenant's counter.
    Incr(i64),
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn docs_base_len() -> usize {
    PREFIX_LEN + ":docs:".len()
}

/// Ids: a few plain ones (so operations collide), every character the key layout escapes, control
/// characters, non-ASCII, the empty id, and ids whose key is exactly at, or one byte over, the
/// 1024-byte key limit (as `docs` ids; deeper they are simply too long), and a 10 kB id.
fn id_pool() -> Vec<Id> {
    let at_limit = MAX_KEY - docs_base_len();
    let mut v: Vec<Id> = [
        "a",
        "b",
        "a:b",
        "*",
        "?",
        "[x]",
        "\\",
        "{t}",
        "}{",
        "%",
        "%3A",
        "\0",
        "\x07\x1f\x7f",
        "ü ✓",
        " ",
        "",
    ]
    .iter()
    .map(|s| id(s))
    .collect();
    v.push(Id("x".repeat(at_limit)));
    v.push(Id("x".repeat(at_limit + 1)));
    // ':' encodes to 3 bytes: 332 of them fit, 333 do not (26 + 999 = 1025).
    v.push(Id(":".repeat(at_limit / 3)));
    v.push(Id(":".repeat(at_limit / 3 + 1)));
    v.push(Id("k".repeat(10 * 1024)));
    v
}

fn any_id() -> impl Strategy<Value = Id> {
    let pool = id_pool();
    prop_oneof![
        6 => prop::sample::select(vec![id("a"), id("b"), id("a:b")]),
        3 => prop::sample::select(pool),
    ]
}

/// Tenant ids: hostile ones too, but none whose nested keys land near the key limit (see
/// `hostile.rs` for that boundary).
fn tenant_id() -> impl Strategy<Value = Id> {
    prop_oneof![
        6 => prop::sample::select(vec![id("acme"), id("beta")]),
        2 => prop::sample::select(vec![
            id("acme:docs"),
            id("*"),
            id("{acme}"),
            id("%61"),
            id("\n"),
            id(""),
            Id("z".repeat(1100)),
        ]),
    ]
}

fn step() -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        Just(StepRec::Item),
        prop::sample::select(vec![id("a"), id("b")]).prop_map(StepRec::Doc),
    ];
    let check = (target.clone(), prop::option::of(rec()));
    let write = prop_oneof![
        3 => (target.clone(), rec()).prop_map(|(t, v)| StepWrite::Set(t, v)),
        1 => target.prop_map(StepWrite::Remove),
        2 => prop::sample::select(vec![1i64, -1, 5, i64::MAX]).prop_map(StepWrite::Incr),
    ];
    (
        tenant_id(),
        prop::collection::vec(check, 0..3),
        prop::collection::vec(write, 0..4),
    )
        .prop_map(|(t, checks, writes)| Op::Step(t, checks, writes))
}

/// Set members, including ones whose JSON is exactly the size limit, or one over.
fn member() -> impl Strategy<Value = Id> {
    prop::sample::select(vec![
        id("a"),
        id("b"),
        id("{\"x\"}"),
        id("ü"),
        id("\0"),
        id(""),
        Id("m".repeat(MAX_VALUE - 2)),
        Id("m".repeat(MAX_VALUE - 1)),
    ])
}

fn rec_addr() -> impl Strategy<Value = RecAddr> {
    prop_oneof![
        2 => Just(RecAddr::Item),
        3 => any_id().prop_map(RecAddr::Doc),
        2 => any_id().prop_map(RecAddr::Sess),
        1 => (any::<bool>(), tenant_id()).prop_map(|(c, t)| RecAddr::TItem(c, t)),
        2 => (any::<bool>(), tenant_id(), any_id()).prop_map(|(c, t, i)| RecAddr::TDoc(c, t, i)),
    ]
}

fn ctr_addr() -> impl Strategy<Value = CtrAddr> {
    prop_oneof![
        2 => Just(CtrAddr::Ctr),
        2 => any_id().prop_map(CtrAddr::Hit),
        1 => (any::<bool>(), tenant_id()).prop_map(|(c, t)| CtrAddr::TCtr(c, t)),
    ]
}

fn addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        3 => rec_addr().prop_map(Addr::Rec),
        2 => ctr_addr().prop_map(Addr::Ctr),
        1 => Just(Addr::Tags),
    ]
}

fn item_dyn() -> impl Strategy<Value = Dyn> {
    prop_oneof![
        3 => Just(Dyn::Docs),
        2 => Just(Dyn::Sess),
        2 => (any::<bool>(), tenant_id()).prop_map(|(c, t)| Dyn::TDocs(c, t)),
    ]
}

fn any_dyn() -> impl Strategy<Value = Dyn> {
    prop_oneof![
        4 => item_dyn(),
        1 => Just(Dyn::Hits),
        2 => any::<bool>().prop_map(Dyn::Tenants),
    ]
}

fn delta() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![1i64, -1, 7, 0, i64::MAX, i64::MIN, -1000])
}

/// TTLs in ms (0 is refused by `set_with_ttl`, and deletes for `expire`). On Redis no time is
/// simulated, so only TTLs that cannot run out during a case.
fn ttl_ms(redis: bool) -> BoxedStrategy<u64> {
    if redis {
        prop::sample::select(vec![0u64, 30_000, 60_000, 3_600_000]).boxed()
    } else {
        prop::sample::select(vec![0u64, 1, 5, 1000, 60_000, 3_600_000]).boxed()
    }
}

fn op(redis: bool) -> impl Strategy<Value = Op> {
    let common = prop_oneof![
        4 => rec_addr().prop_map(Op::Get),
        4 => (rec_addr(), rec()).prop_map(|(a, v)| Op::Set(a, v)),
        2 => (rec_addr(), rec(), ttl_ms(redis)).prop_map(|(a, v, t)| Op::SetTtl(a, v, t)),
        2 => (rec_addr(), rec()).prop_map(|(a, v)| Op::SetIfAbsent(a, v)),
        3 => (rec_addr(), prop::sample::select(vec![ModF::Inc, ModF::Inc, ModF::Del, ModF::Keep, ModF::Invalid]))
            .prop_map(|(a, f)| Op::Modify(a, f)),
        2 => addr().prop_map(Op::Remove),
        1 => addr().prop_map(Op::Exists),
        2 => addr().prop_map(Op::Ttl),
        2 => (addr(), ttl_ms(redis)).prop_map(|(a, t)| Op::Expire(a, t)),
        1 => addr().prop_map(Op::Persist),
        2 => ctr_addr().prop_map(Op::CtrGet),
        3 => (ctr_addr(), delta()).prop_map(|(a, d)| Op::Incr(a, d)),
        1 => (ctr_addr(), delta()).prop_map(|(a, d)| Op::Decr(a, d)),
        2 => member().prop_map(Op::SAdd),
        1 => member().prop_map(Op::SRem),
        1 => member().prop_map(Op::SContains),
        1 => Just(Op::SMembers),
        1 => Just(Op::SLen),
    ];
    let dynamic = prop_oneof![
        2 => (item_dyn(), any_id()).prop_map(|(d, i)| Op::DGet(d, i)),
        2 => (item_dyn(), any_id(), rec()).prop_map(|(d, i, v)| Op::DSet(d, i, v)),
        1 => (item_dyn(), any_id()).prop_map(|(d, i)| Op::DRemove(d, i)),
        2 => (item_dyn(), prop::collection::vec(any_id(), 0..5)).prop_map(|(d, v)| Op::GetMany(d, v)),
        2 => (item_dyn(), prop::collection::vec((any_id(), rec()), 0..5)).prop_map(|(d, v)| Op::SetMany(d, v)),
        1 => item_dyn().prop_map(Op::Entries),
        2 => any_dyn().prop_map(Op::Keys),
        1 => any_dyn().prop_map(Op::Count),
        1 => any_dyn().prop_map(Op::Clear),
        1 => (addr(), prop::sample::select(vec![Raw::NotJson, Raw::OutOfRange, Raw::Number, Raw::OldVersion]))
            .prop_map(|(a, r)| Op::RawWrite(a, r)),
        2 => step(),
    ];
    if redis {
        prop_oneof![5 => common, 3 => dynamic].boxed()
    } else {
        let sleep = prop::sample::select(vec![1u64, 4, 5, 999, 60_000]).prop_map(Op::Sleep);
        prop_oneof![5 => common, 3 => dynamic, 1 => sleep].boxed()
    }
}

fn ops(redis: bool, max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(redis), 1..max)
}

// ---------------------------------------------------------------------------------------------
// Keys, built independently from the README's key layout
// ---------------------------------------------------------------------------------------------

/// A key under construction: the first problem wins (as the contract's `InvalidKey` reasons).
#[derive(Clone, Debug)]
struct Kp {
    key: String,
    err: Option<&'static str>,
}

impl Kp {
    fn root(prefix: &str) -> Kp {
        Kp {
            key: prefix.to_owned(),
            err: None,
        }
    }

    fn child(&self, name: &str) -> Kp {
        let mut k = self.clone();
        k.key.push(':');
        k.key.push_str(name);
        k.check_len();
        k
    }

    fn id(&self, id: &Id, colocate: bool) -> Kp {
        let mut k = self.clone();
        k.key.push(':');
        if colocate {
            k.key.push('{');
        }
        if id.0.is_empty() && k.err.is_none() {
            k.err = Some("EmptyId");
        }
        k.key.push_str(&encode(&id.0));
        if colocate {
            k.key.push('}');
        }
        k.check_len();
        k
    }

    /// The key layout: an encoded key over 1024 bytes is `InvalidKey`.
    fn check_len(&mut self) {
        if self.key.len() > MAX_KEY && self.err.is_none() {
            self.err = Some("KeyTooLong");
        }
    }

    fn result(&self) -> Result<String, Out> {
        match self.err {
            None => Ok(self.key.clone()),
            Some(reason) => Err(Out::E(format!("InvalidKey/{reason}@{}", self.key))),
        }
    }
}

fn tenant_path(root: &Kp, co: bool, t: &Id) -> Kp {
    root.child(if co { "ct" } else { "t" }).id(t, co)
}

fn rec_key(root: &Kp, a: &RecAddr) -> Kp {
    match a {
        RecAddr::Item => root.child("item"),
        RecAddr::Doc(i) => root.child("docs").id(i, false),
        RecAddr::Sess(i) => root.child("sess").id(i, false),
        RecAddr::TItem(c, t) => tenant_path(root, *c, t).child("item"),
        RecAddr::TDoc(c, t, i) => tenant_path(root, *c, t).child("docs").id(i, false),
    }
}

fn ctr_key(root: &Kp, a: &CtrAddr) -> Kp {
    match a {
        CtrAddr::Ctr => root.child("ctr"),
        CtrAddr::Hit(i) => root.child("hits").id(i, false),
        CtrAddr::TCtr(c, t) => tenant_path(root, *c, t).child("ctr"),
    }
}

fn addr_key(root: &Kp, a: &Addr) -> Kp {
    match a {
        Addr::Rec(r) => rec_key(root, r),
        Addr::Ctr(c) => ctr_key(root, c),
        Addr::Tags => root.child("tags"),
    }
}

fn dyn_path(root: &Kp, d: &Dyn) -> Kp {
    match d {
        Dyn::Docs => root.child("docs"),
        Dyn::Sess => root.child("sess"),
        Dyn::Hits => root.child("hits"),
        Dyn::Tenants(c) => root.child(if *c { "ct" } else { "t" }),
        Dyn::TDocs(c, t) => tenant_path(root, *c, t).child("docs"),
    }
}

fn dyn_item(d: &Dyn, i: &Id) -> RecAddr {
    match d {
        Dyn::Docs => RecAddr::Doc(i.clone()),
        Dyn::Sess => RecAddr::Sess(i.clone()),
        Dyn::TDocs(c, t) => RecAddr::TDoc(*c, t.clone(), i.clone()),
        Dyn::Hits | Dyn::Tenants(_) => unreachable!("not a Dynamic<Item<_>>"),
    }
}

/// The id under `d` that `a` is stored at, if `a` belongs to the keyspace `d`.
fn member_of(d: &Dyn, a: &Addr) -> Option<Id> {
    match (d, a) {
        (Dyn::Docs, Addr::Rec(RecAddr::Doc(i)))
        | (Dyn::Sess, Addr::Rec(RecAddr::Sess(i)))
        | (Dyn::Hits, Addr::Ctr(CtrAddr::Hit(i))) => Some(i.clone()),
        (Dyn::Tenants(c), Addr::Rec(RecAddr::TItem(c2, t) | RecAddr::TDoc(c2, t, _)))
        | (Dyn::Tenants(c), Addr::Ctr(CtrAddr::TCtr(c2, t)))
            if c == c2 =>
        {
            Some(t.clone())
        }
        (Dyn::TDocs(c, t), Addr::Rec(RecAddr::TDoc(c2, t2, i))) if c == c2 && t == t2 => {
            Some(i.clone())
        }
        _ => None,
    }
}

fn default_ttl(a: &Addr) -> Option<u64> {
    match a {
        Addr::Rec(RecAddr::Sess(_)) | Addr::Ctr(CtrAddr::Hit(_)) => Some(DEFAULT_TTL_MS),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Slot {
    Rec(Rec),
    Int(i64),
    /// JSON texts of the members.
    Set(BTreeSet<Vec<u8>>),
    /// Bytes written behind the store's back.
    Raw(Raw),
}

struct Model {
    root: Kp,
    now: u64,
    map: BTreeMap<Addr, (Slot, Option<u64>)>,
}

/// What reading the value type `Rec` from `slot` gives.
fn read_rec(key: &str, slot: &Slot) -> Result<Rec, Out> {
    match slot {
        Slot::Rec(r) => Ok(r.clone()),
        // Not JSON, or JSON of another shape: a decode error (the README: "stored bytes are not
        // JSON of the expected shape"). JSON of the right shape that breaks a constraint: a
        // validation error.
        Slot::Raw(Raw::NotJson | Raw::Number) => Err(Out::E(format!("Decode@{key}"))),
        Slot::Raw(Raw::OutOfRange) => Err(Out::E(format!("Validation@{key}"))),
        // An older version: converted where the field lists it (`docs`), the same value however
        // often it is read (the write-back changes the bytes, not the value).
        Slot::Raw(Raw::OldVersion) if key[PREFIX_LEN..].starts_with(":docs:") => Ok(Rec {
            n: 7,
            s: "v1".into(),
        }),
        Slot::Raw(Raw::OldVersion) => Err(Out::E(format!("Decode@{key}"))),
        Slot::Int(_) | Slot::Set(_) => unreachable!("a Rec address holds a Rec"),
    }
}

fn read_int(key: &str, slot: &Slot) -> Result<i64, Out> {
    match slot {
        Slot::Int(n) => Ok(*n),
        Slot::Raw(Raw::Number) => Ok(42),
        Slot::Raw(_) => Err(Out::E(format!("Decode@{key}"))),
        _ => unreachable!("a counter address holds an integer"),
    }
}

impl Model {
    fn new(prefix: &str) -> Model {
        Model {
            root: Kp::root(prefix),
            now: 0,
            map: BTreeMap::new(),
        }
    }

    fn purge(&mut self) {
        let now = self.now;
        self.map
            .retain(|_, (_, deadline)| deadline.is_none_or(|d| d > now));
    }

    /// The encoded key of every live entry.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .map
            .keys()
            .map(|a| {
                addr_key(&self.root, a)
                    .result()
                    .expect("stored keys are valid")
            })
            .collect();
        keys.sort();
        keys
    }

    /// An atomic step: every key and value checked first (the first problem is the error),
    /// then the checks (any failing: `false`, nothing written), then the writes on a copy that
    /// replaces the map only when all of them succeed.
    fn step(&mut self, t: &Id, checks: &[(StepRec, Option<Rec>)], writes: &[StepWrite]) -> Out {
        let root = self.root.clone();
        for (target, expected) in checks {
            let key = tri!(rec_key(&root, &target.addr(t)).result());
            if let Some(v) = expected {
                tri!(encode_rec(&key, v));
            }
        }
        let counter = CtrAddr::TCtr(true, t.clone());
        for write in writes {
            match write {
                StepWrite::Set(target, v) => {
                    let key = tri!(rec_key(&root, &target.addr(t)).result());
                    tri!(encode_rec(&key, v));
                }
                StepWrite::Remove(target) => {
                    tri!(rec_key(&root, &target.addr(t)).result());
                }
                StepWrite::Incr(_) => {
                    tri!(ctr_key(&root, &counter).result());
                }
            }
        }
        if writes.is_empty() && checks.is_empty() {
            return Out::B(true);
        }
        for (target, expected) in checks {
            let holds = match (self.map.get(&Addr::Rec(target.addr(t))), expected) {
                (None, None) => true,
                (Some((Slot::Rec(r), _)), Some(v)) => r == v,
                _ => false,
            };
            if !holds {
                return Out::B(false);
            }
        }
        let mut next = self.map.clone();
        for write in writes {
            match write {
                StepWrite::Set(target, v) => {
                    let a = Addr::Rec(target.addr(t));
                    let deadline = default_ttl(&a).map(|ttl| self.now + ttl);
                    next.insert(a, (Slot::Rec(v.clone()), deadline));
                }
                StepWrite::Remove(target) => {
                    next.remove(&Addr::Rec(target.addr(t)));
                }
                StepWrite::Incr(by) => {
                    let a = Addr::Ctr(counter.clone());
                    let key = ctr_key(&root, &counter).key;
                    let value = match next.get(&a) {
                        None => Some(*by),
                        Some((slot, _)) => tri!(read_int(&key, slot)).checked_add(*by),
                    };
                    let Some(value) = value else {
                        return err_at("Overflow", &key);
                    };
                    match next.get_mut(&a) {
                        Some(entry) => entry.0 = Slot::Int(value),
                        None => {
                            let deadline = default_ttl(&a).map(|ttl| self.now + ttl);
                            next.insert(a, (Slot::Int(value), deadline));
                        }
                    }
                }
            }
        }
        self.map = next;
        Out::B(true)
    }

    fn put(&mut self, a: &Addr, slot: Slot, ttl: Option<u64>) {
        let deadline = ttl.map(|t| self.now + t);
        self.map.insert(a.clone(), (slot, deadline));
    }

    fn apply(&mut self, op: &Op) -> Out {
        self.purge();
        let root = self.root.clone();
        match op {
            Op::Get(a) => {
                let key = tri!(rec_key(&root, a).result());
                match self.map.get(&Addr::Rec(a.clone())) {
                    None => Out::R(None),
                    Some((slot, _)) => Out::R(Some(tri!(read_rec(&key, slot)))),
                }
            }
            Op::Set(a, v) => self.set_rec(a, v, default_ttl(&Addr::Rec(a.clone()))),
            Op::SetTtl(a, v, ttl) => {
                if *ttl == 0 {
                    return err_at("InvalidTtl", &rec_key(&root, a).key);
                }
                self.set_rec(a, v, Some(*ttl))
            }
            Op::SetIfAbsent(a, v) => {
                let key = tri!(rec_key(&root, a).result());
                tri!(encode_rec(&key, v));
                let addr = Addr::Rec(a.clone());
                if self.map.contains_key(&addr) {
                    return Out::B(false);
                }
                self.put(&addr, Slot::Rec(v.clone()), default_ttl(&addr));
                Out::B(true)
            }
            Op::Modify(a, f) => {
                let key = tri!(rec_key(&root, a).result());
                let addr = Addr::Rec(a.clone());
                let current = match self.map.get(&addr) {
                    None => None,
                    Some((slot, _)) => Some(tri!(read_rec(&key, slot))),
                };
                let existed = current.is_some();
                match f.apply(current) {
                    None => {
                        self.map.remove(&addr);
                        Out::R(None)
                    }
                    Some(next) => {
                        tri!(encode_rec(&key, &next));
                        if existed {
                            self.map.get_mut(&addr).unwrap().0 = Slot::Rec(next.clone());
                        } else {
                            self.put(&addr, Slot::Rec(next.clone()), default_ttl(&addr));
                        }
                        Out::R(Some(next))
                    }
                }
            }
            Op::Remove(a) => {
                tri!(addr_key(&root, a).result());
                Out::B(self.map.remove(a).is_some())
            }
            Op::Exists(a) => {
                tri!(addr_key(&root, a).result());
                Out::B(self.map.contains_key(a))
            }
            Op::Ttl(a) => {
                tri!(addr_key(&root, a).result());
                Out::Ttl(match self.map.get(a) {
                    Some((_, Some(d))) => Some(Duration::from_millis(d - self.now)),
                    _ => None,
                })
            }
            Op::Expire(a, ttl) => {
                tri!(addr_key(&root, a).result());
                if !self.map.contains_key(a) {
                    return Out::B(false);
                }
                if *ttl == 0 {
                    self.map.remove(a);
                } else {
                    self.map.get_mut(a).unwrap().1 = Some(self.now + ttl);
                }
                Out::B(true)
            }
            Op::Persist(a) => {
                tri!(addr_key(&root, a).result());
                match self.map.get_mut(a) {
                    Some((_, d @ Some(_))) => {
                        *d = None;
                        Out::B(true)
                    }
                    _ => Out::B(false),
                }
            }
            Op::CtrGet(c) => {
                let key = tri!(ctr_key(&root, c).result());
                match self.map.get(&Addr::Ctr(c.clone())) {
                    None => Out::I(0),
                    Some((slot, _)) => Out::I(tri!(read_int(&key, slot))),
                }
            }
            Op::Incr(c, by) => self.incr(c, *by),
            Op::Decr(c, by) => match by.checked_neg() {
                // The argument is checked before the key.
                None => err_at("Overflow", &ctr_key(&root, c).key),
                Some(neg) => self.incr(c, neg),
            },
            Op::SAdd(m) => {
                let key = tri!(root.child("tags").result());
                let bytes = tri!(encode_member(&key, m));
                match self.map.get_mut(&Addr::Tags) {
                    Some((Slot::Set(s), _)) => Out::B(s.insert(bytes)),
                    Some(_) => unreachable!(),
                    None => {
                        self.put(&Addr::Tags, Slot::Set(BTreeSet::from([bytes])), None);
                        Out::B(true)
                    }
                }
            }
            Op::SRem(m) => {
                let key = tri!(root.child("tags").result());
                let bytes = tri!(encode_member(&key, m));
                let Some((Slot::Set(s), _)) = self.map.get_mut(&Addr::Tags) else {
                    return Out::B(false);
                };
                let removed = s.remove(&bytes);
                if s.is_empty() {
                    self.map.remove(&Addr::Tags);
                }
                Out::B(removed)
            }
            Op::SContains(m) => {
                let key = tri!(root.child("tags").result());
                let bytes = tri!(encode_member(&key, m));
                Out::B(
                    matches!(self.map.get(&Addr::Tags), Some((Slot::Set(s), _)) if s.contains(&bytes)),
                )
            }
            Op::SMembers => {
                let key = root.child("tags").key;
                let Some((Slot::Set(s), _)) = self.map.get(&Addr::Tags) else {
                    return Out::Members(Vec::new());
                };
                let mut members = Vec::new();
                for m in s {
                    match serde_json::from_slice::<String>(m) {
                        Ok(m) => members.push(Id(m)),
                        Err(_) => return err_at("Decode", &key),
                    }
                }
                members.sort();
                Out::Members(members)
            }
            Op::SLen => match self.map.get(&Addr::Tags) {
                Some((Slot::Set(s), _)) => Out::U(s.len()),
                _ => Out::U(0),
            },
            Op::Step(t, checks, writes) => self.step(t, checks, writes),
            Op::DGet(d, i) => self.apply(&Op::Get(dyn_item(d, i))),
            Op::DSet(d, i, v) => self.apply(&Op::Set(dyn_item(d, i), v.clone())),
            Op::DRemove(d, i) => self.apply(&Op::Remove(Addr::Rec(dyn_item(d, i)))),
            Op::GetMany(d, ids) => {
                let mut keys = Vec::new();
                for i in ids {
                    keys.push(tri!(rec_key(&root, &dyn_item(d, i)).result()));
                }
                let mut values = Vec::new();
                for (i, key) in ids.iter().zip(&keys) {
                    values.push(match self.map.get(&Addr::Rec(dyn_item(d, i))) {
                        None => None,
                        Some((slot, _)) => Some(tri!(read_rec(key, slot))),
                    });
                }
                Out::Rs(values)
            }
            Op::SetMany(d, entries) => {
                for (i, v) in entries {
                    let key = tri!(rec_key(&root, &dyn_item(d, i)).result());
                    tri!(encode_rec(&key, v));
                }
                for (i, v) in entries {
                    let a = Addr::Rec(dyn_item(d, i));
                    let ttl = default_ttl(&a);
                    self.put(&a, Slot::Rec(v.clone()), ttl);
                }
                Out::Unit
            }
            Op::Entries(d) => {
                tri!(dyn_path(&root, d).result());
                let mut ents = Vec::new();
                let mut errors = Vec::new();
                for (a, (slot, _)) in &self.map {
                    if let Some(i) = member_of(d, a) {
                        match read_rec(&addr_key(&root, a).key, slot) {
                            Ok(r) => ents.push((i, r)),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                if !errors.is_empty() {
                    return Out::OneOf(errors);
                }
                ents.sort();
                Out::Ents(ents)
            }
            Op::Keys(d) => {
                tri!(dyn_path(&root, d).result());
                let ids: BTreeSet<Id> = self.map.keys().filter_map(|a| member_of(d, a)).collect();
                Out::Ids(ids.into_iter().collect())
            }
            Op::Count(d) => {
                tri!(dyn_path(&root, d).result());
                let ids: BTreeSet<Id> = self.map.keys().filter_map(|a| member_of(d, a)).collect();
                Out::U(ids.len())
            }
            Op::Clear(d) => {
                tri!(dyn_path(&root, d).result());
                let before = self.map.len();
                self.map.retain(|a, _| member_of(d, a).is_none());
                Out::U(before - self.map.len())
            }
            Op::RawWrite(a, raw) => {
                if addr_key(&root, a).err.is_some() {
                    return Out::Unit;
                }
                match a {
                    Addr::Tags => {
                        let member = if *raw == Raw::NotJson {
                            b"{bad".to_vec()
                        } else {
                            raw.bytes().to_vec()
                        };
                        match self.map.get_mut(a) {
                            Some((Slot::Set(s), _)) => {
                                s.insert(member);
                            }
                            _ => self.put(a, Slot::Set(BTreeSet::from([member])), None),
                        }
                    }
                    _ => self.put(a, Slot::Raw(*raw), None),
                }
                Out::Unit
            }
            Op::Sleep(ms) => {
                self.now += ms;
                Out::Unit
            }
        }
    }

    fn set_rec(&mut self, a: &RecAddr, v: &Rec, ttl: Option<u64>) -> Out {
        let key = tri!(rec_key(&self.root, a).result());
        tri!(encode_rec(&key, v));
        self.put(&Addr::Rec(a.clone()), Slot::Rec(v.clone()), ttl);
        Out::Unit
    }

    fn incr(&mut self, c: &CtrAddr, by: i64) -> Out {
        let key = tri!(ctr_key(&self.root, c).result());
        let addr = Addr::Ctr(c.clone());
        match self.map.get_mut(&addr) {
            None => {
                let ttl = default_ttl(&addr);
                self.put(&addr, Slot::Int(by), ttl);
                Out::I(by)
            }
            Some((slot, _)) => {
                let current = tri!(read_int(&key, slot));
                match current.checked_add(by) {
                    None => err_at("Overflow", &key),
                    Some(n) => {
                        *slot = Slot::Int(n);
                        Out::I(n)
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running an operation on the real store
// ---------------------------------------------------------------------------------------------

fn tenant(m: &M, co: bool, t: &Id) -> Ten {
    if co {
        m.ct().at(&t.0)
    } else {
        m.t().at(&t.0)
    }
}

fn rec_item(m: &M, a: &RecAddr) -> Item<Rec> {
    match a {
        RecAddr::Item => m.item().clone(),
        RecAddr::Doc(i) => m.docs().at(&i.0),
        RecAddr::Sess(i) => m.sess().at(&i.0),
        RecAddr::TItem(c, t) => tenant(m, *c, t).item().clone(),
        RecAddr::TDoc(c, t, i) => tenant(m, *c, t).docs().at(&i.0),
    }
}

fn counter(m: &M, a: &CtrAddr) -> Counter {
    match a {
        CtrAddr::Ctr => m.ctr().clone(),
        CtrAddr::Hit(i) => m.hits().at(&i.0),
        CtrAddr::TCtr(c, t) => tenant(m, *c, t).ctr().clone(),
    }
}

fn item_dynamic(m: &M, d: &Dyn) -> Dynamic<Item<Rec>> {
    match d {
        Dyn::Docs => m.docs().clone(),
        Dyn::Sess => m.sess().clone(),
        Dyn::TDocs(c, t) => tenant(m, *c, t).docs().clone(),
        Dyn::Hits | Dyn::Tenants(_) => unreachable!(),
    }
}

/// Runs `$body` with `$h` bound to the handle at `$a`.
macro_rules! on_addr {
    ($store:expr, $a:expr, |$h:ident| $body:expr) => {
        match $a {
            Addr::Rec(r) => {
                let $h = rec_item($store, r);
                $body
            }
            Addr::Ctr(c) => {
                let $h = counter($store, c);
                $body
            }
            Addr::Tags => {
                let $h = $store.tags().clone();
                $body
            }
        }
    };
}

async fn exec(m: &M, backend: &DynBackend, root: &Kp, clock: Option<&ManualClock>, op: &Op) -> Out {
    match op {
        Op::Get(a) => out(rec_item(m, a).get().await, Out::R),
        Op::Set(a, v) => out(rec_item(m, a).set(v).await, |()| Out::Unit),
        Op::SetTtl(a, v, ttl) => out(
            rec_item(m, a)
                .set_with_ttl(v, Duration::from_millis(*ttl))
                .await,
            |()| Out::Unit,
        ),
        Op::SetIfAbsent(a, v) => out(rec_item(m, a).set_if_absent(v).await, Out::B),
        Op::Step(t, checks, writes) => {
            let mut step = kvstore::Atomic::new();
            for (target, expected) in checks {
                step = step.check(&rec_item(m, &target.addr(t)), expected.as_ref());
            }
            for write in writes {
                step = match write {
                    StepWrite::Set(target, v) => step.set(&rec_item(m, &target.addr(t)), v),
                    StepWrite::Remove(target) => step.remove(&rec_item(m, &target.addr(t))),
                    StepWrite::Incr(by) => {
                        step.increment(&counter(m, &CtrAddr::TCtr(true, t.clone())), *by)
                    }
                };
            }
            out(step.commit().await, Out::B)
        }
        Op::Modify(a, f) => out(rec_item(m, a).modify(|cur| f.apply(cur)).await, Out::R),
        Op::Remove(a) => match a {
            Addr::Tags => out(m.tags().clear().await, Out::B),
            Addr::Rec(r) => out(rec_item(m, r).remove().await, Out::B),
            Addr::Ctr(c) => out(counter(m, c).remove().await, Out::B),
        },
        Op::Exists(a) => on_addr!(m, a, |h| out(h.exists().await, Out::B)),
        Op::Ttl(a) => on_addr!(m, a, |h| out(h.ttl().await, Out::Ttl)),
        Op::Expire(a, ttl) => {
            on_addr!(m, a, |h| out(
                h.expire(Duration::from_millis(*ttl)).await,
                Out::B
            ))
        }
        Op::Persist(a) => on_addr!(m, a, |h| out(h.persist().await, Out::B)),
        Op::CtrGet(c) => out(counter(m, c).get().await, Out::I),
        Op::Incr(c, by) => out(counter(m, c).increment(*by).await, Out::I),
        Op::Decr(c, by) => out(counter(m, c).decrement(*by).await, Out::I),
        Op::SAdd(x) => out(m.tags().add(&x.0).await, Out::B),
        Op::SRem(x) => out(m.tags().remove(&x.0).await, Out::B),
        Op::SContains(x) => out(m.tags().contains(&x.0).await, Out::B),
        Op::SMembers => out(m.tags().members().await, |v| {
            Out::Members(sorted(v.into_iter().map(Id).collect()))
        }),
        Op::SLen => out(m.tags().len().await, Out::U),
        Op::DGet(d, i) => out(item_dynamic(m, d).get(&i.0).await, Out::R),
        Op::DSet(d, i, v) => out(item_dynamic(m, d).set(&i.0, v).await, |()| Out::Unit),
        Op::DRemove(d, i) => out(item_dynamic(m, d).remove(&i.0).await, Out::B),
        Op::GetMany(d, ids) => out(
            item_dynamic(m, d)
                .get_many(ids.iter().map(|i| i.0.as_str()))
                .await,
            Out::Rs,
        ),
        Op::SetMany(d, entries) => out(
            item_dynamic(m, d)
                .set_many(entries.iter().map(|(i, v)| (i.0.as_str(), v)))
                .await,
            |()| Out::Unit,
        ),
        Op::Entries(d) => out(item_dynamic(m, d).entries().await, |v| {
            Out::Ents(sorted(v.into_iter().map(|(i, r)| (Id(i), r)).collect()))
        }),
        Op::Keys(d) => {
            let ids = match d {
                Dyn::Hits => m.hits().keys().await,
                Dyn::Tenants(true) => m.ct().keys().await,
                Dyn::Tenants(false) => m.t().keys().await,
                _ => item_dynamic(m, d).keys().await,
            };
            // Not deduplicated here: each id must come back exactly once.
            out(ids, |v| Out::Ids(sorted(v.into_iter().map(Id).collect())))
        }
        Op::Count(d) => out(
            match d {
                Dyn::Hits => m.hits().count().await,
                Dyn::Tenants(true) => m.ct().count().await,
                Dyn::Tenants(false) => m.t().count().await,
                _ => item_dynamic(m, d).count().await,
            },
            Out::U,
        ),
        Op::Clear(d) => out(
            match d {
                Dyn::Hits => m.hits().clear().await,
                Dyn::Tenants(true) => m.ct().clear().await,
                Dyn::Tenants(false) => m.t().clear().await,
                _ => item_dynamic(m, d).clear().await,
            },
            Out::U,
        ),
        Op::RawWrite(a, raw) => {
            let kp = addr_key(root, a);
            if kp.err.is_some() {
                return Out::Unit;
            }
            let r = match a {
                Addr::Tags => {
                    let member: &[u8] = if *raw == Raw::NotJson {
                        b"{bad"
                    } else {
                        raw.bytes()
                    };
                    backend.set_add(&kp.key, member, None).await.map(drop)
                }
                _ => backend
                    .set(&kp.key, raw.bytes(), Default::default())
                    .await
                    .map(drop),
            };
            out(r, |()| Out::Unit)
        }
        Op::Sleep(ms) => {
            clock
                .expect("Sleep only runs on the manual clock")
                .advance(Duration::from_millis(*ms));
            Out::Unit
        }
    }
}

/// Runs `ops` against a fresh store on `target` and the model; the first difference is the
/// error (with the operation's index and the model's state).
async fn run_case(target: &Target, ops: &[Op]) -> Result<usize, String> {
    let prefix = fresh_prefix();
    let (backend, clock) = target.open();
    let store = M::open_with_prefix(backend.clone(), &prefix);
    let mut model = Model::new(&prefix);
    let started = Instant::now();
    let scan_prefix = format!("{prefix}:");
    for (i, op) in ops.iter().enumerate() {
        if clock.is_none() && matches!(op, Op::Sleep(_)) {
            continue;
        }
        let expected = model.apply(op);
        let actual = exec(&store, &backend, &model.root, clock.as_ref(), op).await;
        let slack = started.elapsed() + Duration::from_millis(20);
        if !same(&expected, &actual, slack) {
            return Err(format!(
                "op #{i} {op:?}\n  expected {expected:?}\n  actual   {actual:?}"
            ));
        }
        model.purge();
        same_keys(&backend, &scan_prefix, model.keys(), i, op).await?;
    }
    leave_nothing(&backend, &scan_prefix).await?;
    Ok(ops.len())
}

/// Runs `cases` random sequences on `target`; panics with the shrunk failing sequence.
fn check(rt: &tokio::runtime::Runtime, target: Target, redis: bool, cases: u32, max_ops: usize) {
    run_cases("model", cases, ops(redis, max_ops), |ops| {
        rt.block_on(run_case(&target, &ops))
    });
}

#[test]
fn model_memory() {
    let rt = runtime();
    check(&rt, Target::Memory, false, cases(64, 1), 60);
}

#[test]
fn model_redb() {
    let rt = runtime();
    check(&rt, Target::redb(), false, cases(16, 2), 50);
}

#[test]
fn model_redis() {
    let rt = runtime();
    let running = start(&rt, Kind::Redis);
    let target = Target::Redis(running.backend.clone());
    rt.block_on(run_case(&target, &tour())).unwrap();
    check(&rt, target, true, cases(16, 1), 50);
}

#[test]
fn model_redis_cluster() {
    let rt = runtime();
    let running = start(&rt, Kind::Cluster);
    let target = Target::Redis(running.backend.clone());
    rt.block_on(run_case(&target, &tour())).unwrap();
    check(&rt, target, true, cases(8, 8), 40);
}

// ---------------------------------------------------------------------------------------------
// Fixed sequences: every operation at least once, and shrunk failures (regressions)
// ---------------------------------------------------------------------------------------------

fn r(n: u32, s: &str) -> Rec {
    Rec { n, s: s.into() }
}

/// One pass over every operation kind, hostile ids and boundaries included.
fn tour() -> Vec<Op> {
    use Op::*;
    let t = |s: &str| Dyn::TDocs(false, id(s));
    let at_limit = Id("x".repeat(MAX_KEY - docs_base_len()));
    let over_limit = Id("x".repeat(MAX_KEY - docs_base_len() + 1));
    let big = Rec {
        n: 1,
        s: "y".repeat(MAX_VALUE - 14),
    };
    vec![
        Get(RecAddr::Item),
        Set(RecAddr::Item, r(1, "one")),
        Get(RecAddr::Item),
        Set(RecAddr::Item, r(1001, "invalid")),
        Get(RecAddr::Item),
        Set(RecAddr::Doc(at_limit.clone()), big.clone()),
        Get(RecAddr::Doc(at_limit.clone())),
        Set(RecAddr::Doc(over_limit.clone()), r(1, "")),
        Set(
            RecAddr::Doc(id("a")),
            Rec {
                n: 10,
                s: "y".repeat(MAX_VALUE),
            },
        ),
        Set(RecAddr::Doc(id("")), r(1, "")),
        SetTtl(RecAddr::Doc(id("a:b")), r(2, ""), 60_000),
        SetTtl(RecAddr::Doc(id("a:b")), r(2, ""), 0),
        Ttl(Addr::Rec(RecAddr::Doc(id("a:b")))),
        Persist(Addr::Rec(RecAddr::Doc(id("a:b")))),
        Ttl(Addr::Rec(RecAddr::Doc(id("a:b")))),
        Expire(Addr::Rec(RecAddr::Doc(id("a:b"))), 30_000),
        SetIfAbsent(RecAddr::Doc(id("a:b")), r(3, "")),
        SetIfAbsent(RecAddr::Doc(id("*")), r(3, "")),
        Modify(RecAddr::Doc(id("*")), ModF::Inc),
        Modify(RecAddr::Doc(id("?")), ModF::Del),
        Modify(RecAddr::Doc(id("[x]")), ModF::Inc),
        Modify(RecAddr::Doc(id("[x]")), ModF::Invalid),
        Modify(RecAddr::Sess(id("{t}")), ModF::Inc),
        Ttl(Addr::Rec(RecAddr::Sess(id("{t}")))),
        DSet(Dyn::Sess, id("%3A"), r(4, "")),
        DGet(Dyn::Sess, id("%3A")),
        DGet(Dyn::Sess, id("%")),
        Keys(Dyn::Sess),
        Count(Dyn::Docs),
        Keys(Dyn::Docs),
        Entries(Dyn::Docs),
        GetMany(
            Dyn::Docs,
            vec![id("*"), id("nope"), id("[x]"), id("*"), at_limit.clone()],
        ),
        GetMany(Dyn::Docs, vec![id("*"), id("")]),
        GetMany(Dyn::Docs, vec![]),
        SetMany(Dyn::Docs, vec![(id("m1"), r(1, "")), (id("m1"), r(2, ""))]),
        SetMany(
            Dyn::Docs,
            vec![(id("m2"), r(1, "")), (id("m3"), r(2000, ""))],
        ),
        SetMany(Dyn::Sess, vec![(id("\0"), r(1, "")), (id("ü ✓"), r(2, ""))]),
        Ttl(Addr::Rec(RecAddr::Sess(id("\0")))),
        RawWrite(Addr::Rec(RecAddr::Doc(id("raw"))), Raw::NotJson),
        Get(RecAddr::Doc(id("raw"))),
        Entries(Dyn::Docs),
        RawWrite(Addr::Rec(RecAddr::Doc(id("raw"))), Raw::Number),
        DGet(Dyn::Docs, id("raw")),
        Modify(RecAddr::Doc(id("raw")), ModF::Inc),
        GetMany(Dyn::Docs, vec![id("m1"), id("raw")]),
        DRemove(Dyn::Docs, id("raw")),
        Incr(CtrAddr::Ctr, 5),
        Incr(CtrAddr::Ctr, i64::MAX),
        Decr(CtrAddr::Ctr, i64::MIN),
        Decr(CtrAddr::Ctr, 7),
        CtrGet(CtrAddr::Ctr),
        Incr(CtrAddr::Hit(id("w")), 1),
        Incr(CtrAddr::Hit(id("w")), 1),
        Ttl(Addr::Ctr(CtrAddr::Hit(id("w")))),
        RawWrite(Addr::Ctr(CtrAddr::Hit(id("bad"))), Raw::NotJson),
        CtrGet(CtrAddr::Hit(id("bad"))),
        Incr(CtrAddr::Hit(id("bad")), 1),
        Keys(Dyn::Hits),
        SAdd(id("a")),
        SAdd(id("a")),
        SAdd(Id("m".repeat(MAX_VALUE - 2))),
        SAdd(Id("m".repeat(MAX_VALUE - 1))),
        SContains(id("a")),
        SLen,
        SMembers,
        RawWrite(Addr::Tags, Raw::NotJson),
        SMembers,
        SRem(id("a")),
        Expire(Addr::Tags, 60_000),
        Ttl(Addr::Tags),
        Remove(Addr::Tags),
        Exists(Addr::Tags),
        Set(RecAddr::TItem(false, id("acme")), r(1, "")),
        Set(RecAddr::TItem(true, id("acme")), r(1, "")),
        Set(RecAddr::TDoc(false, id("acme:docs"), id("x")), r(1, "")),
        Set(RecAddr::TDoc(true, id("{acme}"), id("x")), r(1, "")),
        Incr(CtrAddr::TCtr(false, id("*")), 3),
        Set(RecAddr::TItem(false, id("")), r(1, "")),
        Keys(Dyn::Tenants(false)),
        Keys(Dyn::Tenants(true)),
        Keys(t("acme:docs")),
        Keys(t("")),
        Count(Dyn::Tenants(false)),
        Clear(t("acme:docs")),
        Clear(Dyn::Tenants(true)),
        Clear(Dyn::Tenants(false)),
        Clear(Dyn::Docs),
        Expire(Addr::Rec(RecAddr::Item), 0),
        Exists(Addr::Rec(RecAddr::Item)),
    ]
}

#[test]
fn tour_memory() {
    let rt = runtime();
    let n = rt.block_on(run_case(&Target::Memory, &tour())).unwrap();
    assert!(n > 80);
}

#[test]
fn tour_memory_with_time() {
    use Op::*;
    let mut ops = tour();
    ops.extend([
        SetTtl(RecAddr::Item, r(1, ""), 5),
        Sleep(4),
        Ttl(Addr::Rec(RecAddr::Item)),
        Sleep(1),
        Get(RecAddr::Item),
        Incr(CtrAddr::Hit(id("w2")), 1),
        Sleep(60_000),
        Incr(CtrAddr::Hit(id("w2")), 1),
        Ttl(Addr::Ctr(CtrAddr::Hit(id("w2")))),
        Sleep(60_000),
        CtrGet(CtrAddr::Hit(id("w2"))),
        Keys(Dyn::Hits),
        Modify(RecAddr::Sess(id("s")), ModF::Inc),
        Sleep(119_999),
        Modify(RecAddr::Sess(id("s")), ModF::Inc),
        Ttl(Addr::Rec(RecAddr::Sess(id("s")))),
        Sleep(1),
        Entries(Dyn::Sess),
    ]);
    let rt = runtime();
    rt.block_on(run_case(&Target::Memory, &ops)).unwrap();
}
