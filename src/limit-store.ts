/**
 * A limit shared beyond one process (issue 10): the contract between the pool and the engines that
 * coordinate several copies of it — an in-memory store (one process; the reference implementation and
 * the tests' double), Web Locks across the tabs of one site, a Durable Object across Workers isolates,
 * Redis across processes. Like limiter.ts it knows nothing of HTTP: a key is an opaque string (the pool
 * passes a namespaced origin) and a permit is one unit of that key's shared limit.
 *
 * Leases, not counters: a permit lives until it is released or until its TTL runs out on the engine's
 * clock (never the client's). The store refreshes the permits it holds until they are released, so a
 * body that streams for minutes keeps its permit, and a process that dies loses its permits within the
 * TTL: nothing stays stuck. Waiters are woken when a permit frees (pub/sub, a pending call answered, the
 * engine's own queue), not by polling. A store may take several permits in one round trip and hand them
 * out locally (batching); the limit still holds across all copies.
 *
 * Engines live in their own entry points (`ky-pool/redis`, `ky-pool/durable-object`, `ky-pool/web-locks`)
 * so that the default client ships none of them; the pool only holds a `LimitStore`.
 */

export interface SharedAcquireOptions {
  /** Higher first among this copy's waiters for the key; default 0. Engines that queue globally may honour it too. */
  priority?: number
  /**
   * Ends the wait: the promise rejects with `signal.reason` and no permit is left held (one granted in
   * the same moment is given back). The pool's `queueTimeout` reaches the store this way.
   */
  signal?: AbortSignal
}

/** One held unit of a shared limit. */
export interface SharedPermit {
  /** Fencing token: greater than every token the engine handed out before for the same key. */
  readonly token: number
  /**
   * Gives the permit back. Idempotent, never throws and returns at once (the engine is told in the
   * background); a release the engine never hears of ends with the permit's TTL.
   */
  release(): void
}

/** A limit shared by every copy of the pool that uses the same engine and key. */
export interface LimitStore {
  /** The engine's name, for errors, stats and trace events: 'memory', 'redis', 'durable-object', 'web-locks'. */
  readonly engine: string
  /**
   * A permit for `key` while at most `limit` are held across all copies; resolves once one is held.
   * Rejects with `signal.reason` when aborted, and with a `StoreUnreachable` when the engine cannot be
   * reached or answer in bounded time (never a hang): the pool then fails open to its local limit or
   * closed with a typed error, as the client chose.
   */
  acquire(key: string, limit: number, options?: SharedAcquireOptions): Promise<SharedPermit>
  /**
   * Tells every copy that `key` is paused until `until` (ms since the epoch) — origin backpressure, such
   * as a 429 with `Retry-After`, shared so that one copy's answer pauses all. Optional.
   */
  pause?(key: string, until: number): void
  /** Listens for pauses told by any copy (this one included); returns the unsubscribe. Optional. */
  onPause?(listener: (key: string, until: number) => void): () => void
  /** Releases what it holds, stops its refresh timers, rejects its waiters, closes what it opened. */
  close(): Promise<void>
}

/** Why a store could not give an answer. The pool turns it into fail-open or a public, typed error. */
export class StoreUnreachable extends Error {
  override name = 'StoreUnreachable'
  readonly engine: string
  constructor(engine: string, message: string, options?: { cause?: unknown }) {
    super(`${engine}: ${message}`, options)
    this.engine = engine
  }
}
