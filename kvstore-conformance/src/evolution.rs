//! Schema evolution: values written by older versions of a type are read through the current
//! one, written back, audited and migrated — the same on every backend.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use kvstore::backend::{async_trait, Backend, BackendInfo, Command, Reply, SetOptions, StringOp};

use super::*;

/// Version 1: one name.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct ProfileV1 {
    pub name: String,
}

/// Version 2: the name split.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct ProfileV2 {
    pub first: String,
    pub last: String,
}

/// Version 3 (current): a required, constrained country.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Profile {
    pub first: String,
    pub last: String,
    #[schemars(length(equal = 2))]
    pub country: String,
}

impl From<ProfileV1> for ProfileV2 {
    fn from(v1: ProfileV1) -> Self {
        let (first, last) = v1.name.split_once(' ').unwrap_or((&v1.name, ""));
        ProfileV2 {
            first: first.to_owned(),
            last: last.to_owned(),
        }
    }
}

impl From<ProfileV2> for Profile {
    fn from(v2: ProfileV2) -> Self {
        Profile {
            first: v2.first,
            last: v2.last,
            country: "ZZ".to_owned(),
        }
    }
}

impl Profile {
    pub fn new(first: &str, last: &str, country: &str) -> Profile {
        Profile {
            first: first.to_owned(),
            last: last.to_owned(),
            country: country.to_owned(),
        }
    }
}

/// A store whose profiles went through three versions.
#[derive(Store)]
pub struct Evolving {
    #[store(migrate_from(ProfileV2, ProfileV1))]
    pub profiles: Dynamic<Item<Profile>>,
    #[store(migrate_from(ProfileV2, ProfileV1))]
    pub admin: Item<Profile>,
    #[store(migrate_from(ProfileV2, ProfileV1), write_back = false)]
    pub frozen: Dynamic<Item<Profile>>,
    pub teams: Dynamic<Team>,
    pub hits: Counter,
}

/// A nested store with a migrating field.
#[derive(Store)]
pub struct Team {
    #[store(migrate_from(ProfileV2, ProfileV1))]
    pub lead: Item<Profile>,
}

/// The first version of a name: the last name was `surname`, with no limit (and optional).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct NameV1 {
    pub first: String,
    #[serde(default)]
    pub surname: String,
}

/// The current name: `last`, required, at most 8 characters. Every value of it fits `NameV1`'s
/// schema too (`last` is just another field there, and `surname` has a default).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Name {
    pub first: String,
    #[schemars(length(max = 8))]
    pub last: String,
}

impl From<NameV1> for Name {
    fn from(v1: NameV1) -> Self {
        Name {
            first: v1.first,
            last: v1.surname,
        }
    }
}

/// A store whose current type has a constraint that its older version lacks.
#[derive(Store)]
pub struct Named {
    #[store(migrate_from(NameV1))]
    pub names: Dynamic<Item<Name>>,
    #[store(migrate_from(NameV1))]
    pub owner: Item<Name>,
}

/// `Named::schema()` as the manifest of the store opened at `env`'s prefix.
fn named_manifest(env: &Env) -> kvstore::manifest::Manifest {
    let patterns = match Named::schema() {
        serde_json::Value::Object(patterns) => patterns,
        other => panic!("a manifest is an object: {other}"),
    };
    let prefixed: serde_json::Map<String, serde_json::Value> = patterns
        .into_iter()
        .map(|(pattern, entry)| (format!("{}:{pattern}", env.prefix), entry))
        .collect();
    kvstore::manifest::Manifest::from_json(&serde_json::Value::Object(prefixed)).unwrap()
}

/// An audit report's verdict counts: checked, valid, outdated, invalid, wrong type, unknown.
fn verdicts(report: &kvstore::AuditReport) -> [u64; 6] {
    [
        report.checked,
        report.valid,
        report.outdated,
        report.invalid,
        report.wrong_type,
        report.unknown,
    ]
}

const V1_ADA: &[u8] = br#"{"name":"Ada Lovelace"}"#;
const V2_GRACE: &[u8] = br#"{"first":"Grace","last":"Hopper"}"#;

fn evolving(env: &Env) -> Evolving {
    Evolving::open_with_prefix(env.backend.clone(), &env.prefix)
}

async fn raw_set_ttl(env: &Env, tail: &str, value: &[u8], ttl: Duration) {
    let options = SetOptions {
        ttl: Some(ttl),
        ..SetOptions::default()
    };
    assert!(env
        .backend
        .set(&env.key(tail), value, options)
        .await
        .unwrap());
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("stored JSON")
}

/// A wrapper that writes a current value just before the first compare-and-swap on `key`, as
/// another client would between the read and the write-back.
struct InjectBeforeSwap {
    inner: kvstore::DynBackend,
    key: String,
    value: Vec<u8>,
    done: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Backend for InjectBeforeSwap {
    fn info(&self) -> BackendInfo<'_> {
        self.inner.info()
    }

    async fn execute(&self, command: Command<'_>) -> kvstore::Result<Reply> {
        if let Command::Str {
            key,
            op: StringOp::CompareAndSwap { .. },
        } = command
        {
            if key == self.key && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let write = Command::Str {
                    key,
                    op: StringOp::Set {
                        value: &self.value,
                        options: SetOptions::default(),
                    },
                };
                self.inner.execute(write).await?;
            }
        }
        self.inner.execute(command).await
    }
}

rules! {
    /// A watch converts an older value for its consumer but never writes it back (a watcher
    /// only reads; several watchers would race to write the same conversion).
    pub async fn evolution_watch_converts_without_writing(env: Env) {
        let app = evolving(&env);
        env.raw_set("admin", V1_ADA).await;
        let mut changes = Box::pin(app.admin().watch());
        let first = tokio::time::timeout(Duration::from_secs(10), changes.next())
            .await
            .expect("the current value")
            .unwrap()
            .unwrap();
        assert_eq!(first, Some(Profile::new("Ada", "Lovelace", "ZZ")));
        let stored = env.backend.get(&env.key("admin")).await.unwrap();
        assert_eq!(stored.as_deref(), Some(V1_ADA), "the watch wrote");
        let mut profiles = Box::pin(app.profiles().watch_ready().await.unwrap());
        env.raw_set("profiles:grace", V2_GRACE).await;
        let (id, value) = tokio::time::timeout(Duration::from_secs(10), profiles.next())
            .await
            .expect("a change")
            .unwrap()
            .unwrap();
        assert_eq!((id.as_str(), value), ("grace", Some(Profile::new("Grace", "Hopper", "ZZ"))));
        let stored = env.backend.get(&env.key("profiles:grace")).await.unwrap();
        assert_eq!(stored.as_deref(), Some(V2_GRACE), "the watch wrote");
    }

    /// V1 and V2 values written raw are read as V3, written back in the V3 shape, with their TTLs.
    pub async fn evolution_reads_older_versions(env: Env) {
        let app = evolving(&env);
        env.raw_set("profiles:ada", V1_ADA).await;
        raw_set_ttl(&env, "profiles:grace", V2_GRACE, 10 * MINUTE).await;
        env.raw_set("admin", br#"{"name":"Root"}"#).await;

        assert_eq!(
            app.profiles().get("ada").await.unwrap(),
            Some(Profile::new("Ada", "Lovelace", "ZZ"))
        );
        assert_eq!(
            app.profiles().at("grace").get().await.unwrap(),
            Some(Profile::new("Grace", "Hopper", "ZZ"))
        );
        assert_eq!(
            app.admin().get().await.unwrap(),
            Some(Profile::new("Root", "", "ZZ"))
        );
        // Written back in the current shape before the read returned.
        let ada = json(&env.raw_get("profiles:ada").await.unwrap());
        assert_eq!(ada["country"], "ZZ", "{ada}");
        assert_eq!(ada["first"], "Ada");
        let admin = json(&env.raw_get("admin").await.unwrap());
        assert_eq!(admin["country"], "ZZ", "{admin}");
        // The TTL is kept (not reset, not dropped).
        assert_ttl_about(
            &env,
            app.profiles().at("grace").ttl().await.unwrap(),
            10 * MINUTE,
            5 * SECOND,
        );
        assert_eq!(app.profiles().at("ada").ttl().await.unwrap(), None);
        // A second read is the fast path, and the same value.
        assert_eq!(
            app.profiles().get("ada").await.unwrap(),
            Some(Profile::new("Ada", "Lovelace", "ZZ"))
        );
    }

    /// `write_back = false`: the read converts, the stored bytes stay as they are.
    pub async fn evolution_write_back_can_be_off(env: Env) {
        let app = evolving(&env);
        env.raw_set("frozen:ada", V1_ADA).await;
        assert_eq!(
            app.frozen().get("ada").await.unwrap(),
            Some(Profile::new("Ada", "Lovelace", "ZZ"))
        );
        assert_eq!(env.raw_get("frozen:ada").await.unwrap(), V1_ADA);
        // `migrate()` is explicit: it rewrites them anyway.
        let report = app.frozen().migrate().await.unwrap();
        assert_eq!((report.scanned, report.migrated), (1, 1));
        assert_eq!(
            json(&env.raw_get("frozen:ada").await.unwrap())["country"],
            "ZZ"
        );
    }

    /// A value of the current shape that breaks a constraint is `Validation` (stored data), never
    /// re-read through an older version that is a structural subset (which would drop `country`).
    pub async fn evolution_constraint_break_is_validation(env: Env) {
        let app = evolving(&env);
        let bad = br#"{"first":"Ann","last":"Lee","country":"FRA"}"#;
        env.raw_set("profiles:ann", bad).await;
        let key = env.key("profiles:ann");
        let issues = expect_validation(app.profiles().get("ann").await, &key);
        assert_issue_at(&issues, "/country");
        let err = app.profiles().get("ann").await.unwrap_err();
        assert!(err.is_stored_data(), "{err}");
        // Nothing was rewritten.
        assert_eq!(env.raw_get("profiles:ann").await.unwrap(), bad);
        // The same constraint on write is the caller's fault.
        let err = app
            .profiles()
            .set("bob", &Profile::new("Bob", "B", "FRA"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { stored: false, .. }),
            "{err}"
        );
        assert!(!err.is_stored_data());
    }

    /// Bytes that fit no version: `Decode`, naming the key and saying no version matched.
    pub async fn evolution_no_version_fits(env: Env) {
        let app = evolving(&env);
        env.raw_set("profiles:x", br#"{"nick":"x"}"#).await;
        let key = env.key("profiles:x");
        let err = app.profiles().get("x").await.unwrap_err();
        assert_names_key(&err, &key);
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        assert!(err.is_stored_data());
        let message = err.to_string();
        // Each older version tried, with where and why it did not fit.
        assert!(
            message.contains("as ProfileV2: /first: missing field")
                && message.contains("as ProfileV1: /name: missing field"),
            "{message}"
        );
        env.raw_set("profiles:y", br#"{"name":7}"#).await;
        let message = app.profiles().get("y").await.unwrap_err().to_string();
        assert!(
            message.contains("as ProfileV1: /name: 7 is not of type"),
            "{message}"
        );
    }

    /// A value of an older version whose conversion breaks the current schema is `Validation`
    /// (stored data) with the converted value's issues, naming the version it was converted
    /// from; nothing is written back.
    pub async fn evolution_converted_value_names_its_version(env: Env) {
        let app = Named::open_with_prefix(env.backend.clone(), &env.prefix);
        let old: &[u8] = br#"{"first":"Ada","surname":"far too long a name"}"#;
        env.raw_set("owner", old).await;
        let key = env.key("owner");
        let err = app.owner().get().await.unwrap_err();
        assert_names_key(&err, &key);
        match &err {
            Error::Validation {
                issues,
                stored: true,
                converted_from,
                ..
            } => {
                assert_issue_at(issues, "/last");
                assert_eq!(converted_from.as_deref(), Some("NameV1"), "{err}");
            }
            other => panic!("expected a stored Validation error, got {other:?}"),
        }
        assert!(err.is_stored_data());
        assert!(
            err.to_string().contains("converted from NameV1: at /last"),
            "{err}"
        );
        assert_eq!(env.raw_get("owner").await.unwrap(), old, "written back");
        let report = app.owner().audit().await.unwrap();
        assert_eq!((report.checked, report.invalid), (1, 1), "{report}");
        assert!(
            report.problems[0].message.contains("converted from NameV1"),
            "{report}"
        );
    }

    /// A newer value written between the read and the write-back is not overwritten.
    pub async fn evolution_write_back_loses_to_a_newer_write(env: Env) {
        env.raw_set("profiles:ada", V1_ADA).await;
        let newer = Profile::new("Ada", "King", "GB");
        let wrapper = InjectBeforeSwap {
            inner: env.backend.clone(),
            key: env.key("profiles:ada"),
            value: serde_json::to_vec(&newer).unwrap(),
            done: Default::default(),
        };
        let app = Evolving::open_with_prefix(wrapper, &env.prefix);
        // The read returns what it read (converted); the newer value stays.
        assert_eq!(
            app.profiles().get("ada").await.unwrap(),
            Some(Profile::new("Ada", "Lovelace", "ZZ"))
        );
        assert_eq!(
            app.profiles().get("ada").await.unwrap(),
            Some(newer.clone())
        );
        assert_eq!(
            serde_json::from_slice::<Profile>(&env.raw_get("profiles:ada").await.unwrap()).unwrap(),
            newer
        );
    }

    /// `modify` reads an older value, and `set_keep_ttl` keeps the TTL.
    pub async fn evolution_modify_and_set_keep_ttl(env: Env) {
        let app = evolving(&env);
        raw_set_ttl(&env, "profiles:grace", V2_GRACE, 10 * MINUTE).await;
        let fixed = app
            .profiles()
            .at("grace")
            .modify(|p| {
                let mut p = p.expect("an older value reads as Some");
                p.country = "US".into();
                Some(p)
            })
            .await
            .unwrap();
        assert_eq!(fixed, Some(Profile::new("Grace", "Hopper", "US")));
        let item = app.profiles().at("grace");
        assert_ttl_about(&env, item.ttl().await.unwrap(), 10 * MINUTE, 5 * SECOND);
        item.set_keep_ttl(&Profile::new("Grace", "Hopper", "CA"))
            .await
            .unwrap();
        assert_eq!(
            item.get().await.unwrap(),
            Some(Profile::new("Grace", "Hopper", "CA"))
        );
        assert_ttl_about(&env, item.ttl().await.unwrap(), 10 * MINUTE, 5 * SECOND);
        // On a key without a TTL, none is added; on a missing key, the value is written.
        let new = app.profiles().at("new");
        new.set_keep_ttl(&Profile::new("N", "N", "NO"))
            .await
            .unwrap();
        assert_eq!(new.ttl().await.unwrap(), None);
        assert!(new.exists().await.unwrap());
    }

    /// `get_each` and `stream` return every good value, and one `Err` per bad key.
    pub async fn evolution_lenient_listing(env: Env) {
        let app = evolving(&env);
        app.profiles()
            .set("cur", &Profile::new("C", "U", "FR"))
            .await
            .unwrap();
        env.raw_set("profiles:old", V1_ADA).await;
        env.raw_set("profiles:bad", b"not json").await;
        env.raw_set(
            "profiles:worse",
            br#"{"first":"A","last":"B","country":"XYZ"}"#,
        )
        .await;

        let each = app
            .profiles()
            .get_each(["cur", "bad", "old", "none", "worse", ""])
            .await
            .unwrap();
        assert_eq!(each.len(), 6);
        assert_eq!(
            each[0].as_ref().unwrap(),
            &Some(Profile::new("C", "U", "FR"))
        );
        assert_names_key(each[1].as_ref().unwrap_err(), &env.key("profiles:bad"));
        assert_eq!(
            each[2].as_ref().unwrap(),
            &Some(Profile::new("Ada", "Lovelace", "ZZ"))
        );
        assert_eq!(each[3].as_ref().unwrap(), &None);
        assert_names_key(each[4].as_ref().unwrap_err(), &env.key("profiles:worse"));
        assert!(matches!(
            each[5],
            Err(Error::InvalidKey {
                reason: InvalidKeyReason::EmptyId,
                ..
            })
        ));

        // The bulk reads still fail on the first bad value (they return plain values).
        assert!(app.profiles().entries().await.is_err());

        let items: Vec<_> = app.profiles().stream().collect().await;
        let mut good = BTreeMap::new();
        let mut bad = Vec::new();
        for item in items {
            match item {
                Ok((id, profile)) => {
                    assert!(good.insert(id, profile).is_none(), "each id once");
                }
                Err(e) => bad.push(e.key().unwrap().to_owned()),
            }
        }
        assert_eq!(
            good.keys().cloned().collect::<Vec<_>>(),
            strings(&["cur", "old"])
        );
        bad.sort();
        assert_eq!(
            bad,
            vec![env.key("profiles:bad"), env.key("profiles:worse")]
        );
    }

    /// A stream over a large keyspace yields every id (read in several batches).
    pub async fn evolution_stream_reads_in_batches(env: Env) {
        let app = evolving(&env);
        let entries: Vec<(String, Profile)> = (0..1_200)
            .map(|i| (format!("p{i}"), Profile::new("F", "L", "DE")))
            .collect();
        app.profiles().set_many(entries).await.unwrap();
        let mut ids: Vec<String> = app
            .profiles()
            .stream()
            .map(|item| item.unwrap().0)
            .collect()
            .await;
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1_200);
    }

    /// `audit()` counts valid, outdated, invalid, wrong type and unknown keys exactly, per pattern,
    /// and lists the offending keys.
    pub async fn evolution_audit_counts_a_planted_mix(env: Env) {
        let app = evolving(&env);
        for i in 0..5 {
            app.profiles()
                .set(&format!("ok{i}"), &Profile::new("O", "K", "SE"))
                .await
                .unwrap();
        }
        for i in 0..3 {
            env.raw_set(&format!("profiles:v1-{i}"), V1_ADA).await;
        }
        env.raw_set("profiles:v2", V2_GRACE).await;
        env.raw_set("profiles:bad", br#"{"nick":1}"#).await;
        env.raw_set(
            "profiles:worse",
            br#"{"first":"A","last":"B","country":"XYZ"}"#,
        )
        .await;
        env.raw_set_add("profiles:aset", b"\"member\"").await; // a SET where an item belongs
        env.raw_set("profiles:a:b", b"{}").await; // deeper than the layout
        env.raw_set("elsewhere", b"x").await; // no such field
        env.raw_set("admin", br#"{"name":"Root"}"#).await;
        env.raw_set("teams:red:lead", V2_GRACE).await;
        env.raw_set("teams:red:extra", b"x").await; // no such field in a team
        env.raw_set("hits", b"12").await;
        env.raw_set("frozen:a", b"[]").await;

        let mut calls = 0;
        let report = app.audit_with_progress(|_| calls += 1).await.unwrap();
        assert!(calls > 0, "progress was reported");
        let text = report.to_string();
        assert_eq!(report.valid, 5 + 1, "{text}"); // + the counter
        assert_eq!(report.outdated, 3 + 1 + 1 + 1, "{text}"); // v1s, v2, admin, team lead
        assert_eq!(report.invalid, 2 + 1, "{text}"); // bad, worse, frozen:a
        assert_eq!(report.wrong_type, 1, "{text}");
        assert_eq!(report.unknown, 3, "{text}");
        assert_eq!(report.checked, 6 + 6 + 3 + 1, "{text}");
        let pattern = |p: &str| {
            report
                .patterns
                .iter()
                .find(|r| r.pattern == env.key(p))
                .unwrap_or_else(|| panic!("no pattern {p} in {text}"))
        };
        let profiles = pattern("profiles:*");
        assert_eq!(
            (
                profiles.checked,
                profiles.valid,
                profiles.outdated,
                profiles.invalid,
                profiles.wrong_type
            ),
            (12, 5, 4, 2, 1),
            "{text}"
        );
        assert_eq!(pattern("teams:*:lead").outdated, 1, "{text}");
        assert_eq!(pattern("admin").outdated, 1, "{text}");
        let mut unknown: Vec<&str> = report
            .problems
            .iter()
            .filter(|p| p.kind == kvstore::ProblemKind::Unknown)
            .map(|p| p.key.as_str())
            .collect();
        unknown.sort();
        assert_eq!(
            unknown,
            [
                env.key("elsewhere"),
                env.key("profiles:a:b"),
                env.key("teams:red:extra")
            ],
            "{text}"
        );
        assert!(report
            .problems
            .iter()
            .any(|p| p.kind == kvstore::ProblemKind::WrongType && p.key == env.key("profiles:aset")));
        // An audit writes nothing.
        assert_eq!(env.raw_get("profiles:v2").await.unwrap(), V2_GRACE);

        // The handle-level audit covers its own keyspace, unknown keys included.
        let dynamic = app.profiles().audit().await.unwrap();
        assert_eq!(
            (dynamic.checked, dynamic.outdated, dynamic.unknown),
            (12, 4, 1)
        );
        let item = app.admin().audit().await.unwrap();
        assert_eq!((item.checked, item.outdated), (1, 1));
    }

    /// `migrate()` rewrites every outdated value (exact counts), a second run migrates nothing, and
    /// writers running at the same time lose nothing.
    pub async fn evolution_migrate_is_exact_idempotent_and_safe(env: Env) {
        let app = evolving(&env);
        let n: usize = 10_000;
        let mut raw = Vec::new();
        for i in 0..n {
            let value: &[u8] = match i % 4 {
                0 => V1_ADA,
                1 => V2_GRACE,
                2 => br#"{"first":"C","last":"C","country":"IT"}"#,
                _ => b"{}",
            };
            raw.push((env.key(&format!("profiles:k{i}")), value.to_vec()));
        }
        for chunk in raw.chunks(1_000) {
            env.backend.set_many(chunk, None).await.unwrap();
        }
        env.raw_set("teams:blue:lead", V1_ADA).await;

        let report = app.migrate().await.unwrap();
        assert_eq!(report.scanned, n as u64 + 1, "{report}");
        assert_eq!(report.migrated, (n / 2) as u64 + 1, "{report}");
        assert_eq!(
            (report.skipped, report.failed),
            (0, (n / 4) as u64),
            "{report}"
        );
        assert_eq!(
            report.problems.len(),
            kvstore::MAX_PROBLEMS,
            "problems are capped"
        );
        let again = app.migrate().await.unwrap();
        assert_eq!((again.migrated, again.skipped), (0, 0), "{again}");
        assert_eq!(again.failed, (n / 4) as u64, "{again}");
        assert_eq!(
            app.teams().at("blue").lead().get().await.unwrap(),
            Some(Profile::new("Ada", "Lovelace", "ZZ"))
        );

        // Old values again, and a writer overwriting some of them while a migration runs.
        let old: Vec<(String, Vec<u8>)> = (0..n)
            .step_by(4)
            .map(|i| (env.key(&format!("profiles:k{i}")), V1_ADA.to_vec()))
            .collect();
        for chunk in old.chunks(1_000) {
            env.backend.set_many(chunk, None).await.unwrap();
        }
        let writer_app = evolving(&env);
        let writer = tokio::spawn(async move {
            for i in (0..n).step_by(8) {
                writer_app
                    .profiles()
                    .set(&format!("k{i}"), &Profile::new("W", "W", "WW"))
                    .await
                    .unwrap();
            }
        });
        let report = app.migrate().await.unwrap();
        writer.await.unwrap();
        assert!(
            report.migrated + report.skipped <= (n / 4) as u64,
            "{report}"
        );
        // Nothing the writer wrote was lost, and nothing outdated is left.
        let written: Vec<String> = (0..n).step_by(8).map(|i| format!("k{i}")).collect();
        for value in app.profiles().get_many(&written).await.unwrap() {
            assert_eq!(value, Some(Profile::new("W", "W", "WW")));
        }
        let audit = app.audit().await.unwrap();
        assert_eq!(audit.outdated, 0, "{audit}");
        assert_eq!(audit.invalid, (n / 4) as u64, "{audit}");
    }

    /// The manifest lists the older versions' schemas under `previous`, newest first.
    pub async fn evolution_manifest_lists_previous_schemas(_env: Env) {
        let manifest = Evolving::schema();
        let entry = &manifest["profiles:*"];
        assert_eq!(entry["kind"], "item", "{manifest}");
        let previous = entry["previous"].as_array().expect("previous schemas");
        assert_eq!(previous.len(), 2, "{manifest}");
        assert_eq!(previous[0]["title"], "ProfileV2", "{manifest}");
        assert_eq!(previous[1]["title"], "ProfileV1", "{manifest}");
        assert!(
            manifest["teams:*:lead"]["previous"].is_array(),
            "{manifest}"
        );
        assert!(manifest["hits"].get("previous").is_none(), "{manifest}");
    }
    /// A store's `audit()` and the audit driven by its manifest give the same verdict on every
    /// value: one that decodes as the current type but breaks its constraint is invalid in
    /// both, although the older version's schema accepts it; a value of the older shape is
    /// outdated in both; and the manifest-driven audit writes nothing.
    pub async fn evolution_audit_agrees_with_the_manifest(env: Env) {
        let app = Named::open_with_prefix(env.backend.clone(), &env.prefix);
        let too_long: &[u8] = br#"{"first":"A","last":"far too long a name"}"#;
        let old: &[u8] = br#"{"first":"Ada","surname":"Lovelace"}"#;
        env.raw_set("names:ok", br#"{"first":"Ok","last":"Fine"}"#)
            .await;
        env.raw_set("names:long", too_long).await;
        env.raw_set("names:old", old).await;
        env.raw_set("names:junk", b"not json").await;
        env.raw_set_add("names:set", b"\"member\"").await;
        env.raw_set("owner", too_long).await;
        env.raw_set("stray", b"x").await;

        let manifest = named_manifest(&env);
        let typed = app.audit().await.unwrap();
        let by_manifest =
            kvstore::manifest::audit(env.backend.clone(), &manifest, None, &mut |_| {})
                .await
                .unwrap();
        let text = format!("store:\n{typed}\nmanifest:\n{by_manifest}");
        assert_eq!(verdicts(&typed), [6, 1, 1, 3, 1, 1], "{text}");
        assert_eq!(verdicts(&by_manifest), verdicts(&typed), "{text}");
        let patterns = |r: &kvstore::AuditReport| {
            r.patterns
                .iter()
                .map(|p| {
                    let counts = [p.checked, p.valid, p.outdated, p.invalid, p.wrong_type];
                    (p.pattern.clone(), counts)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(patterns(&by_manifest), patterns(&typed), "{text}");
        let problems = |r: &kvstore::AuditReport| {
            let mut list: Vec<(String, kvstore::ProblemKind)> =
                r.problems.iter().map(|p| (p.key.clone(), p.kind)).collect();
            list.sort_by(|a, b| a.0.cmp(&b.0));
            list
        };
        assert_eq!(problems(&by_manifest), problems(&typed), "{text}");

        // Key by key.
        for id in ["ok", "long", "old", "junk", "set"] {
            let key = env.key(&format!("names:{id}"));
            let typed = app.names().at(id).audit().await.unwrap();
            let by_manifest = kvstore::manifest::audit_keys(
                env.backend.clone(),
                &manifest,
                std::slice::from_ref(&key),
            )
            .await
            .unwrap();
            assert_eq!(verdicts(&typed), verdicts(&by_manifest), "{key}: {typed}\n{by_manifest}");
        }
        let owner = app.owner().audit().await.unwrap();
        assert_eq!((owner.checked, owner.invalid), (1, 1), "{owner}");

        // Neither audit wrote anything.
        assert_eq!(env.raw_get("names:long").await.unwrap(), too_long);
        assert_eq!(env.raw_get("names:old").await.unwrap(), old);
        assert_eq!(env.raw_get("owner").await.unwrap(), too_long);
    }
}
