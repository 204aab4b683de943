/**
 * An unread body cannot deadlock the next request: small bodies are taken into memory and stay
 * readable, large ones are cancelled after `reclaimAfter` when someone waits for their slot, and the
 * watchdog and FinalizationRegistry catch the rest. Real loopback server (connections are the point).
 */
import ky from 'ky'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BodyReclaimedError } from '../../src/index.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

afterEach(() => {
  vi.useRealTimers()
})

const fakeTimers = () =>
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] })

describe('under pressure (another request needs the slot)', () => {
  it('a small unread body is taken into memory: the next request completes and the body is still readable', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 1, trace: log.trace } })
    const unread = await pooled.get(`${server.url}/json?size=5000`)
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    const body = (await unread.json()) as { ok: boolean; pad: string }
    expect({ ok: body.ok, length: JSON.stringify(body).length }).toEqual({ ok: true, length: 5000 })
    expect(log.of('reclaimed')).toMatchObject([{ action: 'drained' }])
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { drained: 1, cancelled: 0 } })
  })

  it('a whole-body read that starts while the pool is taking the body in gets every byte, in order, once', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 1, trace: log.trace } })
    const unread = await pooled.get(`${server.url}/hold?tag=rest&phase=body&size=4000`)
    const queued = log.next('queued')
    const next = pooled.get(`${server.url}/json`).json()
    await queued // the relief that ran as it queued started draining `unread`, which waits for its second half
    const text = unread.text()
    server.release('rest')
    // /bytes sends the same filler as /hold, in one go.
    const expected = await (await fetch(`${server.url}/bytes?size=4000&type=text`)).text()
    expect(await text).toBe(expected)
    expect(await next).toEqual({ ok: true })
    expect(log.of('reclaimed')).toEqual([]) // the caller came before the drain finished: not taken in
    expect(log.of('settled').map((event) => event.how)).toEqual(['read', 'read'])
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { drained: 0, reclaimed: 0 } })
  })

  it('a large body left unread for reclaimAfter is cancelled when another request needs its slot', async () => {
    fakeTimers()
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 1, reclaimAfter: 50, trace: log.trace } })
    const unread = await pooled.get(`${server.url}/bytes?size=3000000`)
    const queued = log.next('queued')
    const next = pooled.get(`${server.url}/json`).json()
    await queued
    await vi.advanceTimersByTimeAsync(49)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 1, queued: 1 })
    expect(server.stats().requests).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(await next).toEqual({ ok: true })
    const error = await unread.arrayBuffer().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BodyReclaimedError)
    expect(error).toMatchObject({
      method: 'GET',
      origin: server.origin,
      reason: 'pressure',
      held: 50,
      limit: 1,
    })
    expect((error as Error).message).toContain(`GET ${server.url}/bytes?size=3000000`)
    expect((error as Error).message).toContain('another request needed what it held')
    expect(log.of('reclaimed')).toMatchObject([{ action: 'cancelled', cause: 'pressure' }])
    expect(pooled.pool.stats().totals).toMatchObject({ reclaimed: 1, cancelled: 1 })
  })

  it('a chunked body of unknown size is drained up to drainLimit, then cancelled; what was read stays readable', async () => {
    fakeTimers()
    const server = await start()
    const pooled = client({ pool: { perOrigin: 1, reclaimAfter: 50, drainLimit: 40_000 } })
    const unread = await pooled.get(`${server.url}/bytes?size=3000000&chunked=1`)
    const next = pooled.get(`${server.url}/json`).json()
    await vi.advanceTimersByTimeAsync(50)
    expect(await next).toEqual({ ok: true })
    const reader = unread.body!.getReader()
    let bytes = 0
    const error = await (async () => {
      for (;;) {
        const chunk = await reader.read()
        if (chunk.done) return undefined
        bytes += chunk.value.byteLength
      }
    })().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BodyReclaimedError)
    expect(bytes).toBeGreaterThan(40_000)
    expect(bytes).toBeLessThan(3_000_000)
  })

  it('a body its caller has started to read is never reclaimed: the next request waits for it', async () => {
    fakeTimers()
    const server = await start()
    const pooled = client({ pool: { perOrigin: 1, reclaimAfter: 50 } })
    const res = await pooled.get(`${server.url}/bytes?size=3000000`)
    const reader = res.body!.getReader()
    const first = await reader.read()
    const next = pooled.get(`${server.url}/json`).json()
    await vi.advanceTimersByTimeAsync(5000) // far past reclaimAfter (ky's own timeout is 10 s)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 1, queued: 1 })
    let bytes = first.value!.byteLength
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      bytes += chunk.value.byteLength
    expect(bytes).toBe(3_000_000)
    expect(await next).toEqual({ ok: true })
    expect(pooled.pool.stats().totals.reclaimed).toBe(0)
  })
})

describe('without pressure', () => {
  it('the watchdog outlives the last body by at most one period, then stops: no timer is left', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const server = await start()
    const pooled = client({ pool: { leakAfter: 400 } }) // the watchdog looks every 100 ms
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(vi.getTimerCount()).toBe(1) // kept across sequential requests instead of restarted for each
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(100)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('the watchdog cancels a large body left unread past leakAfter and reports the leak', async () => {
    fakeTimers()
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { leakAfter: 2000, trace: log.trace } })
    const unread = await pooled.get(`${server.url}/bytes?size=3000000`)
    await vi.advanceTimersByTimeAsync(1999)
    expect(pooled.pool.stats().inFlight).toBe(1)
    await vi.advanceTimersByTimeAsync(600) // the watchdog looks every leakAfter / 4
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { leaks: 1, cancelled: 1 } })
    expect(log.of('leaked')).toMatchObject([{ detectedBy: 'watchdog', first: true }])
    expect(log.of('reclaimed')).toMatchObject([{ action: 'cancelled', cause: 'watchdog' }])
    await expect(unread.text()).rejects.toMatchObject({ name: 'BodyReclaimedError', reason: 'watchdog' })
  })

  it('the watchdog drains a small body left unread past leakAfter; it stays readable', async () => {
    fakeTimers()
    const server = await start()
    const pooled = client({ pool: { leakAfter: 2000 } })
    const unread = await pooled.get(`${server.url}/bytes?size=1000`)
    await vi.advanceTimersByTimeAsync(2500)
    // The drain itself is real I/O: wait for it with a trace-free check of the body.
    expect(await unread.text()).toBe('x'.repeat(1000))
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { leaks: 1, drained: 1 } })
  })
})

describe('connections', () => {
  const forget = async (get: (url: string) => Promise<unknown>, url: string, count: number) => {
    for (let i = 0; i < count; i++) await get(url)
  }

  // 64 KiB: the most drainLimit takes in by default, and more than undici buffers on its own (a
  // forgotten body of 32 KB arrives whole, so even plain fetch reuses its connection).
  it('sequential code that forgets 300 bodies of 64 KiB opens at most 2 connections', async () => {
    const server = await start()
    const pooled = client()
    await forget((url) => pooled.get(url), `${server.url}/bytes?size=65536`, 300)
    expect(server.stats()).toMatchObject({ requests: 300 })
    expect(server.stats().connections).toBeLessThanOrEqual(2)
  })

  it('plain ky, for contrast, opens a connection for nearly every forgotten body', async () => {
    const server = await start()
    await forget((url) => ky.get(url, { retry: 0 }), `${server.url}/bytes?size=65536`, 300)
    expect(server.stats().connections).toBeGreaterThan(50)
  })
})

describe('garbage collection', () => {
  const gc = (globalThis as { gc?: () => void }).gc

  // vite.config.ts runs the node project with --expose-gc; without it there is no way to force a collection.
  it.skipIf(gc === undefined)(
    'a response dropped unread is found by the FinalizationRegistry: slot freed, leak reported',
    async () => {
      const server = await start()
      const log = new TraceLog()
      const pooled = client({ pool: { perOrigin: 1, trace: log.trace } })
      const leaked = log.next('leaked')
      await (async () => {
        await pooled.get(`${server.url}/bytes?size=3000000`) // dropped on the floor
      })()
      expect(pooled.pool.stats().inFlight).toBe(1)
      for (let i = 0; i < 20 && pooled.pool.stats().inFlight > 0; i++) {
        gc!()
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, totals: { leaks: 1, cancelled: 1 } })
      expect(await leaked).toMatchObject({ detectedBy: 'gc' })
    },
  )
})
