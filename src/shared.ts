/**
 * The shared client: one per module instance (so one per isolate or worker), created on first use.
 */
import { type ClientOptions, calledFrom, methods, type PooledKy } from './client.ts'

let shared: PooledKy | undefined
let sharedOptions: ClientOptions = {}

/**
 * For `ky-pool/testing`: drops the shared instance (the next use creates a fresh one with
 * `options`). Requests already made keep their old pool.
 */
export function resetShared(options: ClientOptions = {}): void {
  shared = undefined
  sharedOptions = options
}

/**
 * A client that is `current()` at each use: every call, property and derived client is looked up then,
 * so a client made from the shared one (`client.extend(…)` at module scope, before any test ran) follows
 * `resetSharedClient()` like `client` itself does, and is never left on an old pool.
 */
function following(current: () => PooledKy): PooledKy {
  // Each delegate has the call site captured above itself (see `calledFrom`).
  const call = ((input, options) => calledFrom(call, () => current()(input, options))) as PooledKy &
    Record<string, unknown>
  for (const method of methods) {
    const delegate = (input: Parameters<PooledKy['get']>[0], options?: Parameters<PooledKy['get']>[1]) =>
      calledFrom(delegate, () => current()[method](input, options))
    call[method] = delegate
  }
  call.extend = (defaults) => following(derivedFrom(current, (base) => base.extend(defaults)))
  call.create = (defaults) => following(derivedFrom(current, (base) => base.create(defaults)))
  Object.defineProperties(call, {
    stop: { get: () => current().stop, enumerable: true },
    retry: { get: () => current().retry, enumerable: true },
    pool: { get: () => current().pool, enumerable: true },
  })
  return call
}

/**
 * `make(current())`, made again only when `current()` is another client (after a reset). Made once at
 * once too, so that bad options fail where they are given, as ky's `extend` and `create` do.
 */
function derivedFrom(current: () => PooledKy, make: (base: PooledKy) => PooledKy): () => PooledKy {
  let base: PooledKy | undefined = current()
  let made: PooledKy | undefined = make(base)
  return () => {
    const now = current()
    if (now !== base || made === undefined) {
      made = make(now)
      base = now
    }
    return made
  }
}

/**
 * The shared client, made by the entry point's `createClient` on first use (once per module instance,
 * so once per isolate). It *is* a ky instance (`client.get(url).json()`, `client(url)`,
 * `client.extend(…)`) plus `client.pool`. Clients derived from it with `extend` or `create` follow it:
 * after `resetSharedClient()` (ky-pool/testing) they use the new pool.
 */
export function sharedClient(createClient: (options: ClientOptions) => PooledKy): PooledKy {
  return following(() => {
    shared ??= createClient(sharedOptions)
    return shared
  })
}
