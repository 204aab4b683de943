/**
 * `pool.shared` (issue 10): the pool takes a store permit after its local slot and holds it exactly as
 * long, across copies that share one engine (here two clients over two copies of one `memoryStore()`,
 * as two processes over Redis), with the real server counting what reaches it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { PoolConfigError, QueueTimeoutError, SharedLimitUnreachableError } from '../../src/index.ts'
import type { LimitStore, SharedPermit } from '../../src/limit-store.ts'
import { memoryStore, StoreUnreachable, sharedLimit } from '../../src/shared-limit.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()
const stores: LimitStore[] = []
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()))
  vi.restoreAllMocks()
})

/** Two copies of one in-memory engine, closed after the test. */
function twoCopies() {
  const first = memoryStore()
  const second = first.copy()
  stores.push(first, second)
  return [first, second] as const
}

/** A store that never answers but to abort, or fails at once: for the wait and the unreachable paths. */
function stubStore(acquire: LimitStore['acquire']): LimitStore {
  const store: LimitStore = { engine: 'stub', acquire, close: async () => {} }
  stores.push(store)
  return store
}
const never: LimitStore['acquire'] = (_key, _limit, options) =>
  new Promise((_resolve, reject) =>
    options?.signal?.addEventListener('abort', () => reject(options.signal!.reason), { once: true }),
  )
const down: LimitStore['acquire'] = async () => {
  throw new StoreUnreachable('stub', 'connection refused')
}

describe('pool.shared', () => {
  it('two clients over one engine never send more than the shared limit at once, and all complete', async () => {
    const server = await start()
    const [a, b] = twoCopies()
    const first = client({ pool: { perOrigin: 10, shared: sharedLimit({ store: a, limit: 3 }) } })
    const second = client({ pool: { perOrigin: 10, shared: sharedLimit({ store: b, limit: 3 }) } })
    const calls = [first, second].flatMap((pooled) =>
      Array.from({ length: 10 }, () => pooled.get(`${server.url}/hold?tag=t`).text()),
    )
    await server.waitForRequests(3)
    expect(a.held + b.held).toBe(3)
    for (let released = 0; released < 20; ) {
      released += server.release('t')
      if (released < 20) await server.waitForRequests(Math.min(20, server.stats().requests + 1))
    }
    expect(await Promise.all(calls)).toEqual(Array(20).fill('xx'))
    expect(server.stats()).toMatchObject({ requests: 20, peakInFlight: 3 })
    expect(a.held + b.held).toBe(0)
  })

  it('a permit is held until the body settles, not until headers arrive', async () => {
    const server = await start()
    const [a, b] = twoCopies()
    const first = client({ pool: { shared: sharedLimit({ store: a, limit: 1 }) } })
    const second = client({ pool: { shared: sharedLimit({ store: b, limit: 1 }) } })
    const response = await first.get(`${server.url}/json`)
    expect(a.held).toBe(1)
    const next = second.get(`${server.url}/json`).json()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(server.stats().requests).toBe(1) // the second copy waits for the store, not for its own limit
    await response.text()
    expect(a.held).toBe(0)
    expect(await next).toEqual({ ok: true })
    expect(b.held).toBe(0)
  })

  it('a request that fails gives its permit back', async () => {
    const server = await start()
    const [a] = twoCopies()
    const pooled = client({ pool: { shared: sharedLimit({ store: a, limit: 1 }) } })
    await expect(pooled.get(`${server.url}/reset`).text()).rejects.toThrow()
    expect(a.held).toBe(0)
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
  })

  it('a cancelled body and a body drained by the pool give their permits back', async () => {
    const server = await start()
    const [a] = twoCopies()
    const pooled = client({ pool: { shared: sharedLimit({ store: a, limit: 2 }) } })
    const cancelled = await pooled.get(`${server.url}/json`)
    await cancelled.body?.cancel()
    expect(a.held).toBe(0)
    await pooled.get(`${server.url}/json`) // never read: settle() reclaims it
    expect(a.held).toBe(1)
    await pooled.pool.settle()
    expect(a.held).toBe(0)
  })

  it('a forgotten body of this pool is reclaimed for a request waiting at the store, as for one in the local queue', async () => {
    const server = await start()
    const [a] = twoCopies()
    const log = new TraceLog()
    const pooled = client({
      pool: {
        leakAfter: 60_000, // the watchdog is not what frees it
        trace: log.trace,
        shared: sharedLimit({ store: a, limit: 1 }),
      },
    })
    const forgotten = await pooled.get(`${server.url}/json`) // never read (until the end)
    // The local limit (6) has room: the second request waits at the store, behind the forgotten body's permit.
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(log.of('reclaimed')).toHaveLength(1)
    expect(log.of('reclaimed')[0]).toMatchObject({ id: 1, action: 'drained', cause: 'pressure' })
    expect(log.of('leaked')).toHaveLength(0)
    // Drained, so its caller can still read it.
    expect(await forgotten.json()).toEqual({ ok: true })
    expect(a.held).toBe(0)
  })

  it('the store wait counts against queueTimeout', async () => {
    const server = await start()
    const [a, b] = twoCopies()
    const holder = await a.acquire(`ky-pool:${server.origin}`, 1)
    const pooled = client({
      pool: { queueTimeout: 30, shared: sharedLimit({ store: b, limit: 1 }) },
    })
    const error = await pooled
      .get(`${server.url}/json`)
      .text()
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(QueueTimeoutError)
    expect(error).toMatchObject({ limit: 1, queueTimeout: 30 })
    expect(b.held).toBe(0)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { queueTimeouts: 1 } })
    expect(server.stats().requests).toBe(0)
    holder.release()
  })

  it('an abort while waiting for the store rejects with its reason and leaves nothing held', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({
      pool: { trace: log.trace, shared: sharedLimit({ store: stubStore(never), limit: 1 }) },
    })
    const controller = new AbortController()
    const call = pooled.get(`${server.url}/json`, { signal: controller.signal }).text()
    await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort(new Error('changed my mind'))
    await expect(call).rejects.toThrow('changed my mind')
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { aborted: 1 } })
    expect(log.of('rejected')).toMatchObject([{ reason: 'aborted' }])
  })

  it('the store is asked with the request priority, after the local slot', async () => {
    const asked: { key: string; limit: number; priority: number | undefined }[] = []
    const [a] = twoCopies()
    const store = stubStore((key, limit, options) => {
      asked.push({ key, limit, priority: options?.priority })
      return a.acquire(key, limit, options)
    })
    const server = await start()
    const pooled = client({
      pool: { shared: sharedLimit({ store, origins: { [server.origin]: 4 }, prefix: 'app:' }) },
    })
    await pooled.get(`${server.url}/json`, { pool: { priority: 3 } }).text()
    await pooled.get(`${server.url}/json`, { priority: 'low' }).text()
    expect(asked).toEqual([
      { key: `app:${server.origin}`, limit: 4, priority: 3 },
      { key: `app:${server.origin}`, limit: 4, priority: -1 },
    ])
  })

  it('an origin with no shared limit does not ask the store', async () => {
    const server = await start()
    const store = stubStore(never)
    const pooled = client({
      pool: { shared: sharedLimit({ store, origins: { 'https://api.example.com': 2 } }) },
    })
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
  })

  it('fails open by default: the request goes on under the local limit, with one warning and a trace event each time', async () => {
    const server = await start()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const log = new TraceLog()
    const pooled = client({
      pool: { leaks: 'warn', trace: log.trace, shared: sharedLimit({ store: stubStore(down), limit: 1 }) },
    })
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(warn).toHaveBeenCalledTimes(1)
    expect(String(warn.mock.calls[0]![0])).toMatch(/store \(stub\) could not be reached .* local limit/)
    expect(log.of('store-unreachable')).toMatchObject([
      { engine: 'stub', failed: 'open', error: 'stub: connection refused' },
      { engine: 'stub', failed: 'open' },
    ])
  })

  it("fails closed with unreachable: 'closed': a SharedLimitUnreachableError, nothing sent, the slot given back", async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({
      pool: {
        trace: log.trace,
        shared: sharedLimit({ store: stubStore(down), limit: 1, unreachable: 'closed' }),
      },
    })
    const error = await pooled
      .get(`${server.url}/json`)
      .text()
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(SharedLimitUnreachableError)
    expect(error).toMatchObject({
      engine: 'stub',
      origin: server.origin,
      cause: { name: 'StoreUnreachable' },
    })
    expect((error as Error).message).toContain("unreachable: 'open'")
    expect(server.stats().requests).toBe(0)
    expect(pooled.pool.stats().inFlight).toBe(0)
    expect(log.of('rejected')).toMatchObject([{ reason: 'store-unreachable' }])
  })

  it('a permit given back twice frees one place only', async () => {
    const [a, b] = twoCopies()
    const first = await a.acquire('k', 2)
    await b.acquire('k', 2)
    first.release()
    first.release()
    await a.acquire('k', 2)
    let third: SharedPermit | undefined
    void b.acquire('k', 2).then((permit) => {
      third = permit
    })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(third).toBeUndefined()
  })
})

describe('pool.shared options', () => {
  const store = memoryStore()
  it.each([
    [{ shared: { store, limit: 2 } }, 'pool.shared'],
    [{ shared: null }, 'pool.shared'],
  ])('pool %o is a PoolConfigError naming %s', (pool, option) => {
    expect(() => client({ pool: pool as never })).toThrow(PoolConfigError)
    expect(() => client({ pool: pool as never })).toThrow(option)
  })

  it.each([
    [{ store, limit: 0 }, 'sharedLimit().limit'],
    [{ store, limit: 1.5 }, 'sharedLimit().limit'],
    [{ store }, 'nothing is shared'],
    [{ store: {}, limit: 2 }, 'sharedLimit().store'],
    [{ store, limit: 2, unreachable: 'maybe' }, 'sharedLimit().unreachable'],
    [{ store, limit: 2, prefix: 3 }, 'sharedLimit().prefix'],
    [{ store, limit: 2, lmit: 3 }, 'sharedLimit().lmit'],
    [{ store, origins: { 'https://a.example/path': 2 } }, 'sharedLimit().origins'],
    [{ store, origins: { 'https://a.example': 2, 'HTTPS://A.EXAMPLE:443': 3 } }, 'already given'],
    [{ store, origins: [] }, 'sharedLimit().origins'],
  ])('sharedLimit(%o) is a PoolConfigError naming %s', (options, text) => {
    expect(() => sharedLimit(options as never)).toThrow(PoolConfigError)
    expect(() => sharedLimit(options as never)).toThrow(text)
  })

  it('origins keys are canonical origins', () => {
    const limit = sharedLimit({ store, origins: { 'HTTPS://Api.Example.com:443': 5 }, limit: 2 })
    expect(limit.limitOf('https://api.example.com')).toBe(5)
    expect(limit.limitOf('https://other.example')).toBe(2)
  })
})
