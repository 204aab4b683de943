/**
 * Per-origin and total limits, as the real server sees them (peak responses in flight), with held
 * responses released on command so that nothing depends on timing.
 */
import { describe, expect, it } from 'vitest'
import type { PooledKy } from '../../src/index.ts'
import type { LoopbackServer } from '../support/loopback-server.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()
/** Node's undici reports each connection (diagnostics_channel): a plain-http origin is seen as HTTP/1.1. */
const h1 = { protocol: 'h1', protocolSource: 'observed' } as const

/** Sends `count` held requests to `server` (tag `tag`) and returns a promise for all their bodies. */
function burst(pooled: PooledKy, url: string, count: number, tag = 't'): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => pooled.get(`${url}/hold?tag=${tag}`).text()))
}

/** Releases held responses on `server` as they arrive until `count` requests in all have been let through. */
async function releaseUntil(server: LoopbackServer, count: number, tag = 't'): Promise<void> {
  for (;;) {
    server.release(tag)
    const arrived = server.stats().requests
    if (arrived >= count) return
    await server.waitForRequests(arrived + 1)
  }
}

describe('per-origin limit', () => {
  it('never lets more than perOrigin requests reach the server at once', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 3, trace: log.trace } })
    const bodies = burst(pooled, server.url, 10)
    await server.waitForRequests(3)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 3, queued: 7 })
    expect(log.of('queued')).toHaveLength(7)
    await releaseUntil(server, 10)
    expect(await bodies).toEqual(Array(10).fill('xx'))
    expect(server.stats()).toMatchObject({ requests: 10, peakInFlight: 3 })
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, origins: {} })
  })

  it('counts every spelling of one origin against the same limit', async () => {
    const server = await start()
    const pooled = client({ pool: { perOrigin: 2 } })
    const port = server.port
    // The WHATWG parser makes all of these 127.0.0.1:port; ky-pool must count them as one origin.
    const spellings = [
      `http://127.0.0.1:${port}`,
      `HTTP://127.0.0.1:${port}`,
      `http://127.1:${port}`,
      `http://0x7f.0.0.1:${port}`,
      `http://2130706433:${port}`,
      `http://127.0.0.1.:${port}`,
    ]
    const bodies = Promise.all(spellings.map((origin) => pooled.get(`${origin}/hold?tag=t`).text()))
    await server.waitForRequests(2)
    expect(pooled.pool.stats().origins).toEqual({
      [`http://127.0.0.1:${port}`]: { inFlight: 2, queued: 4, limit: 2, ...h1 },
    })
    await releaseUntil(server, 6)
    await bodies
    expect(server.stats().peakInFlight).toBe(2)
  })

  it('origins overrides perOrigin for one origin, matched whatever its spelling', async () => {
    const [narrow, wide] = [await start(), await start()]
    const pooled = client({ pool: { perOrigin: 3, origins: { [`HTTP://127.1:${narrow.port}/`]: 1 } } })
    const bodies = Promise.all([burst(pooled, narrow.url, 4), burst(pooled, wide.url, 4)])
    await Promise.all([narrow.waitForRequests(1), wide.waitForRequests(3)])
    expect(pooled.pool.stats().origins).toEqual({
      [narrow.origin]: { inFlight: 1, queued: 3, limit: 1, ...h1 },
      [wide.origin]: { inFlight: 3, queued: 1, limit: 3, ...h1 },
    })
    await Promise.all([releaseUntil(narrow, 4), releaseUntil(wide, 4)])
    await bodies
    expect([narrow.stats().peakInFlight, wide.stats().peakInFlight]).toEqual([1, 3])
  })
})

describe('total limit', () => {
  it('never lets more than total requests be in flight over all origins', async () => {
    const [a, b] = [await start(), await start()]
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 10, total: 4, trace: log.trace } })
    const inFlight = () => a.stats().inFlight + b.stats().inFlight
    const bodies = Promise.all([burst(pooled, a.url, 6), burst(pooled, b.url, 6)])
    await a.waitForRequests(4)
    // All 12 calls have been made: 4 were sent, 8 wait in the pool, none reached b.
    expect(log.of('queued')).toHaveLength(8)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 4, queued: 8 })
    expect([inFlight(), b.stats().requests]).toEqual([4, 0])
    a.release('t')
    // Four slots come free: the two origins take turns (a, b, a, b).
    await Promise.all([a.waitForRequests(6), b.waitForRequests(2)])
    expect([inFlight(), a.stats().requests, b.stats().requests]).toEqual([4, 6, 2])
    a.release('t')
    b.release('t')
    await releaseUntil(b, 6)
    expect((await bodies).flat()).toHaveLength(12)
    expect(a.stats().peakInFlight).toBe(4)
  })

  it('shares the total fairly: a second origin is served before the first one drains its queue', async () => {
    const [busy, quiet] = [await start(), await start()]
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 10, total: 2, trace: log.trace } })
    const busyBodies = burst(pooled, busy.url, 6)
    await busy.waitForRequests(2)
    const quietQueued = log.next('queued', (event) => event.origin === quiet.origin)
    const quietBody = pooled.get(`${quiet.url}/hold?tag=t`).text()
    await quietQueued
    expect(pooled.pool.stats().queued).toBe(5)
    busy.release('t') // two slots come free: one goes to each origin, in turn
    await Promise.all([quiet.waitForRequests(1), busy.waitForRequests(3)])
    expect([busy.stats().requests, quiet.stats().requests]).toEqual([3, 1])
    quiet.release('t')
    await releaseUntil(busy, 6)
    expect(await quietBody).toBe('xx')
    expect(await busyBodies).toHaveLength(6)
  })
})
