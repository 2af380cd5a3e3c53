//! Versioned reads (`get_versioned`) and `Atomic::check_unchanged`: a step that commits only if
//! nobody wrote since the read, whatever form the stored bytes have.

use std::sync::atomic::{AtomicU32, Ordering};

use kvstore::{Atomic, Versioned};

use super::evolution::{Evolving, Profile};
use super::*;

/// A wallet, as another program may write it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Wallet {
    /// The balance.
    pub coins: i64,
}

/// Games whose wallets share one hash tag (a step over two of them fits one cluster slot).
#[derive(Store)]
pub struct Games {
    /// One game per id.
    #[store(colocate)]
    pub games: Dynamic<Game>,
}

/// One game's wallets.
#[derive(Store)]
pub struct Game {
    /// Wallets by player.
    pub wallets: Dynamic<Item<Wallet>>,
}

fn games(env: &Env) -> Games {
    Games::open_with_prefix(env.backend.clone(), &env.prefix)
}

/// Moves `amount` coins from `from` to `to` with `Atomic::retry`, reading with
/// `get_versioned`; returns whether it moved and how many rounds it took.
async fn transfer(from: &Item<Wallet>, to: &Item<Wallet>, amount: i64) -> (bool, u32) {
    let rounds = AtomicU32::new(0);
    let moved = Atomic::retry(|| async {
        rounds.fetch_add(1, Ordering::Relaxed);
        let (a, b) = (from.get_versioned().await?, to.get_versioned().await?);
        let balance = a.as_ref().map_or(0, |w| w.coins);
        if balance < amount {
            return Ok(None);
        }
        let to_coins = b.as_ref().map_or(0, |w| w.coins);
        Ok(Some(
            Atomic::new()
                .check_unchanged(from, &a)
                .check_unchanged(to, &b)
                .set(
                    from,
                    &Wallet {
                        coins: balance - amount,
                    },
                )
                .set(
                    to,
                    &Wallet {
                        coins: to_coins + amount,
                    },
                ),
        ))
    })
    .await
    .unwrap();
    (moved, rounds.load(Ordering::Relaxed))
}

rules! {
    /// Values written by another program (spaces, keys in another order) pass `check_unchanged`
    /// when nobody wrote in between: a transfer commits in its first round. `check` compares
    /// the canonical encoding, so it does not hold for them.
    pub async fn versioned_check_unchanged_of_foreign_bytes(env: Env) {
        let game = games(&env).games().at("g1");
        let (alice, bob) = (game.wallets().at("alice"), game.wallets().at("bob"));
        env.raw_set("games:{g1}:wallets:alice", br#"{ "coins": 100 }"#).await;
        env.raw_set("games:{g1}:wallets:bob", b"{\"coins\" :\n 5}").await;

        let read = alice.get_versioned().await.unwrap();
        assert_eq!(read.as_deref(), Some(&Wallet { coins: 100 }));
        // By value: the canonical bytes are not what is stored.
        let by_value = Atomic::new()
            .check(&alice, Some(&Wallet { coins: 100 }))
            .set(&alice, &Wallet { coins: 0 })
            .commit()
            .await
            .unwrap();
        assert!(!by_value, "check compares the canonical encoding");
        assert_eq!(
            env.raw_get("games:{g1}:wallets:alice").await.as_deref(),
            Some(&br#"{ "coins": 100 }"#[..])
        );

        assert_eq!(transfer(&alice, &bob, 30).await, (true, 1));
        assert_eq!(alice.get().await.unwrap(), Some(Wallet { coins: 70 }));
        assert_eq!(bob.get().await.unwrap(), Some(Wallet { coins: 35 }));
        // Not enough coins: nothing to do.
        assert_eq!(transfer(&alice, &bob, 1_000).await, (false, 1));
    }

    /// A write between the read and the commit (even of the same value in another form) fails
    /// the check and writes nothing; `&None` holds only while the key is absent.
    pub async fn versioned_check_unchanged_sees_writes(env: Env) {
        let game = games(&env).games().at("g1");
        let (alice, carol) = (game.wallets().at("alice"), game.wallets().at("carol"));
        alice.set(&Wallet { coins: 10 }).await.unwrap();
        let read = alice.get_versioned().await.unwrap();
        // The same value, written again in another form.
        env.raw_set("games:{g1}:wallets:alice", br#"{"coins": 10}"#).await;
        let committed = Atomic::new()
            .check_unchanged(&alice, &read)
            .set(&alice, &Wallet { coins: 11 })
            .commit()
            .await
            .unwrap();
        assert!(!committed);
        assert_eq!(
            env.raw_get("games:{g1}:wallets:alice").await.as_deref(),
            Some(&br#"{"coins": 10}"#[..])
        );

        // Absent when read: commits while it still is, not after someone created it.
        let absent: Option<Versioned<Wallet>> = carol.get_versioned().await.unwrap();
        assert!(absent.is_none());
        let step = || {
            Atomic::new()
                .check_unchanged(&carol, &absent)
                .set(&carol, &Wallet { coins: 1 })
        };
        assert!(step().commit().await.unwrap());
        assert!(!step().commit().await.unwrap(), "carol exists now");

        // The `Dynamic` shortcut reads the same version.
        let via_dynamic = game.wallets().get_versioned("alice").await.unwrap();
        let via_item = alice.get_versioned().await.unwrap();
        assert_eq!(via_dynamic, via_item);
        assert_eq!(via_dynamic.map(Versioned::into_inner), Some(Wallet { coins: 10 }));
        // A hostile id is a typed error, as for `get`.
        let e = err(game.wallets().get_versioned("").await, "empty id");
        assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");
    }

    /// An older version read with write-back off passes `check_unchanged` (the version is the
    /// stored old bytes); with write-back on, the version is the bytes written back.
    pub async fn versioned_reads_of_older_versions(env: Env) {
        let store = Evolving::open_with_prefix(env.backend.clone(), &env.prefix);
        let old = br#"{"name":"Ada Lovelace"}"#;

        // Write-back off: the key keeps the V1 bytes; the step still commits.
        env.raw_set("frozen:ada", old).await;
        let frozen = store.frozen().at("ada");
        let read = frozen.get_versioned().await.unwrap();
        assert_eq!(read.as_deref(), Some(&Profile::new("Ada", "Lovelace", "ZZ")));
        assert_eq!(env.raw_get("frozen:ada").await.as_deref(), Some(&old[..]));
        let committed = Atomic::new()
            .check_unchanged(&frozen, &read)
            .set(&frozen, &Profile::new("Ada", "Lovelace", "GB"))
            .commit()
            .await
            .unwrap();
        assert!(committed, "an older version read with write-back off");
        assert_eq!(
            frozen.get().await.unwrap(),
            Some(Profile::new("Ada", "Lovelace", "GB"))
        );

        // Write-back on: the read wrote the current shape, and that is the version.
        env.raw_set("profiles:ada", old).await;
        let profile = store.profiles().at("ada");
        let read = profile.get_versioned().await.unwrap();
        assert_ne!(env.raw_get("profiles:ada").await.as_deref(), Some(&old[..]));
        let committed = Atomic::new()
            .check_unchanged(&profile, &read)
            .set(&profile, &Profile::new("Ada", "Lovelace", "GB"))
            .commit()
            .await
            .unwrap();
        assert!(committed, "an older version written back by the read");
    }
}
