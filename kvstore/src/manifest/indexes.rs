//! The secondary indexes a manifest describes, checked (the audit) and repaired (`kvstore
//! repair`) from the manifest alone: records read as JSON, keyed by the field path the manifest
//! names. The same passes as a typed index's `repair()` (`node/index/reconcile.rs`).

use serde_json::Value;

use super::{Manifest, Pattern};
use crate::error::Result;
use crate::index::IndexReport;
use crate::layout::KeyPath;
use crate::node::index::hooks::Indexes;
use crate::node::index::reconcile::{Reconcile, Reconciled};
use crate::node::{Context, Run};
use crate::IntoBackend;

/// The path of a pattern without its last id segment (`app:users:*` → `app:users`), and
/// whether that segment is colocated (`{*}`).
fn without_id(pattern: &str) -> Option<KeyPath> {
    if let Some(path) = pattern.strip_suffix(":{*}") {
        return Some(KeyPath::root(path).colocate());
    }
    pattern.strip_suffix(":*").map(KeyPath::root)
}

/// The index `pattern` describes over JSON records, if it is an index whose key is a field.
fn index_of(pattern: &Pattern) -> Option<(Indexes<Value>, String)> {
    let (of, key) = (pattern.of.as_deref()?, pattern.key.as_deref()?);
    if pattern.computed {
        return None;
    }
    let records = without_id(of)?;
    let path = match pattern.kind.as_str() {
        "ordered_index" => pattern.pattern.clone(),
        _ => pattern.pattern.strip_suffix(":*")?.to_owned(),
    };
    let indexes = Indexes::new(records).json(&pattern.kind, KeyPath::root(&path), key)?;
    Some((indexes, path))
}

async fn reconcile(
    ctx: &Context,
    indexes: &Indexes<Value>,
    write: bool,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Reconciled> {
    Reconcile {
        ctx,
        indexes,
        migrations: None,
        hook: 0,
        write,
    }
    .run(progress)
    .await
}

/// Checks the index `pattern` describes (if it is one) into the audit `run`.
pub(super) async fn audit(ctx: &Context, pattern: &Pattern, run: &mut Run<'_>) -> Result<()> {
    let Some((indexes, path)) = index_of(pattern) else {
        return Ok(());
    };
    let found = reconcile(ctx, &indexes, false, &mut |_| {}).await?;
    run.index(&path, found);
    Ok(())
}

/// What [`repair`] did to one index.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexRepair {
    /// The index's pattern, as in the manifest.
    pub pattern: String,
    /// What was done; `None` when the index's key is computed by a function of the program
    /// (only the program can repair it: call `repair()` on its handle).
    pub report: Option<IndexReport>,
}

/// Makes the secondary indexes of `manifest` (or only the one at the pattern `only`) match
/// their records, as each index's `repair()` does: records read as JSON and keyed by the field
/// the manifest names. Safe while the service writes. `progress` gets the index's pattern and
/// how many records and entries were read so far.
pub async fn repair(
    backend: impl IntoBackend,
    manifest: &Manifest,
    only: Option<&str>,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<Vec<IndexRepair>> {
    let ctx = Context::new(backend);
    let mut out = Vec::new();
    for pattern in manifest.patterns() {
        if pattern.of.is_none() || only.is_some_and(|o| o != pattern.pattern) {
            continue;
        }
        let report = match index_of(pattern) {
            Some((indexes, _)) => {
                let name = pattern.pattern.as_str();
                let mut progress = |n: u64| progress(name, n);
                Some(reconcile(&ctx, &indexes, true, &mut progress).await?.report)
            }
            None => None,
        };
        out.push(IndexRepair {
            pattern: pattern.pattern.clone(),
            report,
        });
    }
    Ok(out)
}
