//! A committed manifest snapshot: a test that fails when the code's layout drifts from it.

use std::path::Path;

use serde_json::Value;

use super::{diff, Compatibility, Manifest};

/// The environment variable that accepts a changed manifest: with `KVSTORE_ACCEPT_MANIFEST=1`,
/// [`assert_snapshot`] writes the new manifest instead of failing.
pub const ACCEPT_ENV: &str = "KVSTORE_ACCEPT_MANIFEST";

/// Checks that `manifest` (a store's `schema()`) equals the one committed at `path`.
///
/// On a difference it panics with every change, each compatible or breaking (as `kvstore diff`
/// prints them), and how to accept it: run the test again with `KVSTORE_ACCEPT_MANIFEST=1`,
/// which writes the new manifest to `path` (review it like code). A missing file is written the
/// first time only when accepting; otherwise it fails, so that a forgotten snapshot is noticed.
///
/// ```no_run
/// # #[derive(kvstore::Store)] struct App { hits: kvstore::Counter }
/// #[test]
/// fn the_layout_is_the_committed_one() {
///     kvstore::manifest::assert_snapshot(
///         concat!(env!("CARGO_MANIFEST_DIR"), "/schema.json"),
///         &App::schema(),
///     );
/// }
/// ```
#[track_caller]
pub fn assert_snapshot(path: impl AsRef<Path>, manifest: &Value) {
    let path = path.as_ref();
    let accept = std::env::var(ACCEPT_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    let pretty = serde_json::to_string_pretty(manifest).expect("a manifest serializes") + "\n";
    let committed = std::fs::read_to_string(path).ok();
    if committed.as_deref() == Some(pretty.as_str()) {
        return;
    }
    if accept {
        std::fs::write(path, &pretty)
            .unwrap_or_else(|e| panic!("cannot write the manifest `{}`: {e}", path.display()));
        eprintln!("kvstore: wrote the new manifest to {}", path.display());
        return;
    }
    let Some(committed) = committed else {
        panic!(
            "no committed manifest at `{}`: run this test with {ACCEPT_ENV}=1 to write it, then commit it",
            path.display()
        );
    };
    let old: Value = serde_json::from_str(&committed).unwrap_or_else(|e| {
        panic!(
            "the committed manifest `{}` is not JSON: {e}",
            path.display()
        )
    });
    let changes = match (Manifest::from_json(&old), Manifest::from_json(manifest)) {
        (Ok(old), Ok(new)) => diff(&old, &new),
        (Err(e), _) | (_, Err(e)) => panic!("cannot compare the manifests: {e}"),
    };
    let breaking = changes
        .iter()
        .filter(|c| c.compatibility == Compatibility::Breaking)
        .count();
    let list: Vec<String> = changes.iter().map(|c| format!("  {c}")).collect();
    panic!(
        "the store's manifest differs from `{}` ({} changes, {breaking} breaking):\n{}\n\
         If this is intended, run the test again with {ACCEPT_ENV}=1 and commit the file.",
        path.display(),
        changes.len(),
        if list.is_empty() {
            "  (only formatting differs)".to_owned()
        } else {
            list.join("\n")
        }
    );
}
