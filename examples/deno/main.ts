/**
 * ky-pool in Deno: fetch a batch of JSON items at once through the shared `client`, check the API's
 * health with a HEAD whose body `await using` settles, and print what the pool saw.
 *
 *   deno run --allow-net main.ts http://127.0.0.1:8000 18
 *
 * Deno has no per-host connection cap of its own: without ky-pool, 18 calls open 18 connections at once.
 * ky-pool sends 6 at a time to an origin whose protocol it cannot see (Deno does not say; declare h2 in
 * `pool.origins` where the server speaks it) and queues the rest.
 *
 * In a project of your own: `deno add npm:ky-pool npm:ky`. In this repository, test/examples/deno.ts runs
 * it against a loopback API (examples/upstream.ts) with import_map.json, which maps `ky-pool` to src/.
 */
import { client } from 'ky-pool'

const base = Deno.args[0] ?? 'http://127.0.0.1:8000'
const count = Number(Deno.args[1] ?? 18)
const origin = new URL(base).origin

interface Item {
  id: string
  name: string
}

// What the pool looks like each time a response arrives (its slot is held until its body is read).
let peakInFlight = 0
let peakQueued = 0
let seen = { limit: 0, protocol: '', protocolSource: '' }
const api = client.extend({
  prefix: base,
  hooks: {
    afterResponse: [
      () => {
        const stats = client.pool.stats().origins[origin]
        if (stats === undefined) return
        peakInFlight = Math.max(peakInFlight, stats.inFlight)
        peakQueued = Math.max(peakQueued, stats.queued)
        seen = stats
      },
    ],
  },
})

const ids = Array.from({ length: count }, (_, i) => String(i + 1))
const items = await Promise.all(ids.map((id) => api.get(`items/${id}`).json<Item>()))

let health: number
{
  await using res = await api.head('health', { throwHttpErrors: false })
  health = res.status
}

const { totals } = client.pool.stats()
console.log(`${items.length} items from ${origin}, first: ${items[0]?.name}`)
console.log(
  `in flight at most ${peakInFlight} (limit ${seen.limit}, protocol ${seen.protocol} from ${seen.protocolSource}), ` +
    `up to ${peakQueued} queued`,
)
console.log(`health: ${health}`)
console.log(`totals: ${totals.requests} requests, ${totals.leaks} leaks, ${totals.reclaimed} reclaimed`)
