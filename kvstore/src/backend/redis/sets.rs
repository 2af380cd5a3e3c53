//! Sets on Redis: each [`SetOp`] is its native command (`SADD`, `SREM`, `SISMEMBER`,
//! `SMEMBERS`, `SCARD`); an add that gives a created set a TTL is a script.

use std::borrow::Cow;

use ::redis::aio::ConnectionLike;
use ::redis::cmd;

use super::atomic::NativeWrite;
use super::connection::Core;
use crate::backend::command::{Command, Reply, SetOp};
use crate::error::Result;

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    pub(crate) async fn set(&self, key: &str, op: SetOp<'_>) -> Result<Reply> {
        Ok(match op {
            SetOp::Add { .. } | SetOp::Remove { .. } => {
                let changed: i64 = self.run_native(Command::Set { key, op }).await?;
                Reply::Bool(changed == 1)
            }
            SetOp::Contains { member } => {
                let n: i64 = self
                    .query(Some(key), cmd("SISMEMBER").arg(key).arg(member))
                    .await?;
                Reply::Bool(n == 1)
            }
            SetOp::Members => {
                Reply::Members(self.query(Some(key), cmd("SMEMBERS").arg(key)).await?)
            }
            SetOp::Len => Reply::Len(self.query(Some(key), cmd("SCARD").arg(key)).await?),
        })
    }

    /// A set write as its native command (`SADD`, `SREM`).
    pub(super) fn set_write<'a>(
        &self,
        key: &'a str,
        op: SetOp<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        let (name, member, ttl) = match op {
            SetOp::Add {
                member,
                ttl_if_created,
            } => {
                self.check_value(key, member)?;
                ("SADD", member, ttl_if_created)
            }
            SetOp::Remove { member } => ("SREM", member, None),
            _ => return Ok(None),
        };
        NativeWrite::new(key, name, vec![Cow::Borrowed(member)], ttl).map(Some)
    }
}
