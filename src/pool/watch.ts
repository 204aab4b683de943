/**
 * The leak watch: a watchdog tick over the held bodies (reclaim those left untouched past `leakAfter`,
 * fail reads idle past `idleTimeout`), the garbage collector's word on responses dropped unread, and
 * the leak reports, once per call site.
 */
import { BodyIdleTimeoutError } from '../errors/body.ts'
import { Collector, formatCallSite, type LeakReporter, Watchdog } from '../leaks.ts'
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
  reporter: LeakReporter
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

  /** Watches a stream of a held body (the response's, or a clone's): its flight learns when it is collected. */
  watch(stream: ReadableStream<Uint8Array>, watched: Watched): void {
    this.#collector.watch(stream, watched, watched.flight)
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
    const { events, reporter, options } = this.#parts
    events.totals.leaks++
    const report: LeakReport = {
      method: flight.method,
      url: flight.url,
      origin: flight.origin,
      status: flight.status ?? 0,
      callSite: formatCallSite(flight.callSite, options.callSites),
      detectedBy,
      action,
    }
    const first = reporter.report(report)
    if (events.trace)
      events.emit({ type: 'leaked', ...events.base(flight), callSite: report.callSite, detectedBy, first })
  }

  /** The leak reports gathered since the last call. */
  takeReports(): LeakReport[] {
    return this.#parts.reporter.take()
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
        body.fail(new BodyIdleTimeoutError(flight, options.idleTimeout, body.bytes))
        if (!body.touched) {
          flight.reclaimed = 'cancelled' // it stalled while the pool drained it
          this.reclaimedUntouched(flight)
        }
      } else if (!body.touched && now - flight.headersAt >= options.leakAfter) {
        this.leak(flight, 'watchdog', this.action(flight))
        void reclaimer.reclaim(flight, 'watchdog')
      }
    }
    return held.size > 0
  }

  /** FinalizationRegistry: a stream of the body was dropped. */
  #collected({ flight, branch }: Watched): void {
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
    if (!flight.body.settled) this.#parts.reclaimer.cancel(flight, 'gc')
  }
}
