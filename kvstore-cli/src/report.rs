//! How reports are printed: for people (tables) and for machines (JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kvstore::manifest::{Change, IndexRepair};
use kvstore::{AuditReport, ProblemKind};
use serde_json::{json, Value};

use crate::inspect::{printable, PatternStats};

fn kind(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Invalid => "invalid",
        ProblemKind::WrongType => "wrong type",
        ProblemKind::Unknown => "unknown",
        ProblemKind::WriteFailed => "write failed",
        ProblemKind::MissingEntry => "missing entry",
        ProblemKind::StaleEntry => "stale entry",
        ProblemKind::IndexConflict => "index conflict",
        _ => "other",
    }
}

/// The per-pattern table, the unknown keys, the totals and the first `limit` problems.
pub(crate) fn audit_text(report: &AuditReport, limit: usize) -> String {
    let mut out = String::new();
    let width = report
        .patterns
        .iter()
        .map(|p| p.pattern.len())
        .chain(["(unknown keys)".len()])
        .max()
        .unwrap_or(14);
    let _ = writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>10}",
        "pattern", "keys", "valid", "outdated", "invalid", "wrong type"
    );
    for p in &report.patterns {
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>10}",
            p.pattern, p.checked, p.valid, p.outdated, p.invalid, p.wrong_type
        );
    }
    let _ = writeln!(out, "{:<width$}  {:>9}", "(unknown keys)", report.unknown);
    let _ = writeln!(
        out,
        "\n{} keys checked: {} valid, {} outdated, {} invalid, {} of another kind; {} unknown keys",
        report.checked,
        report.valid,
        report.outdated,
        report.invalid,
        report.wrong_type,
        report.unknown
    );
    if report.missing_entries + report.stale_entries + report.index_conflicts > 0 {
        let _ = writeln!(
            out,
            "indexes: {} missing entries, {} stale entries, {} unique-key conflicts (`kvstore repair` fixes the entries; a conflict needs one of its two records changed)",
            report.missing_entries, report.stale_entries, report.index_conflicts
        );
    }
    if !report.problems.is_empty() && limit > 0 {
        let _ = writeln!(out, "\nproblems:");
        for p in report.problems.iter().take(limit) {
            let at = p
                .pointer
                .as_deref()
                .map(|ptr| format!(" at {}", if ptr.is_empty() { "/" } else { ptr }))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<14} {}{at}: {}",
                kind(p.kind),
                printable(&p.key),
                p.message
            );
        }
        let total = report.invalid
            + report.wrong_type
            + report.unknown
            + report.missing_entries
            + report.stale_entries
            + report.index_conflicts;
        if total as usize > limit.min(report.problems.len()) {
            let _ = writeln!(
                out,
                "  ... {} more (raise --problems to see up to {})",
                total as usize - limit.min(report.problems.len()),
                kvstore::MAX_PROBLEMS
            );
        }
    }
    out
}

/// The report as JSON.
pub(crate) fn audit_json(report: &AuditReport, limit: usize) -> Value {
    json!({
        "checked": report.checked,
        "valid": report.valid,
        "outdated": report.outdated,
        "invalid": report.invalid,
        "wrong_type": report.wrong_type,
        "unknown": report.unknown,
        "missing_entries": report.missing_entries,
        "stale_entries": report.stale_entries,
        "index_conflicts": report.index_conflicts,
        "patterns": report.patterns.iter().map(|p| json!({
            "pattern": p.pattern,
            "checked": p.checked,
            "valid": p.valid,
            "outdated": p.outdated,
            "invalid": p.invalid,
            "wrong_type": p.wrong_type,
        })).collect::<Vec<_>>(),
        "problems": report.problems.iter().take(limit).map(|p| json!({
            "key": p.key,
            "kind": kind(p.kind),
            "pointer": p.pointer,
            "message": p.message,
        })).collect::<Vec<_>>(),
    })
}

/// What `kvstore repair` did, one line per index.
pub(crate) fn repair_text(repairs: &[IndexRepair]) -> String {
    let mut out = String::new();
    for r in repairs {
        match &r.report {
            Some(report) => {
                let _ = writeln!(
                    out,
                    "{}: {} records read, {} entries added, {} stale entries removed, {} conflicts",
                    r.pattern, report.scanned, report.added, report.removed, report.conflicts
                );
                for (id, holder) in &report.conflicting {
                    let _ = writeln!(
                        out,
                        "  conflict: record {} has the unique key that {} holds",
                        printable(id),
                        printable(holder)
                    );
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "{}: skipped, its key is computed by a function of the program (call `repair()` on its handle there)",
                    r.pattern
                );
            }
        }
    }
    if repairs.is_empty() {
        let _ = writeln!(out, "no secondary index in the manifest");
    }
    out
}

/// What `kvstore repair` did, as JSON.
pub(crate) fn repair_json(repairs: &[IndexRepair]) -> Value {
    Value::Array(
        repairs
            .iter()
            .map(|r| match &r.report {
                Some(report) => json!({
                    "pattern": r.pattern,
                    "scanned": report.scanned,
                    "added": report.added,
                    "removed": report.removed,
                    "conflicts": report.conflicts,
                    "conflicting": report.conflicting.iter()
                        .map(|(id, holder)| json!({"id": id, "holder": holder}))
                        .collect::<Vec<_>>(),
                }),
                None => json!({"pattern": r.pattern, "skipped": "computed key"}),
            })
            .collect(),
    )
}

/// The changes as JSON.
pub(crate) fn diff_json(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| {
                json!({
                    "pattern": c.pattern,
                    "path": c.path,
                    "compatibility": c.compatibility.to_string(),
                    "message": c.message,
                })
            })
            .collect(),
    )
}

/// Keys and bytes per pattern, as a table.
pub(crate) fn stats_text(stats: &BTreeMap<String, PatternStats>) -> String {
    let width = stats.keys().map(String::len).max().unwrap_or(7).max(7);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<12}  {:>10}  {:>12}",
        "pattern", "kind", "keys", "bytes"
    );
    let (mut keys, mut bytes) = (0, 0);
    for (pattern, s) in stats {
        keys += s.keys;
        bytes += s.bytes;
        let _ = writeln!(
            out,
            "{:<width$}  {:<12}  {:>10}  {:>12}",
            pattern, s.kind, s.keys, s.bytes
        );
    }
    let _ = writeln!(
        out,
        "{:<width$}  {:<12}  {:>10}  {:>12}",
        "total", "", keys, bytes
    );
    out
}

/// Keys and bytes per pattern, as JSON.
pub(crate) fn stats_json(stats: &BTreeMap<String, PatternStats>) -> Value {
    Value::Object(
        stats
            .iter()
            .map(|(p, s)| {
                (
                    p.clone(),
                    json!({"kind": s.kind, "keys": s.keys, "bytes": s.bytes}),
                )
            })
            .collect(),
    )
}
