//! `Blob`: get/set/set_with_ttl/remove/exists/ttl/expire/persist/key; raw bytes.

use std::time::Duration;

use super::*;

rules! {
    /// Raw bytes in, the same raw bytes out (and on the wire), including non-UTF-8.
    pub async fn blob_basics(env: Env) {
        let shop = env.shop();
        let logo = shop.logo();
        assert_eq!(logo.key(), env.key("logo"));
        assert_eq!(logo.get().await.unwrap(), None);
        assert!(!logo.exists().await.unwrap());
        assert!(!logo.remove().await.unwrap());

        let bytes: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0x00, 0xff, 0xfe, b'\r', b'\n', 0x80];
        logo.set(&bytes[..]).await.unwrap();
        assert_eq!(logo.get().await.unwrap(), Some(bytes.clone()));
        assert!(logo.exists().await.unwrap());
        assert_eq!(
            env.raw_get("logo").await,
            Some(bytes.clone()),
            "stored as is: no base64, no JSON"
        );

        // Every byte value.
        let all: Vec<u8> = (0..=255u8).collect();
        logo.set(&all[..]).await.unwrap();
        assert_eq!(logo.get().await.unwrap(), Some(all.clone()));

        // Empty is a value, not an absence.
        let empty: &[u8] = &[];
        logo.set(empty).await.unwrap();
        assert_eq!(logo.get().await.unwrap(), Some(Vec::new()));
        assert!(logo.exists().await.unwrap());

        // Not validated: whatever another program wrote reads back.
        env.raw_set("logo", b"{not json").await;
        assert_eq!(logo.get().await.unwrap(), Some(b"{not json".to_vec()));

        assert!(logo.remove().await.unwrap());
        assert_eq!(logo.get().await.unwrap(), None);
        assert!(!logo.exists().await.unwrap());
        assert!(!logo.remove().await.unwrap());
    }

    /// ttl/expire/persist/set_with_ttl on a blob.
    pub async fn blob_ttl_expire_persist(env: Env) {
        let shop = env.shop();
        let logo = shop.logo();
        assert_eq!(logo.ttl().await.unwrap(), None);
        assert!(!logo.expire(Duration::from_secs(10)).await.unwrap());
        assert!(!logo.exists().await.unwrap());
        assert!(!logo.persist().await.unwrap());

        logo.set(b"abc").await.unwrap();
        assert_eq!(logo.ttl().await.unwrap(), None);
        assert!(!logo.persist().await.unwrap());
        assert!(logo.expire(Duration::from_secs(10)).await.unwrap());
        assert_ttl_about(&env, logo.ttl().await.unwrap(), 10 * SECOND, 2 * SECOND);
        assert!(logo.persist().await.unwrap());
        assert_eq!(logo.ttl().await.unwrap(), None);

        logo.set_with_ttl(b"def", Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(logo.get().await.unwrap(), Some(b"def".to_vec()));
        assert_ttl_about(&env, logo.ttl().await.unwrap(), 20 * SECOND, 2 * SECOND);
        // set replaces the TTL (none here).
        logo.set(b"ghi").await.unwrap();
        assert_eq!(logo.ttl().await.unwrap(), None);

        logo.set_with_ttl(b"short", Duration::from_millis(150))
            .await
            .unwrap();
        env.sleep(Duration::from_millis(400)).await;
        assert_eq!(logo.get().await.unwrap(), None);
        assert!(!logo.exists().await.unwrap());
        assert_eq!(logo.ttl().await.unwrap(), None);

        // A Dynamic<Blob> with a field TTL.
        let thumb = shop.thumbs().at("t1");
        assert_eq!(thumb.key(), env.key("thumbs:t1"));
        thumb.set(b"\x00\x01").await.unwrap();
        assert_ttl_about(&env, thumb.ttl().await.unwrap(), 30 * MINUTE, 5 * SECOND);
        assert_eq!(thumb.get().await.unwrap(), Some(vec![0, 1]));
    }
}
