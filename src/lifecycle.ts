/**
 * The words of a pooled request's life, on the bottom floor: the body tracker, the pool, trace events,
 * errors and docs all take them from here, so one moment has one name everywhere.
 *
 *   queued → acquired → headers → settled
 *
 * plus `reclaimed` (the pool drained an untouched body into memory, or cancelled it, to free what it
 * held), `leaked` (a body its caller never read nor cancelled), `rejected` (left the queue without a
 * slot) and `retry`.
 */

/** How a body settled. 'drained' means the pool read it into memory; it stays readable. */
export type SettleHow = 'read' | 'cancelled' | 'drained' | 'errored'

/**
 * Why the pool reclaimed a body: another request needed what it held (`pressure`: a slot, a connection,
 * or room in an HTTP/2 flow-control window), it was left unread past `leakAfter` (`watchdog`), its
 * response was garbage-collected (`gc`), or `pool.settle()` was called (`settle`).
 */
export type ReclaimCause = 'pressure' | 'watchdog' | 'gc' | 'settle'

/** What the pool did with a body it reclaimed. */
export type ReclaimAction = 'drained' | 'cancelled'

/** What noticed a leak. */
export type LeakDetector = 'watchdog' | 'gc' | 'settle'

/** The protocol an origin is reached over, as far as ky-pool knows. */
export type Protocol = 'h1' | 'h2' | 'h3' | 'unknown'

/**
 * Where that knowledge comes from: seen on the wire (`observed`: Resource Timing in browsers, undici's
 * connection events in Node), given in `pool.origins` (`declared`), or neither (`default`).
 */
export type ProtocolSource = 'observed' | 'declared' | 'default'

/**
 * Origin backpressure: an origin is `paused` (nothing new is sent to it) until a time, then `resumed`;
 * its limit in force changes (`limited`) as it resumes gently, adapts, or as the app sets it.
 *
 * Why an origin was paused: a 429 or 503 with `Retry-After` (`retry-after`), a rate-limit budget at 0
 * (`rate-limit`: the IETF `RateLimit` field or `X-RateLimit-Remaining`), the app (`app`:
 * `pool.pauseOrigin`), or a shared limit store telling of another copy's pause (`store`).
 */
export type PauseCause = 'retry-after' | 'rate-limit' | 'app' | 'store'

/**
 * Why an origin's limit in force is what it is: as configured (`configured`), one request and then more
 * after a pause (`resuming`), shrunk or regrown by the adaptive limit (`adaptive`), set by the app (`app`),
 * or spaced to the pace the origin accepts (`paced`: one request at a time, `interval` ms apart).
 */
export type LimitReason = 'configured' | 'resuming' | 'adaptive' | 'app' | 'paced'
