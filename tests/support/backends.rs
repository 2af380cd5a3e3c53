//! The one list of backends that cross-backend tests (model, hostile input, concurrency) run on,
//! and how to start each: a fresh memory backend, or a real server or cluster started for the
//! test and killed when the returned [`Running`] is dropped.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use kvstore::{backend::Limits, DynBackend, MemoryBackend, RedisBackend, RedisClusterBackend};

/// A kind of backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `MemoryBackend`.
    Memory,
    /// `RedisBackend` over one `redis-server`.
    Redis,
    /// `RedisClusterBackend` over a 3-primary cluster.
    Cluster,
}

impl Kind {
    /// Every backend, in the order tests run them.
    pub const ALL: [Kind; 3] = [Kind::Memory, Kind::Redis, Kind::Cluster];
}

/// How to connect.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The largest value accepted.
    pub max_value_size: usize,
    /// The Redis response timeout (generous: CI machines are slow).
    pub response_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_value_size: Limits::DEFAULT_MAX_VALUE_SIZE,
            response_timeout: Duration::from_secs(10),
        }
    }
}

/// A started backend, and what must live as long as it (its server).
pub struct Running {
    /// The backend.
    pub backend: DynBackend,
    _server: Option<Box<dyn Any + Send + Sync>>,
}

/// Starts a backend of `kind`.
pub async fn start(kind: Kind, options: Options) -> Running {
    match kind {
        Kind::Memory => Running {
            backend: Arc::new(MemoryBackend::with_options(
                kvstore::SystemClock,
                Limits {
                    max_value_size: options.max_value_size,
                    ..Limits::default()
                },
            )),
            _server: None,
        },
        Kind::Redis => {
            let server = super::RedisServer::start();
            let backend = RedisBackend::builder(&server.url())
                .max_value_size(options.max_value_size)
                .response_timeout(options.response_timeout)
                .build()
                .await
                .expect("connect to redis");
            Running {
                backend: Arc::new(backend),
                _server: Some(Box::new(server)),
            }
        }
        Kind::Cluster => {
            let cluster = super::RedisCluster::start(3, 0);
            let backend = RedisClusterBackend::builder(cluster.urls())
                .max_value_size(options.max_value_size)
                .response_timeout(options.response_timeout)
                .build()
                .await
                .expect("connect to the cluster");
            Running {
                backend: Arc::new(backend),
                _server: Some(Box::new(cluster)),
            }
        }
    }
}
