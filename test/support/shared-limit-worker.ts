/**
 * One process of the shared-limit demonstrations (test/node/store-redis.test.ts, bench/shared-limits.ts):
 * a pooled client over `redisStore()`, making `CALLS` concurrent GETs to `URL` under a shared limit.
 * Prints `ready` once its store is subscribed, then (after a `go` line on stdin, so that every process
 * starts together) one JSON line: { done, failed, ms, errors } — or, with HOLD=1, nothing: it sends
 * its calls to a URL whose responses the server holds, and waits to be killed.
 *
 * Env: REDIS_PORT, URL, CALLS (50), LIMIT (8), TTL (10000), REFRESH (ttl/3), BATCH (1), PREFIX.
 */
import { Redis } from 'ioredis'
import { createClient } from '../../src/index.ts'
import { redisStore } from '../../src/redis.ts'
import { sharedLimit } from '../../src/shared-limit.ts'

const env = (name: string, fallback?: string) => process.env[name] ?? fallback ?? ''
const ttl = Number(env('TTL', '10000'))
const redis = new Redis(Number(env('REDIS_PORT')), '127.0.0.1')
const store = redisStore(redis, {
  ttl,
  refreshEvery: Number(env('REFRESH', String(Math.floor(ttl / 3)))),
  batch: Number(env('BATCH', '1')),
})
const limit = Number(env('LIMIT', '8'))
const prefix = env('PREFIX', 'ky-pool:')
const client = createClient({
  retry: 0,
  timeout: false,
  pool: {
    perOrigin: 1000,
    queueTimeout: Infinity,
    leaks: 'silent',
    shared: sharedLimit({ store, limit, prefix, unreachable: 'closed' }),
  },
})
const url = env('URL')
const calls = Number(env('CALLS', '50'))

// Subscribed (and the scripts loaded) before the race starts: one permit taken and given back.
const origin = new URL(url).origin
;(await store.acquire(prefix + origin, limit)).release()
console.log('ready')
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))
process.stdin.destroy() // an open stdin would keep this process alive after its calls

if (env('HOLD') === '1') {
  // Takes `calls` permits with requests the server holds (it counts them), and waits to be killed.
  for (let i = 0; i < calls; i++) void client.get(url).catch(() => {})
} else {
  const started = performance.now()
  const results = await Promise.allSettled(Array.from({ length: calls }, () => client.get(url).text()))
  const ms = performance.now() - started
  const failed = results.filter((result) => result.status === 'rejected')
  console.log(
    JSON.stringify({
      done: results.length - failed.length,
      failed: failed.length,
      ms,
      errors: failed.slice(0, 3).map((result) => String((result as PromiseRejectedResult).reason)),
    }),
  )
  await store.close()
  redis.disconnect()
}
