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
  /**
   * A timer per waiter with a timeout, instead of one per limiter. Default false. The pool sets it in
   * workerd, where an invocation whose waiter has no timer of its own is cancelled as hung by the
   * runtime when a pool is shared between invocations (the fallback when they cannot be told apart;
   * see src/runtime.ts).
   */
  timerPerWaiter?: boolean
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
  #owner: KeyState | undefined
  #limiter: Limiter

  constructor(limiter: Limiter, owner: KeyState) {
    this.#limiter = limiter
    this.#owner = owner
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

/** One queued acquire. A class, so that every waiter has the same few fields (see the memory bench). */
class Waiter {
  readonly state: KeyState
  readonly priority: number
  readonly enqueuedAt: number
  /** Ms it may stay queued, or undefined. The deadline is `enqueuedAt + timeout` (computed, not stored: a
   * stored fractional number costs V8 a heap box per waiter). */
  readonly timeout: number | undefined
  /** Enqueue order: breaks ties between equal deadlines. */
  readonly seq: number
  /** Position in the limiter's deadline heap; -1 when not in it (no timeout, or settled). */
  heapIndex = -1
  /** Neighbours in the bucket's list; both undefined once the waiter left its bucket. */
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
  signal: AbortSignal | undefined
  /**
   * Settles the waiter's promise: with a Lease, or with a rejected promise (which it adopts). Only
   * `resolve` is kept, not `reject` too: each resolving function is some 60 B of heap per waiter (see
   * the memory bench). Undefined once the waiter is granted, aborted or timed out.
   */
  resolve: ((value: Lease | Promise<never>) => void) | undefined

  constructor(
    state: KeyState,
    priority: number,
    enqueuedAt: number,
    timeout: number | undefined,
    seq: number,
    signal: AbortSignal | undefined,
    resolve: (value: Lease | Promise<never>) => void,
  ) {
    this.state = state
    this.priority = priority
    this.enqueuedAt = enqueuedAt
    this.timeout = timeout
    this.seq = seq
    this.signal = signal
    this.resolve = resolve
  }
}

/**
 * Waiters of one priority, a doubly linked list through `Waiter.prev/next`: push, shift and removing an
 * aborted or timed-out waiter are O(1), and a waiter that left is referenced by nothing here. (An array
 * with a moving head kept dequeued and cancelled slots until 1,024 had passed: 2.7 MB more heap with
 * 1,000 busy keys in the benchmark's steady state.)
 */
interface Bucket {
  readonly priority: number
  head: Waiter | undefined
  tail: Waiter | undefined
}

class KeyState {
  readonly key: string
  limit: number
  acquired = 0
  /** Waiters queued (aborted and timed-out waiters leave their bucket and this count at once). */
  queued = 0
  /** Non-empty buckets, sorted by priority, highest first. Usually one or two. */
  buckets: Bucket[] = []
  /** Whether the key is in the limiter's round-robin ring. */
  inRing = false
  /** Idle (nothing acquired or queued, not in the ring) and kept in `#keys` for reuse; see `#forget`. */
  parked = false

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
      bucket = { priority: waiter.priority, head: waiter, tail: waiter }
      buckets.splice(index, 0, bucket)
    } else {
      waiter.prev = bucket.tail
      bucket.tail!.next = waiter
      bucket.tail = waiter
    }
    this.queued++
  }

  /** The next waiter, removed from its bucket; undefined when none is queued. */
  shift(): Waiter | undefined {
    const waiter = this.buckets[0]?.head
    if (waiter !== undefined) this.remove(waiter)
    return waiter
  }

  /** Takes a queued waiter out of its bucket (and an emptied bucket out of `buckets`). */
  remove(waiter: Waiter): void {
    const { buckets } = this
    let index = 0
    while (buckets[index]!.priority !== waiter.priority) index++
    const bucket = buckets[index]!
    if (waiter.prev === undefined) bucket.head = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) bucket.tail = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = undefined
    waiter.next = undefined
    if (bucket.head === undefined) buckets.splice(index, 1)
    this.queued--
  }

  get hasRoom(): boolean {
    return this.acquired < this.limit
  }
}

/** Whether `a` times out before `b` (both have a timeout): earlier deadline, then earlier enqueue. */
function expiresBefore(a: Waiter, b: Waiter): boolean {
  const da = a.enqueuedAt + a.timeout!
  const db = b.enqueuedAt + b.timeout!
  return da < db || (da === db && a.seq < b.seq)
}

/** Node (and browsers) treat a delay above 2^31 − 1 ms as 1 ms; a longer wait re-arms when this fires. */
const MAX_DELAY = 2 ** 31 - 1

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
  #seq = 0
  /** Parked keys in `#keys` (see `#forget`). */
  #parked = 0
  /**
   * Keys with queued waiters and room under their own limit, waiting only for the total cap.
   * Invariant after every public call: the ring is empty or `#acquired === total`.
   */
  #ring: KeyState[] = []
  #ringHead = 0
  /**
   * Queued waiters that have a timeout, as a binary min-heap by deadline (`expiresBefore`); each waiter
   * knows its index, so a granted or aborted one leaves in O(log n) at once and nothing settled stays
   * referenced until its deadline.
   */
  #deadlines: Waiter[] = []
  /**
   * One timer for all waiters, armed for a deadline no later than the heap's earliest; cleared as soon
   * as the heap is empty. When the earliest waiter leaves early the timer is left as it is: it fires,
   * finds nothing due and re-arms for the new earliest (cheaper than re-arming on every grant).
   */
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Number.POSITIVE_INFINITY
  /**
   * Waiters by their AbortSignal, for one shared abort listener per limiter. A closure per waiter cost
   * ~96 B; `addEventListener` itself (~300 B in Node 24 on a signal with no listener yet) is not ours to
   * save. A Set only when several waiters share a signal (the listener is added once per signal).
   */
  readonly #bySignal = new WeakMap<AbortSignal, Waiter | Set<Waiter>>()
  /** With `timerPerWaiter`: each timed waiter's own timer (such waiters are not in the heap). */
  readonly #ownTimers: Map<Waiter, ReturnType<typeof setTimeout>> | undefined
  readonly #now: () => number

  constructor(options: LimiterOptions) {
    this.#options = { ...options }
    this.#now = options.now ?? (() => performance.now())
    if (options.timerPerWaiter === true) this.#ownTimers = new Map()
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
    if (state.queued > 0 || !state.hasRoom || this.#acquired >= this.#options.total) {
      this.#forget(state) // a key first seen here, with no room under the total, is not left listed
      return undefined
    }
    return this.#grant(state)
  }

  /** A slot for `key`: at once when there is room, else after queueing (see the class comment). */
  acquire(key: string, options: AcquireOptions = {}): Promise<Lease> {
    const lease = this.tryAcquire(key)
    if (lease !== undefined) return Promise.resolve(lease)
    const { signal, timeout } = options
    if (signal?.aborted) return Promise.reject(signal.reason)
    const state = this.#state(key)
    if (state.queued >= this.#options.maxQueue) {
      this.#forget(state)
      return Promise.reject(new LimiterRejection('full', key, this.#blockingLimit(state), state.queued, 0))
    }
    return new Promise<Lease>((resolve) => {
      const waiter = new Waiter(
        state,
        options.priority ?? 0,
        this.#now(),
        timeout !== undefined && Number.isFinite(timeout) ? timeout : undefined,
        this.#seq++,
        signal,
        resolve,
      )
      if (signal !== undefined) this.#watchSignal(signal, waiter)
      if (waiter.timeout !== undefined) this.#addDeadline(waiter)
      state.push(waiter)
      this.#queued++
      const blockedBy = state.hasRoom ? 'total' : 'key'
      if (blockedBy === 'total') this.#enterRing(state)
      this.#options.onPressure?.(key, blockedBy)
    })
  }

  /** Per-key numbers for `stats()`; undefined for a key with nothing acquired or queued. */
  keyStats(key: string): KeyStats | undefined {
    const state = this.#keys.get(key)
    if (state === undefined || state.parked) return undefined
    return { acquired: state.acquired, queued: state.queued, limit: state.limit }
  }

  /** Slots acquired for `key` (no object made: the pool asks on every request in some runtimes). */
  acquiredOn(key: string): number {
    const state = this.#keys.get(key)
    return state === undefined || state.parked ? 0 : state.acquired
  }

  /** Waiters queued for `key`. */
  queuedOn(key: string): number {
    const state = this.#keys.get(key)
    return state === undefined || state.parked ? 0 : state.queued
  }

  /** Keys with something acquired or queued. */
  *keys(): IterableIterator<string> {
    for (const state of this.#keys.values()) if (!state.parked) yield state.key
  }

  /** Changes the total cap: a raised one lets queued waiters in at once, a lowered one takes effect as slots free. */
  setTotal(total: number): void {
    this.#options.total = total
    this.#promote()
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
    } else if (state.parked) {
      state.parked = false
      this.#parked--
    }
    return state
  }

  /**
   * Parks a key that went idle. Deleting it at once made every uncontended acquire on an idle key pay a
   * Map delete, a Map set and a new KeyState (~90 of ~160 ns). Parked keys are dropped all at once when
   * there are more than 1,024 of them and they are over half the map (amortized O(1) per key), so a
   * client talking to many origins over time does not grow without bound. A parked key's limit is not
   * read again when it is used again (`refreshLimit` still applies to it).
   */
  #forget(state: KeyState): void {
    if (state.parked || state.acquired !== 0 || state.queued !== 0 || state.inRing) return
    state.parked = true
    if (++this.#parked > 1024 && this.#parked * 2 > this.#keys.size) {
      for (const [key, idle] of this.#keys) if (idle.parked) this.#keys.delete(key)
      this.#parked = 0
    }
  }

  #grant(state: KeyState): Lease {
    state.acquired++
    this.#acquired++
    return new Lease(this, state)
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
        this.#settleWaiter(waiter)(this.#grant(state))
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

  /** Takes a queued waiter out without a slot and rejects it with `reason`; a settled waiter is left alone. */
  #cancel(waiter: Waiter, reason: unknown): void {
    if (waiter.resolve === undefined) return
    const { state } = waiter
    state.remove(waiter)
    this.#queued--
    const settle = this.#settleWaiter(waiter)
    // Take a key with no waiter left out of the ring, so that it is forgotten now rather than at the next promotion.
    if (state.queued === 0) this.#leaveRing(state)
    this.#forget(state)
    settle(Promise.reject(reason))
  }

  /** Marks a waiter that left its bucket as done, and drops what referenced it: its deadline and its signal. Returns its `resolve`. */
  #settleWaiter(waiter: Waiter): (value: Lease | Promise<never>) => void {
    const resolve = waiter.resolve!
    waiter.resolve = undefined
    if (waiter.heapIndex !== -1) this.#removeDeadline(waiter)
    else if (this.#ownTimers !== undefined && waiter.timeout !== undefined) {
      clearTimeout(this.#ownTimers.get(waiter))
      this.#ownTimers.delete(waiter)
    }
    if (waiter.signal !== undefined) this.#unwatchSignal(waiter.signal, waiter)
    waiter.signal = undefined
    return resolve
  }

  // --- abort: one listener per limiter and signal --------------------------------------------------

  readonly #onAbort = (event: Event): void => {
    const signal = event.currentTarget as AbortSignal
    const entry = this.#bySignal.get(signal)
    if (entry === undefined) return
    if (entry instanceof Set) {
      for (const waiter of entry) this.#cancel(waiter, signal.reason) // a Set may lose entries while iterated
    } else {
      this.#cancel(entry, signal.reason)
    }
  }

  #watchSignal(signal: AbortSignal, waiter: Waiter): void {
    const entry = this.#bySignal.get(signal)
    if (entry === undefined) {
      this.#bySignal.set(signal, waiter)
      signal.addEventListener('abort', this.#onAbort)
    } else if (entry instanceof Set) {
      entry.add(waiter)
    } else {
      this.#bySignal.set(signal, new Set([entry, waiter]))
    }
  }

  #unwatchSignal(signal: AbortSignal, waiter: Waiter): void {
    const entry = this.#bySignal.get(signal)
    if (entry instanceof Set) {
      entry.delete(waiter)
      if (entry.size > 0) return
    } else if (entry !== waiter) {
      return
    }
    this.#bySignal.delete(signal)
    signal.removeEventListener('abort', this.#onAbort)
  }

  // --- timeouts: one timer per limiter, for the earliest deadline ------------------------------------

  #addDeadline(waiter: Waiter): void {
    if (this.#ownTimers !== undefined) {
      this.#startOwnTimer(waiter)
      return
    }
    const heap = this.#deadlines
    waiter.heapIndex = heap.length
    heap.push(waiter)
    this.#siftUp(waiter.heapIndex)
    if (heap[0] === waiter) this.#arm()
  }

  /** Removes a waiter from the heap. The timer stays armed (early is fine) unless the heap is now empty. */
  #removeDeadline(waiter: Waiter): void {
    const heap = this.#deadlines
    const index = waiter.heapIndex
    waiter.heapIndex = -1
    const last = heap.pop()!
    if (index < heap.length) {
      heap[index] = last
      last.heapIndex = index
      this.#siftDown(index)
      this.#siftUp(last.heapIndex)
    }
    if (heap.length === 0) this.#disarm()
  }

  #startOwnTimer(waiter: Waiter): void {
    const delay = waiter.enqueuedAt + waiter.timeout! - this.#now()
    const timer = setTimeout(
      () => (delay > MAX_DELAY ? this.#startOwnTimer(waiter) : this.#timeOut(waiter, this.#now())),
      Math.min(MAX_DELAY, Math.max(0, delay)),
    )
    this.#ownTimers!.set(waiter, timer)
  }

  #siftUp(index: number): void {
    const heap = this.#deadlines
    const waiter = heap[index]!
    while (index > 0) {
      const parentIndex = (index - 1) >> 1
      const parent = heap[parentIndex]!
      if (!expiresBefore(waiter, parent)) break
      heap[index] = parent
      parent.heapIndex = index
      index = parentIndex
    }
    heap[index] = waiter
    waiter.heapIndex = index
  }

  #siftDown(index: number): void {
    const heap = this.#deadlines
    const waiter = heap[index]!
    const half = heap.length >> 1
    while (index < half) {
      let childIndex = 2 * index + 1
      const right = childIndex + 1
      if (right < heap.length && expiresBefore(heap[right]!, heap[childIndex]!)) childIndex = right
      const child = heap[childIndex]!
      if (!expiresBefore(child, waiter)) break
      heap[index] = child
      child.heapIndex = index
      index = childIndex
    }
    heap[index] = waiter
    waiter.heapIndex = index
  }

  /** Arms the timer for the earliest deadline, unless it is already armed for that one or an earlier one. */
  #arm(): void {
    const first = this.#deadlines[0]
    if (first === undefined) {
      this.#disarm()
      return
    }
    const at = first.enqueuedAt + first.timeout!
    if (this.#timer !== undefined && this.#timerAt <= at) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(this.#expire, Math.min(MAX_DELAY, Math.max(0, at - this.#now())))
  }

  #disarm(): void {
    if (this.#timer === undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  /** Rejects every waiter whose deadline has come, earliest first, then re-arms for the next one. */
  readonly #expire = (): void => {
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
    const heap = this.#deadlines
    const now = this.#now()
    for (let first = heap[0]; first !== undefined; first = heap[0]) {
      if (first.enqueuedAt + first.timeout! > now) break
      this.#timeOut(first, now)
    }
    this.#arm()
  }

  #timeOut(waiter: Waiter, now: number): void {
    const { state } = waiter
    const waited = now - waiter.enqueuedAt
    this.#cancel(
      waiter,
      new LimiterRejection('timeout', state.key, this.#blockingLimit(state), state.queued - 1, waited),
    )
  }
}
