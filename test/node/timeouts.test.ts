/**
 * ky's `timeout` counts the time a request waits in ky-pool's queue, so the default `queueTimeout` sits just
 * under it: a request that only ever waited for a slot says so (issue 11, defaults that work together).
 */
import { describe, expect, it } from 'vitest'
import { createClient, QueueTimeoutError } from '../../src/index.ts'
import { harness } from '../support/pool-harness.ts'

const { start, client } = harness()

describe('queueTimeout and ky timeout', () => {
  it("defaults to a little under ky's timeout (10 s by default: 9.9 s), and an explicit queueTimeout wins", () => {
    expect(createClient().pool.options.queueTimeout).toBe(9_900)
    expect(createClient({ timeout: 60_000 }).pool.options.queueTimeout).toBe(30_000)
    expect(createClient({ timeout: false }).pool.options.queueTimeout).toBe(30_000)
    expect(createClient({ timeout: 500, pool: { queueTimeout: 2_000 } }).pool.options.queueTimeout).toBe(
      2_000,
    )
  })

  it("a request that waited in the queue until ky's timeout fails with QueueTimeoutError, not a bare TimeoutError", async () => {
    const server = await start()
    const pooled = client({ timeout: 200, pool: { perOrigin: 1 } })
    // Headers at once, the body held: the slot stays taken, and a body being read is never reclaimed.
    const holder = await pooled.get(`${server.url}/hold?tag=holder&phase=body&size=64`)
    const reading = holder.text()
    const error = await pooled.get(`${server.url}/json`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(QueueTimeoutError)
    expect((error as QueueTimeoutError).message).toMatch(/waited \d+ ms for a slot/)
    expect(pooled.pool.stats().totals).toMatchObject({ queueTimeouts: 1, aborted: 0 })
    server.release('holder')
    await reading
  })

  it('a per-call or extend() timeout is honoured the same way: QueueTimeoutError, not a bare TimeoutError', async () => {
    const server = await start()
    const pooled = client({ pool: { perOrigin: 1 } }) // the client's own timeout: ky's 10 s
    const holder = await pooled.get(`${server.url}/hold?tag=holder&phase=body&size=64`)
    const reading = holder.text()
    const perCall = await pooled.get(`${server.url}/json`, { timeout: 200 }).catch((e: unknown) => e)
    const extended = await pooled
      .extend({ timeout: 200 })
      .get(`${server.url}/json`)
      .catch((e: unknown) => e)
    expect([perCall, extended].map((error) => (error as Error).name)).toEqual([
      'QueueTimeoutError',
      'QueueTimeoutError',
    ])
    expect(pooled.pool.stats().totals).toMatchObject({ queueTimeouts: 2, aborted: 0 })
    server.release('holder')
    await reading
  })
})
