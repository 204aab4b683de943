/**
 * The fault matrix (test/support/fault-cells.ts): each row makes one thing go wrong through ky-pool with
 * perOrigin 1 on a real loopback server — a refused connection, a failed DNS lookup, a connection closed
 * before headers, slow headers, a reset or a stall mid-body, 429 and 503 answers that ky retries, a 100 MB
 * body abandoned, an endless body, a redirect loop, aborts in every phase, a queue timeout, ky's
 * totalTimeout, a custom fetch that misbehaves. Every row asserts that the caller gets the right typed error
 * (or result), that `pool.stats()` is back to 0 in flight and 0 queued, that the next request to the origin
 * succeeds, that no timer (ky-pool's or ky's, ref'd or not) and no socket is left behind, and that nothing
 * was rejected unhandled.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createClient } from '../../src/index.ts'
import { cells, runCell, timerTracker } from '../support/fault-cells.ts'
import { startServer } from '../support/loopback-server.ts'

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
const timers = timerTracker()

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled)
  timers.enable()
})
afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
  timers.disable()
})
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve)) // unhandled rejections are reported a turn later
  expect(unhandled, 'unhandled rejections').toEqual([])
})

describe('under faults, with perOrigin 1', () => {
  it.each(cells.map((cell) => [cell.name, cell] as const))('%s', async (_name, cell) => {
    await runCell(cell, { timers })
  })
})

describe('a trace callback that throws', () => {
  it('does not stop the request or hold its slot; the error is logged once', async () => {
    const server = await startServer()
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const client = createClient({
        retry: 0,
        pool: {
          perOrigin: 1,
          trace: () => {
            throw new Error('observer bug')
          },
        },
      })
      expect(await client.get(`${server.url}/json`).json()).toEqual({ ok: true })
      expect(await client.get(`${server.url}/json`).json()).toEqual({ ok: true })
      expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
      expect(logged).toHaveBeenCalledTimes(1)
    } finally {
      logged.mockRestore()
      await server.close()
    }
  })
})
