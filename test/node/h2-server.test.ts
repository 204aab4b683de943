/**
 * The loopback TLS server (test/support/h2-server.ts) and the latency proxy (bench/support/latency-proxy.ts)
 * count what other tests assert on, so their counters are specified here: the protocol each client was served
 * over, connections opened, peak concurrency, and the round trips the proxy adds.
 */
import http2 from 'node:http2'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLatencyProxy } from '../../bench/support/latency-proxy.ts'
import { type H2Server, startH2Server } from '../support/h2-server.ts'

const get = (url: string, dispatcher: Agent) => fetch(url, { dispatcher } as RequestInit)

describe('h2-server', () => {
  let both: H2Server
  let h1: H2Server
  beforeAll(async () => {
    both = await startH2Server({ protocol: 'h1+h2' })
    h1 = await startH2Server({ protocol: 'h1' })
  })
  afterAll(async () => {
    await both.close()
    await h1.close()
  })

  it('serves an allowH2 client over h2 and a plain undici Agent over http/1.1, and counts each', async () => {
    await both.reset()
    const h2Agent = new Agent({ allowH2: true, connect: { ca: both.ca } })
    const h1Agent = new Agent({ connect: { ca: both.ca } })
    try {
      const over2 = await get(`${both.url}/json`, h2Agent)
      const over1 = await get(`${both.url}/json`, h1Agent)
      expect(await over2.json()).toEqual({ ok: true })
      expect(await over1.json()).toEqual({ ok: true })
      expect(over2.headers.get('x-protocol')).toBe('h2')
      expect(over1.headers.get('x-protocol')).toBe('http/1.1')
      const stats = both.stats()
      expect(stats.requests).toEqual({ total: 2, h1: 1, h2: 1 })
      expect(stats.connections).toEqual({ total: 2, h1: 1, h2: 1 })
      expect(stats.sessions).toBe(1)
    } finally {
      await h2Agent.destroy()
      await h1Agent.destroy()
    }
  })

  it("the 'h1' server offers only http/1.1, even to a client that asks for h2", async () => {
    await h1.reset()
    const agent = new Agent({ allowH2: true, connect: { ca: h1.ca } })
    try {
      const response = await get(`${h1.url}/delay/1`, agent)
      await response.json()
      expect(response.headers.get('x-protocol')).toBe('http/1.1')
      expect(h1.stats().requests).toEqual({ total: 1, h1: 1, h2: 0 })
    } finally {
      await agent.destroy()
    }
  })

  it('counts streams one h2 session carries at once, and sends a slow body in timed chunks', async () => {
    await both.reset()
    // node:http2's own client: one session for every stream (a cold undici allowH2 pool would open one
    // session per concurrent request, undici#4143).
    const session = http2.connect(both.url, { ca: both.ca })
    try {
      const started = performance.now()
      const sizes = await Promise.all(
        Array.from(
          { length: 5 },
          (_, i) =>
            new Promise<number>((done, fail) => {
              const stream = session.request({ ':path': `/bytes/3000?chunks=3&every=20&i=${i}` })
              let size = 0
              stream.on('data', (chunk: Buffer) => {
                size += chunk.length
              })
              stream.on('end', () => done(size))
              stream.on('error', fail)
            }),
        ),
      )
      expect(sizes).toEqual([3000, 3000, 3000, 3000, 3000])
      expect(performance.now() - started).toBeGreaterThanOrEqual(55)
      const stats = both.stats()
      expect(stats.peakInFlight).toBe(5)
      expect(stats.peakStreamsPerSession).toBe(5)
      expect(stats.sessions).toBe(1)
      expect(stats.requests).toEqual({ total: 5, h1: 0, h2: 5 })
    } finally {
      session.close()
    }
  })
})

describe('latency-proxy', () => {
  it('adds about 3 RTT to a cold TLS request (TCP, TLS 1.3, request) and 1 RTT to a warm one', async () => {
    const server = await startH2Server({ protocol: 'h1' })
    const proxy = await startLatencyProxy({ target: server.url, rtt: 40 })
    const agent = new Agent({ connect: { ca: server.ca }, connections: 1 })
    try {
      const timed = async () => {
        const started = performance.now()
        await (await get(`${proxy.url}/json`, agent)).json()
        return performance.now() - started
      }
      const cold = await timed()
      const warm = await timed()
      // Lower bounds are the proxy's own delays; upper bounds only tell "a new handshake" (≥ 3 RTT) from
      // "reused" (< 2 RTT), with room for a loaded machine.
      expect(cold).toBeGreaterThanOrEqual(3 * 40 - 5)
      expect(cold).toBeLessThan(5 * 40)
      expect(warm).toBeGreaterThanOrEqual(40 - 2)
      expect(warm).toBeLessThan(2 * 40)
      expect(server.stats().connections.total).toBe(1)
    } finally {
      await agent.destroy()
      await proxy.close()
      await server.close()
    }
  })
})
