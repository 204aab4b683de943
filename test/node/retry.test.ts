/**
 * ky's own machinery against the pool: retries give the slot back during backoff, HTTPError and
 * timed-out attempts leave nothing in flight, and no `fetch` a caller sets can bypass the limits.
 */
import { HTTPError, type Options, TimeoutError } from 'ky'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { PooledKy } from '../../src/index.ts'
import type { LoopbackServer } from '../support/loopback-server.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

afterEach(() => {
  vi.useRealTimers()
})

const fakeTimers = () =>
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] })

describe('retries', () => {
  it('give the slot back during backoff: another request runs in between', async () => {
    fakeTimers()
    const server = await start()
    const log = new TraceLog()
    const pooled = client({
      retry: { limit: 1, delay: () => 5000, jitter: false },
      pool: { perOrigin: 1, trace: log.trace },
    })
    const firstAttemptDone = log.next('settled')
    const flaky = pooled.get(`${server.url}/flaky?key=a&fail=1`).json()
    await firstAttemptDone // the 503 body was read by ky; now ky waits 5 s
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
    expect(await pooled.get(`${server.url}/json?between`).json()).toEqual({ ok: true })
    await vi.advanceTimersByTimeAsync(5000)
    expect(await flaky).toEqual({ ok: true, attempt: 2 })
    const order = log.events
      .filter((event) => event.type === 'acquired' || event.type === 'retry')
      .map((event) => `${event.type} ${new URL(event.url).pathname}`)
    expect(order).toEqual(['acquired /flaky', 'acquired /json', 'retry /flaky', 'acquired /flaky'])
    expect(log.of('retry')).toMatchObject([{ retryCount: 1 }])
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { requests: 3 } })
  })

  it('an HTTPError leaves no body unsettled, however large the error body', async () => {
    const server = await start()
    const pooled = client({ pool: { perOrigin: 1, leaks: 'strict' } })
    for (const size of [20, 3_000_000]) {
      const error = await pooled.get(`${server.url}/status/500?size=${size}`).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(HTTPError)
      expect(pooled.pool.stats().inFlight).toBe(0)
    }
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })

  it('a retried HTTPError sequence ends with nothing in flight', async () => {
    const server = await start()
    const pooled = client({ retry: { limit: 2, delay: () => 0 }, pool: { perOrigin: 1, leaks: 'strict' } })
    await expect(pooled.get(`${server.url}/flaky?key=b&fail=5`)).rejects.toBeInstanceOf(HTTPError)
    expect(server.stats().requests).toBe(3)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { requests: 3 } })
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })
})

describe('timeouts', () => {
  it('an attempt that times out waiting for headers leaves nothing in flight', async () => {
    fakeTimers()
    const server = await start()
    const pooled = client({ timeout: 1000, pool: { perOrigin: 1 } })
    const slow = pooled.get(`${server.url}/hold?tag=slow`).catch((e: unknown) => e)
    await server.waitForRequests(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(await slow).toBeInstanceOf(TimeoutError)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
    vi.useRealTimers()
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
  })

  it('a request whose ky timeout fires while it is queued leaves the queue and is never sent', async () => {
    fakeTimers()
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 1, trace: log.trace } })
    const holder = pooled.get(`${server.url}/hold?tag=h`, { timeout: false }).text()
    await server.waitForRequests(1)
    const queued = log.next('queued')
    // No queue timeout of the pool's (by default it sits a little under ky's, and would fire first).
    const late = pooled
      .get(`${server.url}/json?late`, { timeout: 300, pool: { queueTimeout: Number.POSITIVE_INFINITY } })
      .catch((e: unknown) => e)
    await queued
    await vi.advanceTimersByTimeAsync(300)
    expect(await late).toBeInstanceOf(TimeoutError)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 1, queued: 0 })
    vi.useRealTimers()
    server.release('h')
    await holder
    expect(server.stats().requests).toBe(1)
  })
})

describe('a custom fetch cannot bypass the pool', () => {
  /** A fetch that counts its calls and forwards to the real one. */
  const spyFetch = () => vi.fn((input: Request, init?: RequestInit) => globalThis.fetch(input, init))

  /**
   * Sends `count` held requests through `send`; once `limit` have reached the server and the rest are
   * queued in the pool, lets them all through. Returns the server's peak of requests in flight.
   */
  async function peakOf(
    server: LoopbackServer,
    log: TraceLog,
    limit: number,
    count: number,
    send: (url: string) => Promise<string>,
  ) {
    const bodies = Promise.all(Array.from({ length: count }, () => send(`${server.url}/hold?tag=t`)))
    await Promise.all([server.waitForRequests(limit), log.until('queued', count - limit)])
    for (;;) {
      server.release('t')
      const arrived = server.stats().requests
      if (arrived === count) break
      await server.waitForRequests(arrived + 1)
    }
    await bodies
    return server.stats().peakInFlight
  }

  const variants: [
    string,
    (pooled: PooledKy, fetch: Options['fetch']) => (url: string) => Promise<string>,
  ][] = [
    ['a per-call fetch option', (pooled, fetch) => (url) => pooled.get(url, { fetch }).text()],
    ['client.extend({ fetch })', (pooled, fetch) => (url) => pooled.extend({ fetch }).get(url).text()],
    ['client.create({ fetch })', (pooled, fetch) => (url) => pooled.create({ fetch }).get(url).text()],
    [
      'an init hook that sets fetch',
      (pooled, fetch) => {
        const extended = pooled.extend({
          hooks: {
            init: [
              (options) => {
                options.fetch = fetch
              },
            ],
          },
        })
        return (url) => extended.get(url).text()
      },
    ],
    [
      'extend({ fetch }) plus a per-call fetch',
      (pooled, fetch) => (url) => pooled.extend({ fetch }).get(url, { fetch }).text(),
    ],
  ]

  it.each(variants)('%s: the custom fetch is called, and the limit holds', async (_, make) => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 2, trace: log.trace } })
    const fetch = spyFetch()
    expect(await peakOf(server, log, 2, 6, make(pooled, fetch as Options['fetch']))).toBe(2)
    expect(fetch).toHaveBeenCalledTimes(6)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })

  it.each(variants)('%s: takes one slot per request, so a limit of 1 does not deadlock', async (_, make) => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 1, trace: log.trace } })
    const fetch = spyFetch()
    expect(await peakOf(server, log, 1, 3, make(pooled, fetch as Options['fetch']))).toBe(1)
    expect(fetch).toHaveBeenCalledTimes(3)
  })
})
