/**
 * `npm run bench:caps` — issue 14 item 5: what each per-origin cap costs on a burst where ky-pool's cap is the
 * only one (Node, Deno: no per-host cap in the runtime), HTTP/1.1 over TLS through a latency proxy.
 *
 * A loopback TLS server that speaks HTTP/1.1 only (test/support/h2-server.ts, protocol 'h1', a Node child process
 * that counts TLS connections and responses in flight) sits behind one latency proxy per RTT
 * (bench/support/latency-proxy.ts: RTT/2 each way, one RTT more for a new connection's first bytes, TLS end to
 * end). One runner process per runtime (bench/support/caps-runner.ts) runs, per contender and round, a new
 * connection pool (Node: a new undici Agent; Deno: a new `Deno.createHttpClient`) and a new client, then:
 *   cold  a burst of N parallel `.json()` GETs of /delay/50 on the empty pool;
 *   warm  the same burst again at once on the same pool and client (the connections the first one left).
 * Contenders: plain ky (no cap: the runtime opens a connection per request in flight) and ky-pool with
 * `createClient({ pool: { perOrigin } })` for each cap (6 is today's default for h1/unknown origins).
 * Rounds are interleaved (A B C…, B C A…, …) after a warm-up at a fifth of N; cells are median (min–max).
 *
 * Knobs: CAPS_ONLY=node,deno; CAPS_RTT=20,80; CAPS_N=60,200; CAPS_CAPS=6,12,24,Infinity; CAPS_DELAY=50 (server
 * delay, ms); CAPS_TIMEOUT=30000 (bound per burst, ms); BENCH_ROUNDS (3). The default run took 250 s on
 * 2 cores. Every burst is bounded and the runner processes are killed after a deadline, so everything stops by
 * itself; servers and proxies listen on 127.0.0.1 only.
 */
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type SpawnedH2Server, spawnH2Server } from '../test/support/h2-server.ts'
import type { BurstResult, CapsContender, CapsOutput, CapsRow, CapsRun } from './support/caps-runner.ts'
import { cell, envInt, envInts, header, num, roundsOr, since, summarize, table } from './support/harness.ts'
import { type LatencyProxy, startLatencyProxy } from './support/latency-proxy.ts'
import { runJob } from './support/spawn-runner.ts'

type Runtime = 'node' | 'deno'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const rounds = roundsOr(3)
const runtimes = (process.env.CAPS_ONLY ?? 'node,deno')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is Runtime => {
    if (s !== 'node' && s !== 'deno') throw new Error(`CAPS_ONLY: unknown runtime ${s} (node, deno)`)
    return true
  })
const rtts = envInts('CAPS_RTT', [20, 80])
const sizes = envInts('CAPS_N', [60, 200])
const delayMs = envInt('CAPS_DELAY', 50)
const timeoutMs = envInt('CAPS_TIMEOUT', 30_000)
const caps = (process.env.CAPS_CAPS ?? '6,12,24,Infinity').split(',').map((s) => {
  const value = s.trim() === 'Infinity' ? Infinity : Number(s.trim())
  if (!(value >= 1) || (Number.isFinite(value) && !Number.isInteger(value)))
    throw new Error(`CAPS_CAPS: ${s} is not a whole number >= 1 or Infinity`)
  return value
})

const capName = (cap: number) => `ky-pool ${Number.isFinite(cap) ? cap : '∞'}`
const contenders: CapsContender[] = [
  { kind: 'ky', name: 'plain ky' },
  ...caps.map((cap) => ({
    kind: 'ky-pool' as const,
    perOrigin: Number.isFinite(cap) ? cap : null,
    name: capName(cap),
  })),
]

function commit(): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
    const dirty = git('status', '--porcelain', '--', 'src') === '' ? '' : ' + uncommitted src/ changes'
    return `${git('log', '-1', '--format=%h', '--', 'src')}${dirty} (tree at ${git('rev-parse', '--short', 'HEAD')})`
  } catch {
    return 'unknown'
  }
}

interface Row {
  runtime: Runtime
  rtt: number
  n: number
  job: CapsRow
  runs: Record<string, CapsRun[]>
}

async function runRunner(runtime: Runtime, rows: Row[]): Promise<string> {
  const job = { rows: rows.map((row) => row.job) }
  // Every burst is bounded by its own timeout; this bounds the process (and a hung runtime) as a whole.
  const deadline = rows.reduce(
    (sum, row) => sum + (rounds + 1) * row.job.contenders.length * 2 * (timeoutMs + 5000),
    60_000,
  )
  const result = await runJob<CapsOutput>(
    runtime,
    join(here, 'support', 'caps-runner.ts'),
    { CAPS_JOB: JSON.stringify(job) },
    deadline,
  )
  for (const row of rows) row.runs = result.rows.find((r) => r.id === row.job.id)?.runs ?? {}
  return result.runtime
}

// ---------------------------------------------------------------------------------------------------------------
// Tables

type Phase = 'cold' | 'warm'
const bursts = (row: Row, name: string, phase: Phase): BurstResult[] =>
  (row.runs[name] ?? []).map((run) => run[phase])
const ok = (list: BurstResult[]) => list.filter((b) => b.error === undefined)
const medianOf = (list: BurstResult[], pick: (b: BurstResult) => number) =>
  list.length === 0 ? Number.NaN : summarize(list.map(pick)).median

function msCell(list: BurstResult[]): string {
  if (list.length === 0) return '—'
  const good = ok(list)
  let text = cell(good.map((b) => b.ms))
  const timeouts = list.filter((b) => b.timedOut).length
  const errors = list.length - good.length
  if (timeouts > 0) text += `, ${timeouts}/${list.length} timed out`
  if (errors > 0) text += `, ${errors} failed: ${list.find((b) => b.error)!.error!.slice(0, 60)}`
  return text
}

function ratio(a: BurstResult[], b: BurstResult[]): string {
  const x = medianOf(ok(a), (r) => r.ms)
  const y = medianOf(ok(b), (r) => r.ms)
  if (!Number.isFinite(x) || !Number.isFinite(y) || y === 0) return '—'
  const bounded = [...a, ...b].some((r) => r.timedOut)
  return `${bounded ? '~' : ''}${(x / y).toFixed(2)}`
}

/** A count that is the same in every round prints as one number; otherwise median (min–max). */
const countCell = (list: BurstResult[], pick: (b: BurstResult) => number) =>
  list.length === 0 ? '—' : cell(list.map(pick))

const runtimeName: Record<Runtime, string> = { node: 'Node', deno: 'Deno' }

function fullTable(rows: Row[]): string {
  const headers = [
    'runtime',
    'RTT',
    'N',
    'burst',
    'client',
    'wall ms',
    '÷ plain ky',
    'TLS connections opened',
    'peak in flight at server',
  ]
  const body: string[][] = []
  for (const row of rows) {
    for (const phase of ['cold', 'warm'] as const) {
      const base = bursts(row, 'plain ky', phase)
      for (const contender of contenders) {
        const list = bursts(row, contender.name, phase)
        body.push([
          runtimeName[row.runtime],
          `${row.rtt} ms`,
          String(row.n),
          phase,
          contender.name,
          msCell(list),
          contender.kind === 'ky' ? '1.00' : ratio(list, base),
          countCell(list, (b) => b.connections),
          countCell(list, (b) => b.peakInFlight),
        ])
      }
    }
  }
  return table(headers, body)
}

/** One line per runtime × RTT × N × burst: plain ky's time and connections, then each cap's ratio and connections. */
function summaryTable(rows: Row[]): string {
  const pooled = contenders.filter((c) => c.kind === 'ky-pool')
  const headers = [
    'runtime',
    'RTT',
    'N',
    'burst',
    'plain ky ms (conns)',
    ...pooled.map((c) => `${c.name} ÷ ky (conns)`),
  ]
  const body: string[][] = []
  for (const row of rows) {
    for (const phase of ['cold', 'warm'] as const) {
      const base = bursts(row, 'plain ky', phase)
      const conns = (list: BurstResult[]) => num(medianOf(list, (b) => b.connections))
      body.push([
        runtimeName[row.runtime],
        `${row.rtt} ms`,
        String(row.n),
        phase,
        `${num(medianOf(ok(base), (b) => b.ms))} (${conns(base)})`,
        ...pooled.map((c) => {
          const list = bursts(row, c.name, phase)
          return `${ratio(list, base)} (${conns(list)})`
        }),
      ])
    }
  }
  return table(headers, body)
}

/** Checks that the cap held: server-observed concurrency never above it, and ky-pool reported it as its limit. */
function capChecks(rows: Row[]): string[] {
  const notes: string[] = []
  for (const row of rows) {
    for (const contender of contenders) {
      if (contender.kind !== 'ky-pool') continue
      const cap = contender.perOrigin === null ? Infinity : contender.perOrigin!
      for (const run of row.runs[contender.name] ?? []) {
        for (const phase of ['cold', 'warm'] as const) {
          if (run[phase].peakInFlight > cap)
            notes.push(
              `${runtimeName[row.runtime]} ${row.rtt} ms N ${row.n} ${phase} ${contender.name}: peak ${run[phase].peakInFlight} > cap`,
            )
        }
        const limit = run.limit === null ? Infinity : run.limit
        if (limit !== undefined && limit !== cap)
          notes.push(
            `${runtimeName[row.runtime]} ${row.rtt} ms N ${row.n} ${contender.name}: stats said limit ${run.limit}`,
          )
      }
    }
  }
  return notes
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now()
  // The heading names the machine and its load average now, before the run loads it.
  const heading = header(
    'Per-origin caps on a burst, HTTP/1.1 over TLS (bench/caps.ts)',
    `N parallel \`.json()\` GETs, ${delayMs} ms server delay, through a latency proxy (TLS end to end). ` +
      'cold: the first burst on a new connection pool (Node: undici Agent; Deno: Deno.createHttpClient) and a new ' +
      'client; warm: the same burst again at once on the same pool and client. Cells: median (min–max) ms; ratios ' +
      'are of medians ("~": a burst hit its bound); connections = TLS connections the server accepted during that ' +
      'burst; peak = most responses in flight at the server at once. ky-pool: `createClient({ pool: { perOrigin } })`.',
    rounds,
  )
  const server: SpawnedH2Server = await spawnH2Server({ protocol: 'h1' })
  const proxies = new Map<number, LatencyProxy>()
  const rows: Row[] = []
  const versions: string[] = []
  const failures: string[] = []
  try {
    for (const rtt of rtts) proxies.set(rtt, await startLatencyProxy({ target: server.url, rtt }))
    for (const runtime of runtimes) {
      const mine: Row[] = []
      for (const rtt of rtts) {
        for (const n of sizes) {
          mine.push({
            runtime,
            rtt,
            n,
            runs: {},
            job: {
              id: `${runtime}/${rtt}/${n}`,
              api: proxies.get(rtt)!.url,
              control: server.control,
              ca: server.ca,
              n,
              delayMs,
              rounds,
              timeoutMs,
              contenders,
            },
          })
        }
      }
      try {
        versions.push(await runRunner(runtime, mine))
      } catch (error) {
        failures.push(`${runtimeName[runtime]}: ${error instanceof Error ? error.message : String(error)}`)
        process.stderr.write(`${runtime} failed: ${String(error)}\n`)
      }
      rows.push(...mine)
    }
  } finally {
    for (const proxy of proxies.values()) await proxy.close()
    await server.close()
  }

  const loadEnd = os
    .loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')
  const checks = capChecks(rows)
  const out = [
    heading,
    `\nsrc/ at ${commit()}. Runtimes: ${versions.join(', ')}. Load average at the end: ${loadEnd}.`,
    '\n### Summary: ky-pool ÷ plain ky (median TLS connections opened in brackets)\n',
    summaryTable(rows),
    '\n### Every cell\n',
    fullTable(rows),
    checks.length === 0
      ? '\nCap check: in every run the server never saw more responses in flight than the cap, and ky-pool reported the cap as the origin’s limit.'
      : `\nCap check failed:\n${checks.map((c) => `- ${c}`).join('\n')}`,
  ]
  if (failures.length > 0) out.push(`\nNot measured: ${failures.join('; ')}`)
  out.push(`\nTotal time: ${(since(started) / 1000).toFixed(0)} s`)
  console.log(out.join('\n'))
  if (failures.length > 0 || checks.length > 0) process.exitCode = 1
}

await main()
