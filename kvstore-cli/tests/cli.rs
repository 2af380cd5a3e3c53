//! The `kvstore` binary end to end: a real redis-server (and a cluster, and a redb file) with a
//! planted mix of data, the commands run as a user runs them, exit codes and output checked.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kvstore::{BackendExt as _, Counter, Dynamic, Item, ListOf, MapOf, SetOf, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use support::{RedisCluster, RedisServer};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[derive(Serialize, Deserialize, JsonSchema)]
struct ProfileV1 {
    name: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Profile {
    first: String,
    #[schemars(length(max = 10))]
    last: String,
}

impl From<ProfileV1> for Profile {
    fn from(v1: ProfileV1) -> Self {
        Profile {
            first: v1.name,
            last: String::new(),
        }
    }
}

fn profile(first: &str) -> Profile {
    Profile {
        first: first.to_owned(),
        last: "L".to_owned(),
    }
}

#[derive(Store)]
#[store(prefix = "cli")]
struct App {
    #[store(migrate_from(ProfileV1))]
    profiles: Dynamic<Item<Profile>>,
    hits: Counter,
    tags: SetOf<String>,
    #[store(ttl = "1h")]
    sessions: Dynamic<Item<Profile>>,
    queue: ListOf<Profile>,
    scores: MapOf<String, i64>,
}

fn kvstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvstore"))
        .args(args)
        .output()
        .expect("the kvstore binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_manifest(dir: &Path, name: &str, manifest: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(manifest).unwrap()).unwrap();
    path
}

/// Plants: 5 valid profiles, 2 outdated (v1), 2 invalid, 1 of another kind, 2 unknown keys, 1
/// expired, plus a counter, a set, a session, a list and a map (all valid).
async fn plant(app: &App, backend: &kvstore::DynBackend) -> R {
    for i in 0..5 {
        app.profiles().set(&format!("p{i}"), &profile("P")).await?;
    }
    let raw = |k: &str| format!("cli:profiles:{k}");
    for (k, v) in [
        ("old1", r#"{"name":"Ada"}"#),
        ("old2", r#"{"name":"Grace"}"#),
        ("bad1", r#"{"first":"A","last":"far too long a name"}"#),
        ("bad2", "not json"),
    ] {
        backend
            .set(&raw(k), v.as_bytes(), Default::default())
            .await?;
    }
    backend.set_add(&raw("aset"), b"\"x\"", None).await?;
    backend
        .set("cli:elsewhere", b"x", Default::default())
        .await?;
    backend
        .set("cli:profiles:a:b", b"{}", Default::default())
        .await?;
    app.profiles()
        .at("gone")
        .set_with_ttl(&profile("G"), Duration::from_millis(1))
        .await?;
    app.hits().increment(3).await?;
    app.tags().add(&"t".to_owned()).await?;
    app.sessions().set("s", &profile("S")).await?;
    app.queue().push_back(&profile("Q")).await?;
    app.scores().increment("ann", 2).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(())
}

fn check_counts(json: &Value) {
    assert_eq!(json["valid"], 5 + 5, "{json:#}"); // profiles + hits, tags, session, queue, scores
    assert_eq!(json["outdated"], 2, "{json:#}");
    assert_eq!(json["invalid"], 2, "{json:#}");
    assert_eq!(json["wrong_type"], 1, "{json:#}");
    assert_eq!(json["unknown"], 2, "{json:#}");
    let profiles = json["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pattern"] == "cli:profiles:*")
        .expect("the profiles pattern");
    assert_eq!(profiles["checked"], 10, "{json:#}");
    let problems = json["problems"].as_array().unwrap();
    let bad1 = problems
        .iter()
        .find(|p| p["key"] == "cli:profiles:bad1")
        .expect("bad1 listed");
    assert_eq!(bad1["kind"], "invalid");
    assert_eq!(bad1["pointer"], "/last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_counts_a_planted_mix_exactly() -> R {
    let server = RedisServer::start();
    let url = server.url();
    let backend = kvstore::connect(&url).await?;
    let app = App::open(backend.clone());
    plant(&app, &backend).await?;
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();

    let out = kvstore(&["audit", "--manifest", m, "--url", &url]);
    let (stdout, stderr) = text(&out);
    eprintln!("{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("cli:profiles:*"), "{stdout}");
    assert!(
        stdout.contains(
            "15 keys checked: 10 valid, 2 outdated, 2 invalid, 1 of another kind; 2 unknown keys"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("invalid    cli:profiles:bad1 at /last"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown    cli:elsewhere"), "{stdout}");

    let out = kvstore(&["audit", "--manifest", m, "--url", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout)?;
    check_counts(&json);

    // Once the problems are fixed, exit 0.
    let raw: Vec<String> = ["bad1", "bad2", "aset", "a:b", "old1", "old2"]
        .iter()
        .map(|k| format!("cli:profiles:{k}"))
        .chain(["cli:elsewhere".to_owned()])
        .collect();
    backend.delete(&raw).await?;
    let out = kvstore(&["audit", "--manifest", m, "--url", &url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_runs_on_a_cluster_and_on_redb() -> R {
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();

    let cluster = RedisCluster::start(3, 0);
    let url = format!(
        "redis+cluster://{}",
        cluster
            .urls()
            .iter()
            .map(|u| u.trim_start_matches("redis://").to_owned())
            .collect::<Vec<_>>()
            .join(",")
    );
    let backend = kvstore::connect(&url).await?;
    plant(&App::open(backend.clone()), &backend).await?;
    let out = kvstore(&["audit", "--manifest", m, "--url", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    check_counts(&serde_json::from_slice(&out.stdout)?);

    let file = dir.path().join("app.redb");
    let url = format!("redb://{}", file.display());
    {
        let backend = kvstore::connect(&url).await?;
        plant(&App::open(backend.clone()), &backend).await?;
    }
    let out = kvstore(&["audit", "--manifest", m, "--url", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    check_counts(&serde_json::from_slice(&out.stdout)?);
    Ok(())
}

#[test]
fn usage_and_connection_errors_exit_2_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();

    let out = kvstore(&["audit", "--manifest", m, "--url", "nosuch://x"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("unsupported backend URL") && stderr.contains("redis://"),
        "{stderr}"
    );

    let out = kvstore(&[
        "audit",
        "--manifest",
        "/no/such/file.json",
        "--url",
        "redis://127.0.0.1:1",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("/no/such/file.json") && stderr.contains("schema()"),
        "{stderr}"
    );

    // A server that is not there (a port nothing listens on).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let out = kvstore(&["audit", "--manifest", m, "--url", &url]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("check that the server is running"),
        "{stderr}"
    );

    let out = kvstore(&["audit", "--url", &url]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing argument is a usage error"
    );
    let out = kvstore(&["diff", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Example:"));
}

#[test]
fn diff_classifies_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let item = |schema: Value, extra: Value| {
        let mut entry = serde_json::json!({"kind": "item", "schema": schema});
        if let (Some(e), Some(x)) = (entry.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        serde_json::json!({ "app:p:*": entry, "app:hits": {"kind": "counter"} })
    };
    let v1 = serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let v2 = serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}}, "required": ["name", "country"]});
    let old = write_manifest(dir.path(), "old.json", &item(v1.clone(), Value::Null));
    let new = write_manifest(dir.path(), "new.json", &item(v2.clone(), Value::Null));
    let migrating = write_manifest(
        dir.path(),
        "migrating.json",
        &item(v2, serde_json::json!({"previous": [v1], "ttl_secs": 60})),
    );
    let (o, n, mi) = (
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        migrating.to_str().unwrap(),
    );

    let out = kvstore(&["diff", o, n]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("breaking")
            && stdout
                .contains("`/country` is now required: stored values without it will not read"),
        "{stdout}"
    );

    let out = kvstore(&["diff", o, mi, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let classes: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["compatibility"].as_str().unwrap())
        .collect();
    assert!(
        classes.contains(&"migrates") && classes.contains(&"compatible"),
        "{json:#}"
    );

    let out = kvstore(&["diff", o, o]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out).0.trim(), "no changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_get_and_stats_read_known_data_and_hostile_keys_safely() -> R {
    let server = RedisServer::start();
    let url = server.url();
    let backend = kvstore::connect(&url).await?;
    let app = App::open(backend.clone());
    for id in ["plain", "with space", "100%", "x*y", "[a]"] {
        app.profiles().set(id, &profile("H")).await?;
    }
    backend
        .set("cli:profiles:raw\x1b[31m", b"{}", Default::default())
        .await?;
    backend
        .set("cli:bad", b"{\"first\":1}", Default::default())
        .await?;
    app.queue().push_back(&profile("Q")).await?;
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();

    let out = kvstore(&["keys", "cli:profiles:*", "--url", &url]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    let listed: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        listed,
        [
            "cli:profiles:%5Ba%5D",
            "cli:profiles:100%25",
            "cli:profiles:plain",
            "cli:profiles:with space",
            "cli:profiles:x%2Ay"
        ],
        "ids are matched as encoded ids; a raw escape sequence is not an id"
    );
    let out = kvstore(&["keys", "cli:", "--url", &url]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("cli:profiles:raw\\u{1b}[31m"),
        "control characters are escaped: {stdout}"
    );
    assert!(!stdout.contains('\x1b'));

    let out = kvstore(&["get", "cli:profiles:x%2Ay", "--url", &url, "--manifest", m]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("kind:  string") && stdout.contains("\"first\": \"H\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("valid: yes (pattern cli:profiles:*"),
        "{stdout}"
    );

    let out = kvstore(&["get", "cli:queue", "--url", &url, "--manifest", m]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("kind:  list") && stdout.contains("1 members"),
        "{stdout}"
    );

    let out = kvstore(&["get", "cli:bad", "--url", &url, "--manifest", m]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("valid: unknown"), "{stdout}");

    let out = kvstore(&["get", "cli:nothing", "--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.contains("(no such key)"));

    let out = kvstore(&["stats", "--url", &url, "--manifest", m, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let stats: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(stats["cli:profiles:*"]["keys"], 5, "{stats:#}");
    assert_eq!(stats["cli:queue"]["keys"], 1, "{stats:#}");
    // The raw key with an escape sequence (not an encoded id) and `cli:bad`.
    assert_eq!(stats["(unknown keys)"]["keys"], 2, "{stats:#}");
    let bytes = stats["cli:profiles:*"]["bytes"].as_u64().unwrap();
    assert!(bytes > 5 * 20, "{stats:#}");
    Ok(())
}
