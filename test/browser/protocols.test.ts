/**
 * Browsers bound connections themselves (6 per host on HTTP/1.1) and multiplex HTTP/2, so ky-pool must not
 * add waves of its own where it cannot see the protocol: the usual frontend case, an API on another origin
 * that sends no `Timing-Allow-Origin` (Resource Timing then reports no protocol at all). Real Chromium,
 * against a loopback server without that header.
 */
import { afterEach, describe, expect, inject, it } from 'vitest'
import type { LoopbackStats } from '../../mocks/loopback.ts'
import type { PooledKy, TraceEvent } from '../../src/index.ts'
import { assertNoLeaks, createTestClient } from '../../src/testing.ts'

const server = inject('opaqueUrl')
const origin = new URL(server).origin
const h2 = inject('h2Url')

async function serverStats(): Promise<LoopbackStats> {
  return (await fetch(`${server}/__stats`, { cache: 'no-store' })).json()
}

const clients: PooledKy[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((made) => assertNoLeaks(made)))
})

function traced(pool: Record<string, unknown> = {}) {
  const events: TraceEvent[] = []
  const client = createTestClient({ retry: 0, pool: { ...pool, trace: (event) => events.push(event) } })
  clients.push(client)
  return { client, events }
}

describe('Chromium, a cross-origin API without Timing-Allow-Origin', () => {
  it('its protocol stays unknown, and ky-pool adds no cap of its own: the browser queues as it would for plain ky', async () => {
    await fetch(`${server}/__reset`, { method: 'POST' })
    const { client, events } = traced()
    const bodies = Array.from({ length: 10 }, (_, i) => client.get(`${server}/slow?ms=50&i=${i}`).json())
    await expect.poll(() => client.pool.stats().inFlight).toBe(10)
    expect(client.pool.stats().origins[origin]).toEqual({
      inFlight: 10,
      queued: 0,
      limit: Number.POSITIVE_INFINITY,
      protocol: 'unknown',
      protocolSource: 'default',
    })
    await Promise.all(bodies)
    expect(events.filter((event) => event.type === 'queued')).toEqual([])
    expect((await serverStats()).peakInFlight, "the browser's own 6 per host").toBe(6)
  })

  it("forgotten large bodies that hold the browser's 6 connections are reclaimed, so the next request is not stuck", async () => {
    const { client, events } = traced({ reclaimAfter: 50, leaks: 'silent' })
    // 32 MB each: more than Chromium buffers for a page that does not read, so each holds its connection.
    const forgotten = []
    for (let i = 0; i < 6; i++)
      forgotten.push(await client.get(`${server}/bytes?size=${32 * 1024 * 1024}&i=${i}`))
    expect(await client.get(`${server}/json`).json()).toEqual({ hello: 'world' })
    const reclaimed = events.filter((event) => event.type === 'reclaimed')
    expect(reclaimed.length).toBeGreaterThan(0)
    expect(reclaimed.every((event) => event.action === 'cancelled' && event.cause === 'pressure')).toBe(true)
    for (const res of forgotten) await res.body?.cancel().catch(() => {})
  })
})

describe('Chromium, an HTTP/2 API with Timing-Allow-Origin', () => {
  it('is observed as h2 once a body was read, gets 100, and 60 concurrent GETs share its streams instead of waves of 6', async () => {
    const { client, events } = traced()
    await client.get(`${h2}/json`).json() // Chromium fills nextHopProtocol once a body has been read
    const h2Origin = new URL(h2).origin
    // PerformanceObserver callbacks are queued: each probe shows the protocol known when it acquired.
    await expect
      .poll(async () => {
        await client.get(`${h2}/json?probe`).json()
        return events.filter((event) => event.type === 'acquired').at(-1)
      })
      .toMatchObject({ protocol: 'h2', protocolSource: 'observed', limit: 100 })
    await client.pool.settle()
    const before = await (await fetch(`${h2}/__stats`, { cache: 'no-store' })).json()
    const bodies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => client.get(`${h2}/delay/100?i=${i}`).json()),
    )
    expect(bodies).toHaveLength(60)
    const after = await (await fetch(`${h2}/__stats`, { cache: 'no-store' })).json()
    expect(after.requests.h2 - before.requests.h2).toBeGreaterThanOrEqual(60)
    expect(after.peakInFlight, 'more than one wave of 6 at the server').toBeGreaterThan(6)
    expect(events.filter((event) => event.type === 'queued')).toEqual([])
    expect(client.pool.stats().origins[h2Origin]).toBeUndefined() // nothing in flight any more
  })
})
