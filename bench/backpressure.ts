/**
 * `node bench/backpressure.ts` — origin backpressure (issue 12): N calls (200) fired at once against a
 * loopback server that allows 20 requests a second (token bucket, burst 5) and answers 429 beyond it,
 * for plain ky and for ky-pool, both with ky's default retry (2 retries, honouring `Retry-After`). Three
 * servers: 429 + `Retry-After` only; `X-RateLimit-*` on every response; the IETF `RateLimit` and
 * `RateLimit-Policy` fields. Per run: requests the server saw, 429s it sent, calls that failed, total time
 * against the ideal (N / rate). Goals: ky-pool ≤ 5% of plain ky's 429s with Retry-After alone, 0 with
 * budget headers; no call lost; time ≤ 1.2× ideal.
 *
 * Env: BP_CALLS (200), BP_RATE (20), BP_BURST (5), BP_ONLY (comma-separated modes), BP_CLIENTS.
 */
import ky from 'ky'
import { createClient } from '../src/index.ts'
import { type RateMode, startRateLimitedServer } from '../test/support/rate-limited-server.ts'

const calls = Number(process.env.BP_CALLS ?? 200)
const rate = Number(process.env.BP_RATE ?? 20)
const burst = Number(process.env.BP_BURST ?? 5)
const modes = (process.env.BP_ONLY?.split(',') ?? ['retry-after', 'x-ratelimit', 'ratelimit']) as RateMode[]
const clients = process.env.BP_CLIENTS?.split(',') ?? ['ky', 'ky-pool']
const ideal = (calls / rate) * 1000
/** ky's `timeout` counts time queued: at 20 requests a second the last of 200 calls waits 10 s, ky's default. */
const timeout = 30_000

const server = await startRateLimitedServer({ rate, burst, mode: modes[0]! })
const rows: string[][] = []
for (const mode of modes) {
  for (const name of clients) {
    server.reset({ mode })
    const get =
      name === 'ky'
        ? (url: string) => ky.get(url, { timeout }).json()
        : (() => {
            const t0 = performance.now()
            const trace = process.env.BP_TRACE
              ? (event: { type: string }) => {
                  if (['paused', 'resumed', 'limited'].includes(event.type))
                    console.error(((performance.now() - t0) / 1000).toFixed(2), JSON.stringify(event))
                }
              : undefined
            const client = createClient({ timeout, pool: { leaks: 'silent', trace } })
            if (process.env.BP_TRACE) {
              const timer = setInterval(
                () => console.error('stats', JSON.stringify(client.pool.stats().origins)),
                2000,
              )
              setTimeout(() => clearInterval(timer), 20_000)
            }
            return (url: string) => client.get(url).json()
          })()
    const started = performance.now()
    const results = await Promise.allSettled(
      Array.from({ length: calls }, (_, i) => get(`${server.origin}/?i=${i}`)),
    )
    const ms = performance.now() - started
    const { requests, limited } = server.stats()
    const failed = results.filter((result) => result.status === 'rejected').length
    rows.push([
      mode,
      name,
      String(requests),
      String(limited),
      String(failed),
      `${(ms / 1000).toFixed(1)} s`,
      `${(ms / ideal).toFixed(2)}×`,
    ])
    console.error(`${mode} ${name}: ${rows.at(-1)!.slice(2).join(' | ')}`)
  }
}
await server.close()
const head = ['server', 'client', 'requests seen', '429s', 'failed calls', 'time', 'vs ideal']
console.log(
  `${calls} calls at once; server: ${rate} requests/s, burst ${burst}; ideal ${(ideal / 1000).toFixed(1)} s\n`,
)
console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`)
for (const row of rows) console.log(`| ${row.join(' | ')} |`)
