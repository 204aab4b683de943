/**
 * Trace events name each moment of a request (queued → acquired → headers → settled, plus reclaimed,
 * leaked, rejected, retry), in that order; and nothing ky-pool emits, throws or reports carries
 * credentials.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { redactUrl, type TraceEvent } from '../../src/index.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

const of = (events: TraceEvent[], id: number) => events.filter((event) => event.id === id)

describe('lifecycle events', () => {
  it('one request that had to wait: queued, acquired, headers, settled, in that order', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { perOrigin: 1, trace: log.trace } })
    const holder = pooled.get(`${server.url}/hold?tag=h`).text()
    await server.waitForRequests(1)
    const waiting = pooled.get(`${server.url}/bytes?size=5000`).text()
    await log.next('queued')
    server.release('h')
    await Promise.all([holder, waiting])
    const [first, second] = [of(log.events, 1), of(log.events, 2)]
    expect(first.map((event) => event.type)).toEqual(['acquired', 'headers', 'settled'])
    expect(second.map((event) => event.type)).toEqual(['queued', 'acquired', 'headers', 'settled'])
    const [queued, acquired, headers, settled] = second
    expect(queued).toMatchObject({ method: 'GET', origin: server.origin, priority: 0, queued: 1, limit: 1 })
    expect(acquired).toMatchObject({ url: `${server.url}/bytes?size=5000` })
    expect((acquired as { waited: number }).waited).toBeGreaterThan(0)
    expect(headers).toMatchObject({ status: 200 })
    expect(settled).toMatchObject({ how: 'read', bytes: 5000, status: 200 })
    const times = second.map((event) => event.at)
    expect([...times].sort((a, b) => a - b)).toEqual(times)
    // The second request was acquired only after the first one settled.
    expect(first[2]!.at).toBeLessThanOrEqual(acquired!.at)
  })

  it('a fetch that fails before headers: acquired then settled as errored, with no status', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { trace: log.trace } })
    await expect(pooled.get(`${server.url}/close-before-headers`)).rejects.toThrow()
    expect(log.events.map((event) => event.type)).toEqual(['acquired', 'settled'])
    expect(log.events[1]).toMatchObject({ how: 'errored', bytes: 0, status: undefined })
  })

  it('a trace callback that throws is reported once and does not break requests', async () => {
    const server = await start()
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const pooled = client({
      pool: {
        trace: () => {
          throw new Error('broken tracer')
        },
      },
    })
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(error).toHaveBeenCalledTimes(1)
  })
})

describe('credentials never leave ky-pool', () => {
  const secrets = ['S3CR3T-TOKEN', 'S3CR3T-APIKEY', 'S3CR3T-BEARER', 'S3CR3T-PASSWORD']
  const query = `token=${secrets[0]}&api_key=${secrets[1]}&page=2`

  it('not in events, errors, leak reports, warnings or stats', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    })
    const server = await start()
    const warnings = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const log = new TraceLog()
    const pooled = client({
      headers: { authorization: `Bearer ${secrets[2]}` },
      retry: { limit: 1, delay: () => 0 },
      pool: { perOrigin: 1, maxQueue: 1, reclaimAfter: 100, leaks: 'warn', trace: log.trace },
    })
    const captured: unknown[] = []
    const capture = (error: unknown) => {
      captured.push({
        ...(error as object),
        message: (error as Error).message,
        stack: (error as Error).stack,
      })
    }

    // A large body left unread holds the only slot…
    const unread = await pooled.get(`${server.url}/bytes?size=3000000&${query}`)
    // …one request times out in the queue, the next is refused because the queue is full…
    const timedOut = pooled.get(`${server.url}/json?${query}`, { pool: { queueTimeout: 50 } }).catch(capture)
    await log.next('queued')
    await vi.advanceTimersByTimeAsync(50)
    await timedOut
    const waiting = pooled.get(`${server.url}/json?${query}`).json()
    await log.next('queued')
    await pooled.get(`${server.url}/json?refused&${query}`).catch(capture)
    // …and after reclaimAfter the unread body is cancelled so that the waiting request can run.
    await vi.advanceTimersByTimeAsync(100)
    await waiting
    await unread.text().catch(capture)
    vi.useRealTimers() // ky's retry delay is a timer too
    // A retry (ky's error message quotes the URL), and a leak found by settle().
    expect(await pooled.get(`${server.url}/flaky?key=k&fail=1&${query}`).json()).toMatchObject({ ok: true })
    await pooled.get(`${server.url}/bytes?size=10&${query}`)
    const reports = await pooled.pool.settle()

    // A URL with userinfo never becomes a request: the runtime's Request constructor refuses it inside
    // ky, before ky-pool sees anything (that TypeError is the runtime's, and it quotes the URL).
    const withUserinfo = `http://user:${secrets[3]}@127.0.0.1:${server.port}/json?${query}`
    expect(() => pooled.get(withUserinfo)).toThrow(TypeError)

    const types = new Set(log.events.map((event) => event.type))
    expect([...types].sort()).toEqual(
      ['acquired', 'headers', 'leaked', 'queued', 'reclaimed', 'rejected', 'retry', 'settled'].sort(),
    )
    expect(captured.map((error) => (error as { name: string }).name)).toEqual([
      'QueueTimeoutError',
      'QueueFullError',
      'BodyReclaimedError',
    ])
    expect(reports).toHaveLength(1)
    expect(warnings).toHaveBeenCalledTimes(1)
    const everything = JSON.stringify({
      events: log.events,
      errors: captured,
      reports,
      warnings: warnings.mock.calls,
      stats: pooled.pool.stats(),
    })
    for (const secret of secrets) expect(everything).not.toContain(secret)
    expect(everything).toContain('token=[redacted]')
    expect(everything).toContain('api_key=[redacted]')
    expect(everything).toContain('page=2') // only secret-looking values go
  })

  it('redactUrl drops userinfo and fragment, and replaces secret-looking query values', () => {
    expect(redactUrl(`https://user:${secrets[3]}@api.example/a?access_token=x&sig=y&q=kept#frag`)).toBe(
      'https://api.example/a?access_token=[redacted]&sig=[redacted]&q=kept',
    )
  })
})
