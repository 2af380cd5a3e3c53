//! `kvstore::manifest::assert_snapshot`: a committed manifest, a failure that shows the diff when
//! the layout drifts, and the opt-in that accepts the change.

use kvstore::manifest::{assert_snapshot, ACCEPT_ENV};
use serde_json::json;

#[test]
fn a_drift_fails_with_the_diff_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.json");
    let v1 = json!({"app:p:*": {"kind": "item", "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}});
    let v2 = json!({"app:p:*": {"kind": "item", "schema": {"type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}}, "required": ["name", "country"]}}, "app:hits": {"kind": "counter"}});

    // No committed file: a failure that says how to write it.
    let missing = std::panic::catch_unwind(|| assert_snapshot(&path, &v1)).unwrap_err();
    let message = missing.downcast_ref::<String>().unwrap();
    assert!(message.contains(ACCEPT_ENV), "{message}");

    std::env::set_var(ACCEPT_ENV, "1");
    assert_snapshot(&path, &v1);
    std::env::remove_var(ACCEPT_ENV);
    assert!(path.exists());
    assert_snapshot(&path, &v1); // unchanged: passes

    let drift = std::panic::catch_unwind(|| assert_snapshot(&path, &v2)).unwrap_err();
    let message = drift.downcast_ref::<String>().unwrap();
    assert!(message.contains("2 changes, 1 breaking"), "{message}");
    assert!(
        message.contains("`/country` is now required: stored values without it will not read"),
        "{message}"
    );
    assert!(
        message.contains("new pattern") && message.contains(ACCEPT_ENV),
        "{message}"
    );

    std::env::set_var(ACCEPT_ENV, "1");
    assert_snapshot(&path, &v2);
    std::env::remove_var(ACCEPT_ENV);
    assert_snapshot(&path, &v2);
}
