/**
 * The tracked body: a stream that stands in for a response body and tells, exactly once, when the
 * underlying body settled (read to the end, cancelled, drained into memory, or errored). It knows
 * nothing of queues or slots; the pool decides what settling means.
 *
 * The stand-in has highWaterMark 0, so it never reads ahead: until the caller reads or cancels, the
 * body is "untouched" and the pool may take it in (drain) or cancel it to free the connection.
 */

/** How a body settled. 'drained' means the pool read it into memory; it stays readable. */
export type SettleHow = 'read' | 'cancelled' | 'drained' | 'errored'

export interface BodyHooks {
  /** Called once, when the underlying body settled. */
  onSettle: (how: SettleHow, bytes: number) => void
  /** The body's size as its response declared it, if it did; asked once, when first needed. */
  declaredLength: () => number | undefined
}

export class TrackedBody {
  #declaredLength: number | undefined | null = null

  readonly #reader: ReadableStreamDefaultReader<Uint8Array>
  readonly #hooks: BodyHooks
  /** Chunks the pool drained and the caller has not read yet, in order; `#head` is the next one. */
  #buffer: Uint8Array[] = []
  #head = 0
  #bufferedBytes = 0
  #bytes = 0
  #touched = false
  /** `dispose()` has begun: the caller is done with the body, even while its drain is still reading. */
  #disposed = false
  #settled = false
  #sourceDone = false
  /** The caller reads the whole body through `readAll()`, not through the stream. */
  #direct = false
  /** A drain stopped because the body was larger than its limit; it will not be tried again. */
  #overflowed = false
  /** Set when the pool cancelled or failed the body: the caller's next read (after buffered chunks) throws it. */
  #failure: unknown
  #draining: Promise<boolean> | undefined
  /** `performance.now()` when the caller's pending read started waiting on the source; undefined when none is. */
  #waitingSince: number | undefined

  constructor(source: ReadableStream<Uint8Array>, hooks: BodyHooks) {
    this.#reader = source.getReader()
    this.#hooks = hooks
  }

  /**
   * The stream the caller reads (wrap it in a Response). Call once. The tracked body keeps no reference
   * to it, so the stream (and the Response around it) can be garbage-collected while the body is held.
   */
  openStream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.#pull(controller),
        cancel: (reason) => (this.#direct ? undefined : this.#callerCancel(reason)),
      },
      { highWaterMark: 0 },
    )
  }

  /**
   * The body's declared size (Content-Length: an encoded size, a hint only), asked on first use: only a
   * body the pool may take in needs it.
   */
  get declaredLength(): number | undefined {
    if (this.#declaredLength === null) this.#declaredLength = this.#hooks.declaredLength()
    return this.#declaredLength
  }

  /** The caller has read from, cancelled or disposed of the body. */
  get touched(): boolean {
    return this.#touched || this.#disposed
  }

  /** The underlying body has settled; the slot it held can be given back. */
  get settled(): boolean {
    return this.#settled
  }

  /** The error the pool failed the body with (`fail()`, `dispose()`), which the caller's reads end with; undefined if none. */
  get failure(): unknown {
    return this.#failure
  }

  /** Bytes taken from the underlying body so far. */
  get bytes(): number {
    return this.#bytes
  }

  /** Since when a read of the underlying body (the caller's, or a drain's) has waited for the next chunk, or undefined. */
  get waitingSince(): number | undefined {
    return this.#waitingSince
  }

  /** Whether `drain(limit)` may take the body in: untouched, unsettled, and not known to be larger than `limit`. */
  canDrain(limit: number): boolean {
    if (this.#touched || this.#settled || this.#overflowed) return false
    return this.declaredLength === undefined || this.declaredLength - this.#bytes <= limit
  }

  /**
   * Reads the rest of an untouched body into memory, so the runtime can reuse its connection, unless
   * more than `limit` bytes would be held. Resolves true when the drain settled the body ('drained' or
   * 'errored'); false when it is touched, too large (the chunks read so far stay buffered and are
   * replayed to the caller), failed meanwhile (`fail()`), or a drain is not possible.
   */
  drain(limit: number): Promise<boolean> {
    if (this.#settled) return Promise.resolve(true)
    if (this.#touched) return Promise.resolve(false)
    if (this.#draining !== undefined) return this.#draining
    if (!this.canDrain(limit)) return Promise.resolve(false)
    this.#draining = this.#drain(limit).finally(() => {
      this.#draining = undefined
    })
    return this.#draining
  }

  async #drain(limit: number): Promise<boolean> {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>
      // The idle watchdog sees a stalled drain too: a small body that stops arriving would otherwise hold
      // its slot forever, and hang the caller's read, which waits for the drain.
      this.#waitingSince = performance.now()
      try {
        result = await this.#reader.read()
      } catch (error) {
        if (this.#settled) return false // `fail()` got there first; its error stands
        this.#failure = error
        this.#settle('errored')
        return true
      } finally {
        this.#waitingSince = undefined
      }
      if (this.#settled) return false // `fail()` while the read was pending: settled, but not by this drain
      if (result.done) {
        this.#sourceDone = true
        this.#settle('drained')
        return true
      }
      this.#buffer.push(result.value)
      this.#bufferedBytes += result.value.byteLength
      this.#bytes += result.value.byteLength
      if (this.#bufferedBytes > limit) {
        this.#overflowed = true
        return false
      }
      if (this.#touched || this.#settled) return false // the caller came, or `fail()` settled it meanwhile
    }
  }

  /**
   * The caller is done with the body (`await using`): the rest is taken in if it fits in `limit`, so the
   * connection can be reused, else the body is cancelled. Either way nothing is kept for the caller.
   */
  async dispose(limit: number, reason: unknown): Promise<void> {
    this.#disposed = true // from now on the pool neither reclaims it nor calls it a leak
    if (!this.#settled && !this.#touched) await this.drain(limit)
    this.#touched = true
    this.#dropBuffer()
    if (this.#settled) return
    this.#failure = reason
    this.#settle('cancelled')
    await this.#reader.cancel(reason).catch(() => {})
  }

  /**
   * The pool gives up on the body: cancels the underlying stream, and the caller's next read (after
   * any chunks already drained) fails with `error`. Does nothing to a settled body.
   */
  fail(error: unknown): void {
    if (this.#settled) return
    this.#failure = error
    this.#reader.cancel(error).catch(() => {})
    this.#settle(this.#touched ? 'errored' : 'cancelled')
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    this.#touched = true
    if (this.#draining !== undefined) await this.#draining
    if (this.#head < this.#buffer.length) {
      const chunk = this.#buffer[this.#head]!
      this.#buffer[this.#head++] = undefined as unknown as Uint8Array
      this.#bufferedBytes -= chunk.byteLength
      if (this.#head === this.#buffer.length) {
        this.#buffer = []
        this.#head = 0
      }
      controller.enqueue(chunk)
      return
    }
    let chunk: Uint8Array | undefined
    try {
      chunk = await this.#next()
    } catch (error) {
      return controller.error(error)
    }
    if (chunk === undefined) controller.close()
    else controller.enqueue(chunk)
  }

  /**
   * The caller reads the whole body at once (`text()`, `json()`, … on an untouched stand-in): the chunks
   * come straight from the source, not through the stand-in stream, whose cancellation is ignored from
   * now on (the stand-in cancels its stream to mark itself used). Ends as reading the stream to its end
   * would: settled 'read' with every byte, or rejected with the error such a read would have ended with.
   * With `copy`, the bytes are always in a buffer of their own; without, a body of one chunk is that
   * chunk, which its producer may still hold (enough for decoding it).
   */
  async readAll(copy: boolean): Promise<Uint8Array<ArrayBuffer>> {
    this.#touched = true
    this.#direct = true
    if (this.#draining !== undefined) await this.#draining
    let chunks: Uint8Array[] = []
    let length = 0
    if (this.#head < this.#buffer.length) {
      chunks = this.#buffer.slice(this.#head)
      length = this.#bufferedBytes
      this.#dropBuffer()
    }
    for (;;) {
      const chunk = await this.#next()
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

  /**
   * The caller's next chunk from the source, once the drained ones are used up: undefined at the end,
   * thrown when the source errors or the pool failed the body.
   */
  async #next(): Promise<Uint8Array | undefined> {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#sourceDone) return undefined
    let result: ReadableStreamReadResult<Uint8Array>
    this.#waitingSince = performance.now()
    try {
      result = await this.#reader.read()
    } catch (error) {
      this.#settle('errored')
      throw this.#failure ?? error
    } finally {
      this.#waitingSince = undefined
    }
    // `fail()` while a read was pending: the cancel ends the read as done, but the body did not end.
    if (this.#failure !== undefined) throw this.#failure
    if (result.done) {
      this.#sourceDone = true
      this.#settle('read')
      return undefined
    }
    this.#bytes += result.value.byteLength
    return result.value
  }

  async #callerCancel(reason: unknown): Promise<void> {
    this.#touched = true
    this.#dropBuffer()
    if (this.#settled) return
    // No waiting for a drain in progress: its read may wait on a source that stalled (until idleTimeout).
    // Cancelling the source ends that read at once, and the drain finds the body settled.
    this.#settle('cancelled')
    await this.#reader.cancel(reason).catch(() => {})
  }

  /** Forgets the drained chunks: the caller will not read them. */
  #dropBuffer(): void {
    this.#buffer = []
    this.#head = 0
    this.#bufferedBytes = 0
  }

  #settle(how: SettleHow): void {
    if (this.#settled) return
    this.#settled = true
    this.#hooks.onSettle(how, this.#bytes)
  }
}
