//! Values: JSON text for items and set members, decimal text for counters, raw bytes for blobs;
//! the size limit.

use serde_json::json;

use super::*;

const MIB: usize = 1024 * 1024;

rules! {
    /// What is stored is interoperable: JSON, decimal integers, raw bytes.
    pub async fn values_are_json_on_the_wire(env: Env) {
        let shop = env.shop();
        let alice = User::new("alice", 30);
        shop.users().set("alice", &alice).await.unwrap();
        let raw = env.raw_get("u:alice").await.expect("stored");
        let stored: serde_json::Value = serde_json::from_slice(&raw).expect("item values are JSON");
        assert_eq!(stored, serde_json::to_value(&alice).unwrap());

        // JSON written by another program reads back.
        env.raw_set(
            "u:bob",
            br#"{ "age": 41, "email": "bob@example.com", "name": "bob" }"#,
        )
        .await;
        assert_eq!(
            shop.users().get("bob").await.unwrap(),
            Some(User {
                name: "bob".into(),
                email: "bob@example.com".into(),
                age: 41
            })
        );

        // Counters are decimal text, so INCRBY works on them.
        shop.visits().increment(-12).await.unwrap();
        assert_eq!(env.raw_get("visits").await, Some(b"-12".to_vec()));

        // Set members are JSON text.
        shop.tags()
            .add(&"a \"quoted\" tag".to_string())
            .await
            .unwrap();
        let members = env.backend.set_members(&env.key("tags")).await.unwrap();
        assert_eq!(members.len(), 1);
        let member: serde_json::Value = serde_json::from_slice(&members[0]).unwrap();
        assert_eq!(member, json!("a \"quoted\" tag"));
        shop.labels().add(&label("l")).await.unwrap();
        let members = env.backend.set_members(&env.key("labels")).await.unwrap();
        let member: serde_json::Value = serde_json::from_slice(&members[0]).unwrap();
        assert_eq!(member, json!({"name": "l"}));

        // Unicode and control characters in values survive.
        let n = note("ünï ✓\n\0\u{1F600}");
        shop.notes().set("u", &n).await.unwrap();
        assert_eq!(shop.notes().get("u").await.unwrap(), Some(n));
    }

    /// A value over the limit (1 MiB) is InvalidKey, rejected before anything is sent.
    pub async fn values_over_the_limit_are_rejected(env: Env) {
        let shop = env.shop();
        let notes = shop.notes();
        // `{"text":"..."}` is 11 bytes around the text.
        let at_limit = note("x".repeat(MIB - 11));
        assert_eq!(serde_json::to_vec(&at_limit).unwrap().len(), MIB);
        notes.set("fits", &at_limit).await.unwrap();
        assert_eq!(notes.get("fits").await.unwrap(), Some(at_limit.clone()));

        let over = note("x".repeat(MIB - 10));
        let key = env.key("notes:big");
        expect_value_too_large(notes.set("big", &over).await, &key);
        expect_value_too_large(notes.at("big").set_if_absent(&over).await, &key);
        expect_value_too_large(notes.at("big").set_with_ttl(&over, 10 * SECOND).await, &key);
        expect_value_too_large(
            notes
                .set_many([("small", &note("s")), ("big", &over)])
                .await,
            &key,
        );
        assert_eq!(notes.get("small").await.unwrap(), None, "nothing written");
        assert_eq!(notes.get("big").await.unwrap(), None);

        // modify that grows the value over the limit leaves the old value.
        let fits_key = env.key("notes:fits");
        expect_value_too_large(
            notes
                .at("fits")
                .modify(|v| v.map(|n| note(n.text + "y")))
                .await,
            &fits_key,
        );
        assert_eq!(notes.get("fits").await.unwrap(), Some(at_limit));

        // Blobs: exactly 1 MiB is fine, one byte more is not.
        let logo = shop.logo();
        let blob = vec![0xabu8; MIB];
        logo.set(&blob[..]).await.unwrap();
        assert_eq!(logo.get().await.unwrap().map(|b| b.len()), Some(MIB));
        let blob = vec![0xcdu8; MIB + 1];
        expect_value_too_large(logo.set(&blob[..]).await, &env.key("logo"));
        expect_value_too_large(
            logo.set_with_ttl(&blob[..], 10 * SECOND).await,
            &env.key("logo"),
        );
        assert_eq!(
            logo.get().await.unwrap().map(|b| b[0]),
            Some(0xab),
            "the old value stays"
        );

        // Set members.
        let tags = shop.tags();
        expect_value_too_large(tags.add(&"t".repeat(MIB)).await, &env.key("tags"));
        assert!(!tags.exists().await.unwrap());

        let mut keys = env.raw_keys().await;
        keys.sort();
        assert_eq!(keys, vec![env.key("logo"), env.key("notes:fits")]);
    }
}
