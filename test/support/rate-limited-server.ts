/**
 * A real HTTP/1.1 server on loopback that enforces a token bucket (`rate` requests a second, `burst`
 * at once) and answers 429 beyond it, the way rate-limited APIs do. What it tells the client depends on
 * `mode`: `retry-after` (429 + `Retry-After`, whole seconds, rounded up), `x-ratelimit` (every response
 * carries `X-RateLimit-Limit`/`-Remaining`/`-Reset`, reset in epoch seconds when the bucket is full
 * again, as GitHub sends it; 429s carry `Retry-After` too), `ratelimit` (the IETF fields:
 * `RateLimit: "bucket";r=…;t=…` and `RateLimit-Policy: "bucket";q=rate;w=1`). It counts what it saw:
 * requests, 429s, and the time of each request. `GET /?status=503` answers 503 + Retry-After (`ra`).
 * Only `node:` built-ins: it runs under Node's type stripping, in tests and in bench/backpressure.ts.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type RateMode = 'retry-after' | 'x-ratelimit' | 'ratelimit'

export interface RateLimitedServer {
  origin: string
  /** Requests seen, 429s sent, and the ms (performance.now()) of every request. */
  stats(): { requests: number; limited: number; times: number[] }
  reset(options?: Partial<BucketOptions>): void
  close(): Promise<void>
}

export interface BucketOptions {
  rate: number
  burst: number
  mode: RateMode
  /** Retry-After to send instead of the computed one (e.g. an HTTP-date or garbage). */
  retryAfter?: string
}

export async function startRateLimitedServer(options: BucketOptions): Promise<RateLimitedServer> {
  let config = { ...options }
  let tokens = config.burst
  let refilledAt = performance.now()
  let requests = 0
  let limited = 0
  let times: number[] = []
  const refill = () => {
    const now = performance.now()
    tokens = Math.min(config.burst, tokens + ((now - refilledAt) / 1000) * config.rate)
    refilledAt = now
  }
  const server = http.createServer((req, res) => {
    requests++
    times.push(performance.now())
    const url = new URL(req.url ?? '/', 'http://x')
    refill()
    const headers: Record<string, string> = { 'content-type': 'application/json', connection: 'keep-alive' }
    const forced = url.searchParams.get('status')
    if (forced !== null) {
      headers['retry-after'] = url.searchParams.get('ra') ?? '1'
      res.writeHead(Number(forced), headers).end(JSON.stringify({ error: forced }))
      return
    }
    const ok = tokens >= 1
    if (ok) tokens -= 1
    const untilToken = Math.max(0, (1 - tokens) / config.rate) // seconds until the next request would pass
    const untilFull = (config.burst - tokens) / config.rate
    const remaining = Math.floor(Math.max(0, tokens))
    if (config.mode === 'x-ratelimit') {
      headers['x-ratelimit-limit'] = String(config.burst)
      headers['x-ratelimit-remaining'] = String(remaining)
      headers['x-ratelimit-reset'] = String(Math.ceil(Date.now() / 1000 + untilFull))
    } else if (config.mode === 'ratelimit') {
      headers.ratelimit = `"bucket";r=${remaining};t=${Math.ceil(remaining > 0 ? 0 : untilToken)}`
      headers['ratelimit-policy'] = `"bucket";q=${config.rate};w=1`
    }
    if (!ok) {
      limited++
      headers['retry-after'] = config.retryAfter ?? String(Math.max(1, Math.ceil(untilToken)))
      res.writeHead(429, headers).end('{"error":"too many requests"}')
      return
    }
    res.writeHead(200, headers).end('{"hello":"world"}')
  })
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    stats: () => ({ requests, limited, times }),
    reset(next = {}) {
      config = { ...config, ...next }
      tokens = config.burst
      refilledAt = performance.now()
      requests = 0
      limited = 0
      times = []
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
