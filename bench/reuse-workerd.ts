/**
 * `npm run bench:reuse:workerd` — the sequential connection-reuse workloads of issue 5 part 1 in workerd
 * (Miniflare), whose fetch pools connections differently from Node's and Deno's, and allows 6
 * connections per invocation.
 *
 * bench/support/reuse-worker.ts is bundled from src/ with rolldown (src/workerd.ts: the package's `workerd`
 * export condition, no compatibility flags) and run in Miniflare; ONE invocation runs every workload
 * (bodies never read at 2, 32, 64 KB and 200 KB; 32 KB read as the baseline) through raw fetch, plain ky
 * and ky-pool, interleaved over rounds after a warm-up, against the same loopback server in a Node child
 * process, and returns the numbers as JSON. Unlike Node and Deno, workerd's connection pool cannot be
 * replaced between runs, so each run gets an origin of its own: a loopback port here that forwards each
 * connection 1:1 to the server (which still counts every connection and request). Times are workerd's `Date.now()`, which advances with I/O.
 *
 * Sizes (env): BENCH_ROUNDS (3), REUSE_N (300), REUSE_SIZES (2048,32768,65536), REUSE_LARGE (204800),
 * REUSE_LARGE_N (30).
 */
import net from 'node:net'
import { join } from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { bundleWorker } from '../test/support/worker-bundle.ts'
import { cell, envInt, envInts, header, rounds, since, summarize, table } from './support/harness.ts'
import type { WorkerCase, WorkerRun } from './support/reuse-worker.ts'
import { startBenchServer } from './support/server.ts'

const n = envInt('REUSE_N', 300)
const sizes = envInts('REUSE_SIZES', [2048, 32768, 65536])
const large = envInt('REUSE_LARGE', 204800)
const largeN = envInt('REUSE_LARGE_N', 30)

function bundle(): Promise<string> {
  return bundleWorker(join(import.meta.dirname, 'support', 'reuse-worker.ts'))
}

/** `count` loopback ports, each forwarding every connection 1:1 to `target`'s port: fresh origins for workerd's pool. */
async function forwarders(target: string, count: number): Promise<{ origins: string[]; close(): void }> {
  const port = Number(new URL(target).port)
  const listeners: net.Server[] = []
  const sockets = new Set<net.Socket>()
  for (let i = 0; i < count; i++) {
    const listener = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1')
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => {
          sockets.delete(socket)
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    listeners.push(listener)
  }
  return {
    origins: listeners.map((listener) => `http://127.0.0.1:${(listener.address() as net.AddressInfo).port}`),
    close() {
      for (const socket of sockets) socket.destroy()
      for (const listener of listeners) listener.close()
    },
  }
}

async function main(): Promise<void> {
  const started = performance.now()
  const server = await startBenchServer()
  const logs: string[] = []
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: await bundle(),
      compatibilityDate: '2026-04-01',
      handleStructuredLogs: (log: { level: string; message: string }) =>
        logs.push(`${log.level}: ${log.message}`),
    }),
  )
  // Runs: per case its contenders × (warm-up + rounds).
  const runs = (sizes.length * 3 + (sizes.includes(32768) ? 3 : 0) + (largeN > 0 ? 5 : 0)) * (rounds + 1)
  const ports = await forwarders(server.url, runs)
  let cases: WorkerCase[]
  let detected: Record<string, number>
  try {
    await mf.ready
    const query = new URLSearchParams({
      servers: ports.origins.join(','),
      control: server.control,
      n: String(n),
      largeN: String(largeN),
      large: String(large),
      sizes: sizes.join(','),
      rounds: String(rounds),
    })
    const response = await mf.dispatchFetch(`http://bench.test/?${query}`)
    if (!response.ok) throw new Error(`worker answered ${response.status}: ${await response.text()}`)
    ;({ cases, detected } = (await response.json()) as {
      cases: WorkerCase[]
      detected: Record<string, number>
    })
  } finally {
    await mf.dispose()
    ports.close()
    await server.close()
  }

  const out: string[] = [
    header(
      'Connection reuse under sloppiness, workerd (bench/reuse-workerd.ts)',
      'Raw fetch, plain ky and ky-pool (defaults unless noted: in workerd perOrigin 6, total 6) run the same code ' +
        'inside one Miniflare invocation against a loopback HTTP/1.1 server in a Node child process. Cells: median ' +
        '(min–max).',
    ),
    '\n### Sequential requests\n',
  ]
  const of = (runs: WorkerRun[], pick: (run: WorkerRun) => number) => cell(runs.map(pick))
  out.push(
    table(
      ['workload', 'client', 'connections opened', 'peak concurrent at server', 'wall ms', 'leaks reported'],
      cases.flatMap((item) =>
        item.results.map(({ client, runs }) => [
          item.label,
          client,
          of(runs, (run) => run.connections),
          of(runs, (run) => run.peak),
          of(runs, (run) => run.ms),
          runs[0]?.leaks === undefined ? '—' : of(runs, (run) => run.leaks ?? 0),
        ]),
      ),
    ),
  )

  const verdicts: string[][] = []
  const find = (label: string, client: string) =>
    cases.find((item) => item.label === label)?.results.find((result) => result.client === client)?.runs
  const unread32 = find(`${n} sequential, 32 KB, never read`, 'ky-pool')
  const read32 = find(`${n} sequential, 32 KB, read`, 'ky-pool')
  if (unread32 !== undefined && read32 !== undefined) {
    const a = summarize(unread32.map((run) => run.ms)).median
    const b = summarize(read32.map((run) => run.ms)).median
    out.push(
      `\nky-pool, 32 KB never read vs read: ${a.toFixed(0)} ms / ${b.toFixed(0)} ms = ${(a / b).toFixed(2)}×`,
    )
    verdicts.push([
      '32 KB sloppy run ≤ 1.5× the same run with bodies read',
      `${(a / b).toFixed(2)}×`,
      a / b <= 1.5 ? 'met' : 'missed',
    ])
  }
  for (const size of sizes) {
    const label = `${n} sequential, ${Math.round(size / 1024)} KB, never read`
    const pool = find(label, 'ky-pool')
    if (pool === undefined) continue
    const most = summarize(pool.map((run) => run.connections)).max
    const others = ['fetch', 'ky']
      .map((client) => `${client} ${cell((find(label, client) ?? []).map((run) => run.connections))}`)
      .join(', ')
    verdicts.push([
      `≤ 2 connections, ${label.replace(', never read', ' unread')}`,
      `${most} (max of rounds; ${others})`,
      most <= 2 ? 'met' : 'missed',
    ])
  }
  if (verdicts.length > 0) {
    out.push('\n### Targets (issue 5, part 1)\n')
    out.push(table(['target', 'measured', 'verdict'], verdicts))
  }
  out.push(
    `\nLeaks by how they were found and what the pool did (all runs, warm-ups included): ${Object.entries(
      detected,
    )
      .map(([key, count]) => `${key} ${count}`)
      .join('; ')}.`,
  )
  const trouble = logs.filter((line) => !line.startsWith('debug'))
  if (trouble.length > 0) {
    const first = trouble[0]!.replace(/; kj::getStackTrace\(\).*/s, '')
    out.push(`\nworkerd logged ${trouble.length} error lines; the first: \`${first}\``)
  }
  out.push(`\nTotal time: ${(since(started) / 1000).toFixed(1)} s`)
  console.log(out.join('\n'))
}

await main()
