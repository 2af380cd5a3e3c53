//! The second model: the native types (`Nat`, `NOp`, `NModel`) — lists, sorted sets, maps,
//! packed integers, bits — and its cases.

use super::*;

// ---------------------------------------------------------------------------------------------
// The native types: lists, sorted sets, maps, packed integers, bits
// ---------------------------------------------------------------------------------------------

/// The store of the native model (the same prefix scheme and checks as `M`).
#[derive(Store)]
struct Nat {
    list: ListOf<Rec>,
    #[store(ttl = "2m")]
    lists: Dynamic<ListOf<Rec>>,
    zset: SortedSetOf<String>,
    map: MapOf<String, Rec>,
    counts: MapOf<u64, i64>,
    ints: PackedInts<i16>,
    bits: Bits,
}

/// Ids of the `lists` keyspace (one needs encoding).
const LIST_IDS: [&str; 3] = ["a", "b c", "x:y"];

/// Which list: `list`, or `lists:<id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L {
    Main,
    Dyn(usize),
}

impl L {
    fn tail(self) -> String {
        match self {
            L::Main => "list".to_owned(),
            L::Dyn(i) => format!("lists:{}", encode(LIST_IDS[i])),
        }
    }

    fn handle(self, n: &Nat) -> ListOf<Rec> {
        match self {
            L::Main => n.list(),
            L::Dyn(i) => n.lists().at(LIST_IDS[i]),
        }
    }
}

#[derive(Clone, Debug)]
enum NOp {
    Push(L, bool, Rec),
    Pop(L, bool),
    Range(L, i64, i64),
    Trim(L, i64, i64),
    LLen(L),
    Move(L, L),
    LTtl(L),
    ZAdd(String, f64),
    ZIncr(String, f64),
    ZRem(String),
    ZScore(String),
    ZRank(String),
    ZRange(i64, i64, bool),
    ZByScore(f64, f64),
    ZLen,
    MSet(String, Rec),
    MSetNx(String, Rec),
    MGet(String),
    MRem(String),
    MHas(String),
    MFields,
    MEntries,
    MGetMany(Vec<String>),
    MSetMany(Vec<(String, Rec)>),
    MLen,
    CIncr(u64, i64),
    CGet(u64),
    ISet(u64, i16),
    IIncr(u64, i16),
    IGet(u64),
    ISum(u64, u64),
    ILen,
    BSet(u64, bool),
    BGet(u64),
    BCount,
    /// Clears one key: a list, or `zset`/`map`/`counts`/`ints`/`bits` by index.
    ClearList(L),
    /// An atomic step of writes (`Atomic`): all applied, or — when one fails — none.
    Step(Vec<NOp>),
    Clear(usize),
    /// A string written behind the store's back at a container's key (`zset`, `map`,
    /// `counts`, `list`): every operation there is then `WrongType`.
    Alien(usize),
    Sleep(u64),
}

const OTHER_TAILS: [&str; 5] = ["zset", "map", "counts", "ints", "bits"];

fn which_list() -> impl Strategy<Value = L> {
    prop_oneof![2 => Just(L::Main), 1 => (0..LIST_IDS.len()).prop_map(L::Dyn)]
}

fn index() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![0i64, 1, 2, -1, -2, -100, 100, i64::MIN, i64::MAX])
}

fn score() -> impl Strategy<Value = f64> {
    prop::sample::select(vec![
        f64::NEG_INFINITY,
        -1.5,
        -0.0,
        0.0,
        1.0,
        2.5,
        1e300,
        f64::INFINITY,
    ])
}

fn zmember() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "ü", "", "\\"]).prop_map(str::to_owned)
}

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "x:y", "*", "é", ""]).prop_map(str::to_owned)
}

fn nop(cluster: bool, manual_clock: bool) -> impl Strategy<Value = NOp> {
    let moves = (which_list(), which_list()).prop_map(move |(a, b)| {
        // On a cluster, two lists of different slots cannot move atomically (a rule of its own).
        NOp::Move(a, if cluster { a } else { b })
    });
    let lists = prop_oneof![
        4 => (which_list(), any::<bool>(), rec()).prop_map(|(l, f, r)| NOp::Push(l, f, r)),
        2 => (which_list(), any::<bool>()).prop_map(|(l, f)| NOp::Pop(l, f)),
        2 => (which_list(), index(), index()).prop_map(|(l, a, b)| NOp::Range(l, a, b)),
        1 => (which_list(), index(), index()).prop_map(|(l, a, b)| NOp::Trim(l, a, b)),
        1 => which_list().prop_map(NOp::LLen),
        2 => moves,
        1 => which_list().prop_map(NOp::LTtl),
        1 => which_list().prop_map(NOp::ClearList),
    ];
    let zsets = prop_oneof![
        3 => (zmember(), score()).prop_map(|(m, s)| NOp::ZAdd(m, s)),
        2 => (zmember(), score()).prop_map(|(m, s)| NOp::ZIncr(m, s)),
        1 => zmember().prop_map(NOp::ZRem),
        1 => zmember().prop_map(NOp::ZScore),
        1 => zmember().prop_map(NOp::ZRank),
        2 => (index(), index(), any::<bool>()).prop_map(|(a, b, r)| NOp::ZRange(a, b, r)),
        1 => (score(), score()).prop_map(|(a, b)| NOp::ZByScore(a, b)),
        1 => Just(NOp::ZLen),
    ];
    let maps = prop_oneof![
        3 => (field(), rec()).prop_map(|(f, r)| NOp::MSet(f, r)),
        1 => (field(), rec()).prop_map(|(f, r)| NOp::MSetNx(f, r)),
        2 => field().prop_map(NOp::MGet),
        1 => field().prop_map(NOp::MRem),
        1 => field().prop_map(NOp::MHas),
        1 => Just(NOp::MFields),
        1 => Just(NOp::MEntries),
        1 => prop::collection::vec(field(), 0..4).prop_map(NOp::MGetMany),
        1 => prop::collection::vec((field(), rec()), 0..3).prop_map(NOp::MSetMany),
        1 => Just(NOp::MLen),
    ];
    let slot = || prop::sample::select(vec![0u64, 1, 2, 5, 40]);
    let small = || prop::sample::select(vec![0i16, 1, -1, 300, i16::MAX, i16::MIN]);
    let numbers = prop_oneof![
        2 => (0u64..3, prop::sample::select(vec![1i64, -1, 1000, i64::MAX, i64::MIN]))
            .prop_map(|(f, d)| NOp::CIncr(f, d)),
        1 => (0u64..3).prop_map(NOp::CGet),
        2 => (slot(), small()).prop_map(|(i, v)| NOp::ISet(i, v)),
        2 => (slot(), small()).prop_map(|(i, v)| NOp::IIncr(i, v)),
        1 => slot().prop_map(NOp::IGet),
        1 => (slot(), slot()).prop_map(|(a, b)| NOp::ISum(a, b)),
        1 => Just(NOp::ILen),
        2 => (prop::sample::select(vec![0u64, 1, 7, 8, 15, 100]), any::<bool>())
            .prop_map(|(o, b)| NOp::BSet(o, b)),
        1 => prop::sample::select(vec![0u64, 7, 100, 5000]).prop_map(NOp::BGet),
        1 => Just(NOp::BCount),
    ];
    let sleep = if manual_clock { 1 } else { 0 };
    // A step's keys must share a slot on a cluster: there, one sorted set.
    let zset_writes = prop_oneof![
        (zmember(), score()).prop_map(|(m, s)| NOp::ZAdd(m, s)),
        (zmember(), score()).prop_map(|(m, s)| NOp::ZIncr(m, s)),
        zmember().prop_map(NOp::ZRem),
    ];
    let step_write = if cluster {
        zset_writes.boxed()
    } else {
        prop_oneof![
            2 => (which_list(), any::<bool>(), rec()).prop_map(|(l, f, r)| NOp::Push(l, f, r)),
            3 => zset_writes,
            1 => (field(), rec()).prop_map(|(f, r)| NOp::MSet(f, r)),
            1 => field().prop_map(NOp::MRem),
            1 => (0u64..3, prop::sample::select(vec![1i64, -1, i64::MAX, i64::MIN]))
                .prop_map(|(f, d)| NOp::CIncr(f, d)),
            1 => (slot(), small()).prop_map(|(i, v)| NOp::ISet(i, v)),
            1 => (slot(), small()).prop_map(|(i, v)| NOp::IIncr(i, v)),
            1 => (prop::sample::select(vec![0u64, 7, 100]), any::<bool>())
                .prop_map(|(o, b)| NOp::BSet(o, b)),
        ]
        .boxed()
    };
    let steps = prop::collection::vec(step_write, 1..5).prop_map(NOp::Step);
    prop_oneof![
        2 => steps,
        6 => lists,
        5 => zsets,
        5 => maps,
        4 => numbers,
        1 => (0..OTHER_TAILS.len()).prop_map(NOp::Clear),
        1 => (0..4usize).prop_map(NOp::Alien),
        sleep => prop::sample::select(vec![1_000u64, 60_000, 130_000]).prop_map(NOp::Sleep),
    ]
}

#[derive(Clone, Debug)]
enum NSlot {
    List(std::collections::VecDeque<Rec>),
    Z(BTreeMap<String, f64>),
    Map(BTreeMap<String, Rec>),
    Counts(BTreeMap<u64, i64>),
    Bytes(Vec<u8>),
    Alien,
}

struct NModel {
    prefix: String,
    now: u64,
    keys: BTreeMap<String, (NSlot, Option<u64>)>,
}

/// Sorted-set order: by score, ties by the members' JSON text.
fn z_order(z: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| {
                serde_json::to_vec(&a.0)
                    .unwrap()
                    .cmp(&serde_json::to_vec(&b.0).unwrap())
            })
    });
    v
}

/// `LRANGE`'s inclusive span.
fn model_span(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i128;
    let (mut a, mut b) = (start as i128, stop as i128);
    if a < 0 {
        a += len;
    }
    if b < 0 {
        b += len;
    }
    a = a.max(0);
    b = b.min(len - 1);
    (a <= b && a < len).then_some((a as usize, b as usize))
}

fn slot_get(bytes: &[u8], i: u64) -> i16 {
    let at = (i * 2) as usize;
    let hi = bytes.get(at).copied().unwrap_or(0);
    let lo = bytes.get(at + 1).copied().unwrap_or(0);
    i16::from_be_bytes([hi, lo])
}

impl NModel {
    fn key(&self, tail: &str) -> String {
        format!("{}:{tail}", self.prefix)
    }

    fn purge(&mut self) {
        let now = self.now;
        self.keys.retain(|_, (_, at)| at.is_none_or(|at| at > now));
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.keys.keys().map(|t| self.key(t)).collect();
        keys.sort();
        keys
    }

    /// The slot at `tail` if it has kind `pick`, `None` if missing, `WrongType` otherwise.
    fn get<T>(
        &mut self,
        tail: &str,
        pick: fn(&mut NSlot) -> Option<&mut T>,
    ) -> Result<Option<&mut T>, Out> {
        let key = self.key(tail);
        match self.keys.get_mut(tail) {
            None => Ok(None),
            Some((slot, _)) => pick(slot)
                .map(Some)
                .ok_or_else(|| err_at("WrongType", &key)),
        }
    }

    fn create(&mut self, tail: &str, slot: NSlot, ttl: Option<u64>) {
        let at = ttl.map(|ms| self.now + ms);
        self.keys.entry(tail.to_owned()).or_insert((slot, at));
    }

    fn drop_if_empty(&mut self, tail: &str, empty: bool) {
        if empty {
            self.keys.remove(tail);
        }
    }

    fn apply(&mut self, op: &NOp) -> Out {
        self.purge();
        fn list(s: &mut NSlot) -> Option<&mut std::collections::VecDeque<Rec>> {
            match s {
                NSlot::List(l) => Some(l),
                _ => None,
            }
        }
        fn zset(s: &mut NSlot) -> Option<&mut BTreeMap<String, f64>> {
            match s {
                NSlot::Z(z) => Some(z),
                _ => None,
            }
        }
        fn map(s: &mut NSlot) -> Option<&mut BTreeMap<String, Rec>> {
            match s {
                NSlot::Map(m) => Some(m),
                _ => None,
            }
        }
        fn counts(s: &mut NSlot) -> Option<&mut BTreeMap<u64, i64>> {
            match s {
                NSlot::Counts(c) => Some(c),
                _ => None,
            }
        }
        fn bytes(s: &mut NSlot) -> Option<&mut Vec<u8>> {
            match s {
                NSlot::Bytes(b) => Some(b),
                _ => None,
            }
        }
        let list_ttl = |l: L| matches!(l, L::Dyn(_)).then_some(DEFAULT_TTL_MS);
        match op {
            NOp::Push(l, front, r) => {
                let tail = l.tail();
                let key = self.key(&tail);
                tri!(encode_rec(&key, r));
                tri!(self.get(&tail, list));
                self.create(&tail, NSlot::List(Default::default()), list_ttl(*l));
                let v = tri!(self.get(&tail, list)).unwrap();
                if *front {
                    v.push_front(r.clone());
                } else {
                    v.push_back(r.clone());
                }
                Out::U(v.len())
            }
            NOp::Pop(l, front) => {
                let tail = l.tail();
                let Some(v) = tri!(self.get(&tail, list)) else {
                    return Out::R(None);
                };
                let got = if *front { v.pop_front() } else { v.pop_back() };
                let empty = v.is_empty();
                self.drop_if_empty(&tail, empty);
                Out::R(got)
            }
            NOp::Range(l, a, b) => {
                let Some(v) = tri!(self.get(&l.tail(), list)) else {
                    return Out::Recs(vec![]);
                };
                Out::Recs(match model_span(v.len(), *a, *b) {
                    Some((a, b)) => v.range(a..=b).cloned().collect(),
                    None => vec![],
                })
            }
            NOp::Trim(l, a, b) => {
                let tail = l.tail();
                let Some(v) = tri!(self.get(&tail, list)) else {
                    return Out::Unit;
                };
                let kept: std::collections::VecDeque<Rec> = match model_span(v.len(), *a, *b) {
                    Some((a, b)) => v.range(a..=b).cloned().collect(),
                    None => Default::default(),
                };
                *v = kept;
                let empty = v.is_empty();
                self.drop_if_empty(&tail, empty);
                Out::Unit
            }
            NOp::LLen(l) => Out::U(tri!(self.get(&l.tail(), list)).map_or(0, |v| v.len())),
            NOp::Move(src, dst) => {
                let (st, dt) = (src.tail(), dst.tail());
                if tri!(self.get(&st, list)).is_none() {
                    return Out::R(None);
                }
                tri!(self.get(&dt, list));
                let v = tri!(self.get(&st, list)).unwrap();
                let got = v.pop_front().unwrap();
                let empty = v.is_empty();
                if st == dt {
                    v.push_back(got.clone());
                    return Out::R(Some(got));
                }
                self.drop_if_empty(&st, empty);
                self.create(&dt, NSlot::List(Default::default()), list_ttl(*dst));
                tri!(self.get(&dt, list)).unwrap().push_back(got.clone());
                Out::R(Some(got))
            }
            NOp::LTtl(l) => Out::Ttl(
                self.keys
                    .get(&l.tail())
                    .and_then(|(_, at)| *at)
                    .map(|at| Duration::from_millis(at - self.now)),
            ),
            NOp::ZAdd(m, score) => {
                let key = self.key("zset");
                tri!(encode_member(&key, &Id(m.clone())));
                tri!(self.get("zset", zset));
                self.create("zset", NSlot::Z(BTreeMap::new()), None);
                let z = tri!(self.get("zset", zset)).unwrap();
                Out::B(z.insert(m.clone(), *score).is_none())
            }
            NOp::ZIncr(m, by) => {
                let key = self.key("zset");
                tri!(encode_member(&key, &Id(m.clone())));
                let cur = tri!(self.get("zset", zset)).and_then(|z| z.get(m).copied());
                let next = cur.unwrap_or(0.0) + by;
                if next.is_nan() {
                    return err_at("Overflow", &key);
                }
                self.create("zset", NSlot::Z(BTreeMap::new()), None);
                tri!(self.get("zset", zset))
                    .unwrap()
                    .insert(m.clone(), next);
                Out::F(Some(next))
            }
            NOp::ZRem(m) => {
                let Some(z) = tri!(self.get("zset", zset)) else {
                    return Out::B(false);
                };
                let removed = z.remove(m).is_some();
                let empty = z.is_empty();
                self.drop_if_empty("zset", empty);
                Out::B(removed)
            }
            NOp::ZScore(m) => Out::F(tri!(self.get("zset", zset)).and_then(|z| z.get(m).copied())),
            NOp::ZRank(m) => Out::Rank(
                tri!(self.get("zset", zset))
                    .and_then(|z| z_order(z).iter().position(|(x, _)| x == m)),
            ),
            NOp::ZRange(a, b, rev) => {
                let Some(z) = tri!(self.get("zset", zset)) else {
                    return Out::Scored(vec![]);
                };
                let mut order = z_order(z);
                if *rev {
                    order.reverse();
                }
                Out::Scored(match model_span(order.len(), *a, *b) {
                    Some((a, b)) => order[a..=b].to_vec(),
                    None => vec![],
                })
            }
            NOp::ZByScore(min, max) => Out::Scored(
                tri!(self.get("zset", zset))
                    .map(|z| {
                        z_order(z)
                            .into_iter()
                            .filter(|(_, s)| s >= min && s <= max)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            NOp::ZLen => Out::U(tri!(self.get("zset", zset)).map_or(0, |z| z.len())),
            NOp::MSet(f, r) | NOp::MSetNx(f, r) => {
                let key = self.key("map");
                if f.is_empty() {
                    return err_at("InvalidKey/EmptyId", &key);
                }
                tri!(encode_rec(&key, r));
                tri!(self.get("map", map));
                self.create("map", NSlot::Map(BTreeMap::new()), None);
                let m = tri!(self.get("map", map)).unwrap();
                if matches!(op, NOp::MSetNx(..)) {
                    if m.contains_key(f) {
                        return Out::B(false);
                    }
                    m.insert(f.clone(), r.clone());
                    return Out::B(true);
                }
                m.insert(f.clone(), r.clone());
                Out::Unit
            }
            NOp::MGet(f) | NOp::MRem(f) | NOp::MHas(f) => {
                let key = self.key("map");
                if f.is_empty() {
                    return err_at("InvalidKey/EmptyId", &key);
                }
                let m = tri!(self.get("map", map));
                match op {
                    NOp::MGet(_) => Out::R(m.and_then(|m| m.get(f).cloned())),
                    NOp::MHas(_) => Out::B(m.is_some_and(|m| m.contains_key(f))),
                    _ => {
                        let Some(m) = m else {
                            return Out::B(false);
                        };
                        let removed = m.remove(f).is_some();
                        let empty = m.is_empty();
                        self.drop_if_empty("map", empty);
                        Out::B(removed)
                    }
                }
            }
            NOp::MFields => Out::Strs(
                tri!(self.get("map", map))
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
            ),
            NOp::MEntries => Out::SEnts(
                tri!(self.get("map", map))
                    .map(|m| m.iter().map(|(f, r)| (f.clone(), r.clone())).collect())
                    .unwrap_or_default(),
            ),
            NOp::MGetMany(fields) => {
                let key = self.key("map");
                if fields.iter().any(String::is_empty) {
                    return err_at("InvalidKey/EmptyId", &key);
                }
                if fields.is_empty() {
                    return Out::Rs(vec![]);
                }
                let m = tri!(self.get("map", map));
                Out::Rs(
                    fields
                        .iter()
                        .map(|f| m.as_ref().and_then(|m| m.get(f).cloned()))
                        .collect(),
                )
            }
            NOp::MSetMany(entries) => {
                let key = self.key("map");
                for (f, r) in entries {
                    if f.is_empty() {
                        return err_at("InvalidKey/EmptyId", &key);
                    }
                    tri!(encode_rec(&key, r));
                }
                if entries.is_empty() {
                    return Out::Unit;
                }
                tri!(self.get("map", map));
                self.create("map", NSlot::Map(BTreeMap::new()), None);
                let m = tri!(self.get("map", map)).unwrap();
                for (f, r) in entries {
                    m.insert(f.clone(), r.clone());
                }
                Out::Unit
            }
            NOp::MLen => Out::U(tri!(self.get("map", map)).map_or(0, |m| m.len())),
            NOp::CIncr(f, d) => {
                let key = self.key("counts");
                let cur = tri!(self.get("counts", counts)).and_then(|c| c.get(f).copied());
                let Some(next) = cur.unwrap_or(0).checked_add(*d) else {
                    return err_at("Overflow", &key);
                };
                self.create("counts", NSlot::Counts(BTreeMap::new()), None);
                tri!(self.get("counts", counts)).unwrap().insert(*f, next);
                Out::I(next)
            }
            NOp::CGet(f) => {
                Out::Oi(tri!(self.get("counts", counts)).and_then(|c| c.get(f).copied()))
            }
            NOp::ISet(i, v) | NOp::IIncr(i, v) => {
                let key = self.key("ints");
                let cur = tri!(self.get("ints", bytes)).map_or(0, |b| slot_get(b, *i));
                let next = match op {
                    NOp::ISet(..) => *v,
                    _ => match cur.checked_add(*v) {
                        Some(n) => n,
                        None => return err_at("Overflow", &key),
                    },
                };
                self.create("ints", NSlot::Bytes(vec![]), None);
                let b = tri!(self.get("ints", bytes)).unwrap();
                let end = (*i as usize + 1) * 2;
                if b.len() < end {
                    b.resize(end, 0);
                }
                b[end - 2..end].copy_from_slice(&next.to_be_bytes());
                Out::I(i64::from(if matches!(op, NOp::ISet(..)) {
                    cur
                } else {
                    next
                }))
            }
            NOp::IGet(i) => Out::I(i64::from(
                tri!(self.get("ints", bytes)).map_or(0, |b| slot_get(b, *i)),
            )),
            NOp::ISum(a, b) => Out::I(tri!(self.get("ints", bytes)).map_or(0, |bytes| {
                (*a..*b).map(|i| i64::from(slot_get(bytes, i))).sum()
            })),
            NOp::ILen => {
                Out::I(tri!(self.get("ints", bytes)).map_or(0, |b| b.len().div_ceil(2) as i64))
            }
            NOp::BSet(off, bit) => {
                self.create("bits", NSlot::Bytes(vec![]), None);
                let b = tri!(self.get("bits", bytes)).unwrap();
                let at = (*off / 8) as usize;
                if b.len() <= at {
                    b.resize(at + 1, 0);
                }
                let mask = 0x80u8 >> (off % 8);
                let prev = b[at] & mask != 0;
                if *bit {
                    b[at] |= mask;
                } else {
                    b[at] &= !mask;
                }
                Out::B(prev)
            }
            NOp::BGet(off) => Out::B(tri!(self.get("bits", bytes)).is_some_and(|b| {
                b.get((*off / 8) as usize)
                    .is_some_and(|byte| byte & (0x80 >> (off % 8)) != 0)
            })),
            NOp::BCount => Out::I(
                tri!(self.get("bits", bytes))
                    .map_or(0, |b| b.iter().map(|x| x.count_ones() as i64).sum()),
            ),
            NOp::ClearList(l) => Out::B(self.keys.remove(&l.tail()).is_some()),
            NOp::Clear(i) => Out::B(self.keys.remove(OTHER_TAILS[*i]).is_some()),
            NOp::Alien(i) => {
                let tail = ["zset", "map", "counts", "list"][*i];
                self.keys.insert(tail.to_owned(), (NSlot::Alien, None));
                Out::Unit
            }
            NOp::Step(writes) => {
                // Errors found before sending (invalid values and ids): the first one, and
                // nothing written.
                for w in writes {
                    let checked = match w {
                        NOp::Push(l, _, r) => encode_rec(&self.key(&l.tail()), r).map(drop),
                        NOp::ZAdd(m, _) | NOp::ZIncr(m, _) | NOp::ZRem(m) => {
                            encode_member(&self.key("zset"), &Id(m.clone())).map(drop)
                        }
                        NOp::MSet(f, _) | NOp::MRem(f) if f.is_empty() => {
                            Err(err_at("InvalidKey/EmptyId", &self.key("map")))
                        }
                        NOp::MSet(_, r) => encode_rec(&self.key("map"), r).map(drop),
                        _ => Ok(()),
                    };
                    tri!(checked);
                }
                // Then the writes in order; one that fails undoes the step.
                let before = self.keys.clone();
                for w in writes {
                    let result = self.apply(w);
                    if matches!(result, Out::E(_)) {
                        self.keys = before;
                        return result;
                    }
                }
                Out::B(true)
            }
            NOp::Sleep(ms) => {
                self.now += ms;
                Out::Unit
            }
        }
    }
}

async fn nexec(
    n: &Nat,
    backend: &DynBackend,
    prefix: &str,
    clock: Option<&ManualClock>,
    op: &NOp,
) -> Out {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    match op {
        NOp::Push(l, front, r) => {
            let h = l.handle(n);
            let res = if *front {
                h.push_front(r).await
            } else {
                h.push_back(r).await
            };
            out(res, Out::U)
        }
        NOp::Pop(l, front) => {
            let h = l.handle(n);
            out(
                if *front {
                    h.pop_front().await
                } else {
                    h.pop_back().await
                },
                Out::R,
            )
        }
        NOp::Range(l, a, b) => out(l.handle(n).range(*a, *b).await, Out::Recs),
        NOp::Trim(l, a, b) => out(l.handle(n).trim(*a, *b).await, |()| Out::Unit),
        NOp::LLen(l) => out(l.handle(n).len().await, Out::U),
        NOp::Move(a, b) => out(a.handle(n).move_front_to_back(&b.handle(n)).await, Out::R),
        NOp::LTtl(l) => out(l.handle(n).ttl().await, Out::Ttl),
        NOp::ZAdd(m, s) => out(n.zset().add(m, *s).await, Out::B),
        NOp::ZIncr(m, s) => out(n.zset().increment(m, *s).await, |f| Out::F(Some(f))),
        NOp::ZRem(m) => out(n.zset().remove(m).await, Out::B),
        NOp::ZScore(m) => out(n.zset().score(m).await, Out::F),
        NOp::ZRank(m) => out(n.zset().rank(m).await, Out::Rank),
        NOp::ZRange(a, b, rev) => {
            let r = if *rev {
                n.zset().range_rev(*a, *b).await
            } else {
                n.zset().range(*a, *b).await
            };
            out(r, Out::Scored)
        }
        NOp::ZByScore(a, b) => out(n.zset().range_by_score(*a, *b).await, Out::Scored),
        NOp::ZLen => out(n.zset().len().await, Out::U),
        NOp::MSet(f, r) => out(n.map().set(f.as_str(), r).await, |()| Out::Unit),
        NOp::MSetNx(f, r) => out(n.map().set_if_absent(f.as_str(), r).await, Out::B),
        NOp::MGet(f) => out(n.map().get(f.as_str()).await, Out::R),
        NOp::MRem(f) => out(n.map().remove(f.as_str()).await, Out::B),
        NOp::MHas(f) => out(n.map().contains(f.as_str()).await, Out::B),
        NOp::MFields => out(n.map().fields().await, |v| Out::Strs(sorted(v))),
        NOp::MEntries => out(n.map().entries().await, |mut v| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            Out::SEnts(v)
        }),
        NOp::MGetMany(fields) => out(
            n.map().get_many(fields.iter().map(String::as_str)).await,
            Out::Rs,
        ),
        NOp::MSetMany(entries) => out(
            n.map()
                .set_many(entries.iter().map(|(f, r)| (f.as_str(), r)))
                .await,
            |()| Out::Unit,
        ),
        NOp::MLen => out(n.map().len().await, Out::U),
        NOp::CIncr(f, d) => out(n.counts().increment(*f, *d).await, Out::I),
        NOp::CGet(f) => out(n.counts().get(*f).await, Out::Oi),
        NOp::ISet(i, v) => out(n.ints().set(*i, *v).await, |x| Out::I(i64::from(x))),
        NOp::IIncr(i, v) => out(n.ints().increment(*i, *v).await, |x| Out::I(i64::from(x))),
        NOp::IGet(i) => out(n.ints().get(*i).await, |x| Out::I(i64::from(x))),
        NOp::ISum(a, b) => out(n.ints().sum(*a, *b).await, Out::I),
        NOp::ILen => out(n.ints().len().await, |x| Out::I(x as i64)),
        NOp::BSet(o, b) => out(n.bits().set(*o, *b).await, Out::B),
        NOp::BGet(o) => out(n.bits().get(*o).await, Out::B),
        NOp::BCount => out(n.bits().count().await, |x| Out::I(x as i64)),
        NOp::ClearList(l) => out(l.handle(n).clear().await, Out::B),
        NOp::Clear(i) => {
            let r = match *i {
                0 => n.zset().clear().await,
                1 => n.map().clear().await,
                2 => n.counts().clear().await,
                3 => n.ints().clear().await,
                _ => n.bits().clear().await,
            };
            out(r, Out::B)
        }
        NOp::Alien(i) => {
            let key = format!("{prefix}:{}", ["zset", "map", "counts", "list"][*i]);
            out(
                backend.set(&key, b"alien", Default::default()).await,
                |_| Out::Unit,
            )
        }
        NOp::Step(writes) => {
            let mut step = Atomic::new();
            for w in writes {
                step = match w {
                    NOp::Push(l, true, r) => step.push_front(&l.handle(n), r),
                    NOp::Push(l, false, r) => step.push_back(&l.handle(n), r),
                    NOp::ZAdd(m, s) => step.add_scored(&n.zset(), m, *s),
                    NOp::ZIncr(m, s) => step.increment_score(&n.zset(), m, *s),
                    NOp::ZRem(m) => step.remove_member(&n.zset(), m),
                    NOp::MSet(f, r) => step.set_field(&n.map(), f.as_str(), r),
                    NOp::MRem(f) => step.remove_field(&n.map(), f.as_str()),
                    NOp::CIncr(f, d) => step.increment_field(&n.counts(), *f, *d),
                    NOp::ISet(i, v) => step.set_slot(&n.ints(), *i, *v),
                    NOp::IIncr(i, v) => step.increment_slot(&n.ints(), *i, *v),
                    NOp::BSet(o, b) => step.set_bit(&n.bits(), *o, *b),
                    other => unreachable!("not a step write: {other:?}"),
                };
            }
            out(step.commit().await, Out::B)
        }
        NOp::Sleep(ms) => {
            clock
                .expect("Sleep only runs on the manual clock")
                .advance(Duration::from_millis(*ms));
            Out::Unit
        }
    }
}

async fn run_native_case(target: &Target, ops: &[NOp]) -> Result<usize, String> {
    let prefix = fresh_prefix();
    let (backend, clock) = target.open();
    let store = Nat::open_with_prefix(backend.clone(), &prefix);
    let mut model = NModel {
        prefix: prefix.clone(),
        now: 0,
        keys: BTreeMap::new(),
    };
    let started = Instant::now();
    let scan_prefix = format!("{prefix}:");
    for (i, op) in ops.iter().enumerate() {
        if clock.is_none() && matches!(op, NOp::Sleep(_)) {
            continue;
        }
        let expected = model.apply(op);
        let actual = nexec(&store, &backend, &prefix, clock.as_ref(), op).await;
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

fn check_native(
    rt: &tokio::runtime::Runtime,
    target: Target,
    cluster: bool,
    cases: u32,
    max_ops: usize,
) {
    let manual_clock = matches!(target, Target::Memory | Target::Redb(_));
    let strategy = prop::collection::vec(nop(cluster, manual_clock), 1..max_ops);
    run_cases("native model", cases, strategy, |ops| {
        rt.block_on(run_native_case(&target, &ops))
    });
}

#[test]
fn model_native_memory() {
    let rt = runtime();
    check_native(&rt, Target::Memory, false, cases(64, 1), 60);
}

#[test]
fn model_native_redb() {
    let rt = runtime();
    check_native(&rt, Target::redb(), false, cases(16, 2), 50);
}

#[test]
fn model_native_redis() {
    let rt = runtime();
    let running = start(&rt, Kind::Redis);
    check_native(
        &rt,
        Target::Redis(running.backend.clone()),
        false,
        cases(16, 1),
        50,
    );
}

#[test]
fn model_native_redis_cluster() {
    let rt = runtime();
    let running = start(&rt, Kind::Cluster);
    check_native(
        &rt,
        Target::Redis(running.backend.clone()),
        true,
        cases(8, 8),
        40,
    );
}
