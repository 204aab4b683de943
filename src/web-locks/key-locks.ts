/**
 * One key's shared limit on Web Locks: a limit of N is N exclusive lock names (`<prefix>:<key>#0` …
 * `#N-1`), and a permit is one of them held. The browser's lock manager does the rest: it grants each
 * name to one holder at a time, queues requests per name in FIFO order across every tab and worker of
 * the origin, wakes the next request when a name is released (no polling), and frees the names of a
 * page that is closed or crashes.
 *
 * Policy, in one place (`#pump`, the only code that asks the lock manager for names):
 * - idle (no local waiter): nothing requested, nothing queued at the lock manager;
 * - waiters probe as many names as there are of them with `ifAvailable`, all at once (one round trip
 *   when the limit is not reached; `ifAvailable` never jumps another tab's queued request);
 * - once a probe finds a name taken, this copy queues one request on every name it does not hold
 *   (waiting), until nobody here waits: the first name freed anywhere comes here unless another copy
 *   queued on it first, so the limit is never idle while someone waits, and copies are served in the
 *   order they queued, name by name;
 * - a granted name goes to the local waiter first in line at that moment (higher priority first, then
 *   FIFO): priority holds within this copy; across copies it is first come, first served;
 * - a name granted when nobody here waits any more (an abort in the same moment) is released at once;
 *   when the last waiter leaves, every queued request is aborted: nothing stays held or queued.
 */

/** The part of `LockManager` this module uses (a browser's `navigator.locks`, Node's too). */
export interface Locks {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<void> | void,
  ): Promise<unknown>
}

/** A waiter handed a name: it still has to draw its fencing token (see web-locks.ts). */
export interface Granted {
  index: number
  release(): void
}

interface Waiter {
  priority: number
  grant(granted: Granted): void
  fail(error: unknown): void
  /** Removes this waiter's abort listener. */
  detach(): void
}

export class KeyLocks {
  readonly #locks: Locks
  readonly #prefix: string
  #limit: number
  /** Waiters in the order they are served: priority descending, then arrival. */
  readonly #waiters: Waiter[] = []
  /** Names this copy holds: index → the function that ends the lock's callback (releases it). */
  readonly #held = new Map<number, () => void>()
  /** Names this copy has queued at the lock manager: index → the controller that withdraws it. */
  readonly #queued = new Map<number, AbortController>()
  /** Probes out (each one `ifAvailable` request). */
  #probing = 0
  /** A probe found a name taken since the last time nobody waited here: queue, do not probe. */
  #contended = false
  #pumpQueued = false
  /**
   * The name tried first by the next probe: the one after the last this copy released. Not that one
   * itself: the release travels to the lock manager apart from the next request (in Chromium, on another
   * IPC pipe), so a probe of the name just released can still find it held and fall to the waiting mode.
   */
  #hint = 0
  /** Every lock request's promise, so that close() can wait until the lock manager let go of them all. */
  readonly #requests = new Set<Promise<unknown>>()
  readonly #onFailure: (error: unknown) => void

  constructor(locks: Locks, prefix: string, limit: number, onFailure: (error: unknown) => void) {
    this.#locks = locks
    this.#prefix = prefix
    this.#limit = limit
    this.#onFailure = onFailure
  }

  /** Waits for one of the key's names; `signal` withdraws the waiter (and its requests, if it was the last). */
  wait(limit: number, priority: number, signal: AbortSignal | undefined): Promise<Granted> {
    this.#setLimit(limit)
    return new Promise<Granted>((resolve, reject) => {
      const onAbort = () => {
        this.#remove(waiter)
        reject(signal!.reason)
        this.#pump()
      }
      const waiter: Waiter = {
        priority,
        grant: resolve,
        fail: reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#enqueue(waiter)
      this.#pumpSoon()
    })
  }

  /** Rejects every waiter, withdraws every request, releases every held name; resolves once all are gone. */
  async close(error: unknown): Promise<void> {
    for (const waiter of this.#waiters.splice(0)) {
      waiter.detach()
      waiter.fail(error)
    }
    this.#withdrawAll()
    for (const release of this.#held.values()) release()
    this.#held.clear()
    await Promise.allSettled([...this.#requests])
  }

  /**
   * A limit changed between calls (or between tabs: each copy uses the limit it was given). Names at
   * or above the new limit are no longer asked for; held ones stay held until released.
   */
  #setLimit(limit: number): void {
    if (limit === this.#limit) return
    this.#limit = limit
    for (const index of [...this.#queued.keys()]) if (index >= limit) this.#withdraw(index)
    if (this.#hint >= limit) this.#hint = 0
  }

  #enqueue(waiter: Waiter): void {
    let at = this.#waiters.length
    while (at > 0 && this.#waiters[at - 1]!.priority < waiter.priority) at--
    this.#waiters.splice(at, 0, waiter)
  }

  #remove(waiter: Waiter): void {
    const at = this.#waiters.indexOf(waiter)
    if (at !== -1) this.#waiters.splice(at, 1)
  }

  /**
   * Pumps at the end of this turn, so that a burst of acquires made in one go (`Promise.all` of many
   * calls) is seen whole: one probe per waiter, all in one round trip, instead of a probe for the first
   * call and the rest only after it answered.
   */
  #pumpSoon(): void {
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    queueMicrotask(() => {
      this.#pumpQueued = false
      this.#pump()
    })
  }

  #pump(): void {
    if (this.#waiters.length === 0) {
      this.#contended = false
      this.#withdrawAll()
      return
    }
    if (this.#probing > 0) return
    if (this.#queued.size === 0 && !this.#contended) this.#probe()
    else this.#queueOnEveryName()
  }

  /**
   * One round trip: as many names as there are waiters (from the hint on, among those this copy does not
   * hold), each asked for with `ifAvailable`, all at once. When one is taken, the next pump queues on
   * every name; when all were granted and more waiters came meanwhile, it probes again.
   */
  #probe(): void {
    const names = this.#freeFrom(this.#hint, this.#waiters.length)
    // None: this copy holds every name, and its own releases will pump again.
    this.#probing = names.length
    for (const index of names) {
      this.#request(index, { ifAvailable: true }, (granted) => {
        if (!granted) this.#contended = true
        // Decided after this grant (if any) went to its waiter: `#onGranted` runs right after this.
        if (--this.#probing === 0) this.#pumpSoon()
      })
    }
  }

  /**
   * Withdraws the queued request for `index`. It leaves the map at once, so that a new waiter can queue
   * on the name again while the lock manager is still dropping the old request; if the old one was
   * granted in that same moment, its grant is handled like any other (`#onGranted`).
   */
  #withdraw(index: number): void {
    this.#queued.get(index)?.abort()
    this.#queued.delete(index)
  }

  #withdrawAll(): void {
    for (const index of [...this.#queued.keys()]) this.#withdraw(index)
  }

  #queueOnEveryName(): void {
    for (let index = 0; index < this.#limit; index++) {
      if (this.#held.has(index) || this.#queued.has(index)) continue
      const controller = new AbortController()
      this.#queued.set(index, controller)
      this.#request(index, { signal: controller.signal }, () => {
        if (this.#queued.get(index) === controller) this.#queued.delete(index)
      })
    }
  }

  /** Up to `count` indexes from `from` on (wrapping) that this copy neither holds nor has queued. */
  #freeFrom(from: number, count: number): number[] {
    const free: number[] = []
    for (let step = 0; step < this.#limit && free.length < count; step++) {
      const index = (from + step) % this.#limit
      if (!this.#held.has(index) && !this.#queued.has(index)) free.push(index)
    }
    return free
  }

  /**
   * Asks for name `index`. `settled(granted)` runs when the lock manager answers: with the lock held
   * (then this copy holds it until `#release`), or without it (`ifAvailable` found it taken).
   */
  #request(
    index: number,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    settled: (granted: boolean) => void,
  ): void {
    const request = this.#locks
      .request(`${this.#prefix}#${index}`, options, (lock) => {
        settled(lock !== null)
        if (lock === null) return
        return new Promise<void>((release) => this.#onGranted(index, release))
      })
      .then(undefined, (error: unknown) => {
        // A withdrawn request rejects with its signal's reason: that is the normal end of a queued one.
        // Anything else (SecurityError in an opaque origin, InvalidStateError in a detached document)
        // means the lock manager cannot serve this copy.
        if (!options.signal?.aborted) this.#onFailure(error)
        settled(false)
      })
      .finally(() => this.#requests.delete(request))
    this.#requests.add(request)
  }

  #onGranted(index: number, releaseLock: () => void): void {
    if (this.#waiters.length === 0 || index >= this.#limit) {
      releaseLock() // nobody here waits any more (an abort in the same moment), or the limit went down
      this.#pump()
      return
    }
    const waiter = this.#waiters.shift()!
    waiter.detach()
    this.#held.set(index, releaseLock)
    let released = false
    waiter.grant({
      index,
      release: () => {
        if (released) return
        released = true
        this.#release(index)
      },
    })
    this.#pump()
  }

  #release(index: number): void {
    const releaseLock = this.#held.get(index)
    if (releaseLock === undefined) return
    this.#held.delete(index)
    this.#hint = (index + 1) % this.#limit
    releaseLock()
    this.#pump()
  }

  /** Fails every waiter: the lock manager refused a request for another reason than our own abort. */
  failAll(error: unknown): void {
    for (const waiter of this.#waiters.splice(0)) {
      waiter.detach()
      waiter.fail(error)
    }
    this.#pump()
  }
}
