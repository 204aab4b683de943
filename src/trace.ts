/**
 * The lifecycle of a pooled request, named once and used everywhere (events, stats, docs, tests):
 *
 *   queued → acquired → headers → settled
 *
 * plus `reclaimed` (the pool drained an untouched body into memory, or cancelled it, to free what it held), `leaked`
 * (a body was never read nor cancelled by its caller), `rejected` (a queued request left the queue
 * without a slot: aborted, queue timeout, queue full) and `retry` (ky is about to retry). Like Go's
 * httptrace.ClientTrace, each event says where the time went. URLs are redacted (see redact.ts).
 */

import type {
  LeakDetector,
  LimitReason,
  PauseCause,
  Protocol,
  ProtocolSource,
  ReclaimAction,
  ReclaimCause,
  SettleHow,
} from './lifecycle.ts'

export type {
  LeakDetector,
  LimitReason,
  PauseCause,
  Protocol,
  ProtocolSource,
  ReclaimAction,
  ReclaimCause,
  SettleHow,
}

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

/** One moment of a pooled request's life, as `pool.trace` receives it (see the module comment). */
export type TraceEvent =
  | (EventBase & { type: 'queued'; priority: number; queued: number; limit: number })
  | (EventBase & {
      type: 'acquired'
      waited: number
      /** The origin's limit in force, and the protocol (with its source) it follows from. */
      limit: number
      protocol: Protocol
      protocolSource: ProtocolSource
    })
  | (EventBase & {
      type: 'rejected'
      /** `store-unreachable`: the shared limit's store could not be reached and `pool.shared` fails closed. */
      reason: 'aborted' | 'queue-timeout' | 'queue-full' | 'store-unreachable'
      waited: number
    })
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
      action: ReclaimAction
      /** `before-send`: drained so that the next request to its origin could reuse its connection. */
      cause: ReclaimCause | 'before-send'
      held: number
    })
  | (EventBase & { type: 'leaked'; callSite: string; detectedBy: LeakReport['detectedBy']; first: boolean })
  | (EventBase & { type: 'retry'; retryCount: number; error: string })
  | (EventBase & {
      type: 'store-unreachable'
      /** The shared limit's engine ('redis', 'durable-object', …). */
      engine: string
      /** `open`: the request goes on under the local limit alone; `closed`: it fails and is not sent. */
      failed: 'open' | 'closed'
      waited: number
      /** Why, redacted. */
      error: string
    })
  | (PaceEvent & EventBase)

/**
 * What happens to a whole origin under backpressure; such an event belongs to no request: its `id` is 0,
 * `method` '' and `url` the origin. `paused` until `until` (ms since the epoch) and why, `resumed`, its
 * limit in force changed (`limited`: the cap, why, and the ms between sends when paced), or a pace header
 * `ignored` because it was malformed or absurd.
 */
export type PaceEvent =
  | { type: 'paused'; origin: string; until: number; cause: PauseCause }
  | { type: 'resumed'; origin: string; cause: PauseCause }
  | { type: 'limited'; origin: string; limit: number; reason: LimitReason; interval: number }
  | { type: 'ignored'; origin: string; header: string }

/**
 * The moments: queued, acquired, rejected, headers, settled, reclaimed, leaked, retry, store-unreachable;
 * and of an origin: paused, resumed, limited, ignored.
 */
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
  detectedBy: LeakDetector
  /** What the pool did with the body: took it into memory, or cancelled it. */
  action: ReclaimAction
}

/** One origin in `stats()`: its requests in flight and queued, its limit and protocol. */
export interface OriginStats {
  /** Requests holding a slot: from acquired until their body settled. */
  inFlight: number
  queued: number
  /** ky-pool's per-origin limit in force (`Infinity`: no cap of its own; the runtime's applies). */
  limit: number
  /** The protocol the origin is reached over, as far as ky-pool knows, which sets its default limit. */
  protocol: Protocol
  /** Where that comes from: `observed` (Resource Timing, undici's connection events), `declared` (`pool.origins`), `default` (unknown). */
  protocolSource: ProtocolSource
  /** Under backpressure only (the origin pushed back, or the app steered it): whether it is paused, until when (ms since the epoch) and why. */
  paused?: boolean
  pausedUntil?: number
  pauseCause?: PauseCause
  /** Why `limit` is what it is (see `LimitReason`), and the ms between sends when paced. */
  limitReason?: LimitReason
  interval?: number
}

/** `client.pool.stats()`: a snapshot of the pool, in total and per origin, with running totals. */
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
    /** Bodies the pool reclaimed: drained into memory or cancelled. */
    reclaimed: number
    drained: number
    cancelled: number
    leaks: number
    queueTimeouts: number
    queueFull: number
    aborted: number
  }
}
