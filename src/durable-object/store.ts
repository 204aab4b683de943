/**
 * `durableObjectStore(namespace)`: the `LimitStore` whose engine is the `KyPoolLimits` Durable Object
 * (object.ts), for a limit shared by every isolate and every invocation of one or more Workers.
 *
 * Workers' rules shape it (src/invocations.ts): a promise of one invocation resolved from another is
 * cancelled, and a stub or a timer belongs to the invocation that made it. So everything here is per
 * invocation — the session with the object, the local queue, the refresh timer — and one invocation's
 * release never wakes another's waiter in the Worker: that hand-over happens in the object, which
 * answers the other invocation's pending call. The store itself may live at module scope.
 *
 * Per invocation and object, a `Connection` (connection.ts): one session (`open`, a billed request; the
 * calls through it are not), one timer while it holds or asks for permits, which refreshes its leases
 * every `refreshEvery` ms and is also the liveness check: a session that does not answer within `timeout`
 * is dropped and its waiters get a `StoreUnreachable` (so a lost object is noticed within
 * `refreshEvery + timeout`, never a hang). Waiters of one key are asked for in calls of up to `batch`
 * permits, made once per microtask; with `batch` above 1 one call per key is out at a time, and the
 * waiters that came meanwhile are asked for together when it answers: a burst of 20 requests with
 * `batch: 20` takes two or three round trips. Pauses go through one object (`PAUSES`).
 */
import { PoolConfigError } from '../errors/config.ts'
import { perInvocation } from '../invocations.ts'
import type { LimitStore } from '../limit-store.ts'
import { StoreUnreachable } from '../limit-store.ts'
import { Connection, ENGINE, type PauseListener, type Settings } from './connection.ts'
import type { LimitsNamespace } from './platform.ts'

export interface DurableObjectStoreOptions {
  /**
   * Ms a permit lives on the object's clock unless refreshed; default 30,000. A Worker invocation that
   * vanished without its session being disposed loses its permits within this time.
   */
  ttl?: number
  /** Ms between refreshes of the leases an invocation holds (and liveness checks); default `ttl / 3`. */
  refreshEvery?: number
  /** Ms the object may take to open a session or answer a refresh before it counts as unreachable; default 5,000. */
  timeout?: number
  /** Most permits asked for in one call and handed out locally; default 1 (no batching). */
  batch?: number
  /**
   * The name of the object that keeps `key`'s limit; default one object per key (`(key) => key`), which
   * spreads the load (an object serves some 1,000 requests/s). Return a constant to keep every key in one object.
   */
  objectName?: (key: string) => string
}

/**
 * The key whose object carries pauses (`objectName(PAUSES)`): one object every copy can find, whichever
 * origins it uses. Pauses are rare; the limits' objects keep their load.
 */
const PAUSES = 'ky-pool:pauses'

/** A `LimitStore` kept by the `KyPoolLimits` Durable Object bound as `namespace`. */
export function durableObjectStore(
  namespace: LimitsNamespace,
  options: DurableObjectStoreOptions = {},
): LimitStore {
  if (typeof namespace?.idFromName !== 'function' || typeof namespace.get !== 'function') {
    throw new PoolConfigError(
      'durableObjectStore(namespace)',
      namespace,
      "a Durable Object namespace binding of the KyPoolLimits class (e.g. env.KY_POOL_LIMITS, bound in wrangler's durable_objects.bindings)",
    )
  }
  const settings = validate(options)
  const connections = perInvocation(() => new Map<string, Connection>())
  // Pause listeners belong to the invocation that subscribed (Workers' rule: no wake-ups across invocations).
  const listeners = perInvocation(() => new Set<PauseListener>())
  let closed = false
  const connection = (key: string) => {
    const name = settings.objectName(key)
    const open = connections()
    let found = open.get(name)
    if (found === undefined) {
      found = new Connection(namespace, name, settings)
      open.set(name, found)
    }
    return found
  }
  return {
    engine: ENGINE,
    acquire: (key, limit, acquireOptions) =>
      closed
        ? Promise.reject(new StoreUnreachable(ENGINE, 'the store was closed'))
        : connection(key).acquire(key, limit, acquireOptions),
    pause: (key, until) => {
      if (!closed) connection(PAUSES).pause(key, until)
    },
    /**
     * Hears every pause told through the pauses object, including those still in force when it starts
     * listening: one pending call per listening invocation (and one session, a billed request, unless
     * `objectName` puts pauses in an object the invocation already uses). The listener belongs to the
     * current invocation.
     */
    onPause: (listener) => {
      const own: PauseListener = (key, until) => listener(key, until)
      const current = listeners()
      current.add(own)
      const board = connection(PAUSES)
      if (!closed) board.watchPauses(current)
      return () => {
        current.delete(own)
        if (current.size === 0) board.unwatchPauses()
      }
    },
    /** Closes this invocation's sessions (another invocation's are not this one's to touch; they end with it). */
    async close() {
      closed = true
      const open = connections()
      for (const found of open.values()) found.close()
      open.clear()
    },
  }
}

function validate(options: DurableObjectStoreOptions): Settings {
  const ms = (name: keyof DurableObjectStoreOptions, value: unknown, min: number) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new PoolConfigError(`durableObjectStore options.${name}`, value, `a number of ms ≥ ${min}`)
    }
    return value
  }
  const ttl = ms('ttl', options.ttl ?? 30_000, 50)
  const refreshEvery = ms('refreshEvery', options.refreshEvery ?? ttl / 3, 10)
  if (refreshEvery >= ttl) {
    throw new PoolConfigError(
      'durableObjectStore options.refreshEvery',
      refreshEvery,
      `below ttl (${ttl} ms)`,
    )
  }
  const batch = options.batch ?? 1
  if (!Number.isInteger(batch) || batch < 1 || batch > 100) {
    throw new PoolConfigError('durableObjectStore options.batch', batch, 'an integer from 1 to 100')
  }
  const objectName = options.objectName ?? ((key: string) => key)
  if (typeof objectName !== 'function') {
    throw new PoolConfigError('durableObjectStore options.objectName', objectName, 'a function (key) => name')
  }
  return { ttl, refreshEvery, timeout: ms('timeout', options.timeout ?? 5_000, 1), batch, objectName }
}
