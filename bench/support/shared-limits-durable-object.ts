/**
 * The rows of bench/shared-limits-durable-object.ts (issue 10): p50/p99 per request with the shared limit
 * against the same requests with none, when the limit is never reached (the engine's round trips, not
 * queueing).
 *
 * Durable Object (workerd via Miniflare): bench/support/shared-limits-durable-object-worker.ts, bundled from src/ with
 * rolldown, bound to a `KyPoolLimits` namespace (SQLite-backed, local), makes GETs of a loopback server
 * in a Node child process through a ky-pool client, without a shared limit or with `pool.shared` kept by
 * `durableObjectStore()` (a permit taken after the local slot, given back when the body settles), limit
 * 100. Workloads:
 * - one request per invocation, invocations one after another: each opens its session with the object
 *   (the billed request), then acquires; timed in Node around `dispatchFetch` (µs resolution);
 * - `SHARED_N` requests in one invocation, one at a time, then 20 at a time with `batch` 1 and 20: the
 *   session is reused; timed inside the Worker (`performance.now()` advances with I/O, whole ms).
 * Plain and shared runs are interleaved over rounds after a warm-up. Cells: median (min–max) over the
 * rounds of each round's p50 or p99; "added" is each round's shared minus plain figure.
 * Local workerd: the object runs in the same process as the Workers, so a round trip here is a
 * fraction of a ms; on Cloudflare it is a network hop to wherever the object lives (same colo: ~1 ms,
 * another continent: 100+ ms), which is what a user should budget.
 *
 * Every workload runs twice: with the object's storage on disk (Miniflare's default: SQLite files in a
 * temporary folder, where each commit blocks the object for some ms on this shared VM's disk) and in
 * memory (`unsafeEphemeralDurableObjects`: the RPC and the object's own work alone).
 *
 * Env: BENCH_ROUNDS (3), SHARED_INVOCATIONS (100), SHARED_N (100).
 */
import { join } from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { bundleWorker } from '../../test/support/worker-bundle.ts'
import { cell, envInt, interleave, num, rounds, since } from './harness.ts'
import { startBenchServer } from './server.ts'
import type { SharedLimitsRun } from './shared-limits-durable-object-worker.ts'

const invocations = envInt('SHARED_INVOCATIONS', 100)
const n = envInt('SHARED_N', 100)

interface Workload {
  name: string
  /** Samples in ms, one per request. */
  run(mode: 'plain' | 'shared'): Promise<number[]>
}

interface Contender {
  name: 'plain' | 'shared'
}

/** The nearest-rank percentile of `values` (q in 0–1). */
function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
}

function bundle(): Promise<string> {
  return bundleWorker(join(import.meta.dirname, 'shared-limits-durable-object-worker.ts'))
}

/**
 * One row per workload and storage: engine, workload, plain p50/p99, shared p50/p99, added p50/p99 (ms).
 * Storage on disk is Miniflare's default (SQLite files in a temporary folder); in memory
 * (`unsafeEphemeralDurableObjects`) leaves the RPC and the object's own work.
 */
export async function durableObjectRows(): Promise<string[][]> {
  const rows: string[][] = []
  for (const ephemeral of [false, true]) rows.push(...(await rowsWith(ephemeral)))
  return rows
}

async function rowsWith(ephemeral: boolean): Promise<string[][]> {
  const engine = `Durable Object, storage ${ephemeral ? 'in memory' : 'on disk'}`
  const server = await startBenchServer()
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: await bundle(),
      compatibilityDate: '2026-04-01',
      durableObjects: { LIMITS: { className: 'KyPoolLimits', useSQLite: true } },
      unsafeEphemeralDurableObjects: ephemeral,
    }),
  )
  await mf.ready
  const dispatch = async (query: Record<string, string | number>) => {
    const params = new URLSearchParams({ up: server.url })
    for (const [name, value] of Object.entries(query)) params.set(name, String(value))
    const res = await mf.dispatchFetch(`http://worker.test/?${params}`)
    if (!res.ok) throw new Error(`worker: ${res.status} ${await res.text()}`)
    return (await res.json()) as SharedLimitsRun
  }
  const workloads: Workload[] = [
    {
      name: `1 request per invocation, ${num(invocations)} invocations one after another (timed in Node)`,
      async run(mode) {
        const samples: number[] = []
        for (let i = 0; i < invocations; i++) {
          const start = performance.now()
          await dispatch({ mode, n: 1 })
          samples.push(since(start))
        }
        return samples
      },
    },
    {
      name: `${num(n)} requests in one invocation, one at a time`,
      run: async (mode) => (await dispatch({ mode, n, c: 1 })).latencies,
    },
    {
      name: `${num(n)} requests in one invocation, 20 at a time, batch 1`,
      run: async (mode) => (await dispatch({ mode, n, c: 20, batch: 1 })).latencies,
    },
    {
      name: `${num(n)} requests in one invocation, 20 at a time, batch 20`,
      run: async (mode) => (await dispatch({ mode, n, c: 20, batch: 20 })).latencies,
    },
  ]
  const rows: string[][] = []
  try {
    for (const workload of workloads) {
      const contenders: Contender[] = [{ name: 'plain' }, { name: 'shared' }]
      const samples = await interleave(contenders, { rounds }, (contender) => workload.run(contender.name))
      // Per round: each contender's p50 and p99, and the difference within the round (rounds are noisy on
      // a shared machine; a difference taken within one round is less so).
      const [plain, shared] = contenders.map((contender) => samples.get(contender)!)
      const each = (runs: number[][], q: number) => runs.map((values) => percentile(values, q))
      const added = (q: number) =>
        shared!.map((values, round) => percentile(values, q) - percentile(plain![round]!, q))
      rows.push([
        engine,
        workload.name,
        cell(each(plain!, 0.5), 1),
        cell(each(plain!, 0.99), 1),
        cell(each(shared!, 0.5), 1),
        cell(each(shared!, 0.99), 1),
        cell(added(0.5), 1),
        cell(added(0.99), 1),
      ])
    }
  } finally {
    await mf.dispose()
    await server.close()
  }
  return rows
}
