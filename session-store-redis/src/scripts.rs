//! The Lua scripts that make `create`, `update`, `touch` and "end this
//! user's session" single atomic round trips. Each of those touches
//! exactly one key (the session's hash), so they run unchanged on Redis
//! Cluster. `ROTATE` and `PRUNE` touch two keys (in different hash slots),
//! so they run on a single node only; on a cluster the store does their
//! work in steps.
//!
//! A session is a hash: `d` data, `v` version, `c` created and `e` expires
//! (Unix seconds), `u` user (absent when unbound); the key's own expiry is
//! set to `e`, so Redis drops it at the same instant it stops being live.

/// KEYS: session. ARGV: data, version, created, expires, has_user (0/1), user.
/// Returns 1 when created, 0 when the key exists.
pub(crate) const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ARGV[2], 'c', ARGV[3], 'e', ARGV[4])
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'u', ARGV[6]) end
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return 1
";

/// KEYS: session. ARGV: expected version, data, version, created, expires,
/// has_user (0/1), user. Returns 1 when updated, 0 on a version conflict,
/// -1 when there is no live session (nothing is created).
pub(crate) const UPDATE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', ARGV[3], 'c', ARGV[4], 'e', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'u', ARGV[7]) else redis.call('HDEL', KEYS[1], 'u') end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
return 1
";

/// KEYS: old session, new session. ARGV: expected version of the old
/// one, then the record to leave under the old key and the new record,
/// each as for `CREATE` (six values). Returns 1 when done, 0 on a version
/// conflict, -1 when the old session is gone, -2 when the new key is
/// taken (nothing changes unless 1).
pub(crate) const ROTATE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', ARGV[3], 'c', ARGV[4], 'e', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'u', ARGV[7]) else redis.call('HDEL', KEYS[1], 'u') end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], 'd', ARGV[8], 'v', ARGV[9], 'c', ARGV[10], 'e', ARGV[11])
if ARGV[12] == '1' then redis.call('HSET', KEYS[2], 'u', ARGV[13]) end
redis.call('EXPIREAT', KEYS[2], ARGV[11])
return 1
";

/// KEYS: user's set, session. ARGV: user, the set's member for the
/// session. Removes the member unless the session is bound to the user,
/// in one step, so a session created meanwhile keeps its entry. Returns 1
/// when it removed the member.
pub(crate) const PRUNE: &str = r"
if redis.call('HGET', KEYS[2], 'u') == ARGV[1] then return 0 end
return redis.call('SREM', KEYS[1], ARGV[2])
";

/// KEYS: session. ARGV: expires. Returns {} when there is no live session,
/// {1} when touched, {1, user} when touched and bound to a user.
pub(crate) const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('HSET', KEYS[1], 'e', ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[1])
local u = redis.call('HGET', KEYS[1], 'u')
if u then return {1, u} end
return {1}
";

/// KEYS: session. ARGV: user. Deletes the session if it is bound to the
/// user; returns 1 when it did.
pub(crate) const END_IF_USER: &str = r"
if redis.call('HGET', KEYS[1], 'u') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// A script with its source, for the `EVAL` fallback.
pub(crate) struct Lua {
    pub(crate) script: redis::Script,
    pub(crate) source: &'static str,
}

impl Lua {
    pub(crate) fn new(source: &'static str) -> Self {
        Lua {
            script: redis::Script::new(source),
            source,
        }
    }
}
