/**
 * ky-pool with a real browser's own connection handling: Chromium against the shared handlers over real
 * HTTP on loopback (started by test/browser/global-setup.ts; CORS open, `Timing-Allow-Origin: *`). The
 * server counts connections and responses in flight, so these tests see what the network sees.
 */
import { afterEach, describe, expect, inject, it } from 'vitest'
import type { LoopbackStats } from '../../mocks/loopback.ts'
import type { PooledKy, TraceEvent } from '../../src/index.ts'
import { assertNoLeaks, createTestClient } from '../../src/testing.ts'

const server = inject('loopbackUrl')

/** The server's counters, read with plain fetch (outside any pool). */
async function serverStats(): Promise<LoopbackStats> {
  return (await fetch(`${server}/__stats`, { cache: 'no-store' })).json()
}

async function resetServer(): Promise<void> {
  await fetch(`${server}/__reset`, { method: 'POST' })
}

const clients: PooledKy[] = []
function client(options: Parameters<typeof createTestClient>[0] = {}): PooledKy {
  const made = createTestClient({ retry: 0, ...options })
  clients.push(made)
  return made
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((made) => assertNoLeaks(made)))
})

describe('Chromium against a loopback server', () => {
  it('perOrigin 2 holds at the server: of 8 concurrent requests it never has more than 2 in flight', async () => {
    await resetServer()
    const pooled = client({ pool: { perOrigin: 2 } })
    // Distinct URLs: Chromium's HTTP cache lets only one request per URL go to the network at a time.
    const bodies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => pooled.get(`${server}/slow?ms=30&i=${i}`).json()),
    )
    expect(bodies).toHaveLength(8)
    const stats = await serverStats()
    expect(stats.requests).toBe(8)
    expect(stats.peakInFlight).toBe(2)
  })

  it("above Chromium's own 6 per host the browser queues where the pool cannot see: why the default is 6", async () => {
    await resetServer()
    const pooled = client({ pool: { perOrigin: 10 } })
    let peakInPool = 0
    const bodies = Array.from({ length: 10 }, (_, i) => pooled.get(`${server}/slow?ms=50&i=${i}`).json())
    const watching = setInterval(() => {
      peakInPool = Math.max(peakInPool, pooled.pool.stats().inFlight)
    }, 5)
    await Promise.all(bodies)
    clearInterval(watching)
    expect(peakInPool, 'in flight as the pool counts them').toBe(10)
    expect((await serverStats()).peakInFlight, 'in flight at the server').toBe(6)
  })

  it('bodies read to the end let Chromium reuse one keep-alive connection for sequential requests', async () => {
    const pooled = client({ pool: { perOrigin: 1 } })
    await pooled.get(`${server}/json`).json() // warm up: one connection open
    await resetServer()
    for (let i = 0; i < 5; i++) await pooled.get(`${server}/bytes?size=1000`).text()
    expect((await serverStats()).connections, 'new connections for 5 requests').toBe(0)
  })

  it('a large unread body that the pool reclaims is cancelled at the network: the server sees the response end', async () => {
    await resetServer()
    const pooled = client({ pool: { perOrigin: 1, reclaimAfter: 50 } })
    // 32 MB: more than Chromium buffers for a page that does not read, so the server is still sending.
    const unread = await pooled.get(`${server}/bytes?size=${32 * 1024 * 1024}`)
    await expect.poll(async () => (await serverStats()).inFlight).toBe(1)
    expect(await pooled.get(`${server}/json`).json()).toEqual({ hello: 'world' })
    await expect(unread.arrayBuffer()).rejects.toMatchObject({ name: 'BodyReclaimedError' })
    await expect.poll(async () => (await serverStats()).inFlight, { timeout: 5000 }).toBe(0)
  })

  it('stats() shows the protocol Resource Timing reports for the origin (HTTP/1.1 here), observed', async () => {
    const pooled = client({ pool: { perOrigin: 1 } })
    await pooled.get(`${server}/json`).json() // completes a resource entry for the origin
    await new Promise((resolve) => setTimeout(resolve, 50)) // PerformanceObserver callbacks are queued
    const held = await pooled.get(`${server}/json`) // stats list origins with something in flight
    const origin = new URL(server).origin
    expect(pooled.pool.stats().origins[origin]).toMatchObject({
      inFlight: 1,
      protocol: 'h1',
      protocolSource: 'observed',
    })
    await held.json()
  })

  it('`priority` is passed to fetch (and counts in the queue: high before low)', async () => {
    const seen: (RequestPriority | undefined)[] = []
    const events: TraceEvent[] = []
    const pooled = client({
      pool: { perOrigin: 1, trace: (event) => events.push(event) },
      // A caller's own fetch is still pooled; here it records what reaches the browser's fetch.
      fetch: (input, init) => {
        seen.push(init?.priority)
        return fetch(input, init)
      },
    })
    const holder = await pooled.get(`${server}/json`)
    const low = pooled.get(`${server}/json?low`, { priority: 'low' }).json()
    const high = pooled.get(`${server}/json?high`, { priority: 'high' }).json()
    while (events.filter((event) => event.type === 'queued').length < 2)
      await new Promise((r) => setTimeout(r, 1))
    await holder.json()
    await Promise.all([low, high])
    expect(seen).toEqual([undefined, 'high', 'low'])
    const order = events
      .filter((event) => event.type === 'acquired')
      .map((event) => new URL(event.url).search)
    expect(order).toEqual(['', '?high', '?low'])
  })
})
