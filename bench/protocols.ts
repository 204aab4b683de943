/**
 * `npm run bench:protocols` — issue 14: what ky-pool costs or saves per protocol (HTTP/1.1 over TLS, HTTP/2) and
 * per platform (Node, Deno, Chromium, workerd), as wall-time ratios ky-pool ÷ plain ky and ÷ raw fetch.
 *
 * Every contender runs the same workload (bench/support/protocols-workloads.ts) against the same loopback TLS
 * server (test/support/h2-server.ts, a Node child process that counts connections and requests per protocol),
 * directly or through a latency proxy (bench/support/latency-proxy.ts: RTT/2 each way, one RTT more for a new
 * connection's first bytes, TLS end to end). Each run starts with a cold connection pool: Node a new undici
 * Agent (`allowH2` on h2 rows) and Deno a new `Deno.HttpClient` (one runner process per runtime,
 * bench/support/protocols-runner.ts), Chromium a new browser context, workerd a new origin (a fresh proxy port).
 * Rounds are interleaved after a warm-up; cells are median (min–max).
 *
 * Scenarios (PROTO_SCENARIOS, comma-separated; default all):
 *   burst    60 parallel `.json()` GETs, 50 ms server delay — Node h1/h2, Deno h1/h2, Chromium h1 and h2 with
 *            the API on another origin (CORS, no Timing-Allow-Origin) and h2 on the page's own origin
 *   unread   100 sequential GETs of 256 KiB, bodies unread, and the same run with bodies read — Chromium h2
 *            (cross-origin), Deno h2, Node h1
 *   h1large  30 sequential unread 200 KB bodies over HTTP/1.1 — Node, Deno (TLS), workerd (plain HTTP)
 *   stall    6 unread 2 MiB bodies, then one more request on h2: the time of that request — Node, Deno
 *   fanout   a Worker fans out 30 GETs whose headers come at once and whose 30 KB bodies stream over 150 ms
 *
 * Knobs: PROTO_ONLY=node,deno,chromium,workerd (runtimes); PROTO_RTT=0,20,80 (every scenario at these RTTs;
 * unset: burst and fanout at 0 and 80, unread/h1large/stall at loopback only, so the default run stays near
 * 8 minutes on 2 cores; `PROTO_RTT=0,20,80`, run-all's `protocols-full`, takes about 21); BENCH_ROUNDS (5). Sequential counts shrink through the proxy so a run stays seconds
 * long: unread 100 at loopback, 25 at ≤ 20 ms, 12 above (PROTO_UNREAD_N, PROTO_SEQ_N_20, PROTO_SEQ_N_80; 12 is
 * still twice the default per-origin limit, so reclaim is exercised); h1large 30, 30, 12. PROTO_STALL_TIMEOUT
 * (2000 ms) bounds the request after the unread bodies. Every run is bounded (a timeout per run, the runner
 * processes killed after a deadline), so everything stops by itself.
 */
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { type Browser, chromium } from 'playwright'
import { build } from 'rolldown'
import { type SpawnedH2Server, spawnH2Server } from '../test/support/h2-server.ts'
import { chromiumArgs, chromiumPath } from './support/browser.ts'
import { cell, envInt, envInts, header, num, roundsOr, since, summarize, table } from './support/harness.ts'
import { type LatencyProxy, startLatencyProxy } from './support/latency-proxy.ts'
import type { PageResult } from './support/protocols-page.ts'
import type { MeasuredRun, RunnerOutput, RunnerRow, ServerDelta } from './support/protocols-runner.ts'
import type { ContenderName, RunResult, RunSpec } from './support/protocols-workloads.ts'
import { runJob } from './support/spawn-runner.ts'

type Runtime = 'node' | 'deno' | 'chromium' | 'workerd'
type ScenarioKey = 'burst' | 'unread' | 'h1large' | 'stall' | 'fanout'
type ServerKey = 'h1' | 'h2' | 'plain'

interface Row {
  id: string
  scenario: ScenarioKey
  runtime: Runtime
  server: ServerKey
  /** How the row is shown: 'h2', 'h2, same origin', 'h1 (plain)', … */
  label: string
  rtt: number
  /** unread: 'unread' or 'read'. */
  variant?: string
  sameOrigin?: boolean
  contenders: ContenderName[]
  spec: Omit<RunSpec, 'contender' | 'api' | 'tag'>
  runs: Partial<Record<ContenderName, (MeasuredRun & { seen?: Record<string, number> })[]>>
}

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const rounds = roundsOr(5)
const runtimes = (process.env.PROTO_ONLY ?? 'node,deno,chromium,workerd').split(',').map((s) => s.trim())
const scenarios = (process.env.PROTO_SCENARIOS ?? 'burst,unread,h1large,stall,fanout')
  .split(',')
  .map((s) => s.trim())
const rttOverride = process.env.PROTO_RTT === undefined ? undefined : envInts('PROTO_RTT', [])
const unreadN = envInt('PROTO_UNREAD_N', 100)
const seqN20 = envInt('PROTO_SEQ_N_20', 25)
const seqN80 = envInt('PROTO_SEQ_N_80', 12)
const stallTimeout = envInt('PROTO_STALL_TIMEOUT', 2000)

/** The commit of src/ measured (what "option not supported at …" names), and the tree's HEAD. */
function commits(): { src: string; head: string } {
  if (process.env.BENCH_COMMIT) return { src: process.env.BENCH_COMMIT, head: process.env.BENCH_COMMIT }
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
    const dirty = git('status', '--porcelain', '--', 'src') === '' ? '' : ' + uncommitted src/ changes'
    return {
      src: `${git('log', '-1', '--format=%h', '--', 'src')}${dirty}`,
      head: git('rev-parse', '--short', 'HEAD'),
    }
  } catch {
    return { src: 'unknown', head: 'unknown' }
  }
}
const commit = commits()

// ---------------------------------------------------------------------------------------------------------------
// The rows

const rttsFor = (scenario: ScenarioKey): number[] =>
  rttOverride ?? (scenario === 'burst' || scenario === 'fanout' ? [0, 80] : [0])

/** Sequential runs through the proxy: fewer requests, so one run stays a few seconds long. */
function sequentialN(scenario: ScenarioKey, n: number, rtt: number): number {
  if (scenario === 'unread') return rtt === 0 ? n : rtt <= 20 ? seqN20 : seqN80
  if (scenario === 'h1large') return rtt <= 20 ? n : seqN80
  return n
}

function rows(): Row[] {
  const out: Row[] = []
  const add = (
    scenario: ScenarioKey,
    runtime: Runtime,
    server: ServerKey,
    label: string,
    spec: Row['spec'],
    extra: Partial<Row> = {},
  ) => {
    if (!scenarios.includes(scenario) || !runtimes.includes(runtime)) return
    for (const rtt of rttsFor(scenario)) {
      const h2 = server === 'h2'
      const contenders: ContenderName[] =
        runtime === 'workerd' || !h2
          ? ['ky-pool', 'ky', 'fetch']
          : ['ky-pool', 'ky-pool, declared', 'ky', 'fetch']
      const n = sequentialN(scenario, spec.n, rtt)
      out.push({
        id: `${scenario}/${runtime}/${label}/${extra.variant ?? ''}/${rtt}`,
        scenario,
        runtime,
        server,
        label,
        rtt,
        contenders,
        spec: { ...spec, n, declare: 'h2', commit: commit.src },
        runs: {},
        ...extra,
      })
    }
  }
  const burst = { scenario: 'burst', n: 60, delayMs: 50, timeoutMs: 30_000 } as const
  add('burst', 'node', 'h1', 'h1', burst)
  add('burst', 'node', 'h2', 'h2', burst)
  add('burst', 'deno', 'h1', 'h1', burst)
  add('burst', 'deno', 'h2', 'h2', burst)
  add('burst', 'chromium', 'h1', 'h1, cross-origin', burst)
  add('burst', 'chromium', 'h2', 'h2, cross-origin', burst)
  add('burst', 'chromium', 'h2', 'h2, same origin', burst, { sameOrigin: true })
  for (const read of [false, true]) {
    const unread = { scenario: 'sequential', n: unreadN, size: 256 * 1024, read, timeoutMs: 60_000 } as const
    const variant = read ? 'read' : 'unread'
    add('unread', 'chromium', 'h2', 'h2, cross-origin', unread, { variant })
    add('unread', 'deno', 'h2', 'h2', unread, { variant })
    add('unread', 'node', 'h1', 'h1', unread, { variant })
  }
  const large = { scenario: 'sequential', n: 30, size: 200_000, read: false, timeoutMs: 60_000 } as const
  add('h1large', 'node', 'h1', 'h1', large)
  add('h1large', 'deno', 'h1', 'h1', large)
  add('h1large', 'workerd', 'plain', 'h1 (plain HTTP)', large)
  const stall = { scenario: 'stall', n: 6, size: 2 * 1024 * 1024, timeoutMs: stallTimeout } as const
  add('stall', 'node', 'h2', 'h2', stall)
  add('stall', 'deno', 'h2', 'h2', stall)
  const fanout = { scenario: 'fanout', n: 30, size: 30_000, chunks: 6, every: 25, timeoutMs: 30_000 } as const
  add('fanout', 'workerd', 'plain', 'h1 (plain HTTP)', fanout)
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Servers and proxies

interface Servers {
  h1?: SpawnedH2Server
  h2?: SpawnedH2Server
  plain?: SpawnedH2Server
  page?: SpawnedH2Server
  /** The API origin per server and RTT: the server itself at 0, a latency proxy in front of it otherwise. */
  api(server: ServerKey, rtt: number): string
  close(): Promise<void>
}

async function startServers(all: Row[]): Promise<Servers> {
  const need = new Set(all.map((row) => row.server))
  const servers: Partial<Record<ServerKey | 'page', SpawnedH2Server>> = {}
  if (need.has('h1')) servers.h1 = await spawnH2Server({ protocol: 'h1' })
  if (need.has('h2')) servers.h2 = await spawnH2Server({ protocol: 'h1+h2' })
  if (need.has('plain')) servers.plain = await spawnH2Server({ protocol: 'h1-plain' })
  if (all.some((row) => row.runtime === 'chromium')) servers.page = await spawnH2Server({ protocol: 'h1+h2' })
  const proxies = new Map<string, LatencyProxy>()
  for (const row of all) {
    const key = `${row.server}/${row.rtt}`
    if (row.rtt === 0 || row.runtime === 'workerd' || proxies.has(key)) continue
    proxies.set(key, await startLatencyProxy({ target: servers[row.server]!.url, rtt: row.rtt }))
  }
  return {
    ...servers,
    api: (server, rtt) => (rtt === 0 ? servers[server]!.url : proxies.get(`${server}/${rtt}`)!.url),
    async close() {
      for (const proxy of proxies.values()) await proxy.close()
      for (const server of Object.values(servers)) await server.close()
    },
  }
}

function delta(stats: Awaited<ReturnType<SpawnedH2Server['stats']>>): ServerDelta {
  return {
    connections: stats.connections,
    requests: stats.requests,
    peakInFlight: stats.peakInFlight,
    peakStreamsPerSession: stats.peakStreamsPerSession,
  }
}

const tag = (round: number) => `${round < 0 ? 'w' : round}${Math.random().toString(36).slice(2, 8)}`

/** Warm-up (a fifth of the workload per contender, dropped), then `rounds` interleaved rounds. */
async function interleaved(
  row: Row,
  run: (contender: ContenderName, round: number, scale: number) => Promise<MeasuredRun>,
) {
  const live: ContenderName[] = []
  for (const contender of row.contenders) {
    const warm = await run(contender, -1, 0.2)
    if (warm.na !== undefined) row.runs[contender] = [warm]
    else live.push(contender)
  }
  for (let round = 0; round < rounds; round++) {
    for (let offset = 0; offset < live.length; offset++) {
      const contender = live[(round + offset) % live.length]!
      const result = await run(contender, round, 1)
      row.runs[contender] = [...(row.runs[contender] ?? []), result]
      process.stderr.write(result.timedOut ? 'T' : result.error ? 'E' : '.')
    }
  }
  process.stderr.write(` ${row.id}\n`)
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, fail) =>
      setTimeout(() => fail(new Error(`${what}: no answer within ${ms} ms`)), ms).unref(),
    ),
  ])

// ---------------------------------------------------------------------------------------------------------------
// Node and Deno: one runner process per runtime

async function runRunner(runtime: 'node' | 'deno', all: Row[], servers: Servers): Promise<void> {
  const mine = all.filter((row) => row.runtime === runtime)
  if (mine.length === 0) return
  const job: { rows: RunnerRow[] } = {
    rows: mine.map((row) => ({
      id: row.id,
      h2: row.server === 'h2',
      control: servers[row.server]!.control,
      ca: servers[row.server]!.ca,
      rounds,
      specs: row.contenders.map((contender) => ({
        ...row.spec,
        contender,
        api: servers.api(row.server, row.rtt),
        tag: '',
      })),
    })),
  }
  // Every run is bounded by its own timeout; this bounds the process (and a hung runtime) as a whole.
  const deadline = mine.reduce(
    (sum, row) => sum + (rounds + 1) * row.contenders.length * (row.spec.timeoutMs + 8000),
    60_000,
  )
  const result = await runJob<RunnerOutput>(
    runtime,
    join(here, 'support', 'protocols-runner.ts'),
    { PROTO_JOB: JSON.stringify(job) },
    deadline,
  )
  for (const row of mine) row.runs = result.rows.find((r) => r.id === row.id)?.runs ?? {}
  runtimeVersions[runtime] = result.runtime
}

const runtimeVersions: Record<string, string> = {}

// ---------------------------------------------------------------------------------------------------------------
// Chromium: one browser, a new context (a new connection pool) per run

async function bundle(input: string, platform: 'browser' | 'neutral', conditions: string[]): Promise<string> {
  const result = await build({
    input: join(here, 'support', input),
    write: false,
    platform,
    external: (id) => id.startsWith('node:') || id.startsWith('cloudflare:'),
    resolve: { conditionNames: conditions },
    output: { format: 'esm', codeSplitting: false }, // one module: ky-pool's cold chunk (src/lazy.ts) inlined
  })
  return result.output[0].code
}

const pageHtml =
  '<!doctype html><meta charset="utf-8"><title>protocols</title><script type="module" src="/protocols-page.js"></script>'

async function runChromium(all: Row[], servers: Servers): Promise<void> {
  const mine = all.filter((row) => row.runtime === 'chromium')
  if (mine.length === 0) return
  const script = await bundle('protocols-page.ts', 'browser', ['browser', 'import', 'default'])
  for (const server of [servers.page, servers.h1, servers.h2]) {
    if (server === undefined) continue
    await server.setStatic('/protocols.html', pageHtml, 'text/html; charset=utf-8')
    await server.setStatic('/protocols-page.js', script, 'text/javascript; charset=utf-8')
  }
  const browser: Browser = await chromium.launch({
    executablePath: await chromiumPath(),
    args: [...chromiumArgs],
  })
  runtimeVersions.chromium = `Chromium ${browser.version()}`
  try {
    for (const row of mine) {
      const server = servers[row.server]!
      const api = servers.api(row.server, row.rtt)
      const pageUrl = row.sameOrigin ? `${api}/protocols.html` : `${servers.page!.url}/protocols.html`
      await interleaved(row, async (contender, round, scale) => {
        const context = await browser.newContext()
        try {
          const page = await context.newPage()
          await page.goto(pageUrl, { timeout: 20_000 })
          await page.waitForFunction(() => globalThis.protocolsBench !== undefined, undefined, {
            timeout: 10_000,
          })
          await server.reset(1000)
          const spec: RunSpec = {
            ...row.spec,
            n: Math.max(1, Math.round(row.spec.n * scale)),
            contender,
            api,
            tag: tag(round),
          }
          const result = await within(
            page.evaluate((given) => globalThis.protocolsBench.run(given), spec) as Promise<PageResult>,
            spec.timeoutMs + 10_000,
            row.id,
          )
          return { ...result, server: delta(await server.stats()) }
        } finally {
          await context.close()
        }
      })
    }
  } finally {
    await browser.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// workerd: one Miniflare, one invocation per run, a new origin (a fresh proxy port) per run

async function runWorkerd(all: Row[], servers: Servers): Promise<void> {
  const mine = all.filter((row) => row.runtime === 'workerd')
  if (mine.length === 0) return
  const script = await bundle('protocols-worker.ts', 'neutral', [
    'workerd',
    'worker',
    'browser',
    'import',
    'default',
  ])
  const mf = new Miniflare(
    convertV4MiniflareOptions({ modules: true, script, compatibilityDate: '2026-04-01' }),
  )
  try {
    await mf.ready
    runtimeVersions.workerd = 'workerd (Miniflare)'
    for (const row of mine) {
      const server = servers[row.server]!
      await interleaved(row, async (contender, round, scale) => {
        const proxy = await startLatencyProxy({ target: server.url, rtt: row.rtt })
        try {
          await server.reset(1000)
          const spec: RunSpec = {
            ...row.spec,
            n: Math.max(1, Math.round(row.spec.n * scale)),
            contender,
            api: proxy.url,
            tag: tag(round),
          }
          const response = await within(
            mf.dispatchFetch('http://bench.test/', { method: 'POST', body: JSON.stringify(spec) }),
            spec.timeoutMs + 10_000,
            row.id,
          )
          const result = (await response.json()) as RunResult
          return { ...result, server: delta(await server.stats()) }
        } finally {
          await proxy.close()
        }
      })
    }
  } finally {
    await mf.dispose()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tables

const median = (runs: MeasuredRun[] | undefined, pick: (run: MeasuredRun) => number) =>
  runs === undefined || runs.length === 0 ? Number.NaN : summarize(runs.map(pick)).median

function msCell(runs: MeasuredRun[] | undefined): string {
  if (runs === undefined || runs.length === 0) return '—'
  if (runs[0]!.na !== undefined) return runs[0]!.na
  const errors = runs.filter((run) => run.error !== undefined).length
  const timeouts = runs.filter((run) => run.timedOut).length
  const ok = runs.filter((run) => run.error === undefined)
  let text = cell(ok.map((run) => run.ms))
  if (timeouts > 0)
    text = `${timeouts === runs.length ? '> ' : ''}${text}, ${timeouts}/${runs.length} timed out`
  if (errors > 0) text += `, ${errors} failed: ${runs.find((run) => run.error)!.error!.slice(0, 80)}`
  return text
}

function ratio(a: MeasuredRun[] | undefined, b: MeasuredRun[] | undefined): string {
  if (a?.[0]?.na !== undefined || b?.[0]?.na !== undefined) return '—'
  const x = median(a, (run) => run.ms)
  const y = median(b, (run) => run.ms)
  if (!Number.isFinite(x) || !Number.isFinite(y) || y === 0) return '—'
  const bounded = (a ?? []).some((run) => run.timedOut) || (b ?? []).some((run) => run.timedOut)
  return `${bounded ? '~' : ''}${(x / y).toFixed(2)}`
}

/** The protocol the server saw for the row's requests (all contenders). */
function serverSaw(row: Row): string {
  let h1 = 0
  let h2 = 0
  for (const runs of Object.values(row.runs)) {
    for (const run of runs ?? []) {
      h1 += run.server?.requests.h1 ?? 0
      h2 += run.server?.requests.h2 ?? 0
    }
  }
  if (h1 + h2 === 0) return '—'
  if (h1 === 0) return 'h2'
  if (h2 === 0) return 'http/1.1'
  return `mixed (h2 ${h2}, http/1.1 ${h1})`
}

function connections(row: Row): string {
  const short: Record<ContenderName, string> = {
    'ky-pool': 'pool',
    'ky-pool, declared': 'declared',
    ky: 'ky',
    fetch: 'fetch',
  }
  return row.contenders
    .filter((name) => row.runs[name]?.[0]?.na === undefined && (row.runs[name]?.length ?? 0) > 0)
    .map(
      (name) =>
        `${short[name]} ${num(median(row.runs[name], (run) => run.server?.connections.total ?? Number.NaN))}`,
    )
    .join(' / ')
}

function poolCell(row: Row): string {
  const pick = (name: ContenderName) => {
    const last = row.runs[name]?.at(-1)?.pool
    if (last === undefined) return undefined
    const protocol =
      last.protocol === undefined
        ? 'protocol not in stats'
        : `${last.protocol}${last.protocolSource ? ` (${last.protocolSource})` : ''}`
    return `limit ${last.limit ?? '?'}, ${protocol}`
  }
  const pooled = pick('ky-pool')
  const declared = pick('ky-pool, declared')
  return (
    [pooled, declared === undefined ? undefined : `declared: ${declared}`].filter(Boolean).join('; ') || '—'
  )
}

function pageSaw(row: Row): string {
  const seen: Record<string, number> = {}
  for (const runs of Object.values(row.runs)) {
    for (const run of runs ?? []) {
      for (const [key, count] of Object.entries((run as { seen?: Record<string, number> }).seen ?? {}))
        seen[key] = (seen[key] ?? 0) + count
    }
  }
  const entries = Object.entries(seen)
  return entries.length === 0 ? '' : entries.map(([key, count]) => `${key} ×${count}`).join(', ')
}

const runtimeName: Record<Runtime, string> = {
  node: 'Node',
  deno: 'Deno',
  chromium: 'Chromium',
  workerd: 'workerd',
}

function scenarioTable(title: string, intro: string, mine: Row[], options: { unit?: string } = {}): string {
  if (mine.length === 0) return ''
  const hasDeclared = mine.some((row) => row.contenders.includes('ky-pool, declared'))
  const hasVariant = mine.some((row) => row.variant !== undefined)
  const hasPage = mine.some((row) => row.runtime === 'chromium')
  const headers = [
    'runtime',
    'protocol (row → server saw)',
    'RTT',
    ...(hasVariant ? ['bodies'] : []),
    `ky-pool ${options.unit ?? 'ms'}`,
    ...(hasDeclared ? ['ky-pool, h2 declared'] : []),
    'plain ky',
    'raw fetch',
    'pool ÷ ky',
    'pool ÷ fetch',
    ...(hasDeclared ? ['declared ÷ ky'] : []),
    'connections opened (median)',
    'ky-pool stats for the origin',
    ...(hasPage ? ['page saw nextHopProtocol'] : []),
  ]
  const body = mine.map((row) => [
    runtimeName[row.runtime],
    `${row.label} → ${serverSaw(row)}`,
    `${row.rtt} ms`,
    ...(hasVariant ? [row.variant ?? ''] : []),
    msCell(row.runs['ky-pool']),
    ...(hasDeclared
      ? [row.contenders.includes('ky-pool, declared') ? msCell(row.runs['ky-pool, declared']) : '—']
      : []),
    msCell(row.runs.ky),
    msCell(row.runs.fetch),
    ratio(row.runs['ky-pool'], row.runs.ky),
    ratio(row.runs['ky-pool'], row.runs.fetch),
    ...(hasDeclared ? [ratio(row.runs['ky-pool, declared'], row.runs.ky)] : []),
    connections(row),
    poolCell(row),
    ...(hasPage ? [pageSaw(row)] : []),
  ])
  return `\n### ${title}\n\n${intro}\n\n${table(headers, body)}`
}

function unreadSummary(mine: Row[]): string {
  const lines: string[] = []
  for (const row of mine.filter((r) => r.variant === 'unread')) {
    const read = mine.find(
      (r) => r.variant === 'read' && r.runtime === row.runtime && r.rtt === row.rtt && r.label === row.label,
    )
    if (read === undefined) continue
    const cells = row.contenders.map((name) => `${name} ${ratio(row.runs[name], read.runs[name])}`)
    lines.push(`- ${runtimeName[row.runtime]} ${row.label}, RTT ${row.rtt} ms: ${cells.join(', ')}`)
  }
  return lines.length === 0
    ? ''
    : `\nUnread ÷ read (same client, same row; goal for ky-pool in Chromium h2: ≤ 1.5):\n\n${lines.join('\n')}`
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now()
  const all = rows()
  if (all.length === 0) throw new Error('nothing selected: check PROTO_ONLY and PROTO_SCENARIOS')
  const servers = await startServers(all)
  const failures: string[] = []
  const attempt = async (what: string, step: () => Promise<void>) => {
    try {
      await step()
    } catch (error) {
      failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`)
      process.stderr.write(`${what} failed: ${String(error)}\n`)
    }
  }
  try {
    await attempt('Node', () => runRunner('node', all, servers))
    await attempt('Deno', () => runRunner('deno', all, servers))
    await attempt('Chromium', () => runChromium(all, servers))
    await attempt('workerd', () => runWorkerd(all, servers))
  } finally {
    await servers.close()
  }

  const of = (scenario: ScenarioKey) => all.filter((row) => row.scenario === scenario)
  const out = [
    header(
      'Protocols and platforms (bench/protocols.ts)',
      'Wall time of one workload per client against a loopback TLS server (test/support/h2-server.ts), directly ' +
        '(RTT 0) or through a latency proxy (bench/support/latency-proxy.ts). Each run starts with a cold connection ' +
        'pool. Cells: median (min–max) ms; ratios are of medians ("~": some runs hit the run bound, so the ratio is ' +
        'a bound too). ky-pool runs with its defaults (leaks collected, not printed); "h2 declared" declares the ' +
        "API origin's protocol (`pool.origins[origin] = { protocol: 'h2' }`).",
      rounds,
    ),
    `\nsrc/ at ${commit.src} (tree at ${commit.head}). Runtimes: ${Object.values(runtimeVersions).join(', ')}.`,
    scenarioTable(
      '60 parallel `.json()` GETs, 50 ms server delay',
      'Chromium: the page is on another origin than the API (CORS, no `Timing-Allow-Origin`: the usual frontend), ' +
        'or on the same origin. Goal (issue 14): pool ÷ ky ≤ 1.05 (Deno h2 declared ≤ 1.1).',
      of('burst'),
    ),
    scenarioTable(
      `Sequential GETs of 256 KiB, bodies unread vs read (${unreadN} at RTT 0, ${seqN20} at 20 ms, ${seqN80} at 80 ms)`,
      'Goal (issue 14): ky-pool unread ≤ 1.5× ky-pool read in Chromium h2.',
      of('unread'),
    ),
    unreadSummary(of('unread')),
    scenarioTable(
      `30 sequential unread 200 KB bodies over HTTP/1.1 (${seqN80} above 20 ms RTT)`,
      'Above the default drainLimit (64 KiB). workerd reaches the server over plain HTTP (its fetch refuses the ' +
        'loopback certificate), each run on a fresh origin. Goal (issue 14): ≤ 1.5× raw fetch, no more connections.',
      of('h1large'),
    ),
    scenarioTable(
      `6 unread 2 MiB bodies on h2, then one more request: that request's time (bounded at ${num(stallTimeout)} ms)`,
      'Goal (issue 14): the next request does not stall.',
      of('stall'),
    ),
    scenarioTable(
      'Cloudflare Worker fan-out: 30 GETs, headers at once, 30 KB bodies streaming over 150 ms',
      "One Miniflare invocation per run, each on a fresh origin; times are the Worker's own clock. Goal (issue 14): " +
        'ky-pool ≤ 1.1× raw fetch.',
      of('fanout'),
    ),
  ]
  if (failures.length > 0) out.push(`\nNot measured: ${failures.join('; ')}`)
  out.push(`\nTotal time: ${(since(started) / 1000).toFixed(0)} s`)
  console.log(out.filter((part) => part !== '').join('\n'))
  if (failures.length > 0) process.exitCode = 1
}

await main()
