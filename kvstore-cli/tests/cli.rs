//! The `kvstore` binary end to end: a real redis-server (and a cluster, and a redb file) with a
//! planted mix of data, the commands run as a user runs them, exit codes and output checked.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kvstore::{
    backend::BackendExt as _, Bits, Counter, Dynamic, Item, ListOf, MapOf, PackedInts, SetOf,
    SortedSetOf, Store, StreamOf,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use support::{RedisCluster, RedisServer, Resp};

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
        stdout.contains("invalid        cli:profiles:bad1 at /last"),
        "{stdout}"
    );
    assert!(stdout.contains("unknown        cli:elsewhere"), "{stdout}");

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

    // A tightened constraint is breaking, even with the old version listed in `previous`.
    let short = |max: u64| serde_json::json!({"type": "object", "properties": {"name": {"type": "string", "maxLength": max}}});
    let loose = write_manifest(dir.path(), "loose.json", &item(short(20), Value::Null));
    let tight = write_manifest(
        dir.path(),
        "tight.json",
        &item(short(10), serde_json::json!({"previous": [short(20)]})),
    );
    let out = kvstore(&["diff", loose.to_str().unwrap(), tight.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("breaking") && !stdout.contains("migrates"),
        "{stdout}"
    );
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
            "cli:profiles:raw\x1b[31m",
            "cli:profiles:with space",
            "cli:profiles:x%2Ay"
        ],
        "every key the glob matches, as stored (in a pipe, not escaped), in key order"
    );
    let out = kvstore(&["keys", "cli:", "--url", &url, "--json"]);
    let listed: Vec<String> = serde_json::from_slice(&out.stdout)?;
    assert!(
        listed.contains(&"cli:profiles:raw\x1b[31m".to_owned())
            && listed.contains(&"cli:bad".to_owned()),
        "{listed:?}"
    );

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
        stdout.contains("kind:  list") && stdout.contains("value: 1 elements"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_commands_never_create_a_store() -> R {
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();
    let missing = dir.path().join("typo.redb");
    let url = format!("redb://{}", missing.display());
    for args in [
        vec!["audit", "--manifest", m, "--url", &url],
        vec!["stats", "--manifest", m, "--url", &url],
        vec!["keys", "cli:", "--url", &url],
        vec!["get", "cli:hits", "--url", &url],
    ] {
        let out = kvstore(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&missing.display().to_string())
                && stderr.contains("nothing was created"),
            "{args:?}: {stderr}"
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }

    let out = kvstore(&["keys", "cli:", "--url", "memory://"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("new, empty store"), "{stderr}");

    // A file another process has open: said so, not "server unavailable".
    let file = dir.path().join("app.redb");
    let held = kvstore::RedbBackend::open(&file)?;
    let url = format!("redb://{}", file.display());
    let out = kvstore(&["keys", "cli:", "--url", &url]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("in use by another process") && !stderr.contains("server unavailable"),
        "{stderr}"
    );
    drop(held);
    let out = kvstore(&["keys", "cli:", "--url", &url]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly() -> R {
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();
    let file = dir.path().join("app.redb");
    let url = format!("redb://{}", file.display());
    {
        let backend = kvstore::connect(&url).await?;
        plant(&App::open(backend.clone()), &backend).await?;
    }
    for args in [
        vec!["keys", "cli:", "--url", &url],
        vec!["keys", "cli:", "--url", &url, "--json"],
        vec!["get", "cli:queue", "--url", &url, "--manifest", m],
        vec!["stats", "--manifest", m, "--url", &url],
        vec!["audit", "--manifest", m, "--url", &url],
        vec!["diff", m, m],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvstore"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // The reader goes away before anything is written, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    Ok(())
}

#[test]
fn with_json_an_error_is_one_json_object_on_stderr() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("redis://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), "schema.json", &App::schema());
    let m = manifest.to_str().unwrap();
    let missing = format!("redb://{}", dir.path().join("missing.redb").display());
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec![
                "audit",
                "--manifest",
                "/no/such/file.json",
                "--url",
                &closed,
                "--json",
            ],
            "manifest",
        ),
        (vec!["keys", "x", "--url", "nosuch://x", "--json"], "usage"),
        (vec!["keys", "--json"], "usage"),
        (vec!["--json", "get", "x", "--url", &closed], "connection"),
        (
            vec!["stats", "--manifest", m, "--url", &missing, "--json"],
            "connection",
        ),
        (vec!["diff", m, "/no/such/file.json", "--json"], "manifest"),
    ];
    for (args, kind) in cases {
        let out = kvstore(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        let error: Value = serde_json::from_str(&stderr).expect("one JSON object");
        assert_eq!(error["kind"], kind, "{args:?}: {error}");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{error}"
        );
    }
}

#[test]
fn errors_say_what_failed() {
    let out = kvstore(&["diff", "/no/such/file.json", "/no/such/file.json"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("cannot read manifest /no/such/file.json: No such file")
            && !stderr.contains("backend error"),
        "{stderr}"
    );
    let out = kvstore(&["keys", "x", "--url", "nosuch://x"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.matches("memory://").count(), 1, "{stderr}");
    assert!(
        !stderr.contains("check that the server is running"),
        "{stderr}"
    );
}

/// Every key of the server that Redis's own `SCAN MATCH pattern` returns, sorted.
fn redis_scan(server: &RedisServer, pattern: &str) -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let reply = server.cmd(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"]);
        let Resp::Array(Some(parts)) = reply else {
            panic!("SCAN replied {reply:?}")
        };
        cursor = parts[0].text();
        if let Resp::Array(Some(keys)) = &parts[1] {
            found.extend(keys.iter().map(Resp::text));
        }
        if cursor == "0" {
            return found.into_iter().collect();
        }
    }
}

#[test]
fn keys_match_as_redis_scan_match_does() {
    let server = RedisServer::start();
    let url = server.url();
    let mut planted: Vec<String> = [
        "g:a",
        "g:a:b",
        "g:ab",
        "g:b",
        "g:[x]",
        "g:*",
        "g:?",
        "g:\\",
        "g:with space",
        "g:100%",
        "g:100%25",
        "g:é",
        "g:ctl\u{1}x",
        "g:hello",
        "g:hallo",
        "g:hxllo",
        "g:hllo",
        "g:heeeello",
        "g:-",
        "g:^",
        "h:other",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    planted.extend((0..40).map(|i| format!("g:n:{i:02}")));
    for key in &planted {
        server.cmd(&["SET", key, "1"]);
    }
    for pattern in [
        "g:*",
        "*",
        "g:?",
        "g:??",
        "g:\\*",
        "g:\\?",
        "g:\\\\",
        "g:[ab]",
        "g:[^a]*",
        "g:h?llo",
        "g:h*llo",
        "g:h[a-e]llo",
        "g:h[e-a]llo",
        "g:h[^e]llo",
        "*:b",
        "g:a*",
        "g:\\[x]",
        "g:[\\]x]*",
        "g:[-^]",
        "*%*",
        "*space",
        "g:n:[0-1]?",
        "g:[",
        "nothing*",
        "g:n:0*",
    ] {
        let out = kvstore(&["keys", pattern, "--url", &url, "--json"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{pattern}: {stderr}");
        let listed: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(listed, redis_scan(&server, pattern), "pattern {pattern:?}");
    }
    // A trailing `:` is a prefix.
    let out = kvstore(&["keys", "g:", "--url", &url, "--json"]);
    let listed: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, redis_scan(&server, "g:*"));
    // --limit: the first N in key order, not the first N scanned.
    let out = kvstore(&["keys", "g:n:*", "--url", &url, "--limit", "3"]);
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["g:n:00", "g:n:01", "g:n:02"]
    );
}

#[derive(Store)]
#[store(prefix = "kinds")]
struct Kinds {
    board: SortedSetOf<String>,
    flags: Bits,
    small: PackedInts<u8>,
    signed: PackedInts<i16>,
    scores: MapOf<String, i64>,
    queue: ListOf<Profile>,
    tags: SetOf<String>,
    hits: Counter,
    events: StreamOf<Profile>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_decodes_every_kind_and_points_at_what_does_not_read() -> R {
    let server = RedisServer::start();
    let url = server.url();
    let backend = kvstore::connect(&url).await?;
    let kinds = Kinds::open(backend.clone());
    kinds.board().add(&"ann".to_owned(), 5.0).await?;
    kinds.board().add(&"bob".to_owned(), 7.5).await?;
    kinds.flags().set(1, true).await?;
    kinds.flags().set(10, true).await?;
    kinds.small().set(0, 200).await?;
    kinds.small().set(2, 7).await?;
    kinds.signed().set(1, -3).await?;
    kinds.scores().set("ann", &4).await?;
    kinds.queue().push_back(&profile("Q")).await?;
    kinds.tags().add(&"t".to_owned()).await?;
    kinds.hits().increment(42).await?;
    let event = kinds.events().append(&profile("E")).await?;
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &Kinds::schema());
    let m = manifest.to_str().unwrap();
    let get = |key: &str| -> (Option<i32>, Value) {
        let out = kvstore(&["get", key, "--url", &url, "--manifest", m, "--json"]);
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{key}: {e}: {:?}", text(&out)));
        (out.status.code(), json)
    };

    let (code, json) = get("kinds:board");
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(
        json["value"],
        serde_json::json!([{"member": "ann", "score": 5.0}, {"member": "bob", "score": 7.5}])
    );
    assert_eq!(get("kinds:flags").1["value"], serde_json::json!([1, 10]));
    assert_eq!(
        get("kinds:small").1["value"],
        serde_json::json!([200, 0, 7])
    );
    assert_eq!(get("kinds:signed").1["value"], serde_json::json!([0, -3]));
    assert_eq!(
        get("kinds:scores").1["value"],
        serde_json::json!({"ann": 4})
    );
    assert_eq!(get("kinds:hits").1["value"], 42);
    assert_eq!(get("kinds:tags").1["value"], serde_json::json!(["t"]));
    assert_eq!(get("kinds:queue").1["value"][0]["first"], "Q");
    let events = get("kinds:events").1;
    assert_eq!(events["value"][0]["id"], event.to_string(), "{events:#}");
    assert_eq!(events["value"][0]["value"]["first"], "E", "{events:#}");

    // Written by another program: a member that is not JSON, an element and a field that
    // break the schema.
    server.cmd(&["ZADD", "kinds:board", "6", "notjson"]);
    server.cmd(&[
        "RPUSH",
        "kinds:queue",
        r#"{"first":"A","last":"far too long a name"}"#,
    ]);
    server.cmd(&["HSET", "kinds:scores", "bob", "\"x\""]);
    server.cmd(&["XADD", "kinds:events", "*", "v", "notjson"]);
    let (code, json) = get("kinds:board");
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(json["verdict"], "invalid", "{json:#}");
    let at = json["problems"][0]["at"].as_str().unwrap_or_default();
    assert!(
        at.contains("member `notjson`") && at.contains("score 6"),
        "{json:#}"
    );
    let (code, json) = get("kinds:queue");
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(json["problems"][0]["at"], "element 1", "{json:#}");
    let (code, json) = get("kinds:scores");
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(json["problems"][0]["at"], "field `bob`", "{json:#}");
    let (code, json) = get("kinds:events");
    assert_eq!(code, Some(1), "{json:#}");
    let at = json["problems"][0]["at"].as_str().unwrap_or_default();
    assert!(at.starts_with("entry "), "{json:#}");

    // The text output marks the member and says it is not JSON.
    let out = kvstore(&["get", "kinds:board", "--url", &url, "--manifest", m]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("6  notjson (not JSON)"), "{stdout}");
    assert!(stdout.contains("^ does not read"), "{stdout}");
    assert!(
        stdout.contains("valid: no: member `notjson` (score 6)"),
        "{stdout}"
    );
    assert!(stdout.contains("5  \"ann\""), "{stdout}");
    // Without a manifest, a raw member is still told apart from a JSON string.
    let out = kvstore(&["get", "kinds:board", "--url", &url]);
    assert!(
        text(&out).0.contains("notjson (not JSON)"),
        "{:?}",
        text(&out)
    );
    Ok(())
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Member {
    email: String,
    home: Home,
    score: i64,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Home {
    city: Option<String>,
}

fn lower_email(m: &Member) -> Option<String> {
    Some(m.email.to_lowercase())
}

#[derive(Store)]
#[store(prefix = "club")]
struct Club {
    members: Dynamic<Item<Member>>,
    #[store(index(of = members, key = email))]
    by_email: kvstore::UniqueIndex<String>,
    #[store(index(of = members, key_fn = lower_email))]
    by_lower_email: kvstore::UniqueIndex<String>,
    #[store(index(of = members, key = home.city))]
    by_city: kvstore::IndexOf<String>,
    #[store(index(of = members, key = score))]
    by_score: kvstore::OrderedIndex<i64>,
}

fn member(email: &str, city: Option<&str>, score: i64) -> Member {
    Member {
        email: email.to_owned(),
        home: Home {
            city: city.map(str::to_owned),
        },
        score,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reports_index_entries_and_repair_rebuilds_them() -> R {
    let server = RedisServer::start();
    let url = server.url();
    let backend = kvstore::connect(&url).await?;
    let club = Club::open(backend.clone());
    for (id, email, city, score) in [
        ("a", "a@x.io", Some("Oslo"), 3),
        ("b", "b@x.io", Some("Oslo"), 1),
        ("c", "c@x.io", None, 2),
    ] {
        club.members().set(id, &member(email, city, score)).await?;
    }
    // The field-keyed indexes are lost, and a stale entry appears.
    for index in ["club:by_email", "club:by_city", "club:by_score"] {
        let keys = backend.scan_prefix(index).await?;
        backend.delete(&keys).await?;
    }
    backend.set_add("club:by_city:Oslo", b"ghost", None).await?;
    let dir = tempfile::tempdir()?;
    let manifest = write_manifest(dir.path(), "schema.json", &Club::schema());
    let m = manifest.to_str().unwrap();

    let out = kvstore(&["audit", "--manifest", m, "--url", &url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("indexes: 8 missing entries, 1 stale entries, 0 unique-key conflicts"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stale entry    club:by_city:Oslo ghost"),
        "{stdout}"
    );
    let out = kvstore(&["audit", "--manifest", m, "--url", &url, "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["missing_entries"], 8, "{json:#}");

    let out = kvstore(&["repair", "--manifest", m, "--url", &url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "club:by_city:*: 3 records read, 2 entries added, 1 stale entries removed, 0 conflicts"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("club:by_lower_email:*: skipped, its key is computed"),
        "{stdout}"
    );
    assert_eq!(
        club.by_email().id("b@x.io").await?.as_deref(),
        Some("b"),
        "found again"
    );
    assert_eq!(club.by_city().ids("Oslo").await?, ["a", "b"]);
    let top: Vec<String> = club
        .by_score()
        .last(3)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(top, ["a", "c", "b"]);
    let out = kvstore(&["audit", "--manifest", m, "--url", &url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    // A conflict (a second record with a's email, written behind the index): exit 1, both ids.
    backend
        .set(
            "club:members:d",
            br#"{"email":"a@x.io","home":{"city":null},"score":0}"#,
            Default::default(),
        )
        .await?;
    let out = kvstore(&[
        "repair",
        "--manifest",
        m,
        "--url",
        &url,
        "--index",
        "club:by_email:*",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("conflict: record d has the unique key that a holds"),
        "{stdout}"
    );
    let out = kvstore(&[
        "repair",
        "--manifest",
        m,
        "--url",
        &url,
        "--index",
        "club:nope:*",
    ]);
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
