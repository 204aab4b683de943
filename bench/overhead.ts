/**
 * `npm run bench:overhead` — what ky-pool costs on clean code (issue 5, part 2).
 *
 * Small JSON GETs (`{"ok":true}`), every body read with `.json()`, against the loopback server in a
 * child process: one at a time, and 32 at a time (32 workers, each awaiting its own calls). Raw fetch,
 * plain ky, ky-pool with defaults (at 32 at a time its perOrigin 6 cap applies) and ky-pool with
 * perOrigin 32 (the cap out of the way: what is left is the pool's own cost) and ky-pool with
 * `leaks: 'silent'` (nothing about leaks reported). At 32 at a time, ky through `p-limit(6)` too: the
 * same cap as ky-pool's default, built by hand, so that what the cap costs (fewer requests in flight)
 * is told apart from what the pool costs. Connections stay warm.
 *
 * ky-pool's default `callSites: 'after-leak'` captures no stack on clean code; `callSites: 'always'`
 * (the default in strict mode, i.e. in tests) does, and its row shows what that costs.
 *
 * Then the same calls with a `fetch` that answers from memory: the CPU cost of each layer alone.
 * bench/profile.ts shows where ky-pool's share of it goes.
 *
 * Last, issue 9's figure: in memory, 16 calls at a time, each reading a 64 B body with `.arrayBuffer()`,
 * plain ky against ky-pool with `leaks: 'silent'` (the cost ky-pool adds to clean code, per call).
 *
 * Sizes (env): BENCH_ROUNDS (11), OVERHEAD_N (1000 calls per run; more, shorter rounds give steadier
 * per-round ratios on a shared machine than a few long ones), OVERHEAD_ONLY (a comma-separated
 * list of client names, e.g. `OVERHEAD_ONLY=ky-pool` for profiling with `node --cpu-prof`),
 * OVERHEAD_LEAN=1 (only issue 9's in-memory figure).
 */
import ky from 'ky'
import pLimit from 'p-limit'
import { createClient } from '../src/index.ts'
import { spawnServer } from '../test/support/loopback-server.ts'
import { freshConnections } from './support/contenders.ts'
import {
  cell,
  envInt,
  header,
  interleave,
  num,
  roundsOr,
  since,
  summarize,
  table,
} from './support/harness.ts'

const rounds = roundsOr(11)
const calls = envInt('OVERHEAD_N', 1000)
const onlyNames = process.env.OVERHEAD_ONLY?.split(',')

interface Client {
  name: string
  json(url: string): Promise<unknown>
}

const pooled = createClient()
const pooledWide = createClient({ pool: { perOrigin: 32 } })
const pooledCallSites = createClient({ pool: { callSites: 'always' } })
const pooledSilent = createClient({ pool: { leaks: 'silent' } })
const capped = pLimit(6) // ky-pool's default for an HTTP/1.1 origin in Node
const all: Client[] = [
  { name: 'fetch', json: async (url) => (await fetch(url)).json() },
  { name: 'ky', json: (url) => ky.get(url).json() },
  { name: 'ky + p-limit(6), the same cap by hand', json: (url) => capped(() => ky.get(url).json()) },
  { name: 'ky-pool', json: (url) => pooled.get(url).json() },
  { name: 'ky-pool, perOrigin 32', json: (url) => pooledWide.get(url).json() },
  { name: "ky-pool, callSites: 'always'", json: (url) => pooledCallSites.get(url).json() },
  { name: "ky-pool, leaks: 'silent'", json: (url) => pooledSilent.get(url).json() },
]
const clients = all.filter((client) => onlyNames === undefined || onlyNames.includes(client.name))

/** A fetch without a network: a fresh small JSON Response per call. */
const memoryFetch = async () =>
  new Response('{"ok":true}', { headers: { 'content-type': 'application/json', 'content-length': '11' } })
const memoryUrl = 'http://127.0.0.1:9/json'
const memoryKy = ky.create({ fetch: memoryFetch })
const memoryPool = createClient({ fetch: memoryFetch })
const memoryPoolCallSites = createClient({ fetch: memoryFetch, pool: { callSites: 'always' } })
const memoryClients: Client[] = [
  { name: 'fetch (in memory)', json: async () => (await memoryFetch()).json() },
  { name: 'ky (in memory)', json: (url) => memoryKy.get(url).json() },
  { name: 'ky-pool (in memory)', json: (url) => memoryPool.get(url).json() },
  {
    name: "ky-pool (in memory), callSites: 'always'",
    json: (url) => memoryPoolCallSites.get(url).json(),
  },
]

/** Issue 9's workload: a 64 B body, read with `.arrayBuffer()`, 16 calls at a time, in memory. */
const bytes64 = new Uint8Array(64)
const memoryFetch64 = async () =>
  new Response(bytes64, { headers: { 'content-type': 'application/octet-stream', 'content-length': '64' } })
const leanKy = ky.create({ fetch: memoryFetch64 })
const leanPool = createClient({ fetch: memoryFetch64, pool: { leaks: 'silent' } })
const leanClients: Client[] = [
  { name: 'ky (in memory)', json: (url) => leanKy.get(url).arrayBuffer() },
  { name: "ky-pool (in memory), leaks: 'silent'", json: (url) => leanPool.get(url).arrayBuffer() },
]

/** µs per call of each lean client, median of the rounds, 16 at a time; and the per-round difference to ky. */
async function lean(): Promise<string> {
  const results = await interleave(
    leanClients,
    { rounds, warmup: (client) => run(client, memoryUrl, Math.ceil(calls / 2), 16) },
    (client) => run(client, memoryUrl, calls * 4, 16),
  )
  const [kyRuns, poolRuns] = leanClients.map((client) =>
    results.get(client)!.map((perSecond) => 1e6 / perSecond),
  )
  const added = poolRuns!.map((us, round) => us - kyRuns![round]!)
  return [
    '\n### Issue 9: in memory, 16 at a time, `.arrayBuffer()` of 64 B\n',
    table(
      ['client', 'µs per call', 'µs more than ky (per-round difference)'],
      [
        [leanClients[0]!.name, cell(kyRuns!, 1), ''],
        [leanClients[1]!.name, cell(poolRuns!, 1), `+${cell(added, 1)}`],
      ],
    ),
  ].join('\n')
}

/** `total` calls by `concurrency` workers; returns requests per second. */
async function run(client: Client, url: string, total: number, concurrency: number): Promise<number> {
  let next = 0
  const worker = async () => {
    while (next < total) {
      next++
      await client.json(url)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return total / (since(start) / 1000)
}

async function main(): Promise<void> {
  if (process.env.OVERHEAD_LEAN) {
    console.log(await lean())
    return
  }
  const server = await spawnServer()
  const url = `${server.url}/json`
  const out = [
    header(
      'Overhead on clean code (bench/overhead.ts)',
      `${calls.toLocaleString('en-US')} small JSON GETs per run, every body read with \`.json()\`; connections warm. ` +
        'Cells: requests per second, median (min–max) of the rounds; "vs ky" divides each round by ky\'s run of ' +
        'the same round.',
      rounds,
    ),
  ]
  const rows: string[][] = []
  const verdicts: string[][] = []
  try {
    for (const concurrency of [1, 32]) {
      // perOrigin 32 and the cap by hand only matter when 32 calls are in flight.
      const here = clients.filter((client) => concurrency > 1 || !/perOrigin 32|p-limit/.test(client.name))
      const results = await interleave(
        here,
        { rounds, warmup: (client) => run(client, url, Math.ceil(calls / 4), concurrency) },
        (client) => run(client, url, calls, concurrency),
      )
      const ky = here.find((client) => client.name === 'ky')
      /**
       * Each round's ratio to ky's run of the same round (adjacent in time, so under the same load from
       * the rest of the machine), then the median of those ratios.
       */
      const ratios = (client: Client, to: Client | undefined = ky) =>
        to === undefined
          ? []
          : results.get(client)!.map((perSecond, round) => perSecond / results.get(to)![round]!)
      const byHand = here.find((client) => client.name.includes('p-limit'))
      const workload = concurrency === 1 ? 'sequential' : `${concurrency} at a time`
      for (const client of here) {
        rows.push([
          workload,
          client.name,
          cell(results.get(client)!),
          client === ky || ky === undefined ? '' : cell(ratios(client), 2, '×'),
        ])
      }
      for (const client of here.filter((candidate) => candidate.name.startsWith('ky-pool'))) {
        if (ky === undefined) continue
        const ratio = summarize(ratios(client)).median
        verdicts.push([
          `${client.name}, ${workload}: ≥ 0.95× ky`,
          `${ratio.toFixed(2)}× (median of per-round ratios; ${num(summarize(results.get(client)!).median)} vs ` +
            `${num(summarize(results.get(ky)!).median)} req/s)`,
          ratio >= 0.95 ? 'met' : 'missed',
        ])
        if (client.name === 'ky-pool' && byHand !== undefined) {
          // Not the target: the same cap on both sides, so what is left is the pool's own cost.
          const sameCap = summarize(ratios(client, byHand)).median
          verdicts.push([
            `ky-pool, ${workload}, against ${byHand.name}: ≥ 0.95×`,
            `${sameCap.toFixed(2)}× (median of per-round ratios; ${num(summarize(results.get(client)!).median)} vs ` +
              `${num(summarize(results.get(byHand)!).median)} req/s)`,
            sameCap >= 0.95 ? 'met' : 'missed',
          ])
        }
      }
    }
    out.push(table(['workload', 'client', 'req/s', 'vs ky (per-round ratio)'], rows))

    // The same calls without a network: what each layer costs in CPU, the noise of sockets and of the
    // server process taken out.
    const inMemory = await interleave(
      memoryClients,
      { rounds, warmup: (client) => run(client, memoryUrl, Math.ceil(calls / 4), 1) },
      (client) => run(client, memoryUrl, calls * 2, 1),
    )
    const microseconds = (client: Client) => 1e6 / summarize(inMemory.get(client)!).median
    const kyCost = microseconds(memoryClients[1]!)
    out.push(
      '\n### The same calls without a network\n\n`fetch` is a function that returns `new Response(\'{"ok":true}\')`, ' +
        'so only the JavaScript of each layer is measured. Sequential.\n',
    )
    out.push(
      table(
        ['client', 'calls/s', 'µs per call', 'µs more than ky'],
        memoryClients.map((client, index) => [
          client.name,
          cell(inMemory.get(client)!),
          microseconds(client).toFixed(1),
          index < 2 ? '' : `+${(microseconds(client) - kyCost).toFixed(1)}`,
        ]),
      ),
    )
    out.push(await lean())
    out.push('\n### Targets (issue 5, part 2)\n')
    out.push(table(['target', 'measured', 'verdict'], verdicts))
  } finally {
    await freshConnections()
    await server.close()
  }
  console.log(out.join('\n'))
}

await main()
