//! Values nested deeper than serde_json reads back: refused on write, never unreadable.

use super::*;

/// What the store accepts, it can read back: a value nested deeper than serde_json's read limit
/// (128) must be refused on write, not acknowledged and then unreadable.
#[tokio::test]
async fn deep_values_accepted_on_write_are_readable() {
    let store = Deep::open_with_prefix(MemoryBackend::new(), "deep");
    let v = deep_value(200);
    let written = store.value().set(&v).await;
    let read = store.value().get().await;
    dismantle(v);
    if written.is_ok() {
        match read {
            Ok(Some(v)) => dismantle(v),
            other => panic!("set() of a 200-deep value was Ok, get() is {other:?}"),
        }
    }
    let t = deep_tree(100);
    if store.tree().set(&t).await.is_ok() {
        let read = store.tree().get().await;
        assert!(
            matches!(read, Ok(Some(_))),
            "set() of a 100-deep tree was Ok, get() is {read:?}"
        );
    }
}

/// Below serde_json's limit, deep values round-trip on every path.
#[tokio::test]
async fn nested_values_round_trip_below_the_limit() {
    let store = Deep::open_with_prefix(MemoryBackend::new(), "deep");
    let v = deep_value(120);
    store.value().set(&v).await.unwrap();
    assert_eq!(store.value().get().await.unwrap().as_ref(), Some(&v));
    // Two JSON levels (object, array) per tree level.
    let t = deep_tree(60);
    store.tree().set(&t).await.unwrap();
    assert_eq!(store.tree().get().await.unwrap().as_ref(), Some(&t));
}

// ---------------------------------------------------------------------------------------------
// Values nested 10,000 deep, written: run in a child process, since a stack overflow aborts
// the whole process.
// ---------------------------------------------------------------------------------------------

const CHILD: &str = "KVSTORE_HOSTILE_CHILD";
const DEPTH: usize = 10_000;

/// A recursive value type with a constraint (validated on write, not structural).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Tree {
    #[schemars(length(max = 8))]
    name: String,
    kids: Vec<Tree>,
}

#[derive(Store)]
struct Deep {
    value: Item<Value>,
    tree: Item<Tree>,
}

fn deep_value(depth: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// Tears a deep value down without recursion (its own `Drop` recurses).
fn dismantle(mut v: Value) {
    while let Value::Array(mut items) = v {
        v = items.pop().unwrap_or(Value::Null);
    }
}

fn deep_tree(depth: usize) -> Tree {
    let mut t = Tree {
        name: "leaf".into(),
        kids: vec![],
    };
    for _ in 0..depth {
        t = Tree {
            name: "n".into(),
            kids: vec![t],
        };
    }
    t
}

fn dismantle_tree(mut t: Tree) {
    while let Some(k) = t.kids.pop() {
        t = k;
    }
}

/// Only does something when run by `deep_values_*` below, in a child process.
#[test]
fn deep_nesting_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let depth: usize = std::env::var("KVSTORE_DEEP_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEPTH);
    rt.block_on(async {
        let store = Deep::open_with_prefix(MemoryBackend::new(), "deep");
        match mode.as_str() {
            "serde_json::to_vec" => {
                let v = deep_value(depth);
                println!(
                    "RESULT to_vec: {} bytes",
                    serde_json::to_vec(&v).unwrap().len()
                );
                dismantle(v);
            }
            "serde_json::to_value" => {
                let t = deep_tree(depth);
                let v = serde_json::to_value(&t).unwrap();
                println!("RESULT to_value: ok");
                dismantle_tree(t);
                std::mem::forget(v);
            }
            "value" => {
                let v = deep_value(depth);
                let r = store.value().set(&v).await;
                println!("RESULT set: {:?}", r.as_ref().map_err(|e| e.to_string()));
                dismantle(v);
                let r = store.value().get().await;
                match r {
                    Ok(Some(v)) => {
                        println!("RESULT get: Ok(Some(..))");
                        dismantle(v)
                    }
                    other => println!(
                        "RESULT get: {:?}",
                        other.map(|_| ()).map_err(|e| e.to_string())
                    ),
                }
            }
            "tree" => {
                let t = deep_tree(depth);
                let r = store.tree().set(&t).await;
                println!("RESULT set: {:?}", r.as_ref().map_err(|e| e.to_string()));
                dismantle_tree(t);
            }
            other => panic!("unknown mode {other}"),
        }
    });
}

/// Runs `deep_nesting_child` in `mode` in a child process (a 2 MiB test thread, like a tokio
/// worker's); returns its output, or panics describing the crash.
fn run_child(mode: &str) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "depth::deep_nesting_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, mode)
        .env_remove("RUST_MIN_STACK")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "writing a value nested {DEPTH} deep ({mode}) crashed the process: {:?}\n{}",
        out.status,
        stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let results: String = stdout
        .lines()
        // libtest may print `test deep_nesting_child ... ` on the same line first.
        .filter_map(|l| l.find("RESULT").map(|i| &l[i..]))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("{mode}: {results}");
    results
}

#[test]
fn deep_values_write_a_serde_json_value() {
    let results = run_child("value");
    // Written or refused with a typed error; and a value that was written can be read back (or
    // the write is refused): no value the store accepts is unreadable.
    assert!(results.contains("RESULT set:"), "{results}");
    assert!(results.contains("nested deeper than"), "{results}");
    if results.contains("RESULT set: Ok(())") {
        assert!(
            results.contains("RESULT get: Ok(Some"),
            "the store accepted a value it cannot read back: {results}"
        );
    }
}

#[test]
fn deep_values_write_a_recursive_validated_type() {
    let results = run_child("tree");
    assert!(results.contains("RESULT set:"), "{results}");
    // Refused with a typed error, before recursing that deep.
    assert!(results.contains("nested deeper than"), "{results}");
}
