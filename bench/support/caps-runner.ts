/**
 * Runs bench/caps.ts's job for Node (`node bench/support/caps-runner.ts`) and Deno
 * (`deno run -A bench/support/caps-runner.ts`): reads one job (JSON) from the `CAPS_JOB` environment variable,
 * runs every row's contenders interleaved over rounds after a short warm-up, and prints one JSON line with every
 * run on stdout (progress goes to stderr).
 *
 * One run = one new connection pool (Node: a new undici `Agent({ connect: { ca } })`; Deno: a new
 * `Deno.createHttpClient({ caCerts: [ca] })`) and one new client (plain ky, or ky-pool's
 * `createClient({ pool: { perOrigin } })`), then two bursts of `n` parallel `.json()` GETs of `/delay/:ms`:
 *   cold  the first burst, on the empty pool: every connection it uses is opened during the burst;
 *   warm  a second burst at once, same pool and same client: the connections the first one left are reused.
 * The server's counters (TLS connections accepted, peak responses in flight) are zeroed before and read after each
 * burst over its control port (plain HTTP, never counted). `globalThis.fetch` is wrapped once to route every call —
 * ky's and ky-pool's alike, since both look it up per call — through the current pool, as protocols-runner does.
 * Every burst is bounded (`timeoutMs`, the requests are aborted then and the burst reports `timedOut`).
 */
import ky from 'ky'
import * as kyPool from '../../src/index.ts'
import { baseFetch, closePool, coldPool, deno } from './cold-pool.ts'

export interface CapsContender {
  /** 'ky' or 'ky-pool'. */
  kind: 'ky' | 'ky-pool'
  /** ky-pool's `perOrigin`; `null` stands for `Infinity` (JSON has no Infinity). */
  perOrigin?: number | null
  /** How the table names it: 'plain ky', 'ky-pool 6', 'ky-pool ∞'. */
  name: string
}

export interface CapsRow {
  id: string
  /** The API origin (a latency proxy in front of the server). */
  api: string
  /** The server's control URL and the CA to trust. */
  control: string
  ca: string
  n: number
  delayMs: number
  rounds: number
  timeoutMs: number
  contenders: CapsContender[]
}

export interface BurstResult {
  ms: number
  timedOut?: boolean
  error?: string
  /** TLS connections the server accepted during the burst. */
  connections: number
  /** Most responses in flight at the server at once during the burst. */
  peakInFlight: number
  requests: number
}

export interface CapsRun {
  cold: BurstResult
  warm: BurstResult
  /** ky-pool: the per-origin limit its stats reported during the cold burst. */
  limit?: number | null
}

export interface CapsOutput {
  runtime: string
  rows: { id: string; runs: Record<string, CapsRun[]> }[]
}

async function control(row: CapsRow, method: string, path: string): Promise<unknown> {
  const response = await baseFetch(`${row.control}${path}`, { method })
  return response.json()
}

interface ServerStats {
  connections: { total: number }
  requests: { total: number }
  peakInFlight: number
}

interface Client {
  json(url: string, signal: AbortSignal): Promise<unknown>
  limit?(origin: string): number | null | undefined
  finish(): Promise<void>
}

function clientFor(contender: CapsContender): Client {
  if (contender.kind === 'ky') {
    return { json: (url, signal) => ky.get(url, { signal }).json(), finish: async () => {} }
  }
  const perOrigin = contender.perOrigin === null ? Infinity : contender.perOrigin
  const client = kyPool.createClient({ pool: { perOrigin } })
  return {
    json: (url, signal) => client.get(url, { signal }).json(),
    limit(origin) {
      const entry = client.pool.stats().origins[origin] as { limit?: number } | undefined
      const limit = entry?.limit
      return limit === undefined ? undefined : Number.isFinite(limit) ? limit : null
    },
    async finish() {
      // Every body was read; settle() only confirms it (bounded, so a surprise cannot hang the run).
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        client.pool.settle().catch(() => {}),
        new Promise<void>((done) => {
          timer = setTimeout(done, 2000)
        }),
      ])
      clearTimeout(timer)
    },
  }
}

async function burst(
  row: CapsRow,
  client: Client,
  n: number,
  tag: string,
  onFirst?: () => void,
): Promise<BurstResult> {
  await control(row, 'POST', '/reset?wait=2000')
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new Error(`burst timed out after ${row.timeoutMs} ms`))
  }, row.timeoutMs)
  const result: BurstResult = { ms: Number.NaN, connections: 0, peakInFlight: 0, requests: 0 }
  const started = performance.now()
  try {
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const call = client.json(`${row.api}/delay/${row.delayMs}?r=${tag}&i=${i}`, controller.signal)
        if (i === 0 && onFirst !== undefined) call.then(onFirst, () => {})
        return call
      }),
    )
    result.ms = performance.now() - started
  } catch (error) {
    if (timedOut) {
      result.timedOut = true
      result.ms = row.timeoutMs
    } else result.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } finally {
    clearTimeout(timer)
  }
  const stats = (await control(row, 'GET', '/stats')) as ServerStats
  result.connections = stats.connections.total
  result.peakInFlight = stats.peakInFlight
  result.requests = stats.requests.total
  return result
}

async function measured(row: CapsRow, contender: CapsContender, tag: string, n = row.n): Promise<CapsRun> {
  coldPool(row.ca)
  try {
    const client = clientFor(contender)
    const origin = new URL(row.api).origin
    let limit: number | null | undefined
    // While the rest of the cold burst is in flight: the limit ky-pool applies to the origin.
    const cold = await burst(row, client, n, `${tag}c`, () => {
      limit = client.limit?.(origin)
    })
    const warm = await burst(row, client, n, `${tag}w`)
    await client.finish()
    const run: CapsRun = { cold, warm }
    if (contender.kind === 'ky-pool') run.limit = limit
    return run
  } finally {
    await closePool()
  }
}

const mark = (run: CapsRun) =>
  [run.cold, run.warm].some((b) => b.timedOut) ? 'T' : [run.cold, run.warm].some((b) => b.error) ? 'E' : '.'

async function main(): Promise<void> {
  const raw = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.CAPS_JOB
  if (raw === undefined) throw new Error('CAPS_JOB (a JSON job from bench/caps.ts) is not set')
  const job = JSON.parse(raw) as { rows: CapsRow[] }
  const output: CapsOutput = {
    runtime: deno === undefined ? `Node ${process.version}` : `Deno ${deno.version.deno}`,
    rows: [],
  }
  const tag = (round: number) => `${round < 0 ? 'w' : round}${Math.random().toString(36).slice(2, 8)}`
  for (const row of job.rows) {
    const runs: Record<string, CapsRun[]> = {}
    // Warm-up: a fifth of the burst per contender (JIT, module state), dropped.
    for (const contender of row.contenders) {
      await measured(row, contender, tag(-1), Math.max(1, Math.round(row.n / 5)))
    }
    for (let round = 0; round < row.rounds; round++) {
      for (let offset = 0; offset < row.contenders.length; offset++) {
        const contender = row.contenders[(round + offset) % row.contenders.length]!
        const run = await measured(row, contender, tag(round))
        runs[contender.name] = [...(runs[contender.name] ?? []), run]
        process.stderr.write(mark(run))
      }
    }
    process.stderr.write(` ${row.id}\n`)
    output.rows.push({ id: row.id, runs })
  }
  process.stdout.write(`${JSON.stringify(output)}\n`)
}

await main()
// A timed-out burst may leave timers or sockets behind: the job is done, leave.
if (deno !== undefined) deno.exit(0)
else process.exit(0)
