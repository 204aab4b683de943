/**
 * `sharedLimit()`: a per-origin limit held in a `LimitStore` (src/limit-store.ts), so that every copy of
 * the pool using the same store and key — tabs, isolates, processes — stays under it together. The pool
 * takes a store permit for each request after its local slot and holds it exactly as long (until the
 * body settles, or the request fails); this module is the pool's side of that: which origins are
 * shared and under what limit, the wait (the request's abort, priority and the rest of its
 * `queueTimeout`), and what happens when the store cannot be reached (fail open to the local limit, or
 * closed with a `SharedLimitUnreachableError`).
 *
 * It lives outside the default client's import graph (entry point `ky-pool/shared-limit`): a pool with
 * no `pool.shared` pays one branch per request and not one byte of this.
 */
import { PoolConfigError } from '../errors/config.ts'
import { QueueTimeoutError } from '../errors/queue.ts'
import { SharedLimitUnreachableError } from '../errors/shared.ts'
import { type LimitStore, type SharedPermit, StoreUnreachable } from '../limit-store.ts'
import type { RequestPoolOptions, ResolvedPoolOptions } from '../options.ts'
import { originOf } from '../origin.ts'
import type { Events } from '../pool/events.ts'
import type { Flight, Held } from '../pool/flight.ts'
import { redactMessage, redactText } from '../redact.ts'

/** What to do when the store cannot be reached or does not answer in bounded time. */
export type Unreachable = 'open' | 'closed'

/** `sharedLimit({ … })`: the store, the limits it keeps, and the policy when it is unreachable. */
export interface SharedLimitOptions {
  /** The engine: `memoryStore()` from here, `redisStore()` from `ky-pool/redis`, and so on. */
  store: LimitStore
  /**
   * Max requests in flight per origin across every copy using this store and `prefix`, for every origin
   * not listed in `origins`. Without it, only the origins listed in `origins` are shared; the others
   * keep the pool's local limit alone.
   */
  limit?: number
  /** Per origin, a shared limit that replaces `limit` (`{ 'https://api.example.com': 8 }`); keys are canonicalized like `pool.origins`. */
  origins?: Record<string, number> | ReadonlyMap<string, number>
  /**
   * Namespace of the store's keys (a key is `prefix + origin`): copies that should share a limit use the
   * same prefix, and two deployments (or two API keys) that should not, different ones.
   * @default 'ky-pool:'
   */
  prefix?: string
  /**
   * `'open'` (default): a request whose store is unreachable goes on under the local limit alone; the
   * first time, a warning (unless `pool.leaks` is `'silent'`), and each time a `store-unreachable` trace
   * event. `'closed'`: the request fails with a `SharedLimitUnreachableError` and is not sent.
   * @default 'open'
   */
  unreachable?: Unreachable
}

/** What `pool.shared` holds: made by `sharedLimit()`; one may serve several pools. */
export interface SharedLimit {
  readonly store: LimitStore
  readonly prefix: string
  readonly unreachable: Unreachable
  /** The shared limit of `origin` (canonical), or undefined when it is not shared. */
  limitOf(origin: string): number | undefined
  /**
   * Requests to `origin` waiting at the store now. The pool's reclaimer counts them as queued on the
   * origin: a body of this copy that nobody reads may hold the very permit they wait for.
   */
  waiting(origin: string): number
  /**
   * A store permit for `flight`, taken after its local slot (`flight.lease`), and joined with it: what it
   * resolves with gives both back at once, so the pool keeps one thing per request. The slot alone when
   * the origin is not shared, or when the store was unreachable and the limit fails open. Rejects like
   * the local queue does, holding nothing of the store's: the abort reason, a `QueueTimeoutError` (the
   * store's wait counts against `queueTimeout` from `queuedAt`), or a `SharedLimitUnreachableError` when
   * failing closed; the pool then gives the slot back. `pool` and `events` are the calling pool's.
   */
  acquire(
    pool: ResolvedPoolOptions,
    events: Events,
    flight: Flight,
    signal: AbortSignal | null,
    options: RequestPoolOptions,
    init: RequestInit,
    queuedAt: number,
  ): Promise<Held>
}

const defaultPrefix = 'ky-pool:'

/** Validates `options` (each mistake is a `PoolConfigError` naming the option) and makes the shared limit. */
export function sharedLimit(options: SharedLimitOptions): SharedLimit {
  if (!isPlainObject(options)) {
    throw new PoolConfigError('sharedLimit()', options, '{ store, limit?, origins?, prefix?, unreachable? }')
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(optionKeys, key)) {
      throw new PoolConfigError(
        `sharedLimit().${key}`,
        (options as unknown as Record<string, unknown>)[key],
        `one of ${Object.keys(optionKeys).join(', ')} (unknown option)`,
      )
    }
  }
  const { store, limit, origins, prefix = defaultPrefix, unreachable = 'open' } = options
  if (!isStore(store)) {
    throw new PoolConfigError(
      'sharedLimit().store',
      store,
      'a LimitStore, e.g. memoryStore() from ky-pool/shared-limit or redisStore(redis) from ky-pool/redis',
    )
  }
  if (limit !== undefined) count('sharedLimit().limit', limit)
  const limits = origins === undefined ? new Map<string, number>() : originLimits(origins)
  if (limit === undefined && limits.size === 0) {
    throw new PoolConfigError(
      'sharedLimit()',
      options,
      'given a limit (for every origin) or origins (a limit per origin): with neither, nothing is shared',
    )
  }
  if (typeof prefix !== 'string') throw new PoolConfigError('sharedLimit().prefix', prefix, 'a string')
  if (unreachable !== 'open' && unreachable !== 'closed') {
    throw new PoolConfigError('sharedLimit().unreachable', unreachable, "'open' or 'closed'")
  }
  return new Limit(store, limit, limits, prefix, unreachable)
}

const optionKeys: Record<keyof SharedLimitOptions, true> = {
  store: true,
  limit: true,
  origins: true,
  prefix: true,
  unreachable: true,
}

class Limit implements SharedLimit {
  readonly store: LimitStore
  readonly prefix: string
  readonly unreachable: Unreachable
  readonly #limit: number | undefined
  readonly #origins: ReadonlyMap<string, number>
  /** The fail-open warning is printed once per shared limit, whatever the number of pools using it. */
  #warned = false
  /** Requests waiting at the store, per origin (see `waiting`). */
  readonly #waiting = new Map<string, number>()

  constructor(
    store: LimitStore,
    limit: number | undefined,
    origins: ReadonlyMap<string, number>,
    prefix: string,
    unreachable: Unreachable,
  ) {
    this.store = store
    this.#limit = limit
    this.#origins = origins
    this.prefix = prefix
    this.unreachable = unreachable
  }

  limitOf(origin: string): number | undefined {
    return this.#origins.get(origin) ?? this.#limit
  }

  waiting(origin: string): number {
    return this.#waiting.get(origin) ?? 0
  }

  #count(origin: string, delta: 1 | -1): void {
    const count = this.waiting(origin) + delta
    if (count === 0) this.#waiting.delete(origin)
    else this.#waiting.set(origin, count)
  }

  async acquire(
    pool: ResolvedPoolOptions,
    events: Events,
    flight: Flight,
    signal: AbortSignal | null,
    options: RequestPoolOptions,
    init: RequestInit,
    queuedAt: number,
  ): Promise<Held> {
    const slot = flight.lease!
    const limit = this.limitOf(flight.origin)
    if (limit === undefined) return slot
    const priority = options.priority ?? (init.priority === 'high' ? 1 : init.priority === 'low' ? -1 : 0)
    const queueTimeout = options.queueTimeout ?? pool.queueTimeout
    const wait = new Wait(signal, queueTimeout - (performance.now() - queuedAt))
    this.#count(flight.origin, 1)
    try {
      const key = this.prefix + flight.origin
      return new Joined(slot, await this.store.acquire(key, limit, { priority, signal: wait.signal }))
    } catch (error) {
      const waited = performance.now() - queuedAt
      const { totals, tracer } = events
      if (wait.timedOut) {
        totals.queueTimeouts++
        tracer?.rejected(flight, 'queue-timeout', waited)
        throw new QueueTimeoutError(flight, limit, waited, queueTimeout)
      }
      if (signal?.aborted) {
        totals.aborted++
        tracer?.rejected(flight, 'aborted', waited)
        throw error
      }
      if (!(error instanceof StoreUnreachable)) throw error
      const closed = this.unreachable === 'closed'
      tracer?.storeUnreachable(flight, this.store.engine, this.unreachable, waited, error)
      if (closed) {
        tracer?.rejected(flight, 'store-unreachable', waited)
        throw new SharedLimitUnreachableError(flight, this.store.engine, waited, error)
      }
      if (!this.#warned && pool.leaks !== 'silent') this.#warnOpen(flight, error)
      this.#warned = true
      return slot
    } finally {
      this.#count(flight.origin, -1)
      wait.end()
    }
  }

  #warnOpen(flight: Flight, error: StoreUnreachable): void {
    console.warn(
      `ky-pool: the shared limit's store (${this.store.engine}) could not be reached for ${flight.origin} ` +
        `(${redactMessage(error.message)}); requests go on under the local limit alone (pool.shared fails ` +
        "open). This warning is printed once; pool.trace gets a 'store-unreachable' event each time.",
    )
  }
}

/** A local slot and a store permit, held and given back together. */
class Joined implements Held {
  readonly #slot: Held
  readonly #permit: SharedPermit

  constructor(slot: Held, permit: SharedPermit) {
    this.#slot = slot
    this.#permit = permit
  }

  get released(): boolean {
    return this.#slot.released
  }

  release(): void {
    this.#slot.release()
    this.#permit.release() // idempotent, by the contract
  }
}

/** The store's wait: the caller's abort, and the rest of the request's `queueTimeout` on a timer of its own. */
class Wait {
  readonly #controller = new AbortController()
  readonly #caller: AbortSignal | null
  readonly #timer: ReturnType<typeof setTimeout> | undefined
  timedOut = false

  constructor(caller: AbortSignal | null, timeout: number) {
    this.#caller = caller
    if (caller?.aborted) this.#onAbort()
    else caller?.addEventListener('abort', this.#onAbort, { once: true })
    if (timeout !== Infinity) {
      this.#timer = setTimeout(
        () => {
          this.timedOut = true
          this.#controller.abort(new DOMException('The shared limit wait timed out', 'TimeoutError'))
        },
        Math.max(0, timeout),
      )
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  readonly #onAbort = (): void => this.#controller.abort(this.#caller!.reason)

  end(): void {
    clearTimeout(this.#timer)
    this.#caller?.removeEventListener('abort', this.#onAbort)
  }
}

function isStore(value: unknown): value is LimitStore {
  const store = value as LimitStore | null | undefined
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof store.acquire === 'function' &&
    typeof store.close === 'function' &&
    typeof store.engine === 'string'
  )
}

function count(option: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value
  throw new PoolConfigError(option, value, 'a whole number >= 1')
}

function originLimits(origins: unknown): Map<string, number> {
  if (!isPlainObject(origins) && !(origins instanceof Map)) {
    throw new PoolConfigError(
      'sharedLimit().origins',
      origins,
      "an object like { 'https://api.example.com': 8 }, or a Map of the same",
    )
  }
  const entries: [unknown, unknown][] =
    origins instanceof Map ? [...origins] : Object.entries(origins as object)
  const limits = new Map<string, number>()
  for (const [entry, value] of entries) {
    const shown = redactText(String(entry))
    const option = `sharedLimit().origins[${JSON.stringify(shown)}]`
    let origin: string
    try {
      origin = originOf(String(entry))
    } catch (error) {
      throw new PoolConfigError(option, shown, `keyed by an http(s) origin (${(error as Error).message})`)
    }
    if (!isBareOrigin(String(entry))) {
      throw new PoolConfigError(option, shown, `keyed by an origin only, like ${JSON.stringify(origin)}`)
    }
    const limit = count(option, value)
    const previous = limits.get(origin)
    if (previous !== undefined && previous !== limit) {
      throw new PoolConfigError(
        option,
        value,
        `the same as the limit ${previous} already given for ${origin}`,
      )
    }
    limits.set(origin, limit)
  }
  return limits
}

/** No path, query, fragment or credentials: a limit applies to a whole origin. */
function isBareOrigin(key: string): boolean {
  const url = URL.parse(key)
  if (url === null) return true // originOf took it: a form URL does not parse alone
  return (
    url.username === '' && url.password === '' && url.search === '' && url.hash === '' && url.pathname === '/'
  )
}

function isPlainObject(value: unknown): value is object {
  return (
    typeof value === 'object' &&
    value !== null &&
    [Object.prototype, null].includes(Object.getPrototypeOf(value))
  )
}
