import { KyPoolRequestError, type RequestInfo } from './base.ts'

/**
 * The store behind a shared limit (`pool.shared`, made with `unreachable: 'closed'`) could not be reached
 * or did not answer in bounded time, so the request was not sent: failing closed keeps the upstream's
 * limit safe at the cost of the call. With `unreachable: 'open'` (the default) the request goes on under
 * the pool's local limit instead.
 */
export class SharedLimitUnreachableError extends KyPoolRequestError {
  override name = 'SharedLimitUnreachableError'
  /** The store's engine: 'memory', 'redis', 'durable-object', 'web-locks'. */
  readonly engine: string
  /** Ms the request waited (for its local slot and the store) before giving up. */
  readonly waited: number

  constructor(request: RequestInfo, engine: string, waited: number, cause: unknown) {
    super(
      request,
      `ky-pool: ${request.method} ${request.url} was not sent: the shared limit's store (${engine}) for ` +
        `${request.origin} could not be reached after ${Math.round(waited)} ms, and pool.shared fails closed ` +
        `(unreachable: 'closed'). Check the store's connection, or choose unreachable: 'open' to fall back to the local limit.`,
    )
    this.engine = engine
    this.waited = waited
    this.cause = cause
  }
}
