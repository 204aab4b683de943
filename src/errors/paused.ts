import type { PauseCause } from '../lifecycle.ts'
import type { RequestInfo } from './base.ts'
import { QueueTimeoutError } from './queue.ts'

const by: Record<PauseCause, string> = {
  'retry-after': 'the server (429/503 with Retry-After)',
  'rate-limit': 'the server (its rate-limit budget was used up)',
  app: 'the app (pool.pauseOrigin)',
  store: 'another copy of the client (a shared limit store)',
}

/**
 * The request waited longer than `queueTimeout` while its origin was paused, and was never sent. A
 * `QueueTimeoutError` too: code that handles queue timeouts handles this one.
 */
export class OriginPausedError extends QueueTimeoutError {
  override name = 'OriginPausedError'
  /** When the pause ends (ms since the epoch). */
  readonly pausedUntil: number
  readonly pauseCause: PauseCause

  constructor(request: RequestInfo, waited: number, queueTimeout: number, until: number, cause: PauseCause) {
    super(request, 0, waited, queueTimeout)
    this.pausedUntil = until
    this.pauseCause = cause
    this.message =
      `ky-pool: ${request.method} ${request.url} waited ${Math.round(waited)} ms and gave up after queueTimeout ` +
      `${queueTimeout} ms: ${request.origin} was paused by ${by[cause]} until ${new Date(until).toISOString()}. ` +
      'The request was not sent. Retry after the pause, or raise pool.queueTimeout (or pool.backpressure.maxPause).'
  }
}
