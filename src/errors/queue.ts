import { KyPoolRequestError, type RequestInfo } from './base.ts'
import { plural } from './plural.ts'

/** The request waited longer than `queueTimeout` for a slot and was never sent. */
export class QueueTimeoutError extends KyPoolRequestError {
  override name = 'QueueTimeoutError'
  /** The per-origin limit that was full (or the total limit, when that was the bottleneck). */
  readonly limit: number
  /** Ms the request waited before giving up. */
  readonly waited: number
  readonly queueTimeout: number

  constructor(request: RequestInfo, limit: number, waited: number, queueTimeout: number) {
    super(
      request,
      `ky-pool: ${request.method} ${request.url} waited ${Math.round(waited)} ms for a slot on ${request.origin} ` +
        `(limit ${limit} in flight) and gave up after queueTimeout ${queueTimeout} ms. The request was not sent. ` +
        'Raise pool.queueTimeout or the limit, or look for bodies that are never read.',
    )
    this.limit = limit
    this.waited = waited
    this.queueTimeout = queueTimeout
  }
}

/** The origin's queue already held `maxQueue` waiters, so the request was refused at once and not sent. */
export class QueueFullError extends KyPoolRequestError {
  override name = 'QueueFullError'
  readonly limit: number
  readonly maxQueue: number
  readonly waited = 0

  constructor(request: RequestInfo, limit: number, maxQueue: number) {
    super(
      request,
      `ky-pool: ${request.method} ${request.url} was refused: ${request.origin} already has ${plural(maxQueue, 'request')} ` +
        `queued (pool.maxQueue) behind ${limit} in flight. The request was not sent. ` +
        'Slow down the producer or raise pool.maxQueue.',
    )
    this.limit = limit
    this.maxQueue = maxQueue
  }
}
