/**
 * `ky-pool/web-locks`: a limit shared by the tabs and workers of one site, on the browser's own Web Locks
 * (`navigator.locks`) — nothing to run, nothing to deploy. See README "Beyond one process".
 *
 * A limit of N for a key is N lock names; a permit is one name held (src/web-locks/key-locks.ts). The
 * browser queues and wakes the waiters and frees the names of a page that closes or crashes, so the
 * lease lasts exactly as long as the page that holds it: no TTL, no refresh timer, no heartbeat. The
 * fencing token comes from a counter of the tab, or of the origin in IndexedDB (src/web-locks/tokens.ts);
 * pauses travel on a `BroadcastChannel` (src/web-locks/pauses.ts).
 *
 * Scope is the origin (scheme, host, port), as for every Web Lock: tabs of other origins, other browser
 * profiles and other browsers do not share it.
 */
import { PoolConfigError } from './errors/config.ts'
import type { LimitStore, SharedAcquireOptions, SharedPermit } from './limit-store.ts'
import { StoreUnreachable } from './limit-store.ts'
import { KeyLocks, type Locks } from './web-locks/key-locks.ts'
import { Pauses } from './web-locks/pauses.ts'
import {
  type FencingKind,
  type IdbFactory,
  localTokens,
  sharedTokens,
  type Tokens,
} from './web-locks/tokens.ts'

export type { LimitStore, SharedAcquireOptions, SharedPermit } from './limit-store.ts'
export { StoreUnreachable } from './limit-store.ts'
export type { FencingKind } from './web-locks/tokens.ts'

export interface WebLocksStoreOptions {
  /**
   * Begins every lock name, the IndexedDB database's name and the BroadcastChannel's; default
   * `'ky-pool'`. Two apps on one origin that must not share limits use two prefixes.
   */
  prefix?: string
  /**
   * The lock manager; default `navigator.locks`, read when the store is made. Missing (an insecure
   * context, a browser before 2022) makes every `acquire` reject at once with a `StoreUnreachable`,
   * so that the pool fails open to its local limit or closed, as the client chose.
   */
  locks?: Locks
  /**
   * Where fencing tokens come from. `'local'` (default): a counter of this tab (of this realm), so
   * tokens grow within a tab and follow the clock to the millisecond across tabs. `'shared'`: a counter
   * in IndexedDB, greater than every token any tab of the origin handed out for the key, for apps that
   * send tokens somewhere that compares them; it costs an IndexedDB transaction per permit (about 2 ms
   * per request one at a time, more when many are granted at once: bench/README.md). Why local tokens
   * are enough for Web Locks, when nothing compares them: src/web-locks/tokens.ts.
   * @default 'local'
   */
  fencing?: FencingKind
}

/**
 * Web Locks allow any name, but each waiting tab keeps one lock request per name it does not hold:
 * above this limit a store of its own (Redis, a Durable Object) is the better engine.
 */
export const maxWebLocksLimit = 256

export interface WebLocksStore extends LimitStore {
  readonly engine: 'web-locks'
  /** Where this store's fencing tokens come from now ('local' when IndexedDB is missing or failed). */
  readonly fencing: FencingKind
}

/** A `LimitStore` for the tabs and workers of one site, on `navigator.locks`. */
export function webLocksStore(options: WebLocksStoreOptions = {}): WebLocksStore {
  const prefix = options.prefix ?? 'ky-pool'
  if (typeof prefix !== 'string' || prefix === '' || prefix.startsWith('-'))
    throw new PoolConfigError(
      'webLocksStore prefix',
      prefix,
      "a non-empty string that does not start with '-'",
    )
  if (options.fencing !== undefined && options.fencing !== 'shared' && options.fencing !== 'local')
    throw new PoolConfigError('webLocksStore fencing', options.fencing, "'shared' or 'local'")
  const locks = options.locks ?? (globalThis.navigator as { locks?: Locks } | undefined)?.locks
  const idb = (globalThis as { indexedDB?: IdbFactory }).indexedDB
  const tokens =
    options.fencing === 'shared' && idb !== undefined ? sharedTokens(idb, `${prefix}:fencing`) : localTokens()
  return new Store(prefix, locks, tokens)
}

const engine = 'web-locks'

class Store implements WebLocksStore {
  readonly engine = engine
  readonly #prefix: string
  readonly #locks: Locks | undefined
  readonly #tokens: Tokens
  readonly #keys = new Map<string, KeyLocks>()
  readonly #pauses: Pauses
  #closed = false

  constructor(prefix: string, locks: Locks | undefined, tokens: Tokens) {
    this.#prefix = prefix
    this.#locks = typeof locks?.request === 'function' ? locks : undefined
    this.#tokens = tokens
    this.#pauses = new Pauses(`${prefix}:pauses`)
  }

  get fencing(): FencingKind {
    return this.#tokens.kind
  }

  async acquire(key: string, limit: number, options: SharedAcquireOptions = {}): Promise<SharedPermit> {
    if (this.#locks === undefined)
      throw new StoreUnreachable(engine, 'navigator.locks is missing (an insecure context or an old browser)')
    if (this.#closed) throw new StoreUnreachable(engine, 'the store is closed')
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > maxWebLocksLimit)
      throw new PoolConfigError(
        'shared limit',
        limit,
        `an integer from 1 to ${maxWebLocksLimit} for Web Locks`,
      )
    const { signal, priority = 0 } = options
    signal?.throwIfAborted()
    const granted = await this.#keyLocks(key, limit).wait(limit, priority, signal)
    let token: number
    try {
      token = await this.#tokens.next(key)
    } finally {
      // Granted while the caller gave up (or the store closed) in the same moment: given back, not kept.
      if (signal?.aborted || this.#closed) granted.release()
    }
    signal?.throwIfAborted()
    if (this.#closed) throw new StoreUnreachable(engine, 'the store is closed')
    return { token, release: granted.release }
  }

  pause(key: string, until: number): void {
    this.#pauses.pause(key, until)
  }

  onPause(listener: (key: string, until: number) => void): () => void {
    return this.#pauses.onPause(listener)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const closed = new StoreUnreachable(engine, 'the store is closed')
    await Promise.all([...this.#keys.values()].map((keyLocks) => keyLocks.close(closed)))
    this.#keys.clear()
    this.#pauses.close()
    this.#tokens.close()
  }

  #keyLocks(key: string, limit: number): KeyLocks {
    let keyLocks = this.#keys.get(key)
    if (keyLocks === undefined) {
      const failed = (error: unknown) =>
        keyLocks!.failAll(
          new StoreUnreachable(engine, `navigator.locks refused a request for ${key}`, { cause: error }),
        )
      keyLocks = new KeyLocks(this.#locks!, `${this.#prefix}:${key}`, limit, failed)
      this.#keys.set(key, keyLocks)
    }
    return keyLocks
  }
}
