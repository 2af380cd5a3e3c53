//! A service that reloads its configuration when it changes, with `Item::watch`.
//!
//! The config lives in one `Item<Config>`; its schema (schemars constraints) is checked on every
//! write through the store *and* on every read, so a config that another program wrote the wrong
//! way never reaches the service. The service:
//!
//! - starts with the stored config (or the built-in default when none is stored yet);
//! - applies each valid new config as soon as it is written;
//! - on an invalid one (here written by `redis-cli` on Redis, or raw bytes through
//!   `kvstore::backend::BackendExt` on memory and redb) reports the error, which names the key,
//!   and keeps running on the previous config;
//! - when the key is removed, keeps the last config it applied: deleting the key is not a way to
//!   reset a running service (a restart would start from the default).
//!
//! Run with `cargo run --example config_reload` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example config_reload` (`redis-cli` on the
//! `PATH` plays the other program), a cluster with
//! `KVSTORE_URL=redis+cluster://127.0.0.1:7000 cargo run --example config_reload`, or a file
//! with `KVSTORE_URL=redb://./example.redb cargo run --example config_reload`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use kvstore::{
    backend::{BackendExt, SetOptions},
    DynBackend, Error, Item, Store,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Config {
    /// Shown in logs; never empty.
    #[schemars(length(min = 1, max = 64))]
    name: String,
    #[schemars(range(min = 1, max = 1000))]
    max_connections: u32,
    #[schemars(range(min = 10, max = 60_000))]
    request_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "default".into(),
            max_connections: 10,
            request_timeout_ms: 1_000,
        }
    }
}

#[derive(Store)]
#[store(prefix = "example:config")]
struct Settings {
    service: Item<Config>,
}

/// What the reloader did with one change (a real service would only log it; the example also
/// checks it).
#[derive(Debug)]
enum Reload {
    /// A new valid config, now in use.
    Applied(Config),
    /// The stored config is invalid (the error names the key); the previous one stays in use.
    Rejected(Error),
    /// The config was removed; the last one stays in use.
    Removed,
    /// The backend failed (the watch goes on, and re-reads once it is back).
    Unavailable(Error),
}

/// The running service: its config, replaced whenever a valid new one is stored.
struct Service {
    config: Arc<RwLock<Config>>,
    rejected: Arc<AtomicUsize>,
    reloads: mpsc::UnboundedReceiver<Reload>,
    reloader: JoinHandle<()>,
}

impl Service {
    /// Starts on the stored config (the default when there is none); refuses to start on an
    /// invalid one. Then follows every change in a task of its own.
    async fn start(item: &Item<Config>) -> Result<Service, Error> {
        // Subscribes, then reads: the first item is the config stored now, and every change
        // after it comes next (none can slip in between).
        let mut changes = Box::pin(item.watch());
        let first = match tokio::time::timeout(Duration::from_secs(5), changes.next()).await {
            Ok(Some(first)) => first?,
            Ok(None) => unreachable!("a watch yields the current value first"),
            Err(_) => panic!("no initial config within 5 s"),
        };
        let config = Arc::new(RwLock::new(first.unwrap_or_default()));
        let rejected = Arc::new(AtomicUsize::new(0));
        let (report, reloads) = mpsc::unbounded_channel();

        let (shared, count) = (config.clone(), rejected.clone());
        let reloader = tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                let reload = match change {
                    Ok(Some(new)) => {
                        *shared.write().unwrap() = new.clone();
                        Reload::Applied(new)
                    }
                    Ok(None) => Reload::Removed,
                    Err(e) if e.is_stored_data() => {
                        count.fetch_add(1, Ordering::SeqCst);
                        Reload::Rejected(e)
                    }
                    Err(e) => Reload::Unavailable(e),
                };
                match &reload {
                    Reload::Applied(c) => println!("  [service] applied {c:?}"),
                    Reload::Rejected(e) => println!("  [service] rejected, keeping config: {e}"),
                    Reload::Removed => println!("  [service] config removed, keeping the last one"),
                    Reload::Unavailable(e) => println!("  [service] cannot read the config: {e}"),
                }
                if report.send(reload).is_err() {
                    break;
                }
            }
        });
        Ok(Service {
            config,
            rejected,
            reloads,
            reloader,
        })
    }

    fn config(&self) -> Config {
        self.config.read().unwrap().clone()
    }

    /// The next reload, or a panic after 5 s (a service that missed a change).
    async fn next_reload(&mut self) -> Reload {
        match tokio::time::timeout(Duration::from_secs(5), self.reloads.recv()).await {
            Ok(Some(reload)) => reload,
            Ok(None) => panic!("the reloader stopped"),
            Err(_) => panic!("the service saw no change within 5 s"),
        }
    }

    /// Stops following changes (dropping the watch unsubscribes).
    async fn stop(self) {
        self.reloader.abort();
        let _ = self.reloader.await;
    }
}

/// Another program writing the config without the schema: `redis-cli SET` on Redis (when it is
/// installed), raw bytes through the backend otherwise (memory, redb: nothing else can reach
/// them).
async fn write_from_outside(
    url: &str,
    backend: &DynBackend,
    key: &str,
    json: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(mut cli) = redis_cli(url) {
        cli.args(["SET", key, json]);
        let shown = format!("redis-cli SET {key} ...");
        match tokio::task::spawn_blocking(move || cli.output()).await? {
            Ok(out) if out.status.success() && out.stdout.starts_with(b"OK") => {
                println!("  (written by {shown})");
                return Ok(());
            }
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stdout = String::from_utf8_lossy(&out.stdout);
                return Err(format!("{shown} failed: {stdout}{stderr}").into());
            }
            Err(e) => println!("  (redis-cli not runnable: {e}; writing raw bytes instead)"),
        }
    }
    backend
        .set(key, json.as_bytes(), SetOptions::default())
        .await?;
    println!("  (written raw with BackendExt::set)");
    Ok(())
}

/// `redis-cli` for a plain `redis://` or `redis+cluster://` URL (the first seed node, `-c` to
/// follow redirections); `None` for other backends and TLS (which needs certificate options).
fn redis_cli(url: &str) -> Option<std::process::Command> {
    let (scheme, rest) = url.split_once("://")?;
    let mut cli = std::process::Command::new("redis-cli");
    match scheme.to_ascii_lowercase().as_str() {
        "redis" => {
            cli.arg("-u").arg(url);
        }
        "redis+cluster" => {
            let (auth, hosts) = match rest.rsplit_once('@') {
                Some((auth, hosts)) => (format!("{auth}@"), hosts),
                None => (String::new(), rest),
            };
            let seed = hosts.split(',').next()?.trim_end_matches('/');
            cli.arg("-c").arg("-u").arg(format!("redis://{auth}{seed}"));
        }
        _ => return None,
    }
    Some(cli)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let backend = kvstore::connect(&url).await?;
    let settings = Settings::open(backend.clone());
    let item = settings.service();
    println!("backend: {url}, config at `{}`", item.key());
    item.remove().await?; // start clean, in case an earlier run was interrupted

    // Nothing stored yet: the service starts on the default.
    let mut service = Service::start(&item).await?;
    assert_eq!(service.config(), Config::default());
    println!("started on the default: {:?}", service.config());

    // An operator writes a config through the store (validated before it is written).
    let v1 = Config {
        name: "api".into(),
        max_connections: 100,
        request_timeout_ms: 2_000,
    };
    println!("\noperator writes {v1:?}");
    item.set(&v1).await?;
    assert!(matches!(service.next_reload().await, Reload::Applied(c) if c == v1));
    assert_eq!(service.config(), v1);

    // A valid update: seen as soon as it is written.
    let v2 = Config {
        max_connections: 250,
        ..v1.clone()
    };
    println!("\noperator raises max_connections to 250");
    item.set(&v2).await?;
    assert!(matches!(service.next_reload().await, Reload::Applied(c) if c == v2));
    assert_eq!(service.config(), v2);

    // Through the store, an invalid config cannot even be written...
    let bad = Config {
        name: String::new(),
        max_connections: 5_000,
        ..v2.clone()
    };
    let refused = item.set(&bad).await.unwrap_err();
    assert!(matches!(refused, Error::Validation { stored: false, .. }));
    println!("\nthe store refuses to write {bad:?}:\n  {refused}");

    // ...but another program can put anything at the key. The service reports it and keeps v2.
    let bad_json = r#"{"name":"","max_connections":5000,"request_timeout_ms":2000}"#;
    println!("\nanother program writes {bad_json}");
    write_from_outside(&url, &backend, item.key(), bad_json).await?;
    match service.next_reload().await {
        Reload::Rejected(e) => {
            assert_eq!(e.key(), Some(item.key()), "the error names the key: {e}");
            assert!(matches!(e, Error::Validation { stored: true, .. }), "{e}");
        }
        other => panic!("expected the invalid config to be rejected, got {other:?}"),
    }
    assert_eq!(service.config(), v2, "an invalid config is never applied");

    // The operator fixes it: applied again.
    let v3 = Config {
        max_connections: 500,
        request_timeout_ms: 5_000,
        ..v2.clone()
    };
    println!("\noperator writes a valid config again");
    item.set(&v3).await?;
    assert!(matches!(service.next_reload().await, Reload::Applied(c) if c == v3));
    assert_eq!(service.config(), v3);

    // A removal keeps the last config (our choice: the service does not fall back to the default
    // while running).
    println!("\noperator removes the config");
    assert!(item.remove().await?);
    assert!(matches!(service.next_reload().await, Reload::Removed));
    assert_eq!(service.config(), v3);

    assert_eq!(
        service.rejected.load(Ordering::SeqCst),
        1,
        "one error reported"
    );
    println!(
        "\nrunning on {:?}; {} invalid config rejected",
        service.config(),
        service.rejected.load(Ordering::SeqCst)
    );
    service.stop().await;
    item.remove().await?;
    Ok(())
}
