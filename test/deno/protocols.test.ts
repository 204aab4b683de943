/**
 * Slots follow the protocol in Deno (issue 14), against a real TLS HTTP/2 server on loopback (a Node child
 * process, test/support/h2-server.ts). Deno speaks h2 through ALPN by itself but no API tells which protocol
 * a fetch used, so ky-pool cannot observe it: an origin stays at the unknown default (6) unless declared.
 */
import assert from 'node:assert/strict'
import { createClient, type PooledKy, type PoolOptions, type TraceEvent } from '../../src/index.ts'
import { spawnH2Server } from '../support/h2-server.ts'

// Started outside the tests, so the child process is not a resource any test opened.
const server = await spawnH2Server({ protocol: 'h2' })
const origin = new URL(server.url).origin
globalThis.addEventListener('unload', () => void server.close())

/** A client with a connection pool of its own (cold for each test) that trusts the test CA; `close()` frees it. */
function clientFor(pool: PoolOptions = {}) {
  const http = Deno.createHttpClient({ caCerts: [server.ca] })
  const client: PooledKy = createClient({
    retry: 0,
    pool: { leaks: 'strict', ...pool },
    fetch: (input, init) => fetch(input, { ...init, client: http } as RequestInit),
  })
  return {
    client,
    async close() {
      await client.pool.settle()
      http.close()
    },
  }
}

const burst = (client: PooledKy, n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => client.get(`${server.url}/delay/50?i=${i}`).json()))

Deno.test({
  name: 'an h2 origin Deno cannot report stays unknown: 6 at a time, as for HTTP/1.1',
  sanitizeResources: true,
  async fn() {
    await server.reset(0)
    const { client, close } = clientFor()
    try {
      await burst(client, 20)
      const seen = await server.stats()
      assert.equal(seen.requests.h2, 20, 'Deno spoke h2')
      assert.equal(seen.peakInFlight, 6)
      const held = await client.get(`${server.url}/json`)
      assert.deepEqual(client.pool.stats().origins[origin], {
        inFlight: 1,
        queued: 0,
        limit: 6,
        protocol: 'unknown',
        protocolSource: 'default',
      })
      await held.json()
    } finally {
      await close()
    }
  },
})

Deno.test({
  name: 'declared h2: 100 per origin, so 20 concurrent requests reach the server together, and nothing leaks',
  sanitizeResources: true,
  async fn() {
    await server.reset(0)
    const { client, close } = clientFor({ origins: { [origin]: { protocol: 'h2' } } })
    try {
      await burst(client, 20)
      const seen = await server.stats()
      assert.equal(seen.requests.h2, 20)
      assert.equal(seen.peakInFlight, 20)
      const held = await client.get(`${server.url}/json`)
      assert.deepEqual(client.pool.stats().origins[origin], {
        inFlight: 1,
        queued: 0,
        limit: 100,
        protocol: 'h2',
        protocolSource: 'declared',
      })
      await held.json()
      assert.deepEqual(await client.pool.settle(), [])
    } finally {
      await close()
    }
  },
})

Deno.test({
  name: 'unread bodies filling an h2 window are reclaimed (cancelled after reclaimAfter), so the next request does not stall until the watchdog',
  sanitizeResources: true,
  async fn() {
    await server.reset(0)
    const events: TraceEvent[] = []
    const { client, close } = clientFor({
      reclaimAfter: 50,
      leaks: 'silent',
      trace: (event) => events.push(event),
    })
    try {
      const unread = []
      // 6 × 2 MiB, never read: in Deno they share the connection's flow-control window, which fills.
      for (let i = 0; i < 6; i++)
        unread.push(await client.get(`${server.url}/bytes/${2 * 1024 * 1024}?i=${i}`))
      assert.deepEqual(await client.get(`${server.url}/json`).json(), { ok: true })
      const reclaimed = events.filter((event) => event.type === 'reclaimed')
      assert.ok(reclaimed.length > 0, 'some were reclaimed')
      assert.ok(reclaimed.every((event) => event.action === 'cancelled' && event.cause === 'pressure'))
      for (const res of unread) await res.body?.cancel()
    } finally {
      await close()
    }
  },
})
