/**
 * The Lua scripts of the Redis engine: each runs atomically inside Redis, so no two copies can both see
 * room for the last permit. Time is Redis's own (`TIME`), never a client's: leases expire by the clock
 * every copy shares. (Redis 5+ replicates a script's effects, not the script, so `TIME` before a write
 * is allowed; Redis 7 does it always.)
 *
 * Keys of a limit key K: `K:held`, a sorted set of leases (member: the fencing token, score: when the
 * lease expires, ms on Redis's clock); `K:token`, the fencing counter (never expires: tokens must
 * keep increasing). Wake-ups are published on `K:freed`.
 */

/**
 * KEYS: held, token. ARGV: limit, ttl ms, wanted, channel, then tokens to give back first (a release and
 * the next acquire in one round trip). Drops expired leases, takes up to `wanted` permits while fewer
 * than `limit` are held, and returns { ms until the earliest lease expires (-1: none held), tokens… }.
 * Publishes on `channel` when it freed permits (given back or expired) that it did not take itself.
 */
export const acquireScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local freed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 5, #ARGV do freed = freed + redis.call('ZREM', KEYS[1], ARGV[i]) end
local held = redis.call('ZCARD', KEYS[1])
local room = tonumber(ARGV[1]) - held
local take = math.min(tonumber(ARGV[3]), room)
local result = { -1 }
for i = 1, take do
  local token = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], now + ttl, token)
  result[i + 1] = token
end
if take > 0 then redis.call('PEXPIRE', KEYS[1], ttl * 2) end
if room - math.max(take, 0) > 0 and freed > 0 then redis.call('PUBLISH', ARGV[4], 'freed') end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then result[1] = math.max(0, tonumber(first[2]) - now) end
return result
`

/** KEYS: held. ARGV: channel, tokens. Gives the leases back and wakes the waiters of every copy. */
export const releaseScript = `
local freed = 0
for i = 2, #ARGV do freed = freed + redis.call('ZREM', KEYS[1], ARGV[i]) end
if freed > 0 then redis.call('PUBLISH', ARGV[1], 'freed') end
return freed
`

/**
 * KEYS: held. ARGV: ttl ms, tokens. Moves each lease still held to expire `ttl` from now; returns the
 * tokens whose lease was already gone (expired while this copy could not refresh it).
 */
export const refreshScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return lost
`
