/**
 * Reclaiming forgotten bodies: the one place that decides when the pool reads an untouched body into
 * memory (drains it) or cancels it, so that what it holds — a slot, a connection, room in an HTTP/2
 * flow-control window — goes to a request that needs it.
 *
 * - **Before a send** (`beforeSend`), on origins where an unread body holds a connection of its own
 *   (HTTP/1.1, unknown): untouched bodies that fit in `drainLimit` are drained, and the request waits
 *   for them at most two round trips (twice the origin's fastest time to headers), since a new TCP +
 *   TLS 1.3 connection costs about that; never longer than `reclaimAfter`. A free slot is not a free
 *   connection: this is what lets sloppy sequential code reuse one connection.
 * - **Under pressure** (`reclaimUnderPressure`): a request queued for a slot, the runtime's own connections to an
 *   origin all busy (`Slots.busyAt`), or an h2 window filling up (`Slots.windowBytes`). Untouched
 *   bodies on that origin are drained at once if they fit (a drained body stays readable, so there is
 *   nothing to wait for), and larger ones cancelled once unread for `reclaimAfter`, oldest first, as
 *   many as are needed.
 *
 * Every drain has a deadline (`reclaimAfter` from its start): a body that trickles (an SSE heartbeat, a
 * long poll) is then cancelled if something needed it, and never keeps a send or `settle()` waiting.
 */

import { type Cold, coldNow, loadCold } from '../lazy.ts'
import type { ReclaimAction, ReclaimCause } from '../lifecycle.ts'
import type { Limiter } from '../limiter.ts'
import type { ResolvedPoolOptions } from '../options.ts'
import type { Events } from './events.ts'
import type { HeldFlight } from './flight.ts'
import type { HeldFlights } from './held.ts'
import type { Slots } from './slots.ts'

export interface ReclaimerParts {
  options: ResolvedPoolOptions
  held: HeldFlights
  limiter: Limiter
  slots: Slots
  events: Events
  /** Told of each body the pool reclaimed before its caller touched it (a leak, if it stays untouched). */
  reclaimedUntouched: (flight: HeldFlight) => void
  /** Requests to `origin` waiting for a shared limit's permit (`pool.shared`), after their local slot. */
  waitingAtStore: (origin: string) => number
}

/** What waits for an origin's untouched bodies (see `Reclaimer.#need`). */
interface Need {
  slots: number
  window: number
}

export class Reclaimer {
  readonly #parts: ReclaimerParts
  #timer: ReturnType<typeof setTimeout> | undefined
  #due = Infinity
  /** The fastest time to headers seen per origin, in ms: a bound on one round trip. */
  readonly #roundTrip = new Map<string, number>()

  constructor(parts: ReclaimerParts) {
    this.#parts = parts
  }

  /** Headers of a request to `origin` arrived `ms` after it was sent. */
  noteHeaders(origin: string, ms: number): void {
    const known = this.#roundTrip.get(origin)
    if (known !== undefined && known <= ms) return
    if (known === undefined && this.#roundTrip.size >= 1024) this.#roundTrip.clear()
    this.#roundTrip.set(origin, ms)
  }

  /**
   * Drains the untouched bodies on `origin` that fit, before a request to it is sent (see the module
   * comment). Undefined, at once, when there is none: the common case, which costs no promise.
   */
  beforeSend(origin: string): Promise<void> | undefined {
    const onOrigin = this.#parts.held.on(origin)
    if (onOrigin === undefined || !this.#parts.slots.reclaimBeforeSend(origin)) return undefined
    const { drainLimit, reclaimAfter } = this.#parts.options
    let drains: Promise<unknown>[] | undefined
    for (const flight of onOrigin) {
      if (!flight.body.canDrain(drainLimit)) continue
      drains ??= []
      drains.push(this.reclaim(flight, 'before-send'))
    }
    if (drains === undefined) return undefined
    const wait = Math.min(reclaimAfter, 2 * (this.#roundTrip.get(origin) ?? reclaimAfter))
    let timer: ReturnType<typeof setTimeout> | undefined
    return Promise.race([
      Promise.all(drains),
      new Promise((resolve) => (timer = setTimeout(resolve, wait))),
    ]).then(() => clearTimeout(timer))
  }

  /**
   * A request to `origin` has just acquired its slot: if the runtime's own connections are all busy, or
   * the origin's unread bytes fill its flow-control window, reclaim its bodies (one macrotask from now, so that
   * a caller who reads at once has touched its body by then).
   */
  afterAcquire(origin: string): void {
    const slots = this.#parts.slots
    const busyAt = slots.busyAt(origin)
    const windowBytes = slots.windowBytes(origin)
    if (busyAt === Infinity && windowBytes === Infinity) return
    if (this.#parts.held.on(origin) === undefined) return
    const need = this.#need(origin)
    if (need.slots > 0 || need.window > 0) this.schedule(performance.now())
  }

  /** Reclaims untouched bodies on origins under pressure; re-runs itself when the next one is due. */
  reclaimUnderPressure(): void {
    const { limiter, held, options } = this.#parts
    const now = performance.now()
    let totalNeed = limiter.acquired >= limiter.total ? limiter.queued : 0
    let needs: Map<string, Need> | undefined // made at the first untouched body: with clean code, never
    let due = Infinity
    for (const flight of held) {
      const body = flight.body
      if (body.touched || body.settled) continue
      needs ??= new Map()
      let need = needs.get(flight.origin)
      if (need === undefined) {
        need = this.#need(flight.origin)
        needs.set(flight.origin, need)
      }
      const unreadFor = now - flight.headersAt
      if (need.slots > 0 || totalNeed > 0) {
        // A request waits for a slot or a connection: a body that fits is drained at once (it stays
        // readable), a larger one cancelled once unread for reclaimAfter.
        if (!body.canDrain(options.drainLimit) && unreadFor < options.reclaimAfter) {
          due = Math.min(due, flight.headersAt + options.reclaimAfter)
          continue
        }
        void this.reclaim(flight, 'pressure')
        need.slots--
        totalNeed--
      } else if (need.window > 0) {
        // Unread bytes fill an h2 connection's window: draining would spend the very window it is meant to
        // free, a read at a time (Deno: 256 KiB bodies drained this way made a run 2.8x slower than
        // reading them), while a cancel is one RST_STREAM. So cancel, once unread for reclaimAfter.
        if (unreadFor < options.reclaimAfter) {
          due = Math.min(due, flight.headersAt + options.reclaimAfter)
          continue
        }
        void this.#cancelUnread(flight, 'pressure')
        need.window--
      }
    }
    // Only brings the next run forward: a run already scheduled stays (cancelling and setting it again
    // at each response cost a timer per request whenever requests queue).
    if (Number.isFinite(due)) this.schedule(due)
  }

  /**
   * How many untouched bodies on `origin` something waits for: `slots`, for requests queued in ky-pool
   * and requests waiting inside the runtime for a connection; `window`, for bodies past the origin's
   * flow-control budget.
   */
  #need(origin: string): Need {
    const { limiter, slots, held, options } = this.#parts
    // A paused origin's waiters wait for time, not for a slot: freeing one would cost a body for nothing.
    // Requests that only wait out a pause (a limit of 0) need no body reclaimed; those at the store do.
    const queued = slots.limit(origin) === 0 ? 0 : limiter.queuedOn(origin)
    const need: Need = { slots: queued + this.#parts.waitingAtStore(origin), window: 0 }
    const busyAt = slots.busyAt(origin)
    if (busyAt !== Infinity) need.slots += Math.max(0, limiter.acquiredOn(origin) - busyAt)
    const windowBytes = slots.windowBytes(origin)
    if (windowBytes !== Infinity) {
      let unread = 0
      for (const flight of held.on(origin) ?? []) {
        if (!flight.body.touched && !flight.body.settled)
          unread += flight.body.remaining ?? options.drainLimit
      }
      // Oldest first, as many as take the unread bytes back under the budget.
      for (const flight of held.on(origin) ?? []) {
        if (unread <= windowBytes) break
        if (flight.body.touched || flight.body.settled) continue
        unread -= flight.body.remaining ?? options.drainLimit
        need.window++
      }
    }
    return need
  }

  /** Runs `reclaimUnderPressure` at `due` (keeping an earlier run); `Infinity` cancels it. */
  schedule(due: number): void {
    if (Number.isFinite(due) && due >= this.#due && this.#timer !== undefined) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#due = due
    if (!Number.isFinite(due)) return
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#due = Infinity
        this.reclaimUnderPressure()
      },
      Math.max(0, due - performance.now()),
    )
  }

  /** Drains an untouched body, or, when it is too large or too slow and `cause` needs it gone, cancels it. */
  async reclaim(flight: HeldFlight, cause: ReclaimCause | 'before-send'): Promise<void> {
    const body = flight.body
    if (body.touched || body.settled) return
    const { drainLimit, reclaimAfter } = this.#parts.options
    const held = () => performance.now() - flight.headersAt
    const result = await body.drain(drainLimit, performance.now() + reclaimAfter)
    if (result === 'settled') {
      this.#reclaimed(flight, 'drained', cause, held())
      return
    }
    if (cause === 'before-send' || body.touched || body.settled) return
    if (cause === 'pressure' && held() < reclaimAfter) {
      this.schedule(flight.headersAt + reclaimAfter)
      return
    }
    await this.#cancelUnread(flight, cause)
  }

  /** Cancels a body still untouched (see `cancel`) and says it was reclaimed. */
  async #cancelUnread(flight: HeldFlight, cause: ReclaimCause): Promise<void> {
    const cold = coldNow() ?? (await loadCold()) // the error's words (see src/lazy.ts)
    if (flight.body.touched || flight.body.settled) return
    this.cancel(flight, cause, cold)
    this.#reclaimed(flight, 'cancelled', cause, performance.now() - flight.headersAt)
  }

  /** Cancels a body its caller has not read: its later reads fail with a `BodyReclaimedError` naming `cause`. */
  cancel(flight: HeldFlight, cause: ReclaimCause, cold: Cold): void {
    const held = performance.now() - flight.headersAt
    const limit = this.#parts.limiter.keyStats(flight.origin)?.limit ?? this.#parts.slots.limit(flight.origin)
    flight.body.fail(new cold.BodyReclaimedError(flight, cause, held, limit, this.#parts.options.drainLimit))
    this.#parts.events.totals.cancelled++
    this.#parts.events.totals.reclaimed++
  }

  #reclaimed(
    flight: HeldFlight,
    action: ReclaimAction,
    cause: ReclaimCause | 'before-send',
    held: number,
  ): void {
    const events = this.#parts.events
    flight.reclaimed = action
    if (action === 'drained') {
      events.totals.reclaimed++
      events.totals.drained++
    }
    if (!flight.body.touched) this.#parts.reclaimedUntouched(flight)
    events.tracer?.reclaimed(flight, action, cause, held)
  }
}
