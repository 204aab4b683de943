/**
 * The Worker bench/reuse-workerd.ts bundles (with rolldown, from src/ through the `workerd` entry) and
 * runs in Miniflare: ONE invocation runs the sequential workloads whose bodies are never read, at 2, 32
 * and 64 KB (up to drainLimit) and 200 KB (above it), through raw fetch, plain ky and ky-pool, interleaved
 * over rounds after a warm-up, and answers with every run's numbers as JSON. Before each run it zeroes
 * the loopback server's counters over its control port (never counted); after it, it reads them.
 * workerd's connection pool cannot be emptied from inside, so each run (warm-ups too) gets an origin of
 * its own: `servers` lists one per run, each a port the runner forwards 1:1 to the same server.
 *
 * Query: servers (comma-separated origins, one per run), control (the server's control URL), n (sequential requests, 300), largeN (30), sizes
 * (2048,32768,65536), large (204800), rounds (3).
 */
import ky, { HTTPError } from 'ky'
import { createClient, LeakError, type PoolOptions } from '../../src/workerd.ts'

export interface WorkerRun {
  connections: number
  peak: number
  ms: number
  leaks: number | undefined
}

export interface WorkerCase {
  label: string
  size: number
  requests: number
  read: boolean
  results: { client: string; runs: WorkerRun[] }[]
}

interface Contender {
  name: string
  start(): void
  call(url: string, read: boolean): Promise<void>
  finish(): Promise<number | undefined>
}

async function consume(response: Response, read: boolean): Promise<void> {
  if (read) await response.arrayBuffer()
}

const rawFetch: Contender = {
  name: 'fetch',
  start() {},
  async call(url, read) {
    const response = await fetch(url)
    if (response.ok) await consume(response, read)
  },
  finish: async () => undefined,
}

const plainKy: Contender = {
  name: 'ky',
  start() {},
  async call(url, read) {
    try {
      await consume(await ky.get(url), read)
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error
    }
  },
  finish: async () => undefined,
}

/** How the leaks of every run (warm-ups too) were found, by client and `detectedBy`. */
const detected = new Map<string, number>()

function kyPool(name: string, pool: PoolOptions = {}): Contender {
  let client = createClient({ pool: { leaks: 'strict', ...pool } })
  return {
    name,
    start() {
      client = createClient({ pool: { leaks: 'strict', ...pool } })
    },
    async call(url, read) {
      try {
        await consume(await client.get(url), read)
      } catch (error) {
        if (!(error instanceof HTTPError)) throw error
      }
    },
    async finish() {
      try {
        return (await client.pool.settle()).length
      } catch (error) {
        if (!(error instanceof LeakError)) throw error
        for (const leak of error.leaks) {
          const key = `${name}: ${leak.detectedBy}, ${leak.action}`
          detected.set(key, (detected.get(key) ?? 0) + 1)
        }
        return error.leaks.length
      }
    },
  }
}

interface Stats {
  connections: number
  peakInFlight: number
  inFlight: number
}

async function control(base: string, method: string, path: string): Promise<Stats> {
  const response = await fetch(`${base}${path}`, { method })
  return (await response.json()) as Stats
}

export default {
  async fetch(request: Request): Promise<Response> {
    const params = new URL(request.url).searchParams
    const servers = (params.get('servers') ?? '').split(',')
    let next = 0
    const controlUrl = params.get('control') ?? ''
    const int = (name: string, fallback: number) => Number(params.get(name) ?? fallback)
    const n = int('n', 300)
    const largeN = int('largeN', 30)
    const large = int('large', 204800)
    const rounds = int('rounds', 3)
    const sizes = (params.get('sizes') ?? '2048,32768,65536')
      .split(',')
      .filter((part) => part !== '')
      .map(Number)

    const cases: (WorkerCase & { contenders: Contender[] })[] = []
    const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`
    for (const size of sizes) {
      const label = `${n} sequential, ${kb(size)}`
      cases.push({
        label: `${label}, never read`,
        size,
        requests: n,
        read: false,
        contenders: [rawFetch, plainKy, kyPool('ky-pool')],
        results: [],
      })
      if (size === 32768) {
        cases.push({
          label: `${label}, read`,
          size,
          requests: n,
          read: true,
          contenders: [rawFetch, plainKy, kyPool('ky-pool')],
          results: [],
        })
      }
    }
    if (largeN > 0) {
      cases.push({
        label: `${largeN} sequential, ${kb(large)}, never read`,
        size: large,
        requests: largeN,
        read: false,
        contenders: [
          rawFetch,
          plainKy,
          kyPool('ky-pool'),
          kyPool('ky-pool, drainLimit 256 KB', { drainLimit: 256 * 1024 }),
          kyPool('ky-pool, reclaimAfter 0', { reclaimAfter: 0 }),
        ],
        results: [],
      })
    }

    const run = async (item: (typeof cases)[number], contender: Contender, scale: number) => {
      // Wait for the last run's responses to end (unread bodies torn down), then zero the counters.
      for (let i = 0; i < 200 && (await control(controlUrl, 'GET', '/stats')).inFlight > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      await control(controlUrl, 'POST', '/reset')
      const server = servers[next++]
      if (server === undefined) throw new Error('fewer origins than runs')
      contender.start()
      const url = `${server}/bytes?size=${item.size}`
      const started = Date.now()
      for (let i = 0; i < Math.max(1, Math.round(item.requests * scale)); i++) {
        await contender.call(url, item.read)
      }
      const ms = Date.now() - started
      const leaks = await contender.finish()
      const after = await control(controlUrl, 'GET', '/stats')
      return {
        connections: after.connections,
        peak: after.peakInFlight,
        ms,
        leaks,
      }
    }

    for (const item of cases) {
      for (const contender of item.contenders) {
        await run(item, contender, 0.1)
        item.results.push({ client: contender.name, runs: [] })
      }
      for (let round = 0; round < rounds; round++) {
        for (let offset = 0; offset < item.contenders.length; offset++) {
          const index = (round + offset) % item.contenders.length
          item.results[index]!.runs.push(await run(item, item.contenders[index]!, 1))
        }
      }
    }
    return Response.json({
      cases: cases.map(({ contenders: _, ...item }) => item),
      detected: Object.fromEntries(detected),
    })
  },
}
