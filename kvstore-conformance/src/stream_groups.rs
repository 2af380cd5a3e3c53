//! Consumer groups of streams (`StreamGroup`): creation, deliveries to one consumer each,
//! acknowledgements and pending counts, claims of idle entries (on the engine's clock where
//! there is a manual one), dead letters for entries that do not decode and for entries
//! delivered too often, blocking reads, the worker, and the same answers as the embedded
//! engine.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvstore::backend::{Command, Reply, StreamOp};
use kvstore::stream::{Delivery, StreamGroup};
use kvstore::{StreamId, StreamOf};

use super::*;

/// The idle time the rules claim after (real time on Redis: long enough that two calls in a
/// row on a loaded machine are well within it).
const IDLE: Duration = Duration::from_millis(150);

/// The store of the group rules, opened under the test's prefix at `<prefix>:g`.
#[derive(Store)]
pub struct Groups {
    /// Notes.
    pub jobs: StreamOf<Note>,
    /// Constrained values.
    pub labels: StreamOf<Label>,
    /// Streams by id.
    pub queues: Dynamic<StreamOf<Note>>,
}

fn groups(env: &Env) -> Groups {
    Groups::open_with_prefix(env.backend.clone(), &env.key("g"))
}

fn delivered_ids<T>(d: &[Delivery<T>]) -> Vec<StreamId> {
    d.iter().map(|d| d.id).collect()
}

/// Appends `value` as it is, bypassing the typed handle (what another program may write).
async fn raw_append(env: &Env, key: &str, value: &[u8]) -> StreamId {
    let command = Command::Stream {
        key,
        op: StreamOp::Append {
            value,
            max_len: None,
            ttl_if_created: None,
        },
    };
    match env.backend.execute(command).await.unwrap() {
        Reply::EntryId(id) => id,
        other => panic!("XADD answered {other:?}"),
    }
}

/// Lets `min_idle` pass for the pending entries (the engine's clock, or the real one), with a
/// margin.
async fn idle(env: &Env) {
    env.sleep(IDLE + Duration::from_millis(20)).await;
}

/// What a sequence of group operations answered, ids left out: counts, values and delivery
/// counts, and the positions (in append order) of the entries.
async fn group_script(jobs: &StreamOf<Note>, env: &Env) -> Vec<String> {
    let mut out = Vec::new();
    let mut appended = Vec::new();
    for i in 0..6 {
        appended.push(jobs.append(&note(format!("j{i}"))).await.unwrap());
    }
    let pos = |d: &[Delivery<Note>], appended: &[StreamId]| -> String {
        d.iter()
            .map(|d| {
                let at = appended
                    .iter()
                    .position(|a| *a == d.id)
                    .map_or(-1, |p| p as i64);
                format!("{at}:{}x{}", d.value.text, d.deliveries)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let g = jobs.group("script");
    out.push(format!(
        "create {}",
        g.create_from_beginning().await.unwrap()
    ));
    out.push(format!(
        "create again {}",
        g.create_from_beginning().await.unwrap()
    ));
    let late = jobs.group("late");
    out.push(format!(
        "create from end {}",
        late.create_from_end().await.unwrap()
    ));
    let r = g.read("a", 2, None).await.unwrap();
    out.push(format!("read a {}", pos(&r, &appended)));
    let r = g.read("b", 0, None).await.unwrap();
    out.push(format!("read b {}", pos(&r, &appended)));
    let r = g.read("a", 5, None).await.unwrap();
    out.push(format!("read a again {}", pos(&r, &appended)));
    out.push(format!(
        "late reads {}",
        pos(&late.read("a", 5, None).await.unwrap(), &appended)
    ));
    out.push(format!("pending {}", g.pending().await.unwrap()));
    out.push(format!(
        "ack {}",
        g.ack(&[appended[0], appended[2], appended[0]])
            .await
            .unwrap()
    ));
    out.push(format!(
        "ack again {}",
        g.ack(&[appended[0]]).await.unwrap()
    ));
    out.push(format!("ack none {}", g.ack(&[]).await.unwrap()));
    out.push(format!("pending {}", g.pending().await.unwrap()));
    let r = g
        .claim_idle("c", Duration::from_secs(3600), 10)
        .await
        .unwrap();
    out.push(format!("claim not idle {}", pos(&r, &appended)));
    idle(env).await;
    let r = g.claim_idle("c", IDLE, 2).await.unwrap();
    out.push(format!("claim 2 {}", pos(&r, &appended)));
    idle(env).await;
    let r = g.claim_idle("d", IDLE, 10).await.unwrap();
    out.push(format!("claim all {}", pos(&r, &appended)));
    out.push(format!("pending {}", g.pending().await.unwrap()));
    out.push(format!("trim {}", jobs.trim(2).await.unwrap()));
    let r = g
        .claim_idle("e", Duration::from_secs(3600), 1)
        .await
        .unwrap();
    out.push(format!(
        "claim 1 not idle after trim {}",
        pos(&r, &appended)
    ));
    out.push(format!("pending {}", g.pending().await.unwrap()));
    idle(env).await;
    let r = g.claim_idle("e", IDLE, 10).await.unwrap();
    out.push(format!("claim after trim {}", pos(&r, &appended)));
    out.push(format!("pending {}", g.pending().await.unwrap()));
    let new = jobs.append(&note("j6")).await.unwrap();
    appended.push(new);
    out.push(format!(
        "late reads {}",
        pos(&late.read("a", 5, None).await.unwrap(), &appended)
    ));
    out.push(format!(
        "read {}",
        pos(&g.read("a", 5, None).await.unwrap(), &appended)
    ));
    out
}

rules! {
    /// Creating a group twice answers false the second time (and changes nothing); creating
    /// one creates a missing stream, empty; a missing group is an error naming the key.
    pub async fn group_create(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let group = jobs.group("billing");
        assert_eq!(group.name(), "billing");
        assert_eq!(group.dead_letter_key(), env.key("g:jobs:dead:billing"));
        let e = err(group.read("c", 10, None).await, "no group yet");
        assert_names_key(&e, jobs.key());
        let e = err(group.pending().await, "no group yet");
        assert_names_key(&e, jobs.key());
        let e = err(group.claim_idle("c", IDLE, 10).await, "no group yet");
        assert_names_key(&e, jobs.key());
        assert_eq!(group.ack(&[StreamId::new(1, 0)]).await.unwrap(), 0);

        assert!(group.create_from_beginning().await.unwrap());
        assert!(jobs.exists().await.unwrap(), "MKSTREAM");
        assert_eq!(jobs.len().await.unwrap(), 0);
        assert!(!group.create_from_beginning().await.unwrap());
        assert!(!group.create_from_end().await.unwrap());
        assert_eq!(group.pending().await.unwrap(), 0);
        assert_eq!(group.read("c", 10, None).await.unwrap(), vec![]);

        // An invalid group name is an error naming the key, before anything is sent.
        let e = err(jobs.group("a:b").create_from_end().await, "a bad group name");
        assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");
        let e = err(jobs.group("").pending().await, "an empty group name");
        assert!(matches!(e, Error::InvalidKey { .. }), "{e:?}");

        // A key of another kind.
        let text_key = env.key("g:text");
        env.raw_set("g:text", b"\"x\"").await;
        let command = Command::Stream {
            key: &text_key,
            op: StreamOp::CreateGroup { group: "g", from_start: true },
        };
        let e = err(env.backend.execute(command).await, "a string key");
        assert!(matches!(e, Error::WrongType { .. }), "{e:?}");
    }

    /// Each entry is delivered to one consumer once (delivery count 1), oldest first; a group
    /// created from the end sees only later entries; acknowledgements count what was pending.
    pub async fn group_read_and_ack(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let mut appended = Vec::new();
        for i in 0..6 {
            appended.push(jobs.append(&note(format!("j{i}"))).await.unwrap());
        }
        let group = jobs.group("work");
        assert!(group.create_from_beginning().await.unwrap());
        let late = jobs.group("late");
        assert!(late.create_from_end().await.unwrap());

        let a = group.read("a", 4, None).await.unwrap();
        let b = group.read("b", 10, None).await.unwrap();
        assert_eq!(delivered_ids(&a), appended[..4]);
        assert_eq!(delivered_ids(&b), appended[4..]);
        assert!(a.iter().chain(&b).all(|d| d.deliveries == 1));
        assert_eq!(a[1].value, note("j1"));
        assert_eq!(group.read("a", 10, None).await.unwrap(), vec![]);
        assert_eq!(late.read("a", 10, None).await.unwrap(), vec![]);
        assert_eq!(group.pending().await.unwrap(), 6);
        assert_eq!(late.pending().await.unwrap(), 0);

        assert_eq!(group.ack(&[appended[0], appended[5]]).await.unwrap(), 2);
        assert_eq!(group.ack(&[appended[0]]).await.unwrap(), 0);
        assert_eq!(late.ack(&[appended[1]]).await.unwrap(), 0, "not pending in that group");
        assert_eq!(group.pending().await.unwrap(), 4);

        let new = jobs.append(&note("j6")).await.unwrap();
        let got = late.read("z", 10, None).await.unwrap();
        assert_eq!(delivered_ids(&got), [new]);
        assert_eq!(delivered_ids(&group.read("a", 10, None).await.unwrap()), [new]);
        // Two groups are independent.
        assert_eq!(late.pending().await.unwrap(), 1);
        assert_eq!(group.pending().await.unwrap(), 5);
    }

    /// Many consumers reading at once get every entry exactly once among them.
    pub async fn group_concurrent_consumers(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let group = jobs.group("work");
        group.create_from_beginning().await.unwrap();
        let mut appended = Vec::new();
        for i in 0..40 {
            appended.push(jobs.append(&note(format!("j{i}"))).await.unwrap());
        }
        let mut tasks = Vec::new();
        for c in 0..4 {
            let group = group.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = group.read(&format!("c{c}"), 3, None).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|d| d.id));
                }
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort();
        assert_eq!(all, appended, "each entry delivered once");
        assert_eq!(group.pending().await.unwrap(), 40);
    }

    /// An entry left unacknowledged is claimed by another consumer once idle for `min_idle`
    /// (the engine's clock on memory and redb), its delivery count one more each time; an
    /// entry trimmed away is dropped from the pending entries instead.
    pub async fn group_claim_idle(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let group = jobs.group("work");
        group.create_from_beginning().await.unwrap();
        let first = jobs.append(&note("a")).await.unwrap();
        let second = jobs.append(&note("b")).await.unwrap();
        let read = group.read("dead", 10, None).await.unwrap();
        assert_eq!(delivered_ids(&read), [first, second]);

        assert_eq!(group.claim_idle("alive", Duration::from_secs(3600), 10).await.unwrap(), vec![]);
        idle(&env).await;
        let claimed = group.claim_idle("alive", IDLE, 1).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].id, claimed[0].deliveries), (first, 2));
        assert_eq!(claimed[0].value, note("a"));
        // Claiming restarts the idle time.
        let claimed = group.claim_idle("other", IDLE, 10).await.unwrap();
        assert_eq!(delivered_ids(&claimed), [second], "only the one not just claimed");
        idle(&env).await;
        let claimed = group.claim_idle("third", IDLE, 10).await.unwrap();
        assert_eq!(
            claimed.iter().map(|d| (d.id, d.deliveries)).collect::<Vec<_>>(),
            [(first, 3), (second, 3)]
        );
        assert_eq!(group.pending().await.unwrap(), 2);
        assert_eq!(group.ack(&[first]).await.unwrap(), 1);

        // Trimmed away while pending: dropped from the pending entries by the claim.
        assert_eq!(jobs.trim(0).await.unwrap(), 2);
        idle(&env).await;
        assert_eq!(group.claim_idle("third", IDLE, 10).await.unwrap(), vec![]);
        assert_eq!(group.pending().await.unwrap(), 0);
    }

    /// An entry that does not decode or validate is never delivered: it is moved to the
    /// group's dead-letter stream, with its raw text and the error, and acknowledged. The
    /// dead-letter stream is part of the store's layout (no unknown key in the audit).
    pub async fn group_poison_to_dead_letters(env: Env) {
        let g = groups(&env);
        let labels = g.labels();
        let key = labels.key().to_owned();
        let group = labels.group("work");
        group.create_from_beginning().await.unwrap();
        let good = labels.append(&label("ok")).await.unwrap();
        let garbage = raw_append(&env, &key, b"not json").await;
        let invalid = raw_append(&env, &key, br#"{"name":"far too long"}"#).await;
        let fine = labels.append(&label("fine")).await.unwrap();

        // One at a time: the read goes on past the poison entries.
        let mut got = group.read("c", 1, None).await.unwrap();
        assert_eq!(delivered_ids(&got), [good]);
        got.extend(group.read("c", 1, None).await.unwrap());
        assert_eq!(delivered_ids(&got), [good, fine]);
        assert_eq!(group.read("c", 1, None).await.unwrap(), vec![]);
        assert_eq!(group.pending().await.unwrap(), 2, "the poison entries were acknowledged");
        let dead = group.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 2, "{dead:?}");
        assert_eq!((dead[0].id, dead[0].raw.as_str(), dead[0].deliveries), (garbage, "not json", 1));
        assert!(dead[0].error.contains(&key), "{}", dead[0].error);
        assert_eq!(dead[1].id, invalid);
        assert_eq!(dead[1].raw, r#"{"name":"far too long"}"#);
        assert!(!dead[1].error.is_empty());
        assert_eq!(group.dead_letters(1).await.unwrap().len(), 1);
        // Never delivered later either.
        idle(&env).await;
        let claimed = group.claim_idle("d", IDLE, 10).await.unwrap();
        assert_eq!(delivered_ids(&claimed), [good, fine]);
        // Another group has its own dead letters.
        let other = labels.group("other");
        assert_eq!(other.dead_letters(10).await.unwrap(), vec![]);

        // In a `Dynamic` of streams too; the audit knows the dead-letter streams.
        let queue = g.queues().at("q1");
        let qgroup = queue.group("work");
        qgroup.create_from_beginning().await.unwrap();
        raw_append(&env, queue.key(), b"{").await;
        assert_eq!(qgroup.read("c", 10, None).await.unwrap(), vec![]);
        assert_eq!(qgroup.dead_letters(10).await.unwrap().len(), 1);
        assert_eq!(g.queues().keys().await.unwrap(), ["q1".to_owned()]);
        let report = g.audit().await.unwrap();
        assert_eq!(report.unknown, 0, "{report}");
        let schema = Groups::schema();
        assert_eq!(schema["labels:dead:*"]["kind"], "stream", "{schema:#}");
        assert_eq!(schema["queues:*:dead:*"]["kind"], "stream", "{schema:#}");
    }

    /// With `max_deliveries(n)`, an entry claimed after n deliveries without an
    /// acknowledgement goes to the dead letters (and is acknowledged) instead of being
    /// delivered again.
    pub async fn group_max_deliveries(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let group: StreamGroup<Note> = jobs.group("work").max_deliveries(2);
        group.create_from_beginning().await.unwrap();
        let id = jobs.append(&note("flaky")).await.unwrap();
        assert_eq!(group.read("a", 10, None).await.unwrap()[0].deliveries, 1);
        idle(&env).await;
        let claimed = group.claim_idle("b", IDLE, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|d| d.deliveries).collect::<Vec<_>>(), [2]);
        idle(&env).await;
        assert_eq!(group.claim_idle("c", IDLE, 10).await.unwrap(), vec![]);
        assert_eq!(group.pending().await.unwrap(), 0);
        let dead = group.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].id, dead[0].deliveries), (id, 3));
        assert!(dead[0].error.contains("max_deliveries 2"), "{}", dead[0].error);
        assert_eq!(dead[0].raw, serde_json::to_string(&note("flaky")).unwrap());
    }

    /// A blocking group read returns empty at its timeout, and is woken by an append while
    /// other operations go on.
    pub async fn group_blocking_read(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let group = jobs.group("work");
        group.create_from_end().await.unwrap();
        let started = Instant::now();
        assert_eq!(group.read("c", 10, Some(Duration::from_millis(200))).await.unwrap(), vec![]);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
            "waited {waited:?}"
        );
        let reader = {
            let group = group.clone();
            tokio::spawn(async move { group.read("c", 10, Some(Duration::from_secs(10))).await })
        };
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(group.pending().await.unwrap(), 0, "other calls go on");
        let id = jobs.append(&note("late")).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the blocked read is woken by the append")
            .unwrap()
            .unwrap();
        assert_eq!(delivered_ids(&got), [id]);
        assert_eq!(group.pending().await.unwrap(), 1);
    }

    /// The worker handles every entry, acknowledges the ones whose handler succeeds, leaves
    /// a failed one (an `Err`, a panic) pending and handles it again after a claim, moves
    /// poison to the dead letters, and stops on its shutdown signal.
    pub async fn group_worker(env: Env) {
        let g = groups(&env);
        let jobs = g.jobs();
        let group = jobs.group("work");
        group.create_from_beginning().await.unwrap();
        for i in 0..6 {
            jobs.append(&note(format!("j{i}"))).await.unwrap();
        }
        raw_append(&env, jobs.key(), b"poison").await;
        let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, u64)>::new()));
        let failures = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = {
            let seen = Arc::clone(&seen);
            let failures = Arc::clone(&failures);
            group
                .worker("w1")
                .concurrency(3)
                .claim_idle_after(IDLE)
                .claim_every(Duration::from_millis(20))
                .poll(Duration::from_millis(20))
                .run(
                    move |d: Delivery<Note>| {
                        let seen = Arc::clone(&seen);
                        let failures = Arc::clone(&failures);
                        async move {
                            seen.lock().unwrap().push((d.value.text.clone(), d.deliveries));
                            // j3 fails on its first delivery.
                            if d.value.text == "j3" && d.deliveries == 1 {
                                failures.fetch_add(1, Ordering::SeqCst);
                                return Err("not yet");
                            }
                            // j4 panics on its first delivery: a failure too.
                            assert!(
                                d.value.text != "j4" || d.deliveries > 1,
                                "a handler panics (on purpose)"
                            );
                            Ok(())
                        }
                    },
                    async move {
                        let _ = stopped.await;
                    },
                )
        };
        let worker = tokio::spawn(worker);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = ["j3", "j4"]
                .iter()
                .all(|j| seen.lock().unwrap().iter().any(|(t, n)| t == j && *n >= 2));
            if done && group.pending().await.unwrap() == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the worker did not finish: {:?}", seen.lock().unwrap());
            // Lets idle time pass on the engine's clock (and a little real time).
            env.sleep(Duration::from_millis(30)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(()).unwrap();
        let report = tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .expect("the worker stops on its signal")
            .unwrap()
            .unwrap();
        let texts: BTreeSet<String> = seen.lock().unwrap().iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(texts.len(), 6, "{texts:?}");
        assert_eq!(report.acked, 6, "{report:?}");
        assert_eq!(report.failed, 2, "{report:?}");
        assert!(report.claimed >= 2, "{report:?}");
        assert_eq!(report.dead_lettered, 1, "{report:?}");
        assert_eq!(report.handled, report.acked + report.failed);
        assert_eq!(failures.load(Ordering::SeqCst), 1);
        assert_eq!(group.dead_letters(10).await.unwrap()[0].raw, "poison");
    }

    /// The same group operations answer as on the embedded engine (a `MemoryBackend` on a
    /// manual clock): counts, values, delivery counts and which entries each call returns.
    pub async fn group_parity_with_memory(env: Env) {
        let here = groups(&env).jobs();
        let memory_env = Env::memory("group_parity");
        let memory = groups(&memory_env).jobs();
        let expected = group_script(&memory, &memory_env).await;
        let got = group_script(&here, &env).await;
        assert_eq!(got, expected);
        assert_eq!(
            expected,
            [
                "create true",
                "create again false",
                "create from end true",
                "read a 0:j0x1,1:j1x1",
                "read b 2:j2x1,3:j3x1,4:j4x1,5:j5x1",
                "read a again ",
                "late reads ",
                "pending 6",
                "ack 2",
                "ack again 0",
                "ack none 0",
                "pending 4",
                "claim not idle ",
                "claim 2 1:j1x2,3:j3x2",
                "claim all 1:j1x3,3:j3x3,4:j4x2,5:j5x2",
                "pending 4",
                "trim 4",
                "claim 1 not idle after trim ",
                "pending 3",
                "claim after trim 4:j4x3,5:j5x3",
                "pending 2",
                "late reads 6:j6x1",
                "read 6:j6x1",
            ]
        );
    }
}
