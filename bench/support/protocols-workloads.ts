/**
 * The workloads of bench/protocols.ts, written once and run unchanged in Node and Deno
 * (bench/support/protocols-runner.ts), in Chromium (bench/support/protocols-page.ts, bundled with rolldown)
 * and in workerd (bench/support/protocols-worker.ts). No runtime APIs here: `globalThis.fetch` (looked up per
 * call, so a runner can route it through a fresh connection pool), ky, and the ky-pool entry the caller passes
 * (src/index.ts, or src/workerd.ts in a Worker).
 *
 * One `runOnce` is one measured run of one contender: it makes a new client, runs the workload against
 * `spec.api`, and returns its wall time. Every run is bounded by `spec.timeoutMs` (the requests are aborted
 * then, and the run reports `timedOut`).
 */
import ky from 'ky'

export type Scenario = 'burst' | 'sequential' | 'stall' | 'fanout'
export type ContenderName = 'ky-pool' | 'ky-pool, declared' | 'ky' | 'fetch'
export const contenderNames: readonly ContenderName[] = ['ky-pool', 'ky-pool, declared', 'ky', 'fetch']

export interface RunSpec {
  scenario: Scenario
  contender: ContenderName
  /** The API origin (through the latency proxy when there is one), no trailing slash. */
  api: string
  /** A tag unique to this run, added to every URL (Chromium's cache lets one request per URL at a time). */
  tag: string
  /** Requests: burst/fanout in parallel, sequential one after another, stall the unread ones before the next. */
  n: number
  /** burst: the server's delay per request. */
  delayMs?: number
  /** sequential/stall/fanout: body size in bytes. */
  size?: number
  /** sequential: read each body (the baseline) or leave it unread. */
  read?: boolean
  /** fanout: the body comes in `chunks` slices, one every `every` ms. */
  chunks?: number
  every?: number
  /** The protocol 'ky-pool, declared' declares for `api`. */
  declare?: 'h1' | 'h2' | 'h3'
  /** The whole run (stall: the next request) is aborted after this many ms. */
  timeoutMs: number
  /** The git commit measured, for the "n/a" line. */
  commit?: string
}

export interface PoolSnapshot {
  limit?: number
  total?: number
  protocol?: string
  protocolSource?: string
}

export interface RunResult {
  /** Wall time of the workload; stall: the time of the next request alone. */
  ms: number
  /** stall: the time of the whole run (unread bodies + the next request). */
  totalMs?: number
  timedOut?: boolean
  /** The contender could not run here (e.g. an option the library does not support yet). */
  na?: string
  error?: string
  /** ky-pool: what `pool.stats()` said about `api`'s origin while requests were in flight. */
  pool?: PoolSnapshot
  /** ky-pool: leak reports gathered by `settle()` after the run. */
  leaks?: number
}

/** What a workload needs from ky-pool's entry point (src/index.ts or src/workerd.ts). */
export interface KyPoolEntry {
  // biome-ignore lint/suspicious/noExplicitAny: the options' type changes with the library; any keeps old commits building.
  createClient(options?: any): PooledLike
  PoolConfigError: new (...args: never[]) => Error
  LeakError: new (...args: never[]) => Error & { leaks: unknown[] }
}

interface PooledLike {
  get(url: string, options?: Record<string, unknown>): Promise<Response> & { json(): Promise<unknown> }
  pool: {
    // `object`: the per-origin fields change with the library (protocol, protocolSource); read defensively.
    stats(): { limit: number; origins: Record<string, object | undefined> }
    settle(): Promise<unknown[]>
  }
}

/** A GET written the everyday way with one client; `signal` aborts it. */
interface Client {
  get(url: string, signal: AbortSignal): Promise<Response>
  json(url: string, signal: AbortSignal): Promise<unknown>
  /** ky-pool only: a snapshot of its stats for `origin`. */
  snapshot?(origin: string): PoolSnapshot
  finish(): Promise<number | undefined>
}

function kyPoolClient(lib: KyPoolEntry, spec: RunSpec): Client | string {
  const pool: Record<string, unknown> = { leaks: 'strict' }
  if (spec.contender === 'ky-pool, declared') {
    pool.origins = { [new URL(spec.api).origin]: { protocol: spec.declare ?? 'h2' } }
  }
  let client: PooledLike
  try {
    client = lib.createClient({ pool })
  } catch (error) {
    if (error instanceof lib.PoolConfigError)
      return `n/a (option not supported at ${spec.commit ?? 'this commit'})`
    throw error
  }
  return {
    get: (url, signal) => client.get(url, { signal }),
    json: (url, signal) => client.get(url, { signal }).json(),
    snapshot(origin) {
      const stats = client.pool.stats()
      const entry = stats.origins[origin] as Record<string, unknown> | undefined
      const snap: PoolSnapshot = { total: stats.limit }
      if (entry === undefined) return snap
      if (typeof entry.limit === 'number') snap.limit = entry.limit
      if (typeof entry.protocol === 'string') snap.protocol = entry.protocol
      if (typeof entry.protocolSource === 'string') snap.protocolSource = entry.protocolSource
      return snap
    },
    async finish() {
      try {
        return (await client.pool.settle()).length
      } catch (error) {
        if (error instanceof lib.LeakError) return error.leaks.length
        throw error
      }
    },
  }
}

const kyClient: Client = {
  get: (url, signal) => ky.get(url, { signal }),
  json: (url, signal) => ky.get(url, { signal }).json(),
  finish: async () => undefined,
}

const fetchClient: Client = {
  async get(url, signal) {
    const response = await fetch(url, { signal })
    if (!response.ok) throw new Error(`${url}: ${response.status}`)
    return response
  },
  async json(url, signal) {
    const response = await fetch(url, { signal, headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`${url}: ${response.status}`)
    return response.json()
  },
  finish: async () => undefined,
}

function clientFor(lib: KyPoolEntry, spec: RunSpec): Client | string {
  if (spec.contender === 'ky') return kyClient
  if (spec.contender === 'fetch') return fetchClient
  return kyPoolClient(lib, spec)
}

const settleQuietly = (promise: Promise<unknown>) => promise.catch(() => {})

/** One measured run. Never throws for a failed request: the run reports `error` (or `timedOut`) instead. */
export async function runOnce(lib: KyPoolEntry, spec: RunSpec): Promise<RunResult> {
  const client = clientFor(lib, spec)
  if (typeof client === 'string') return { ms: Number.NaN, na: client }
  const origin = new URL(spec.api).origin
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new Error(`run timed out after ${spec.timeoutMs} ms`))
  }, spec.timeoutMs)
  const signal = controller.signal
  let snap: PoolSnapshot | undefined
  const snapshot = () => {
    if (snap === undefined && client.snapshot !== undefined) snap = client.snapshot(origin)
  }
  const url = (path: string, i: number) =>
    `${spec.api}${path}${path.includes('?') ? '&' : '?'}r=${spec.tag}&i=${i}`
  const result: RunResult = { ms: Number.NaN }
  const started = performance.now()
  try {
    if (spec.scenario === 'burst') {
      await Promise.all(
        Array.from({ length: spec.n }, (_, i) => {
          const call = client.json(url(`/delay/${spec.delayMs ?? 50}`, i), signal)
          // While the others are still in flight: the limit and protocol the pool uses for the burst.
          if (i === 0) settleQuietly(call.then(snapshot))
          return call
        }),
      )
      result.ms = performance.now() - started
    } else if (spec.scenario === 'fanout') {
      const path = `/bytes/${spec.size ?? 30_000}?chunks=${spec.chunks ?? 6}&every=${spec.every ?? 25}`
      await Promise.all(
        Array.from({ length: spec.n }, async (_, i) => {
          const response = await client.get(url(path, i), signal)
          if (i === 0) snapshot()
          await response.arrayBuffer()
        }),
      )
      result.ms = performance.now() - started
    } else if (spec.scenario === 'sequential') {
      for (let i = 0; i < spec.n; i++) {
        const response = await client.get(url(`/bytes/${spec.size ?? 262_144}`, i), signal)
        if (i === 0) snapshot()
        if (spec.read) await response.arrayBuffer()
      }
      result.ms = performance.now() - started
    } else {
      // stall: n unread bodies (headers awaited, bodies never read), then one more request; its time is the figure.
      for (let i = 0; i < spec.n; i++) {
        await client.get(url(`/bytes/${spec.size ?? 2 * 1024 * 1024}`, i), signal)
        if (i === 0) snapshot()
      }
      const next = performance.now()
      await client.json(url('/json', spec.n), signal)
      result.ms = performance.now() - next
      result.totalMs = performance.now() - started
    }
  } catch (error) {
    if (timedOut) {
      result.timedOut = true
      result.ms = spec.timeoutMs
    } else result.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  } finally {
    clearTimeout(timer)
  }
  // At the end too: what the pool learned meanwhile (e.g. a protocol from Resource Timing, which Chromium fills
  // only once a body was read) wins over the first look, field by field.
  const end = client.snapshot?.(origin)
  if (snap !== undefined || end !== undefined) result.pool = { ...snap, ...end }
  // Leak reports (and the pool's own clean-up) after the clock stopped; bounded, and briefly after a timeout.
  let bound: number | ReturnType<typeof setTimeout> | undefined
  const leaks = await Promise.race([
    client.finish().catch(() => undefined),
    new Promise<undefined>((done) => {
      bound = setTimeout(done, timedOut ? 300 : 2000)
    }),
  ])
  clearTimeout(bound)
  if (leaks !== undefined) result.leaks = leaks
  return result
}
