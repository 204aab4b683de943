/**
 * `npm run bench:reuse` — connection reuse under real-world sloppiness (issue 5, part 1), in Node; the
 * same script runs in Deno through bench/reuse-deno.ts (`npm run bench:reuse:deno`), and
 * bench/reuse-workerd.ts covers workerd.
 *
 * The same workloads through raw fetch, plain ky and ky-pool (defaults), against the loopback server in
 * a Node child process (bench/support/server.ts), which counts TCP connections and concurrent requests.
 * Every run starts with a cold connection pool (Node: a new undici Agent; Deno: a new Deno.HttpClient)
 * and zeroed server counters.
 *
 * Sizes (env): BENCH_ROUNDS (3), REUSE_N (300 sequential requests), REUSE_SIZES (2048,32768,65536 —
 * bodies ky-pool can drain), REUSE_LARGE (204800) with REUSE_LARGE_N (30: ky-pool waits reclaimAfter,
 * 250 ms, per perOrigin requests there, so 300 take ~13 s), REUSE_PARALLEL (200), REUSE_BURST (2000;
 * the 10,000 takes ~25 s a round), REUSE_BURST_DELAY (1 ms of server time per burst request),
 * REUSE_ONLY (seq,mix,parallel,burst: the parts to run).
 */

import {
  type Contender,
  freshConnections,
  kyPool,
  plainKy,
  type Read,
  rawFetch,
  reading,
  readingSuffix,
  resetServer,
} from './support/contenders.ts'
import {
  cell,
  envInt,
  envInts,
  header,
  interleave,
  rounds,
  since,
  summarize,
  table,
} from './support/harness.ts'
import { type BenchServer, startBenchServer } from './support/server.ts'

const n = envInt('REUSE_N', 300)
const sizes = envInts('REUSE_SIZES', [2048, 32768, 65536])
const large = envInt('REUSE_LARGE', 204800)
const largeN = envInt('REUSE_LARGE_N', 30)
const parallel = envInt('REUSE_PARALLEL', 200)
const burst = envInt('REUSE_BURST', 2000)
const burstDelay = envInt('REUSE_BURST_DELAY', 1)
/** REUSE_ONLY=seq,mix,parallel,burst runs only those parts. */
const parts = (process.env.REUSE_ONLY ?? 'seq,mix,parallel,burst').split(',')
const only = (part: string) => parts.includes(part)

interface Run {
  connections: number
  peak: number
  ms: number
  leaks: number | undefined
  failed: number
}

/** A workload: what one contender does in one run; returns how many calls failed. `scale` < 1 for the warm-up. */
type Workload = (contender: Contender, base: string, scale: number) => Promise<number>

async function measure(
  server: BenchServer,
  contender: Contender,
  workload: Workload,
  scale: number,
): Promise<Run> {
  await freshConnections()
  await resetServer(server)
  contender.start()
  const start = performance.now()
  const failed = await workload(contender, server.url, scale)
  const ms = since(start)
  const leaks = await contender.finish()
  const { connections, peakInFlight } = await server.stats()
  return { connections, peak: peakInFlight, ms, leaks, failed }
}

const count = (requests: number, scale: number) => Math.max(1, Math.round(requests * scale))

function sequential(requests: number, size: number, read: Read): Workload {
  return async (contender, base, scale) => {
    for (let i = 0; i < count(requests, scale); i++) await contender.call(`${base}/bytes?size=${size}`, read)
    return 0
  }
}

/**
 * The sloppy mix, per 20 calls: 8 `.json()`, 8 bodies forgotten, two 404s and one 500 with bodies (the
 * fetch code drops them unread; ky reads them into `HTTPError.data`, and retries the 500 twice), and
 * one 503 that succeeds on retry (`Retry-After: 0`).
 */
function mix(requests: number, size: number): Workload {
  return async (contender, base, scale) => {
    for (let i = 0; i < count(requests, scale); i++) {
      const k = i % 20
      if (k === 4 || k === 14) await contender.call(`${base}/status/404?size=${size}`, 'json')
      else if (k === 9) await contender.call(`${base}/status/500?size=${size}`, 'json')
      else if (k === 19)
        await contender.call(`${base}/flaky?key=${i}&fail=1&retryAfter=0&size=${size}`, 'json')
      else await contender.call(`${base}/json?size=${size}`, k % 2 === 0 ? 'json' : false)
    }
    return 0
  }
}

/** `calls` requests fired at once, bodies read; returns how many failed. */
function atOnce(calls: number, path: string): Workload {
  return async (contender, base, scale) => {
    const results = await Promise.allSettled(
      Array.from({ length: count(calls, scale) }, () => contender.call(`${base}${path}`, 'bytes')),
    )
    return results.filter((result) => result.status === 'rejected').length
  }
}

interface Case {
  label: string
  contenders: Contender[]
  workload: Workload
  results?: Map<Contender, Run[]>
}

async function runCase(server: BenchServer, item: Case): Promise<Map<Contender, Run[]>> {
  item.results = await interleave(
    item.contenders,
    { rounds, warmup: (contender) => measure(server, contender, item.workload, 0.1) },
    (contender) => measure(server, contender, item.workload, 1),
  )
  return item.results
}

const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`
const leakCell = (runs: Run[]) =>
  runs[0]?.leaks === undefined ? '—' : cell(runs.map((run) => run.leaks ?? 0))

function rowsOf(item: Case, extra: (runs: Run[]) => string[] = () => []): string[][] {
  return item.contenders.map((contender) => {
    const runs = item.results!.get(contender)!
    // The clean baseline shares the case (interleaved) but not the label.
    const baseline = contender.name.endsWith(readingSuffix)
    return [
      baseline ? item.label.replace('never read', 'read') : item.label,
      baseline ? contender.name.slice(0, -readingSuffix.length) : contender.name,
      cell(runs.map((run) => run.connections)),
      cell(runs.map((run) => run.peak)),
      cell(runs.map((run) => run.ms)),
      leakCell(runs),
      ...extra(runs),
    ]
  })
}

/** Median round-trip of one small delayed request on a warm connection: the "service time" of the burst. */
async function serviceTime(server: BenchServer, path: string): Promise<number> {
  await freshConnections()
  const times: number[] = []
  for (let i = 0; i < 60; i++) {
    const start = performance.now()
    await (await fetch(`${server.url}${path}`)).arrayBuffer()
    if (i >= 10) times.push(since(start))
  }
  return summarize(times).median
}

const runtimeName = (globalThis as { Deno?: unknown }).Deno === undefined ? 'Node' : 'Deno'

export async function main(script = 'bench/reuse.ts'): Promise<void> {
  const started = performance.now()
  const server = await startBenchServer()
  const headers = [
    'workload',
    'client',
    'connections opened',
    'peak concurrent at server',
    'wall ms',
    'leaks reported',
  ]
  const out: string[] = []
  const verdicts: string[][] = []
  try {
    out.push(
      header(
        `Connection reuse under sloppiness, ${runtimeName} (${script})`,
        `Raw fetch, plain ky and ky-pool (defaults unless noted) run the same code in ${runtimeName} against a loopback ` +
          'HTTP/1.1 server in a Node child process. Each run starts with a cold connection pool. Cells: median (min–max).',
      ),
    )

    // 1. Sequential, bodies never read, at sizes ky-pool can drain (≤ drainLimit); at 32 KB interleaved
    // with the same run reading every body (the baseline of the 1.5× target).
    const clients = () => [rawFetch, plainKy(), kyPool()]
    const unread = sizes.map((size): Case & { size: number } => {
      const contenders = clients()
      if (size === 32768) contenders.push(...clients().map(reading))
      return {
        label: `${n} sequential, ${kb(size)}, never read`,
        contenders,
        workload: sequential(n, size, false),
        size,
      }
    })
    const largeCase: Case = {
      label: `${largeN} sequential, ${kb(large)}, never read`,
      contenders: [
        rawFetch,
        plainKy(),
        kyPool(),
        kyPool('ky-pool, drainLimit 256 KB', { drainLimit: 256 * 1024 }),
        kyPool('ky-pool, reclaimAfter 0', { reclaimAfter: 0 }),
      ],
      workload: sequential(largeN, large, false),
    }
    if (only('seq')) {
      for (const item of unread) await runCase(server, item)
      if (largeN > 0) await runCase(server, largeCase)
      out.push(`\n### Sequential requests whose bodies are never read\n`)
      out.push(
        table(
          headers,
          [...unread, ...(largeN > 0 ? [largeCase] : [])].flatMap((item) => rowsOf(item)),
        ),
      )
      const pool32 = unread.find((item) => item.size === 32768)
      if (pool32 !== undefined) {
        const median = (index: number) =>
          summarize(pool32.results!.get(pool32.contenders[index]!)!.map((run) => run.ms)).median
        const ratio = median(2) / median(5)
        out.push(
          `\nky-pool, 32 KB never read vs read: ${median(2).toFixed(0)} ms / ${median(5).toFixed(0)} ms = ${ratio.toFixed(2)}×`,
        )
        verdicts.push([
          '32 KB sloppy run ≤ 1.5× the same run with bodies read',
          `${ratio.toFixed(2)}×`,
          ratio <= 1.5 ? 'met' : 'missed',
        ])
      }
      for (const item of unread) {
        const [fetchRuns, kyRuns, poolRuns] = item.contenders.map(
          (contender) => item.results!.get(contender)!,
        )
        const pool = summarize(poolRuns!.map((run) => run.connections)).max
        const others = `fetch ${cell(fetchRuns!.map((run) => run.connections))}, ky ${cell(kyRuns!.map((run) => run.connections))}`
        verdicts.push([
          `≤ 2 connections, ${n} sequential ${kb(item.size)} unread`,
          `${pool} (max of rounds; ${others})`,
          pool <= 2 ? 'met' : 'missed',
        ])
      }
    }

    // 2. The sloppy mix. ky's retry policy is unchanged except its backoff, capped at 0 ms, so that wall
    // time measures the clients rather than 0.9 s of sleep per 500.
    const noBackoff = { retry: { backoffLimit: 0 } }
    const mixCase: Case = {
      label: `${n} sequential, sloppy mix, 32 KB`,
      contenders: [rawFetch, plainKy('ky', noBackoff), kyPool('ky-pool', {}, noBackoff)],
      workload: mix(n, 32768),
    }
    // 3. Parallel to one origin.
    const parallelCase: Case = {
      label: `${parallel} at once, 10 ms each`,
      // (A free slot is not yet a free connection in undici: it returns a socket to its pool a macrotask
      // after the body ends. The pool now waits that turn before sending a queued request.)
      contenders: clients(),
      workload: atOnce(parallel, '/delay?ms=10&size=2048'),
    }
    const mixed = [...(only('mix') ? [mixCase] : []), ...(only('parallel') ? [parallelCase] : [])]
    for (const item of mixed) await runCase(server, item)
    if (mixed.length > 0) {
      out.push(`\n### Sloppy mix and parallel calls\n`)
      out.push(
        table(
          headers,
          mixed.flatMap((item) => rowsOf(item)),
        ),
      )
    }
    if (only('parallel')) {
      const peaks = parallelCase.results!.get(parallelCase.contenders[2]!)!.map((run) => run.peak)
      verdicts.push([
        `${parallel} at once: server-observed concurrency ≤ 6 (perOrigin) and reaches it`,
        cell(peaks),
        Math.max(...peaks) <= 6 && Math.min(...peaks) === 6 ? 'met' : 'missed',
      ])
    }
    if (only('mix')) {
      const mixPool = summarize(
        mixCase.results!.get(mixCase.contenders[2]!)!.map((run) => run.connections),
      ).max
      verdicts.push(['≤ 2 connections, sloppy mix', String(mixPool), mixPool <= 2 ? 'met' : 'missed'])
    }

    // 4. A burst far larger than the limit.
    if (only('burst')) {
      const burstPath = `/delay?ms=${burstDelay}&size=2`
      const service = await serviceTime(server, burstPath)
      const perOrigin = 6
      const ideal = Math.ceil(burst / perOrigin) * service
      const burstCase: Case = {
        label: `${burst.toLocaleString('en-US')} at once`,
        contenders: [
          rawFetch,
          plainKy(),
          kyPool('ky-pool, perOrigin 6, maxQueue 10000', { perOrigin, maxQueue: 10_000 }),
        ],
        workload: atOnce(burst, burstPath),
      }
      await runCase(server, burstCase)
      out.push(
        `\n### ${burst.toLocaleString('en-US')} calls fired at once\n\nService time (median round trip of one request ` +
          `on a warm connection, ${burstDelay} ms at the server): ${service.toFixed(2)} ms, so the ideal with ` +
          `${perOrigin} at a time is ⌈${burst} / ${perOrigin}⌉ × ${service.toFixed(2)} ms = ${ideal.toFixed(0)} ms.\n`,
      )
      out.push(
        table(
          [...headers, 'failed', 'wall / ideal'],
          rowsOf(burstCase, (runs) => [
            cell(runs.map((run) => run.failed)),
            cell(
              runs.map((run) => run.ms / ideal),
              2,
              '×',
            ),
          ]),
        ),
      )
      const burstPeaks = burstCase.results!.get(burstCase.contenders[2]!)!.map((run) => run.peak)
      const peakMax = Math.max(...burstPeaks)
      const peakMin = Math.min(...burstPeaks)
      verdicts.push([
        `burst: server-observed concurrency ≤ ${perOrigin} and reaches it`,
        cell(burstPeaks),
        peakMax <= perOrigin && peakMin === perOrigin ? 'met' : 'missed',
      ])
    }

    if (verdicts.length > 0) {
      out.push('\n### Targets (issue 5, part 1)\n')
      out.push(table(['target', 'measured', 'verdict'], verdicts))
    }
    out.push(`\nTotal time: ${(since(started) / 1000).toFixed(1)} s`)
  } finally {
    await freshConnections()
    await server.close()
  }
  console.log(out.join('\n'))
}

if (import.meta.main) await main()
