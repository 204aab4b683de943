/**
 * Slots and queues. A slot is a unit of concurrency counted per key and in total; this module knows
 * nothing of HTTP (the pool uses origins as keys and holds a slot until a response body settles).
 *
 * Policy, in one place (`#promote`, the only code that moves a waiter from queued to acquired):
 * - a key never has more than its limit acquired, and all keys together never more than `total`;
 * - within a key: higher priority first, then FIFO;
 * - between keys, when `total` is the bottleneck: round-robin over the keys that have waiters and room,
 *   so one busy key cannot starve the others.
 */

export interface LimiterOptions {
  /** Max slots acquired over all keys. */
  total: number
  /** Max slots acquired per key; read when a key is first seen (and again by `refreshLimit`). */
  limitOf: (key: string) => number
  /** Max waiters queued per key; the next one is refused with a `LimiterRejection` of kind 'full'. */
  maxQueue: number
  /**
   * Called when a waiter has to queue: `blockedBy` is 'key' when the key's own limit is reached and
   * 'total' when only the total cap is. The pool uses it to reclaim slots held by untouched bodies.
   */
  onPressure?: (key: string, blockedBy: 'key' | 'total') => void
  now?: () => number
}

export interface AcquireOptions {
  /** Higher runs first; default 0. */
  priority?: number
  /** Removes the waiter at once and rejects with `signal.reason`. */
  signal?: AbortSignal
  /** Ms the waiter may stay queued; rejects with a `LimiterRejection` of kind 'timeout'. */
  timeout?: number
}

/** Why the limiter refused a waiter. The pool turns it into a public, HTTP-aware error. */
export class LimiterRejection extends Error {
  override name = 'LimiterRejection'
  readonly kind: 'timeout' | 'full'
  readonly key: string
  /** The limit that kept the waiter out: the key's own, or `total` when the key had room. */
  readonly limit: number
  readonly queued: number
  readonly waited: number
  constructor(kind: 'timeout' | 'full', key: string, limit: number, queued: number, waited: number) {
    super(`${kind === 'timeout' ? 'queue timeout' : 'queue full'} for ${key}`)
    this.kind = kind
    this.key = key
    this.limit = limit
    this.queued = queued
    this.waited = waited
  }
}

/** A held slot. `release()` is idempotent: only the first call gives the slot back. */
export class Lease {
  readonly key: string
  /** Ms spent queued before the slot was acquired (0 on the fast path). */
  readonly waited: number
  #owner: KeyState | undefined
  #limiter: Limiter

  constructor(limiter: Limiter, owner: KeyState, waited: number) {
    this.#limiter = limiter
    this.#owner = owner
    this.key = owner.key
    this.waited = waited
  }

  get released(): boolean {
    return this.#owner === undefined
  }

  release(): void {
    const owner = this.#owner
    if (owner === undefined) return
    this.#owner = undefined
    this.#limiter._release(owner)
  }
}

interface Waiter {
  readonly state: KeyState
  readonly priority: number
  readonly enqueuedAt: number
  /** Set once the waiter is granted, aborted or timed out; a done waiter left in a bucket is skipped. */
  done: boolean
  resolve: (lease: Lease) => void
  reject: (reason: unknown) => void
  timer: ReturnType<typeof setTimeout> | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/**
 * FIFO of waiters of one priority. Dequeued and cancelled waiters are left before `head` (or marked
 * done) until compaction, which keeps dequeue amortized O(1) without shifting the array each time.
 */
interface Bucket {
  readonly priority: number
  items: Waiter[]
  head: number
}

class KeyState {
  readonly key: string
  limit: number
  acquired = 0
  /** Waiters queued and not done (aborted and timed-out waiters are subtracted at once). */
  queued = 0
  /** Sorted by priority, highest first. Usually one or two buckets. */
  buckets: Bucket[] = []
  /** Whether the key is in the limiter's round-robin ring. */
  inRing = false

  constructor(key: string, limit: number) {
    this.key = key
    this.limit = limit
  }

  push(waiter: Waiter): void {
    const { buckets } = this
    let index = 0
    while (index < buckets.length && buckets[index]!.priority > waiter.priority) index++
    let bucket = buckets[index]
    if (bucket === undefined || bucket.priority !== waiter.priority) {
      bucket = { priority: waiter.priority, items: [], head: 0 }
      buckets.splice(index, 0, bucket)
    }
    bucket.items.push(waiter)
    this.queued++
  }

  /** The next live waiter, removed from its bucket; undefined when none is queued. */
  shift(): Waiter | undefined {
    const { buckets } = this
    while (buckets.length > 0) {
      const bucket = buckets[0]!
      while (bucket.head < bucket.items.length) {
        const waiter = bucket.items[bucket.head]!
        bucket.items[bucket.head] = undefined as unknown as Waiter // let the waiter be collected
        bucket.head++
        if (bucket.head > 1024 && bucket.head * 2 > bucket.items.length) {
          bucket.items = bucket.items.slice(bucket.head)
          bucket.head = 0
        }
        if (!waiter.done) {
          this.queued--
          return waiter
        }
      }
      buckets.shift()
    }
    return undefined
  }

  get hasRoom(): boolean {
    return this.acquired < this.limit
  }
}

export interface KeyStats {
  acquired: number
  queued: number
  limit: number
}

export class Limiter {
  readonly #options: LimiterOptions
  readonly #keys = new Map<string, KeyState>()
  #acquired = 0
  #queued = 0
  /**
   * Keys with queued waiters and room under their own limit, waiting only for the total cap.
   * Invariant after every public call: the ring is empty or `#acquired === total`.
   */
  #ring: KeyState[] = []
  #ringHead = 0
  readonly #now: () => number

  constructor(options: LimiterOptions) {
    this.#options = options
    this.#now = options.now ?? (() => performance.now())
  }

  get acquired(): number {
    return this.#acquired
  }

  get queued(): number {
    return this.#queued
  }

  get total(): number {
    return this.#options.total
  }

  /** A slot for `key` without queueing, or undefined when the caller would have to wait. */
  tryAcquire(key: string): Lease | undefined {
    const state = this.#state(key)
    if (state.queued > 0 || !state.hasRoom || this.#acquired >= this.#options.total) return undefined
    return this.#grant(state, 0)
  }

  /** A slot for `key`: at once when there is room, else after queueing (see the class comment). */
  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const lease = this.tryAcquire(key)
    if (lease !== undefined) return Promise.resolve(lease)
    const { signal } = options
    if (signal?.aborted) return Promise.reject(signal.reason)
    const state = this.#state(key)
    if (state.queued >= this.#options.maxQueue) {
      this.#forget(state)
      return Promise.reject(new LimiterRejection('full', key, this.#blockingLimit(state), state.queued, 0))
    }
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        state,
        priority: options.priority ?? 0,
        enqueuedAt: this.#now(),
        done: false,
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
      }
      if (signal !== undefined) {
        waiter.onAbort = () => this.#cancel(waiter, signal.reason)
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      const { timeout } = options
      if (timeout !== undefined && Number.isFinite(timeout)) {
        waiter.timer = setTimeout(() => {
          const waited = this.#now() - waiter.enqueuedAt
          const limit = this.#blockingLimit(state)
          this.#cancel(waiter, new LimiterRejection('timeout', key, limit, state.queued - 1, waited))
        }, timeout)
      }
      state.push(waiter)
      this.#queued++
      const blockedBy = state.hasRoom ? 'total' : 'key'
      if (blockedBy === 'total') this.#enterRing(state)
      this.#options.onPressure?.(key, blockedBy)
    })
  }

  /** Per-key numbers for `stats()`; keys with nothing acquired or queued are not kept. */
  keyStats(key: string): KeyStats | undefined {
    const state = this.#keys.get(key)
    return state && { acquired: state.acquired, queued: state.queued, limit: state.limit }
  }

  *keys(): IterableIterator<string> {
    yield* this.#keys.keys()
  }

  /** Re-reads `limitOf(key)`; a raised limit lets queued waiters in at once, a lowered one takes effect as slots free. */
  refreshLimit(key: string): void {
    const state = this.#keys.get(key)
    if (state === undefined) return
    state.limit = this.#options.limitOf(key)
    if (state.queued > 0 && state.hasRoom) this.#enterRing(state)
    this.#promote()
  }

  /** @internal Called by `Lease.release()` only. */
  _release(state: KeyState): void {
    state.acquired--
    this.#acquired--
    if (state.queued > 0 && state.hasRoom) this.#enterRing(state)
    this.#promote()
    this.#forget(state)
  }

  /** Which limit a waiter on `state` is queued behind: the key's own, or the total when the key has room. */
  #blockingLimit(state: KeyState): number {
    return state.hasRoom ? this.#options.total : state.limit
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key)
    if (state === undefined) {
      state = new KeyState(key, this.#options.limitOf(key))
      this.#keys.set(key, state)
    }
    return state
  }

  /** Drops an idle key so that a client talking to many origins over time does not grow without bound. */
  #forget(state: KeyState): void {
    if (state.acquired === 0 && state.queued === 0 && !state.inRing) this.#keys.delete(state.key)
  }

  #grant(state: KeyState, waited: number): Lease {
    state.acquired++
    this.#acquired++
    return new Lease(this, state, waited)
  }

  #enterRing(state: KeyState): void {
    if (state.inRing) return
    state.inRing = true
    this.#ring.push(state)
  }

  /** O(keys in the ring); only called when a key's last waiter leaves without a slot. */
  #leaveRing(state: KeyState): void {
    if (!state.inRing) return
    state.inRing = false
    const index = this.#ring.indexOf(state, this.#ringHead)
    if (index !== -1) this.#ring.splice(index, 1)
  }

  /** The only place where queued waiters acquire slots. */
  #promote(): void {
    const total = this.#options.total
    while (this.#acquired < total && this.#ringHead < this.#ring.length) {
      const state = this.#ring[this.#ringHead]!
      this.#ring[this.#ringHead] = undefined as unknown as KeyState
      this.#ringHead++
      state.inRing = false
      const waiter = state.hasRoom ? state.shift() : undefined
      if (waiter !== undefined) {
        this.#queued--
        this.#settleWaiter(waiter)
        waiter.resolve(this.#grant(state, this.#now() - waiter.enqueuedAt))
        if (state.queued > 0 && state.hasRoom) this.#enterRing(state)
      }
      this.#forget(state)
    }
    if (this.#ringHead === this.#ring.length) {
      this.#ring = []
      this.#ringHead = 0
    } else if (this.#ringHead > 1024 && this.#ringHead * 2 > this.#ring.length) {
      this.#ring = this.#ring.slice(this.#ringHead)
      this.#ringHead = 0
    }
  }

  #cancel(waiter: Waiter, reason: unknown): void {
    if (waiter.done) return
    waiter.state.queued--
    this.#queued--
    this.#settleWaiter(waiter)
    // Cancelled waiters stay in their bucket until shifted; with none live left, drop them all at once,
    // and take the key out of the ring so that it is forgotten now rather than at the next promotion.
    if (waiter.state.queued === 0) {
      waiter.state.buckets = []
      this.#leaveRing(waiter.state)
    }
    this.#forget(waiter.state)
    waiter.reject(reason)
  }

  #settleWaiter(waiter: Waiter): void {
    waiter.done = true
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener('abort', waiter.onAbort)
    waiter.timer = undefined
    waiter.onAbort = undefined
    waiter.signal = undefined
  }
}
