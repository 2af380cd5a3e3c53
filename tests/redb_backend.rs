//! `RedbBackend` as a file: what survives closing and reopening (TTLs included), a crash of the
//! process at a random moment (every acknowledged write is there), a second opener (a clear
//! error, never a hang), and files that are not what they should be (a clear error, no panic).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kvstore::{
    BackendErrorKind, Bits, Blob, Counter, Dynamic, Error, Item, ListOf, MapOf, PackedInts,
    RedbBackend, SetOf, SortedSetOf, Store, StreamId, StreamOf,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Doc {
    #[schemars(length(max = 64))]
    title: String,
    n: u64,
}

fn doc(title: &str, n: u64) -> Doc {
    Doc {
        title: title.to_owned(),
        n,
    }
}

#[derive(Store)]
#[store(prefix = "app")]
struct App {
    docs: Dynamic<Item<Doc>>,
    #[store(ttl = "1h")]
    sessions: Dynamic<Item<Doc>>,
    visits: Counter,
    tags: SetOf<String>,
    logo: Blob,
    queue: ListOf<Doc>,
    board: SortedSetOf<String>,
    profile: MapOf<String, Doc>,
    flags: Bits,
    wins: PackedInts<i64>,
    events: StreamOf<Doc>,
}

#[tokio::test]
async fn everything_survives_a_reopen_and_ttls_keep_running() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("app.redb");
    {
        let app = App::open(RedbBackend::open(&path)?);
        for i in 0..100 {
            app.docs().set(&format!("d{i}"), &doc("doc", i)).await?;
        }
        app.sessions().set("s1", &doc("session", 1)).await?;
        app.docs()
            .at("short")
            .set_with_ttl(&doc("short", 0), Duration::from_millis(300))
            .await?;
        app.visits().increment(41).await?;
        app.tags().add(&"a".to_owned()).await?;
        app.logo().set(&[0, 159, 146, 150]).await?;
        app.queue().push_back(&doc("job", 1)).await?;
        app.queue().push_back(&doc("job", 2)).await?;
        app.board().add(&"ann".to_owned(), 2.5).await?;
        app.profile().set("home", &doc("h", 0)).await?;
        app.flags().set(7, true).await?;
        app.wins().increment(3, -9).await?;
        app.events().append(&doc("e", 1)).await?;
        app.events().append(&doc("e", 2)).await?;
    }
    // Closed (every handle dropped): the file is released. The short TTL runs out meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = App::open(RedbBackend::open(&path)?);
    assert_eq!(app.docs().count().await?, 100, "the expired doc is gone");
    assert_eq!(app.docs().get("d42").await?, Some(doc("doc", 42)));
    assert_eq!(app.docs().get("short").await?, None);
    let ttl = app.sessions().at("s1").ttl().await?.expect("a TTL");
    assert!(
        ttl <= Duration::from_secs(3600) && ttl > Duration::from_secs(3500),
        "{ttl:?}"
    );
    assert_eq!(app.visits().get().await?, 41);
    assert_eq!(app.visits().increment(1).await?, 42);
    assert_eq!(app.tags().members().await?, vec!["a".to_owned()]);
    assert_eq!(app.logo().get().await?, Some(vec![0, 159, 146, 150]));
    assert_eq!(
        app.queue().range(0, -1).await?,
        vec![doc("job", 1), doc("job", 2)]
    );
    assert_eq!(app.board().score(&"ann".to_owned()).await?, Some(2.5));
    assert_eq!(app.profile().get("home").await?, Some(doc("h", 0)));
    assert!(app.flags().get(7).await?);
    assert_eq!(app.wins().get(3).await?, -9);
    let events = app.events().range(StreamId::MIN, StreamId::MAX, 10).await?;
    assert_eq!(
        events.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
        [doc("e", 1), doc("e", 2)]
    );
    assert!(events[0].0 < events[1].0);
    // A stream trimmed to nothing survives a reopen, and keeps its last id.
    assert_eq!(app.events().trim(0).await?, 2);
    drop(app);
    let app = App::open(RedbBackend::open(&path)?);
    assert!(app.events().exists().await?);
    assert_eq!(app.events().len().await?, 0);
    assert!(app.events().append(&doc("e", 3)).await? > events[1].0);
    // Keys come back in key order.
    let mut keys = app.docs().keys().await?;
    let sorted = {
        let mut k = keys.clone();
        k.sort();
        k
    };
    keys.sort();
    assert_eq!(keys, sorted);
    Ok(())
}

#[tokio::test]
async fn a_second_opener_gets_a_clear_error() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("locked.redb");
    let first = RedbBackend::open(&path)?;
    let started = Instant::now();
    let e = RedbBackend::open(&path).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "no hang");
    assert!(
        matches!(&e, Error::Backend(b) if b.kind() == BackendErrorKind::Unavailable),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("already open") && text.contains("locked.redb"),
        "{text}"
    );

    // Another process.
    let out = Command::new(std::env::current_exe()?)
        .args(["--exact", "child_opens", "--nocapture", "--test-threads=1"])
        .env("KVSTORE_REDB_CHILD", "open")
        .env("KVSTORE_REDB_PATH", &path)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OPEN-ERROR"), "{stdout}");
    assert!(stdout.contains("already open"), "{stdout}");

    drop(first);
    RedbBackend::open(&path)?;
    Ok(())
}

/// Not a test of its own: the body of the child processes of the tests above and below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_opens() {
    let Ok(role) = std::env::var("KVSTORE_REDB_CHILD") else {
        return;
    };
    let path = std::env::var("KVSTORE_REDB_PATH").expect("a path");
    match role.as_str() {
        "open" => match RedbBackend::open(&path) {
            Ok(_) => println!("OPENED"),
            Err(e) => println!("OPEN-ERROR {e}"),
        },
        "writer" => crash_writer(&path).await,
        other => panic!("unknown child role {other}"),
    }
}

/// Writes forever from 8 tasks, printing `ACK <key> <n>` after each write returned.
async fn crash_writer(path: &str) {
    let backend = RedbBackend::open(path).expect("open");
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let app = App::open(backend.clone());
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("t{t}-{n}");
                app.docs().set(&id, &doc("crash", n)).await.expect("write");
                let total = app.visits().increment(1).await.expect("increment");
                let mut out = out.lock().unwrap();
                writeln!(out, "ACK {id} {n} {total}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_a_kill() -> R {
    let rounds: usize = std::env::var("KVSTORE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for round in 0..rounds {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("crash.redb");
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--exact", "child_opens", "--nocapture", "--test-threads=1"])
            .env("KVSTORE_REDB_CHILD", "writer")
            .env("KVSTORE_REDB_PATH", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        // Kill after a random number of acknowledgements (so at a random moment of a commit).
        let kill_after = 50 + rand_below(1500);
        let mut acked = Vec::new();
        let mut max_total = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let mut parts = line.split_whitespace();
            if parts.next() != Some("ACK") {
                continue;
            }
            let id = parts.next().expect("id").to_owned();
            let n: u64 = parts.next().expect("n").parse()?;
            let total: i64 = parts.next().expect("total").parse()?;
            max_total = max_total.max(total);
            acked.push((id, n));
            if acked.len() >= kill_after {
                child.kill()?; // SIGKILL
                break;
            }
        }
        child.wait()?;
        let app = App::open(RedbBackend::open(&path)?);
        for (id, n) in &acked {
            assert_eq!(
                app.docs().get(id.as_str()).await?,
                Some(doc("crash", *n)),
                "round {round}: acknowledged write {id} lost"
            );
        }
        let visits = app.visits().get().await?;
        assert!(
            visits >= max_total,
            "round {round}: the counter went back from {max_total} to {visits}"
        );
        eprintln!(
            "round {round}: killed after {} acknowledged writes; all there",
            acked.len()
        );
    }
    Ok(())
}

/// A small pseudo-random number (no extra dependency for one draw).
fn rand_below(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    (nanos ^ (nanos >> 7)) % n
}

#[tokio::test]
async fn files_that_are_not_kvstore_files_are_refused() -> R {
    let dir = tempfile::tempdir()?;
    let check = |e: Error, what: &str| {
        let text = e.to_string();
        assert!(matches!(e, Error::Backend(_)), "{what}: {e:?}");
        assert!(
            text.contains("cannot open the kvstore file"),
            "{what}: {text}"
        );
        text
    };

    // Random bytes.
    let random = dir.path().join("random.bin");
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&random, &bytes)?;
    check(RedbBackend::open(&random).unwrap_err(), "random bytes");

    // A text file.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello, this is not a database\n")?;
    check(RedbBackend::open(&text).unwrap_err(), "text");

    // A redb database of another layout.
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign)?;
        let txn = db.begin_write()?;
        {
            let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("users");
            let mut t = txn.open_table(table)?;
            t.insert("ann", &1)?;
        }
        txn.commit()?;
    }
    let msg = check(RedbBackend::open(&foreign).unwrap_err(), "foreign layout");
    assert!(msg.contains("another layout"), "{msg}");

    // A kvstore file of an unknown format version.
    let future = dir.path().join("future.redb");
    drop(RedbBackend::open(&future)?);
    {
        let db = redb::Database::create(&future)?;
        let txn = db.begin_write()?;
        {
            let meta: redb::TableDefinition<&str, &[u8]> =
                redb::TableDefinition::new("kvstore.meta");
            let mut t = txn.open_table(meta)?;
            t.insert("format", b"99".as_slice())?;
        }
        txn.commit()?;
    }
    let msg = check(RedbBackend::open(&future).unwrap_err(), "future format");
    assert!(msg.contains("\"99\"") && msg.contains("format 1"), "{msg}");

    // A kvstore file cut short: an error or a repaired file, never a panic.
    let cut = dir.path().join("cut.redb");
    {
        let app = App::open(RedbBackend::open(&cut)?);
        for i in 0..500 {
            app.docs().set(&format!("d{i}"), &doc("x", i)).await?;
        }
    }
    let len = std::fs::metadata(&cut)?.len();
    let file = std::fs::OpenOptions::new().write(true).open(&cut)?;
    file.set_len(len / 2)?;
    drop(file);
    match RedbBackend::open(&cut) {
        Err(e) => {
            check(e, "truncated");
        }
        Ok(b) => {
            // Whatever redb recovered reads without a panic.
            let app = App::open(b);
            let _ = app.docs().count().await;
        }
    }
    Ok(())
}

#[tokio::test]
async fn connect_opens_redb_urls() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("url.redb");
    let url = format!("redb://{}", path.display());
    let backend = kvstore::connect(&url).await?;
    assert_eq!(backend.info().name, "redb");
    let app = App::open(backend);
    app.visits().increment(5).await?;
    drop(app);
    let app = App::open(kvstore::connect(&url).await?);
    assert_eq!(app.visits().get().await?, 5);
    let Err(e) = kvstore::connect("redb://").await else {
        panic!("redb:// without a path opened something");
    };
    assert!(e.to_string().contains("names no file"), "{e}");
    Ok(())
}
