/**
 * Hostile and bad input: each is a clear typed error at configuration or call time — and then no slot is
 * taken and nothing is sent — or correct canonical behaviour; never a silently wrong limit. The plain
 * option checks (each bad value of each option) are in options.test.ts; this file covers URLs, schemes,
 * headers, option objects that are not what they seem, and one origin spelled many ways, with real
 * requests where a loopback server can answer them.
 */
import ky, { type Options } from 'ky'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BodyIdleTimeoutError,
  createClient,
  InvalidUrlError,
  PoolConfigError,
  type PooledKy,
  type PoolOptions,
  type RequestOptions,
} from '../../src/index.ts'
import { type LoopbackServer, startServer } from '../support/loopback-server.ts'

const servers: LoopbackServer[] = []
/** Node's undici reports each connection (diagnostics_channel): a plain-http origin is seen as HTTP/1.1. */
const h1 = { protocol: 'h1', protocolSource: 'observed' } as const
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})
async function start(host?: string): Promise<LoopbackServer> {
  const server = await startServer(host === undefined ? {} : { host })
  servers.push(server)
  return server
}

/** A client whose fetch counts calls and never touches the network. */
function counted(pool: PoolOptions = {}) {
  const sent: string[] = []
  const client = createClient({
    retry: 0,
    pool: { perOrigin: 1, leaks: 'silent', ...pool },
    fetch: (async (request: Request) => {
      sent.push(request.url)
      return new Response('ok')
    }) as typeof fetch,
  })
  return { client, sent }
}

/** What a call gives: its error, whether thrown at once (ky validates synchronously) or by the promise. */
async function failureOf(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  throw new Error('the call succeeded')
}

const nothingTaken = (client: PooledKy) =>
  expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, origins: {}, totals: { requests: 0 } })

describe('URLs a request cannot be made to', () => {
  it.each([
    'not a url',
    '',
    'http://',
    'http://[::1',
    'http://exa mple.com/',
    'http://example.com:99999/',
    '//example.com/protocol-relative',
    'http://\u0000x/',
  ])('%j: the runtime refuses it with a TypeError at call time; no slot, nothing sent', async (url) => {
    const { client, sent } = counted()
    const error = await failureOf(() => client.get(url).text())
    expect(error).toBeInstanceOf(TypeError)
    expect((error as Error).message).toMatch(/URL/)
    expect(sent).toEqual([])
    nothingTaken(client)
  })

  it.each([
    ['ftp://files.example/a', 'ftp:'],
    ['file:///etc/passwd', 'file:'],
    ['data:text/plain,hello', 'data:'],
    ['blob:https://a.example/1b2c', 'blob:'],
    ['ws://a.example/socket', 'ws:'],
    ['javascript:alert(1)', 'javascript:'],
    ['about:blank', 'about:'],
    ['mailto:someone@a.example', 'mailto:'],
  ])('%s: an InvalidUrlError naming the scheme %s; no slot, nothing sent', async (url, scheme) => {
    const { client, sent } = counted()
    const error = await failureOf(() => client.get(url).text())
    expect(error).toBeInstanceOf(InvalidUrlError)
    expect((error as Error).message).toContain(`its scheme ${scheme} is not http: or https:`)
    expect(sent).toEqual([])
    nothingTaken(client)
  })

  it('a relative URL with no prefix or baseUrl is refused by the runtime, not resolved against anything', async () => {
    const { client, sent } = counted()
    expect(await failureOf(() => client.get('/api/users').text())).toBeInstanceOf(TypeError)
    expect(sent).toEqual([])
  })
})

describe('headers with CR/LF (request splitting)', () => {
  it.each([
    ['a value with CR LF', { 'x-note': 'a\r\nInjected: 1' }],
    ['a value with a bare LF', { 'x-note': 'a\nInjected: 1' }],
    ['a value with NUL', { 'x-note': 'a\u0000b' }],
    ['a name with a space', { 'x bad': 'v' }],
    ['an Authorization value with CR LF', { authorization: 'Bearer abc\r\nHost: evil.example' }],
  ])('%s: a TypeError at call time; no slot taken, nothing reaches the server', async (_what, headers) => {
    const server = await start()
    const client = createClient({ retry: 0, pool: { perOrigin: 1, leaks: 'silent' } })
    const error = await failureOf(() => client.get(`${server.url}/echo`, { headers }).json())
    expect(error).toBeInstanceOf(TypeError)
    expect((error as Error).message).toMatch(/header/i)
    nothingTaken(client)
    // The slot is free: the next request (perOrigin 1) goes through at once.
    expect(await client.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(server.stats().requests).toBe(1)
  })
})

describe('option objects that are not what they seem', () => {
  it('origins from JSON.parse(\'{"__proto__": 3, "constructor": 2}\') is refused at createClient, and pollutes nothing', () => {
    const origins = JSON.parse('{"__proto__": 3, "constructor": 2}') as Record<string, number>
    expect(Object.keys(origins)).toEqual(['__proto__', 'constructor']) // own keys, not the prototype
    const error = failureOfSync(() => createClient({ pool: { origins } }))
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as PoolConfigError).option).toBe('pool.origins["__proto__"]')
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).constructor).toBe(Object)
  })

  it('a pool object from JSON with a __proto__ member is refused (unknown option), not merged', () => {
    const pool = JSON.parse('{"__proto__": {"perOrigin": 1000}}') as PoolOptions
    const error = failureOfSync(() => createClient({ pool }))
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as PoolConfigError).option).toBe('pool.__proto__')
  })

  it('per-request pool options from JSON with a __proto__ member are refused; nothing is sent', async () => {
    const { client, sent } = counted()
    const pool = JSON.parse('{"__proto__": {"priority": 5}}')
    const error = await failureOf(() => client.get('https://a.example/', { pool }).text())
    expect(error).toBeInstanceOf(PoolConfigError)
    expect(sent).toEqual([])
    nothingTaken(client)
  })

  it('origins given as a Map is read like an object (it is what pool.options.origins is)', () => {
    const client = createClient({ pool: { origins: new Map([['HTTPS://A.Example:443', 2]]) } })
    expect([...client.pool.options.origins]).toEqual([['https://a.example', 2]])
  })

  it("a client's resolved options give the same limits to another client", () => {
    const first = createClient({ pool: { perOrigin: 3, origins: { 'https://a.example': 1 } } })
    const second = createClient({ pool: first.pool.options })
    expect(second.pool.options).toEqual(first.pool.options)
  })

  it.each([
    [{ origins: new Map([['https://a.example', 0]]) }, 'pool.origins["https://a.example"]'],
    [{ origins: new Set(['https://a.example']) }, 'pool.origins'],
    [{ origins: 'https://a.example' }, 'pool.origins'],
    [{ perOrigin: true }, 'pool.perOrigin'],
    [{ perOrigin: [2] }, 'pool.perOrigin'],
    [{ total: { valueOf: () => 4 } }, 'pool.total'],
    [{ idleTimeout: 0 }, 'pool.idleTimeout'],
  ])('%o is refused at createClient, naming %s', (pool, option) => {
    const error = failureOfSync(() => createClient({ pool: pool as PoolOptions }))
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as PoolConfigError).option).toBe(option)
  })

  it.each([
    ['true', true],
    ['a string', 'hello'],
    ['null', null],
    ['a number', 1],
    ['an array', [{ retry: 1 }]],
  ])("client.create(%s) is refused with ky's own TypeError, as ky.create refuses it", (_what, options) => {
    const kyError = failureOfSync(() => ky.create(options as Options))
    const error = failureOfSync(() => createClient().create(options as unknown as RequestOptions))
    expect(error).toBeInstanceOf(TypeError)
    expect((error as Error).message).toBe('The `options` argument must be an object')
    expect((error as Error).message).toBe((kyError as Error).message)
  })

  it.each([
    ['true', true],
    ['null', null],
  ])(
    'client.extend(%s) and client.get(url, %s) are refused with the same TypeError as in ky',
    (_what, options) => {
      const client = createClient()
      for (const call of [
        () => client.extend(options as unknown as RequestOptions),
        () => client.get('http://127.0.0.1:9/', options as unknown as RequestOptions),
      ]) {
        expect((failureOfSync(call) as Error).message).toBe('The `options` argument must be an object')
      }
    },
  )

  it('idleTimeout: Infinity turns the idle timeout off, as the BodyIdleTimeoutError message says', () => {
    expect(createClient({ pool: { idleTimeout: Number.POSITIVE_INFINITY } }).pool.options.idleTimeout).toBe(
      Number.POSITIVE_INFINITY,
    )
    const message = new BodyIdleTimeoutError(
      { method: 'GET', url: 'https://a.example/', origin: 'https://a.example' },
      5,
      0,
    ).message
    expect(message).toContain('Infinity disables it')
  })
})

function failureOfSync(call: () => unknown): unknown {
  try {
    call()
  } catch (error) {
    return error
  }
  throw new Error('the call succeeded')
}

describe('one origin spelled many ways counts as one', () => {
  /** Sends every URL at once through a client with perOrigin 1; all are held by the server until released. */
  async function through(server: LoopbackServer, urls: string[]) {
    const client = createClient({ retry: 0, timeout: false, pool: { perOrigin: 1, leaks: 'silent' } })
    const bodies = Promise.all(urls.map((url) => client.get(url).text()))
    await server.waitForRequests(1)
    const during = client.pool.stats()
    for (let released = 0; released < urls.length; released++) {
      await server.waitForRequests(released + 1)
      server.release()
    }
    expect(await bodies).toEqual(urls.map(() => 'xx'))
    return { during, peak: server.stats().peakInFlight, requests: server.stats().requests }
  }

  it('22 spellings of 127.0.0.1:port, sent for real: one key in stats(), one request at a time at the server', async () => {
    const server = await start()
    const port = server.port
    const spellings = [
      `http://127.0.0.1:${port}`,
      `HTTP://127.0.0.1:${port}`,
      `Http://127.0.0.1:${port}/`,
      `http://127.0.0.1.:${port}`,
      `http://127.0.0.1\u3002:${port}`, // ideographic full stop as the trailing dot
      `http://127.1:${port}`,
      `http://127.0.1:${port}`,
      `http://0x7f.1:${port}`,
      `http://0x7f.0.0.1:${port}`,
      `http://0x7F000001:${port}`,
      `http://2130706433:${port}`,
      `http://0177.0.0.1:${port}`,
      `http://127.000.000.001:${port}`,
      `http://%31%32%37.0.0.1:${port}`,
      `http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:${port}`, // full-width digits
      `http://127.0.0.1:0${port}`, // leading zero in the port
      `http://[::ffff:127.0.0.1]:${port}`, // IPv4-mapped IPv6: the same server socket
      `http://[0:0:0:0:0:FFFF:7F00:0001]:${port}`,
    ]
    const urls = [
      ...spellings.map((spelling) => `${spelling.replace(/\/$/, '')}/hold?size=2`),
      `http://127.0.0.1:${port}/a/../hold?size=2#fragment`,
      `http://127.0.0.1:${port}/hold?size=2&token=x`,
      `http://127.0.0.1:${port}/hold?size=2&x=%0D%0A`, // an encoded CR LF in the query is just data
      new URL(`http://127.0.0.1:${port}/hold?size=2`).href,
    ]
    expect(urls).toHaveLength(22)
    const { during, peak, requests } = await through(server, urls)
    expect(during.origins).toEqual({ [server.origin]: { inFlight: 1, queued: 21, limit: 1, ...h1 } })
    expect(peak).toBe(1)
    expect(requests).toBe(22)
  })

  it('IPv6 loopback spelled 6 ways, sent for real to a server on [::1]', async () => {
    const server = await start('::1')
    const port = server.port
    const urls = [
      `http://[::1]:${port}`,
      `HTTP://[::1]:${port}`,
      `http://[0:0:0:0:0:0:0:1]:${port}`,
      `http://[0000:0000:0000:0000:0000:0000:0000:0001]:${port}`,
      `http://[::0:0:1]:${port}`,
      `http://[0::1]:0${port}`,
    ].map((origin) => `${origin}/hold?size=2`)
    const { during, peak } = await through(server, urls)
    expect(during.origins).toEqual({ [`http://[::1]:${port}`]: { inFlight: 1, queued: 5, limit: 1, ...h1 } })
    expect(peak).toBe(1)
  })

  it('an IDN host spelled 10 ways (Unicode, punycode, case, NFC, full-width, trailing dots, default port) meets one origins limit', async () => {
    const started: string[] = []
    const client = createClient({
      retry: 0,
      timeout: false,
      pool: { perOrigin: 5, origins: { 'HTTPS://BÜCHER.Example.:443/': 1 }, leaks: 'silent' },
      // No DNS for .example: the fetch boundary stands in for the server, and never answers.
      fetch: ((request: Request) => {
        started.push(request.url)
        return new Promise<Response>((_, reject) =>
          request.signal.addEventListener('abort', () => reject(request.signal.reason)),
        )
      }) as typeof fetch,
    })
    const spellings = [
      'https://bücher.example/',
      'https://BÜCHER.EXAMPLE/',
      'https://xn--bcher-kva.example/',
      'HTTPS://XN--BCHER-KVA.EXAMPLE:443/a',
      'https://bu\u0308cher.example/', // u + combining diaeresis: NFC makes it ü
      'https://\uff42ücher.example/', // full-width b
      'https://bücher.example./',
      'https://bücher.example\u3002/',
      'https://bücher.example:443/?q',
      'https://b%C3%BCcher.example/',
    ]
    const controller = new AbortController()
    const calls = spellings.map((url) => client.get(url, { signal: controller.signal }).catch(() => {}))
    await new Promise((resolve) => setImmediate(resolve))
    expect(client.pool.stats().origins).toEqual({
      'https://xn--bcher-kva.example': {
        inFlight: 1,
        queued: 9,
        limit: 1,
        protocol: 'unknown',
        protocolSource: 'default',
      },
    })
    expect(started).toHaveLength(1)
    controller.abort()
    await Promise.all(calls)
    expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })

  it('origins keys: spellings of one origin with the same limit are one entry; scheme and port still tell origins apart', () => {
    const client = createClient({
      pool: {
        origins: {
          'https://bücher.example': 2,
          'HTTPS://XN--BCHER-KVA.EXAMPLE:443/': 2,
          'https://bücher.example.': 2,
          'http://bücher.example': 3,
          'https://bücher.example:8443': 4,
          'http://[0:0::1]:80': 5,
          'http://[::1]': 5,
          'http://127.1': 6,
          'http://2130706433:80/': 6,
        },
      },
    })
    expect(Object.fromEntries(client.pool.options.origins)).toEqual({
      'https://xn--bcher-kva.example': 2,
      'http://xn--bcher-kva.example': 3,
      'https://xn--bcher-kva.example:8443': 4,
      'http://[::1]': 5,
      'http://127.0.0.1': 6,
    })
  })

  it.each([
    'https://api.example/v1',
    'https://api.example/?q=1',
    'https://api.example/#top',
    'https://me@api.example',
  ])('an origins key with more than an origin (%s) is refused: it would be silently ignored', (key) => {
    const error = failureOfSync(() => createClient({ pool: { origins: { [key]: 2 } } }))
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as Error).message).toMatch(/keyed by an origin only .*"https:\/\/api\.example"/)
  })

  it('two spellings with different limits are refused, naming both limits (never a silent pick)', () => {
    const error = failureOfSync(() =>
      createClient({ pool: { origins: { 'http://127.0.0.1': 2, 'http://0x7f000001:80': 3 } } }),
    )
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as Error).message).toContain('the limit 2 already given for http://127.0.0.1')
  })
})
