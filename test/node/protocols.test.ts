/**
 * Slots follow the protocol (issue 14), in Node against a real TLS server on loopback: HTTP/2 through an
 * undici dispatcher with `allowH2`, HTTP/1.1 over TLS through the same kind of dispatcher. ky-pool learns the
 * protocol from undici's `undici:client:connected` diagnostics channel, or from `pool.origins`.
 */
import { Agent } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient, PoolConfigError, type PooledKy, type TraceEvent } from '../../src/index.ts'
import { type H2Server, type ServerProtocol, startH2Server } from '../support/h2-server.ts'

const opened: { server: H2Server; agent: Agent; client?: PooledKy }[] = []
afterEach(async () => {
  for (const { server, agent, client } of opened.splice(0)) {
    await client?.pool.settle()
    await agent.close()
    await server.close()
  }
})

/** A server speaking `protocol`, and a client whose fetch goes through an undici Agent that may speak h2. */
async function setup(protocol: ServerProtocol, pool: Parameters<typeof createClient>[0] = {}) {
  const server = await startH2Server({ protocol })
  const agent = new Agent({ allowH2: true, connect: { ca: server.ca } })
  const events: TraceEvent[] = []
  const client = createClient({
    retry: 0,
    ...pool,
    pool: { leaks: 'strict', trace: (event) => events.push(event), ...pool.pool },
    fetch: (input, init) => fetch(input, { ...init, dispatcher: agent } as RequestInit),
  })
  opened.push({ server, agent, client })
  return { server, client, events, origin: new URL(server.url).origin }
}

/** `n` concurrent GETs that the server holds `ms` each (long enough for every TLS handshake on a busy machine). */
const burst = (client: PooledKy, url: string, n: number, ms = 40) =>
  Promise.all(Array.from({ length: n }, (_, i) => client.get(`${url}/delay/${ms}?i=${i}`).json()))

describe('the protocol is learned and the limit follows it', () => {
  it('an origin seen over HTTP/2 gets 100 per origin; the first wave, while it was unknown, stayed at 6', async () => {
    const { server, client, events, origin } = await setup('h2')
    const bodies = await burst(client, server.url, 60)
    expect(bodies).toHaveLength(60)
    expect(server.stats().requests).toMatchObject({ total: 60, h2: 60 })
    const acquired = events.filter((event) => event.type === 'acquired')
    // Acquired before undici's first connection event: the protocol was unknown, so no more than 6.
    const early = acquired.filter((event) => event.protocol === 'unknown')
    expect(early.length).toBeLessThanOrEqual(6)
    expect(early.every((event) => event.limit === 6)).toBe(true)
    expect(acquired.at(-1)).toMatchObject({ protocol: 'h2', protocolSource: 'observed', limit: 100 })
    // Not waves of 6: once h2 was seen, the queued rest went at once (how many the server saw together then
    // depends on undici, which opens a session per request on a cold pool: undici#4143).
    expect(server.stats().peakInFlight).toBeGreaterThan(6)
    const held = await client.get(`${server.url}/json`)
    expect(client.pool.stats().origins[origin]).toEqual({
      inFlight: 1,
      queued: 0,
      limit: 100,
      protocol: 'h2',
      protocolSource: 'observed',
    })
    await held.json()
  })

  it('an origin seen over HTTP/1.1 (TLS, ALPN http/1.1) keeps 6: ky-pool is the only cap in Node', async () => {
    const { server, client, origin } = await setup('h1')
    await burst(client, server.url, 20)
    expect(server.stats().requests).toMatchObject({ total: 20, h1: 20 })
    expect(server.stats().peakInFlight).toBe(6)
    const held = await client.get(`${server.url}/json`)
    expect(client.pool.stats().origins[origin]).toMatchObject({
      limit: 6,
      protocol: 'h1',
      protocolSource: 'observed',
    })
    await held.json()
  })

  it('a declared protocol sets the limit before any connection, and wins over what is observed', async () => {
    const server = await startH2Server({ protocol: 'h1' })
    const agent = new Agent({ connect: { ca: server.ca } })
    const origin = new URL(server.url).origin
    const client = createClient({
      retry: 0,
      pool: { leaks: 'strict', origins: { [origin]: { protocol: 'h2' } } },
      fetch: (input, init) => fetch(input, { ...init, dispatcher: agent } as RequestInit),
    })
    opened.push({ server, agent, client })
    await burst(client, server.url, 10, 500)
    expect(server.stats().peakInFlight, 'declared h2: all 10 at once').toBe(10)
    const held = await client.get(`${server.url}/json`)
    expect(client.pool.stats().origins[origin]).toMatchObject({
      limit: 100,
      protocol: 'h2',
      protocolSource: 'declared',
    })
    await held.json()
  })

  it("the caller's explicit limits win over the protocol's default", async () => {
    const { server, client } = await setup('h2', { pool: { perOrigin: 3 } })
    await burst(client, server.url, 12)
    expect(server.stats().peakInFlight).toBe(3)
  })
})

describe('reclaim follows the protocol', () => {
  it('on HTTP/2, unread bodies past the shared window budget (4 MiB) are reclaimed although no request queues', async () => {
    const { server, client, events } = await setup('h2', { pool: { reclaimAfter: 30, leaks: 'silent' } })
    await client.get(`${server.url}/json`).json() // the connection, and with it the protocol, is known
    const unread = []
    for (let i = 0; i < 3; i++) unread.push(await client.get(`${server.url}/bytes/${2 * 1024 * 1024}?i=${i}`))
    expect(events.some((event) => event.type === 'queued')).toBe(false)
    // The third 2 MiB body took the unread bytes past the budget: the oldest is cancelled after reclaimAfter.
    expect(await client.get(`${server.url}/json`).json()).toMatchObject({ ok: true })
    await expect
      .poll(() =>
        events.filter((event) => event.type === 'reclaimed').map((event) => [event.action, event.cause]),
      )
      .toEqual([['cancelled', 'pressure']])
    await expect(unread[0]!.arrayBuffer()).rejects.toMatchObject({
      name: 'BodyReclaimedError',
      reason: 'pressure',
    })
    for (const res of unread.slice(1)) await res.body?.cancel()
  })
})

describe('bad input', () => {
  it.each([
    [
      { 'https://a.example': { protocol: 'h4' } },
      "pool.origins[\"https://a.example\"].protocol must be 'h1', 'h2' or 'h3'",
    ],
    [
      { 'https://a.example': { limit: 0 } },
      'pool.origins["https://a.example"].limit must be a whole number >= 1 or Infinity',
    ],
    [{ 'https://a.example': { limit: Number.NaN } }, 'pool.origins["https://a.example"].limit must be'],
    [
      { 'https://a.example': { speed: 'fast' } },
      'pool.origins["https://a.example"].speed must be limit or protocol',
    ],
  ])('%o is refused with a PoolConfigError naming the option', (origins, message) => {
    expect(() => createClient({ pool: { origins: origins as never } })).toThrow(PoolConfigError)
    expect(() => createClient({ pool: { origins: origins as never } })).toThrow(message)
  })
})
