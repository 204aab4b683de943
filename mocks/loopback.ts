/**
 * The shared msw handlers served over real HTTP/1.1 on 127.0.0.1 (Node only), for tests that are about
 * connections rather than responses: a real browser's connection pool (test/browser, started by a vitest
 * `globalSetup`) or a real workerd's outbound fetches (test/workerd via Miniflare). Each request is
 * answered by msw's `getResponse` with the same handlers as every interceptor, under any origin.
 *
 * Cross-origin pages may read everything: CORS is open, and `Timing-Allow-Origin: *` lets Resource Timing
 * report `nextHopProtocol` and connection reuse (`{ timingAllowOrigin: false }`: without it, like most
 * cross-origin APIs, so the page cannot learn the protocol). `GET /__stats` returns connection and in-flight counts as
 * the server saw them; `POST /__reset` zeroes them.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { getResponse } from 'msw'
import { createHandlers } from './handlers.ts'

export interface LoopbackStats {
  /** TCP connections accepted (since the last reset). */
  connections: number
  /** Requests answered (stats and preflights excluded). */
  requests: number
  /** Responses not yet finished or aborted. */
  inFlight: number
  /** The most responses in flight at once. */
  peakInFlight: number
}

export interface MockLoopback {
  /** E.g. `http://127.0.0.1:41234`. */
  url: string
  stats(): LoopbackStats
  reset(): void
  close(): Promise<void>
}

const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': '*',
  'access-control-allow-methods': '*',
  'access-control-expose-headers': '*',
}

export async function startMockLoopback({ timingAllowOrigin = true } = {}): Promise<MockLoopback> {
  const open: Record<string, string> = timingAllowOrigin ? { ...cors, 'timing-allow-origin': '*' } : cors
  const handlers = createHandlers('*')
  const sockets = new Set<Socket>()
  const stats: LoopbackStats = { connections: 0, requests: 0, inFlight: 0, peakInFlight: 0 }
  const server = http.createServer(async (req, res) => {
    const url = `http://${req.headers.host}${req.url}`
    const path = new URL(url).pathname
    if (req.method === 'OPTIONS') return res.writeHead(204, open).end()
    if (path === '/__stats')
      return res.writeHead(200, { ...open, 'content-type': 'application/json' }).end(JSON.stringify(stats))
    if (path === '/__reset') {
      reset()
      return res.writeHead(204, open).end()
    }
    stats.requests++
    stats.inFlight++
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight)
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
    res.once('close', () => {
      stats.inFlight--
      reader?.cancel().catch(() => {})
    })
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.set(name, value)
    }
    const response =
      (await getResponse(handlers, new Request(url, { method: req.method, headers }))) ??
      new Response(`no msw handler for ${req.method} ${path}`, { status: 404 })
    res.writeHead(response.status, { ...Object.fromEntries(response.headers), ...open })
    if (response.body === null || req.method === 'HEAD') return res.end()
    reader = response.body.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve))
        if (res.destroyed) return
      }
      res.end()
    } catch {
      res.destroy()
    }
  })
  server.keepAliveTimeout = 5000
  server.on('connection', (socket) => {
    stats.connections++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  function reset(): void {
    stats.connections = 0
    stats.requests = 0
    stats.peakInFlight = stats.inFlight
  }

  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats }),
    reset,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
