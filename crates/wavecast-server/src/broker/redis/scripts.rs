//! The Lua scripts the redis broker runs. Each runs atomically in Redis,
//! so offsets are assigned once and in order whatever node publishes.
//!
//! Keys (`{p}` is `redis_prefix`): `{p}:meta:{ch}` (hash: epoch, last),
//! `{p}:stream:{ch}` (entries `{offset}-1` with fields e, d, t),
//! `{p}:ch:{ch}` (the pub/sub channel), `{p}:gen` (the generation, which
//! grows when Redis may have lost data), `{p}:idem:{ch}:{key}`.
//!
//! A [`Script`] carries its SHA-1 so that callers send `EVALSHA` (a
//! 40-byte name instead of the body, which Redis would also hash on every
//! `EVAL`), falling back to `EVAL` when Redis answers `NOSCRIPT`.

use std::sync::OnceLock;

/// A Lua script and, computed once, the SHA-1 Redis names it by.
pub struct Script {
    pub body: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    const fn new(body: &'static str) -> Script {
        Script {
            body,
            sha: OnceLock::new(),
        }
    }

    /// The lowercase hex SHA-1 of the body (what `SCRIPT LOAD` returns).
    pub fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| sha1_smol::Sha1::from(self.body).digest().to_string())
    }
}

/// The scripts the command pipelines load when they connect.
pub static ALL: [&Script; 3] = [&PUBLISH, &PUBLISH_LIVE, &TOP];

/// Publishes with history. KEYS: meta, stream, idem (or "").
/// ARGV: pubsub channel, event, data, ts, size, ttl_ms, new epoch,
/// idem_ttl_ms. Returns {offset, nodes} or {-1, "offset nodes"} for a
/// repeated idempotency key.
pub static PUBLISH: Script = Script::new(
    r#"
if KEYS[3] ~= '' then
  local prev = redis.call('GET', KEYS[3])
  if prev then return {-1, prev} end
end
if not redis.call('HGET', KEYS[1], 'epoch') then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[7])
end
local off = redis.call('HINCRBY', KEYS[1], 'last', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], off .. '-1', 'e', ARGV[2], 'd', ARGV[3], 't', ARGV[4])
if tonumber(ARGV[6]) > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
local n = redis.call('PUBLISH', ARGV[1], off .. ' ' .. ARGV[4] .. ' ' .. ARGV[2] .. '\n' .. ARGV[3])
if KEYS[3] ~= '' then
  redis.call('SET', KEYS[3], off .. ' ' .. n, 'PX', ARGV[8])
end
return {off, n}
"#,
);

/// Publishes without history. KEYS: idem (or ""). ARGV: pubsub channel,
/// event, data, ts, idem_ttl_ms. Returns {0, nodes} or {-1, "0 nodes"}.
pub static PUBLISH_LIVE: Script = Script::new(
    r#"
if KEYS[1] ~= '' then
  local prev = redis.call('GET', KEYS[1])
  if prev then return {-1, prev} end
end
local n = redis.call('PUBLISH', ARGV[1], '0 ' .. ARGV[4] .. ' ' .. ARGV[2] .. '\n' .. ARGV[3])
if KEYS[1] ~= '' then
  redis.call('SET', KEYS[1], '0 ' .. n, 'PX', ARGV[5])
end
return {0, n}
"#,
);

/// The top of a log. KEYS: meta, stream, gen. ARGV: new epoch.
/// Returns {epoch, last, earliest id or '', generation}.
pub static TOP: Script = Script::new(
    r#"
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local last = redis.call('HGET', KEYS[1], 'last')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local earliest = ''
if #first > 0 then earliest = first[1][1] end
return {epoch, last or '0', earliest, redis.call('GET', KEYS[3]) or '0'}
"#,
);

/// Bumps the generation once per Redis run when that run may have lost
/// data. KEYS: gen, gen_run. ARGV: run id, '1' when the persistence is
/// safe (AOF with fsync always). Returns the generation.
pub static CHECK_GENERATION: Script = Script::new(
    r#"
local seen = redis.call('GET', KEYS[2])
if seen ~= ARGV[1] then
  if seen and ARGV[2] ~= '1' then
    redis.call('INCR', KEYS[1])
  end
  redis.call('SET', KEYS[2], ARGV[1])
end
return redis.call('GET', KEYS[1]) or '0'
"#,
);

#[cfg(test)]
mod tests {
    #[test]
    fn sha_is_what_redis_names_the_script_by() {
        // `redis-cli SCRIPT LOAD "return 1"` answers this SHA-1.
        let s = super::Script::new("return 1");
        assert_eq!(s.sha(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert_eq!(super::PUBLISH.sha().len(), 40);
    }
}
