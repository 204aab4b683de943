/**
 * `KyPoolLimits`, the Durable Object that keeps a shared limit for every Worker bound to it (issue 10).
 * The user exports it from their Worker and binds it (README, "Beyond one process"); the clients are
 * `durableObjectStore()` (store.ts). The rules of the book are in ledger.ts; this file gives it a clock
 * (the object's), a memory across restarts (storage) and an alarm.
 *
 * - **One session per Worker invocation.** `open()` returns a `LimitSession` (an `RpcTarget`): the calls
 *   made through it are one billed request, not one each, and when the invocation ends the Workers RPC
 *   system disposes its stubs, so `[Symbol.dispose]` gives back at once whatever the invocation still
 *   held or waited for. The lease TTL is the backstop for a disposal that never arrives.
 * - **Waiters are pending calls.** `acquire` answers at once when a permit is free, else its promise is
 *   kept and answered when one frees (a release, a disposal, an expiry): no polling. All calls to an
 *   object share one I/O context, so answering one call from another is allowed here (unlike between
 *   two invocations of a Worker).
 * - **Leases on the object's clock.** Every permit expires one TTL after it was granted or its holder last
 *   refreshed; a storage alarm set for the earliest expiry frees the ones whose holder stopped. The alarm
 *   is moved earlier when needed, never later: a refresh leaves it, it fires, frees nothing and re-arms.
 * - **Across restarts.** A granted lease is written before its answer leaves the object (the output gate
 *   holds the reply until the write is durable), and deleted when it ends; the token counter is written
 *   as a high-water mark every `TOKEN_BLOCK` grants. A restarted object reads both back: the leases live
 *   one TTL from the restart (their sessions are gone; their bodies may still stream), and tokens keep
 *   growing. Refreshes are not written: a restored lease is given a full TTL anyway, so a write per
 *   refresh would buy nothing. (Keeping the book only in memory would let a restart — eviction after
 *   idle, a deploy, a crash — hand out the whole limit again while the old holders still run.)
 */
import { DurableObject, RpcTarget } from 'cloudflare:workers'
import { type Holder, type KeyView, Ledger } from './ledger.ts'
import type { LimitsObjectState, LimitsStorage } from './platform.ts'

const LEASE = 'lease:'
const TOKENS = 'tokens:'
const leaseName = (key: string, token: number) => `${LEASE}${JSON.stringify([key, token])}`

/** A TTL the object accepts, whatever a client sends: 50 ms to 10 minutes. */
const clampTtl = (ttl: number) => Math.min(Math.max(Number.isFinite(ttl) ? ttl : 30_000, 50), 600_000)
/** At most this many permits in one answer (a client's `batch` is validated lower than this). */
const MAX_WANT = 1_000

/** A pause told to the object (`LimitSession.pause`), numbered in the order the object heard them. */
export type PauseNotice = [key: string, until: number, seq: number]

/** The pauses most recently told; older ones are over or superseded. */
const PAUSES_KEPT = 64

/**
 * Pauses told by any copy, for the sessions that watch them (`watchPauses`): in memory only — a pause
 * lasts seconds (a `Retry-After`), and one forgotten in a restart only means a copy may send once more
 * and hear the 429 itself.
 */
class PauseBoard {
  #notices: PauseNotice[] = []
  #seq = 0
  /** Pending watches: the answer, and the last notice its session has seen. */
  readonly #watchers = new Map<(notices: PauseNotice[]) => void, number>()

  tell(key: string, until: number): void {
    this.#notices.push([key, until, ++this.#seq])
    if (this.#notices.length > PAUSES_KEPT) this.#notices.shift()
    const now = Date.now()
    const watchers = [...this.#watchers]
    this.#watchers.clear()
    for (const [answer, seen] of watchers) answer(this.#after(seen, now))
  }

  /** Notices after `seq` still in force at `now`, or, when there are none, the next ones told. */
  watch(seq: number, now: number, answer: (notices: PauseNotice[]) => void): () => void {
    const due = this.#after(seq, now)
    if (due.length > 0) {
      answer(due)
      return () => {}
    }
    this.#watchers.set(answer, seq)
    return () => this.#watchers.delete(answer)
  }

  #after(seq: number, now: number): PauseNotice[] {
    return this.#notices.filter(([, until, told]) => told > seq && until > now)
  }
}

/** The book and what keeps it: storage and the alarm. Shared by the object and its sessions. */
class LimitBook {
  readonly ledger: Ledger
  readonly pauses = new PauseBoard()
  readonly #storage: LimitsStorage
  #alarmAt: number | undefined

  constructor(storage: LimitsStorage) {
    this.#storage = storage
    this.ledger = new Ledger({
      granted: (key, token, ttl, reserve) => {
        const entries: Record<string, unknown> = { [leaseName(key, token)]: ttl }
        if (reserve !== undefined) entries[`${TOKENS}${key}`] = reserve
        void this.#storage.put(entries)
      },
      // Unconfirmed: no answer waits for a delete. Safe, because a delete lost in a crash only brings back
      // a lease that then lives one TTL after the restart, which is what an unknown holder gets anyway.
      freed: (key, token) => void this.#storage.delete(leaseName(key, token), { allowUnconfirmed: true }),
    })
  }

  async restore(): Promise<void> {
    const now = Date.now()
    for (const [name, highWater] of await this.#storage.list<number>({ prefix: TOKENS })) {
      this.ledger.restoreTokens(name.slice(TOKENS.length), highWater)
    }
    for (const [name, ttl] of await this.#storage.list<number>({ prefix: LEASE })) {
      const [key, token] = JSON.parse(name.slice(LEASE.length)) as [string, number]
      this.ledger.restoreLease(key, token, ttl, now)
    }
    this.#alarmAt = (await this.#storage.getAlarm()) ?? undefined
    this.schedule()
  }

  /** Arms the alarm for the earliest lease expiry, if it is not armed for that or earlier already. */
  schedule(): void {
    const next = this.ledger.nextExpiry()
    if (next === undefined || (this.#alarmAt !== undefined && this.#alarmAt <= next)) return
    this.#alarmAt = next
    void this.#storage.setAlarm(next)
  }

  expire(): void {
    this.#alarmAt = undefined
    this.ledger.expire(Date.now())
    this.schedule()
  }
}

/** One Worker invocation's session with the object; see the file comment. */
export class LimitSession extends RpcTarget implements Holder {
  readonly ttl: number
  readonly #book: LimitBook
  #open = true
  /** Ends this session's pending `watchPauses` call, if any. */
  #unwatch: () => void = () => {}

  constructor(book: LimitBook, ttl: number) {
    super()
    this.#book = book
    this.ttl = ttl
  }

  /** Up to `want` permits of `key` under `limit`: tokens once at least one is free; [] if cancelled. */
  acquire(key: string, limit: number, want: number): Promise<number[]> {
    if (!this.#open) return Promise.resolve([])
    const max = Math.floor(limit)
    if (typeof key !== 'string' || !(max >= 1)) throw new TypeError('acquire(key, limit ≥ 1, want ≥ 1)')
    const wanted = Math.min(Math.max(Math.floor(want) || 1, 1), MAX_WANT)
    const answer = new Promise<number[]>((resolve) => {
      const tokens = this.#book.ledger.acquire(this, key, max, wanted, Date.now(), resolve)
      if (tokens !== undefined) resolve(tokens)
    })
    this.#book.schedule()
    return answer
  }

  release(key: string, tokens: number[]): void {
    this.#book.ledger.release(key, tokens, Date.now())
    this.#book.schedule()
  }

  /** Extends this session's leases by one TTL; answers how many it holds (also a liveness check). */
  refresh(): number {
    return this.#book.ledger.refresh(this, Date.now())
  }

  cancel(key: string): void {
    this.#book.ledger.cancel(this, key, Date.now())
    this.#book.schedule()
  }

  /** Tells every session watching pauses that `key` is paused until `until` (ms since the epoch). */
  pause(key: string, until: number): void {
    if (typeof key === 'string' && Number.isFinite(until)) this.#book.pauses.tell(key, until)
  }

  /**
   * The pauses told after notice `seq` and still in force, at once if there are any, else when the next
   * is told: a pending call, like a waiter. Answered with [] when the session ends or `unwatchPauses()`.
   */
  watchPauses(seq: number): Promise<PauseNotice[]> {
    if (!this.#open) return Promise.resolve([])
    return new Promise((resolve) => {
      this.#unwatch()
      const stop = this.#book.pauses.watch(seq, Date.now(), (notices) => {
        this.#unwatch = () => {}
        resolve(notices)
      })
      this.#unwatch = () => {
        stop()
        resolve([])
      }
    })
  }

  unwatchPauses(): void {
    this.#unwatch()
    this.#unwatch = () => {}
  }

  /** The invocation ended or disposed its stub: what it held comes back now, what it waited for ends. */
  [Symbol.dispose](): void {
    if (!this.#open) return
    this.#open = false
    this.unwatchPauses()
    this.#book.ledger.drop(this, Date.now())
    this.#book.schedule()
  }
}

/** The Durable Object class users export and bind; see the file comment and README. */
export class KyPoolLimits extends DurableObject {
  readonly #book: LimitBook

  constructor(ctx: unknown, env: unknown) {
    super(ctx, env)
    const state = ctx as LimitsObjectState
    this.#book = new LimitBook(state.storage)
    void state.blockConcurrencyWhile(() => this.#book.restore())
  }

  /** A session whose leases live `ttl` ms unless refreshed (clamped to 50 ms – 10 min). */
  open(ttl: number): LimitSession {
    return new LimitSession(this.#book, clampTtl(ttl))
  }

  /** Held and queued permits of a key, and its last token: for tests, dashboards and debugging. */
  inspect(key: string): KeyView {
    return this.#book.ledger.view(key)
  }

  /** The storage alarm: frees the leases whose time ran out, serves waiters, re-arms. */
  alarm(): void {
    this.#book.expire()
  }
}
