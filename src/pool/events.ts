/**
 * What the pool tells: trace events (one per lifecycle moment, see src/lifecycle.ts), running totals,
 * and the `stats()` snapshot. A trace callback that throws is logged once and events go on.
 */
import type { Limiter } from '../limiter.ts'
import type { PoolStats, TraceEvent } from '../trace.ts'
import type { Flight } from './flight.ts'
import type { Slots } from './slots.ts'

type Totals = PoolStats['totals']

export class Events {
  readonly trace: ((event: TraceEvent) => void) | undefined
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
  #traceFailed = false

  constructor(trace: ((event: TraceEvent) => void) | undefined) {
    this.trace = trace
  }

  /** The fields every event of `flight` has. */
  base(flight: Flight) {
    return {
      id: flight.id,
      method: flight.method,
      url: flight.url,
      origin: flight.origin,
      at: performance.now(),
    }
  }

  emit(event: TraceEvent): void {
    try {
      this.trace!(event)
    } catch (error) {
      if (!this.#traceFailed)
        console.error('ky-pool: the trace callback threw; events go on being sent', error)
      this.#traceFailed = true
    }
  }

  rejected(flight: Flight, reason: 'aborted' | 'queue-timeout' | 'queue-full', waited: number): void {
    if (this.trace) this.emit({ type: 'rejected', ...this.base(flight), reason, waited })
  }

  stats(limiter: Limiter, slots: Slots): PoolStats {
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
    return {
      inFlight: limiter.acquired,
      queued: limiter.queued,
      limit: limiter.total,
      origins,
      totals: { ...this.totals },
    }
  }
}
