/**
 * The leak watch: a watchdog tick over the held bodies (reclaim those left untouched past `leakAfter`,
 * fail reads idle past `idleTimeout`), the garbage collector's word on responses dropped unread, and
 * the leak reports, once per call site. Finding a leak is counted at once; reporting it (formatting the
 * call site, the warning, the trace event) loads on first use (see src/lazy.ts).
 */

import { type Cold, loadCold, withCold } from '../lazy.ts'
import type { LeakReporter } from '../leaks.ts'
import type { LeakDetector, ReclaimAction } from '../lifecycle.ts'
import type { ResolvedPoolOptions } from '../options.ts'
import type { LeakReport } from '../trace.ts'
import type { Events } from './events.ts'
import type { HeldFlight, Watched } from './flight.ts'
import type { HeldFlights } from './held.ts'
import type { Reclaimer } from './reclaim.ts'

export interface LeakWatchParts {
  options: ResolvedPoolOptions
  held: HeldFlights
  reclaimer: Reclaimer
  events: Events
  /** Call sites already reported, shared by the pools of one client (see `LeakReporter`). */
  leakSites: Set<string> | undefined
  /**
   * The runtime ties I/O to the request that made it (workerd): a FinalizationRegistry callback, which
   * runs outside any request, only marks a collected body, and the watchdog releases it inside the
   * invocation that owns it.
   */
  perRequestContexts: boolean
}

export class LeakWatch {
  readonly #parts: LeakWatchParts
  readonly #collector: Collector<Watched>
  readonly #watchdog: Watchdog
  /** Made at the first leak, with the cold code. */
  #reporter: LeakReporter | undefined
  /**
   * Bodies the pool reclaimed (drained, or cancelled) before their caller touched them: a leak if still
   * untouched at GC or `settle()`. The caller forgot them as surely as the ones `settle()` finds held:
   * the pool only got there first.
   */
  readonly #reclaimedUntouched = new Set<WeakRef<HeldFlight>>()

  constructor(parts: LeakWatchParts) {
    this.#parts = parts
    this.#collector = new Collector((watched) => this.#collected(watched))
    const period = Math.max(10, Math.min(parts.options.leakAfter, parts.options.idleTimeout) / 4)
    this.#watchdog = new Watchdog(period, () => this.#tick())
  }

  /** Runs the watchdog while bodies are held (it stops itself at a tick with none). */
  start(): void {
    this.#watchdog.start()
  }

  stop(): void {
    this.#watchdog.stop()
  }

  /** Watches a response or stream of a held body's branch: its flight learns when the branch is collected. */
  watch(target: object, watched: Watched): void {
    watched.live++
    this.#collector.watch(target, watched, watched.flight)
  }

  unwatch(flight: HeldFlight): void {
    this.#collector.unwatch(flight)
  }

  reclaimedUntouched(flight: HeldFlight): void {
    this.#reclaimedUntouched.add(new WeakRef(flight))
  }

  /** Reports the bodies reclaimed before their caller touched them, and still untouched (for `settle()`). */
  reportReclaimedUntouched(): void {
    for (const ref of this.#reclaimedUntouched) {
      const flight = ref.deref()
      this.#reclaimedUntouched.delete(ref)
      if (flight !== undefined && !flight.body.touched) this.leak(flight, 'settle', flight.reclaimed!)
    }
  }

  leak(flight: HeldFlight, detectedBy: LeakDetector, action: ReclaimAction): void {
    if (flight.leaked) return
    flight.leaked = true
    this.#parts.events.totals.leaks++
    withCold((cold) => {
      const { events, options, leakSites } = this.#parts
      this.#reporter ??= new cold.LeakReporter(options.leaks, options.callSites, leakSites)
      const { report, first } = this.#reporter.leaked(flight, detectedBy, action)
      events.tracer?.leaked(flight, report.callSite, detectedBy, first)
    })
  }

  /** Resolves once every leak found so far has been reported (the first one loads the reporting code). */
  async reported(): Promise<void> {
    if (this.#parts.events.totals.leaks > 0) await loadCold()
  }

  /** The leak reports gathered since the last call (after `reported()`). */
  takeReports(): LeakReport[] {
    return this.#reporter?.take() ?? []
  }

  /** What a reclaim would do with `flight`'s body now. */
  action(flight: HeldFlight): ReclaimAction {
    return flight.body.canDrain(this.#parts.options.drainLimit) ? 'drained' : 'cancelled'
  }

  /** Watchdog tick. Returns whether there is still something to watch. */
  #tick(): boolean {
    const { held, options, reclaimer } = this.#parts
    const now = performance.now()
    for (const flight of held) {
      const body = flight.body
      if (flight.collected) {
        this.#release(flight)
        continue
      }
      // First: a stalled read, the caller's or the pool's own drain (which a reclaim would only wait on).
      if (body.waitingSince !== undefined && now - body.waitingSince >= options.idleTimeout) {
        withCold((cold) => this.#stalled(cold, flight))
      } else if (!body.touched && now - flight.headersAt >= options.leakAfter) {
        this.leak(flight, 'watchdog', this.action(flight))
        void reclaimer.reclaim(flight, 'watchdog')
      }
    }
    return held.size > 0
  }

  /** A read of the body waited past `idleTimeout` for its next chunk: it fails. */
  #stalled(cold: Cold, flight: HeldFlight): void {
    const body = flight.body
    if (body.settled) return
    body.fail(new cold.BodyIdleTimeoutError(flight, this.#parts.options.idleTimeout, body.bytes))
    if (!body.touched) {
      flight.reclaimed = 'cancelled' // it stalled while the pool drained it
      this.reclaimedUntouched(flight)
    }
  }

  /** FinalizationRegistry: a stream of the body was dropped. */
  #collected(watched: Watched): void {
    if (--watched.live > 0) return // the branch's response or stream is still reachable
    const { flight, branch } = watched
    const body = flight.body
    // Another branch (the original, or a clone) is still reachable: the body goes on.
    if (body.dropBranch(branch)) return
    // Read to the end or cancelled by its caller: fine. Started and then dropped mid-body is a leak like
    // an unread one: nobody can ever read the rest, and without this the slot would be held for good.
    if (body.touched && body.settled) return
    this.leak(flight, 'gc', body.settled ? (flight.reclaimed ?? 'drained') : 'cancelled')
    if (!body.settled && this.#parts.perRequestContexts) {
      flight.collected = true // the watchdog releases it (see LeakWatchParts)
      return
    }
    this.#release(flight)
  }

  #release(flight: HeldFlight): void {
    withCold((cold) => {
      if (!flight.body.settled) this.#parts.reclaimer.cancel(flight, 'gc', cold)
    })
  }
}

/**
 * A repeating timer that runs only while there is something to watch, and never keeps a Node or Deno
 * process alive by itself.
 */
class Watchdog {
  readonly #period: number
  readonly #tick: () => boolean
  #timer: ReturnType<typeof setInterval> | undefined

  /** `tick` returns whether there is still something to watch. */
  constructor(period: number, tick: () => boolean) {
    this.#period = period
    this.#tick = tick
  }

  start(): void {
    if (this.#timer !== undefined || !Number.isFinite(this.#period) || this.#period <= 0) return
    this.#timer = setInterval(() => {
      if (!this.#tick()) this.stop()
    }, this.#period)
    ;(this.#timer as { unref?: () => void }).unref?.()
    if (typeof Deno !== 'undefined' && typeof this.#timer === 'number') Deno.unrefTimer(this.#timer)
  }

  stop(): void {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

declare const Deno: { unrefTimer(id: number): void }

/** Calls back when a watched object is garbage-collected; a no-op where FinalizationRegistry is missing. */
class Collector<T> {
  readonly #registry: FinalizationRegistry<T> | undefined

  constructor(onCollect: (held: T) => void) {
    this.#registry =
      typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(onCollect) : undefined
  }

  watch(target: object, held: T, token: object): void {
    this.#registry?.register(target, held, token)
  }

  unwatch(token: object): void {
    this.#registry?.unregister(token)
  }
}
