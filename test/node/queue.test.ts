/**
 * The queue, through the client: priority then FIFO, abort while queued, queueTimeout and maxQueue,
 * each with its own error, and stats back to zero afterwards.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { QueueFullError, QueueTimeoutError } from '../../src/index.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

afterEach(() => {
  vi.useRealTimers()
})

/** A client with one slot per origin, already taken by a held request; `free()` lets it finish. */
async function busyOrigin(options: { maxQueue?: number; queueTimeout?: number } = {}) {
  const server = await start()
  const log = new TraceLog()
  const pooled = client({ pool: { perOrigin: 1, ...options, trace: log.trace } })
  const holder = pooled.get(`${server.url}/hold?tag=holder`).text()
  await server.waitForRequests(1)
  const free = async () => {
    server.release('holder')
    await holder
  }
  return { server, log, pooled, free }
}

describe('order', () => {
  it('sends queued requests by priority, then in the order they were made', async () => {
    const { server, log, pooled, free } = await busyOrigin()
    const requests = [
      ['low-1', -1],
      ['normal-1', 0],
      ['high-1', 5],
      ['normal-2', 0],
      ['high-2', 5],
      ['low-2', -1],
      ['normal-3', 0],
    ] as const
    const bodies = requests.map(([name, priority]) =>
      pooled.get(`${server.url}/json?name=${name}`, { pool: { priority } }).json(),
    )
    await log.until('queued', requests.length)
    await free()
    await Promise.all(bodies)
    const sent = log
      .of('acquired')
      .map((event) => new URL(event.url).searchParams.get('name'))
      .filter((name) => name !== null)
    expect(sent).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'normal-3', 'low-1', 'low-2'])
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })
})

describe('leaving the queue', () => {
  it('aborting a queued request rejects it at once with the signal reason, and it is never sent', async () => {
    const { server, log, pooled, free } = await busyOrigin()
    const controller = new AbortController()
    const queued = log.next('queued')
    const aborted = pooled.get(`${server.url}/json?never`, { signal: controller.signal })
    await queued
    const reason = new Error('user navigated away')
    controller.abort(reason)
    await expect(aborted).rejects.toBe(reason) // while the slot is still taken
    expect(pooled.pool.stats()).toMatchObject({ queued: 0, inFlight: 1 })
    expect(log.of('rejected')).toMatchObject([{ reason: 'aborted' }])
    await free()
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(server.stats().requests).toBe(2) // the holder and the last one; never the aborted one
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, totals: { aborted: 1 } })
  })

  it('a request queued past queueTimeout fails with a QueueTimeoutError that explains itself', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    })
    const { server, log, pooled, free } = await busyOrigin({ queueTimeout: 30_000 })
    const queued = log.next('queued')
    const late = pooled
      .get(`${server.url}/json?token=secret`, { pool: { queueTimeout: 250 } })
      .catch((error: unknown) => error)
    await queued
    await vi.advanceTimersByTimeAsync(249)
    expect(pooled.pool.stats().queued).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    const error = await late
    expect(error).toBeInstanceOf(QueueTimeoutError)
    expect(error).toMatchObject({ method: 'GET', origin: server.origin, limit: 1, waited: 250 })
    const { message } = error as QueueTimeoutError
    for (const part of [
      'GET',
      `${server.url}/json?token=`,
      server.origin,
      'limit 1',
      'waited 250 ms',
      '250 ms',
    ])
      expect(message).toContain(part)
    expect(message).not.toContain('secret')
    expect(pooled.pool.stats()).toMatchObject({ queued: 0, totals: { queueTimeouts: 1 } })
    vi.useRealTimers()
    await free()
    expect(server.stats().requests).toBe(1)
  })

  it('when the total cap is the bottleneck, QueueTimeoutError names the total limit', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    })
    const [busy, other] = [await start(), await start()]
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 10, total: 1, queueTimeout: 100, trace: log.trace } })
    const holder = pooled.get(`${busy.url}/hold?tag=h`).text()
    await busy.waitForRequests(1)
    const queued = log.next('queued')
    const late = pooled.get(`${other.url}/json`).catch((error: unknown) => error)
    await queued
    await vi.advanceTimersByTimeAsync(100)
    const error = await late
    expect(error).toMatchObject({ name: 'QueueTimeoutError', origin: other.origin, limit: 1 })
    expect((error as Error).message).toContain('(limit 1 in flight)')
    vi.useRealTimers()
    busy.release('h')
    await holder
  })

  it('the client-wide queueTimeout applies when the request sets none', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    })
    const { server, log, pooled, free } = await busyOrigin({ queueTimeout: 500 })
    const queued = log.next('queued')
    const late = pooled.get(`${server.url}/json`).catch((error: unknown) => error)
    await queued
    await vi.advanceTimersByTimeAsync(500)
    expect(await late).toMatchObject({ name: 'QueueTimeoutError', queueTimeout: 500, waited: 500 })
    vi.useRealTimers()
    await free()
  })

  it('a request beyond maxQueue is refused at once with a QueueFullError', async () => {
    const { server, log, pooled, free } = await busyOrigin({ maxQueue: 2 })
    const waiting = [1, 2].map(() => pooled.get(`${server.url}/json`).json())
    await log.until('queued', 2)
    const error = await pooled.get(`${server.url}/json?third`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(QueueFullError)
    expect(error).toMatchObject({ method: 'GET', origin: server.origin, limit: 1, maxQueue: 2, waited: 0 })
    expect((error as Error).message).toMatch(
      /already has 2 requests queued \(pool\.maxQueue\) behind 1 in flight/,
    )
    expect(log.of('rejected')).toMatchObject([{ reason: 'queue-full' }])
    await free()
    expect(await Promise.all(waiting)).toEqual([{ ok: true }, { ok: true }])
    expect(server.stats().requests).toBe(3)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, totals: { queueFull: 1 } })
  })
})
