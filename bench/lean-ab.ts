/**
 * `LEAN_AB_BASE=/path/to/other/checkout node bench/lean-ab.ts` — issue 9's workload (in memory, 16 calls
 * at a time, a 64 B body read with `.arrayBuffer()`, `leaks: 'silent'`) through this checkout's ky-pool
 * and another's (e.g. `git worktree add /tmp/base main`, with a `node_modules` link), both loaded in
 * this one process, interleaved with plain ky. Counted in CPU time (user + system, `process.cpuUsage`)
 * rather than wall time: on a machine shared with other work the wall-time figure of bench/overhead.ts
 * moves by tens of µs between runs, CPU time much less. The question it answers: did a change make the
 * pool's CPU per call worse?
 *
 * Sizes (env): BENCH_ROUNDS (15), LEAN_AB_N (4000 calls per run).
 */
import ky from 'ky'
import { createClient } from '../src/index.ts'
import { cell, envInt, header, interleave, roundsOr, table } from './support/harness.ts'

const base = process.env.LEAN_AB_BASE
if (base === undefined) throw new Error('Set LEAN_AB_BASE to the checkout to compare with')
const { createClient: createBaseClient } = (await import(`${base}/src/index.ts`)) as {
  createClient: typeof createClient
}

const rounds = roundsOr(15)
const calls = envInt('LEAN_AB_N', 4000)
const bytes64 = new Uint8Array(64)
const memoryFetch64 = async () =>
  new Response(bytes64, { headers: { 'content-type': 'application/octet-stream', 'content-length': '64' } })
const url = 'http://127.0.0.1:9/bytes'

interface Contender {
  name: string
  read(url: string): Promise<ArrayBuffer>
}
const reader = (client: { get(url: string): { arrayBuffer(): Promise<ArrayBuffer> } }) => (at: string) =>
  client.get(at).arrayBuffer()
const contenders: Contender[] = [
  { name: 'ky (in memory)', read: reader(ky.create({ fetch: memoryFetch64 })) },
  {
    name: `ky-pool, ${base}`,
    read: reader(createBaseClient({ fetch: memoryFetch64, pool: { leaks: 'silent' } })),
  },
  {
    name: 'ky-pool, this checkout',
    read: reader(createClient({ fetch: memoryFetch64, pool: { leaks: 'silent' } })),
  },
]

/** CPU µs per call of `total` calls, 16 at a time. */
async function cpuPerCall(contender: Contender, total: number): Promise<number> {
  let next = 0
  const worker = async () => {
    while (next < total) {
      next++
      await contender.read(url)
    }
  }
  const start = process.cpuUsage()
  await Promise.all(Array.from({ length: 16 }, worker))
  const used = process.cpuUsage(start)
  return (used.user + used.system) / total
}

const results = await interleave(
  contenders,
  { rounds, warmup: (contender) => cpuPerCall(contender, calls / 2) },
  (contender) => cpuPerCall(contender, calls),
)
const ky0 = results.get(contenders[0]!)!
const rows = contenders.map((contender, index) => {
  const runs = results.get(contender)!
  const added = runs.map((us, round) => us - ky0[round]!)
  return [contender.name, cell(runs, 1), index === 0 ? '' : `+${cell(added, 1)}`]
})
const title = 'Issue 9 A/B: CPU per call, two checkouts (bench/lean-ab.ts)'
const about =
  `${calls.toLocaleString('en-US')} calls per run, 16 at a time, in memory, \`.arrayBuffer()\` of 64 B, ` +
  "`leaks: 'silent'`. Cells: CPU µs per call, median (min–max) of the rounds; the difference to ky is " +
  "taken per round (ky's run of the same round)."
const headers = ['client', 'CPU µs per call', 'CPU µs more than ky (per round)']
console.log(`${header(title, about, rounds)}\n\n${table(headers, rows)}`)
