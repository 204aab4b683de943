/**
 * `await using res = await client.get(url)` settles the body on scope exit, like Go's
 * `defer resp.Body.Close()`: a small body is drained (its connection can be reused), a large one is
 * cancelled, and either way the slot is free and nothing is reported as a leak.
 */
import { describe, expect, it } from 'vitest'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

function setup() {
  const log = new TraceLog()
  const pooled = client({ pool: { perOrigin: 1, leaks: 'strict', trace: log.trace } })
  return { log, pooled }
}

describe('await using', () => {
  it('cancels a 2 MB body (more than drainLimit) left unread when the scope ends, freeing the slot', async () => {
    const server = await start()
    const { log, pooled } = setup()
    {
      await using res = await pooled.get(`${server.url}/bytes?size=2000000`)
      expect(res.status).toBe(200)
      expect(pooled.pool.stats().inFlight).toBe(1)
    }
    expect(pooled.pool.stats().inFlight).toBe(0)
    expect(log.of('settled')).toMatchObject([{ how: 'cancelled' }])
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })

  it('drains a small body left unread when the scope ends, so its connection is reused', async () => {
    const server = await start()
    const { log, pooled } = setup()
    let connection: string | null
    {
      await using res = await pooled.get(`${server.url}/bytes?size=2000`)
      connection = res.headers.get('x-connection-id')
    }
    expect(log.of('settled')).toMatchObject([{ how: 'drained', bytes: 2000 }])
    expect(pooled.pool.stats().inFlight).toBe(0)
    // undici hands the socket back one turn after the body ended.
    await new Promise((resolve) => setImmediate(resolve))
    const next = await pooled.get(`${server.url}/json`)
    expect(next.headers.get('x-connection-id')).toBe(connection)
    await next.body?.cancel()
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })

  it('does nothing more to a body that was read inside the scope', async () => {
    const server = await start()
    const { log, pooled } = setup()
    {
      await using res = await pooled.get(`${server.url}/json`)
      expect(await res.json()).toEqual({ ok: true })
    }
    expect(log.of('settled')).toMatchObject([{ how: 'read' }])
  })

  it('settles the body when the scope is left by an exception', async () => {
    const server = await start()
    const { pooled } = setup()
    const failing = async () => {
      await using res = await pooled.get(`${server.url}/bytes?size=2000000`)
      if (res.ok) throw new Error('parse failed')
    }
    await expect(failing()).rejects.toThrow('parse failed')
    expect(pooled.pool.stats().inFlight).toBe(0)
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })

  it('works for responses without a body (HEAD)', async () => {
    const server = await start()
    const { pooled } = setup()
    {
      await using res = await pooled.head(`${server.url}/bytes?size=10`)
      expect(res.headers.get('content-length')).toBe('10')
    }
    expect(pooled.pool.stats().inFlight).toBe(0)
  })

  it('disposing a clone cancels only that branch; the original can still be read', async () => {
    const server = await start()
    const { pooled } = setup()
    const res = await pooled.get(`${server.url}/bytes?size=1000`)
    {
      await using copy = res.clone()
      expect(copy.status).toBe(200)
    }
    expect(await res.text()).toBe('x'.repeat(1000))
    expect(pooled.pool.stats().inFlight).toBe(0)
  })

  it('disposing both the original and its clone cancels the body and frees the slot', async () => {
    const server = await start()
    const { log, pooled } = setup()
    const res = await pooled.get(`${server.url}/bytes?size=2000000`)
    {
      await using copy = res.clone()
      await using original = res
      expect([copy.status, original.status]).toEqual([200, 200])
    }
    expect(pooled.pool.stats().inFlight).toBe(0)
    expect(log.of('settled')).toMatchObject([{ how: 'cancelled' }])
  })
})
