//! The Lua scripts of the Redis backends.
//!
//! Each touches only `KEYS[1]`, so it runs on one node of a cluster. redis-rs sends them with
//! `EVALSHA` and falls back to `EVAL` (loading the script) when the server does not know it yet.
//! Errors of the commands they run are returned as they are (`redis.pcall` + `return r`), so a
//! `WRONGTYPE` reply keeps its code.

use std::sync::LazyLock;

use ::redis::Script;

/// `compare_and_swap`.
///
/// ARGV: `1` if a current value is expected (`0`: the key must be missing), the expected value,
/// `1` if a new value is written (`0`: delete), the new value, the TTL in ms for a created key
/// (empty: none). Returns 1 if swapped, 0 otherwise.
pub(crate) static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' and cur.err then return cur end
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
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
return 1
"#,
    )
});

/// `increment` with a TTL for a created counter.
///
/// ARGV: the delta, the TTL in ms. Returns the new value as a string: Lua numbers are doubles,
/// and would lose precision past 2^53.
pub(crate) static INCREMENT_WITH_TTL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local existed = redis.call('EXISTS', KEYS[1])
local r = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(r) == 'table' and r.err then return r end
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('GET', KEYS[1])
"#,
    )
});

/// `set_add` with a TTL for a created set.
///
/// ARGV: the member, the TTL in ms. Returns 1 if the member was added, 0 otherwise.
pub(crate) static SET_ADD_WITH_TTL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local existed = redis.call('EXISTS', KEYS[1])
local r = redis.pcall('SADD', KEYS[1], ARGV[1])
if type(r) == 'table' and r.err then return r end
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return r
"#,
    )
});
