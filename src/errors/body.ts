import type { ReclaimCause } from '../lifecycle.ts'
import { KyPoolRequestError, type RequestInfo } from './base.ts'
import { plural } from './plural.ts'

export type { ReclaimCause }

/**
 * The body was cancelled by ky-pool before the caller read it, to give its slot (and connection) to
 * another request; reading it now fails with this error.
 */
export class BodyReclaimedError extends KyPoolRequestError {
  override name = 'BodyReclaimedError'
  readonly reason: ReclaimCause
  /** Ms the body had been held unread when it was cancelled. */
  readonly held: number
  readonly limit: number

  constructor(request: RequestInfo, cause: ReclaimCause, held: number, limit: number, drainLimit: number) {
    const why =
      cause === 'pressure'
        ? `another request needed what it held (its slot, connection or flow-control window; limit ${limit} on ${request.origin})`
        : cause === 'watchdog'
          ? 'it was left unread past pool.leakAfter'
          : cause === 'settle'
            ? 'pool.settle() was called'
            : 'its response was garbage-collected'
    super(
      request,
      `ky-pool: the body of ${request.method} ${request.url} was cancelled after ${Math.round(held)} ms unread ` +
        `because ${why}; it was larger than pool.drainLimit (${plural(drainLimit, 'byte')}), so it could not be kept in memory. ` +
        'Read or cancel bodies as soon as the response arrives (e.g. `await client.get(url).json()`), ' +
        'or raise pool.reclaimAfter / pool.drainLimit.',
    )
    this.reason = cause
    this.held = held
    this.limit = limit
  }
}

/** The caller was reading a body and no bytes arrived for `idleTimeout` ms; the body was cancelled. */
export class BodyIdleTimeoutError extends KyPoolRequestError {
  override name = 'BodyIdleTimeoutError'
  readonly idleTimeout: number
  readonly bytes: number

  constructor(request: RequestInfo, idleTimeout: number, bytes: number) {
    super(
      request,
      `ky-pool: the body of ${request.method} ${request.url} (${request.origin}) stalled: no bytes for ` +
        `${idleTimeout} ms after ${plural(bytes, 'byte')}, so it was cancelled and its slot given back. Raise pool.idleTimeout ` +
        'for slow streams (Infinity disables it).',
    )
    this.idleTimeout = idleTimeout
    this.bytes = bytes
  }
}
