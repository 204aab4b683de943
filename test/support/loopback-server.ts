/**
 * A real HTTP/1.1 server on loopback for tests, the demo and benchmarks.
 *
 * It counts TCP connections, requests and in-flight responses, and misbehaves on command (held responses,
 * stalls, endless bodies, resets, redirects, flaky statuses). Only `node:` built-ins are used so the file runs
 * directly under Node's type stripping.
 *
 * In-process:   const server = await startServer()
 * Child process: const server = await spawnServer()   (stats are read over a separate control port)
 * CLI:          node test/support/loopback-server.ts [--port P] [--host H] [--keep-alive-timeout MS]
 */
import { fstatSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnChildServer } from './child-server.ts'

export interface ServerStats {
  /** TCP connections accepted since start/reset. */
  connections: number
  /** Requests received since start/reset (control endpoints excluded). */
  requests: number
  /** Requests whose response has not finished yet (until the response's 'close'). */
  inFlight: number
  /** Maximum `inFlight` seen since start/reset. */
  peakInFlight: number
  /** Currently open sockets. */
  openSockets: number
}

export interface LoopbackServer {
  /** E.g. 'http://127.0.0.1:41234' (no trailing slash). */
  url: string
  /** Same as `url`. */
  origin: string
  port: number
  stats(): ServerStats
  /** Zero connections/requests/peak (peak restarts from the current inFlight) and the flaky counters. */
  reset(): void
  /** Resolves once `requests` >= n (counted since the last reset). */
  waitForRequests(n: number): Promise<void>
  /** Resolves once no response is in flight. */
  waitForIdle(): Promise<void>
  /** Releases held responses with that tag (all when omitted); returns how many. */
  release(tag?: string): number
  /** How many responses are currently held (with that tag, or all). */
  held(tag?: string): number
  /** Releases everything, destroys all sockets and closes the server; leaves no handles behind. */
  close(): Promise<void>
}

export interface StartServerOptions {
  /** Loopback address to listen on: '127.0.0.1' (default) or '::1'. */
  host?: string
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number
  /** Idle keep-alive timeout of the server in ms (default 5000, node's default). */
  keepAliveTimeout?: number
}

const CHUNK = 16 * 1024
const KIB = 1024
const MIB = 1024 * 1024

// ---------------------------------------------------------------------------------------------------------------
// Bodies: deterministic content generated slice by slice, so large sizes cost no memory.

interface Body {
  length: number
  contentType: string
  slice(start: number, end: number): Buffer
}

/** `prefix` + `fill` repeated + `suffix`, exactly `length` bytes. */
function patternBody(length: number, contentType: string, prefix = '', fill = 'x', suffix = ''): Body {
  const head = Buffer.from(prefix)
  const tail = Buffer.from(suffix)
  const fillByte = fill.charCodeAt(0)
  const tailStart = length - tail.length
  return {
    length,
    contentType,
    slice(start, end) {
      const out = Buffer.alloc(end - start, fillByte)
      if (start < head.length) head.copy(out, 0, start, Math.min(end, head.length))
      if (end > tailStart) {
        tail.copy(out, Math.max(tailStart, start) - start, Math.max(start - tailStart, 0), end - tailStart)
      }
      return out
    },
  }
}

/** N bytes of 'x'. */
function fillerBody(length: number, contentType = 'application/octet-stream'): Body {
  return patternBody(length, contentType)
}

/**
 * JSON for `value` (an object), padded to exactly `size` bytes when given: with a `"pad":"xxx…"` member when
 * there is room for one, with trailing spaces otherwise. A size smaller than the plain JSON gives `size` bytes
 * of 'x' (text/plain), because exactness wins over validity.
 */
function jsonBody(value: Record<string, unknown>, size?: number): Body {
  const json = JSON.stringify(value)
  const length = size ?? Buffer.byteLength(json)
  const base = Buffer.byteLength(json)
  if (length < base) return fillerBody(length, 'text/plain; charset=utf-8')
  const type = 'application/json; charset=utf-8'
  const open = `${json.slice(0, -1)}${Object.keys(value).length > 0 ? ',' : ''}"pad":"`
  const close = '"}'
  if (length >= Buffer.byteLength(open) + close.length) return patternBody(length, type, open, 'x', close)
  return patternBody(length, type, json, ' ')
}

function emptyBody(): Body {
  return fillerBody(0)
}

// ---------------------------------------------------------------------------------------------------------------
// Query helpers

function intParam(params: URLSearchParams, name: string, fallback: number): number {
  const raw = params.get(name)
  if (raw === null || raw === '') return fallback
  const value = Number(raw)
  return Number.isFinite(value) && value >= 0 ? Math.floor(value) : fallback
}

function optionalIntParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name)
  if (raw === null || raw === '') return undefined
  const value = Number(raw)
  return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined
}

function isLoopback(host: string): boolean {
  return host === '::1' || host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

// ---------------------------------------------------------------------------------------------------------------
// The server

interface HeldResponse {
  tag: string
  release(): void
}

interface Waiter {
  check(): boolean
  resolve(): void
  reject(error: Error): void
}

/** Starts the loopback server (127.0.0.1, a free port unless told otherwise). */
export async function startServer(options: StartServerOptions = {}): Promise<LoopbackServer> {
  const host = options.host ?? '127.0.0.1'
  if (!isLoopback(host)) throw new Error(`loopback-server only listens on loopback addresses, not ${host}`)

  let connections = 0
  let requests = 0
  let inFlight = 0
  let peakInFlight = 0
  let nextConnectionId = 0
  let closed = false
  const sockets = new Set<Socket>()
  const connectionIds = new WeakMap<Socket, number>()
  const heldResponses = new Set<HeldResponse>()
  const timers = new Set<NodeJS.Timeout>()
  const immediates = new Set<NodeJS.Immediate>()
  const flakyCounters = new Map<string, number>()
  let waiters: Waiter[] = []

  const checkWaiters = () => {
    if (waiters.length === 0) return
    const pending: Waiter[] = []
    for (const waiter of waiters) {
      if (waiter.check()) waiter.resolve()
      else pending.push(waiter)
    }
    waiters = pending
  }

  const waitUntil = (check: () => boolean): Promise<void> => {
    if (check()) return Promise.resolve()
    if (closed) return Promise.reject(new Error('loopback-server is closed'))
    return new Promise((resolve, reject) => {
      waiters.push({ check, resolve, reject })
    })
  }

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      fn()
    }, ms)
    timers.add(timer)
    return timer
  }

  const soon = (fn: () => void): NodeJS.Immediate => {
    const immediate = setImmediate(() => {
      immediates.delete(immediate)
      fn()
    })
    immediates.add(immediate)
    return immediate
  }

  /** Writes body[from, to) in CHUNK slices, honouring backpressure, then calls `done` (not called if the
   * response goes away first). */
  const pump = (res: http.ServerResponse, body: Body, from: number, to: number, done: () => void) => {
    let offset = from
    const step = () => {
      while (offset < to) {
        if (res.destroyed) return
        const end = Math.min(offset + CHUNK, to)
        const ok = res.write(body.slice(offset, end))
        offset = end
        if (!ok) {
          res.once('drain', step)
          return
        }
      }
      if (!res.destroyed) done()
    }
    step()
  }

  /** Sends a complete response. */
  const send = (
    res: http.ServerResponse,
    status: number,
    body: Body,
    options: { chunked?: boolean; headers?: Record<string, string> } = {},
  ) => {
    if (res.destroyed) return
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200)
    const headers: Record<string, string> = { ...options.headers }
    if (!noBody) {
      headers['content-type'] = body.contentType
      if (options.chunked) headers['transfer-encoding'] = 'chunked'
      else headers['content-length'] = String(body.length)
    }
    res.writeHead(status, headers)
    if (noBody || res.req.method === 'HEAD') {
      res.end()
      return
    }
    pump(res, body, 0, body.length, () => res.end())
  }

  const sendJson = (res: http.ServerResponse, status: number, value: Record<string, unknown>) =>
    send(res, status, jsonBody(value))

  const hold = (res: http.ServerResponse, tag: string, onRelease: () => void) => {
    const entry: HeldResponse = {
      tag,
      release() {
        heldResponses.delete(entry)
        onRelease()
      },
    }
    heldResponses.add(entry)
    res.once('close', () => heldResponses.delete(entry))
  }

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://loopback')
    const params = url.searchParams
    const path = url.pathname
    const size = optionalIntParam(params, 'size')

    if (path === '/bytes') {
      const n = size ?? 0
      const type = params.get('type')
      const body =
        type === 'json'
          ? n < 2
            ? fillerBody(n, 'application/json; charset=utf-8')
            : jsonBody({}, n)
          : fillerBody(n, type === 'text' ? 'text/plain; charset=utf-8' : 'application/octet-stream')
      send(res, 200, body, { chunked: params.get('chunked') === '1' })
      return
    }

    if (path === '/json') {
      send(res, 200, jsonBody({ ok: true }, size))
      return
    }

    const statusMatch = /^\/status\/(\d{3})$/.exec(path)
    if (statusMatch) {
      const code = Number(statusMatch[1])
      if (code < 200 || code > 599) {
        sendJson(res, 400, { error: 400, message: 'status must be 200-599' })
        return
      }
      const headers: Record<string, string> = {}
      const retryAfter = params.get('retryAfter')
      if (retryAfter !== null) headers['retry-after'] = retryAfter
      send(res, code, size === undefined ? jsonBody({ error: code }) : jsonBody({ error: code }, size), {
        headers,
      })
      return
    }

    if (path === '/hold') {
      const tag = params.get('tag') ?? ''
      const body = fillerBody(size ?? 2)
      if (params.get('phase') === 'body') {
        const half = Math.floor(body.length / 2)
        res.writeHead(200, { 'content-type': body.contentType, 'content-length': String(body.length) })
        if (req.method === 'HEAD') {
          res.end()
          return
        }
        res.flushHeaders()
        pump(res, body, 0, half, () => {
          hold(res, tag, () => pump(res, body, half, body.length, () => res.end()))
        })
      } else {
        hold(res, tag, () => send(res, 200, body))
      }
      return
    }

    if (path === '/delay') {
      const timer = later(intParam(params, 'ms', 0), () => send(res, 200, fillerBody(size ?? 2)))
      res.once('close', () => {
        clearTimeout(timer)
        timers.delete(timer)
      })
      return
    }

    if (path === '/stall') {
      const n = size ?? MIB
      const body = fillerBody(n)
      res.writeHead(200, { 'content-type': body.contentType, 'content-length': String(n) })
      if (req.method === 'HEAD') {
        res.end()
        return
      }
      res.flushHeaders()
      // Never complete the body, even when it is tiny.
      const first = Math.min(KIB, Math.max(0, n - 1))
      if (first > 0) res.write(body.slice(0, first))
      return
    }

    if (path === '/endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' })
      if (req.method === 'HEAD') {
        res.end()
        return
      }
      const chunk = fillerBody(CHUNK).slice(0, CHUNK)
      const step = () => {
        if (res.destroyed || closed) return
        // Yield between chunks: a fast socket may never report backpressure and would starve the loop.
        if (res.write(chunk)) soon(step)
        else res.once('drain', step)
      }
      step()
      return
    }

    if (path === '/reset' || path === '/close-before-headers') {
      const phase = path === '/reset' ? params.get('phase') : 'headers'
      if (phase === 'body') {
        const length = String(intParam(params, 'size', 100_000))
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': length })
        res.write(fillerBody(KIB).slice(0, KIB), () => req.socket.destroy())
      } else {
        req.socket.destroy()
      }
      return
    }

    if (path === '/redirect') {
      const n = intParam(params, 'n', 0)
      if (n > 0) {
        send(res, 302, emptyBody(), { headers: { location: `/redirect?n=${n - 1}` } })
      } else {
        sendJson(res, 200, { ok: true, redirected: true })
      }
      return
    }

    if (path === '/redirect-to') {
      // To any URL (another origin, too), with the status asked for (default 302).
      const status = intParam(params, 'status', 302)
      send(res, status, emptyBody(), { headers: { location: params.get('url') ?? '/json' } })
      return
    }

    if (path === '/redirect-loop') {
      send(res, 302, emptyBody(), { headers: { location: '/redirect-loop' } })
      return
    }

    if (path === '/flaky') {
      const key = params.get('key') ?? ''
      const fail = intParam(params, 'fail', 1)
      const status = intParam(params, 'status', 503)
      const attempt = (flakyCounters.get(key) ?? 0) + 1
      flakyCounters.set(key, attempt)
      if (attempt <= fail) {
        const headers: Record<string, string> = {}
        const retryAfter = params.get('retryAfter')
        if (retryAfter !== null) headers['retry-after'] = retryAfter
        send(res, status, jsonBody({ error: status, attempt }), { headers })
      } else {
        sendJson(res, 200, { ok: true, attempt })
      }
      return
    }

    if (path === '/echo') {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        sendJson(res, 200, {
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        })
      })
      return
    }

    sendJson(res, 404, { error: 404, message: `no route for ${path}` })
  }

  const server = http.createServer({
    keepAliveTimeout: options.keepAliveTimeout ?? 5000,
    // Held, delayed and stalled responses must live as long as the test wants them to.
    requestTimeout: 0,
    headersTimeout: 0,
  })

  server.on('connection', (socket: Socket) => {
    connections++
    nextConnectionId++
    connectionIds.set(socket, nextConnectionId)
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests++
    inFlight++
    if (inFlight > peakInFlight) peakInFlight = inFlight
    res.once('close', () => {
      inFlight--
      checkWaiters()
    })
    // Writes after the client went away are dropped; never let them crash the test process.
    res.on('error', () => {})
    req.on('error', () => {})
    const id = connectionIds.get(req.socket)
    if (id !== undefined) res.setHeader('x-connection-id', String(id))
    try {
      handle(req, res)
    } catch (error) {
      if (!res.headersSent) sendJson(res, 500, { error: 500, message: String(error) })
      else res.destroy()
    }
    checkWaiters()
  })

  // Malformed requests and sockets the client destroyed: just drop them.
  server.on('clientError', (_error: Error, socket: Socket) => {
    socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port: options.port ?? 0 }, () => {
      server.off('error', reject)
      resolve()
    })
  })

  const port = (server.address() as AddressInfo).port
  const url = `http://${hostForUrl(host)}:${port}`

  const release = (tag?: string): number => {
    let count = 0
    for (const entry of [...heldResponses]) {
      if (tag === undefined || entry.tag === tag) {
        entry.release()
        count++
      }
    }
    return count
  }

  let closing: Promise<void> | undefined

  return {
    url,
    origin: url,
    port,
    stats: () => ({ connections, requests, inFlight, peakInFlight, openSockets: sockets.size }),
    reset() {
      connections = 0
      requests = 0
      peakInFlight = inFlight
      flakyCounters.clear()
    },
    waitForRequests: (n) => waitUntil(() => requests >= n),
    waitForIdle: () => waitUntil(() => inFlight === 0),
    release,
    held(tag) {
      let count = 0
      for (const entry of heldResponses) if (tag === undefined || entry.tag === tag) count++
      return count
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        closed = true
        release()
        for (const timer of timers) clearTimeout(timer)
        timers.clear()
        for (const immediate of immediates) clearImmediate(immediate)
        immediates.clear()
        // The server's 'close' can fire before the sockets' own 'close' events: wait for those too, so that
        // stats and in-flight responses have settled when this resolves.
        const socketsClosed = [...sockets].map((socket) =>
          socket.closed ? undefined : new Promise((resolve) => socket.once('close', resolve)),
        )
        server.close((error) => {
          Promise.all(socketsClosed).then(() => {
            for (const waiter of waiters) waiter.reject(new Error('loopback-server closed'))
            waiters = []
            if (error) reject(error)
            else resolve()
          })
        })
        server.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })
      return closing
    },
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child process mode: the same server plus a control server whose traffic is never counted.

export interface SpawnedServer {
  url: string
  /** Base URL of the control server (GET /stats, POST /reset, POST /release?tag=T). */
  control: string
  stats(): Promise<ServerStats>
  reset(): Promise<void>
  release(tag?: string): Promise<number>
  /** Resolves once the server received `n` requests since the last reset (a long-poll on the control port). */
  waitForRequests(n: number): Promise<void>
  close(): Promise<void>
}

const thisFile = fileURLToPath(import.meta.url)

async function control(method: string, url: string): Promise<unknown> {
  const res = await fetch(url, { method })
  // Always read the body, so the control client never keeps a connection busy.
  const text = await res.text()
  if (!res.ok) throw new Error(`loopback-server control ${method} ${url} failed: ${res.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

/** Spawns the CLI as a child process (with `process.execPath`) and talks to its control port. */
export async function spawnServer(
  options: { host?: string; keepAliveTimeout?: number } = {},
): Promise<SpawnedServer> {
  const args = [thisFile]
  if (options.host !== undefined) args.push('--host', options.host)
  if (options.keepAliveTimeout !== undefined)
    args.push('--keep-alive-timeout', String(options.keepAliveTimeout))
  const { info, close } = await spawnChildServer<{ url: string; control: string }>(
    process.execPath,
    args,
    'loopback-server',
  )
  return {
    url: info.url,
    control: info.control,
    stats: async () => (await control('GET', `${info.control}/stats`)) as ServerStats,
    async reset() {
      await control('POST', `${info.control}/reset`)
    },
    async waitForRequests(n) {
      await control('POST', `${info.control}/wait-for-requests?n=${n}`)
    },
    async release(tag) {
      const query = tag === undefined ? '' : `?tag=${encodeURIComponent(tag)}`
      const result = (await control('POST', `${info.control}/release${query}`)) as { released: number }
      return result.released
    },
    close,
  }
}

function parseArgs(argv: string[]): StartServerOptions {
  const options: StartServerOptions = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = argv[i + 1]
    if (arg === '--port' && value !== undefined) {
      options.port = Number(value)
      i++
    } else if (arg === '--host' && value !== undefined) {
      options.host = value
      i++
    } else if (arg === '--keep-alive-timeout' && value !== undefined) {
      options.keepAliveTimeout = Number(value)
      i++
    } else {
      throw new Error(`unknown argument: ${arg}`)
    }
  }
  return options
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const server = await startServer(options)
  const host = options.host ?? '127.0.0.1'

  const controlServer = http.createServer({ requestTimeout: 0, headersTimeout: 0 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://control')
    const reply = (status: number, value: unknown) => {
      if (res.destroyed) return
      const body = JSON.stringify(value)
      // `connection: close`: control clients must never keep sockets (or the benchmark's pools) busy.
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        connection: 'close',
      })
      res.end(body)
    }
    if (req.method === 'GET' && url.pathname === '/stats') reply(200, server.stats())
    else if (req.method === 'POST' && url.pathname === '/reset') {
      server.reset()
      reply(200, { ok: true })
    } else if (req.method === 'POST' && url.pathname === '/release') {
      reply(200, { released: server.release(url.searchParams.get('tag') ?? undefined) })
    } else if (req.method === 'POST' && url.pathname === '/wait-for-requests') {
      const n = Number(url.searchParams.get('n') ?? '0')
      server.waitForRequests(n).then(
        () => reply(200, { requests: server.stats().requests }),
        (error: unknown) => reply(503, { error: 503, message: String(error) }),
      )
    } else if (req.method === 'GET' && url.pathname === '/held') {
      reply(200, { held: server.held(url.searchParams.get('tag') ?? undefined) })
    } else reply(404, { error: 404 })
  })
  await new Promise<void>((resolve) => controlServer.listen({ host, port: 0 }, resolve))
  const controlPort = (controlServer.address() as AddressInfo).port

  let shuttingDown = false
  const shutdown = async () => {
    if (shuttingDown) return
    shuttingDown = true
    controlServer.closeAllConnections()
    await Promise.all([server.close(), new Promise((resolve) => controlServer.close(resolve))])
    process.exit(0)
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
  // Exit with the parent: only watch stdin when it is a pipe or socket (a TTY or /dev/null would not work).
  const stdin = fstatSync(0)
  if (stdin.isFIFO() || stdin.isSocket()) {
    process.stdin.on('end', shutdown)
    process.stdin.on('close', shutdown)
    process.stdin.resume()
  }

  process.stdout.write(
    `${JSON.stringify({ url: server.url, control: `http://${hostForUrl(host)}:${controlPort}` })}\n`,
  )
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === thisFile) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
