/**
 * `node bench/lean-probe.ts pool|ky` — issue 9's workload alone, for `node --cpu-prof`: 120,000 calls, 16
 * at a time, each reading a 64 B in-memory body with `.arrayBuffer()`, through ky-pool (`leaks: 'silent'`)
 * or plain ky. Prints wall and CPU (user + system) µs per call of the last 100,000. POOL_OPTS: JSON of
 * extra pool options (e.g. `{"perOrigin":16}`, so that nothing queues).
 */
import ky from 'ky'
import { createClient } from '../src/index.ts'

const bytes64 = new Uint8Array(64)
const f = async () =>
  new Response(bytes64, { headers: { 'content-type': 'application/octet-stream', 'content-length': '64' } })
const which = process.argv[2]
const c =
  which === 'ky'
    ? ky.create({ fetch: f })
    : createClient({ fetch: f, pool: { leaks: 'silent', ...JSON.parse(process.env.POOL_OPTS ?? '{}') } })
async function run(n: number) {
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < n) await c.get('http://127.0.0.1:9/x').arrayBuffer()
    }),
  )
}
await run(20000)
const t = performance.now()
const c0 = process.cpuUsage()
await run(100000)
const c1 = process.cpuUsage(c0)
console.log(
  which,
  'wall',
  (((performance.now() - t) * 1000) / 100000).toFixed(1),
  'µs; cpu',
  ((c1.user + c1.system) / 100000).toFixed(1),
  'µs',
)
