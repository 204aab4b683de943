/**
 * Origin backpressure (issue 12) against a real loopback server that enforces a token bucket and answers
 * 429 + Retry-After (test/support/rate-limited-server.ts). Retry-After has one-second resolution, so the
 * tests that follow a server's pause wait about a second; the rest steer pauses in milliseconds.
 */
import { HTTPError } from 'ky'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createClient, PoolConfigError, type TraceEvent } from '../../src/index.ts'
import { Backpressure } from '../../src/pool/backpressure.ts'
import { readAdvice, retryAt } from '../../src/rate-headers.ts'
import { memoryStore, sharedLimit } from '../../src/shared-limit.ts'
import { type RateLimitedServer, startRateLimitedServer } from '../support/rate-limited-server.ts'

let server: RateLimitedServer
beforeAll(async () => {
  server = await startRateLimitedServer({ rate: 1, burst: 1, mode: 'retry-after' })
})
afterAll(() => server.close())
beforeEach(() => server.reset({ rate: 1, burst: 1, mode: 'retry-after', retryAfter: undefined }))

function traced(options: Parameters<typeof createClient>[0] = {}) {
  const events: TraceEvent[] = []
  const client = createClient({
    retry: 0,
    ...options,
    pool: { leaks: 'silent', trace: (event) => events.push(event), ...options.pool },
  })
  return { client, events }
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error,
  )

describe('pause', () => {
  it('a 429 with Retry-After pauses its origin: the server sees nothing until then, and the queued requests go after', async () => {
    const { client, events } = traced()
    await client.get(`${server.origin}/a`).json()
    const limited = await rejection(client.get(`${server.origin}/b`).json())
    expect(limited).toBeInstanceOf(HTTPError)
    const pausedAt = performance.now()
    const stats = client.pool.stats().origins[server.origin]
    expect(stats?.paused).toBe(true)
    expect(stats?.pauseCause).toBe('retry-after')
    expect(stats!.pausedUntil! - Date.now()).toBeGreaterThan(800)
    const seen = server.stats().requests
    const later = client.get(`${server.origin}/c`).json()
    expect(await later).toEqual({ hello: 'world' })
    const sentAt = server.stats().times.at(-1)!
    expect(server.stats().requests).toBe(seen + 1)
    expect(sentAt - pausedAt).toBeGreaterThan(900)
    expect(events.filter((e) => e.type === 'paused' || e.type === 'resumed').map((e) => e.type)).toEqual([
      'paused',
      'resumed',
    ])
    await client.pool.settle()
  })

  it('other origins are unaffected by a pause', async () => {
    const { client } = traced()
    await client.pool.pauseOrigin('http://127.0.0.2:1', Date.now() + 5000)
    expect(await client.get(`${server.origin}/x`).json()).toEqual({ hello: 'world' })
    expect(client.pool.stats().origins['http://127.0.0.2:1']?.paused).toBe(true)
    await client.pool.resumeOrigin('http://127.0.0.2:1')
  })

  it('a request that waits past queueTimeout while its origin is paused fails with OriginPausedError naming the pause', async () => {
    const { client } = traced()
    const until = Date.now() + 5000
    await client.pool.pauseOrigin(server.origin, until)
    const error = (await rejection(
      client.get(`${server.origin}/x`, { pool: { queueTimeout: 50 } }).json(),
    )) as Error & Record<string, unknown>
    expect(error.name).toBe('OriginPausedError')
    expect(error.pausedUntil).toBe(until)
    expect(error.pauseCause).toBe('app')
    expect(error.message).toMatch(/paused by the app .* until /)
    expect(server.stats().requests).toBe(0)
    await client.pool.resumeOrigin(server.origin)
    await client.pool.settle()
  })

  it("ky's timeout still applies while paused: the queue gives up first, with OriginPausedError", async () => {
    const { client } = traced({ timeout: 300 })
    await client.pool.pauseOrigin(server.origin, Date.now() + 5000)
    const started = performance.now()
    const error = await rejection(client.get(`${server.origin}/x`).json())
    expect(error?.name).toBe('OriginPausedError')
    expect(performance.now() - started).toBeLessThan(1000)
    expect(server.stats().requests).toBe(0)
    await client.pool.resumeOrigin(server.origin)
    await client.pool.settle()
  })

  it("the caller's abort still ends a request queued on a paused origin", async () => {
    const { client } = traced()
    await client.pool.pauseOrigin(server.origin, Date.now() + 5000)
    const controller = new AbortController()
    const queued = rejection(client.get(`${server.origin}/x`, { signal: controller.signal }).json())
    const reason = new Error('gone')
    controller.abort(reason)
    expect(await queued).toBe(reason)
    expect(server.stats().requests).toBe(0)
    await client.pool.settle()
  })

  it('a pause is capped by maxPause, and a malformed Retry-After is ignored with an `ignored` event', async () => {
    server.reset({ retryAfter: '31536000' })
    const { client, events } = traced({ pool: { backpressure: { maxPause: 300 } } })
    await client.get(`${server.origin}/a`).json()
    await rejection(client.get(`${server.origin}/b`).json())
    const until = client.pool.stats().origins[server.origin]?.pausedUntil ?? 0
    expect(until - Date.now()).toBeLessThanOrEqual(300)
    server.reset({ retryAfter: 'soon' })
    await client.get(`${server.origin}/c`).json()
    await rejection(client.get(`${server.origin}/d`).json())
    expect(events.filter((e) => e.type === 'ignored').map((e) => (e as { header: string }).header)).toEqual([
      'retry-after',
    ])
    await client.pool.settle()
  })

  it('resumes gently: after a pause, one request first, then more', async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client, events } = traced()
    await client.pool.pauseOrigin(server.origin, Date.now() + 50)
    const calls = Array.from({ length: 4 }, (_, i) => client.get(`${server.origin}/${i}`).json())
    await Promise.all(calls)
    const limits = events.filter((e) => e.type === 'limited').map((e) => (e as { limit: number }).limit)
    expect(limits.slice(0, 3)).toEqual([1, 2, 4])
    await client.pool.settle()
  })

  it('an opted-out origin is never paused by its 429s', async () => {
    const { client } = traced({ pool: { backpressure: { optOut: [server.origin] } } })
    await client.get(`${server.origin}/a`).json()
    await rejection(client.get(`${server.origin}/b`).json())
    expect(client.pool.stats().origins[server.origin]?.paused).not.toBe(true)
    await client.pool.settle()
  })
})

describe('budget headers', () => {
  it('X-RateLimit-Remaining at 0 pauses the origin until X-RateLimit-Reset, before the server says 429', async () => {
    server.reset({ mode: 'x-ratelimit', rate: 2, burst: 2 })
    const { client, events } = traced()
    await client.get(`${server.origin}/a`).json()
    await client.get(`${server.origin}/b`).json() // remaining 0
    expect(events.some((e) => e.type === 'paused' && e.cause === 'rate-limit')).toBe(true)
    await client.get(`${server.origin}/c`).json()
    expect(server.stats().limited).toBe(0)
    await client.pool.settle()
  })
})

describe('more of the pause', () => {
  it('queued requests leave a pause in priority order, then first come first served', async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client, events } = traced({ pool: { perOrigin: 1 } })
    await client.pool.pauseOrigin(server.origin, Date.now() + 30)
    await Promise.all([
      client.get(`${server.origin}/low`, { pool: { priority: -1 } }).json(),
      client.get(`${server.origin}/first`).json(),
      client.get(`${server.origin}/high`, { pool: { priority: 1 } }).json(),
      client.get(`${server.origin}/second`).json(),
    ])
    const order = events.filter((e) => e.type === 'acquired').map((e) => new URL(e.url).pathname)
    expect(order).toEqual(['/high', '/first', '/second', '/low'])
    await client.pool.settle()
  })

  it('an unread body is not reclaimed for a request that waits for a pause (a slot would not help it)', async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client, events } = traced({ pool: { drainLimit: 0, reclaimAfter: 20 } })
    const unread = await client.get(`${server.origin}/unread`)
    await client.pool.pauseOrigin(server.origin, Date.now() + 200)
    const waiting = client.get(`${server.origin}/waits`).json()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(events.filter((e) => e.type === 'reclaimed')).toEqual([])
    expect(await waiting).toEqual({ hello: 'world' })
    expect(await unread.json()).toEqual({ hello: 'world' })
    await client.pool.settle()
  })

  it('the IETF RateLimit field at r=0 pauses the origin until t, before the server says 429', async () => {
    server.reset({ mode: 'ratelimit', rate: 2, burst: 2 })
    const { client, events } = traced()
    await client.get(`${server.origin}/a`).json()
    await client.get(`${server.origin}/b`).json() // r=0
    expect(events.some((e) => e.type === 'paused' && e.cause === 'rate-limit')).toBe(true)
    await client.get(`${server.origin}/c`).json()
    expect(server.stats().limited).toBe(0)
    await client.pool.settle()
  })

  it('the adaptive limit (opt-in) halves on a 429 and grows back on successes, and says why', async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client, events } = traced({ pool: { perOrigin: 8, backpressure: { adaptive: true } } })
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        client
          .get(`${server.origin}/${i}?status=503&ra=0`)
          .json()
          .catch(() => {}),
      ),
    )
    const shrunk = events
      .filter((e) => e.type === 'limited' && e.reason === 'adaptive')
      .map((e) => (e as { limit: number }).limit)
    expect(Math.min(...shrunk)).toBeLessThanOrEqual(4)
    for (let i = 0; i < 40; i++) await client.get(`${server.origin}/ok${i}`).json()
    const last = events.filter((e) => e.type === 'limited').at(-1) as { limit: number; reason: string }
    expect(last.limit).toBe(8)
    await client.pool.settle()
  })
})

describe('retries', () => {
  it('a request retried by ky after a 429 waits for the pause once, not twice', async () => {
    const { client } = traced({ retry: { limit: 1 } })
    await client.get(`${server.origin}/a`).json()
    const started = performance.now()
    expect(await client.get(`${server.origin}/b`).json()).toEqual({ hello: 'world' })
    const took = performance.now() - started
    expect(took).toBeGreaterThan(900)
    expect(took).toBeLessThan(1800)
    await client.pool.settle()
  })

  it("over the retry budget a call fails at once with ky's error for its response, and is not sent again", async () => {
    const { client } = traced({
      retry: { limit: 2 },
      pool: { backpressure: { retryBudget: { ratio: 0, min: 0 } } },
    })
    const error = await rejection(client.get(`${server.origin}/x?status=503&ra=0`).json())
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).response.status).toBe(503)
    expect(server.stats().requests).toBe(1)
    await client.pool.settle()
  })
})

describe('the retry budget is asked before ky waits', () => {
  it("over it, a 429 asking for 30 s fails at once with ky's error, not after the wait", async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client } = traced({
      retry: { limit: 2 },
      pool: { backpressure: { retryBudget: { ratio: 0, min: 0 } } },
    })
    const started = performance.now()
    const error = await rejection(client.get(`${server.origin}/x?status=429&ra=30`).json())
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).response.status).toBe(429)
    // Without the check before the backoff, ky would wait the 30 s Retry-After first.
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(server.stats().requests).toBe(1)
    client.pool.resumeOrigin(server.origin)
    await client.pool.settle()
  })

  it("a per-call retry (a number, or with the caller's own shouldRetry) keeps the budget, and the caller's check runs under it", async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client } = traced({ pool: { backpressure: { retryBudget: { ratio: 0, min: 0 } } } })
    const asked: number[] = []
    for (const retry of [
      2,
      { limit: 2, shouldRetry: ({ retryCount }: { retryCount: number }) => void asked.push(retryCount) },
    ]) {
      const error = await rejection(client.get(`${server.origin}/x?status=429&ra=30`, { retry }).json())
      expect((error as HTTPError).response.status).toBe(429)
      client.pool.resumeOrigin(server.origin)
    }
    expect(server.stats().requests).toBe(2)
    expect(asked).toEqual([]) // over budget: the caller's shouldRetry is not asked
    const { client: roomy } = traced({ pool: { backpressure: { retryBudget: { ratio: 1, min: 10 } } } })
    const error = await rejection(
      roomy
        .get(`${server.origin}/x?status=503&ra=0`, {
          retry: { limit: 1, shouldRetry: ({ retryCount }) => void asked.push(retryCount) },
        })
        .json(),
    )
    expect((error as HTTPError).response.status).toBe(503)
    expect(asked).toEqual([1]) // within budget it is asked, and its undefined leaves ky's own checks
    await client.pool.settle()
    await roomy.pool.settle()
  })
})

describe('the app steers', () => {
  it('a bad total or limit is a PoolConfigError naming the call, and changes nothing', async () => {
    const { client } = traced()
    for (const bad of [0, -1, 1.5, Number.NaN, '3' as unknown as number]) {
      expect(() => client.pool.setTotal(bad)).toThrow(PoolConfigError)
      await expect(client.pool.setLimit(server.origin, bad)).rejects.toThrow(PoolConfigError)
    }
    expect(() => client.pool.setTotal(0)).toThrow(/setTotal\(total\)/)
    expect(client.pool.stats().limit).toBe(256)
    client.pool.setTotal(Infinity)
    await client.pool.settle()
  })

  it('a raised limit lets queued requests in at once; a lowered one cancels none', async () => {
    server.reset({ rate: 1000, burst: 1000 })
    const { client } = traced({ pool: { perOrigin: 1, drainLimit: 0, reclaimAfter: 60_000 } })
    const holder = await client.get(`${server.origin}/held`)
    const queued = [client.get(`${server.origin}/1`).json(), client.get(`${server.origin}/2`).json()]
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(client.pool.stats().origins[server.origin]?.queued).toBe(2)
    await client.pool.setLimit(server.origin, 3)
    expect(await Promise.all(queued)).toEqual([{ hello: 'world' }, { hello: 'world' }])
    await client.pool.setLimit(server.origin, 1)
    expect(await holder.json()).toEqual({ hello: 'world' })
    client.pool.setTotal(10)
    await client.pool.settle()
  })
})

describe('a shared limit store', () => {
  it("carries one copy's pause to the others (cause `store`), and hears theirs", async () => {
    const store = memoryStore()
    const shared = sharedLimit({ store, limit: 10 })
    const a = traced({ pool: { shared } })
    const b = traced({ pool: { shared } })
    await b.client.pool.stats() // b exists before a's 429
    await a.client.get(`${server.origin}/a`).json()
    await rejection(a.client.get(`${server.origin}/b`).json())
    await new Promise((resolve) => setTimeout(resolve, 10))
    const seen = b.client.pool.stats().origins[server.origin]
    expect([seen?.paused, seen?.pauseCause]).toEqual([true, 'store'])
    expect(seen!.pausedUntil).toBe(a.client.pool.stats().origins[server.origin]?.pausedUntil)
    await a.client.pool.settle()
    await b.client.pool.settle()
    await store.close()
  })
})

describe('the pace learned from Retry-After alone', () => {
  // backpressure.ts alone on a simulated clock against a token bucket (20 a second, burst 5) that says only
  // 429 + Retry-After in whole seconds: the pace must settle at the rate the answers prove, not re-probe
  // upwards from a fraction of it (the old rule fell 15% from the overshoot and grew 10% a second).
  it('after one overshoot it paces at the rate the successes prove, at most the origin’s, with few pauses', () => {
    let now = 1_000_000
    const origin = 'http://bucket.test'
    const events: { type: string; interval?: number }[] = []
    const pace = new Backpressure(
      { maxPause: 60_000, rateLimitHeaders: true, adaptive: false, retryBudget: false, optOut: [] },
      {
        refresh: () => {},
        acquiredOn: () => 6, // the first wave: 6 in flight at once
        queuedOn: () => 0,
        enabled: () => true,
        emit: (event) => events.push(event),
      },
      () => now,
    )
    let tokens = 5
    let at = now
    let accepted = 0
    let limited = 0
    const rates: number[] = [] // the rate held after each pushback
    const end = now + 20_000
    while (now < end) {
      const stats = pace.stats(origin)
      if (stats?.paused) now = stats.pausedUntil!
      pace.check(origin)
      pace.started(origin)
      tokens = Math.min(5, tokens + ((now - at) / 1000) * 20)
      at = now
      if (tokens >= 1) {
        tokens--
        accepted++
        pace.response(origin, 200, new Headers())
      } else {
        limited++
        pace.response(origin, 429, new Headers({ 'retry-after': '1' }))
        rates.push(1000 / pace.stats(origin)!.interval!)
      }
      now += pace.stats(origin)?.interval ?? 1
    }
    // The first pushback (unpaced) knows nothing; each later one falls to a rate the bucket proved.
    for (const rate of rates.slice(1)) expect(rate).toBeLessThanOrEqual(20.5)
    expect(limited).toBeLessThanOrEqual(4)
    // 20 s at 20 a second is 400: less the pauses, and paced close to the rate between.
    expect(accepted).toBeGreaterThanOrEqual(340)
  })
})

describe('rate-headers.ts', () => {
  const now = Date.parse('2026-12-01T00:00:00Z')
  it('reads Retry-After as delta-seconds or an HTTP-date, and refuses absurd or malformed values', () => {
    expect(retryAt('2', now)).toBe(now + 2000)
    expect(retryAt('Tue, 01 Dec 2026 00:00:05 GMT', now)).toBe(now + 5000)
    expect(retryAt('99999999999', now)).toBeUndefined()
    expect(retryAt('soon', now)).toBeUndefined()
    expect(retryAt('-1', now)).toBeUndefined()
  })
  it('reads the IETF RateLimit and RateLimit-Policy fields (the policy with the fewest left binds)', () => {
    const headers = new Headers({
      ratelimit: '"hour";r=100;t=3000, "second";r=0;t=1',
      'ratelimit-policy': '"hour";q=1000;w=3600, "second";q=10;w=1',
    })
    expect(readAdvice(headers, now)).toEqual({ remaining: 0, resetAt: now + 1000, quota: 10, window: 1000 })
  })
  it('reads X-RateLimit-Reset as epoch seconds or delta-seconds', () => {
    const epoch = new Headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 30) })
    expect(readAdvice(epoch, now).resetAt).toBe(now + 30_000)
    const delta = new Headers({
      'x-ratelimit-remaining': '3',
      'x-ratelimit-reset': '30',
      'x-ratelimit-limit': '60',
    })
    expect(readAdvice(delta, now)).toEqual({ remaining: 3, resetAt: now + 30_000, quota: 60 })
  })
})
