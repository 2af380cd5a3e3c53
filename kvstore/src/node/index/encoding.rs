//! The stored forms of index entries (see ARCHITECTURE.md, "Secondary indexes"): ordered
//! members that sort by score then id, and unique-key claims.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::layout::Id;

mod sealed {
    pub trait Sealed {}
}

/// A score of an [`OrderedIndex`](super::OrderedIndex): `i64`, `i32`, `u32`, `u64`, `f64` or
/// `f32`. Scores are kept as `f64` (Redis's sorted-set scores); an integer that an `f64` cannot
/// hold exactly is refused on write, and NaN is refused.
pub trait Score: sealed::Sealed + Copy + PartialOrd + Send + Sync + 'static {
    /// The score as an `f64`, `None` when it cannot be one exactly (or is NaN).
    fn to_f64(self) -> Option<f64>;
    /// The score an `f64` read back stands for.
    fn from_f64(score: f64) -> Option<Self>;
    /// The score as the nearest `f64`, for a query's bounds (`None`: NaN).
    fn bound(self) -> Option<f64>;
}

macro_rules! int_score {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Score for $t {
            fn to_f64(self) -> Option<f64> {
                let f = self as f64;
                // Exact when it converts back to the same integer (and is not the saturated
                // bound that `as` rounds to).
                (f.fract() == 0.0 && f >= <$t>::MIN as f64 && f < (<$t>::MAX as f64) + 1.0
                    && f as $t == self && (f as i128) == self as i128)
                    .then_some(f)
            }
            fn from_f64(score: f64) -> Option<Self> {
                (score.fract() == 0.0 && score >= <$t>::MIN as f64 && score <= <$t>::MAX as f64)
                    .then(|| score as $t)
                    .filter(|v| (*v as f64) == score)
            }
            fn bound(self) -> Option<f64> {
                Some(self as f64)
            }
        }
    )*};
}
int_score!(i64, i32, u32, u64);

impl sealed::Sealed for f64 {}
impl Score for f64 {
    fn to_f64(self) -> Option<f64> {
        (!self.is_nan()).then_some(self)
    }
    fn from_f64(score: f64) -> Option<Self> {
        (!score.is_nan()).then_some(score)
    }
    fn bound(self) -> Option<f64> {
        self.to_f64()
    }
}

impl sealed::Sealed for f32 {}
impl Score for f32 {
    fn to_f64(self) -> Option<f64> {
        (!self.is_nan()).then_some(f64::from(self))
    }
    fn from_f64(score: f64) -> Option<Self> {
        let f = score as f32;
        (!score.is_nan() && f64::from(f) == score).then_some(f)
    }
    fn bound(self) -> Option<f64> {
        self.to_f64()
    }
}

/// The score as a `u64` whose order is the scores' order (`-inf` < ... < `-0.0` = `0.0` < ...
/// < `+inf`). Not defined for NaN (never stored).
pub(crate) fn sortable(score: f64) -> u64 {
    let score = if score == 0.0 { 0.0 } else { score }; // -0.0 sorts as 0.0
    let bits = score.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The score [`sortable`] was made from.
pub(crate) fn unsortable(bits: u64) -> f64 {
    if bits >> 63 == 1 {
        f64::from_bits(bits & !(1 << 63))
    } else {
        f64::from_bits(!bits)
    }
}

/// The sorted-set member of an ordered entry: 16 hex digits of [`sortable`], `:`, the encoded
/// id. Members compare byte-wise, so `ZRANGEBYLEX` orders entries by score, then id.
#[cfg(test)]
pub(crate) fn ordered_member<I: Id>(key: &str, score: f64, id: &I) -> crate::Result<String> {
    let mut out = format!("{:016x}:", sortable(score));
    id.encode_into(&mut out)
        .map_err(|reason| crate::Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })?;
    Ok(out)
}

/// The score and id of an ordered entry; `None` for a member this crate did not write.
pub(crate) fn parse_ordered_member<I: Id>(member: &str) -> Option<(f64, I)> {
    let (hex, id) = member.split_at_checked(16)?;
    let id = id.strip_prefix(':')?;
    if !hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some((unsortable(bits), I::decode(id)?))
}

/// A claim on a unique key: the id that holds it, a token that makes every claim's bytes
/// unique (so that compare-and-swaps on it are linearized), and whether it was confirmed after
/// the record write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claim {
    /// The holder's encoded id.
    pub(crate) id: String,
    /// `<unix ms>-<random>`: when it was claimed, and uniqueness.
    pub(crate) token: String,
    /// Confirmed (the record was written with the key).
    pub(crate) held: bool,
}

/// How long a pending claim is respected whatever its record says: a writer between its claim
/// and its confirmation.
pub(crate) const LEASE_MS: u64 = 30_000;

impl Claim {
    /// A new pending claim by `id` (encoded).
    pub(crate) fn pending(id: String) -> Claim {
        let now = now_ms();
        let token = format!("{now}-{:016x}", rand::random::<u64>());
        Claim {
            id,
            token,
            held: false,
        }
    }

    /// The same claim, confirmed.
    pub(crate) fn confirmed(&self) -> Claim {
        Claim {
            held: true,
            ..self.clone()
        }
    }

    /// The stored bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a claim serializes")
    }

    /// A claim read back; `None` for bytes this crate did not write.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Claim> {
        serde_json::from_slice(bytes).ok()
    }

    /// When it was claimed (unix ms); `None` for a token this crate did not write.
    pub(crate) fn claimed_at(&self) -> Option<u64> {
        self.token.split_once('-')?.0.parse().ok()
    }

    /// Whether a pending claim is still within its lease at `now` (unix ms).
    pub(crate) fn within_lease(&self, now: u64) -> bool {
        !self.held
            && self
                .claimed_at()
                .is_some_and(|at| now.saturating_sub(at) < LEASE_MS)
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_scores_are_exact_or_refused() {
        assert_eq!(5i64.to_f64(), Some(5.0));
        assert_eq!((1i64 << 53).to_f64(), Some(9_007_199_254_740_992.0));
        assert_eq!(((1i64 << 53) + 1).to_f64(), None);
        assert_eq!(i64::MAX.to_f64(), None);
        assert_eq!(i64::MIN.to_f64(), Some(-9_223_372_036_854_775_808.0));
        assert_eq!(u64::MAX.to_f64(), None);
        assert_eq!(u32::MAX.to_f64(), Some(4_294_967_295.0));
        assert_eq!(i32::MIN.to_f64(), Some(-2_147_483_648.0));
        assert_eq!(f64::NAN.to_f64(), None);
        assert_eq!(f32::INFINITY.to_f64(), Some(f64::INFINITY));
        assert_eq!(i64::from_f64(-3.0), Some(-3));
        assert_eq!(i64::from_f64(0.5), None);
        assert_eq!(u32::from_f64(-1.0), None);
        assert_eq!(f32::from_f64(0.1), None);
        assert_eq!(f32::from_f64(0.5), Some(0.5));
    }

    #[test]
    fn members_order_by_score_then_id() {
        let m = |s: f64, id: &str| ordered_member("k", s, &id.to_owned()).unwrap();
        let order = [
            m(f64::NEG_INFINITY, "z"),
            m(-1e300, "a"),
            m(-1.5, "a"),
            m(-0.0, "a"),
            m(0.0, "b"),
            m(1.0, "a"),
            m(1.0, "a b"),
            m(1.0, "b"),
            m(2.5, "0"),
            m(f64::INFINITY, "a"),
        ];
        for pair in order.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        assert_eq!(
            parse_ordered_member::<String>(&m(-1.5, "a b")),
            Some((-1.5, "a b".to_owned()))
        );
        assert_eq!(parse_ordered_member::<String>("nothex:x"), None);
        assert_eq!(parse_ordered_member::<String>("0000000000000000x"), None);
        assert_eq!(parse_ordered_member::<String>("ABCDEF0000000000:x"), None);
    }

    #[test]
    fn claims_round_trip_and_expire() {
        let claim = Claim::pending("alice".into());
        assert!(!claim.held);
        assert_eq!(Claim::parse(&claim.to_bytes()), Some(claim.clone()));
        let now = now_ms();
        assert!(claim.within_lease(now));
        assert!(!claim.within_lease(now + LEASE_MS + 1));
        assert!(!claim.confirmed().within_lease(now));
        assert_ne!(Claim::pending("alice".into()).token, claim.token);
        assert_eq!(Claim::parse(b"alice"), None);
    }

    #[test]
    fn sortable_keeps_the_order() {
        let mut scores = vec![
            f64::NEG_INFINITY,
            f64::MIN,
            -1e300,
            -2.0,
            -1.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1e-300,
            1.0,
            1.5,
            1e300,
            f64::MAX,
            f64::INFINITY,
        ];
        scores.extend((0..200).map(|i| f64::from(i) * 0.37 - 40.0));
        for &a in &scores {
            assert_eq!(unsortable(sortable(a)), if a == 0.0 { 0.0 } else { a });
            for &b in &scores {
                let want = if a == b {
                    std::cmp::Ordering::Equal
                } else {
                    a.total_cmp(&b)
                };
                assert_eq!(sortable(a).cmp(&sortable(b)), want, "{a} vs {b}");
            }
        }
    }
}
