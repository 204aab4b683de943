/**
 * The in-memory `LimitStore`: the reference implementation of the contract (src/limit-store.ts), over the
 * pool's own limiter (src/limiter.ts), for one process. It is what the contract tests check first and
 * what a test uses in place of a real engine; `store.copy()` makes another copy over the same engine, as
 * a second process would be over Redis. Its engine lives and dies with the process, so it needs neither
 * TTLs nor refreshes: a permit lasts until it is released or its copy is closed. Tokens still increase
 * per key, and pauses reach every copy.
 */
import {
  type LimitStore,
  type SharedAcquireOptions,
  type SharedPermit,
  StoreUnreachable,
} from '../limit-store.ts'
import { type Lease, Limiter } from '../limiter.ts'

/** `memoryStore()`: a `LimitStore` for one process; `copy()` gives another copy sharing its engine. */
export interface MemoryStore extends LimitStore {
  readonly engine: 'memory'
  /** Another copy over the same engine (as another process would be over Redis), with its own close(). */
  copy(): MemoryStore
  /** Permits this copy holds now. */
  readonly held: number
}

/** A shared limit for the copies of one process (and the contract tests' reference). */
export function memoryStore(): MemoryStore {
  return new Copy(new Engine())
}

/** What the copies share: one limiter (its keys are the store's keys), tokens and pause listeners. */
class Engine {
  readonly limits = new Map<string, number>()
  readonly limiter = new Limiter({
    total: Infinity,
    maxQueue: Infinity,
    limitOf: (key) => this.limits.get(key) ?? 1,
  })
  readonly tokens = new Map<string, number>()
  readonly pauseListeners = new Set<(key: string, until: number) => void>()

  /** Sets `key`'s limit; the last caller's wins, as in the other engines. */
  limit(key: string, limit: number): void {
    if (this.limits.get(key) === limit) return
    this.limits.set(key, limit)
    this.limiter.refreshLimit(key)
  }

  token(key: string): number {
    const token = (this.tokens.get(key) ?? 0) + 1
    this.tokens.set(key, token)
    return token
  }
}

class Copy implements MemoryStore {
  readonly engine = 'memory' as const
  readonly #engine: Engine
  readonly #permits = new Set<Permit>()
  /** Aborted by close(): every waiter of this copy listens to it. */
  readonly #closing = new AbortController()
  readonly #listeners = new Set<(key: string, until: number) => void>()

  constructor(engine: Engine) {
    this.#engine = engine
  }

  copy(): MemoryStore {
    return new Copy(this.#engine)
  }

  get held(): number {
    return this.#permits.size
  }

  async acquire(key: string, limit: number, options: SharedAcquireOptions = {}): Promise<SharedPermit> {
    const closing = this.#closing.signal
    if (closing.aborted) throw closing.reason
    options.signal?.throwIfAborted()
    const { limiter } = this.#engine
    this.#engine.limit(key, limit)
    let lease = limiter.tryAcquire(key)
    if (lease === undefined) {
      const wait = either(options.signal, closing)
      try {
        lease = await limiter.acquire(key, { priority: options.priority, signal: wait.signal })
      } finally {
        wait.end()
      }
    }
    const permit = new Permit(lease, this.#engine.token(key), this.#permits)
    this.#permits.add(permit)
    return permit
  }

  pause(key: string, until: number): void {
    for (const listener of this.#engine.pauseListeners) listener(key, until)
  }

  onPause(listener: (key: string, until: number) => void): () => void {
    // A copy of its own per subscription, so that the same function subscribed twice is told twice and unsubscribed once each.
    const own = (key: string, until: number) => listener(key, until)
    this.#engine.pauseListeners.add(own)
    this.#listeners.add(own)
    return () => {
      this.#engine.pauseListeners.delete(own)
      this.#listeners.delete(own)
    }
  }

  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) {
      this.#closing.abort(new StoreUnreachable('memory', 'the store was closed'))
    }
    for (const permit of [...this.#permits]) permit.release()
    for (const listener of this.#listeners) this.#engine.pauseListeners.delete(listener)
    this.#listeners.clear()
  }
}

class Permit implements SharedPermit {
  readonly token: number
  readonly #lease: Lease
  readonly #held: Set<Permit>

  constructor(lease: Lease, token: number, held: Set<Permit>) {
    this.#lease = lease
    this.token = token
    this.#held = held
  }

  release(): void {
    this.#lease.release() // idempotent
    this.#held.delete(this)
  }
}

/** A signal that aborts when either does, with the first one's reason; `end()` removes its listeners. */
function either(a: AbortSignal | undefined, b: AbortSignal): { signal: AbortSignal; end(): void } {
  if (a === undefined) return { signal: b, end() {} }
  const controller = new AbortController()
  const onA = () => controller.abort(a.reason)
  const onB = () => controller.abort(b.reason)
  a.addEventListener('abort', onA, { once: true })
  b.addEventListener('abort', onB, { once: true })
  return {
    signal: controller.signal,
    end() {
      a.removeEventListener('abort', onA)
      b.removeEventListener('abort', onB)
    },
  }
}
