/**
 * Credentials never leave ky-pool. The fault matrix (test/support/fault-cells.ts) runs again with secrets
 * in every request — secret-looking query parameters in every URL, and Authorization, Cookie and
 * Proxy-Authorization headers on the client — while everything a user could log is captured: every trace
 * event, every error the caller gets (message, stack, JSON of its own properties, the whole `cause`
 * chain), every leak report (and the `console.warn` that announces it), every `stats()`. None of it may
 * contain a secret.
 *
 * A URL with userinfo (`http://user:hunter2@host/`) cannot be requested at all: the runtime's `Request`
 * refuses it ("Request cannot be constructed from a URL that includes credentials: <the URL>"), and ky
 * throws that TypeError synchronously from `client.get(…)`. What a user hits there is checked separately:
 * the error must not repeat the password. Not covered, by design: `error.request` and `error.response`
 * of ky's errors are the caller's own Request and Response objects, which carry the URL and headers as
 * sent (`JSON.stringify` shows nothing of them; `util.inspect` does).
 */
import { inspect } from 'node:util'
import { HTTPError } from 'ky'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createClient,
  PoolConfigError,
  type PooledKy,
  type PoolOptions,
  type TraceEvent,
} from '../../src/index.ts'
import { cells, runCell, type Secrets, timerTracker } from '../support/fault-cells.ts'
import { startServer } from '../support/loopback-server.ts'

const proxyAuthorization = `Basic ${btoa('proxy:hunter2')}`
const secrets: Secrets = {
  query: { token: 'SECRET1', api_key: 'SECRET2' },
  headers: {
    Authorization: 'Bearer SECRET3',
    Cookie: 'sid=SECRET4',
    'Proxy-Authorization': proxyAuthorization,
  },
}
const needles = ['hunter2', 'SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', btoa('proxy:hunter2')]

/** Everything a value could show when logged: strings, errors with stack, own properties and causes, JSON. */
function textOf(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || value === undefined) return ''
  if (typeof value !== 'object' && typeof value !== 'function') return String(value)
  if (seen.has(value)) return ''
  seen.add(value)
  const parts: string[] = []
  if (value instanceof Error) {
    parts.push(String(value), value.name, value.message, value.stack ?? '')
    for (const key of Object.getOwnPropertyNames(value)) {
      parts.push(key, safeJson((value as unknown as Record<string, unknown>)[key]))
      parts.push(textOf((value as unknown as Record<string, unknown>)[key], seen))
    }
    parts.push(textOf(value.cause, seen))
  } else if (Array.isArray(value)) {
    for (const item of value) parts.push(textOf(item, seen))
  } else if (!(value instanceof Request) && !(value instanceof Response)) {
    parts.push(safeJson(value))
    for (const [key, item] of Object.entries(value)) parts.push(key, textOf(item, seen))
  }
  return parts.join('\n')
}

function safeJson(value: unknown): string {
  const seen = new WeakSet<object>()
  try {
    return (
      JSON.stringify(value, (_key, item: unknown) => {
        if (typeof item === 'object' && item !== null) {
          if (seen.has(item)) return '[circular]'
          seen.add(item)
        }
        return typeof item === 'bigint' ? String(item) : item
      }) ?? ''
    )
  } catch (error) {
    return `[unserializable: ${String(error)}]`
  }
}

const found = (text: string) => needles.filter((needle) => text.includes(needle))

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
const timers = timerTracker()
const logged: string[] = []
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled)
  timers.enable()
  for (const method of ['warn', 'error', 'log', 'info'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logged.push(args.map((arg) => textOf(arg)).join(' '))
    })
  }
})
afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
  timers.disable()
  vi.restoreAllMocks()
})
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve))
  expect(unhandled, 'unhandled rejections').toEqual([])
})

describe('the fault matrix with secrets in every request', () => {
  it.each(cells.map((cell) => [cell.name, cell] as const))('%s', async (_name, cell) => {
    logged.length = 0
    // 'warn', so that leak reports are also printed, and the printed text is searched too.
    const record = await runCell(cell, { secrets, pool: { leaks: 'warn' }, timers })
    const captured = {
      events: textOf(record.events),
      outcome: textOf(record.outcome),
      leaks: textOf(record.leaks),
      stats: textOf(record.stats),
      next: textOf(record.next),
      console: logged.join('\n'),
    }
    for (const [where, text] of Object.entries(captured)) expect(found(text), where).toEqual([])
    // The secrets were really sent (so the search above is not vacuous)...
    expect(record.events.some((event) => event.url.includes('token=[redacted]'))).toBe(true)
    // ...and the query names stay, only their values go.
    expect(
      record.events.every(
        (event) => !event.url.includes('token=') || event.url.includes('api_key=[redacted]'),
      ),
    ).toBe(true)
  })
})

describe("ky's errors from every kind of instance", () => {
  it.each([
    ['createClient', (client: PooledKy) => client],
    ['.extend()', (client: PooledKy) => client.extend({ headers: { 'x-extended': '1' } })],
    [
      '.create() (no inherited defaults, but still the pool and its hooks)',
      (client: PooledKy) => client.create({ retry: 1 }),
    ],
  ])(
    '%s: an HTTPError after a retry names the URL without its secrets, and the retry is traced',
    async (_what, make) => {
      const server = await startServer()
      const events: TraceEvent[] = []
      try {
        const client = make(createClient({ retry: 1, pool: { trace: (event) => events.push(event) } }))
        const error = await client
          .get(`${server.url}/status/500?token=SECRET1&api_key=SECRET2`, {
            retry: { limit: 1, delay: () => 0 },
          })
          .json()
          .catch((thrown: unknown) => thrown)
        expect(error).toBeInstanceOf(HTTPError)
        expect((error as Error).message).toContain('token=[redacted]')
        expect(found(textOf(error))).toEqual([])
        expect(events.filter((event) => event.type === 'retry')).toHaveLength(1)
        expect(found(textOf(events))).toEqual([])
      } finally {
        await server.close()
      }
    },
  )
})

describe('what a user hits with credentials in the URL', () => {
  // Not a literal key: V8 would name the test's arrow functions after it, and stacks would show the secret.
  const headerLine = 'Authorization: Bearer SECRET3'
  it.each([
    ['a URL string', (base: string) => createClient({ retry: 0 }).get(`${base}/json?token=SECRET1`)],
    ['a URL object', (base: string) => createClient({ retry: 0 }).get(new URL(`${base}/json?token=SECRET1`))],
    ['ky prefix', (base: string) => createClient({ retry: 0, prefix: base }).get('json?token=SECRET1')],
    [
      'ky baseUrl',
      (base: string) => createClient({ retry: 0, baseUrl: `${base}/` }).get('json?token=SECRET1'),
    ],
    ['an extended client', (base: string) => createClient({ retry: 0 }).extend({ prefix: base }).get('json')],
  ])(
    '%s with userinfo: the runtime refuses it, and the error does not repeat the password',
    async (_what, call) => {
      const server = await startServer()
      try {
        const base = `http://user:hunter2@127.0.0.1:${server.port}`
        let error: unknown
        try {
          await call(base)
        } catch (thrown) {
          error = thrown
        }
        expect(error).toBeInstanceOf(TypeError)
        expect((error as Error).message).toMatch(/credentials/)
        expect(found(textOf(error))).toEqual([])
        expect(server.stats().requests).toBe(0)
      } finally {
        await server.close()
      }
    },
  )

  it('an Authorization header with CR/LF is refused, and the error does not quote its value', async () => {
    const client = createClient({ retry: 0 })
    let error: unknown
    try {
      await client.get('http://127.0.0.1:9/json', {
        headers: { Authorization: 'Bearer SECRET3\r\nX-Injected: 1' },
      })
    } catch (thrown) {
      error = thrown
    }
    expect(error).toBeInstanceOf(TypeError)
    expect((error as Error).message).toMatch(/header value/)
    expect(found(textOf(error))).toEqual([])
    expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })

  it.each([
    [
      'a URL with a space (an env var with a trailing space)',
      (c: PooledKy) => c.get('https://api.example.com /v1?api_key=SECRET2'),
    ],
    ['a URL with userinfo and a bad host', (c: PooledKy) => c.get('http://bob:hunter2@exa mple.com/')],
    ['a URL with a space in the password', (c: PooledKy) => c.get('http://bob:hunter2 x@127.0.0.1:9/')],
    [
      'a URL object with userinfo',
      (c: PooledKy) => c.get(new URL('http://bob:hunter2@127.0.0.1:9/?token=SECRET1')),
    ],
    [
      'a prefix with a space',
      (c: PooledKy) => c.get('v1?api_key=SECRET2', { prefix: 'https://api.example.com /' }),
    ],
    [
      "an extended client's prefix with userinfo and a bad host",
      (c: PooledKy) => c.extend({ prefix: 'http://bob:hunter2@exa mple.com/' }).get('v1?token=SECRET1'),
    ],
    [
      'a baseUrl with userinfo and a bad host',
      (c: PooledKy) => c.get('v1', { baseUrl: 'http://bob:hunter2@exa mple.com/' }),
    ],
    [
      'a header line given as a header name',
      (c: PooledKy) => c.get('http://127.0.0.1:9/', { headers: { [headerLine]: '' } }),
    ],
    [
      "a header line as a name in an extended client's headers",
      (c: PooledKy) => c.extend(() => ({ headers: [[headerLine, 'x']] })).get('http://127.0.0.1:9/'),
    ],
    [
      'a header value with CR/LF and surrounding spaces',
      (c: PooledKy) => c.get('http://127.0.0.1:9/', { headers: { 'X-Token': ' SECRET3\r\nX: 1 ' } }),
    ],
  ])(
    '%s: the TypeError (message, stack, cause, cause.input, as console.error prints it) does not repeat the secret',
    async (_what, call) => {
      const client = createClient({ retry: 0 })
      let error: unknown
      try {
        await call(client)
      } catch (thrown) {
        error = thrown
      }
      expect(error).toBeInstanceOf(TypeError)
      expect(found(textOf(error))).toEqual([])
      expect(found(inspect(error, { depth: 10 }))).toEqual([])
      expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
    },
  )

  it('what redaction leaves of such an error still says what was wrong', async () => {
    const error = await Promise.resolve()
      .then(() => createClient({ retry: 0 }).get('https://api.example.com /v1?api_key=SECRET2'))
      .catch((thrown: Error) => thrown)
    expect((error as Error).message).toContain('https://api.example.com /v1?api_key=[redacted]')
    expect(
      ((error as Error).cause as { input?: string }).input ??
        'https://api.example.com /v1?api_key=[redacted]',
    ).toBe('https://api.example.com /v1?api_key=[redacted]')
  })

  it.each([
    ['a bad limit', { 'http://user:hunter2@127.0.0.1:8080/?token=SECRET1': 0 }],
    ['a key that is no http(s) origin', { 'ftp://user:hunter2@files.example/?token=SECRET1': 1 }],
    [
      'two limits for one origin',
      { 'http://a.example': 1, 'http://user:hunter2@a.example/?token=SECRET1': 2 },
    ],
  ])(
    'an origins key with userinfo and %s: the PoolConfigError does not repeat the secrets',
    (_what, origins) => {
      let error: unknown
      try {
        createClient({ pool: { origins } as PoolOptions })
      } catch (thrown) {
        error = thrown
      }
      expect(error).toBeInstanceOf(PoolConfigError)
      expect(found(textOf(error))).toEqual([])
    },
  )

  it('an origins key with userinfo is refused (limits are per origin), and the error never repeats the password', () => {
    let error: unknown
    try {
      createClient({ pool: { origins: { 'https://user:hunter2@api.example': 2 } } })
    } catch (thrown) {
      error = thrown
    }
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as Error).message).toContain('keyed by an origin only')
    expect(found(textOf(error))).toEqual([])
  })
})
