/**
 * Redirects are followed hop by hop, each hop in a slot of its own origin (issue 11), with fetch's own
 * rules; against real loopback servers, so the limits are seen where they matter: at the server.
 */
import { describe, expect, it } from 'vitest'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

describe('redirects', () => {
  it("a redirect to another origin is counted against that origin's limit: B never sees more than its 2", async () => {
    const [a, b] = await Promise.all([start(), start()])
    const pooled = client({ pool: { perOrigin: 2, origins: { [a.origin]: 10 } } })
    const viaA = Array.from({ length: 10 }, (_, i) =>
      pooled.get(`${a.url}/redirect-to?url=${encodeURIComponent(`${b.url}/delay?ms=30&a=${i}`)}`).text(),
    )
    const direct = Array.from({ length: 10 }, (_, i) => pooled.get(`${b.url}/delay?ms=30&b=${i}`).text())
    const bodies = await Promise.all([...viaA, ...direct])
    expect(bodies).toHaveLength(20)
    expect(b.stats().requests).toBe(20)
    expect(b.stats().peakInFlight, "B's limit held for redirected requests too").toBe(2)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, totals: { requests: 30 } })
  })

  it('the final response has redirected and the final url; every hop is traced as a request of its own', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { trace: log.trace } })
    const res = await pooled.get(`${server.url}/redirect?n=2`)
    expect([res.status, res.redirected, res.url]).toEqual([200, true, `${server.url}/redirect?n=0`])
    expect(await res.json()).toEqual({ ok: true, redirected: true })
    expect(log.of('headers').map((event) => event.status)).toEqual([302, 302, 200])
    expect(log.of('settled')).toHaveLength(3)
  })

  it.each([
    [303, 'PUT', 'GET', ''],
    [302, 'POST', 'GET', ''],
    [301, 'POST', 'GET', ''],
    [307, 'POST', 'POST', 'payload'],
    [308, 'PUT', 'PUT', 'payload'],
  ])(
    "%i after a %s is sent again as %s, with body %o (fetch's rules)",
    async (status, method, after, body) => {
      const server = await start()
      const pooled = client()
      const target = encodeURIComponent(`${server.url}/echo`)
      const echoed = await pooled(`${server.url}/redirect-to?status=${status}&url=${target}`, {
        method,
        body: 'payload',
        headers: { 'content-type': 'text/plain' },
      }).json<{ method: string; body: string; headers: Record<string, string> }>()
      expect([echoed.method, echoed.body]).toEqual([after, body])
      expect(echoed.headers['content-type']).toBe(after === 'GET' ? undefined : 'text/plain')
    },
  )

  it('Authorization crosses a redirect within the origin and is dropped across origins', async () => {
    const [a, b] = await Promise.all([start(), start()])
    const pooled = client({ headers: { authorization: 'Bearer secret' } })
    type Echo = { headers: Record<string, string> }
    const same = await pooled
      .get(`${a.url}/redirect-to?url=${encodeURIComponent(`${a.url}/echo`)}`)
      .json<Echo>()
    const other = await pooled
      .get(`${a.url}/redirect-to?url=${encodeURIComponent(`${b.url}/echo`)}`)
      .json<Echo>()
    expect(same.headers.authorization).toBe('Bearer secret')
    expect(other.headers.authorization).toBeUndefined()
  })

  it('more than 20 redirects fail as fetch fails (a network error to ky), and every slot is given back', async () => {
    const server = await start()
    const pooled = client()
    const error = await pooled.get(`${server.url}/redirect-loop`).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'NetworkError' })
    expect(server.stats().requests).toBe(21)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })

  it("redirect: 'manual' is the caller's: the 3xx comes back as is, in one slot", async () => {
    const server = await start()
    const pooled = client()
    const res = await pooled.get(`${server.url}/redirect?n=1`, { redirect: 'manual', throwHttpErrors: false })
    expect([res.status, res.headers.get('location'), res.redirected]).toEqual([302, '/redirect?n=0', false])
    await res.body?.cancel()
    expect(pooled.pool.stats().totals.requests).toBe(1)
  })

  it("the request body's copy kept for a 307/308 is cancelled when fetch fails: cancelling the request's body reaches its source (ky's suite: streaming body is canceled once when retry.limit is 0 and fetch throws)", async () => {
    let cancelled = 0
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('cancel me'))
      },
      cancel() {
        cancelled++
      },
    })
    const failure = new Error('fetch failed')
    const pooled = client()
    const sent = pooled.post('https://example.com/upload', {
      body: stream,
      duplex: 'half',
      fetch: async () => {
        throw failure
      },
    } as Parameters<typeof pooled.post>[1])
    await expect(sent).rejects.toBe(failure)
    // ky cancels the request's body once fetch failed; with the pool's spare copy left uncancelled, the
    // tee never reaches the source.
    expect(cancelled).toBe(1)
  })
})
