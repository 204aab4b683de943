/**
 * Runs bench/protocols.ts's jobs for Node (`node bench/support/protocols-runner.ts`) and Deno
 * (`deno run -A bench/support/protocols-runner.ts`): reads one
 * job (JSON) from the `PROTO_JOB` environment variable, runs every row's contenders interleaved over rounds
 * after a short warm-up, and prints one JSON line with every run on stdout (progress goes to stderr).
 *
 * Every run starts cold: Node gets a new undici `Agent` (with `allowH2` on h2 rows, `connect: { ca }` always),
 * Deno a new `Deno.HttpClient` (`caCerts: [ca]`: the test CA is trusted, certificates are still checked); `globalThis.fetch` is wrapped once to route every call — raw fetch's, ky's and
 * ky-pool's alike, since all three look it up per call — through the current one. Around each run the server's
 * counters are zeroed and read over its control port (plain HTTP, never counted).
 */
import * as kyPool from '../../src/index.ts'
import { baseFetch, closePool, coldPool, deno } from './cold-pool.ts'
import { type ContenderName, type RunResult, type RunSpec, runOnce } from './protocols-workloads.ts'

export interface RunnerRow {
  id: string
  /** Node: an `allowH2` dispatcher (Deno offers h2 through ALPN by itself). */
  h2: boolean
  /** The server's control URL and the CA to trust. */
  control: string
  ca: string
  rounds: number
  /** One spec per contender; `tag` is filled in per run. */
  specs: RunSpec[]
}

export interface ServerDelta {
  connections: { total: number; h1: number; h2: number }
  requests: { total: number; h1: number; h2: number }
  peakInFlight: number
  peakStreamsPerSession: number
}

export type MeasuredRun = RunResult & { server?: ServerDelta }

export interface RunnerOutput {
  runtime: string
  rows: { id: string; runs: Partial<Record<ContenderName, MeasuredRun[]>> }[]
}

async function control(row: RunnerRow, method: string, path: string): Promise<unknown> {
  const response = await baseFetch(`${row.control}${path}`, { method })
  return response.json()
}

async function measured(row: RunnerRow, spec: RunSpec, tag: string, scale = 1): Promise<MeasuredRun> {
  await control(row, 'POST', '/reset?wait=1000')
  coldPool(row.ca, row.h2)
  try {
    const run: MeasuredRun = await runOnce(kyPool, {
      ...spec,
      tag,
      n: Math.max(1, Math.round(spec.n * scale)),
    })
    const stats = (await control(row, 'GET', '/stats')) as ServerDelta
    run.server = {
      connections: stats.connections,
      requests: stats.requests,
      peakInFlight: stats.peakInFlight,
      peakStreamsPerSession: stats.peakStreamsPerSession,
    }
    return run
  } finally {
    await closePool()
  }
}

async function main(): Promise<void> {
  const raw = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.PROTO_JOB
  if (raw === undefined) throw new Error('PROTO_JOB (a JSON job from bench/protocols.ts) is not set')
  const job = JSON.parse(raw) as { rows: RunnerRow[] }
  const output: RunnerOutput = {
    runtime: deno === undefined ? `Node ${process.version}` : `Deno ${deno.version.deno}`,
    rows: [],
  }
  for (const row of job.rows) {
    const runs: Partial<Record<ContenderName, MeasuredRun[]>> = {}
    // Warm-up: a fifth of the workload per contender (JIT, module state), dropped.
    for (const spec of row.specs) {
      const warm = await measured(row, spec, `w${Math.random().toString(36).slice(2, 8)}`, 0.2)
      if (warm.na !== undefined) runs[spec.contender] = [warm]
    }
    const live = row.specs.filter((spec) => runs[spec.contender] === undefined)
    for (let round = 0; round < row.rounds; round++) {
      for (let offset = 0; offset < live.length; offset++) {
        const spec = live[(round + offset) % live.length]!
        const run = await measured(row, spec, `${round}${Math.random().toString(36).slice(2, 8)}`)
        runs[spec.contender] = [...(runs[spec.contender] ?? []), run]
        process.stderr.write(run.timedOut ? 'T' : run.error ? 'E' : '.')
      }
    }
    process.stderr.write(` ${row.id}\n`)
    output.rows.push({ id: row.id, runs })
  }
  process.stdout.write(`${JSON.stringify(output)}\n`)
}

await main()
// Unread bodies, a watchdog or a timed-out settle() may keep timers alive: the job is done, leave.
if (deno !== undefined) deno.exit(0)
else process.exit(0)
