/**
 * `node bench/shared-limits-durable-object.ts` — what the Durable Object engine of a shared limit
 * (`ky-pool/durable-object`, issue 10) adds to each request, against the same ky-pool client without a
 * shared limit, in workerd (Miniflare). How it measures: bench/support/shared-limits-durable-object.ts.
 * The Redis and in-memory engines: bench/shared-limits.ts.
 */
import { header, table } from './support/harness.ts'
import { durableObjectRows } from './support/shared-limits-durable-object.ts'

console.log(
  header(
    'Shared limits: the Durable Object (issue 10)',
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
