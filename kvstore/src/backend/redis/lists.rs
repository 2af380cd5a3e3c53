//! Lists on Redis: each [`ListOp`] is its native command (`LPUSH`, `LPOP`, `LMOVE`, `LRANGE`,
//! ...); the blocking pop runs on a connection of its own (see `blocking`).

use std::borrow::Cow;

use ::redis::aio::ConnectionLike;
use ::redis::cmd;

use super::atomic::NativeWrite;
use super::connection::{write_ttl_ms, Core};
use crate::backend::command::{Command, End, ListOp, Reply};
use crate::error::{Error, Result};

impl<C> Core<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A list write that an atomic step may hold, as its native command.
    pub(super) fn list_write<'a>(
        &self,
        key: &'a str,
        op: ListOp<'a>,
    ) -> Result<Option<NativeWrite<'a>>> {
        let ListOp::Push {
            end,
            value,
            ttl_if_created,
        } = op
        else {
            return Ok(None);
        };
        self.check_value(key, value)?;
        let name = match end {
            End::Front => "LPUSH",
            End::Back => "RPUSH",
        };
        NativeWrite::new(key, name, vec![Cow::Borrowed(value)], ttl_if_created).map(Some)
    }

    /// [`ListOp`]s, but the blocking pop (which needs a connection of its own).
    pub(crate) async fn list(&self, key: &str, op: ListOp<'_>) -> Result<Reply> {
        Ok(match op {
            ListOp::Push { .. } => Reply::Len(self.run_native(Command::List { key, op }).await?),
            ListOp::Pop { end, count } => {
                let name = match end {
                    End::Front => "LPOP",
                    End::Back => "RPOP",
                };
                match count {
                    None => Reply::Value(self.query(Some(key), cmd(name).arg(key)).await?),
                    // `LPOP key 0` answers an empty array, as the engine does.
                    Some(n) => {
                        let popped: Option<Vec<Vec<u8>>> =
                            self.query(Some(key), cmd(name).arg(key).arg(n)).await?;
                        Reply::Members(popped.unwrap_or_default())
                    }
                }
            }
            ListOp::MoveFrontToBack {
                dest,
                ttl_if_created,
            } => {
                let ttl = write_ttl_ms(dest, ttl_if_created)?;
                let moved = self
                    .creating(key, &[key, dest], 1, ttl, "LMOVE", |c| {
                        c.arg("LEFT").arg("RIGHT");
                    })
                    .await;
                match moved {
                    // Redis does not say which list is of another kind: name the one that is.
                    Err(Error::WrongType { .. }) => {
                        let kind: String = self.query(Some(key), cmd("TYPE").arg(key)).await?;
                        let wrong = if matches!(kind.as_str(), "list" | "none") {
                            dest
                        } else {
                            key
                        };
                        return Err(Error::WrongType {
                            key: wrong.to_owned(),
                        });
                    }
                    other => Reply::Value(other?),
                }
            }
            ListOp::Range { start, stop } => Reply::Members(
                self.query(Some(key), cmd("LRANGE").arg(key).arg(start).arg(stop))
                    .await?,
            ),
            ListOp::Trim { start, stop } => {
                self.query::<()>(Some(key), cmd("LTRIM").arg(key).arg(start).arg(stop))
                    .await?;
                Reply::Unit
            }
            ListOp::Len => Reply::Len(self.query(Some(key), cmd("LLEN").arg(key)).await?),
            // Routed to a dedicated connection by `mapping::execute`.
            ListOp::PopFrontBlocking { .. } => {
                return Err(crate::backend::Command::List { key, op }.unsupported("redis"))
            }
        })
    }
}
