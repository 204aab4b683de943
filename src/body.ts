/**
 * The tracked body: the runtime's response body behind streams that stand in for it, which tells
 * exactly once when the underlying body settled (read to the end, cancelled, drained into memory, or
 * errored). It knows nothing of queues or slots; the pool decides what settling means.
 *
 * Each reader of the body is a **branch**: the response's own stream, and one more per `clone()`. A
 * chunk taken from the source is queued for every live branch, so a clone that nobody reads costs what
 * a runtime's `tee()` costs, but it does not read ahead: a branch's stream has highWaterMark 0 and
 * pulls only when its consumer reads. That is the point of doing the tee here. A runtime's tee pulls a
 * chunk the moment it is made, so ky's `afterResponse` hooks (ky clones the response for each hook)
 * made every response look read, and a forgotten one could never be reclaimed (issue 11).
 *
 * Until a consumer reads or cancels the last branch, the body is **untouched**, and the pool may drain
 * it into memory (the chunks wait in the branches' queues and are replayed) or cancel it.
 */
import type { SettleHow } from './lifecycle.ts'

export interface BodyHooks {
  /** Called once, when the underlying body settled. */
  onSettle: (how: SettleHow, bytes: number) => void
  /** The body's size as its response declared it, if it did; asked once, when first needed. */
  declaredLength: () => number | undefined
}

/**
 * How a drain ended: `settled` (the body ended or errored while the pool read it), `declined` (touched,
 * failed, larger than the limit, or not drainable), `late` (the deadline came first; the read goes on
 * in the background and its chunks stay queued for the caller).
 */
export type DrainResult = 'settled' | 'declined' | 'late'

/** One reader of the body. Holds no reference to its stream, so the stream can be garbage-collected. */
export class Branch {
  /** Chunks taken from the source that this branch has not read yet, in order; `head` is the next one. */
  queue: Uint8Array[] = []
  head = 0
  /** Reads the whole body through `readAll()`: its stream's cancel (which marks the Response used) is ignored. */
  direct = false
  /** Cancelled by its consumer, or dropped (garbage-collected): it takes no more chunks. */
  closed = false
  /** Its stream was read from or cancelled (it is disturbed: its response's `bodyUsed`). */
  used = false

  push(chunk: Uint8Array): void {
    this.queue.push(chunk)
  }

  shift(): Uint8Array | undefined {
    if (this.head >= this.queue.length) return undefined
    const chunk = this.queue[this.head]!
    this.queue[this.head++] = undefined as unknown as Uint8Array
    if (this.head === this.queue.length) this.clear()
    return chunk
  }

  clear(): void {
    this.queue = []
    this.head = 0
  }
}

export class TrackedBody {
  #declaredLength: number | undefined | null = null

  readonly #source: ReadableStream<Uint8Array>
  /**
   * Taken at the first read or cancel, not before: until then the runtime's body is unlocked, so that a
   * runtime that consumes a stand-in natively (returned from a server handler, `cache.put`) can; the
   * pool then finds the source locked by someone else and lets the body go (`takenNatively`).
   */
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  readonly #hooks: BodyHooks
  /** Branches still reading (not closed). */
  readonly #branches = new Set<Branch>()
  #bytes = 0
  /** A consumer has read from, or cancelled the last branch of, the body. */
  #consumerCame = false
  /** `dispose()` has begun: the caller is done with the body, even while its drain is still reading. */
  #disposed = false
  #settled = false
  #settledHow: SettleHow | undefined
  #sourceDone = false
  /** A drain stopped (too large, or too slow for its deadline); the pool does not try to drain it again. */
  #drainGaveUp = false
  /** Set when the pool cancelled or failed the body: a branch's next read (after its queued chunks) throws it. */
  #failure: unknown
  /** The one read of the source in progress: reads are serialized, so every branch gets chunks in order. */
  #pumping: Promise<void> | undefined
  #draining: Promise<DrainResult> | undefined
  /** `performance.now()` when the pending read of the source started; undefined when none is pending. */
  #waitingSince: number | undefined

  constructor(source: ReadableStream<Uint8Array>, hooks: BodyHooks) {
    this.#source = source
    this.#hooks = hooks
  }

  /**
   * A new branch and the stream that reads it (wrap it in a Response). The body keeps the branch, never
   * the stream, so the stream (and the Response around it) can be garbage-collected while it is held.
   * Chunks already taken from the source (by a drain, or read by another branch) are not replayed to a
   * branch opened later, as with `tee()`: open branches before reading.
   */
  openStream(): { stream: ReadableStream<Uint8Array>; branch: Branch } {
    const branch = this.branch()
    return { stream: this.stream(branch), branch }
  }

  /** A new branch, without a stream: `readAll` needs none (see `stream`). */
  branch(): Branch {
    const branch = new Branch()
    this.#branches.add(branch)
    return branch
  }

  /** The stream that reads `branch`: made when a caller first asks for `res.body`. */
  stream(branch: Branch): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.#pull(branch, controller),
        cancel: (reason) => (branch.direct ? undefined : this.#cancelBranch(branch, reason)),
      },
      { highWaterMark: 0 },
    )
  }

  /**
   * Whether the runtime took the body itself, past the stand-in (a server returned the response, or
   * `cache.put` stored it): its source is locked by a reader that is not ours. The pool then lets the
   * body go as read (see `touched`): ky-pool cannot see its end, and must not cancel what another reads.
   */
  get takenNatively(): boolean {
    return this.#reader === undefined && !this.#settled && this.#source.locked
  }

  /** Settles a body the runtime took (see `takenNatively`) as read. */
  #releaseTaken(): void {
    this.#consumerCame = true
    this.#settle('read')
  }

  /** Our reader of the source; undefined when the runtime took the source (see `takenNatively`). */
  #readerOrNone(): ReadableStreamDefaultReader<Uint8Array> | undefined {
    if (this.#reader === undefined && !this.#source.locked) this.#reader = this.#source.getReader()
    return this.#reader
  }

  /** Cancels the source, unless the runtime took it (its reader is not ours to cancel). */
  #cancelSource(reason: unknown): Promise<void> {
    return (
      this.#readerOrNone()
        ?.cancel(reason)
        .catch(() => {}) ?? Promise.resolve()
    )
  }

  /**
   * A branch opened for a clone, with the chunks `from` has not read yet, so the clone starts where its
   * original stands (what `Response.clone()` does with a tee).
   */
  cloneStream(from: Branch): { stream: ReadableStream<Uint8Array>; branch: Branch } {
    const opened = this.openStream()
    opened.branch.queue = from.queue.slice(from.head)
    return opened
  }

  /** The body's declared size (Content-Length: an encoded size, a hint only), asked on first use. */
  get declaredLength(): number | undefined {
    if (this.#declaredLength === null) this.#declaredLength = this.#hooks.declaredLength()
    return this.#declaredLength
  }

  /**
   * A consumer has read from, cancelled or disposed of the body, or the runtime took it (see
   * `takenNatively`; such a body is settled as read here, since every check of the pool's asks this first).
   */
  get touched(): boolean {
    if (this.#consumerCame || this.#disposed) return true
    if (!this.takenNatively) return false
    this.#releaseTaken()
    return true
  }

  /** The underlying body has settled; what it held can be given back. */
  get settled(): boolean {
    return this.#settled
  }

  /** The error the pool failed the body with (`fail()`, `dispose()`), which reads end with; undefined if none. */
  get failure(): unknown {
    return this.#failure
  }

  /** Bytes taken from the underlying body so far. */
  get bytes(): number {
    return this.#bytes
  }

  /** The bytes of the body still to come, as far as its declared length tells (undefined when it does not). */
  get remaining(): number | undefined {
    const declared = this.declaredLength
    return declared === undefined ? undefined : Math.max(0, declared - this.#bytes)
  }

  /** Since when a read of the source (a consumer's, or a drain's) has waited for the next chunk, or undefined. */
  get waitingSince(): number | undefined {
    return this.#waitingSince
  }

  /** Whether `drain(limit)` may take the body in: untouched, unsettled, not given up on, and not known to be larger than `limit`. */
  canDrain(limit: number): boolean {
    // `#consumerCame`, not `touched`: `dispose()` drains a body it has marked disposed.
    if (this.#consumerCame || this.#settled || this.#drainGaveUp) return false
    if (this.takenNatively) {
      this.#releaseTaken()
      return false
    }
    const remaining = this.remaining
    return remaining === undefined || remaining <= limit
  }

  /**
   * Reads the rest of an untouched body into memory (the branches' queues), so the runtime can reuse
   * what it held, unless more than `limit` bytes would be held or `deadline` (a `performance.now()`
   * time) comes first. One drain at a time: a second call gets the first one's result.
   */
  drain(limit: number, deadline: number): Promise<DrainResult> {
    if (this.#settled) return Promise.resolve('settled')
    if (this.#draining !== undefined) return this.#draining
    if (!this.canDrain(limit)) return Promise.resolve('declined')
    this.#draining = this.#drain(limit, deadline).finally(() => {
      this.#draining = undefined
    })
    return this.#draining
  }

  async #drain(limit: number, deadline: number): Promise<DrainResult> {
    for (;;) {
      const wait = deadline - performance.now()
      if (wait <= 0) return this.#gaveUp('late')
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = Number.isFinite(wait)
        ? new Promise<'late'>((resolve) => (timer = setTimeout(resolve, wait, 'late')))
        : undefined
      // A trickling source (an SSE heartbeat, a long poll) would otherwise keep a drain, and the slot it
      // frees, waiting for hours (issue 11): the deadline ends the wait, not the read.
      const read = this.#pump()
      const outcome = late === undefined ? await read : await Promise.race([read, late])
      clearTimeout(timer)
      if (outcome === 'late') return this.#gaveUp('late')
      // Ended or errored while it drained; settled by `fail()` or a cancel is not the drain's doing.
      if (this.#settled) {
        const byDrain = this.#settledHow === 'drained' || this.#settledHow === 'errored'
        return byDrain && !this.#consumerCame ? 'settled' : 'declined'
      }
      if (this.#bytes > limit) return this.#gaveUp('declined')
      if (this.#consumerCame) return 'declined' // a consumer came meanwhile: the rest is its to read
    }
  }

  #gaveUp(result: DrainResult): DrainResult {
    this.#drainGaveUp = true
    return result
  }

  /**
   * The caller is done with one branch (`await using`). With other branches live, that branch only is
   * closed. The last one takes the rest of the body in if it fits in `limit` before `deadline`, so the
   * connection can be reused, else cancels it. Either way nothing is kept for the caller.
   */
  async dispose(branch: Branch, limit: number, deadline: number, reason: unknown): Promise<void> {
    if (this.#closeBranch(branch)) return
    this.#disposed = true // from now on the pool neither reclaims it nor calls it a leak
    if (!this.#settled && !this.#consumerCame) await this.drain(limit, deadline)
    this.#consumerCame = true
    this.#dropQueues()
    if (this.#settled) return
    this.#failure = reason
    this.#settle('cancelled')
    await this.#cancelSource(reason)
  }

  /**
   * The pool gives up on the body: cancels the source, and each branch's next read (after any chunks
   * already queued for it) fails with `error`. Does nothing to a settled body.
   */
  fail(error: unknown): void {
    if (this.#settled) return
    this.#failure = error
    void this.#cancelSource(error)
    this.#settle(this.touched ? 'errored' : 'cancelled')
  }

  /** A branch's stream was garbage-collected. Returns whether a live branch is left. */
  dropBranch(branch: Branch): boolean {
    this.#closeBranch(branch)
    return this.#branches.size > 0
  }

  /**
   * The consumer of `branch` reads the whole body at once (`text()`, `json()`, … on an untouched
   * stand-in): the chunks come straight from here, not through the branch's stream, whose cancellation
   * is ignored from now on (the stand-in cancels its stream to mark itself used). Ends as reading the
   * stream to its end would. With `copy`, the bytes are always in a buffer of their own; without, a body
   * of one chunk is that chunk, which its producer may still hold (enough for decoding it).
   */
  async readAll(branch: Branch, copy: boolean): Promise<Uint8Array<ArrayBuffer>> {
    this.#consumerCame = true
    branch.direct = true
    const chunks: Uint8Array[] = []
    let length = 0
    for (;;) {
      const chunk = await this.#next(branch)
      if (chunk === undefined) break
      chunks.push(chunk)
      length += chunk.byteLength
    }
    if (chunks.length === 1 && !copy) return chunks[0] as Uint8Array<ArrayBuffer>
    const bytes = new Uint8Array(length)
    let offset = 0
    for (const chunk of chunks) {
      bytes.set(chunk, offset)
      offset += chunk.byteLength
    }
    return bytes
  }

  async #pull(branch: Branch, controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    this.#consumerCame = true
    branch.used = true
    let chunk: Uint8Array | undefined
    try {
      chunk = await this.#next(branch)
    } catch (error) {
      return controller.error(error)
    }
    if (chunk === undefined) controller.close()
    else controller.enqueue(chunk)
  }

  /**
   * The branch's next chunk: a queued one, else the next from the source (waiting for a drain's or
   * another branch's read in progress); undefined at the end, thrown when the source errored or the
   * pool failed the body.
   */
  async #next(branch: Branch): Promise<Uint8Array | undefined> {
    for (;;) {
      const queued = branch.shift()
      if (queued !== undefined) return queued
      if (this.#failure !== undefined) throw this.#failure
      if (this.#sourceDone) return undefined
      await this.#pump()
      if (this.#settled && !this.#sourceDone && this.#failure === undefined) return undefined
    }
  }

  /** Reads one chunk from the source into every live branch's queue; one read at a time. */
  #pump(): Promise<void> {
    // No `.finally()` to clear it: that made two more promises per chunk; `#readSource` clears it itself.
    this.#pumping ??= this.#readSource()
    return this.#pumping
  }

  async #readSource(): Promise<void> {
    let result: ReadableStreamReadResult<Uint8Array>
    this.#waitingSince = performance.now()
    try {
      const reader = this.#readerOrNone()
      if (reader === undefined) throw new TypeError('The response body was consumed by the runtime')
      result = await reader.read()
    } catch (error) {
      if (this.#settled) return // `fail()` got there first; its error stands
      this.#failure = error
      this.#settle('errored')
      return
    } finally {
      this.#waitingSince = undefined
      this.#pumping = undefined // set before this runs: the read above always waits
    }
    if (this.#settled) return // `fail()` or a cancel while the read was pending: the cancel ends it as done
    if (result.done) {
      this.#sourceDone = true
      this.#settle(this.#consumerCame ? 'read' : 'drained')
      return
    }
    this.#bytes += result.value.byteLength
    for (const branch of this.#branches) branch.push(result.value)
  }

  /** Closes a branch; returns true when other branches are still live (so the body goes on). */
  #closeBranch(branch: Branch): boolean {
    if (!branch.closed) {
      branch.closed = true
      branch.clear()
      this.#branches.delete(branch)
    }
    return this.#branches.size > 0
  }

  async #cancelBranch(branch: Branch, reason: unknown): Promise<void> {
    branch.used = true
    // Cancelling one clone (ky cancels the one it gave an afterResponse hook) is not the body's end.
    if (this.#closeBranch(branch)) return
    this.#consumerCame = true
    if (this.#settled) return
    // No waiting for a read in progress: it may wait on a source that stalled (until idleTimeout).
    // Cancelling the source ends that read at once, and the drain finds the body settled.
    this.#settle('cancelled')
    await this.#cancelSource(reason)
  }

  /** Forgets every queued chunk: nobody will read them. */
  #dropQueues(): void {
    for (const branch of this.#branches) branch.clear()
  }

  #settle(how: SettleHow): void {
    if (this.#settled) return
    this.#settled = true
    this.#settledHow = how
    this.#hooks.onSettle(how, this.#bytes)
  }
}
