/**
 * `node bench/shared-limits.ts` — what a limit shared beyond one process adds to each request (issue 10),
 * per engine: each engine's rows come from bench/support/shared-limits-<engine>.ts (how it measures is
 * written there). Env: BENCH_ROUNDS (3) and each engine's own.
 */
import { header, table } from './support/harness.ts'
import { durableObjectRows } from './support/shared-limits-durable-object.ts'

console.log(
  header(
    'Shared limits: added latency per request (issue 10)',
    "ms per request through a ky-pool client with `pool.shared` (limit never reached) against the same client without: median (min–max) over the rounds of each round's p50 and p99; added = shared − plain within a round.",
  ),
)
console.log()
console.log(
  table(
    ['engine', 'workload', 'plain p50', 'plain p99', 'shared p50', 'shared p99', 'added p50', 'added p99'],
    await durableObjectRows(),
  ),
)
