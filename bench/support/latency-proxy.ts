/**
 * A TCP proxy on 127.0.0.1 that adds round-trip time, for kernels without `netem` (this one). It forwards bytes
 * (TLS stays end to end) and delays each direction by RTT/2. A new connection's first bytes from the client are
 * held one RTT more, which is what the TCP handshake would have cost (the client's kernel thinks loopback
 * connected at once and sends its ClientHello straight away). So on a cold connection:
 *
 *   TCP 1 RTT + TLS 1.3 1 RTT + request/response 1 RTT ≈ 3 RTT to the first byte; on a warm one ≈ 1 RTT.
 *
 * (`checkProxy` measures exactly that; `node bench/support/latency-proxy.ts --check` prints it.)
 *
 * Order is kept per direction; there is no bandwidth limit. Backpressure is kept too: while more than
 * `windowBytes` (default 4 MiB) are on their way in one direction, or the receiving socket's buffer is full,
 * the sending socket is paused — so a client that stops reading still stalls the server, as over a real path.
 * A half-close (FIN) travels with the same delay. Only `node:` built-ins.
 *
 * In-process: const proxy = await startLatencyProxy({ target: 'https://127.0.0.1:4433', rtt: 20 })
 *             proxy.url → 'https://127.0.0.1:<its port>', proxy.close()
 * CLI:        node bench/support/latency-proxy.ts --target https://127.0.0.1:4433 --rtt 20
 */
import net from 'node:net'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface LatencyProxyOptions {
  /** Where to forward: an origin ('https://127.0.0.1:4433') or a port on 127.0.0.1. */
  target: string | number
  /** Round-trip time to add, ms (0: a plain 1:1 forwarder, still a new origin). */
  rtt: number
  /** Bytes in flight per direction before the sender is paused (default 4 MiB). */
  windowBytes?: number
}

export interface LatencyProxy {
  /** The target's scheme with the proxy's port, e.g. 'https://127.0.0.1:40001'. */
  url: string
  port: number
  rtt: number
  /** Connections accepted since start. */
  connections(): number
  close(): Promise<void>
}

/** One direction of one connection: chunks leave `delay` ms after they arrived, in order. */
function pipeDelayed(from: net.Socket, to: net.Socket, delay: number, firstExtra: number, window: number) {
  let queued = 0
  let first = true
  // Whether `to` has not yet been told the data ended; the FIN goes out after the last chunk's delay.
  let lastDue = 0
  const later = (due: number, fn: () => void) => {
    const wait = due - performance.now()
    if (wait <= 0.5) queueMicrotask(fn)
    else setTimeout(fn, wait)
  }
  from.on('data', (chunk: Buffer) => {
    const now = performance.now()
    let due = now + delay
    if (first) {
      due += firstExtra
      first = false
    }
    // Never overtake an earlier chunk (timers of equal delay fire in order, but the first one waited longer).
    due = Math.max(due, lastDue)
    lastDue = due
    queued += chunk.length
    if (queued > window) from.pause()
    later(due, () => {
      queued -= chunk.length
      if (to.destroyed) return
      const ok = to.write(chunk)
      if (!ok) {
        from.pause()
        to.once('drain', () => {
          if (queued <= window) from.resume()
        })
      } else if (queued <= window && from.isPaused()) from.resume()
    })
  })
  from.on('end', () => {
    const due = Math.max(performance.now() + delay, lastDue)
    later(due, () => {
      if (!to.destroyed) to.end()
    })
  })
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const target =
    typeof options.target === 'number'
      ? new URL(`http://127.0.0.1:${options.target}`)
      : new URL(options.target)
  const targetPort = Number(target.port || (target.protocol === 'https:' ? 443 : 80))
  const rtt = options.rtt
  const window = options.windowBytes ?? 4 * 1024 * 1024
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer({ noDelay: true }, (client) => {
    accepted++
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1', noDelay: true })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.once('close', () => {
        sockets.delete(socket)
        // A reset or a full close on one side: the other side goes too, after the one-way delay.
        setTimeout(() => {
          client.destroy()
          upstream.destroy()
        }, rtt / 2)
      })
    }
    client.setNoDelay(true)
    pipeDelayed(client, upstream, rtt / 2, rtt, window)
    pipeDelayed(upstream, client, rtt / 2, 0, window)
  })
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => done())
  })
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `${target.protocol}//127.0.0.1:${port}`,
    port,
    rtt,
    connections: () => accepted,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
      }),
  }
}

/**
 * Time to first byte through a proxy at `rtt`, cold (a new TLS connection) and warm (the same connection
 * again), with node:https against `target`. Expect ≈ 3 RTT cold and ≈ 1 RTT warm.
 */
export async function checkProxy(
  target: string,
  rtt: number,
  ca?: string,
): Promise<{ cold: number; warm: number }> {
  const https = await import('node:https')
  const http = await import('node:http')
  const proxy = await startLatencyProxy({ target, rtt })
  const lib = proxy.url.startsWith('https') ? https : http
  const agent = new lib.Agent({ keepAlive: true, maxSockets: 1, ca } as never)
  const ttfb = () =>
    new Promise<number>((done, fail) => {
      const start = performance.now()
      const req = lib.get(`${proxy.url}/json`, { agent } as never, (res) => {
        res.once('data', () => done(performance.now() - start))
        res.resume()
      })
      req.on('error', fail)
    })
  try {
    const cold = await ttfb()
    await new Promise((r) => setTimeout(r, 10))
    const warm = await ttfb()
    return { cold, warm }
  } finally {
    agent.destroy()
    await proxy.close()
  }
}

async function main(argv: string[]): Promise<void> {
  const value = (name: string) => {
    const index = argv.indexOf(name)
    return index === -1 ? undefined : argv[index + 1]
  }
  if (argv.includes('--check')) {
    const { startH2Server } = await import('../../test/support/h2-server.ts')
    const server = await startH2Server({ protocol: 'h1' })
    for (const rtt of [0, 20, 80]) {
      const { cold, warm } = await checkProxy(server.url, rtt, server.ca)
      console.log(
        `RTT ${rtt} ms: cold TTFB ${cold.toFixed(1)} ms (${rtt ? (cold / rtt).toFixed(2) : '—'} RTT), ` +
          `warm ${warm.toFixed(1)} ms (${rtt ? (warm / rtt).toFixed(2) : '—'} RTT)`,
      )
    }
    await server.close()
    return
  }
  const target = value('--target')
  if (target === undefined)
    throw new Error('usage: latency-proxy.ts --target https://127.0.0.1:PORT --rtt MS | --check')
  const proxy = await startLatencyProxy({ target, rtt: Number(value('--rtt') ?? 0) })
  process.stdout.write(`${JSON.stringify({ url: proxy.url, rtt: proxy.rtt })}\n`)
  const stop = () => proxy.close().then(() => process.exit(0))
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2))
}
