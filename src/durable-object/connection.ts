/**
 * One Workers invocation's dealings with one `KyPoolLimits` object (store.ts makes them, one per
 * invocation and object): its session, the local queue of its waiters per key, the permits it holds, the
 * timer that refreshes their leases and checks the object is alive, and the watch of pauses. Nothing here
 * is shared between invocations (src/invocations.ts says why).
 */

import { keepAliveUntil } from '../invocations.ts'
import type { SharedAcquireOptions, SharedPermit } from '../limit-store.ts'
import { StoreUnreachable } from '../limit-store.ts'
import type { LimitSessionStub, LimitsNamespace, LimitsObjectStub } from './platform.ts'

export const ENGINE = 'durable-object'

export type PauseListener = (key: string, until: number) => void

/** The store's options, checked. */
export interface Settings {
  ttl: number
  refreshEvery: number
  timeout: number
  batch: number
  objectName: (key: string) => string
}

/** `promise`, or a StoreUnreachable if it does not settle within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, doing: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreUnreachable(ENGINE, `no answer within ${ms} ms to ${doing}`)),
      ms,
    )
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** Whether Cloudflare says a failed call may succeed if made again (and the object is not overloaded). */
const retryable = (error: unknown) => {
  const flags = error as { retryable?: unknown; overloaded?: unknown } | undefined
  return flags?.retryable === true && flags.overloaded !== true
}

const unreachable = (error: unknown, doing: string) =>
  error instanceof StoreUnreachable
    ? error
    : new StoreUnreachable(ENGINE, `${doing} failed: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      })

class Waiter {
  readonly priority: number
  readonly resolve: (permit: SharedPermit) => void
  readonly reject: (reason: unknown) => void
  readonly signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  constructor(
    priority: number,
    resolve: (permit: SharedPermit) => void,
    reject: (reason: unknown) => void,
    signal: AbortSignal | undefined,
  ) {
    this.priority = priority
    this.resolve = resolve
    this.reject = reject
    this.signal = signal
  }
  /** Leaves the signal: the waiter was answered. */
  settle(): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort)
    this.onAbort = undefined
  }
}

/** One key's local queue in one invocation. */
class LocalKey {
  /** Highest priority first, FIFO within one. */
  readonly waiters: Waiter[] = []
  /** Permits asked of the object and not answered yet. */
  asked = 0
  limit = 1
  pumpQueued = false
}

class Permit implements SharedPermit {
  readonly token: number
  #release: (() => void) | undefined
  constructor(token: number, release: () => void) {
    this.token = token
    this.#release = release
  }
  release(): void {
    const release = this.#release
    this.#release = undefined
    release?.()
  }
}

/** One invocation's dealings with one object: its session, local queues, held permits and timer. */
export class Connection {
  readonly #namespace: LimitsNamespace
  readonly #name: string
  readonly #settings: Settings
  #session: Promise<LimitSessionStub> | undefined
  readonly #keys = new Map<string, LocalKey>()
  #held = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Releases not yet sent, per key: sent together once per microtask. */
  #releases = new Map<string, number[]>()
  #closed = false
  /** This invocation's pause listeners, once it listens through this object; the watch of its pauses. */
  #listeners: Set<PauseListener> | undefined
  #watching = false
  #pauseSeq = 0

  constructor(namespace: LimitsNamespace, name: string, settings: Settings) {
    this.#namespace = namespace
    this.#name = name
    this.#settings = settings
  }

  pause(key: string, until: number): void {
    const session = this.#open()
    keepAliveUntil(session.then((open) => open.pause(key, until)).catch(() => {}))
  }

  /**
   * While this invocation has pause listeners: one pending `watchPauses` call to the object, answered
   * when a pause is told (a wake-up, like a waiter's), then the next. Stops when the listeners are gone,
   * the session ends or fails.
   */
  watchPauses(listeners = this.#listeners): void {
    this.#listeners = listeners
    if (this.#watching || this.#closed || listeners === undefined || listeners.size === 0) return
    this.#watching = true
    const session = this.#open()
    session
      .then((open) => open.watchPauses(this.#pauseSeq))
      .then(
        (notices) => {
          this.#watching = false
          const told = notices.map(([key, until, seq]) => [key, until, seq] as const)
          ;(notices as Partial<Disposable>)[Symbol.dispose]?.()
          for (const [key, until, seq] of told) {
            this.#pauseSeq = Math.max(this.#pauseSeq, seq)
            for (const listener of [...listeners]) listener(key, until)
          }
          if (this.#session === session) this.watchPauses()
        },
        () => {
          this.#watching = false
        },
      )
  }

  unwatchPauses(): void {
    if (this.#watching) this.#send((session) => session.unwatchPauses())
  }

  acquire(key: string, limit: number, options: SharedAcquireOptions = {}): Promise<SharedPermit> {
    const { signal, priority = 0 } = options
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#closed) return Promise.reject(new StoreUnreachable(ENGINE, 'the store was closed'))
    const local = this.#local(key)
    local.limit = limit
    let waiter!: Waiter
    const promise = new Promise<SharedPermit>((resolve, reject) => {
      waiter = new Waiter(priority, resolve, reject, signal)
    })
    let index = local.waiters.length
    while (index > 0 && local.waiters[index - 1]!.priority < priority) index--
    local.waiters.splice(index, 0, waiter)
    if (signal !== undefined) {
      waiter.onAbort = () => this.#abort(key, local, waiter)
      signal.addEventListener('abort', waiter.onAbort, { once: true })
    }
    this.#schedulePump(key, local)
    return promise
  }

  close(): void {
    this.#closed = true
    this.#failAll(new StoreUnreachable(ENGINE, 'the store was closed'))
    this.#flushReleases()
    this.#stopTimer()
    void this.#session?.then(
      (session) => session[Symbol.dispose](),
      () => {},
    )
    this.#session = undefined
  }

  #local(key: string): LocalKey {
    let local = this.#keys.get(key)
    if (local === undefined) {
      local = new LocalKey()
      this.#keys.set(key, local)
    }
    return local
  }

  #schedulePump(key: string, local: LocalKey): void {
    if (local.pumpQueued) return
    local.pumpQueued = true
    queueMicrotask(() => {
      local.pumpQueued = false
      this.#pump(key, local)
    })
  }

  /**
   * Asks the object for the permits of the waiters nobody asked for yet, `batch` per call. With `batch`
   * above 1, one call per key is out at a time: the waiters that come while it is out are asked for
   * together when it answers (a request's permit is taken after its local slot, so a burst's acquires
   * arrive over a few ms, not in one microtask; measured in bench/shared-limits.ts).
   */
  #pump(key: string, local: LocalKey): void {
    if (this.#settings.batch > 1 && local.asked > 0) return
    let wanted = local.waiters.length - local.asked
    while (wanted > 0) {
      const want = Math.min(wanted, this.#settings.batch)
      wanted -= want
      local.asked += want
      this.#ask(key, local, want)
    }
  }

  /**
   * One call for `want` permits. A failure Cloudflare marks `retryable` (the object was reset: a deploy,
   * a move) is retried once on a new session, as its docs advise; otherwise, or again, the call's
   * waiters get a StoreUnreachable (an overloaded object is not retried: that would add to its load).
   */
  #ask(key: string, local: LocalKey, want: number, retried = false): void {
    this.#armTimer()
    const session = this.#open()
    session
      .then((open) => open.acquire(key, local.limit, want))
      .then(
        (tokens) => {
          // Every object an RPC returns carries a disposer, which the Workers RPC docs ask callers to call
          // rather than leave to the garbage collector; the numbers are copied out first.
          const granted = [...tokens]
          ;(tokens as Partial<Disposable>)[Symbol.dispose]?.()
          local.asked -= want
          this.#deliver(key, local, granted)
          this.#pump(key, local)
        },
        (error: unknown) => {
          this.#forgetSession(session)
          if (!retried && !this.#closed && retryable(error)) return this.#ask(key, local, want, true)
          local.asked -= want
          for (const waiter of local.waiters.splice(0, want)) {
            waiter.settle()
            waiter.reject(unreachable(error, 'acquire'))
          }
        },
      )
  }

  /** Gives granted tokens to the first waiters; tokens nobody waits for any more go back at once. */
  #deliver(key: string, local: LocalKey, tokens: readonly number[]): void {
    for (const token of tokens) {
      const waiter = local.waiters.shift()
      if (waiter === undefined || this.#closed) {
        this.#queueRelease(key, token)
        continue
      }
      waiter.settle()
      this.#held++
      waiter.resolve(new Permit(token, () => this.#release(key, token)))
    }
    this.#cancelIfNobodyWaits(key, local)
  }

  #abort(key: string, local: LocalKey, waiter: Waiter): void {
    const index = local.waiters.indexOf(waiter)
    if (index === -1) return
    local.waiters.splice(index, 1)
    waiter.onAbort = undefined
    waiter.reject(waiter.signal!.reason)
    this.#cancelIfNobodyWaits(key, local)
  }

  /** The object still has calls of ours pending but nobody here waits: it answers them with nothing. */
  #cancelIfNobodyWaits(key: string, local: LocalKey): void {
    if (local.waiters.length > 0 || local.asked === 0) return
    this.#send((session) => session.cancel(key))
  }

  #release(key: string, token: number): void {
    this.#held--
    this.#queueRelease(key, token)
  }

  #queueRelease(key: string, token: number): void {
    const tokens = this.#releases.get(key)
    if (tokens !== undefined) {
      tokens.push(token)
      return
    }
    this.#releases.set(key, [token])
    if (this.#releases.size === 1) queueMicrotask(() => this.#flushReleases())
  }

  #flushReleases(): void {
    const releases = this.#releases
    if (releases.size === 0) return
    this.#releases = new Map()
    for (const [key, tokens] of releases) this.#send((session) => session.release(key, tokens))
    if (this.#held === 0 && !this.#asking()) this.#stopTimer()
  }

  /**
   * A call that needs no answer, through the open session only: a session that is gone took its leases
   * and waits with it (disposal), or they end with their TTL. Kept alive past the response (waitUntil).
   */
  #send(call: (session: LimitSessionStub) => Promise<unknown>): void {
    const session = this.#session
    if (session === undefined) return
    keepAliveUntil(session.then(call).catch(() => {}))
  }

  #open(): Promise<LimitSessionStub> {
    if (this.#session === undefined) {
      const stub = this.#namespace.get(this.#namespace.idFromName(this.#name) as never) as LimitsObjectStub
      const session = withTimeout(
        Promise.resolve(stub.open(this.#settings.ttl)),
        this.#settings.timeout,
        'open a session',
      )
      this.#session = session
      session.catch(() => {
        if (this.#session === session) this.#session = undefined
      })
      // A new session may be a restarted object, whose notices are numbered from 1 again.
      this.#pauseSeq = 0
      queueMicrotask(() => this.watchPauses())
    }
    return this.#session
  }

  #asking(): boolean {
    for (const local of this.#keys.values()) if (local.asked > 0 || local.waiters.length > 0) return true
    return false
  }

  #armTimer(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => this.#tick(), this.#settings.refreshEvery)
  }

  #stopTimer(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Every `refreshEvery` while holding or asking: refresh the leases; no answer in `timeout` = lost. */
  #tick(): void {
    this.#timer = undefined
    const session = this.#session
    if (session === undefined || (this.#held === 0 && !this.#asking())) return
    this.#armTimer()
    withTimeout(
      session.then((open) => open.refresh()),
      this.#settings.timeout,
      'refresh its leases',
    ).catch((error) => {
      if (this.#session !== session) return
      this.#forgetSession(session)
      this.#failAll(unreachable(error, 'refresh'))
    })
  }

  /** `session` failed: forget it, if it is still the open one (the next call opens another), and let the object drop it. */
  #forgetSession(session = this.#session): void {
    if (session === undefined || session !== this.#session) return
    this.#session = undefined
    void session.then(
      (open) => open[Symbol.dispose](),
      () => {},
    )
  }

  #failAll(reason: unknown): void {
    for (const local of this.#keys.values()) {
      for (const waiter of local.waiters.splice(0)) {
        waiter.settle()
        waiter.reject(reason)
      }
    }
    if (this.#held === 0) this.#stopTimer()
  }
}
