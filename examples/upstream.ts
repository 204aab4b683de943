/**
 * A small JSON API on 127.0.0.1 for the examples to call, and for their tests to watch: it counts the
 * requests it is answering at once, as the server sees them. Only `node:` built-ins, so it runs under
 * Node's type stripping (and Vite's config loader).
 *
 * | route              | response                                                                   |
 * | ------------------ | -------------------------------------------------------------------------- |
 * | `GET /items/:id`   | `{ id, name }`, after `?ms=N` (default 0), or when the gate opens (below) |
 * | `GET /report?kb=N` | N KiB of text (default 256): a body large enough that forgetting it costs   |
 * | `HEAD /health`     | 200, no body                                                               |
 *
 * `gate: n` holds each `/items` response until `n` of them are waiting, then answers them all: a client
 * that may send `n` at once gets through, one that sends fewer waits forever (so a test asserts the
 * limit without timing), and `peak` shows whether more than `n` ever arrived together.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface UpstreamOptions {
  /** Answer `/items` only in groups of this many (see above). */
  gate?: number
  /** Send `Timing-Allow-Origin: *`, so a page on another origin can see the protocol. Default true. */
  timingAllowOrigin?: boolean
}

export interface Upstream {
  /** E.g. `http://127.0.0.1:41234`. */
  url: string
  /** Requests answered, and the most in progress at once (from arrival until the response was ended). */
  stats(): { requests: number; peak: number }
  /** Zeroes the counts. */
  reset(): void
  close(): Promise<void>
}

export async function startUpstream({
  gate,
  timingAllowOrigin = true,
}: UpstreamOptions = {}): Promise<Upstream> {
  const headers: Record<string, string> = {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': '*',
    ...(timingAllowOrigin ? { 'timing-allow-origin': '*' } : {}),
  }
  let requests = 0
  let inProgress = 0
  let peak = 0
  let waiting: (() => void)[] = []
  const sockets = new Set<Socket>()

  function answer(res: http.ServerResponse, status: number, type: string, body: string): void {
    inProgress--
    res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream')
    if (req.method === 'OPTIONS') return res.writeHead(204, headers).end()
    requests++
    peak = Math.max(peak, ++inProgress)
    const item = /^\/items\/([\w-]+)$/.exec(url.pathname)
    if (req.method === 'GET' && item) {
      const id = item[1]!
      const send = () => answer(res, 200, 'application/json', JSON.stringify({ id, name: `item ${id}` }))
      if (gate !== undefined) {
        waiting.push(send)
        if (waiting.length >= gate) {
          const open = waiting
          waiting = []
          for (const release of open) release()
        }
        return
      }
      const ms = Number(url.searchParams.get('ms') ?? 0)
      if (ms > 0) setTimeout(send, ms)
      else send()
      return
    }
    if (req.method === 'GET' && url.pathname === '/report') {
      return answer(res, 200, 'text/plain', 'x'.repeat(1024 * Number(url.searchParams.get('kb') ?? 256)))
    }
    if (req.method === 'HEAD' && url.pathname === '/health') return answer(res, 200, 'text/plain', '')
    answer(
      res,
      404,
      'application/json',
      JSON.stringify({ error: `no route for ${req.method} ${url.pathname}` }),
    )
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ requests, peak }),
    reset: () => {
      requests = 0
      peak = inProgress
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** `node examples/upstream.ts`: one server, for trying the Deno example by hand. */
if (import.meta.main) {
  const upstream = await startUpstream()
  console.log(`upstream API on ${upstream.url} (Ctrl-C to stop)`)
}
