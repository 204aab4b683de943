/**
 * The pool: one request's way through the limiter and the body tracker. It knows HTTP (Request,
 * Response, origins) but not ky; client.ts plugs it into ky as the `fetch` option. docs/design.md tells
 * the model; in short: a slot is acquired before the request is sent and released when the response
 * body settles — read to the end, cancelled, drained into memory, or errored — because that is when
 * the runtime can reuse the connection. Null-body responses settle at headers. What a slot is worth
 * per origin (its protocol, the runtime) is slots.ts's business; taking forgotten bodies back is
 * reclaim.ts's; finding leaks is watch.ts's; telling what happened is events.ts's.
 */
import { TrackedBody } from '../body.ts'
import { coldNow, loadCold } from '../lazy.ts'
import type { SettleHow } from '../lifecycle.ts'
import { type Lease, Limiter, LimiterRejection } from '../limiter.ts'
import {
  count,
  type PoolOptions,
  type ResolvedPoolOptions,
  resolvePoolOptions,
  resolveRequestOptions,
} from '../options.ts'
import { originOf, originOfRequestUrl } from '../origin.ts'
import { ProtocolBook } from '../protocols.ts'
import { disposable, isNullBodyStatus, type StandInBody, standInResponse } from '../response.ts'
import type { Runtime } from '../runtime.ts'
import type { LeakReport, PoolStats } from '../trace.ts'
import type { Backpressure } from './backpressure.ts'
import { Events } from './events.ts'
import { Flight, type HeldFlight, hold, type Watched } from './flight.ts'
import { HeldFlights } from './held.ts'
import { Reclaimer } from './reclaim.ts'
import type { FollowRedirects } from './redirects.ts'
import { Slots } from './slots.ts'
import { LeakWatch } from './watch.ts'

export type FetchLike = (input: Request, init?: RequestInit) => Promise<Response>

export interface PoolEnvironment {
  runtime?: Runtime
  /** Defaults of the runtime, under the caller's options. */
  defaults?: Partial<ResolvedPoolOptions>
  /** Told when the pool starts holding bodies, with a promise that resolves when it holds none again. */
  keepAlive?: (untilIdle: Promise<void>) => void
  /** Call sites already reported, shared by the pools of one client. */
  leakSites?: Set<string>
  /**
   * The runtime ties I/O, timers and promises to the request that made them (workerd): see
   * `LeakWatchParts.perRequestContexts` and `LimiterOptions.timerPerWaiter`.
   */
  perRequestContexts?: boolean
  /** Follows redirects hop by hop (a plug-in: see src/plugins.ts); undefined where the runtime follows them. */
  redirects?: FollowRedirects
}

export class Pool {
  readonly options: ResolvedPoolOptions
  readonly #limiter: Limiter
  /** Requests awaiting headers (`awaitingHeaders`, Workers' rule); undefined when unlimited. */
  readonly #awaitingHeaders: Limiter | undefined
  readonly #slots: Slots
  readonly #held: HeldFlights
  readonly #events: Events
  readonly #reclaimer: Reclaimer
  readonly #watch: LeakWatch
  /** Follows redirects hop by hop, each in a slot of its own origin (see redirects.ts); none in browsers. */
  readonly #redirects: FollowRedirects | undefined
  #nextId = 0
  /** `settle()` calls waiting for the next slot given back or body held. */
  #onChange: (() => void)[] = []
  /** Origin backpressure (backpressure.ts), loaded on the first 429/503, budget header or steering call. */
  #pace: Backpressure | undefined
  /** Set while it loads: requests wait for it, so none slips past a pause being put in place. */
  #paceLoading: Promise<Backpressure> | undefined

  constructor(options: PoolOptions = {}, environment: PoolEnvironment = {}) {
    this.options = resolvePoolOptions(options, environment.defaults)
    const perRequestContexts = environment.perRequestContexts === true
    this.#redirects = environment.redirects
    this.#slots = new Slots(
      environment.runtime ?? 'unknown',
      this.options,
      new ProtocolBook(declaredProtocols(this.options)),
    )
    this.#slots.protocols.listen(this)
    this.#limiter = new Limiter({
      total: this.options.total,
      maxQueue: this.options.maxQueue,
      limitOf: (origin) => this.#slots.limit(origin),
      onPressure: (origin) => {
        this.#pace?.queued(origin)
        this.#reclaimer.reclaimUnderPressure()
      },
      timerPerWaiter: perRequestContexts,
    })
    if (this.options.awaitingHeaders !== Infinity) {
      const limit = this.options.awaitingHeaders
      this.#awaitingHeaders = new Limiter({
        total: limit,
        maxQueue: this.options.maxQueue,
        limitOf: () => limit,
        timerPerWaiter: perRequestContexts,
      })
    }
    this.#held = new HeldFlights(environment.keepAlive)
    this.#events = new Events()
    this.#reclaimer = new Reclaimer({
      options: this.options,
      held: this.#held,
      limiter: this.#limiter,
      slots: this.#slots,
      events: this.#events,
      reclaimedUntouched: (flight) => this.#watch.reclaimedUntouched(flight),
      waitingAtStore: (origin) => this.options.shared?.waiting(origin) ?? 0,
    })
    this.#watch = new LeakWatch({
      options: this.options,
      held: this.#held,
      reclaimer: this.#reclaimer,
      events: this.#events,
      leakSites: environment.leakSites,
      perRequestContexts,
    })
    // A store that carries pauses between copies is listened to from the start (pace.ts).
    if (this.options.shared?.store.onPause) this.paced().catch(() => {})
  }

  /**
   * Sends `request` with `fetchImpl` once a slot for its origin is free, and returns a Response whose
   * body holds the slot until it settles. `init.pool` carries per-request options. Redirects are
   * followed hop by hop where the runtime lets the pool see them, each hop in a slot of its own origin.
   */
  async fetch(
    request: Request,
    init: RequestInit & { pool?: unknown },
    fetchImpl: FetchLike,
  ): Promise<Response> {
    // With a trace, its code loads before the first request (see src/lazy.ts), so no event is missed.
    if (this.options.trace !== undefined && this.#events.tracer === undefined) await this.#startTracing()
    if (this.#paceLoading !== undefined) await this.#paceLoading.catch(() => {}) // a chunk that failed: see paced()
    const redirect = init.redirect ?? request.redirect
    if (this.#redirects === undefined || redirect !== 'follow') return this.#send(request, init, fetchImpl)
    return this.#redirects(request, init, (hop, hopInit) => this.#send(hop, hopInit, fetchImpl))
  }

  /** One hop: acquire a slot for `request`'s origin, send it, track its body. */
  async #send(
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
    const queuedAt = performance.now()
    this.#pace?.check(origin)
    flight.lease = this.#limiter.tryAcquire(origin)
    const queued = flight.lease === undefined
    if (queued)
      flight.lease = await this.#queue(this.#limiter, flight, signal, requestOptions, fetchInit, queuedAt)
    this.#pace?.started(origin) // a paced origin's gap starts now, before anything else can take its turn
    try {
      // The store's permit joins the local slot: `flight.lease` then gives both back.
      const shared = this.options.shared
      if (shared !== undefined) {
        // A body of ours that nobody reads may hold the permit it waits for: see `waitingAtStore`.
        if (shared.limitOf(origin) !== undefined) this.#reclaimer.schedule(performance.now())
        flight.lease = await shared.acquire(
          this.options,
          this.#events,
          flight,
          signal,
          requestOptions,
          fetchInit,
          queuedAt,
        )
      }
      if (this.#awaitingHeaders !== undefined) {
        flight.headersLease =
          this.#awaitingHeaders.tryAcquire('') ??
          (await this.#queue(this.#awaitingHeaders, flight, signal, requestOptions, fetchInit, queuedAt))
      }
    } catch (error) {
      this.#failed(flight)
      throw error
    }
    flight.acquiredAt = performance.now()
    if (this.#events.tracer !== undefined) this.#traceAcquired(flight, flight.acquiredAt - queuedAt)

    let response: Response
    try {
      const reclaiming = this.#reclaimer.beforeSend(origin)
      if (reclaiming !== undefined) await reclaiming
      this.#reclaimer.afterAcquire(origin)
      // A queued request usually takes the slot of a body that has just ended: give the runtime the
      // turn it needs to put that connection back before sending.
      if ((queued || reclaiming !== undefined) && immediate !== undefined) await nextMacrotask()
      signal?.throwIfAborted()
      this.#events.totals.requests++
      response = await fetchImpl(request, fetchInit)
    } catch (error) {
      if (signal?.reason?.name === 'TimeoutError') this.#pace?.timedOut(origin)
      this.#failed(flight)
      throw error
    }
    flight.headersLease?.release()
    try {
      // Every response is looked at: a status check and two header lookups (bench/overhead.ts). What it
      // said is read, and the pace code loaded, only when the origin pushed back or sent a budget.
      const status = response.status
      if (
        status === 429 ||
        status === 503 ||
        this.#pace !== undefined ||
        response.headers.has('ratelimit') ||
        response.headers.has('x-ratelimit-remaining')
      ) {
        if (this.options.backpressure !== false)
          // A cold chunk that fails to load (a browser offline) costs the pace, not the response.
          (this.#pace ?? (await this.paced().catch(() => undefined)))?.response(
            origin,
            status,
            response.headers,
          )
      }
      return this.#received(flight, response, signal)
    } catch (error) {
      // A custom fetch may resolve anything: a Response whose body is locked or used, or no Response at all.
      if (flight.body === undefined) this.#failed(flight)
      else flight.body.fail(error)
      throw error
    }
  }

  /** Fetch failed (or never started): the slot goes back at once. */
  #failed(flight: Flight): void {
    flight.headersLease?.release()
    const lease = flight.lease!
    if (lease.released) return
    lease.release()
    this.#events.tracer?.settled(flight, 'errored', 0, undefined)
    this.#changed()
  }

  /** Headers are in: a null body settles now, any other is tracked and holds the slot until it settles. */
  #received(flight: Flight, response: Response, signal: AbortSignal | null): Response {
    const status = response.status
    flight.headersAt = performance.now()
    flight.status = status
    this.#reclaimer.noteHeaders(flight.origin, flight.headersAt - flight.acquiredAt)
    this.#events.tracer?.headers(flight, status, flight.headersAt - flight.acquiredAt)
    if (response.body === null || flight.method === 'HEAD' || isNullBodyStatus(status)) {
      // The runtime may still hand out an (empty) body stream for these; nothing waits on it.
      this.#release(flight, 'read', 0)
      return disposable(response)
    }
    return this.#track(flight, response, signal)
  }

  /** Waits in `limiter`'s queue for `flight`; rejections become the public, HTTP-aware errors. */
  async #queue(
    limiter: Limiter,
    flight: Flight,
    signal: AbortSignal | null,
    options: { priority?: number; queueTimeout?: number },
    init: RequestInit,
    queuedAt: number,
  ): Promise<Lease> {
    const fetchPriority = init.priority
    const priority = options.priority ?? (fetchPriority === 'high' ? 1 : fetchPriority === 'low' ? -1 : 0)
    const queueTimeout = options.queueTimeout ?? this.options.queueTimeout
    const key = limiter === this.#limiter ? flight.origin : ''
    const tracer = this.#events.tracer
    if (tracer !== undefined) {
      const limit = limiter.keyStats(key)?.limit ?? this.#slots.limit(flight.origin)
      tracer.queued(flight, priority, limiter.queuedOn(key) + 1, limit)
    }
    try {
      // What the first queue took counts against the timeout of the second (awaiting headers).
      const timeout = queueTimeout - (performance.now() - queuedAt)
      return await limiter.acquire(key, { priority, timeout, signal: signal ?? undefined })
    } catch (error) {
      const waited = performance.now() - queuedAt
      const { totals, tracer } = this.#events
      const pause = this.#pace?.left(key)
      if (error instanceof LimiterRejection) {
        // The errors' words are cold (see src/lazy.ts); waiting for them, once, costs no slot.
        const cold = coldNow() ?? (await loadCold())
        if (error.kind === 'timeout') {
          totals.queueTimeouts++
          tracer?.rejected(flight, 'queue-timeout', waited)
          throw pause === undefined
            ? new cold.QueueTimeoutError(flight, error.limit, waited, queueTimeout)
            : new cold.OriginPausedError(flight, waited, queueTimeout, pause[0], pause[1])
        }
        totals.queueFull++
        tracer?.rejected(flight, 'queue-full', 0)
        throw new cold.QueueFullError(flight, error.limit, this.options.maxQueue)
      }
      totals.aborted++
      tracer?.rejected(flight, 'aborted', waited)
      throw error
    }
  }

  // --- origin backpressure (backpressure.ts, loaded on first use by pace.ts) ---------------------

  /** The pool's backpressure, loading it on first use (a 429/503, a budget header, a retry, the app steering). */
  paced(): Promise<Backpressure> {
    if (this.#pace !== undefined) return Promise.resolve(this.#pace)
    // Loaded or failed, the next call starts afresh (a chunk that failed is tried again, as in lazy.ts).
    const done = () => (this.#paceLoading = undefined)
    this.#paceLoading ??= loadCold().then(
      (cold) => {
        done()
        this.#pace = cold.startPace(this.options, this.#limiter, this.#slots, this.#events, cold.Tracer)
        return this.#pace
      },
      (error: unknown) => {
        done()
        throw error
      },
    )
    return this.#paceLoading
  }

  /** The app steers an origin (see `PoolHandle`): `pause` until a time, `resume`, `setLimit`. */
  async steer(act: 'pause' | 'resume' | 'setLimit', origin: string, value?: number): Promise<void> {
    ;(await this.paced()).steer(act, origin, value)
  }

  /** The total limit from now on; nothing queued or in flight is cancelled when it shrinks. */
  setTotal(total: number): void {
    this.#limiter.setTotal(count('setTotal(total)', total, true))
  }

  async #startTracing(): Promise<void> {
    const { Tracer } = await loadCold()
    this.#events.tracer ??= new Tracer(this.options.trace!)
  }

  #traceAcquired(flight: Flight, waited: number): void {
    const { protocol, source } = this.#slots.protocols.get(flight.origin)
    const limit = this.#limiter.keyStats(flight.origin)?.limit ?? this.#slots.limit(flight.origin)
    this.#events.tracer!.acquired(flight, waited, limit, protocol, source)
  }

  #track(flight: Flight, response: Response, signal: AbortSignal | null): Response {
    const onAbort = () => {
      // A body its caller never touched would otherwise hold the slot until GC (e.g. ky's timeout fired after
      // headers). The caller's abort ended it, so it is no leak, even once garbage-collected.
      if (body.touched) return
      this.#watch.unwatch(held)
      body.fail(signal!.reason)
    }
    const contentLength = response.headers.get('content-length')
    const body = new TrackedBody(response.body!, {
      onSettle: (how, bytes) => {
        signal?.removeEventListener('abort', onAbort)
        this.#release(held, how, bytes)
      },
      // The header's text, not the response: the response may be the stand-in itself (see response.ts),
      // and a closure here that held it would keep it from the FinalizationRegistry.
      declaredLength: () => {
        const length = Number(contentLength ?? Number.NaN)
        return Number.isFinite(length) ? length : undefined
      },
    })
    const held = hold(flight, body)
    this.#held.add(held)
    signal?.addEventListener('abort', onAbort, { once: true })
    const standIn = this.#standIn(held, response)
    // Aborted after fetch resolved but before now: the listener will never fire.
    if (signal?.aborted) onAbort()
    this.#watch.start()
    // Requests already queued for this slot: the reclaim that ran when they queued could not see this body.
    // A macrotask from now, so that a caller who reads at once has touched it by then.
    if (this.#limiter.queued > 0) this.#reclaimer.schedule(performance.now())
    this.#changed() // settle() re-checks: a new untouched body may need reclaiming
    return standIn
  }

  /**
   * The caller's Response around the tracked body. A separate function on purpose: V8 gives all closures
   * of one scope a shared context, and `#track`'s closures (the settle hook, the abort listener) live as
   * long as the body is held, so a closure there that mentioned the stream would keep it reachable from
   * the held flights and the FinalizationRegistry could never see a dropped response collected.
   */
  #standIn(flight: HeldFlight, response: Response): Response {
    const watched: Watched = { flight, branch: flight.body.branch(), live: 0 }
    const standIn = standInResponse(response, watched, this.#standInBody)
    this.#watch.watch(standIn, watched)
    return standIn
  }

  /**
   * What a stand-in asks of its body, one object per pool: a stand-in's branch token is its `Watched`
   * (flight and branch), so no closure is made per response. Every stream is watched too: a caller may
   * keep only `res.body`.
   */
  readonly #standInBody: StandInBody<Watched> = {
    stream: (watched) => {
      const stream = watched.flight.body.stream(watched.branch)
      this.#watch.watch(stream, watched)
      return stream
    },
    used: ({ branch }) => branch.used,
    clone: ({ flight, branch }) => {
      const opened = flight.body.cloneStream(branch)
      const watched: Watched = { flight, branch: opened.branch, live: 0 }
      this.#watch.watch(opened.stream, watched)
      return { stream: opened.stream, branch: watched }
    },
    dispose: ({ flight, branch }) => {
      const reason = new DOMException('The response was disposed', 'AbortError')
      const { drainLimit, reclaimAfter } = this.options
      return flight.body.dispose(branch, drainLimit, performance.now() + reclaimAfter, reason)
    },
    failure: ({ flight }) => flight.body.failure,
    readAll: ({ flight, branch }, copy) => flight.body.readAll(branch, copy),
  }

  /** The one place a slot is given back: the body settled (or there was none). */
  #release(flight: Flight, how: SettleHow, bytes: number): void {
    flight.lease?.release()
    if (flight.body !== undefined) {
      const held = flight as HeldFlight
      this.#held.delete(held)
      if (held.body.touched) this.#watch.unwatch(held)
    }
    this.#events.tracer?.settled(flight, how, bytes, flight.status)
    this.#changed()
  }

  /** An origin's observed protocol changed (ProtocolBook): its limit follows, and queued requests may go. */
  protocolChanged(origin: string): void {
    this.#limiter.refreshLimit(origin)
  }

  /** Records a retry (ky is about to call fetch again for this request). */
  noteRetry(request: Request, retryCount: number, error: unknown): void {
    const tracer = this.#events.tracer
    if (tracer === undefined) return
    tracer.retry(
      new Flight(0, request.method, request.url, safeOrigin(request.url), undefined),
      retryCount,
      error,
    )
  }

  stats(): PoolStats {
    return this.#events.stats(this.#limiter, this.#slots, this.#pace)
  }

  /**
   * Resolves when nothing is in flight or queued. First reclaims every body nobody has touched (and
   * keeps doing so for responses that arrive meanwhile), then returns the leak reports gathered since
   * the last call; in strict mode it throws a `LeakError` with them instead. Every reclaim has a
   * deadline, so a trickling body cannot keep it waiting; a body its caller is reading can, until
   * `idleTimeout`.
   */
  async settle(): Promise<LeakReport[]> {
    // Cold (settle.ts): shutdown and tests call it, a request never does.
    return (await loadCold()).settlePool({
      held: this.#held,
      watch: this.#watch,
      reclaimer: this.#reclaimer,
      limiter: this.#limiter,
      pace: this.#pace,
      strict: this.options.leaks === 'strict',
      changed: () => new Promise<void>((resolve) => this.#onChange.push(resolve)),
      nextMacrotask,
    })
  }

  /** Wakes `settle()` whenever a slot is given back or a new body is held, so it can re-check. */
  #changed(): void {
    if (this.#onChange.length === 0) return
    const waiting = this.#onChange
    this.#onChange = []
    for (const resolve of waiting) resolve()
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

function declaredProtocols(options: ResolvedPoolOptions): Map<string, 'h1' | 'h2' | 'h3'> {
  const declared = new Map<string, 'h1' | 'h2' | 'h3'>()
  for (const [origin, set] of options.origins) {
    if (typeof set === 'object' && set.protocol !== undefined) declared.set(origin, set.protocol)
  }
  return declared
}

function safeOrigin(url: string): string {
  try {
    return originOf(url)
  } catch {
    return ''
  }
}
