//! Patterns that backtrack (ReDoS) complete within a bound, on write and on read.

use super::*;

// ---------------------------------------------------------------------------------------------
// ReDoS
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Evil {
    #[schemars(regex(pattern = "(a+)+$"))]
    s: String,
}

/// A pattern only `fancy-regex` (backtracking) can run: a look-ahead around a nested quantifier.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Fancy {
    #[schemars(regex(pattern = "^(?=(a+)+b)"))]
    s: String,
}

#[derive(Store)]
struct Patterns {
    evil: Dynamic<Item<Evil>>,
    fancy: Dynamic<Item<Fancy>>,
}

#[tokio::test]
async fn redos_patterns_complete_within_a_bound() {
    let backend = MemoryBackend::new();
    let p = Patterns::open_with_prefix(backend.clone(), "redos");
    let bound = Duration::from_secs(1);
    let mut report = Vec::new();
    for n in [50usize, 5_000, 100_000] {
        let input = format!("{}!", "a".repeat(n));
        // Write path.
        let started = Instant::now();
        let r = p.evil().set("w", &Evil { s: input.clone() }).await;
        let write = started.elapsed();
        assert!(
            matches!(r, Err(Error::Validation { .. })),
            "{:?}",
            r.map(drop)
        );
        // Read path (stored by someone else).
        let key = p.evil().at("r").key().to_owned();
        let bytes = serde_json::to_vec(&serde_json::json!({ "s": input })).unwrap();
        backend.set(&key, &bytes, Default::default()).await.unwrap();
        let started = Instant::now();
        let r = p.evil().get("r").await;
        let read = started.elapsed();
        assert!(
            matches!(r, Err(Error::Validation { .. })),
            "{:?}",
            r.map(drop)
        );
        // The backtracking engine.
        let started = Instant::now();
        let r = p.fancy().set("w", &Fancy { s: input.clone() }).await;
        let fancy = started.elapsed();
        report.push(format!(
            "n={n}: (a+)+$ write {write:?} read {read:?}; ^(?=(a+)+b) {fancy:?} -> {}",
            match &r {
                Ok(()) => "Ok".to_owned(),
                Err(e) => format!("{e}").chars().take(120).collect(),
            }
        ));
        assert!(
            write < bound && read < bound && fancy < bound,
            "{report:#?}"
        );
        assert!(!matches!(r, Ok(())), "a non-matching value was accepted");
    }
    eprintln!("{report:#?}");
}
