/**
 * The lifecycle of a pooled request, named once and used everywhere (events, stats, docs, tests):
 *
 *   queued → acquired → headers → settled
 *
 * plus `reclaimed` (the pool took an untouched body in or cancelled it to free its slot), `leaked`
 * (a body was never read nor cancelled by its caller), `rejected` (a queued request left the queue
 * without a slot: aborted, queue timeout, queue full) and `retry` (ky is about to retry). Like Go's
 * httptrace.ClientTrace, each event says where the time went. URLs are redacted (see redact.ts).
 */

import type { SettleHow } from './body.ts'
import type { ReclaimCause } from './errors/body.ts'

export type { ReclaimCause, SettleHow }

interface EventBase {
  /** Per-pool sequence number of the request (one per attempt: ky calls fetch again on retry). */
  id: number
  method: string
  /** The request URL, redacted. */
  url: string
  origin: string
  /** `performance.now()` at the event. */
  at: number
}

export type TraceEvent =
  | (EventBase & { type: 'queued'; priority: number; queued: number; limit: number })
  | (EventBase & { type: 'acquired'; waited: number })
  | (EventBase & { type: 'rejected'; reason: 'aborted' | 'queue-timeout' | 'queue-full'; waited: number })
  | (EventBase & { type: 'headers'; status: number; ms: number })
  | (EventBase & {
      type: 'settled'
      how: SettleHow
      bytes: number
      /** Ms the slot was held, from acquired to settled. */
      held: number
      /** The HTTP status, or undefined when fetch failed before headers. */
      status: number | undefined
    })
  | (EventBase & {
      type: 'reclaimed'
      action: 'drained' | 'cancelled'
      cause: ReclaimCause | 'before-send'
      held: number
    })
  | (EventBase & { type: 'leaked'; callSite: string; detectedBy: LeakReport['detectedBy']; first: boolean })
  | (EventBase & { type: 'retry'; retryCount: number; error: string })

export type TraceEventType = TraceEvent['type']

/** One body that its caller never read nor cancelled. */
export interface LeakReport {
  method: string
  url: string
  origin: string
  status: number
  /** The stack of the call that made the request, ky and ky-pool frames removed. */
  callSite: string
  /** What noticed it: the watchdog (unread past `leakAfter`), garbage collection, or `settle()`. */
  detectedBy: 'watchdog' | 'gc' | 'settle'
  /** What the pool did with the body: took it into memory, or cancelled it. */
  action: 'drained' | 'cancelled'
}

export interface OriginStats {
  /** Requests holding a slot: from acquired until their body settled. */
  inFlight: number
  queued: number
  limit: number
  /** The protocol the origin was last reached over (`http/1.1`, `h2`, `h3`), where the runtime tells (browsers, via Resource Timing). */
  protocol?: string
}

export interface PoolStats {
  inFlight: number
  queued: number
  /** The total limit. */
  limit: number
  /** Only origins with something in flight or queued are listed. */
  origins: Record<string, OriginStats>
  totals: {
    /** Requests sent (attempts; a retried call counts once per attempt). */
    requests: number
    /** Bodies taken in by the pool: drained into memory or cancelled. */
    reclaimed: number
    drained: number
    cancelled: number
    leaks: number
    queueTimeouts: number
    queueFull: number
    aborted: number
  }
}
