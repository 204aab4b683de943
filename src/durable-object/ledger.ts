/**
 * The Durable Object's book of a shared limit (issue 10): who holds which permit of which key until
 * when, and who waits. Pure and synchronous — no storage, no timers, no Workers API — so that
 * object.ts only wires it to the object's storage and alarm, and the rules can be tested in Node.
 *
 * Rules, in one place (`#promote`, the only code that hands out a permit to a waiter):
 * - a key never has more permits held than the limit of the caller being served;
 * - waiters are served FIFO per key (a copy's own priorities are applied by the client, which asks
 *   for the permits of its highest-priority waiters first);
 * - a waiter asks for up to `want` permits and is answered as soon as at least one is free, with as
 *   many as are free (up to `want`): batching never makes a waiter wait for a whole batch;
 * - a permit is a lease: it is gone at `expiresAt` unless its holder refreshed it; tokens grow per
 *   key and are never handed out twice (`reserveTokens` lets the object persist them in blocks).
 */

/** The holder of leases and waiters: one session, i.e. one Workers invocation talking to the object. */
export interface Holder {
  /** Lease time to live in ms, on the object's clock. */
  readonly ttl: number
}

interface Lease {
  readonly token: number
  /** Undefined for a lease restored from storage after a restart: no session can refresh it. */
  readonly holder: Holder | undefined
  expiresAt: number
}

interface Waiter {
  readonly holder: Holder
  readonly limit: number
  readonly want: number
  /** Answers the pending call: with the tokens granted, or with none when the wait was cancelled. */
  readonly answer: (tokens: number[]) => void
}

class KeyBook {
  readonly leases = new Map<number, Lease>()
  /** FIFO; a waiter leaves it when answered or cancelled. */
  waiters: Waiter[] = []
  /** The next token to hand out. */
  next: number
  constructor(next: number) {
    this.next = next
  }
}

/** What the object must make durable: called synchronously as the book changes. */
export interface LedgerEvents {
  /** A permit was handed out (persist the lease and, if `reserve` is set, the new token high-water mark). */
  granted(key: string, token: number, ttl: number, reserve: number | undefined): void
  /** A lease ended: released, expired, or its holder went away (delete it). */
  freed(key: string, token: number): void
}

/** Tokens are persisted as a high-water mark this far ahead, so one write covers this many grants. */
export const TOKEN_BLOCK = 1024

export interface KeyView {
  held: number
  queued: number
  /** The last token handed out (0 before the first). */
  token: number
}

export class Ledger {
  readonly #books = new Map<string, KeyBook>()
  /** Per key: the token up to which the stored high-water mark already covers. */
  readonly #reserved = new Map<string, number>()
  readonly #events: LedgerEvents

  constructor(events: LedgerEvents) {
    this.#events = events
  }

  /** After a restart: the stored high-water mark of a key's tokens. */
  restoreTokens(key: string, highWater: number): void {
    const book = this.#book(key)
    book.next = Math.max(book.next, highWater)
    this.#reserved.set(key, Math.max(this.#reserved.get(key) ?? 0, highWater))
  }

  /**
   * After a restart: a lease found in storage. Its holder's session is gone with the restart, but the
   * holder may still be using the permit (a body still streaming): it lives one full TTL from `now`,
   * as if refreshed at the last moment before the restart.
   */
  restoreLease(key: string, token: number, ttl: number, now: number): void {
    const book = this.#book(key)
    book.leases.set(token, { token, holder: undefined, expiresAt: now + ttl })
    book.next = Math.max(book.next, token + 1)
  }

  /**
   * Up to `want` permits of `key` for `holder`: the tokens at once when some are free and nobody
   * waits before it, else undefined and `answer` is called later (with tokens, or [] if cancelled).
   */
  acquire(
    holder: Holder,
    key: string,
    limit: number,
    want: number,
    now: number,
    answer: (tokens: number[]) => void,
  ): number[] | undefined {
    const book = this.#book(key)
    if (book.waiters.length === 0 && book.leases.size < limit) {
      return this.#grant(book, key, holder, Math.min(want, limit - book.leases.size), now)
    }
    book.waiters.push({ holder, limit, want, answer })
    return undefined
  }

  /** Ends the leases with these tokens (whoever holds them: a token is never reused). */
  release(key: string, tokens: readonly number[], now: number): void {
    const book = this.#books.get(key)
    if (book === undefined) return
    let freed = false
    for (const token of tokens) freed = this.#free(book, key, token) || freed
    if (freed) this.#promote(book, key, now)
  }

  /** Extends every lease of `holder` to one TTL from `now`; returns how many it holds. */
  refresh(holder: Holder, now: number): number {
    let held = 0
    for (const book of this.#books.values()) {
      for (const lease of book.leases.values()) {
        if (lease.holder !== holder) continue
        lease.expiresAt = now + holder.ttl
        held++
      }
    }
    return held
  }

  /** Answers `holder`'s pending waits for `key` with no permit. */
  cancel(holder: Holder, key: string, now: number): void {
    const book = this.#books.get(key)
    if (book === undefined) return
    const left = book.waiters.filter((waiter) => waiter.holder === holder)
    if (left.length === 0) return
    book.waiters = book.waiters.filter((waiter) => waiter.holder !== holder)
    for (const waiter of left) waiter.answer([])
    this.#promote(book, key, now)
  }

  /** The holder is gone (its session was disposed): its leases end and its waits are cancelled. */
  drop(holder: Holder, now: number): void {
    for (const [key, book] of this.#books) {
      let changed = false
      for (const lease of [...book.leases.values()]) {
        if (lease.holder === holder) changed = this.#free(book, key, lease.token) || changed
      }
      const left = book.waiters.filter((waiter) => waiter.holder === holder)
      if (left.length > 0) {
        book.waiters = book.waiters.filter((waiter) => waiter.holder !== holder)
        for (const waiter of left) waiter.answer([])
        changed = true
      }
      if (changed) this.#promote(book, key, now)
    }
  }

  /** Ends every lease whose time ran out by `now`; returns how many. */
  expire(now: number): number {
    let expired = 0
    for (const [key, book] of this.#books) {
      let freed = false
      for (const lease of [...book.leases.values()]) {
        if (lease.expiresAt > now) continue
        this.#free(book, key, lease.token)
        freed = true
        expired++
      }
      if (freed) this.#promote(book, key, now)
    }
    return expired
  }

  /** The earliest lease expiry, or undefined when nothing is held. */
  nextExpiry(): number | undefined {
    let next: number | undefined
    for (const book of this.#books.values()) {
      for (const lease of book.leases.values()) {
        if (next === undefined || lease.expiresAt < next) next = lease.expiresAt
      }
    }
    return next
  }

  view(key: string): KeyView {
    const book = this.#books.get(key)
    return {
      held: book?.leases.size ?? 0,
      queued: book?.waiters.length ?? 0,
      token: (book?.next ?? 1) - 1,
    }
  }

  keys(): string[] {
    return [...this.#books.keys()]
  }

  #book(key: string): KeyBook {
    let book = this.#books.get(key)
    if (book === undefined) {
      book = new KeyBook(1)
      this.#books.set(key, book)
    }
    return book
  }

  #grant(book: KeyBook, key: string, holder: Holder, count: number, now: number): number[] {
    const tokens: number[] = []
    for (let i = 0; i < count; i++) {
      const token = book.next++
      book.leases.set(token, { token, holder, expiresAt: now + holder.ttl })
      let reserve: number | undefined
      if (token >= (this.#reserved.get(key) ?? 0)) {
        reserve = token + TOKEN_BLOCK
        this.#reserved.set(key, reserve)
      }
      this.#events.granted(key, token, holder.ttl, reserve)
      tokens.push(token)
    }
    return tokens
  }

  #free(book: KeyBook, key: string, token: number): boolean {
    if (!book.leases.delete(token)) return false
    this.#events.freed(key, token)
    return true
  }

  /** The only place a waiter is served: FIFO, while the head's own limit leaves room. */
  #promote(book: KeyBook, key: string, now: number): void {
    while (book.waiters.length > 0) {
      const head = book.waiters[0]!
      const room = head.limit - book.leases.size
      if (room <= 0) return
      book.waiters.shift()
      head.answer(this.#grant(book, key, head.holder, Math.min(head.want, room), now))
    }
  }
}
