//! kvstore's metrics in Prometheus's text format: the `metrics` feature reports every operation
//! (`kvstore_operations_total`, `kvstore_operation_duration_seconds`), validation failures and
//! migrated values through the `metrics` facade, and any exporter takes them from there — here
//! `metrics-exporter-prometheus`, rendered to stdout (a service would serve it on `/metrics`).
//!
//! Run with `cargo run --example prometheus` (in memory), or against Redis with
//! `KVSTORE_URL=redis://127.0.0.1:6379 cargo run --example prometheus`.

use kvstore::{Dynamic, Item, Store};
use metrics_exporter_prometheus::PrometheusBuilder;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
struct Session {
    user: String,
    #[schemars(range(max = 100))]
    pages: u32,
}

#[derive(Store)]
#[store(prefix = "example:prom")]
struct App {
    sessions: Dynamic<Item<Session>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Install the exporter as the global recorder first: kvstore reports to whatever is installed.
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let url = std::env::var("KVSTORE_URL").unwrap_or_else(|_| "memory://".to_owned());
    let app = App::open(kvstore::connect(&url).await?);
    let session = Session {
        user: "ada".into(),
        pages: 3,
    };
    app.sessions().set("s1", &session).await?;
    assert_eq!(app.sessions().get("s1").await?, Some(session));
    // An invalid value is refused before anything is sent, and counted.
    let too_many = Session {
        user: "ada".into(),
        pages: 1000,
    };
    assert!(app.sessions().set("s2", &too_many).await.is_err());
    app.sessions().remove("s1").await?;

    let text = prometheus.render();
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kvstore_") && !l.contains("_bucket"))
        .collect();
    for line in &ours {
        println!("{line}");
    }
    assert!(
        ours.iter()
            .any(|l| l.starts_with("kvstore_operations_total{") && l.contains("op=\"set\"")),
        "the set was counted:\n{text}"
    );
    assert!(
        ours.iter()
            .any(|l| l.starts_with("kvstore_validation_failures_total{")
                && l.contains("pattern=\"example:prom:sessions:*\"")
                && l.contains("direction=\"write\"")),
        "the refused value was counted:\n{text}"
    );
    assert!(
        ours.iter().all(|l| !l.contains("s1") && !l.contains("ada")),
        "no id or value in a label"
    );
    Ok(())
}
