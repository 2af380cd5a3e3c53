//! The Lua scripts of the Redis backends.
//!
//! Each touches only its `KEYS`, all of one hash slot, so it runs on one node of a cluster and is
//! routed (and redirected) like any single-slot command. They are sent with `EVALSHA`; a server
//! that does not know the script yet (`NOSCRIPT`: first use, restart, failover) gets `EVAL` with
//! the source, on the same node, which caches it there. Errors of the commands they run are
//! returned as they are (`redis.pcall` + `return r`), so a `WRONGTYPE` reply keeps its code.

use std::sync::LazyLock;

use ::redis::{cmd, Cmd, Script};

/// A Lua script: its source and SHA1.
pub(crate) struct Lua {
    source: &'static str,
    sha: String,
}

impl Lua {
    fn new(source: &'static str) -> Lua {
        Lua {
            source,
            sha: Script::new(source).get_hash().to_owned(),
        }
    }

    /// The `EVALSHA` and the `EVAL` command of one invocation; `args` adds the arguments.
    pub(crate) fn commands(&self, keys: &[&str], args: impl Fn(&mut Cmd)) -> (Cmd, Cmd) {
        let build = |name: &str, script: &str| {
            let mut c = cmd(name);
            c.arg(script).arg(keys.len()).arg(keys);
            args(&mut c);
            c
        };
        (build("EVALSHA", &self.sha), build("EVAL", self.source))
    }
}

/// `compare_and_swap` and `compare_and_swap_or_get`.
///
/// ARGV: `1` if a current value is expected (`0`: the key must be missing), the expected value,
/// `1` if a new value is written (`0`: delete), the new value, the TTL in ms for a created key
/// (empty: none), `1` to return the stored value on a mismatch. Returns `{1}` if swapped,
/// `{0}` or `{0, stored}` (`stored` nil when the key is missing) otherwise.
pub(crate) static COMPARE_AND_SWAP: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' and cur.err then return cur end
local matches
if ARGV[1] == '1' then matches = (cur == ARGV[2]) else matches = (not cur) end
if not matches then
  if ARGV[6] == '1' then return {0, cur} end
  return {0}
end
if ARGV[3] == '1' then
  if cur then
    redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
  elseif ARGV[5] ~= '' then
    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
  else
    redis.call('SET', KEYS[1], ARGV[4])
  end
elseif cur then
  redis.call('DEL', KEYS[1])
end
return {1}
"#,
    )
});

/// `increment` with a TTL for a created counter.
///
/// ARGV: the delta, the TTL in ms. Returns the new value as a string: Lua numbers are doubles,
/// and would lose precision past 2^53.
pub(crate) static INCREMENT_WITH_TTL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local existed = redis.call('EXISTS', KEYS[1])
local r = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(r) == 'table' and r.err then return r end
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('GET', KEYS[1])
"#,
    )
});

/// `set_many` with a TTL on a cluster, for the keys of one slot: one command, so that slot moves
/// and failovers are followed like for any command (a `MULTI`/`EXEC` sent to a stale node
/// aborts with `MOVED` inside the transaction, which the cluster client does not redirect).
///
/// KEYS: the keys. ARGV: the TTL in ms, then one value per key.
pub(crate) static SET_MANY_WITH_TTL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
end
return 1
"#,
    )
});

/// An atomic step across keys (all of one slot): checks, then writes, undone if one fails.
///
/// ARGV: the number of checks, then per check the index of its key in `KEYS`, `1` if a value is
/// expected (`0`: the key must be missing) and the expected value; then the number of writes,
/// then per write an op and its arguments:
/// `D n idx...` (`DEL`) or `C idx px overflow name n arg...` (any single-key write: `name key
/// arg...`, `px` for a created key; `overflow` `F` when a nil first reply is an overflow, as
/// `BITFIELD OVERFLOW FAIL` answers).
/// Returns 0 when a check fails (nothing written), 1 when every write was applied; a write that
/// fails restores every key of the step (`DUMP`/`RESTORE` snapshots taken after the checks)
/// and returns its error, with ` [key <key>]` appended.
pub(crate) static ATOMIC: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local i = 1
local function arg() local v = ARGV[i]; i = i + 1; return v end
local checks = tonumber(arg())
for _ = 1, checks do
  local k = KEYS[tonumber(arg())]
  local present = arg()
  local expected = arg()
  local cur = redis.pcall('GET', k)
  if type(cur) == 'table' and cur.err then
    return redis.error_reply(cur.err .. ' [key ' .. k .. ']')
  end
  if present == '1' then
    if cur ~= expected then return 0 end
  elseif cur then
    return 0
  end
end
local snap = {}
for n = 1, #KEYS do
  snap[n] = {redis.call('DUMP', KEYS[n]), redis.call('PTTL', KEYS[n])}
end
local function undo()
  for n = 1, #KEYS do
    local dump, ttl = snap[n][1], snap[n][2]
    if dump then
      if ttl < 0 then ttl = 0 end
      redis.call('RESTORE', KEYS[n], ttl, dump, 'REPLACE')
    else
      redis.call('DEL', KEYS[n])
    end
  end
end
local function created(k, px, existed)
  if existed == 0 and px ~= '' then redis.call('PEXPIRE', k, px) end
end
local writes = tonumber(arg())
for _ = 1, writes do
  local op = arg()
  local k, r
  if op == 'D' then
    local n = tonumber(arg())
    local cmd = {'DEL'}
    for _ = 1, n do
      k = KEYS[tonumber(arg())]
      table.insert(cmd, k)
    end
    r = redis.pcall(unpack(cmd))
  elseif op == 'C' then
    k = KEYS[tonumber(arg())]
    local px, nil_overflows, name, n = arg(), arg(), arg(), tonumber(arg())
    local cmd = {name, k}
    for _ = 1, n do table.insert(cmd, arg()) end
    local existed = redis.call('EXISTS', k)
    r = redis.pcall(unpack(cmd))
    if not (type(r) == 'table' and r.err) then
      if nil_overflows == 'F' and not r[1] then
        r = redis.error_reply('ERR increment or decrement would overflow')
      else
        created(k, px, existed)
      end
    end
  else
    undo()
    return redis.error_reply('ERR unknown atomic op ' .. tostring(op))
  end
  if type(r) == 'table' and r.err then
    undo()
    return redis.error_reply(r.err .. ' [key ' .. k .. ']')
  end
end
return 1
"#,
    )
});

/// A command that may create a key, with a TTL for the key when it creates it (lists, sorted
/// sets, hashes and bit strings get their default TTL this way).
///
/// KEYS: the command's keys. ARGV: the TTL in ms, the index (in `KEYS`) of the key that gets
/// it, the command, then its arguments after the keys. Returns the command's reply.
pub(crate) static CREATE_WITH_TTL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local target = KEYS[tonumber(ARGV[2])]
local existed = redis.call('EXISTS', target)
local args = {}
for n = 1, #KEYS do args[#args + 1] = KEYS[n] end
for n = 4, #ARGV do args[#args + 1] = ARGV[n] end
local r = redis.pcall(ARGV[3], unpack(args))
if type(r) == 'table' and r.err then return r end
if existed == 0 and redis.call('EXISTS', target) == 1 then
  redis.call('PEXPIRE', target, ARGV[1])
end
return r
"#,
    )
});

/// `HINCRBY` with a TTL for a created hash.
///
/// ARGV: the field, the delta, the TTL in ms. Returns the new value as a string (Lua numbers
/// are doubles).
pub(crate) static MAP_INCREMENT_WITH_TTL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local existed = redis.call('EXISTS', KEYS[1])
local r = redis.pcall('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if type(r) == 'table' and r.err then return r end
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return redis.call('HGET', KEYS[1], ARGV[1])
"#,
    )
});

/// A `BITFIELD` write of one slot (`SET` or `INCRBY`) with `OVERFLOW FAIL` that changes nothing
/// on overflow (plain `BITFIELD` would still have grown the string), with a TTL for a created
/// string.
///
/// ARGV: the TTL in ms (empty: none), `SET` or `INCRBY`, the type (`i64`, ...), `#index`, the
/// value, the slot's byte offset, its width in bytes. Returns `{0}` on overflow, else `{1, old
/// bytes, new bytes}` of the slot (bytes, not numbers: Lua numbers are doubles).
pub(crate) static FIELD_WRITE: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local len = redis.pcall('STRLEN', KEYS[1])
if type(len) == 'table' and len.err then return len end
local existed = redis.call('EXISTS', KEYS[1])
local from = tonumber(ARGV[6])
local to = from + tonumber(ARGV[7]) - 1
local old = redis.call('GETRANGE', KEYS[1], from, to)
local r = redis.pcall('BITFIELD', KEYS[1], 'OVERFLOW', 'FAIL', ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if type(r) == 'table' and r.err then return r end
if not r[1] then
  if existed == 0 then
    redis.call('DEL', KEYS[1])
  elseif redis.call('STRLEN', KEYS[1]) > len then
    local keep = ''
    if len > 0 then keep = redis.call('GETRANGE', KEYS[1], 0, len - 1) end
    redis.call('SET', KEYS[1], keep, 'KEEPTTL')
  end
  return {0}
end
if existed == 0 and ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {1, old, redis.call('GETRANGE', KEYS[1], from, to)}
"#,
    )
});

/// `HSET` of many fields with a TTL for a created hash, one field at a time inside the script
/// (so that any number of fields fits: Lua's `unpack` is limited to a few thousand values).
///
/// ARGV: the TTL in ms, then field, value, field, value, ...
pub(crate) static MAP_SET_MANY_WITH_TTL: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        r#"
local existed = redis.call('EXISTS', KEYS[1])
if existed == 1 then
  local t = redis.pcall('TYPE', KEYS[1])
  if t.ok ~= 'hash' then return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value') end
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"#,
    )
});
