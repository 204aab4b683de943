/**
 * The held flights: every request whose body is tracked and not yet settled, oldest first, and by
 * origin. Bookkeeping only; the pool decides what holding means.
 */
import type { HeldFlight } from './flight.ts'

export class HeldFlights implements Iterable<HeldFlight> {
  /** Oldest first (a Set keeps insertion order). */
  readonly #all = new Set<HeldFlight>()
  readonly #byOrigin = new Map<string, Set<HeldFlight>>()
  /** Told when the first body is held, with a promise that resolves when none is held again (workerd's `waitUntil`). */
  readonly #keepAlive: ((untilIdle: Promise<void>) => void) | undefined
  #none: (() => void) | undefined

  constructor(keepAlive?: (untilIdle: Promise<void>) => void) {
    this.#keepAlive = keepAlive
  }

  get size(): number {
    return this.#all.size
  }

  [Symbol.iterator](): Iterator<HeldFlight> {
    return this.#all[Symbol.iterator]()
  }

  /** The flights held on `origin`, oldest first; undefined when there are none (the common case). */
  on(origin: string): ReadonlySet<HeldFlight> | undefined {
    const onOrigin = this.#byOrigin.get(origin)
    return onOrigin === undefined || onOrigin.size === 0 ? undefined : onOrigin
  }

  add(flight: HeldFlight): void {
    this.#all.add(flight)
    const onOrigin = this.#byOrigin.get(flight.origin)
    if (onOrigin !== undefined) onOrigin.add(flight)
    else {
      // An origin's Set stays when it empties (making and dropping one per request was most of the cost
      // of holding a body); empty ones go all at once when there are many origins.
      if (this.#byOrigin.size >= 1024)
        for (const [key, set] of this.#byOrigin) if (set.size === 0) this.#byOrigin.delete(key)
      this.#byOrigin.set(flight.origin, new Set<HeldFlight>().add(flight))
    }
    if (this.#all.size === 1 && this.#keepAlive !== undefined) {
      this.#keepAlive(new Promise<void>((resolve) => (this.#none = resolve)))
    }
  }

  delete(flight: HeldFlight): void {
    if (!this.#all.delete(flight)) return
    this.#byOrigin.get(flight.origin)?.delete(flight)
    if (this.#all.size === 0) {
      this.#none?.()
      this.#none = undefined
    }
  }
}
