//! The Redis backends: [`RedisBackend`] (one server) and [`RedisClusterBackend`] (a Redis
//! Cluster), two [`Topology`](mapping::Topology) types over one mapping of the command set
//! (`mapping::execute`).
//!
//! Both keep the [`Command`](crate::backend::Command) semantics with native commands:
//!
//! | operation | Redis |
//! | --- | --- |
//! | `get` / `set` | `GET` / `SET key value [PX ms] [NX]` (TTLs rounded up to whole ms) |
//! | `get_many` | `MGET` (cluster: one per hash slot, in parallel, results in order) |
//! | `set_many` | `MSET`; with a TTL `MULTI` + `SET .. PX` + `EXEC` (cluster: per slot, with a TTL a Lua script of `SET .. PX`; see [`PartialWriteError`]) |
//! | `compare_and_swap` | a Lua script: compare, then `SET KEEPTTL`, `SET PX`, or `DEL` (or return the stored value) |
//! | `increment` | `INCRBY`; with a TTL for a new counter, a Lua script (`EXISTS`, `INCRBY`, `PEXPIRE`) |
//! | `delete` | `UNLINK` (cluster: per slot) |
//! | `exists` / `ttl` / `expire` / `persist` | `EXISTS` / `PTTL` / `PEXPIRE` (0 deletes) / `PERSIST` |
//! | sets | `SADD` (with a TTL for a new set: Lua), `SREM`, `SISMEMBER`, `SMEMBERS`, `SCARD` |
//! | `scan_prefix` | `SCAN 0 MATCH <escaped prefix>* COUNT 1000` to the end (cluster: on every primary), deduplicated |
//! | lists | `LPUSH`/`RPUSH`, `LPOP`/`RPOP`, `LRANGE`, `LTRIM`, `LLEN`, `LMOVE key dest LEFT RIGHT` (cluster: one slot), `BLPOP` on a pooled connection of its own |
//! | sorted sets | `ZADD`, `ZSCORE`, `ZINCRBY`, `ZREM`, `ZRANK`, `ZRANGE [REV] WITHSCORES`, `ZRANGEBYSCORE ... WITHSCORES`, `ZCARD`, `ZRANGE ... BYLEX [REV] [LIMIT]`, `ZLEXCOUNT` |
//! | maps | `HGET`, `HSET`, `HSETNX`, `HDEL`, `HEXISTS`, `HMGET`, `HKEYS`, `HGETALL`, `HLEN`, `HINCRBY` |
//! | streams | `XADD key [MAXLEN ~ n] * v <value>`, `XRANGE`/`XREVRANGE ... COUNT n`, `XLEN`, `XTRIM key MAXLEN = n`, `XREAD [COUNT n] STREAMS key after`; `XREAD ... BLOCK ms` on a pooled connection of its own |
//! | bits, packed integers | `SETBIT`, `GETBIT`, `BITCOUNT`, `BITFIELD_RO ... GET`, `GETRANGE` (sums), `STRLEN`; `BITFIELD ... OVERFLOW FAIL SET/INCRBY` in a script that leaves the string untouched on overflow |
//! | a write that creates a container with a default TTL | a Lua script: the command, then `PEXPIRE` only if it created the key |
//!
//! Errors: `WRONGTYPE` → [`Error::WrongType`]; an `INCRBY` on a non-integer →
//! [`Error::Decode`], an overflow → [`Error::Overflow`]; everything else is
//! [`Error::Backend`] of kind `Auth` (`NOAUTH`, `WRONGPASS`), `Permission` (`NOPERM`),
//! `Unavailable` (`LOADING`, `BUSY`, `CLUSTERDOWN`, `TRYAGAIN`, `READONLY`, `MASTERDOWN`),
//! `Connection` (I/O), `Timeout` (no reply within the response timeout) or `Other`. Every
//! error names the key of the operation (the first key for multi-key operations, the prefix for
//! scans).

mod atomic;
mod bits;
mod blocking;
mod cluster;
mod connection;
mod errors;
mod hashes;
mod keys;
mod lists;
mod mapping;
mod notify;
mod options;
mod scripts;
mod sets;
mod sorted_sets;
mod standalone;
mod streams;
mod strings;

pub use cluster::{RedisClusterBackend, RedisClusterBackendBuilder};
pub use errors::PartialWriteError;
pub use standalone::{RedisBackend, RedisBackendBuilder};

#[cfg(test)]
mod tests {
    use super::connection::write_ttl_ms;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        use std::time::Duration;
        assert!(write_ttl_ms("k", Some(Duration::ZERO)).is_err());
        assert_eq!(
            write_ttl_ms("k", Some(Duration::from_nanos(1))).unwrap(),
            Some(1)
        );
        assert_eq!(
            write_ttl_ms("k", Some(Duration::from_micros(1500))).unwrap(),
            Some(2)
        );
        assert_eq!(
            write_ttl_ms("k", Some(Duration::from_millis(1500))).unwrap(),
            Some(1500)
        );
        assert_eq!(
            write_ttl_ms("k", Some(Duration::MAX)).unwrap(),
            Some(u64::MAX)
        );
        assert_eq!(write_ttl_ms("k", None).unwrap(), None);
    }
}
