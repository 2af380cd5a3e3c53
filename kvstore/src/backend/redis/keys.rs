//! The keyspace on Redis: each [`KeyOp`] is `EXISTS`, `PTTL`, `PEXPIRE` (0 deletes) or
//! `PERSIST`; scans are `SCAN cursor MATCH <escaped prefix>* COUNT n` (on every primary of a
//! cluster: see the topologies).

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::{cmd, Cmd, RedisResult};

use super::connection::Core;
use super::errors::map;
use crate::backend::command::{KeyOp, KeyTtl, Reply};
use crate::backend::ttl_ms;
use crate::error::Result;
use crate::layout::scan_pattern;

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    pub(crate) async fn key(&self, key: &str, op: KeyOp) -> Result<Reply> {
        Ok(match op {
            KeyOp::Exists => {
                let n: i64 = self.query(Some(key), cmd("EXISTS").arg(key)).await?;
                Reply::Bool(n > 0)
            }
            KeyOp::Ttl => {
                let ms: i64 = self.query(Some(key), cmd("PTTL").arg(key)).await?;
                Reply::Ttl(match ms {
                    -2 => KeyTtl::Missing,
                    -1 => KeyTtl::Persistent,
                    // A key about to expire can report 0.
                    ms => KeyTtl::Expires(Duration::from_millis(ms.max(0) as u64)),
                })
            }
            KeyOp::Expire { ttl } => {
                // PEXPIRE 0 deletes the key, and says whether it existed.
                let n: i64 = self
                    .query(Some(key), cmd("PEXPIRE").arg(key).arg(ttl_ms(ttl)))
                    .await?;
                Reply::Bool(n == 1)
            }
            KeyOp::Persist => {
                let n: i64 = self.query(Some(key), cmd("PERSIST").arg(key)).await?;
                Reply::Bool(n == 1)
            }
        })
    }

    /// One `SCAN cursor MATCH <escaped prefix>* COUNT count` round trip through `page`: the next
    /// cursor (0 at the end) and the UTF-8 keys (others were not written by this crate).
    pub(crate) async fn scan_once<F, Fut>(
        &self,
        prefix: &str,
        cursor: u64,
        count: usize,
        page: F,
    ) -> Result<(u64, Vec<String>)>
    where
        F: Fn(C, Cmd) -> Fut,
        Fut: Future<Output = RedisResult<(u64, Vec<Vec<u8>>)>>,
    {
        let mut c = cmd("SCAN");
        c.arg(cursor)
            .arg("MATCH")
            .arg(scan_pattern(prefix))
            .arg("COUNT")
            .arg(count.max(1));
        let c = &c;
        let page = &page;
        let (next, keys) = self
            .call_raw(|conn| page(conn, c.clone()))
            .await
            .map_err(|e| map(e, Some(prefix)))?;
        let keys = keys
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .collect();
        Ok((next, keys))
    }

    /// `SCAN 0 MATCH <escaped prefix>* COUNT 1000` to the end, through `page` (one `SCAN` round trip to
    /// one node), adding every UTF-8 key to `out`. Keys that are not UTF-8 were not written by
    /// this crate and are skipped.
    pub(crate) async fn scan_with<F, Fut>(
        &self,
        prefix: &str,
        out: &mut HashSet<String>,
        page: F,
    ) -> Result<()>
    where
        F: Fn(C, Cmd) -> Fut,
        Fut: Future<Output = RedisResult<(u64, Vec<Vec<u8>>)>>,
    {
        let mut cursor = 0u64;
        loop {
            let (next, keys) = self.scan_once(prefix, cursor, 1000, &page).await?;
            out.extend(keys);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
