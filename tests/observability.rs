//! What kvstore reports about itself: the `metrics` facade's names and labels, `Instrumented`
//! fed from the same recording point, and the `tracing` spans' OpenTelemetry attributes —
//! captured by a real recorder (metrics-util's) and a real subscriber layer, on the memory
//! backend and on a real redis-server.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kvstore::backend::{
    Backend as _, BackendExt as _, Command, End, ListOp as RawListOp, SetOptions, StringOp,
};
use kvstore::{Dynamic, Error, Instrumented, Item, ListOf, MemoryBackend, RedisBackend, Store};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use support::RedisServer;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct User {
    #[schemars(email)]
    email: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct UserV1 {
    mail: String,
}

impl From<UserV1> for User {
    fn from(v1: UserV1) -> User {
        User { email: v1.mail }
    }
}

#[derive(Store)]
#[store(prefix = "obs")]
struct App {
    #[store(migrate_from(UserV1))]
    users: Dynamic<Item<User>>,
    queue: ListOf<User>,
}

fn user(email: &str) -> User {
    User {
        email: email.into(),
    }
}

/// Captured metrics: by name and sorted labels.
type Captured = BTreeMap<(String, Vec<(String, String)>), DebugValue>;

/// Every counter and histogram of a snapshot, by name and sorted labels.
fn captured(snapshotter: &Snapshotter) -> Captured {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, DebugValue)| {
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let _: MetricKind = key.kind();
            ((key.key().name().to_owned(), labels), value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

fn counter(found: &Captured, name: &str, pairs: &[(&str, &str)]) -> u64 {
    match found.get(&(name.to_owned(), labels(pairs))) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        Some(other) => panic!("{name} is not a counter: {other:?}"),
    }
}

/// Runs `f` on a current-thread runtime with `recorder` as this thread's recorder.
fn with_recorder<F: std::future::Future<Output = ()>>(recorder: &DebuggingRecorder, f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || rt.block_on(f));
}

#[test]
fn metrics_have_the_documented_names_and_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let backend = Instrumented::new(MemoryBackend::new());
    let counters = backend.metrics();
    let raw = backend.clone();
    with_recorder(&recorder, async {
        let app = App::open(backend);
        app.users().set("alice", &user("a@x.io")).await.unwrap();
        app.users().get("alice").await.unwrap();
        // A value that fails validation on write: nothing sent, one failure counted.
        let e = app
            .users()
            .set("bob", &user("not an email"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Validation { .. }));
        // A stored value of an older version, written behind the store's back (straight to the
        // backend: not an operation of the store), then read and written back.
        let old = Command::Str {
            key: "obs:users:old",
            op: StringOp::Set {
                value: br#"{"mail":"o@x.io"}"#,
                options: SetOptions::default(),
            },
        };
        raw.execute(old).await.unwrap();
        assert_eq!(app.users().get("old").await.unwrap(), Some(user("o@x.io")));
        // A list element that fails validation, on write and (written behind the store's back)
        // on read.
        app.queue().push_back(&user("nope")).await.unwrap_err();
        let push = Command::List {
            key: "obs:queue",
            op: RawListOp::Push {
                end: End::Back,
                value: br#"{"email":"still not"}"#,
                ttl_if_created: None,
            },
        };
        raw.execute(push).await.unwrap();
        app.queue().pop_front().await.unwrap_err();
        // A failed operation: its outcome is the error's kind.
        raw.set_add("obs:users:alice", b"x", None)
            .await
            .unwrap_err();
    });
    let found = captured(&snapshotter);
    let ok_set = [("op", "set"), ("backend", "memory"), ("outcome", "ok")];
    assert_eq!(
        counter(&found, "kvstore_operations_total", &ok_set),
        1,
        "{found:#?}"
    );
    let ok_get = [("op", "get"), ("backend", "memory"), ("outcome", "ok")];
    assert_eq!(
        counter(&found, "kvstore_operations_total", &ok_get),
        2,
        "alice, old"
    );
    match found.get(&(
        "kvstore_operation_duration_seconds".to_owned(),
        labels(&[("op", "get"), ("backend", "memory")]),
    )) {
        Some(DebugValue::Histogram(values)) => assert_eq!(values.len(), 2),
        other => panic!("no duration histogram for get: {other:?}"),
    }
    let failures = [("pattern", "obs:users:*"), ("direction", "write")];
    assert_eq!(
        counter(&found, "kvstore_validation_failures_total", &failures),
        1
    );
    let list_write = [("pattern", "obs:queue"), ("direction", "write")];
    assert_eq!(
        counter(&found, "kvstore_validation_failures_total", &list_write),
        1
    );
    let list_read = [("pattern", "obs:queue"), ("direction", "read")];
    assert_eq!(
        counter(&found, "kvstore_validation_failures_total", &list_read),
        1
    );
    let migrated = [("pattern", "obs:users:*")];
    assert_eq!(
        counter(&found, "kvstore_migrated_values_total", &migrated),
        1
    );
    let failed = [
        ("op", "set_add"),
        ("backend", "memory"),
        ("outcome", "wrong_type"),
    ];
    assert_eq!(counter(&found, "kvstore_operations_total", &failed), 1);
    // Instrumented's counters come from the same recording point: the same counts.
    let snap = counters.snapshot();
    let calls = |op: &str| snap.iter().find(|s| s.op == op).map_or(0, |s| s.calls);
    assert_eq!((calls("set"), calls("get")), (1, 2));
    assert_eq!(calls("compare_and_swap"), 1, "the write-back");
    // No label anywhere carries an id.
    for (_, labels) in found.keys() {
        assert!(labels
            .iter()
            .all(|(_, v)| !v.contains("alice") && !v.contains("bob")));
    }
}

/// The fields of every `kvstore` span, as recorded (at creation and later).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<BTreeMap<u64, BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing_core::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing_core::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &tracing_core::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing_core::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing_core::span::Attributes<'_>,
        id: &tracing_core::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "kvstore" {
            return;
        }
        let mut spans = self.0.lock().unwrap();
        attrs.record(&mut Fields(spans.entry(id.into_u64()).or_default()));
    }
    fn on_record(
        &self,
        id: &tracing_core::span::Id,
        values: &tracing_core::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(fields) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

/// Runs `f` with a subscriber capturing every span's fields; the spans, in creation order.
fn spans_of<F: std::future::Future<Output = ()>>(f: F) -> Vec<BTreeMap<String, String>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dispatch = tracing_core::Dispatch::new(subscriber);
    tracing_core::dispatcher::with_default(&dispatch, || rt.block_on(f));
    let captured = spans.0.lock().unwrap();
    captured.values().cloned().collect()
}

#[test]
fn spans_carry_opentelemetry_database_attributes_and_never_ids() {
    let spans = spans_of(async {
        let app = App::open(MemoryBackend::new());
        app.users().set("alice", &user("a@x.io")).await.unwrap();
    });
    let set = spans
        .iter()
        .find(|s| s.get("db.operation.name").map(String::as_str) == Some("set"))
        .unwrap_or_else(|| panic!("no span of the set: {spans:#?}"));
    assert_eq!(set["db.system.name"], "memory");
    assert_eq!(set["kvstore.pattern"], "obs:users:*");
    assert!(!set.contains_key("server.address"), "no server for memory");
    for span in &spans {
        assert!(
            span.values().all(|v| !v.contains("alice")),
            "an id in {span:?}"
        );
    }

    let server = RedisServer::start();
    let url = server.url();
    let spans = spans_of(async {
        let backend = RedisBackend::connect(&url).await.unwrap();
        let app = App::open(backend.clone());
        app.users().set("alice", &user("a@x.io")).await.unwrap();
        backend
            .set_add("obs:users:alice", b"x", None)
            .await
            .unwrap_err();
    });
    let set = spans
        .iter()
        .find(|s| s.get("db.operation.name").map(String::as_str) == Some("set"))
        .unwrap_or_else(|| panic!("no span of the set: {spans:#?}"));
    assert_eq!(set["db.system.name"], "redis");
    assert_eq!(set["server.address"], "127.0.0.1");
    assert_eq!(
        set["server.port"],
        url.rsplit(':').next().unwrap().trim_end_matches('/')
    );
    assert_eq!(set["kvstore.pattern"], "obs:users:*");
    let failed = spans
        .iter()
        .find(|s| s.get("db.operation.name").map(String::as_str) == Some("set_add"))
        .unwrap_or_else(|| panic!("no span of the set_add: {spans:#?}"));
    assert_eq!(failed["error.type"], "wrong_type");
    assert_eq!(failed["otel.status_code"], "ERROR");
    assert!(
        !failed.contains_key("kvstore.pattern"),
        "a raw command has no store: {failed:?}"
    );
}
