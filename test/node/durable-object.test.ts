/**
 * The shared limit on a Durable Object (issue 10), in real workerd: three Workers (Miniflare, one isolate
 * each) bound to one `KyPoolLimits` namespace, called concurrently, against a loopback origin that counts
 * what is in flight (mocks/loopback.ts). The Worker is test/workerd/fixtures/limits-worker.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MockLoopback, startMockLoopback } from '../../mocks/loopback.ts'
import { storeContract } from '../support/store-contract.ts'
import { bundleWorker } from '../support/worker-bundle.ts'
import type { CallReport } from '../workerd/fixtures/limits-worker.ts'

const root = resolve(import.meta.dirname, '../..')
const workers = ['a', 'b', 'c'] as const

let server: MockLoopback
let script: string
let contract: Miniflare
let persist: string
let mf: Miniflare | undefined

function bundle(fixture = 'limits-worker.ts'): Promise<string> {
  return bundleWorker(resolve(root, 'test/workerd/fixtures', fixture))
}

/** Three Workers, one namespace (its class in `a`); the objects' storage in `persist`, across restarts. */
async function start(): Promise<Miniflare> {
  const instance = new Miniflare(
    convertV4MiniflareOptions({
      resourcePersistencePath: persist,
      workers: workers.map((name) => ({
        name,
        modules: true,
        script,
        compatibilityDate: '2026-04-01',
        durableObjects: { LIMITS: { className: 'KyPoolLimits', scriptName: 'a', useSQLite: true } },
      })),
    }),
  )
  await instance.ready
  return instance
}

beforeAll(async () => {
  server = await startMockLoopback()
  script = await bundle()
  persist = mkdtempSync(join(tmpdir(), 'ky-pool-do-'))
  mf = await start()
  contract = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: await bundle('contract-worker.ts'),
      compatibilityDate: '2026-04-01',
      durableObjects: { LIMITS: { className: 'KyPoolLimits', useSQLite: true } },
    }),
  )
  await contract.ready
}, 30_000)
afterAll(async () => {
  await contract?.dispose()
  await mf?.dispose()
  await server?.close()
  rmSync(persist, { recursive: true, force: true })
})

async function call<T = CallReport>(worker: string, query: Record<string, string | number>): Promise<T> {
  const params = new URLSearchParams({
    up: server.url,
    ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])),
  })
  const fetcher = (await mf!.getWorker(worker)) as unknown as { fetch(url: string): Promise<Response> }
  const res = await fetcher.fetch(`http://worker.test/?${params}`)
  expect(res.status).toBe(200)
  return (await res.json()) as T
}

const inspect = (key: string) =>
  call<{ held: number; queued: number; token: number }>('a', { scenario: 'inspect', key })

describe('a limit shared through the KyPoolLimits Durable Object, in real workerd', () => {
  it('3 Workers × 20 concurrent invocations with a shared limit of 5: the origin sees exactly 5 at once, all 60 complete, every token distinct', async () => {
    server.reset()
    const calls = workers.flatMap((worker) =>
      Array.from({ length: 20 }, () => call(worker, { key: 'fanout', limit: 5, ms: 40 })),
    )
    const reports = await Promise.all(calls)
    expect(reports.filter((report) => report.status !== 200)).toEqual([])
    expect(server.stats().peakInFlight).toBe(5)
    expect(new Set(reports.map((report) => report.token)).size).toBe(60)
    expect(await inspect('fanout')).toEqual({ held: 0, queued: 0, token: 60 })
  }, 30_000)

  it('batching (up to 20 permits a call) keeps the limit exact', async () => {
    server.reset()
    const calls = workers.flatMap((worker) =>
      Array.from({ length: 20 }, () => call(worker, { key: 'batched', limit: 5, ms: 40, batch: 20 })),
    )
    const reports = await Promise.all(calls)
    expect(reports.filter((report) => report.status !== 200)).toEqual([])
    expect(server.stats().peakInFlight).toBe(5)
    expect(await inspect('batched')).toMatchObject({ held: 0, queued: 0 })
  }, 30_000)

  it('an invocation that ends holding a permit and an unread body gives the permit back when it ends, long before the 30 s TTL', async () => {
    const held = await call('b', { scenario: 'hold', key: 'hold', limit: 1 })
    expect(held.status).toBe(200)
    const next = await call('c', { key: 'hold', limit: 1, ms: 1 })
    expect(next.token).toBe(held.token + 1)
    expect(next.waitedMs).toBeLessThan(5_000)
    expect(await inspect('hold')).toMatchObject({ held: 0, queued: 0 })
  })

  it('a holder that stops refreshing loses its permit at the TTL, on the object’s alarm, and the waiter is answered then', async () => {
    const stale = call<{ token: number }>('a', {
      scenario: 'stale',
      key: 'stale',
      limit: 1,
      ttl: 300,
      holdMs: 4_000,
    })
    // Wait until the stale holder holds it (explicit: ask the object, no sleep).
    while ((await inspect('stale')).held === 0);
    const waiter = await call('b', { key: 'stale', limit: 1, ms: 1, ttl: 30_000 })
    expect(waiter.status).toBe(200)
    expect(waiter.waitedMs).toBeLessThan(2_500) // the stale invocation still runs: only the alarm freed it
    await stale
  }, 15_000)

  it('a holder whose request outlives the TTL keeps its permit: its invocation refreshes the lease (ttl 1 s, a 2.5 s request)', async () => {
    const holding = call('a', { key: 'refresh', limit: 1, ms: 2_500, ttl: 1_000 })
    while ((await inspect('refresh')).held === 0);
    // Without refreshes the lease would be gone at 1 s and this waiter served; it gives up at 2 s.
    const waiter = await call<{ error: string }>('b', {
      key: 'refresh',
      limit: 1,
      ttl: 1_000,
      abortMs: 2_000,
    })
    expect(waiter.error).toBe('TimeoutError')
    expect((await holding).status).toBe(200)
    expect(await inspect('refresh')).toEqual({ held: 0, queued: 0, token: 1 })
  })

  it('a pause told in one Worker reaches a listener in another (and one that starts listening later, while it is in force)', async () => {
    const listening = call<{ key: string; until: number }>('b', { scenario: 'listen', key: 'paused' })
    const told = await call<{ until: number }>('a', { scenario: 'tell', key: 'paused', ms: 5_000 })
    expect(await listening).toEqual({ key: 'paused', until: told.until })
    expect(await call('c', { scenario: 'listen', key: 'paused' })).toEqual({
      key: 'paused',
      until: told.until,
    })
  })

  it('abort ends the wait and leaves nothing held or queued', async () => {
    const holding = call('a', { key: 'abort', limit: 1, ms: 600 })
    while ((await inspect('abort')).held === 0);
    const aborted = await call<{ error: string; waitedMs: number }>('b', {
      key: 'abort',
      limit: 1,
      abortMs: 100,
    })
    expect(aborted.error).toBe('TimeoutError')
    await holding
    expect(await inspect('abort')).toEqual({ held: 0, queued: 0, token: 1 })
  })

  it('through ky-pool clients (pool.shared): 3 Workers × 20 concurrent invocations, shared limit 5: peak exactly 5, all complete', async () => {
    server.reset()
    const calls = workers.flatMap((worker) =>
      Array.from({ length: 20 }, () =>
        call<{ status: number; text: boolean }>(worker, {
          scenario: 'pool',
          key: 'unused',
          limit: 5,
          ms: 40,
        }),
      ),
    )
    const reports = await Promise.all(calls)
    expect(reports.filter((report) => report.status !== 200 || !report.text)).toEqual([])
    expect(server.stats().peakInFlight).toBe(5)
    const key = `ky-pool:${new URL(server.url).origin}`
    expect(await inspect(key)).toMatchObject({ held: 0, queued: 0, token: 60 })
  }, 30_000)

  it('through a ky-pool client, an invocation that returns with a body it never read gives its permit back when ky-pool’s watchdog settles the body (leakAfter 200 ms), long before the 30 s TTL', async () => {
    const key = `ky-pool:${new URL(server.url).origin}`
    const before = await inspect(key)
    const unread = await call<{ status: number }>('a', { scenario: 'pool-unread', limit: 5 })
    expect(unread.status).toBe(200)
    const returned = performance.now()
    while ((await inspect(key)).held > 0) {
      expect(performance.now() - returned, 'ms until the permit is back').toBeLessThan(5_000)
    }
    // ky-pool's watchdog cancelled the body after leakAfter (200 ms); the body settled; the permit went back.
    expect(await inspect(key)).toEqual({ held: 0, queued: 0, token: before.token + 1 })
  }, 20_000)

  it('a restarted object still counts the leases it had (for one TTL from the restart) and never reuses a token', async () => {
    const stale = call('a', {
      scenario: 'stale',
      key: 'restart',
      limit: 1,
      ttl: 3_000,
      holdMs: 20_000,
    }).catch(() => undefined)
    while ((await inspect('restart')).held === 0);
    const before = await inspect('restart')
    await mf!.dispose() // the whole runtime goes: the object, its sessions, the stale invocation
    await stale
    mf = await start()
    expect(await inspect('restart')).toMatchObject({ held: 1 }) // read back from storage
    // Still counted: a waiter that gives up after 300 ms gets nothing…
    const refused = await call<{ error: string }>('b', { key: 'restart', limit: 1, abortMs: 300 })
    expect(refused.error).toBe('TimeoutError')
    // …until the restored lease's TTL (3 s from the restart) ends on the alarm; the token is a new one.
    const after = await call('b', { key: 'restart', limit: 1, ms: 1 })
    expect(after.status).toBe(200)
    expect(after.token).toBeGreaterThan(before.token)
    expect(await inspect('restart')).toMatchObject({ held: 0, queued: 0 })
  }, 30_000)
})

// The names only, to make one test per check; each runs inside workerd (test/workerd/fixtures/contract-worker.ts).
const contractChecks = storeContract({
  open: async () => ({ copies: [], close: async () => {} }),
  unreachable: async () => ({}) as never,
})

describe('durableObjectStore() keeps the LimitStore contract (test/support/store-contract.ts), in workerd', () => {
  contractChecks.forEach((check, index) => {
    it(check.name, async () => {
      const res = await contract.dispatchFetch(`http://worker.test/?check=${index}`)
      expect(await res.json()).toEqual({ ok: true })
    }, 20_000)
  })
})
