/**
 * The Worker bench/support/shared-limits-durable-object.ts runs in Miniflare: one invocation makes `n` GETs of `${up}/json`,
 * `c` at a time, through a ky-pool client made at module scope — without a shared limit (`mode=plain`),
 * or with `pool.shared` kept by the `KyPoolLimits` Durable Object (`mode=shared`, `limit`, `batch`) —
 * and returns each request's time (workerd's `performance.now()`, which advances with I/O; whole ms).
 */
import { durableObjectStore, KyPoolLimits, type LimitsNamespace } from '../../src/durable-object/index.ts'
import { createClient } from '../../src/index.ts'
import { sharedLimit } from '../../src/shared-limit.ts'

export { KyPoolLimits }

export interface SharedLimitsRun {
  latencies: number[]
}

type Client = ReturnType<typeof createClient>
const clients = new Map<string, Client>()

function clientFor(env: { LIMITS: LimitsNamespace }, mode: string, limit: number, batch: number): Client {
  const name = `${mode} ${limit} ${batch}`
  let client = clients.get(name)
  if (client === undefined) {
    const store = mode === 'shared' ? durableObjectStore(env.LIMITS, { batch }) : undefined
    client = createClient({
      retry: 0,
      pool: store === undefined ? {} : { shared: sharedLimit({ store, limit, unreachable: 'closed' }) },
    })
    clients.set(name, client)
  }
  return client
}

export default {
  async fetch(request: Request, env: { LIMITS: LimitsNamespace }): Promise<Response> {
    const params = new URL(request.url).searchParams
    const n = Number(params.get('n') ?? 1)
    const c = Number(params.get('c') ?? 1)
    const limit = Number(params.get('limit') ?? 100)
    const batch = Number(params.get('batch') ?? 1)
    const up = params.get('up') ?? ''
    const client = clientFor(env, params.get('mode') ?? 'plain', limit, batch)
    const latencies: number[] = []
    let started = 0
    const lane = async () => {
      while (started < n) {
        started++
        const t0 = performance.now()
        await client.get(`${up}/json`).arrayBuffer()
        latencies.push(performance.now() - t0)
      }
    }
    await Promise.all(Array.from({ length: c }, lane))
    return Response.json({ latencies } satisfies SharedLimitsRun)
  },
}
