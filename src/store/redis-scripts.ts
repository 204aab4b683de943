/**
 * The Lua scripts of the Redis engine: each runs atomically inside Redis, so no two copies can both see
 * room for the last permit. Time is Redis's own (`TIME`), never a client's: leases expire by the clock
 * every copy shares. (Redis 5+ replicates a script's effects, not the script, so `TIME` before a write
 * is allowed; Redis 7 does it always.)
 *
 * Keys of a limit key K: `K:held`, a sorted set of leases (member: the fencing token, score: when the
 * lease expires, ms on Redis's clock); `K:token`, the fencing counter (never expires: tokens must
 * keep increasing); `K:waiting`, the copies with waiters (member: a copy's id, score: when the entry
expires). Wake-ups are published on `K:freed`.
 */

/**
 * KEYS: held, token, waiting. ARGV: limit, ttl ms, wanted, channel, copy id, needed, then tokens to give
 * back first. Drops expired leases, takes up to `wanted` permits while fewer than `limit` are held, and
 * returns { ms until the earliest lease expires (-1: none held), tokens… }.
 *
 * Giving back and taking in one round trip is how a copy hands a permit from a finished request to its
 * next waiter; it does so only while no other copy waits (`waiting`: copies with waiters, each entry
 * expiring after `ttl` unless renewed by its next attempt). When another copy waits, what is given back
 * is published for everyone, and this copy's waiters race for it like the others': one busy process
 * cannot keep a limit to itself. A copy still short of `needed` permits after this call is put in
 * `waiting`; one that got them is taken out. Publishes on `channel` when permits freed (given back or
 * expired) are left over.
 */
export const acquireScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local copy = ARGV[5]
local freed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local givenBack = 0
for i = 7, #ARGV do givenBack = givenBack + redis.call('ZREM', KEYS[1], ARGV[i]) end
freed = freed + givenBack
local others = redis.call('ZCARD', KEYS[3])
if redis.call('ZSCORE', KEYS[3], copy) then others = others - 1 end
local room = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local take = math.min(tonumber(ARGV[3]), room)
if givenBack > 0 and others > 0 then take = math.min(take, room - givenBack) end
local result = { -1 }
for i = 1, take do
  local token = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], now + ttl, token)
  result[i + 1] = token
end
if take > 0 then redis.call('PEXPIRE', KEYS[1], ttl * 2) end
if math.max(take, 0) < tonumber(ARGV[6]) then
  redis.call('ZADD', KEYS[3], now + ttl, copy)
  redis.call('PEXPIRE', KEYS[3], ttl * 2)
else
  redis.call('ZREM', KEYS[3], copy)
end
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
