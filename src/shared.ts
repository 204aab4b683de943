/**
 * The shared client: one per module instance (so one per isolate or worker), created on first use.
 */
import { type ClientOptions, calledFrom, createClient, methods, type PooledKy } from './client.ts'

let shared: PooledKy | undefined
let sharedOptions: ClientOptions = {}

/** The shared instance, created on first use (once per module instance, so once per isolate). */
function sharedClient(): PooledKy {
  shared ??= createClient(sharedOptions)
  return shared
}

/**
 * For `ky-pool/testing`: drops the shared instance (the next use creates a fresh one with
 * `options`). Requests already made keep their old pool.
 */
export function resetShared(options: ClientOptions = {}): void {
  shared = undefined
  sharedOptions = options
}

/**
 * The shared client. It *is* a ky instance (`client.get(url).json()`, `client(url)`,
 * `client.extend(…)`) plus `client.pool`; it is created on first use.
 */
export const client: PooledKy = (() => {
  // Each delegate has the call site captured above itself (see `calledFrom`).
  const call = ((input, options) => calledFrom(call, () => sharedClient()(input, options))) as PooledKy &
    Record<string, unknown>
  for (const method of methods) {
    const delegate = (input: Parameters<PooledKy['get']>[0], options?: Parameters<PooledKy['get']>[1]) =>
      calledFrom(delegate, () => sharedClient()[method](input, options))
    call[method] = delegate
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
