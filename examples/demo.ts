/**
 * `npm start`: the same sloppy code run three times against a loopback server in a child process —
 * through raw `fetch`, plain `ky`, and ky-pool with its defaults — and what the server saw each time.
 *
 * The code is "sloppy" the way real code is: half the bodies are never read, error responses are
 * dropped unread, a 503 is retried, and a burst of 200 calls is fired at once.
 */
import ky, { HTTPError } from 'ky'
import { createClient, LeakError, type LeakReport, type PooledKy } from '../src/index.ts'
import { type SpawnedServer, spawnServer } from '../test/support/loopback-server.ts'

interface Client {
  name: string
  /** A GET as everyday code writes it with this client; `read` says whether the body is read. */
  get(url: string, read: boolean): Promise<void>
}

const rawFetch: Client = {
  name: 'fetch',
  async get(url, read) {
    let response = await fetch(url)
    if (response.status === 503) response = await fetch(url) // retry by hand; the 503 body is never read
    if (!response.ok) return // the error body is never read
    if (read) await response.text()
  },
}

const plainKy: Client = {
  name: 'ky',
  async get(url, read) {
    try {
      const response = await ky.get(url) // retries the 503 by itself
      if (read) await response.text()
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error
    }
  },
}

function kyPool(pooled: PooledKy): Client {
  return {
    name: 'ky-pool',
    async get(url, read) {
      try {
        const response = await pooled.get(url) // the same line as with ky
        if (read) await response.text()
      } catch (error) {
        if (!(error instanceof HTTPError)) throw error
      }
    },
  }
}

/**
 * 100 sequential calls with 32 KB bodies — every other body never read, ten 404s and two 500s (dropped
 * unread by the fetch code; ky reads error bodies into `HTTPError.data` and retries 500s twice with 0.3 s
 * and 0.6 s of backoff), one 503 that succeeds on retry — then 200 calls fired at once, bodies read,
 * each answered after 20 ms.
 */
async function sloppyWorkload(client: Client, base: string): Promise<void> {
  const size = 32 * 1024
  for (let i = 0; i < 100; i++) {
    if (i === 50) await client.get(`${base}/flaky?key=${client.name}&fail=1&retryAfter=0&size=${size}`, true)
    else if (i % 10 === 3) await client.get(`${base}/status/404?size=${size}`, true)
    else if (i === 17 || i === 77) await client.get(`${base}/status/500?size=${size}`, true)
    else await client.get(`${base}/json?size=${size}`, i % 2 === 0)
  }
  await Promise.all(Array.from({ length: 200 }, () => client.get(`${base}/delay?ms=20&size=2048`, true)))
}

interface Row {
  client: string
  connections: number
  peak: number
  ms: number
  leaks: LeakReport[] | undefined
}

/** Node's fetch keeps its connection pool in a global undici Agent: a new one gives each client a cold start. */
async function freshConnections(): Promise<void> {
  const key = Symbol.for('undici.globalDispatcher.1')
  const slot = globalThis as unknown as Record<
    symbol,
    { constructor: new () => unknown; destroy(): Promise<void> }
  >
  const old = slot[key]
  if (old === undefined) return
  slot[key] = new old.constructor() as typeof old
  await old.destroy().catch(() => {})
}

async function measure(
  server: SpawnedServer,
  client: Client,
  settle?: () => Promise<LeakReport[]>,
): Promise<Row> {
  await freshConnections()
  while ((await server.stats()).inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await server.reset()
  const start = performance.now()
  await sloppyWorkload(client, server.url)
  const ms = performance.now() - start
  const leaks = await settle?.()
  const { connections, peakInFlight } = await server.stats()
  return { client: client.name, connections, peak: peakInFlight, ms, leaks }
}

function printTable(rows: Row[]): void {
  const cells = [
    ['client', 'connections opened', 'peak concurrent requests at the server', 'wall time', 'leaks reported'],
    ...rows.map((row) => [
      row.client,
      String(row.connections),
      String(row.peak),
      `${Math.round(row.ms)} ms`,
      row.leaks === undefined ? 'no way to tell' : String(row.leaks.length),
    ]),
  ]
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((line) => line[column]!.length)))
  const line = (values: string[]) =>
    `| ${values.map((value, column) => (column === 0 ? value.padEnd(widths[column]!) : value.padStart(widths[column]!))).join(' | ')} |`
  console.log(line(cells[0]!))
  console.log(
    `|${widths.map((width, column) => (column === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
  )
  for (const values of cells.slice(1)) console.log(line(values))
}

/** Breaks `text` into lines of at most `width` characters, at spaces. */
function wrap(text: string, width = 100): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  return [...lines, line].join('\n')
}

async function main(): Promise<void> {
  console.log('ky-pool demo: one sloppy workload, three clients, what a loopback server saw\n')
  console.log(
    `${wrap(
      '100 sequential GETs with 32 KB bodies (every other body never read, ten 404s and two 500s, one 503 ' +
        'then success), then 200 GETs fired at once (20 ms each at the server). The server runs in a child ' +
        `process and counts TCP connections and concurrent requests. Node ${process.version}.`,
    )}\n`,
  )
  const server = await spawnServer()
  try {
    // Leaks are collected with 'strict': nothing is printed during the run and settle() throws a LeakError
    // carrying every report ('silent' prints nothing either, but keeps no reports for settle() to return).
    const pooled = createClient({ pool: { leaks: 'strict' } })
    const settle = async () => {
      try {
        return await pooled.pool.settle()
      } catch (error) {
        if (error instanceof LeakError) return error.leaks
        throw error
      }
    }
    const rows = [
      await measure(server, rawFetch),
      await measure(server, plainKy),
      await measure(server, kyPool(pooled), settle),
    ]
    printTable(rows)

    const [fetchRow, kyRow, poolRow] = rows as [Row, Row, Row]
    const leaks = poolRow.leaks ?? []
    const slots = pooled.pool.options.perOrigin ?? 6 // the default for an HTTP/1.1 origin in Node
    console.log(
      '\n' +
        wrap(
          `Reading: raw fetch and ky opened a connection for almost every one of the 200 burst calls ` +
            `(${fetchRow.connections} and ${kyRow.connections} in all) and let up to ${fetchRow.peak} and ` +
            `${kyRow.peak} requests hit the server at once; neither can tell which bodies were left unread. ` +
            `(In the sequential part Node's fetch copes with the unread 32 KB bodies: undici buffers an unread ` +
            `body up to about 64 KB and reuses the socket; above that it opens one connection per request.) ` +
            `ky-pool opened ${poolRow.connections} connections, let at most ${poolRow.peak} requests reach the ` +
            `server at once (its per-origin limit is ${slots}), took the forgotten bodies in so their connections stayed ` +
            `reusable, and reported ${leaks.length} leaked ${leaks.length === 1 ? 'body' : 'bodies'}, each with the ` +
            'line that made the request. Its wall time is the price of the cap: the burst waits for ' +
            `${slots} slots (200 / ${slots} × 20 ms ≈ ${Math.round((200 / slots) * 20)} ms) — and ky and ky-pool ` +
            "both spend about 1.8 s in ky's retry backoff for the two 500s, which the fetch code does not retry. " +
            'On a real network each new connection also costs a round trip and a TLS handshake, and a server or ' +
            'rate limiter sees the peak, not the average.',
        ),
    )
    const example = leaks[0]
    if (example !== undefined) {
      const frames = example.callSite.split('\n').filter((frame) => frame.includes('demo.ts'))
      console.log(
        `\n${wrap(
          `Example leak report: ${example.method} ${example.url} (${example.status}), found by ` +
            `${example.detectedBy}; the pool ${example.action} it. Requested at:`,
        )}\n${(frames.length > 0 ? frames : [example.callSite]).slice(0, 2).join('\n')}`,
      )
    }
  } finally {
    await freshConnections()
    await server.close()
  }
}

await main()
