/**
 * Trace events, one per lifecycle moment (see src/lifecycle.ts), built only when `pool.trace` is set.
 * Cold (see src/lazy.ts): a pool with a trace loads it before its first request, so every event of
 * every request goes through here, in order. A trace callback that throws is logged once and events
 * go on.
 */
import type {
  LeakDetector,
  Protocol,
  ProtocolSource,
  ReclaimAction,
  ReclaimCause,
  SettleHow,
} from '../lifecycle.ts'
import { redactMessage } from '../redact.ts'
import type { PaceEvent, TraceEvent } from '../trace.ts'
import type { Flight } from './flight.ts'

export class Tracer {
  readonly #trace: (event: TraceEvent) => void
  #failed = false

  constructor(trace: (event: TraceEvent) => void) {
    this.#trace = trace
  }

  queued(flight: Flight, priority: number, queued: number, limit: number): void {
    this.#emit({ type: 'queued', ...base(flight), priority, queued, limit })
  }

  acquired(
    flight: Flight,
    waited: number,
    limit: number,
    protocol: Protocol,
    protocolSource: ProtocolSource,
  ): void {
    this.#emit({ type: 'acquired', ...base(flight), waited, limit, protocol, protocolSource })
  }

  rejected(
    flight: Flight,
    reason: 'aborted' | 'queue-timeout' | 'queue-full' | 'store-unreachable',
    waited: number,
  ): void {
    this.#emit({ type: 'rejected', ...base(flight), reason, waited })
  }

  headers(flight: Flight, status: number, ms: number): void {
    this.#emit({ type: 'headers', ...base(flight), status, ms })
  }

  /** The slot went back: the body settled `how` after `bytes`, or fetch failed (`errored`, no status). */
  settled(flight: Flight, how: SettleHow, bytes: number, status: number | undefined): void {
    const held = performance.now() - flight.acquiredAt
    this.#emit({ type: 'settled', ...base(flight), how, bytes, held, status })
  }

  reclaimed(flight: Flight, action: ReclaimAction, cause: ReclaimCause | 'before-send', held: number): void {
    this.#emit({ type: 'reclaimed', ...base(flight), action, cause, held })
  }

  leaked(flight: Flight, callSite: string, detectedBy: LeakDetector, first: boolean): void {
    this.#emit({ type: 'leaked', ...base(flight), callSite, detectedBy, first })
  }

  /** ky is about to call fetch again for `flight`'s request; `error` is why (its message redacted). */
  retry(flight: Flight, retryCount: number, error: unknown): void {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    this.#emit({ type: 'retry', ...base(flight), retryCount, error: redactMessage(reason) })
  }

  /** An origin's moment under backpressure: paused, resumed, limited, ignored. */
  pace(event: PaceEvent): void {
    this.#emit({ ...event, id: 0, method: '', url: event.origin, at: performance.now() })
  }

  /** The shared limit's store could not be reached for `flight`: it goes on under the local limit (`open`) or fails (`closed`). */
  storeUnreachable(
    flight: Flight,
    engine: string,
    failed: 'open' | 'closed',
    waited: number,
    error: unknown,
  ): void {
    const reason = error instanceof Error ? error.message : String(error)
    this.#emit({
      type: 'store-unreachable',
      ...base(flight),
      engine,
      failed,
      waited,
      error: redactMessage(reason),
    })
  }

  #emit(event: TraceEvent): void {
    try {
      this.#trace(event)
    } catch (error) {
      if (!this.#failed) console.error('ky-pool: the trace callback threw; events go on being sent', error)
      this.#failed = true
    }
  }
}

/** The fields every event of `flight` has. */
function base(flight: Flight) {
  return {
    id: flight.id,
    method: flight.method,
    url: flight.url,
    origin: flight.origin,
    at: performance.now(),
  }
}
