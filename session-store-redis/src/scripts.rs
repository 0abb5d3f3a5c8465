//! The Lua scripts that make the store's writes single atomic steps.
//!
//! A session is one string (see [`crate::value`]): a format byte, the
//! version (a variable-length number in format 2, eight bytes in format
//! 1), the created and expiry times, the user ID's length and the ID. Its
//! key's own expiry is the session's, so Redis drops it the moment it
//! stops being live. A compare-and-swap compares the value's first bytes
//! with those the version would have (one comparison), and a format 1
//! value by its version's number, so a record of either format saves like
//! any other.
//!
//! A write that binds a session takes, on a single node, the index key (the
//! index's shape, from which the script finds the user's bucket; see
//! [`crate::index`]) as its last key and the index entry as its last five
//! arguments (member, score, the current time, the user, the salt a new
//! index takes), and writes the entry in the same step ([`UPDATE_MANY`]
//! takes the index key once and fewer arguments per save). On a cluster, where the index sits in another
//! slot, both are left out and the store writes the entry with
//! [`INDEX_USER`] before and after the script. Arguments cost Redis time,
//! so no script gets any it does not use.
//!
//! The scripts run as the functions of one Redis library ([`LIBRARY`]:
//! the helpers defined once when Redis loads it, each script a function
//! of it), called with `FCALL`: a call then runs only its own body. The
//! library's name and its functions' carry a digest of its code, so
//! stores of different releases sharing a Redis call their own. Where
//! Redis refuses functions (an ACL without them, a proxy), a store runs
//! the same scripts with `EVALSHA`, where every call runs the helper
//! definitions first; so the helpers only index writes need are made only
//! when one runs (`lib()`).

/// Helpers every script starts with.
macro_rules! preamble {
    () => {
        r"
local STEP = 3600
-- Library functions as locals, which a script reads without a lookup.
-- A function library cannot read them while Redis loads it, so every call
-- sets them first (`locals()`).
local byte, sub, ceil, floor, tonumber, type
local function locals()
  byte, sub, ceil, floor = string.byte, string.sub, math.ceil, math.floor
  tonumber, type = _G.tonumber, _G.type
end
-- The LEB128 number at position i of v (see value.rs) and the position
-- after it; false past v's end or past ten bytes.
local function varint(v, i)
  local n, scale = 0, 1
  for j = i, i + 9 do
    local b = byte(v, j)
    if not b then return false end
    if b < 128 then return n + b * scale, j + 1 end
    n = n + (b - 128) * scale
    scale = scale * 128
  end
  return false
end
-- Where a stored value's created time starts (1-based); false for a value
-- in neither format.
local function fields(v)
  if type(v) ~= 'string' then return false end
  local f = byte(v, 1)
  if f == 2 then
    local _, p = varint(v, 2)
    if p and #v >= p + 10 then return p end
  elseif f == 1 and #v >= 21 then
    return 10
  end
  return false
end
-- The user ID's length and where the ID starts, in a value whose created
-- time starts at p; false if the length is cut off.
local function user_at(v, p)
  if byte(v, 1) == 1 then
    return byte(v, p + 10) * 256 + byte(v, p + 11), p + 12
  end
  return varint(v, p + 10)
end
-- Whether a stored value is at the version whose first bytes (as
-- value::expected makes them) are e: one comparison; a format 1 value is
-- compared by its version's number (exact below 2^53).
local function at_version(v, e)
  if sub(v, 1, #e) == e then return true end
  if byte(v, 1) ~= 1 or #v < 9 then return false end
  local have = 0
  for i = 2, 9 do have = have * 256 + byte(v, i) end
  return have < 2 ^ 53 and varint(e, 2) == have
end
-- The expiry and the user ID (false when not bound) of a value whose
-- created time starts at p.
local function expiry_at(v, p)
  local a, b, c, d, e = byte(v, p + 5, p + 9)
  return (((a * 256 + b) * 256 + c) * 256 + d) * 256 + e
end
local function user_from(v, p)
  local n, q = user_at(v, p)
  if not n or n == 0 then return false end
  return sub(v, q, q + n - 1)
end
local function expiry(v)
  local p = fields(v)
  if not p then return 0 end
  return expiry_at(v, p)
end
local function user_of(v)
  local p = fields(v)
  if not p then return false end
  return user_from(v, p)
end
-- What only some scripts need, made when one of them runs (a call runs
-- every definition above its body).
local made
local function lib()
  if made then return made end
  local x = {}
  -- The single node's user index (see index.rs): the index key holds the
  -- shape (L, s, n) and the salt k; bucket b of 2^L + s is the key
  -- index .. ':' .. b; an entry is a session's member scored with its
  -- expiry hour * 256 + the last byte of its user's hash.
  local LOAD = 48
  local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  function x.put(k, v, at)
    if tonumber(at) > 0 then
      redis.call('SET', k, v, 'EXAT', at)
    else
      redis.call('DEL', k)
    end
  end
  function x.index_user(k, at)
    redis.call('ZADD', k, 'GT', ARGV[at + 1], ARGV[at])
    redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. ARGV[at + 2])
    if redis.call('EXPIRETIME', k) < tonumber(ARGV[at + 1]) then
      redis.call('EXPIREAT', k, ARGV[at + 1])
    end
  end
  function x.uhash(k, user)
    return tonumber(sub(redis.sha1hex(k .. user), 1, 8), 16)
  end
  function x.shape(meta)
    local m = redis.call('HMGET', meta, 'L', 's', 'n', 'k')
    return tonumber(m[1]) or 0, tonumber(m[2]) or 0, tonumber(m[3]) or 0, m[4] or ''
  end
  function x.bucket(meta, h, L, s)
    local b = floor(h / 256) % 2 ^ L
    if b < s then b = floor(h / 256) % 2 ^ (L + 1) end
    return meta .. ':' .. b
  end
  -- The lowest score of an entry whose hour has not passed.
  function x.live(now)
    return floor(now / STEP) * 256
  end
  -- The hash of the user an entry scored `score` is now for: its
  -- session's user, if the session is bound and that user's hash ends in
  -- the byte the score carries (a rebinding rewrites it); else false.
  function x.holder(k, session, score)
    local u = user_of(session)
    if not u then return false end
    local h = x.uhash(k, u)
    if h % 256 ~= score % 256 then return false end
    return h
  end
  -- The session key a member names (as RedisStore::session_key does).
  function x.session_of(meta, member)
    local part = member
    if #member == 32 then
      local out = {}
      for i = 1, 12, 3 do
        local a, b, c = byte(member, i, i + 2)
        local n = (a * 256 + b) * 256 + c
        for j = 3, 0, -1 do
          local d = floor(n / 64 ^ j) % 64
          out[#out + 1] = sub(B64, d + 1, d + 1)
        end
      end
      part = table.concat(out)
    elseif #member > 32 then
      part = sub(member, 1, #member - 1)
    end
    return sub(meta, 1, #meta - 1) .. '{' .. part .. '}'
  end
  -- Splits bucket s into s and s + 2^L: each entry goes to the bucket
  -- of its holder under the new shape, or (no holder, a holder of another
  -- bucket, or passed) goes.
  function x.split(meta, L, s, n, k, now)
    local from, to = meta .. ':' .. s, meta .. ':' .. (s + 2 ^ L)
    local items = redis.call('ZRANGE', from, 0, -1, 'WITHSCORES')
    redis.call('DEL', from)
    for i = 1, #items, 2 do
      local member, score = items[i], tonumber(items[i + 1])
      local into = false
      if score >= x.live(now) then
        local h = x.holder(k, redis.pcall('GET', x.session_of(meta, member)), score)
        if h then
          local dest = x.bucket(meta, h, L, s + 1)
          if dest == from or dest == to then into = dest end
        end
      end
      if into then redis.call('ZADD', into, score, member) else n = n - 1 end
    end
    s = s + 1
    if s == 2 ^ L then L, s = L + 1, 0 end
    redis.call('HSET', meta, 'L', L, 's', s, 'n', n)
  end
  -- Adds (or raises) an entry; its hour never falls. The first entry of
  -- an index gives it the salt.
  function x.entry(meta, member, score, now, user, salt)
    local L, s, n, k = x.shape(meta)
    if n == 0 and k == '' and salt then
      k = salt
      redis.call('HSET', meta, 'k', k)
    end
    local h = x.uhash(k, user)
    local key = x.bucket(meta, h, L, s)
    local hour = ceil(tonumber(score) / STEP)
    local old = redis.call('ZSCORE', key, member)
    if old then hour = math.max(hour, floor(tonumber(old) / 256)) end
    n = n + redis.call('ZADD', key, hour * 256 + h % 256, member)
    n = n - redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. x.live(now))
    if n > LOAD * (2 ^ L + s) and L < 23 then
      x.split(meta, L, s, n, k, now)
    else
      redis.call('HSET', meta, 'n', n)
    end
  end
  made = x
  return x
end
local function index(meta, at)
  lib().entry(meta, ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 3], ARGV[at + 4])
end
-- Saves value (expiring at expires, Unix seconds) over key if key holds
-- the version whose first bytes are expected. With meta, the save of a
-- session bound to user writes its index entry (member, score: the expiry
-- rounded up to the step) too, when the user changed or the entry's score
-- would grow.
local function update(key, expected, value, expires, meta, member, score, user, now, salt)
  local cur
  if tonumber(expires) > 0 then
    cur = redis.call('SET', key, value, 'GET', 'EXAT', expires)
    if not cur then
      redis.call('DEL', key)
      return -1
    end
    if not at_version(cur, expected) then
      if fields(cur) then
        redis.call('SET', key, cur, 'EXAT', expiry(cur))
      else
        redis.call('SET', key, cur, 'KEEPTTL')
      end
      return 0
    end
  else
    cur = redis.call('GET', key)
    if not cur then return -1 end
    if not at_version(cur, expected) then return 0 end
    redis.call('DEL', key)
  end
  if meta then
    local moved = true
    local p = fields(cur)
    if p then
      moved = user_from(cur, p) ~= user or ceil(expiry_at(cur, p) / STEP) * STEP < tonumber(score)
    end
    if moved then lib().entry(meta, member, score, tonumber(now), user, salt) end
  end
  return 1
end
"
    };
}

/// A script named `$name`, its body after the helpers.
macro_rules! lua {
    ($name:literal, $body:literal) => {
        Source {
            name: $name,
            body: $body,
            eval: concat!(preamble!(), "locals()\n", $body),
        }
    };
}

/// A script: its function's name in the library, its body, and the whole
/// script `EVAL` runs (the helpers, then the body).
pub(crate) struct Source {
    pub(crate) name: &'static str,
    body: &'static str,
    pub(crate) eval: &'static str,
}

/// On a cluster. KEYS: the user's index. ARGV: member, score, the current
/// time. Adds the entry: its score only grows, the index lives at least as
/// long as its highest score, and entries whose score has passed go.
pub(crate) const INDEX_USER: Source = lua!(
    "index_user",
    r"
lib().index_user(KEYS[1], 1)
return 1
"
);

/// On a single node. KEYS: the index. ARGV: member, score, the current
/// time, user, the salt a new index takes. Adds the entry to the user's bucket (see [`crate::index`]).
pub(crate) const INDEX: Source = lua!(
    "index",
    r"
index(KEYS[1], 1)
return 1
"
);

/// On a single node. KEYS: the index. ARGV: user, the current time, the
/// salt a new index takes. Moves
/// the user's sorted set of the layout before the buckets (`<prefix>u:{<user>}`), if
/// any, into the user's bucket, and returns the members of the bucket
/// that may be the user's: their hash's last byte is the user's and their
/// score has not passed.
pub(crate) const LOOKUP: Source = lua!(
    "lookup",
    r"
local x = lib()
local user, now = ARGV[1], tonumber(ARGV[2])
local old = sub(KEYS[1], 1, #KEYS[1] - 1) .. 'u:{' .. user .. '}'
local moved = redis.call('ZRANGE', old, 0, -1, 'WITHSCORES')
for i = 1, #moved, 2 do
  x.entry(KEYS[1], moved[i], moved[i + 1], now, user, ARGV[3])
end
if #moved > 0 then redis.call('DEL', old) end
local L, s, n, k = x.shape(KEYS[1])
local h = x.uhash(k, user)
local items = redis.call('ZRANGE', x.bucket(KEYS[1], h, L, s), 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #items, 2 do
  local score = tonumber(items[i + 1])
  if score % 256 == h % 256 and score >= x.live(now) then
    out[#out + 1] = items[i]
  end
end
return out
"
);

/// KEYS: session[, index]. ARGV: value, expires (Unix seconds)[, index
/// entry].
/// Returns 1 when created, 0 when the key exists.
pub(crate) const CREATE: Source = lua!(
    "create",
    r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EXAT', ARGV[2]) then return 0 end
if KEYS[2] then index(KEYS[2], 3) end
return 1
"
);

/// KEYS: session[, index]. ARGV: the prefix of the version expected (see
/// `value::expected`), value, expires[, index entry]. Returns 1 when updated, 0 on a version
/// conflict, -1 when there is no live session (nothing is created).
///
/// The write and the read of what it replaces are one `SET … GET`; on a
/// conflict (or a missing key) the script puts back what was there, so the
/// common case costs one command. The index is written only when the user
/// changed or the entry's score would grow: an entry's score is at least
/// its session's expiry rounded up to the step (see
/// [`crate::value::index_score`]), so most saves leave it be. (The body is
/// the helper `update`, which [`UPDATE_MANY`] shares.)
pub(crate) const UPDATE: Source = lua!(
    "update",
    r"
return update(KEYS[1], ARGV[1], ARGV[2], ARGV[3], KEYS[2], ARGV[4], ARGV[5], ARGV[7], ARGV[6], ARGV[8])
"
);

/// Several saves in one step, each as [`UPDATE`] would make it, in turn
/// (a second save of a session sees the first). ARGV\[1\]: a byte per
/// save, `i` when it may write an index entry, else `n`; ARGV\[2\] and
/// ARGV\[3\]: the current time and the salt a new index takes (once, for
/// every save that writes an entry); then for each save, [`UPDATE`]'s
/// first three arguments and, for an `i`, the entry's member and user. KEYS: each
/// save's session, in order, then the index when any save is an `i`.
/// Returns each save's answer, in order.
///
/// A save's arguments are few because each costs Redis time (Redis makes
/// a Lua string of each before the function starts): the entry's score is
/// worked out from the save's expiry (as `value::index_score` rounds it).
pub(crate) const UPDATE_MANY: Source = lua!(
    "update_many",
    r"
local flags, now, salt = ARGV[1], ARGV[2], ARGV[3]
local meta = false
if string.find(flags, 'i', 1, true) then meta = KEYS[#KEYS] end
local out, a = {}, 4
for s = 1, #flags do
  if byte(flags, s) == 105 then
    local score = ceil(tonumber(ARGV[a + 2]) / STEP) * STEP
    out[s] = update(KEYS[s], ARGV[a], ARGV[a + 1], ARGV[a + 2], meta, ARGV[a + 3], score, ARGV[a + 4], now, salt)
    a = a + 5
  else
    out[s] = update(KEYS[s], ARGV[a], ARGV[a + 1], ARGV[a + 2])
    a = a + 3
  end
end
return out
"
);

/// KEYS: old session, new session[, index]. ARGV: the prefix of the
/// version expected of the old one, value and expires of the record left
/// under the old key, value and expires of the new record[, index entry]. Returns 1
/// when done, 0 on a version conflict, -1 when the old session is gone,
/// -2 when the new key is taken (nothing changes unless 1).
pub(crate) const ROTATE: Source = lua!(
    "rotate",
    r"
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
if not at_version(cur, ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
local x = lib()
x.put(KEYS[1], ARGV[2], ARGV[3])
x.put(KEYS[2], ARGV[4], ARGV[5])
if KEYS[3] then index(KEYS[3], 6) end
return 1
"
);

/// KEYS: session. ARGV: expires as five big-endian bytes, and as Unix
/// seconds. Returns {} when there is no live session, {old expires} when
/// touched, {old expires, user} when touched and bound to a user (the
/// store then raises the user's index entry if it must).
pub(crate) const TOUCH: Source = lua!(
    "touch",
    r"
local head = redis.call('GETRANGE', KEYS[1], 0, 31)
if head == '' then return {} end
local p = fields(head)
if not p then
  return redis.error_reply('CORRUPT stored session has an unknown format')
end
redis.call('SETRANGE', KEYS[1], p + 4, ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
local n, q = user_at(head, p)
if not n or n == 0 then return {expiry(head)} end
return {expiry(head), redis.call('GETRANGE', KEYS[1], q - 1, q + n - 2)}
"
);

/// On a single node. KEYS: the index, session. ARGV: user, the session's
/// member. Removes the member from the user's bucket unless the entry is
/// its session's now: the session is bound to a user whose bucket this is
/// and whose hash ends in the byte the entry's score carries (a rebinding
/// to another user of the same bucket rewrote that byte, and the entry is
/// then that user's), in one step, so a session bound meanwhile keeps its
/// entry. Returns 1 when it removed the member.
pub(crate) const PRUNE: Source = lua!(
    "prune",
    r"
local x = lib()
local L, s, n, k = x.shape(KEYS[1])
local key = x.bucket(KEYS[1], x.uhash(k, ARGV[1]), L, s)
local score = redis.call('ZSCORE', key, ARGV[2])
if not score then return 0 end
local g = x.holder(k, redis.pcall('GET', KEYS[2]), tonumber(score))
if g and x.bucket(KEYS[1], g, L, s) == key then return 0 end
redis.call('ZREM', key, ARGV[2])
-- A lost index key is not made again here: without its salt, the next
-- index would start unsalted and move its users once it took one.
if n > 0 then redis.call('HSET', KEYS[1], 'n', n - 1) end
return 1
"
);

/// KEYS: session. ARGV: user. Deletes the session if it is bound to the
/// user; returns 1 when it did.
pub(crate) const END_IF_USER: Source = lua!(
    "end_if_user",
    r"
local cur = redis.call('GET', KEYS[1])
if cur and user_of(cur) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"
);

/// KEYS: a session in the old layout (a hash), its key in this one[,
/// index]. ARGV: the version the hash was read at, value, expires[, index
/// entry].
/// Moves the session if the hash is still at that version. Returns 1 when
/// moved, 0 when the hash changed or went, -2 when the new key is taken.
pub(crate) const MOVE_LEGACY: Source = lua!(
    "move_legacy",
    r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EXAT', ARGV[3]) then return -2 end
redis.call('DEL', KEYS[1])
if KEYS[3] then index(KEYS[3], 4) end
return 1
"
);

/// KEYS: a session in the old layout. ARGV: a version. Deletes the hash
/// if it is at that version (a cluster's last step of moving it); returns
/// 1 when it did.
pub(crate) const END_LEGACY: Source = {
    const BODY: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
";
    Source {
        name: "end_legacy",
        body: BODY,
        eval: BODY,
    }
};

/// Every script, each a function of [`LIBRARY`].
const ALL: [&Source; 12] = [
    &INDEX_USER,
    &INDEX,
    &LOOKUP,
    &CREATE,
    &UPDATE,
    &UPDATE_MANY,
    &ROTATE,
    &TOUCH,
    &PRUNE,
    &END_IF_USER,
    &MOVE_LEGACY,
    &END_LEGACY,
];

/// The Redis library that holds every script as a function.
pub(crate) struct Library {
    /// `session_store_` and the first 16 hex digits of the SHA-1 of its
    /// code; each function is named `<name>_<script>`.
    pub(crate) name: String,
    /// What `FUNCTION LOAD` takes.
    pub(crate) code: String,
}

/// The library of this release's scripts: the helpers once, at the
/// library's top (with `KEYS` and `ARGV` as its locals, which each function
/// sets from its arguments before its body runs, so the helpers read them
/// as the scripts do), then a function per script.
pub(crate) static LIBRARY: std::sync::LazyLock<Library> = std::sync::LazyLock::new(|| {
    let mut code = String::from("local KEYS, ARGV\n");
    code.push_str(preamble!());
    for script in ALL {
        code.push_str(&format!(
            "redis.register_function('{{library}}_{}', function(keys, args)\nKEYS, ARGV = keys, args\nif not byte then locals() end\n{}\nend)\n",
            script.name, script.body
        ));
    }
    let digest = redis::Script::new(&code).get_hash().to_owned();
    let name = format!("session_store_{}", &digest[..16]);
    Library {
        code: format!("#!lua name={name}\n{}", code.replace("{library}", &name)),
        name,
    }
});

/// A script as a store runs it: as its library function while Redis
/// takes functions, else by `EVALSHA` (and `EVAL` when Redis does not know
/// it yet).
pub(crate) struct Lua {
    pub(crate) script: redis::Script,
    pub(crate) source: &'static str,
    /// Its function's name in [`LIBRARY`].
    pub(crate) function: String,
    /// Whether the store still calls functions (shared by its scripts).
    pub(crate) functions: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Lua {
    pub(crate) fn new(
        source: &Source,
        functions: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        Lua {
            script: redis::Script::new(source.eval),
            source: source.eval,
            function: format!("{}_{}", LIBRARY.name, source.name),
            functions: std::sync::Arc::clone(functions),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scripts_round_index_scores_as_the_store_does() {
        let step = format!("local STEP = {}\n", crate::value::INDEX_STEP);
        for script in [
            super::INDEX,
            super::INDEX_USER,
            super::LOOKUP,
            super::CREATE,
            super::UPDATE,
            super::UPDATE_MANY,
            super::ROTATE,
        ] {
            assert!(script.eval.contains(&step));
        }
        assert!(super::LIBRARY.code.contains(&step));
    }
}
