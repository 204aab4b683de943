/**
 * The Worker bench/shared-limits.ts runs in Miniflare: one invocation makes `n` GETs of `${up}/json`,
 * `c` at a time, each either plain (`mode=plain`) or inside a permit of a limit shared through the
 * `KyPoolLimits` Durable Object (`mode=shared`, `limit`, `batch`), and returns each request's time
 * (workerd's `performance.now()`, which advances with I/O; whole ms).
 */

import { durableObjectStore, KyPoolLimits, type LimitsNamespace } from '../../src/durable-object/index.ts'
import type { LimitStore } from '../../src/limit-store.ts'

export { KyPoolLimits }

export interface SharedLimitsRun {
  latencies: number[]
}

const stores = new Map<number, LimitStore>()

export default {
  async fetch(request: Request, env: { LIMITS: LimitsNamespace }): Promise<Response> {
    const params = new URL(request.url).searchParams
    const n = Number(params.get('n') ?? 1)
    const c = Number(params.get('c') ?? 1)
    const limit = Number(params.get('limit') ?? 100)
    const batch = Number(params.get('batch') ?? 1)
    const up = params.get('up') ?? ''
    let store: LimitStore | undefined
    if (params.get('mode') === 'shared') {
      store = stores.get(batch)
      if (store === undefined) {
        store = durableObjectStore(env.LIMITS, { batch })
        stores.set(batch, store)
      }
    }
    const latencies: number[] = []
    let started = 0
    const lane = async () => {
      while (started < n) {
        started++
        const t0 = performance.now()
        const permit = await store?.acquire('bench', limit)
        const res = await fetch(`${up}/json`)
        await res.arrayBuffer()
        permit?.release()
        latencies.push(performance.now() - t0)
      }
    }
    await Promise.all(Array.from({ length: c }, lane))
    return Response.json({ latencies } satisfies SharedLimitsRun)
  },
}
