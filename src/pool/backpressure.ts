/**
 * Origin backpressure: what each origin told us and the pace it accepts now. One place decides, per
 * origin, how many requests may be in flight beyond the configured limit, as a number the limiter reads
 * through `limitOf` (see slots.ts): 0 while the origin is paused or until its next paced send, then one
 * request, then more. The limiter stays HTTP-free and keeps doing the waiting, so priority, FIFO, the
 * caller's abort and `queueTimeout` hold while an origin is paused.
 *
 * - **Pause**: a 429/503 with `Retry-After`, or a rate-limit budget at 0, pauses the origin until then
 *   (capped by `maxPause`); so can the app (`pauseOrigin`) and, later, a shared limit store.
 * - **Gentle resume**: after a pause, one request first; each success doubles the cap up to the limit.
 *   bench/README.md measured why: resuming in a burst earned the next 429 (53 429s for 60 calls).
 * - **Pace**: once an origin has pushed back, sends are spaced `interval` ms apart. The rate starts from
 *   what the origin accepted in the last second and grows (×2 every 150 ms) until it pushes back again,
 *   then falls back to the last rate that drew nothing (or half the one that did), and grows 10% a
 *   second from there; each later pushback takes 15% off (additive-increase, multiplicative-decrease on the rate, as TCP does on its window).
 *   A `RateLimit-Policy` (`q` per `w`) gives the rate outright; remaining budget steers it (low: slower,
 *   high: faster) before the origin has to answer 429.
 * - **Adaptive limit** (opt-in): AIMD on the in-flight cap — halved on 429/503/timeouts, +1 per cap's worth
 *   of successes. Chosen over a gradient limit (Netflix's Gradient2, Vegas) because those read latency,
 *   and a client's latency to one origin mixes the server's queue with ky-pool's own; a 429 is explicit.
 *
 * Timers run only while a request waits on a paused or paced origin (`queued`/`idle`), so nothing is left
 * armed once a pool settles; a pause that ended with nobody waiting is noticed at the next request.
 * Everything here belongs to one pool, hence to one Workers invocation: no wake-up crosses invocations.
 */
import { PoolConfigError } from '../errors/config.ts'
import type { LimitReason, PauseCause } from '../lifecycle.ts'
import type { ResolvedBackpressure } from '../options.ts'
import { originOf } from '../origin.ts'
import { type PaceAdvice, readAdvice } from '../rate-headers.ts'
import type { OriginStats, PaceEvent } from '../trace.ts'
import type { Slots } from './slots.ts'

export type BackpressureOptions = ResolvedBackpressure

/** What the pool gives: the limiter's view, a way to make it re-read a limit, and where events go. */
export interface BackpressureHost {
  refresh(origin: string): void
  acquiredOn(origin: string): number
  queuedOn(origin: string): number
  /** Whether backpressure applies to `origin` at all (`pool.origins[…].backpressure: false` opts out). */
  enabled(origin: string): boolean
  emit(event: PaceEvent): void
  /**
   * Told of every pause not told by a shared limit store itself: the hook by which a store (issue 10,
   * src/limit-store.ts `pause`) will tell the other copies. A store's own pauses come in through
   * `pause(origin, until, 'store')` (its `onPause` listener); nothing is wired yet.
   */
  paused?(origin: string, until: number, cause: PauseCause): void
}

/** What `stats()` shows of an origin under backpressure. */
export interface PaceStats {
  paused: boolean
  /** When the pause ends (ms since the epoch), while paused. */
  pausedUntil?: number
  pauseCause?: PauseCause
  limitReason: LimitReason
  /** Ms between sends, when paced. */
  interval?: number
}

/** The rate grows this often while nothing pushes back (slow start: ×2; then 10% a second). */
const growEvery = 150
/** Pushbacks this soon after the rate fell are answers to requests sent before: the rate falls once. */
const settleAfter = 500
/** Below this interval (ms) pacing is dropped: over 1,000 requests a second go unpaced. */
const unpacedBelow = 1
/** Ms between two readings of a budget used to estimate its refill rate. */
const sampleEvery = 300
/** Successes remembered per origin, to measure the rate it accepted (one second's worth at most). */
const remembered = 64

class OriginPace {
  pausedUntil = 0
  cause: PauseCause = 'retry-after'
  /** Cap from a gentle resume (doubles per success), Infinity when none. */
  resumeCap = Infinity
  /** AIMD cap (fractional), Infinity when not adapting or grown back. */
  adaptiveCap = Infinity
  /** Set by the app; undefined when not. */
  appLimit: number | undefined
  /** Ms between sends; 0: unpaced. */
  interval = 0
  nextAt = 0
  /** Rate that last drew no pushback, and whether the rate is still doubling (slow start). */
  goodRate = 0
  slowStart = true
  grownAt = 0
  /** The most remaining budget seen, the last reading of it (time, remaining, successes by then), and the refill rate estimated from readings. */
  most = 0
  readAt = 0
  readRemaining = 0
  readOk = 0
  refill = 0
  okCount = 0
  /** When the origin last resumed, and the successes since. */
  resumedAt = 0
  acceptedSince = 0
  /** When the rate last fell. */
  fellAt = Number.NEGATIVE_INFINITY
  /** A policy's rate (`q` per `w`), requests per second: pacing never goes above it. */
  policyRate = Infinity
  /** Success times, a ring. */
  readonly okAt: number[] = []
  okNext = 0
  /** Requests and retries per second slot of the retry budget's window. */
  readonly sent: number[] = []
  readonly retried: number[] = []
  slotAt = 0
  timer: ReturnType<typeof setTimeout> | undefined
  timerAt = 0
  /** The limit last reported in a `limited` event. */
  shown: number | undefined
  /** The configured limit last seen (for the resume cap to know when it is done). */
  base = Infinity
}

export class Backpressure {
  readonly options: BackpressureOptions
  readonly #host: BackpressureHost
  readonly #origins = new Map<string, OriginPace>()
  readonly #now: () => number

  constructor(options: BackpressureOptions, host: BackpressureHost, now: () => number = Date.now) {
    this.options = options
    this.#host = host
    this.#now = now
  }

  /** The limit in force for `origin`, given its configured one (`base`). Pure: read by the limiter. */
  limit(origin: string, base: number): number {
    const state = this.#origins.get(origin)
    if (state === undefined) return base
    state.base = state.appLimit ?? base
    const now = this.#now()
    if (state.pausedUntil > now || state.nextAt > now) return 0
    let limit = Math.min(state.appLimit ?? base, state.resumeCap, Math.floor(state.adaptiveCap))
    if (state.interval > 0) limit = Math.min(limit, this.#host.acquiredOn(origin) + 1)
    return Math.max(0, limit)
  }

  /** Whether `origin` has any state here (the pool then calls `check` before acquiring). */
  has(origin: string): boolean {
    return this.#origins.has(origin)
  }

  /** Before an acquire: a pause or a gap between sends that ended unnoticed (nobody waited) ends now. */
  check(origin: string): void {
    const state = this.#origins.get(origin)
    if (state !== undefined && this.#tick(origin, state)) this.#host.refresh(origin)
  }

  /** A request to `origin` is about to be sent. */
  started(origin: string): void {
    const state = this.#origins.get(origin)
    if (state === undefined) return
    const now = this.#now()
    this.#count(state, now, false)
    if (state.interval === 0) return
    state.nextAt = now + state.interval
    this.#host.refresh(origin)
    if (this.#host.queuedOn(origin) > 0) this.#arm(origin, state)
  }

  /** A request queued on `origin`: a timer ends its pause or gap, if it has one. */
  queued(origin: string): void {
    const state = this.#origins.get(origin)
    if (state !== undefined) this.#arm(origin, state)
  }

  /** Clears every timer (the pool settled). */
  close(): void {
    for (const state of this.#origins.values()) this.#disarm(state)
  }

  /** A response from `origin` (the pool's hot path sends only 429s, 503s and budgets until an origin has state here). */
  response(origin: string, status: number, headers: Headers): void {
    // A 503 without Retry-After is an outage, not a pace: only the adaptive limit hears of it.
    const pushedBack = status === 429 || (status === 503 && headers.has('retry-after'))
    if (status === 503 && !pushedBack) {
      this.#outage(origin)
      return
    }
    if (pushedBack || headers.has('ratelimit') || headers.has('x-ratelimit-remaining')) {
      this.observe(origin, pushedBack, readAdvice(headers, this.#now()))
    } else if (this.#origins.has(origin)) {
      this.observe(origin, false, undefined)
    }
  }

  /**
   * A waiter on `origin` left without a slot: the timer goes when nobody waits any more. Returns the pause
   * it gave up in, if the origin is paused: when it ends and why.
   */
  left(origin: string): [number, PauseCause] | undefined {
    const state = this.#origins.get(origin)
    if (state === undefined) return undefined
    if (this.#host.queuedOn(origin) === 0) this.#disarm(state)
    return state.pausedUntil > this.#now() ? [state.pausedUntil, state.cause] : undefined
  }

  /** Adds what backpressure knows to `stats()`: a paused origin is listed even with nothing in flight. */
  addStats(origins: Record<string, OriginStats>, slots: Slots): void {
    for (const origin of this.#origins.keys()) {
      const shown = this.stats(origin)!
      const listed = origins[origin]
      if (listed !== undefined) Object.assign(listed, shown)
      else if (shown.paused) {
        const { protocol, source } = slots.protocols.get(origin)
        origins[origin] = { inFlight: 0, queued: 0, limit: 0, protocol, protocolSource: source, ...shown }
      }
    }
  }

  /**
   * A response from `origin`: `pushedBack` for a 429 (or a 503 with Retry-After), `advice` what its
   * headers said (undefined when they were not read).
   */
  observe(origin: string, pushedBack: boolean, advice: PaceAdvice | undefined): void {
    if (!this.#host.enabled(origin)) return
    const now = this.#now()
    if (advice?.malformed !== undefined) {
      this.#host.emit({ type: 'ignored', origin, header: advice.malformed })
    }
    const budget = this.options.rateLimitHeaders ? advice : undefined
    if (!pushedBack && budget?.remaining === undefined && !this.#origins.has(origin)) return
    const state = this.#state(origin)
    if (budget?.quota !== undefined && budget.window !== undefined) {
      state.policyRate = (budget.quota * 1000) / budget.window
      if (state.interval === 0) this.#setRate(origin, state, state.policyRate)
      state.slowStart = false
    }
    if (pushedBack) {
      this.#pushedBack(origin, state, now)
      const until = advice?.retryAt ?? (budget?.remaining === 0 ? budget.resetAt : undefined)
      if (until !== undefined)
        this.pause(origin, until, advice?.retryAt !== undefined ? 'retry-after' : 'rate-limit')
      if (this.options.adaptive) this.#shrink(origin, state)
      return
    }
    this.#succeeded(origin, state, now, budget?.remaining === undefined)
    if (budget?.remaining === undefined) return
    if (budget.remaining <= 0 && budget.resetAt !== undefined) {
      this.#pushedBack(origin, state, now)
      this.pause(origin, budget.resetAt, 'rate-limit')
      return
    }
    this.#steer(origin, state, budget.remaining, budget.quota, now)
  }

  #outage(origin: string): void {
    if (this.options.adaptive && this.#host.enabled(origin)) this.#shrink(origin, this.#state(origin))
  }

  /** A request to `origin` timed out (ky's timeout): the adaptive limit shrinks. */
  timedOut(origin: string): void {
    if (this.options.adaptive && this.#host.enabled(origin)) this.#shrink(origin, this.#state(origin))
  }

  /** Nothing new is sent to `origin` until `until` (ms since the epoch, cut to `maxPause`). */
  pause(origin: string, until: number, cause: PauseCause): void {
    const now = this.#now()
    const end = Math.min(until, now + this.options.maxPause)
    const state = this.#state(origin)
    if (end <= now || end <= state.pausedUntil) return
    state.pausedUntil = end
    state.cause = cause
    this.#host.emit({ type: 'paused', origin, until: end, cause })
    if (cause !== 'store') this.#host.paused?.(origin, end, cause)
    this.#host.refresh(origin)
    if (this.#host.queuedOn(origin) > 0) this.#arm(origin, state)
  }

  /** The app's steering (client.ts `PoolHandle`): any spelling of an origin, checked values. */
  steer(act: 'pause' | 'resume' | 'setLimit', given: string, value: number | undefined): void {
    const origin = originOf(given)
    if (act === 'resume') {
      this.resume(origin)
      return
    }
    if (act === 'pause') {
      if (Number.isNaN(value))
        throw new PoolConfigError('pauseOrigin(until)', value, 'a Date or ms since the epoch')
      this.pause(origin, value!, 'app')
      return
    }
    if (value !== undefined && !(value === Infinity || (Number.isInteger(value) && value >= 1))) {
      throw new PoolConfigError('setLimit(limit)', value, 'a whole number >= 1, Infinity, or undefined')
    }
    this.setLimit(origin, value)
  }

  /** Ends a pause of `origin` now (gently: one request first). */
  resume(origin: string): void {
    const state = this.#origins.get(origin)
    if (state === undefined || state.pausedUntil === 0) return
    state.pausedUntil = this.#now()
    this.check(origin)
  }

  /** The app's limit for `origin` (undefined: back to the configured one). */
  setLimit(origin: string, limit: number | undefined): void {
    const state = this.#state(origin)
    state.appLimit = limit
    this.#show(origin, state)
    this.#host.refresh(origin)
  }

  stats(origin: string): PaceStats | undefined {
    const state = this.#origins.get(origin)
    if (state === undefined) return undefined
    const paused = state.pausedUntil > this.#now()
    return {
      paused,
      ...(paused ? { pausedUntil: state.pausedUntil, pauseCause: state.cause } : {}),
      limitReason: this.#reason(state),
      ...(state.interval > 0 ? { interval: state.interval } : {}),
    }
  }

  /** Origins with state here (paused ones are listed in stats even with nothing in flight). */
  origins(): IterableIterator<string> {
    return this.#origins.keys()
  }

  /**
   * Whether a retry of a request to `url` fits its origin's budget; counts it when it does and `count`
   * is true. Asked without counting before ky's backoff (so that a call over budget fails at once, not
   * after the delay), and with counting when the retry is about to be sent.
   */
  allowRetry(url: string, count = true): boolean {
    const origin = originOf(url)
    const budget = this.options.retryBudget
    if (budget === false || !this.#host.enabled(origin)) return true
    const state = this.#state(origin)
    const now = this.#now()
    this.#count(state, now, undefined)
    const sum = (slots: number[]) => slots.reduce((total, n) => total + (n ?? 0), 0)
    if (sum(state.retried) + 1 > Math.max(budget.min, budget.ratio * sum(state.sent))) return false
    if (count) this.#count(state, now, true)
    return true
  }

  // --- the pace ----------------------------------------------------------------------------------

  #state(origin: string): OriginPace {
    let state = this.#origins.get(origin)
    if (state === undefined) {
      // Bounded: a client that meets many origins over its life keeps the latest 1,024 (what the oldest
      // taught is lost; a pause of one is kept while it lasts, since it is dropped only when idle).
      if (this.#origins.size >= 1024) this.#forgetIdle()
      state = new OriginPace()
      this.#origins.set(origin, state)
    }
    return state
  }

  /** Drops idle origins (oldest first) down to 768: not paused, nothing waiting, no limit set by the app. */
  #forgetIdle(): void {
    const now = this.#now()
    for (const [origin, state] of this.#origins) {
      if (this.#origins.size < 768) return
      if (state.pausedUntil > now || state.timer !== undefined || state.appLimit !== undefined) continue
      this.#origins.delete(origin)
      this.#host.refresh(origin) // the limiter may hold a 0 from a gap between sends: back to the configured limit
    }
  }

  /**
   * The origin pushed back: the rate falls (see the module comment), once per `settleAfter`: the answers
   * to requests sent before the fall (a burst's worth, in flight together) say nothing new.
   */
  #pushedBack(origin: string, state: OriginPace, now: number): void {
    if (now - state.fellAt < settleAfter) return
    state.fellAt = now
    const current = state.interval > 0 ? 1000 / state.interval : 0
    let rate: number
    // What it took since it last resumed, over that time: a token bucket's rate plus its burst spread over
    // the time, so an overestimate that shrinks as the time grows.
    const since = now - state.resumedAt
    const took = state.resumedAt !== 0 && since >= 500 ? (state.acceptedSince * 1000) / since : Infinity
    // In slow start the rate ran past the origin's within the last second: what it accepted over that
    // second is its rate, plus at most its burst.
    const lastSecond = this.#acceptedRate(state, now)
    if (current === 0) rate = Math.max(4, lastSecond, this.#host.acquiredOn(origin))
    else if (state.slowStart) {
      rate = Math.max(1, Math.min(current / 2, lastSecond * 0.95))
      state.slowStart = false
    } else rate = Math.max(1, Math.min(current * 0.85, took * 0.9))
    state.goodRate = Math.min(state.goodRate, rate)
    state.grownAt = now
    this.#setRate(origin, state, rate)
  }

  /** A success: the resume cap doubles, the adaptive cap grows, the rate may grow. */
  /** `grows`: the rate may grow on time alone (no budget header steers it). */
  #succeeded(origin: string, state: OriginPace, now: number, grows: boolean): void {
    state.okAt[state.okNext] = now
    state.okNext = (state.okNext + 1) % remembered
    state.acceptedSince++
    state.okCount++
    let changed = false
    if (state.resumeCap !== Infinity) {
      state.resumeCap = state.resumeCap * 2 >= state.base ? Infinity : state.resumeCap * 2
      changed = true
    }
    if (state.adaptiveCap !== Infinity) {
      const before = Math.floor(state.adaptiveCap)
      state.adaptiveCap += 1 / state.adaptiveCap
      if (state.adaptiveCap >= state.base) state.adaptiveCap = Infinity
      changed ||= Math.floor(state.adaptiveCap) !== before
    }
    if (grows && state.interval > 0 && now - state.grownAt >= growEvery) this.#grow(origin, state, now)
    if (changed) {
      this.#show(origin, state)
      this.#host.refresh(origin)
    }
  }

  #grow(origin: string, state: OriginPace, now: number): void {
    const rate = 1000 / state.interval
    state.goodRate = Math.max(state.goodRate, rate)
    const factor = state.slowStart ? 2 : 1 + 0.1 * ((now - state.grownAt) / 1000)
    state.grownAt = now
    this.#setRate(origin, state, Math.min(rate * factor, state.policyRate * 1.25))
  }

  /**
   * Remaining budget steers the rate before the origin has to say 429. The budget refills at a rate
   * estimated from two readings at least `sampleEvery` apart: what it gained plus what we spent, over the
   * time (readings at its top say nothing: it may have overflowed). The pace is that rate plus the surplus
   * over half the budget, spent in a second: a full budget is used, an empty one refills.
   */
  #steer(origin: string, state: OriginPace, remaining: number, quota: number | undefined, now: number): void {
    // The budget's size: the most ever seen remaining (a policy's `q` is per window, not what is left at once).
    state.most = Math.max(state.most, remaining, state.policyRate === Infinity ? (quota ?? 0) : 0)
    const size = Math.max(1, state.most)
    const current = state.interval > 0 ? 1000 / state.interval : 0
    // At (or one under) its top the budget says only "more": the rate grows by half per reading.
    if (remaining >= size - 1) {
      this.#read(state, remaining, now)
      if (current === 0 || now - state.grownAt < sampleEvery) return
      state.grownAt = now
      this.#setRate(origin, state, Math.min(state.policyRate * 1.25, current * 1.5))
      return
    }
    if (state.readAt !== 0 && state.readRemaining < size - 1 && now - state.readAt >= sampleEvery) {
      const gained = remaining - state.readRemaining + (state.okCount - state.readOk)
      const sample = (Math.max(0, gained) * 1000) / (now - state.readAt)
      state.refill = state.refill === 0 ? sample : 0.6 * state.refill + 0.4 * sample
    }
    if (state.readAt === 0 || now - state.readAt >= sampleEvery || state.readRemaining >= size - 1) {
      this.#read(state, remaining, now)
    }
    const base =
      state.refill > 0 ? state.refill : state.policyRate !== Infinity ? state.policyRate : current || size
    const rate = Math.min(state.policyRate * 1.25, Math.max(0.5, base + remaining - size / 2))
    if (current === 0 && remaining > size / 2) return // not pressed yet: unpaced
    if (now - state.grownAt < Math.min(sampleEvery, state.interval || sampleEvery)) return
    state.slowStart = false
    state.grownAt = now
    this.#setRate(origin, state, rate)
  }

  #read(state: OriginPace, remaining: number, now: number): void {
    state.readAt = now
    state.readRemaining = remaining
    state.readOk = state.okCount
  }

  #setRate(origin: string, state: OriginPace, rate: number): void {
    const interval = rate === Infinity ? 0 : 1000 / rate
    state.interval = interval < unpacedBelow ? 0 : interval
    if (state.interval === 0) state.nextAt = 0
    this.#show(origin, state)
  }

  /** Successes per second over the last `window` ms. */
  #acceptedRate(state: OriginPace, now: number, window = 1000): number {
    let count = 0
    for (const at of state.okAt) if (at > now - window) count++
    return (count * 1000) / window
  }

  #shrink(origin: string, state: OriginPace): void {
    const current = Math.min(state.adaptiveCap, state.appLimit ?? state.base)
    const next = Math.max(
      1,
      Math.floor((current === Infinity ? this.#host.acquiredOn(origin) || 1 : current) / 2),
    )
    if (next === state.adaptiveCap) return
    state.adaptiveCap = next
    this.#show(origin, state)
    this.#host.refresh(origin)
  }

  // --- time: pauses and gaps end -----------------------------------------------------------------

  /** Ends what is over by now; returns whether anything changed. */
  #tick(origin: string, state: OriginPace): boolean {
    const now = this.#now()
    let changed = false
    if (state.pausedUntil !== 0 && state.pausedUntil <= now) {
      state.pausedUntil = 0
      // One request first: one more than those already sent (or holding a slot with an unread body).
      state.resumeCap = this.#host.acquiredOn(origin) + 1
      state.resumedAt = now
      state.acceptedSince = 0
      this.#host.emit({ type: 'resumed', origin, cause: state.cause })
      this.#show(origin, state)
      changed = true
    }
    if (state.nextAt !== 0 && state.nextAt <= now) {
      state.nextAt = 0
      changed = true
    }
    return changed
  }

  #arm(origin: string, state: OriginPace): void {
    const at = Math.max(state.pausedUntil, state.nextAt)
    // Already over (a timer fires a little early or late against the wall clock): end it now, or the
    // limiter keeps the 0 it read and nobody wakes it.
    if (at <= this.#now()) {
      if (this.#tick(origin, state)) this.#host.refresh(origin)
      return
    }
    if (state.timer !== undefined && state.timerAt === at) return
    this.#disarm(state)
    state.timerAt = at
    state.timer = setTimeout(
      () => {
        state.timer = undefined
        if (this.#tick(origin, state)) this.#host.refresh(origin)
        if (this.#host.queuedOn(origin) > 0) this.#arm(origin, state)
      },
      Math.max(0, at - this.#now()),
    )
  }

  #disarm(state: OriginPace): void {
    if (state.timer === undefined) return
    clearTimeout(state.timer)
    state.timer = undefined
  }

  // --- what is shown -------------------------------------------------------------------------------

  #reason(state: OriginPace): LimitReason {
    if (state.appLimit !== undefined) return 'app'
    if (state.resumeCap !== Infinity) return 'resuming'
    if (state.adaptiveCap !== Infinity) return 'adaptive'
    return state.interval > 0 ? 'paced' : 'configured'
  }

  /** Emits `limited` when the cap or pace in force changed. */
  #show(origin: string, state: OriginPace): void {
    const limit = Math.min(state.appLimit ?? state.base, state.resumeCap, Math.floor(state.adaptiveCap))
    const shown = limit * 1e6 + Math.round(state.interval)
    if (shown === state.shown) return
    state.shown = shown
    this.#host.emit({ type: 'limited', origin, limit, reason: this.#reason(state), interval: state.interval })
  }

  /** Counts a request (`retry` false), a retry (true), or just moves the window on (undefined). */
  #count(state: OriginPace, now: number, retry: boolean | undefined): void {
    const budget = this.options.retryBudget
    if (budget === false) return
    const slots = Math.max(1, Math.ceil(budget.window / 1000))
    const slot = Math.floor(now / 1000)
    for (let s = state.slotAt + 1; s <= slot && s - state.slotAt <= slots; s++) {
      state.sent[s % slots] = 0
      state.retried[s % slots] = 0
    }
    if (slot > state.slotAt) state.slotAt = slot
    if (retry === undefined) return
    const index = slot % slots
    if (retry) state.retried[index] = (state.retried[index] ?? 0) + 1
    else state.sent[index] = (state.sent[index] ?? 0) + 1
  }
}
