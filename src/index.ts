/**
 * ky-pool: one shared ky instance that settles every response body and bounds in-flight requests
 * per origin and in total, with a real queue. See README.md.
 */
import { type ClientOptions, createClient, type PooledKy } from './client.ts'

export type {
  ClientOptions,
  PooledKy,
  PooledResponse,
  PooledResponsePromise,
  PoolHandle,
  RequestOptions,
} from './client.ts'
export { createClient } from './client.ts'
export { KyPoolError } from './errors/base.ts'
export { BodyIdleTimeoutError, BodyReclaimedError } from './errors/body.ts'
export { InvalidUrlError, PoolConfigError } from './errors/config.ts'
export { LeakError } from './errors/leak.ts'
export { QueueFullError, QueueTimeoutError } from './errors/queue.ts'
export type { LeakMode } from './leaks.ts'
export type { PoolOptions, RequestPoolOptions, ResolvedPoolOptions } from './options.ts'
export { defaults } from './options.ts'
export { originOf } from './origin.ts'
export { redactUrl } from './redact.ts'
export type {
  LeakReport,
  OriginStats,
  PoolStats,
  ReclaimCause,
  SettleHow,
  TraceEvent,
  TraceEventType,
} from './trace.ts'

let shared: PooledKy | undefined
let sharedOptions: ClientOptions = {}

/** The shared instance, created on first use (once per module instance, so once per isolate). */
function sharedClient(): PooledKy {
  shared ??= createClient(sharedOptions)
  return shared
}

/**
 * @internal For `ky-pool/testing`: drops the shared instance (the next use creates a fresh one with
 * `options`). Requests already made keep their old pool.
 */
export function _resetSharedClient(options: ClientOptions = {}): void {
  shared = undefined
  sharedOptions = options
}

/**
 * The shared client. It *is* a ky instance (`client.get(url).json()`, `client(url)`,
 * `client.extend(…)`) plus `client.pool`; it is created on first use.
 */
export const client: PooledKy = (() => {
  const call = ((input, options) => sharedClient()(input, options)) as PooledKy & Record<string, unknown>
  for (const method of ['get', 'post', 'put', 'delete', 'patch', 'query', 'head'] as const) {
    call[method] = (input: Parameters<PooledKy['get']>[0], options?: Parameters<PooledKy['get']>[1]) =>
      sharedClient()[method](input, options)
  }
  call.extend = (defaults) => sharedClient().extend(defaults)
  call.create = (defaults) => sharedClient().create(defaults)
  Object.defineProperties(call, {
    stop: { get: () => sharedClient().stop, enumerable: true },
    retry: { get: () => sharedClient().retry, enumerable: true },
    pool: { get: () => sharedClient().pool, enumerable: true },
  })
  return call
})()
