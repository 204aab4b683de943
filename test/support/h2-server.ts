/**
 * A real TLS server on loopback that speaks HTTP/2, HTTP/1.1 over TLS, or both, with the same handlers, and
 * counts what the network saw: requests and connections per protocol, HTTP/2 sessions and the most streams one
 * session carried at once, responses in flight and their peak. Tests and benchmarks assert "the protocol the
 * server saw", peak concurrency and connections opened from these counters.
 *
 * Protocols (`protocol` option / `--protocol`):
 *   'h2'       node:http2 createSecureServer, ALPN h2 only (a client that cannot speak h2 fails the handshake)
 *   'h1+h2'    the same with `allowHTTP1`: ALPN offers h2 and http/1.1; each client picks (Chromium and Deno
 *              pick h2; Node's default fetch only offers http/1.1)
 *   'h1'       node:https createServer: ALPN http/1.1 only, so every client speaks HTTP/1.1 over TLS
 *   'h1-plain' node:http createServer, no TLS (workerd: its fetch does not trust the test CA —
 *              "UnknownIssuer" — and Miniflare 5's `outboundService` takes no network service with
 *              `tlsOptions.trustedCertificates`; v4's spelling is refused by convertV4MiniflareOptions)
 *
 * Routes (GET unless noted; every response has `access-control-allow-origin: *`, `cache-control: no-store`,
 * `x-protocol` (h2 / http/1.1) and `x-connection` (the connection's number since start), and
 * `timing-allow-origin: *` only with the `timingAllowOrigin` option or `?tao=1`):
 *   /delay/:ms              small JSON after ms
 *   /bytes/:n               n bytes (content-length set); `?chunks=K&every=MS`: headers at once, then the body
 *                           in K chunks, one every MS ms (the last one at K×MS)
 *   /json                   small JSON at once
 *   OPTIONS *               a CORS preflight answer (counted apart, as `preflights`)
 *   any path given to `setStatic` (or `PUT /static` on the control port): that file
 *   /__stats, POST /__reset the counters, never counted (tests in a browser, which cannot reach the control port)
 *
 * In-process:    const server = await startH2Server({ protocol: 'h2' })
 * Child process: const server = await spawnH2Server({ protocol: 'h2' })   (from Node or Deno; counters over a
 *                plain-HTTP control port, `connection: close`, never counted)
 * CLI:           node test/support/h2-server.ts --protocol h2 [--port P] [--tao] [--max-streams N]
 *                prints one JSON line {url, control, protocol, ca}, runs until stdin closes or SIGTERM.
 *
 * Only `node:` built-ins, so it runs under Node's type stripping and in Deno (2.9.6: `deno run -A
 * test/support/h2-server.ts --protocol h2` served h2, and 'h1+h2' both protocols, to curl with the right
 * counters). Benchmarks still spawn it under Node from every runtime, so all are measured against one server.
 */
import { existsSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { spawnChildServer } from './child-server.ts'
import { loopbackCertificate } from './tls.ts'

export type ServerProtocol = 'h2' | 'h1+h2' | 'h1' | 'h1-plain'

export interface H2ServerOptions {
  /** Default 'h1+h2'. */
  protocol?: ServerProtocol
  /** Default 0 (a free port). Always 127.0.0.1. */
  port?: number
  /** Send `timing-allow-origin: *` on every response (default false, the usual cross-origin API). */
  timingAllowOrigin?: boolean
  /** SETTINGS_MAX_CONCURRENT_STREAMS per HTTP/2 session (default 100, what h2o and many CDNs send). */
  maxConcurrentStreams?: number
}

export interface H2ServerStats {
  /** Requests since start/reset, in total and by the protocol they came over (preflights and /__ excluded). */
  requests: { total: number; h1: number; h2: number }
  /** Connections accepted since start/reset, by the protocol ALPN chose ('h1-plain': all h1). */
  connections: { total: number; h1: number; h2: number }
  /** HTTP/2 sessions since start/reset (one per h2 connection). */
  sessions: number
  /** Responses not finished yet. */
  inFlight: number
  /** Most responses in flight at once since start/reset. */
  peakInFlight: number
  /** Most streams one HTTP/2 session carried at once since start/reset. */
  peakStreamsPerSession: number
  /** CORS preflights (OPTIONS) since start/reset. */
  preflights: number
  /** Connections open now. */
  openConnections: number
}

export interface H2Server {
  /** E.g. 'https://127.0.0.1:41234' ('http://…' for 'h1-plain'). */
  url: string
  port: number
  protocol: ServerProtocol
  /** The PEM certificate of the CA that issued the server's (test/support/tls.ts): what clients trust —
   * `connect: { ca }` in Node, `caCerts` or `--cert` in Deno. Empty for 'h1-plain'. */
  ca: string
  stats(): H2ServerStats
  /** Waits (at most `waitMs`, default 5000) until no response is in flight, then zeroes the counters. */
  reset(waitMs?: number): Promise<void>
  /** Serves `body` at `path` (e.g. a test page and its script). */
  setStatic(path: string, body: string | Uint8Array, contentType: string): void
  /** Destroys every connection and closes the server. */
  close(): Promise<void>
}

type Req = http.IncomingMessage | http2.Http2ServerRequest
/** What the handlers use of either response type, node:http's and node:http2's compat one (their overloads do not unify). */
interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: Uint8Array): boolean
  end(body?: string | Uint8Array): unknown
  once(event: 'close' | 'drain', listener: () => void): unknown
  on(event: 'error', listener: () => void): unknown
}

const CHUNK = 16 * 1024

/** Starts the server in this process. */
export async function startH2Server(options: H2ServerOptions = {}): Promise<H2Server> {
  const protocol = options.protocol ?? 'h1+h2'
  const made = protocol === 'h1-plain' ? undefined : loopbackCertificate()
  const tls = made && { key: made.key, cert: made.cert }
  const statics = new Map<string, { body: Uint8Array; type: string }>()
  const timers = new Set<ReturnType<typeof setTimeout>>()
  const sockets = new Set<Socket>()
  const sessions = new Set<http2.Http2Session>()
  const connectionOf = new WeakMap<object, number>()
  let connectionCount = 0
  let closed = false

  const zero = () => ({
    requests: { total: 0, h1: 0, h2: 0 },
    connections: { total: 0, h1: 0, h2: 0 },
    sessions: 0,
    peakInFlight: inFlight,
    peakStreamsPerSession: 0,
    preflights: 0,
  })
  let inFlight = 0
  let counts = zero()
  const idleWaiters = new Set<() => void>()

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      if (!closed) fn()
    }, ms)
    timers.add(timer)
    return timer
  }

  const commonHeaders = (req: Req, url: URL): Record<string, string> => {
    const h2 = req.httpVersion === '2.0'
    const id = h2
      ? connectionOf.get((req as http2.Http2ServerRequest).stream.session!)
      : connectionOf.get(req.socket)
    const headers: Record<string, string> = {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'x-protocol, x-connection',
      'cache-control': 'no-store',
      'x-protocol': h2 ? 'h2' : 'http/1.1',
      'x-connection': String(id ?? 0),
    }
    if (options.timingAllowOrigin || url.searchParams.get('tao') === '1') headers['timing-allow-origin'] = '*'
    return headers
  }

  /** Writes `n` bytes of 'x' in CHUNK slices honouring backpressure, then ends (unless the response went away). */
  const pump = (res: Res, n: number, isGone: () => boolean, done: () => void) => {
    let left = n
    const step = () => {
      while (left > 0) {
        if (isGone()) return
        const size = Math.min(CHUNK, left)
        left -= size
        if (!res.write(Buffer.alloc(size, 120))) {
          res.once('drain', step)
          return
        }
      }
      if (!isGone()) done()
    }
    step()
  }

  const handle = (req: Req, res: Res) => {
    const url = new URL(req.url ?? '/', 'https://loopback')
    const path = url.pathname
    if (path === '/__stats') {
      const body = JSON.stringify(stats())
      res.writeHead(200, { ...commonHeaders(req, url), 'content-type': 'application/json' })
      res.end(body)
      return
    }
    if (path === '/__reset') {
      reset().then(() => {
        res.writeHead(200, { ...commonHeaders(req, url), 'content-type': 'application/json' })
        res.end('{"ok":true}')
      })
      return
    }
    if (req.method === 'OPTIONS') {
      counts.preflights++
      res.writeHead(204, {
        ...commonHeaders(req, url),
        'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS',
        'access-control-allow-headers': String(req.headers['access-control-request-headers'] ?? '*'),
        'access-control-max-age': '600',
      })
      res.end()
      return
    }

    const h2 = req.httpVersion === '2.0'
    counts.requests.total++
    if (h2) counts.requests.h2++
    else counts.requests.h1++
    inFlight++
    if (inFlight > counts.peakInFlight) counts.peakInFlight = inFlight
    let gone = false
    const pending: ReturnType<typeof setTimeout>[] = []
    res.once('close', () => {
      gone = true
      inFlight--
      for (const timer of pending) {
        clearTimeout(timer)
        timers.delete(timer)
      }
      if (inFlight === 0) for (const wake of [...idleWaiters]) wake()
    })
    res.on('error', () => {})
    req.on('error', () => {})
    const headers = commonHeaders(req, url)

    const json = (status: number, value: unknown) => {
      const body = JSON.stringify(value)
      res.writeHead(status, {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
      })
      res.end(body)
    }

    const file = statics.get(path)
    if (file !== undefined) {
      res.writeHead(200, {
        ...headers,
        'content-type': file.type,
        'content-length': String(file.body.length),
      })
      res.end(file.body)
      return
    }

    const delay = /^\/delay\/(\d+)$/.exec(path)
    if (delay !== null) {
      const ms = Number(delay[1])
      pending.push(later(ms, () => json(200, { ok: true, delay: ms })))
      return
    }

    const bytes = /^\/bytes\/(\d+)$/.exec(path)
    if (bytes !== null) {
      const n = Number(bytes[1])
      const chunks = Math.max(0, Math.floor(Number(url.searchParams.get('chunks') ?? 0)))
      const every = Math.max(0, Number(url.searchParams.get('every') ?? 0))
      res.writeHead(200, {
        ...headers,
        'content-type': 'application/octet-stream',
        'content-length': String(n),
      })
      if (req.method === 'HEAD') {
        res.end()
        return
      }
      if (chunks <= 1 || n === 0) {
        pump(
          res,
          n,
          () => gone,
          () => res.end(),
        )
        return
      }
      // Headers now, then one slice every `every` ms: a body that streams slowly.
      if ('flushHeaders' in res) (res as http.ServerResponse).flushHeaders()
      const size = Math.ceil(n / chunks)
      for (let i = 0; i < chunks; i++) {
        const from = i * size
        const to = Math.min(n, from + size)
        pending.push(
          later((i + 1) * every, () => {
            if (gone) return
            if (to > from) res.write(Buffer.alloc(to - from, 120))
            if (i === chunks - 1) res.end()
          }),
        )
      }
      return
    }

    if (path === '/json') {
      json(200, { ok: true })
      return
    }
    json(404, { error: 404, message: `no route for ${path}` })
  }

  const track = (socket: Socket, h2: boolean) => {
    connectionCount++
    connectionOf.set(socket, connectionCount)
    counts.connections.total++
    if (h2) counts.connections.h2++
    else counts.connections.h1++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }

  let server: http.Server | https.Server | http2.Http2SecureServer
  if (protocol === 'h1-plain') {
    server = http.createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 5000 }, handle)
    server.on('connection', (socket: Socket) => track(socket, false))
  } else if (protocol === 'h1') {
    server = https.createServer(
      { ...tls, ALPNProtocols: ['http/1.1'], requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 5000 },
      handle,
    )
    server.on('secureConnection', (socket: TLSSocket) => track(socket, false))
  } else {
    const secure = http2.createSecureServer(
      {
        ...tls,
        allowHTTP1: protocol === 'h1+h2',
        settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 100 },
      },
      handle,
    )
    secure.on('secureConnection', (socket: TLSSocket) => track(socket, socket.alpnProtocol === 'h2'))
    // A session's `socket` is a proxy, not the TLSSocket 'secureConnection' saw: number sessions on their own
    // (the same count, since every h2 connection has exactly one session).
    let sessionCount = 0
    secure.on('session', (session: http2.ServerHttp2Session) => {
      counts.sessions++
      sessionCount++
      connectionOf.set(session, sessionCount)
      sessions.add(session)
      let streams = 0
      session.on('stream', (stream) => {
        streams++
        if (streams > counts.peakStreamsPerSession) counts.peakStreamsPerSession = streams
        stream.once('close', () => streams--)
      })
      session.once('close', () => sessions.delete(session))
      session.on('error', () => {})
    })
    server = secure
  }
  server.on('clientError', (_error: Error, socket: Socket) => socket.destroy())
  server.on('tlsClientError', () => {})

  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen({ host: '127.0.0.1', port: options.port ?? 0 }, () => {
      server.off('error', fail)
      done()
    })
  })
  const port = (server.address() as AddressInfo).port
  const url = `${protocol === 'h1-plain' ? 'http' : 'https'}://127.0.0.1:${port}`

  function stats(): H2ServerStats {
    return {
      requests: { ...counts.requests },
      connections: { ...counts.connections },
      sessions: counts.sessions,
      inFlight,
      peakInFlight: counts.peakInFlight,
      peakStreamsPerSession: counts.peakStreamsPerSession,
      preflights: counts.preflights,
      openConnections: sockets.size,
    }
  }

  async function reset(waitMs = 5000): Promise<void> {
    if (inFlight > 0) {
      await new Promise<void>((done) => {
        const stop = () => {
          clearTimeout(timer)
          idleWaiters.delete(stop)
          done()
        }
        const timer = setTimeout(stop, waitMs)
        idleWaiters.add(stop)
      })
    }
    counts = zero()
  }

  let closing: Promise<void> | undefined
  return {
    url,
    port,
    protocol,
    ca: made?.ca ?? '',
    stats,
    reset,
    setStatic(path, body, type) {
      statics.set(path, { body: typeof body === 'string' ? Buffer.from(body) : body, type })
    },
    close() {
      closing ??= new Promise<void>((done) => {
        closed = true
        for (const timer of timers) clearTimeout(timer)
        timers.clear()
        for (const wake of [...idleWaiters]) wake()
        for (const session of sessions) session.destroy()
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
        if ('closeAllConnections' in server) server.closeAllConnections()
      })
      return closing
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child process mode: the server under Node, its counters over a plain-HTTP control port that is never counted.

export interface SpawnedH2Server {
  url: string
  /** Base URL of the control port: GET /stats, POST /reset?wait=MS, PUT /static?path=P&type=T (body). */
  control: string
  protocol: ServerProtocol
  ca: string
  stats(): Promise<H2ServerStats>
  reset(waitMs?: number): Promise<void>
  setStatic(path: string, body: string | Uint8Array, contentType: string): Promise<void>
  close(): Promise<void>
}

const thisFile = fileURLToPath(import.meta.url)
const root = resolve(dirname(thisFile), '..', '..')
const baseFetch = globalThis.fetch

/** Node for the child: `H2_SERVER_NODE`, else the project's node_modules/.bin/node (Node 24), else `node`. */
function nodePath(): string {
  const isNode = typeof (globalThis as { Deno?: unknown }).Deno === 'undefined'
  if (process.env.H2_SERVER_NODE) return process.env.H2_SERVER_NODE
  if (isNode && typeof (globalThis as { Bun?: unknown }).Bun === 'undefined') return process.execPath
  const local = join(root, 'node_modules', '.bin', 'node')
  return existsSync(local) ? local : 'node'
}

async function control(
  method: string,
  url: string,
  body?: Uint8Array | string,
  type?: string,
): Promise<unknown> {
  const init: RequestInit = { method }
  if (body !== undefined) {
    init.body = body as BodyInit
    init.headers = { 'content-type': type ?? 'application/octet-stream' }
  }
  const res = await baseFetch(url, init)
  const text = await res.text()
  if (!res.ok) throw new Error(`h2-server control ${method} ${url}: ${res.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

/**
 * Spawns the CLI under Node (from Node, Deno or Bun) and talks to its control port: the server is then the
 * same program whichever runtime the client is, and its CPU is not the client's.
 */
export async function spawnH2Server(options: H2ServerOptions = {}): Promise<SpawnedH2Server> {
  const args = [thisFile, '--protocol', options.protocol ?? 'h1+h2']
  if (options.port !== undefined) args.push('--port', String(options.port))
  if (options.timingAllowOrigin) args.push('--tao')
  if (options.maxConcurrentStreams !== undefined)
    args.push('--max-streams', String(options.maxConcurrentStreams))
  const { info, close } = await spawnChildServer<{
    url: string
    control: string
    protocol: ServerProtocol
    ca: string
  }>(nodePath(), args, 'h2-server')
  return {
    ...info,
    stats: async () => (await control('GET', `${info.control}/stats`)) as H2ServerStats,
    async reset(waitMs = 5000) {
      await control('POST', `${info.control}/reset?wait=${waitMs}`)
    },
    async setStatic(path, body, type) {
      await control('PUT', `${info.control}/static?path=${encodeURIComponent(path)}`, body, type)
    },
    close,
  }
}

function parseArgs(argv: string[]): H2ServerOptions {
  const options: H2ServerOptions = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = argv[i + 1]
    if (arg === '--protocol' && value !== undefined) {
      if (!['h2', 'h1+h2', 'h1', 'h1-plain'].includes(value)) throw new Error(`unknown --protocol ${value}`)
      options.protocol = value as ServerProtocol
      i++
    } else if (arg === '--port' && value !== undefined) {
      options.port = Number(value)
      i++
    } else if (arg === '--max-streams' && value !== undefined) {
      options.maxConcurrentStreams = Number(value)
      i++
    } else if (arg === '--tao') {
      options.timingAllowOrigin = true
    } else {
      throw new Error(`h2-server: unknown argument ${arg}`)
    }
  }
  return options
}

async function main(): Promise<void> {
  const server = await startH2Server(parseArgs(process.argv.slice(2)))
  const controlServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control')
    const reply = (status: number, value: unknown) => {
      const body = JSON.stringify(value)
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        connection: 'close',
      })
      res.end(body)
    }
    if (req.method === 'GET' && url.pathname === '/stats') reply(200, server.stats())
    else if (req.method === 'POST' && url.pathname === '/reset') {
      server.reset(Number(url.searchParams.get('wait') ?? 5000)).then(() => reply(200, { ok: true }))
    } else if (req.method === 'PUT' && url.pathname === '/static') {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        server.setStatic(
          url.searchParams.get('path') ?? '/',
          Buffer.concat(chunks),
          String(req.headers['content-type'] ?? 'application/octet-stream'),
        )
        reply(200, { ok: true })
      })
    } else reply(404, { error: 404 })
  })
  await new Promise<void>((done) => controlServer.listen(0, '127.0.0.1', done))
  const controlUrl = `http://127.0.0.1:${(controlServer.address() as AddressInfo).port}`
  process.stdout.write(
    `${JSON.stringify({ url: server.url, control: controlUrl, protocol: server.protocol, ca: server.ca })}\n`,
  )
  const stop = async () => {
    controlServer.closeAllConnections()
    controlServer.close()
    await server.close()
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === thisFile) await main()
