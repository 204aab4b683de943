/**
 * The pool: one request's way through the limiter and the body tracker. It knows HTTP (Request,
 * Response, origins) but not ky; client.ts plugs it into ky as the `fetch` option.
 *
 * The model (design.md): a slot is acquired before the request is sent and released when the
 * response body settles — read to the end, cancelled, drained into memory, or errored — because
 * that is when the runtime can reuse the connection. Null-body responses settle at headers.
 */
import { type SettleHow, TrackedBody } from './body.ts'
import { BodyIdleTimeoutError, BodyReclaimedError, type ReclaimCause } from './errors/body.ts'
import { LeakError } from './errors/leak.ts'
import { QueueFullError, QueueTimeoutError } from './errors/queue.ts'
import { type CallSite, Collector, formatCallSite, LeakReporter, Watchdog } from './leaks.ts'
import { type Lease, Limiter, LimiterRejection } from './limiter.ts'
import {
  type PoolOptions,
  type ResolvedPoolOptions,
  resolvePoolOptions,
  resolveRequestOptions,
} from './options.ts'
import { originOf, originOfRequestUrl } from './origin.ts'
import { redactMessage, redactUrl } from './redact.ts'
import { disposable, isNullBodyStatus, standInResponse } from './response.ts'
import type { ProtocolLog } from './runtime.ts'
import type { LeakReport, PoolStats, TraceEvent } from './trace.ts'

export type FetchLike = (input: Request, init?: RequestInit) => Promise<Response>

export interface PoolEnvironment {
  /** Defaults of the runtime, under the caller's options. */
  defaults?: Partial<ResolvedPoolOptions>
  protocols?: ProtocolLog
  /** Told when the pool starts holding bodies, with a promise that resolves when it holds none again. */
  keepAlive?: (untilIdle: Promise<void>) => void
  /** Call sites already reported, shared by the pools of one client. */
  leakSites?: Set<string>
  /**
   * The runtime ties I/O, timers and promises to the request that made them (workerd). Then a
   * FinalizationRegistry callback, which runs outside any request, only marks a collected body, and the
   * watchdog releases it inside the invocation that owns it; and each queued waiter keeps a timer of its
   * own (see `LimiterOptions.timerPerWaiter`).
   */
  perRequestContexts?: boolean
}

/** How long a request waits for unread bodies on its origin to be taken in before it is sent anyway. */
const takeInWait = 250

/** One request holding (or about to hold) a slot. */
class Flight {
  readonly id: number
  readonly method: string
  readonly rawUrl: string
  readonly origin: string
  readonly callSite: CallSite | undefined
  lease: Lease | undefined
  acquiredAt = 0
  headersAt = 0
  status: number | undefined
  body: TrackedBody | undefined
  leaked = false
  /** Garbage-collected unread where finalizers run outside requests; the watchdog releases it. */
  collected = false
  /** What the pool did when it took the body in (drained it into memory, or cancelled it); undefined if it never did. */
  takenIn: 'drained' | 'cancelled' | undefined
  #url: string | undefined

  constructor(id: number, method: string, url: string, origin: string, callSite: CallSite | undefined) {
    this.id = id
    this.method = method
    this.rawUrl = url
    this.origin = origin
    this.callSite = callSite
  }

  /** The redacted URL, computed on first use (only events, errors and reports need it). */
  get url(): string {
    this.#url ??= redactUrl(this.rawUrl)
    return this.#url
  }
}

export class Pool {
  readonly options: ResolvedPoolOptions
  readonly #limiter: Limiter
  readonly #reporter: LeakReporter
  /** Requests whose body is held unsettled, oldest first (Set keeps insertion order). */
  readonly #held = new Set<Flight>()
  readonly #heldByOrigin = new Map<string, Set<Flight>>()
  /**
   * Bodies the pool took in (drained, or cancelled under pressure) before their caller touched them; a
   * leak if still untouched at GC or `settle()`. The caller forgot them as surely as the ones `settle()`
   * finds held: the pool only got there first.
   */
  readonly #takenInUnread = new Set<WeakRef<Flight>>()
  readonly #collector: Collector<Flight>
  readonly #watchdog: Watchdog
  #reliefTimer: ReturnType<typeof setTimeout> | undefined
  #reliefDue = Infinity
  #nextId = 0
  #onIdle: (() => void)[] = []
  #traceFailed = false
  readonly #totals: PoolStats['totals'] = {
    requests: 0,
    reclaimed: 0,
    drained: 0,
    cancelled: 0,
    leaks: 0,
    queueTimeouts: 0,
    queueFull: 0,
    aborted: 0,
  }

  readonly #protocols: ProtocolLog | undefined
  readonly #keepAlive: PoolEnvironment['keepAlive']
  readonly #perRequestContexts: boolean
  /** Resolves the promise given to `keepAlive` when the last held body settles. */
  #heldNoMore: (() => void) | undefined

  /** `environment` carries what the runtime adds: its defaults, and what it tells of protocols. */
  constructor(options: PoolOptions = {}, environment: PoolEnvironment = {}) {
    this.options = resolvePoolOptions(options, environment.defaults)
    this.#protocols = environment.protocols
    this.#keepAlive = environment.keepAlive
    this.#perRequestContexts = environment.perRequestContexts === true
    this.#limiter = new Limiter({
      total: this.options.total,
      maxQueue: this.options.maxQueue,
      limitOf: (origin) => this.#limitOf(origin),
      onPressure: () => this.#relieve(),
      timerPerWaiter: this.#perRequestContexts,
    })
    this.#reporter = new LeakReporter(this.options.leaks, environment.leakSites)
    this.#collector = new Collector((flight) => this.#collected(flight))
    const period = Math.max(10, Math.min(this.options.leakAfter, this.options.idleTimeout) / 4)
    this.#watchdog = new Watchdog(period, () => this.#watch())
  }

  /**
   * Sends `request` with `fetchImpl` once a slot for its origin is free, and returns a Response whose
   * body holds the slot until it settles. `init.pool` carries per-request options.
   */
  async fetch(
    request: Request,
    init: RequestInit & { pool?: unknown },
    fetchImpl: FetchLike,
  ): Promise<Response> {
    const url = request.url // serialized on each read
    const origin = originOfRequestUrl(url)
    const requestOptions = resolveRequestOptions(init.pool)
    const fetchInit = 'pool' in init ? withoutPool(init) : init // most requests have none: no copy
    const flight = new Flight(++this.#nextId, request.method, url, origin, requestOptions.callSite)
    const signal = request.signal
    flight.lease = this.#limiter.tryAcquire(origin)
    const queued = flight.lease === undefined
    if (queued) await this.#queue(flight, signal, requestOptions, fetchInit.priority)
    const lease = flight.lease!
    flight.acquiredAt = performance.now()
    if (this.options.trace) this.#emit({ type: 'acquired', ...this.#base(flight), waited: lease.waited })

    let response: Response
    try {
      const takingIn = this.#takeIn(origin)
      if (takingIn !== undefined) await takingIn
      // A queued request usually takes the slot of a body that has just ended: give the runtime the
      // turn it needs to put that connection back before sending.
      if ((queued || takingIn !== undefined) && immediate !== undefined) await nextMacrotask()
      signal?.throwIfAborted()
      this.#totals.requests++
      response = await fetchImpl(request, fetchInit)
    } catch (error) {
      this.#failed(flight, lease)
      throw error
    }
    try {
      return this.#received(flight, response, signal)
    } catch (error) {
      // A custom fetch may resolve anything: a Response whose body is locked or used, or no Response at all.
      if (flight.body === undefined) this.#failed(flight, lease)
      else flight.body.fail(error)
      throw error
    }
  }

  /** Fetch failed (or never started): the slot goes back at once. */
  #failed(flight: Flight, lease: Lease): void {
    if (lease.released) return
    lease.release()
    if (this.options.trace)
      this.#emit({
        type: 'settled',
        ...this.#base(flight),
        how: 'errored',
        bytes: 0,
        held: performance.now() - flight.acquiredAt,
        status: undefined,
      })
    this.#idleCheck()
  }

  /** Headers are in: a null body settles now, any other is tracked and holds the slot until it settles. */
  #received(flight: Flight, response: Response, signal: AbortSignal | null): Response {
    const status = response.status
    flight.headersAt = performance.now()
    flight.status = status
    if (this.options.trace)
      this.#emit({ type: 'headers', ...this.#base(flight), status, ms: flight.headersAt - flight.acquiredAt })

    if (response.body === null || flight.method === 'HEAD' || isNullBodyStatus(status)) {
      // The runtime may still hand out an (empty) body stream for these; nothing waits on it.
      this.#settled(flight, 'read', 0)
      return disposable(response)
    }
    return this.#track(flight, response, signal)
  }

  async #queue(
    flight: Flight,
    signal: AbortSignal | null,
    options: { priority?: number; queueTimeout?: number },
    fetchPriority: RequestPriority | undefined,
  ): Promise<void> {
    const priority = options.priority ?? (fetchPriority === 'high' ? 1 : fetchPriority === 'low' ? -1 : 0)
    const timeout = options.queueTimeout ?? this.options.queueTimeout
    const queuedAt = performance.now()
    if (this.options.trace) {
      const stats = this.#limiter.keyStats(flight.origin)
      this.#emit({
        type: 'queued',
        ...this.#base(flight),
        priority,
        queued: (stats?.queued ?? 0) + 1,
        limit: stats?.limit ?? this.#limitOf(flight.origin),
      })
    }
    try {
      flight.lease = await this.#limiter.acquire(flight.origin, {
        priority,
        timeout,
        signal: signal ?? undefined,
      })
    } catch (error) {
      const waited = performance.now() - queuedAt
      if (error instanceof LimiterRejection) {
        if (error.kind === 'timeout') {
          this.#totals.queueTimeouts++
          this.#emitRejected(flight, 'queue-timeout', waited)
          throw new QueueTimeoutError(flight, error.limit, waited, timeout)
        }
        this.#totals.queueFull++
        this.#emitRejected(flight, 'queue-full', 0)
        throw new QueueFullError(flight, error.limit, this.options.maxQueue)
      }
      this.#totals.aborted++
      this.#emitRejected(flight, 'aborted', waited)
      throw error
    }
  }

  #track(flight: Flight, response: Response, signal: AbortSignal | null): Response {
    const onAbort = () => {
      // A body its caller never touched would otherwise hold the slot until GC (e.g. ky's timeout fired after
      // headers). The caller's abort ended it, so it is no leak, even once garbage-collected.
      if (body.touched) return
      this.#collector.unwatch(flight)
      body.fail(signal!.reason)
    }
    const body = new TrackedBody(response.body!, {
      onSettle: (how, bytes) => {
        signal?.removeEventListener('abort', onAbort)
        this.#settled(flight, how, bytes)
      },
      declaredLength: () => {
        const length = Number(response.headers.get('content-length') ?? Number.NaN)
        return Number.isFinite(length) ? length : undefined
      },
    })
    flight.body = body
    this.#held.add(flight)
    const onOrigin = this.#heldByOrigin.get(flight.origin)
    if (onOrigin === undefined) this.#heldByOrigin.set(flight.origin, new Set<Flight>().add(flight))
    else onOrigin.add(flight)
    if (this.#held.size === 1 && this.#keepAlive !== undefined) {
      this.#keepAlive(new Promise<void>((resolve) => (this.#heldNoMore = resolve)))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const standIn = this.#standIn(flight, response)
    // Aborted after fetch resolved but before now: the listener will never fire.
    if (signal?.aborted) onAbort()
    this.#watchdog.start()
    // Requests already queued for this slot: the relief that ran when they queued could not see this body.
    // A macrotask from now, so that a caller who reads at once has touched it by then.
    if (this.#limiter.queued > 0) this.#scheduleRelief(performance.now())
    this.#idleCheck() // settle() re-checks: a new untouched body may need reclaiming
    return standIn
  }

  /**
   * The caller's Response around the tracked body. A separate function on purpose: V8 gives all closures
   * of one scope a shared context, and `#track`'s closures (the settle hook, the abort listener) live as
   * long as the body is held, so a closure there that mentioned the stream would keep it reachable from
   * `#held` and the FinalizationRegistry could never see a dropped response collected.
   */
  #standIn(flight: Flight, response: Response): Response {
    const stream = flight.body!.openStream()
    const standIn = standInResponse(response, stream, {
      dispose: (caller) => this.#dispose(flight, caller, stream),
      failure: () => flight.body!.failure,
      readAll: (copy) => flight.body!.readAll(copy),
    })
    // The stream, not the Response: a caller may keep only `res.body` and read it later.
    this.#collector.watch(stream, flight, flight)
    return standIn
  }

  async #dispose(flight: Flight, caller: Response, stream: ReadableStream<Uint8Array>): Promise<void> {
    const body = flight.body!
    if (caller.body === stream || caller.body === null) {
      await body.dispose(this.options.drainLimit, new DOMException('The response was disposed', 'AbortError'))
    } else if (!caller.bodyUsed && !caller.body.locked) {
      // A clone (or an original that was cloned): cancel this tee branch only. Not awaited: per the
      // Streams spec a branch's cancel() settles only once the other branch is cancelled or the source
      // ends, so awaiting it would hang `await using` on a clone while the original is still unread.
      void caller.body.cancel().catch(() => {})
    }
  }

  /** The one place a slot is given back. */
  #settled(flight: Flight, how: SettleHow, bytes: number): void {
    flight.lease?.release()
    this.#held.delete(flight)
    const onOrigin = this.#heldByOrigin.get(flight.origin)
    if (onOrigin?.delete(flight) && onOrigin.size === 0) this.#heldByOrigin.delete(flight.origin)
    if (flight.body?.touched) this.#collector.unwatch(flight)
    if (this.#held.size === 0) {
      // The watchdog stops at its next tick (or in `settle()`): stopping and restarting its timer around
      // each request of sequential code showed in profiles as Node timer work on every call.
      this.#heldNoMore?.()
      this.#heldNoMore = undefined
    }
    if (this.#limiter.queued === 0) this.#scheduleRelief(Infinity)
    if (this.options.trace) {
      this.#emit({
        type: 'settled',
        ...this.#base(flight),
        how,
        bytes,
        held: performance.now() - flight.acquiredAt,
        status: flight.status,
      })
    }
    this.#idleCheck()
  }

  /**
   * Before a request goes out: take in the untouched bodies on its origin that fit in `drainLimit`.
   * A free slot is not a free connection — the runtime opens a new connection while an old one still
   * carries an unread body — so this is what lets sloppy sequential code reuse one connection.
   * Returns a promise that resolves when they are in (or after `takeInWait`); undefined, at once, when
   * there is none to take in: the common case, which costs no promise.
   */
  #takeIn(origin: string): Promise<void> | undefined {
    const onOrigin = this.#heldByOrigin.get(origin)
    if (onOrigin === undefined) return undefined
    let drains: Promise<unknown>[] | undefined
    for (const flight of onOrigin) {
      if (!flight.body!.canDrain(this.options.drainLimit)) continue
      drains ??= []
      drains.push(this.#reclaim(flight, 'before-send'))
    }
    if (drains === undefined) return undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    return Promise.race([
      Promise.all(drains),
      new Promise((resolve) => (timer = setTimeout(resolve, takeInWait))),
    ]).then(() => clearTimeout(timer))
  }

  /**
   * Frees slots for queued requests: every untouched body that waiters are blocked on is drained if it
   * fits in `drainLimit`; larger ones are cancelled oldest first once they have been held `reclaimAfter`,
   * no more of them than there are waiters. Re-runs itself when the next one becomes due.
   */
  #relieve(): void {
    const limiter = this.#limiter
    if (limiter.queued === 0) return
    const now = performance.now()
    let totalNeed = limiter.acquired >= limiter.total ? limiter.queued : 0
    let need: Map<string, number> | undefined // made at the first untouched body: with clean code, never
    let due = Infinity
    for (const flight of this.#held) {
      const body = flight.body!
      if (body.touched || body.settled) continue
      need ??= new Map()
      const originNeed = need.get(flight.origin) ?? limiter.keyStats(flight.origin)?.queued ?? 0
      if (originNeed <= 0 && totalNeed <= 0) continue
      if (!body.canDrain(this.options.drainLimit) && now - flight.headersAt < this.options.reclaimAfter) {
        due = Math.min(due, flight.headersAt + this.options.reclaimAfter)
        continue
      }
      void this.#reclaim(flight, 'pressure')
      need.set(flight.origin, originNeed - 1)
      totalNeed--
    }
    // Only brings the next run forward. A run already scheduled (by `#track`, for a body that had just
    // arrived) stays: cancelling it here and setting it again at the next response cost a timer per
    // request whenever requests queue.
    if (Number.isFinite(due)) this.#scheduleRelief(due)
  }

  /** Runs `#relieve` at `due` (keeping an earlier run); `Infinity` cancels it: nothing is queued any more. */
  #scheduleRelief(due: number): void {
    if (Number.isFinite(due) && due >= this.#reliefDue && this.#reliefTimer !== undefined) return
    if (this.#reliefTimer !== undefined) clearTimeout(this.#reliefTimer)
    this.#reliefTimer = undefined
    this.#reliefDue = due
    if (!Number.isFinite(due)) return
    this.#reliefTimer = setTimeout(
      () => {
        this.#reliefTimer = undefined
        this.#reliefDue = Infinity
        this.#relieve()
      },
      Math.max(0, due - performance.now()),
    )
  }

  /** Takes an untouched body in (drain) or, when it is too large, cancels it. */
  async #reclaim(flight: Flight, cause: ReclaimCause | 'before-send'): Promise<void> {
    const body = flight.body!
    if (body.touched || body.settled) return
    const held = () => performance.now() - flight.headersAt
    if (await body.drain(this.options.drainLimit)) {
      this.#tookIn(flight, 'drained')
      this.#totals.reclaimed++
      this.#totals.drained++
      if (this.options.trace)
        this.#emit({ type: 'reclaimed', ...this.#base(flight), action: 'drained', cause, held: held() })
      return
    }
    if (cause === 'before-send' || body.touched || body.settled) return
    if (cause === 'pressure' && held() < this.options.reclaimAfter) return this.#relieve()
    this.#cancel(flight, cause)
    this.#tookIn(flight, 'cancelled')
    if (this.options.trace)
      this.#emit({ type: 'reclaimed', ...this.#base(flight), action: 'cancelled', cause, held: held() })
  }

  #tookIn(flight: Flight, action: 'drained' | 'cancelled'): void {
    flight.takenIn = action
    if (!flight.body!.touched) this.#takenInUnread.add(new WeakRef(flight))
  }

  /** Watchdog tick: reclaims bodies left untouched past `leakAfter`, fails reads idle past `idleTimeout`. */
  #watch(): boolean {
    const now = performance.now()
    const { leakAfter, idleTimeout } = this.options
    for (const flight of this.#held) {
      const body = flight.body!
      if (flight.collected) {
        this.#releaseCollected(flight)
        continue
      }
      // First: a stalled read, the caller's or the pool's own drain (which a reclaim would only wait on).
      if (body.waitingSince !== undefined && now - body.waitingSince >= idleTimeout) {
        body.fail(new BodyIdleTimeoutError(flight, idleTimeout, body.bytes))
        if (!body.touched) this.#tookIn(flight, 'cancelled') // it stalled while the pool drained it
      } else if (!body.touched && now - flight.headersAt >= leakAfter) {
        this.#leak(flight, 'watchdog', body.canDrain(this.options.drainLimit) ? 'drained' : 'cancelled')
        void this.#reclaim(flight, 'watchdog')
      }
    }
    return this.#held.size > 0
  }

  /** FinalizationRegistry: the caller dropped the body without reading it. */
  #collected(flight: Flight): void {
    const body = flight.body!
    // Read to the end or cancelled by its caller: fine. Started and then dropped mid-body is a leak like
    // an unread one: nobody can ever read the rest, and without this the slot would be held for good.
    if (body.touched && body.settled) return
    this.#leak(flight, 'gc', body.settled ? (flight.takenIn ?? 'drained') : 'cancelled')
    if (!body.settled && this.#perRequestContexts) {
      flight.collected = true // the watchdog releases it (see PoolEnvironment)
      return
    }
    this.#releaseCollected(flight)
  }

  #releaseCollected(flight: Flight): void {
    if (!flight.body!.settled) this.#cancel(flight, 'gc')
  }

  /** Cancels a body its caller has not read: its later reads fail with a `BodyReclaimedError` naming `cause`. */
  #cancel(flight: Flight, cause: ReclaimCause): void {
    const held = performance.now() - flight.headersAt
    const limit = this.#limiter.keyStats(flight.origin)?.limit ?? this.#limitOf(flight.origin)
    flight.body!.fail(new BodyReclaimedError(flight, cause, held, limit, this.options.drainLimit))
    this.#totals.reclaimed++
    this.#totals.cancelled++
  }

  /** The per-origin limit the options set for `origin`. */
  #limitOf(origin: string): number {
    return this.options.origins.get(origin) ?? this.options.perOrigin
  }

  #leak(flight: Flight, detectedBy: LeakReport['detectedBy'], action: LeakReport['action']): void {
    if (flight.leaked) return
    flight.leaked = true
    this.#totals.leaks++
    const report: LeakReport = {
      method: flight.method,
      url: flight.url,
      origin: flight.origin,
      status: flight.status ?? 0,
      callSite: formatCallSite(flight.callSite, this.options.callSites),
      detectedBy,
      action,
    }
    const first = this.#reporter.report(report)
    if (this.options.trace)
      this.#emit({ type: 'leaked', ...this.#base(flight), callSite: report.callSite, detectedBy, first })
  }

  /** Records a retry (ky is about to call fetch again for this request). */
  noteRetry(request: Request, retryCount: number, error: unknown): void {
    if (!this.options.trace) return
    const flight = new Flight(0, request.method, request.url, safeOrigin(request.url), undefined)
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    this.#emit({ type: 'retry', ...this.#base(flight), retryCount, error: redactMessage(reason) })
  }

  stats(): PoolStats {
    const origins: PoolStats['origins'] = {}
    for (const origin of this.#limiter.keys()) {
      const stats = this.#limiter.keyStats(origin)!
      const protocol = this.#protocols?.get(origin)
      origins[origin] = { inFlight: stats.acquired, queued: stats.queued, limit: stats.limit }
      if (protocol !== undefined) origins[origin].protocol = protocol
    }
    return {
      inFlight: this.#limiter.acquired,
      queued: this.#limiter.queued,
      limit: this.#limiter.total,
      origins,
      totals: { ...this.#totals },
    }
  }

  /**
   * Resolves when nothing is in flight or queued. First reclaims every body nobody has touched (and
   * keeps doing so for responses that arrive meanwhile), then returns the leak reports gathered since
   * the last call; in strict mode it throws a `LeakError` with them instead.
   */
  async settle(): Promise<LeakReport[]> {
    for (;;) {
      // An untouched body gets one macrotask from when settle() first sees it: a caller that reads at once
      // (`await client.get(url).json()`, or `const res = await …` then a read) has touched it by then, even
      // when its response arrived while settle() was waiting (a graceful shutdown with requests in flight).
      const untouched = [...this.#held].filter((flight) => !flight.body!.touched && !flight.leaked)
      if (untouched.length > 0) {
        await nextMacrotask()
        for (const flight of untouched) {
          const body = flight.body!
          if (body.touched || body.settled) continue
          this.#leak(flight, 'settle', body.canDrain(this.options.drainLimit) ? 'drained' : 'cancelled')
          void this.#reclaim(flight, 'settle')
        }
        continue
      }
      if (this.#limiter.acquired === 0 && this.#limiter.queued === 0) break
      await new Promise<void>((resolve) => this.#onIdle.push(resolve))
    }
    for (const ref of this.#takenInUnread) {
      const flight = ref.deref()
      this.#takenInUnread.delete(ref)
      if (flight !== undefined && !flight.body!.touched) this.#leak(flight, 'settle', flight.takenIn!)
    }
    this.#watchdog.stop()
    this.#scheduleRelief(Infinity)
    const leaks = this.#reporter.take()
    if (this.options.leaks === 'strict' && leaks.length > 0) throw new LeakError(leaks)
    return leaks
  }

  /** Wakes `settle()` whenever a slot is given back or a new body is held, so it can re-check. */
  #idleCheck(): void {
    if (this.#onIdle.length === 0) return
    const waiting = this.#onIdle
    this.#onIdle = []
    for (const resolve of waiting) resolve()
  }

  #base(flight: Flight) {
    return {
      id: flight.id,
      method: flight.method,
      url: flight.url,
      origin: flight.origin,
      at: performance.now(),
    }
  }

  #emitRejected(flight: Flight, reason: 'aborted' | 'queue-timeout' | 'queue-full', waited: number): void {
    if (this.options.trace) this.#emit({ type: 'rejected', ...this.#base(flight), reason, waited })
  }

  #emit(event: TraceEvent): void {
    try {
      this.options.trace!(event)
    } catch (error) {
      if (!this.#traceFailed)
        console.error('ky-pool: the trace callback threw; events go on being sent', error)
      this.#traceFailed = true
    }
  }
}

/**
 * undici (Node's fetch) gives a finished connection back to its pool one `setImmediate` after the
 * response ended; a request sent sooner opens a new connection. Where there is no `setImmediate`
 * (browsers, workerd) there is nothing to wait for.
 */
const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate
const nextMacrotask = (): Promise<void> =>
  new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)))

/** `init` without the pool's own options, for the runtime's fetch. */
function withoutPool({ pool, ...init }: RequestInit & { pool?: unknown }): RequestInit {
  return init
}

function safeOrigin(url: string): string {
  try {
    return originOf(url)
  } catch {
    return ''
  }
}
