/**
 * The real fetch is looked up at call time (`globalThis.fetch`), so msw and other interceptors that are
 * installed after the client was created still see every request, and the pool's limits still apply.
 */
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../../src/index.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start } = harness()
const api = 'https://api.example.test'
const closers: (() => void)[] = []

afterEach(() => {
  for (const close of closers.splice(0)) close()
})

/** Starts msw with `handlers`; returns an idempotent `close` (also called after the test). */
function mock(...handlers: Parameters<typeof setupServer>): { close: () => void } {
  const mocks = setupServer(...handlers)
  mocks.listen({ onUnhandledFrame: 'error' })
  let open = true
  const close = () => {
    if (open) mocks.close()
    open = false
  }
  closers.push(close)
  return { close }
}

describe('interceptors installed after the client', () => {
  it('msw set up after createClient intercepts the pooled requests', async () => {
    const pooled = createClient({ retry: 0, pool: { leaks: 'strict' } })
    mock(http.get(`${api}/hello`, () => HttpResponse.json({ mocked: true })))
    expect(await pooled.get(`${api}/hello`).json()).toEqual({ mocked: true })
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })

  it('after msw is closed, the same client reaches the real network again', async () => {
    const server = await start()
    const pooled = createClient({ retry: 0 })
    const mocks = mock(http.get(`${server.url}/json`, () => HttpResponse.json({ mocked: true })))
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ mocked: true })
    mocks.close()
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(server.stats().requests).toBe(1)
  })

  it('the limits apply to intercepted requests: with perOrigin 1 the second waits for the first body', async () => {
    const log = new TraceLog()
    const pooled = createClient({ retry: 0, pool: { perOrigin: 1, drainLimit: 0, trace: log.trace } })
    let handled = 0
    mock(http.get(`${api}/n`, () => HttpResponse.json({ n: ++handled })))
    const first = await pooled.get(`${api}/n`)
    const queued = log.next('queued')
    const second = pooled.get(`${api}/n`).json()
    await queued
    expect(handled).toBe(1)
    expect(await first.json()).toEqual({ n: 1 })
    expect(await second).toEqual({ n: 2 })
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })
})
