/**
 * What the pool tells: running totals, the `stats()` snapshot, and, when `pool.trace` is set, the
 * tracer (tracer.ts, loaded before the first request: see src/lazy.ts) that every part of the pool
 * emits its events through (`events.tracer?.…`: nothing is built without a trace).
 */
import type { Limiter } from '../limiter.ts'
import type { PoolStats } from '../trace.ts'
import type { Backpressure } from './backpressure.ts'
import type { Slots } from './slots.ts'
import type { Tracer } from './tracer.ts'

type Totals = PoolStats['totals']

export class Events {
  /** Set once loaded, when the pool has a trace. */
  tracer: Tracer | undefined
  readonly totals: Totals = {
    requests: 0,
    reclaimed: 0,
    drained: 0,
    cancelled: 0,
    leaks: 0,
    queueTimeouts: 0,
    queueFull: 0,
    aborted: 0,
  }

  stats(limiter: Limiter, slots: Slots, pace?: Backpressure): PoolStats {
    const origins: PoolStats['origins'] = {}
    for (const origin of limiter.keys()) {
      const stats = limiter.keyStats(origin)!
      const { protocol, source } = slots.protocols.get(origin)
      origins[origin] = {
        inFlight: stats.acquired,
        queued: stats.queued,
        limit: stats.limit,
        protocol,
        protocolSource: source,
      }
    }
    pace?.addStats(origins, slots)
    return {
      inFlight: limiter.acquired,
      queued: limiter.queued,
      limit: limiter.total,
      origins,
      totals: { ...this.totals },
    }
  }
}
