/**
 * A Response that stands in for the runtime's: same status, headers, url, redirected and type, every
 * body method, `clone()`, and `Symbol.asyncDispose` (`await using res = await client.get(url)`).
 */

/** `Symbol.asyncDispose`, or the well-known registry symbol TypeScript uses where the runtime lacks it. */
export const asyncDispose: symbol =
  (Symbol as { asyncDispose?: symbol }).asyncDispose ?? Symbol.for('Symbol.asyncDispose')

/** Status codes whose responses have no body (Fetch "null body status"). */
export function isNullBodyStatus(status: number): boolean {
  return status === 101 || status === 103 || status === 204 || status === 205 || status === 304
}

/**
 * The tracked body as a stand-in sees it: one branch per stand-in (the original's, and one per clone),
 * an opaque token the pool's body knows.
 */
export interface StandInBody<B extends object = object> {
  /** A new branch for a clone of the stand-in reading `from`, starting where `from` stands. */
  clone: (from: B) => { stream: ReadableStream<Uint8Array>; branch: B }
  /** `await using` ended: the branch is closed; the last one settles the body. */
  dispose: (branch: B) => Promise<void>
  /**
   * The error ky-pool failed the body with (reclaimed, idle timeout, disposed), if it did: body methods
   * reject with it. Left to themselves, some runtimes' body methods reject with an error of their own
   * and the reason is lost: Chromium with `TypeError: Failed to fetch`, happy-dom with a DOMException
   * `EncodingError`. Reading `res.body` directly gives the stream's error everywhere.
   */
  failure: () => unknown
  /** The whole body, read straight from its source (see `TrackedBody.readAll`). */
  readAll: (branch: B, copy: boolean) => Promise<Uint8Array<ArrayBuffer>>
}

/** What a stand-in knows beyond what `new Response()` can be told. */
interface StandInMeta {
  /** The runtime's response, for url, redirected and type: read when asked (undici serializes the URL on each read). */
  original: Response
  body: StandInBody
  branch: object
  /** The stream the stand-in was made with. */
  stream: ReadableStream<Uint8Array>
}

export function standInResponse<B extends object>(
  original: Response,
  opened: { stream: ReadableStream<Uint8Array>; branch: B },
  body: StandInBody<B>,
): Response {
  const meta: StandInMeta = {
    original,
    body: body as unknown as StandInBody,
    branch: opened.branch,
    stream: opened.stream,
  }
  return new (standInClass())(opened.stream, original, meta)
}

/** Marks a response as the end of a redirect chain, as fetch does (the pool followed it hop by hop). */
export function markRedirected(response: Response): Response {
  Object.defineProperty(response, 'redirected', { value: true, configurable: true })
  return response
}

/** A response without a body (HEAD, 204, 304, …) is returned as is, disposable like the others. */
export function disposable(response: Response): Response {
  Object.defineProperty(response, asyncDispose, { value: async () => {}, writable: true, configurable: true })
  return response
}

type StandInClass = new (body: ReadableStream<Uint8Array>, init: ResponseInit, meta: StandInMeta) => Response

/**
 * One subclass per Response class (read at call time: test environments such as happy-dom install
 * their own). A subclass rather than own properties on each response: defining eleven properties and
 * closures per response was a tenth of a request's cost in the overhead benchmark.
 */
const classes = new WeakMap<typeof Response, StandInClass>()

function standInClass(): StandInClass {
  const Base = globalThis.Response
  let StandIn = classes.get(Base)
  if (StandIn === undefined) {
    StandIn = defineStandIn(Base)
    classes.set(Base, StandIn)
  }
  return StandIn
}

function defineStandIn(Base: typeof Response): StandInClass {
  class StandInResponse extends Base {
    readonly #meta: StandInMeta

    constructor(body: ReadableStream<Uint8Array>, init: ResponseInit, meta: StandInMeta) {
      // Only status, statusText and headers: `new Response()` cannot be given url, redirected or type.
      super(body, { status: init.status, statusText: init.statusText, headers: init.headers })
      this.#meta = meta
      // happy-dom declares url, redirected and type as instance fields, which shadow the getters below.
      if (Object.hasOwn(this, 'url')) {
        Object.defineProperties(this, {
          url: { value: meta.original.url, configurable: true },
          redirected: { value: meta.original.redirected, configurable: true },
          type: { value: meta.original.type, configurable: true },
        })
      }
    }

    override get url(): string {
      return this.#meta.original.url
    }

    override get redirected(): boolean {
      return this.#meta.original.redirected
    }

    override get type(): ResponseType {
      return this.#meta.original.type
    }

    /**
     * A branch of the tracked body rather than the runtime's tee: a tee reads a chunk the moment it is
     * made, so a clone nobody reads (ky makes one per `afterResponse` hook) made the body look read, and
     * a forgotten response could no longer be reclaimed. (The runtime's clone would also lose url,
     * redirected and type.)
     */
    override clone(): Response {
      if (this.bodyUsed || this.body?.locked) {
        throw new TypeError('Response.clone: the body has already been used or is locked')
      }
      const meta = this.#meta
      const opened = meta.body.clone(meta.branch)
      const copy = new StandInResponse(opened.stream, this, { ...meta, ...opened })
      // A redirect chain the pool followed marks its final response (pool/redirects.ts): so are its clones.
      if (this.redirected !== meta.original.redirected) markRedirected(copy)
      return copy
    }

    [asyncDispose](): Promise<void> {
      return this.#meta.body.dispose(this.#meta.branch)
    }

    override arrayBuffer(): Promise<ArrayBuffer> {
      const whole = this.#readAll(true)
      if (whole === undefined) return this.#read(() => super.arrayBuffer())
      return whole.then((bytes) => bytes.buffer)
    }

    override blob(): Promise<Blob> {
      return this.#read(() => super.blob())
    }

    override bytes(): Promise<Uint8Array<ArrayBuffer>> {
      return this.#readAll(true) ?? this.#read(() => super.bytes())
    }

    override formData(): Promise<FormData> {
      return this.#read(() => super.formData())
    }

    override json(): Promise<unknown> {
      const whole = this.#readAll(false)
      if (whole === undefined) return this.#read(() => super.json())
      return whole.then((bytes) => JSON.parse(utf8.decode(bytes)))
    }

    override text(): Promise<string> {
      const whole = this.#readAll(false)
      if (whole === undefined) return this.#read(() => super.text())
      return whole.then((bytes) => utf8.decode(bytes))
    }

    /**
     * The fast way to read a whole body: straight from the tracked body, skipping the stand-in stream
     * (a promise and a queue round trip per chunk). Taken only when the runtime's own method would read
     * the stand-in stream from its start, and only where cancelling the stream marks the response used (probed
     * once per class), since that is how the stand-in ends up exactly as the runtime's read leaves it:
     * `bodyUsed`, its stream locked. Otherwise undefined, and the runtime's method runs. `copy` as in
     * `TrackedBody.readAll`: the caller gets the bytes (arrayBuffer, bytes), which must be its own.
     */
    #readAll(copy: boolean): Promise<Uint8Array<ArrayBuffer>> | undefined {
      if (!cancelMarksUsed || this.bodyUsed) return undefined
      const { stream, branch, body } = this.#meta
      if (this.body !== stream || stream.locked) return undefined
      const whole = body.readAll(branch, copy) // first: from now on the stream's cancel is ignored
      stream
        .getReader()
        .cancel()
        .catch(() => {})
      return whole
    }

    async #read<T>(read: () => Promise<T>): Promise<T> {
      const used = this.bodyUsed // then the runtime's "already used" error is the right one
      try {
        return await read()
      } catch (error) {
        throw (used ? undefined : this.#meta.body.failure()) ?? error
      }
    }
  }
  const cancelMarksUsed = marksUsedOnCancel(Base)
  // `bytes()` is recent: where the runtime lacks it, so does the stand-in (ky checks for it).
  if (typeof Base.prototype.bytes !== 'function') {
    Reflect.deleteProperty(StandInResponse.prototype, 'bytes')
  }
  return StandInResponse as unknown as StandInClass
}

const utf8 = new TextDecoder()

/**
 * Whether cancelling a response's stream makes the response `bodyUsed`, as the Fetch spec has it (a
 * disturbed stream). Not in happy-dom, whose Response keeps a flag of its own.
 */
function marksUsedOnCancel(Base: typeof Response): boolean {
  try {
    const probe = new Base(new ReadableStream())
    void probe.body?.getReader().cancel()
    return probe.bodyUsed
  } catch {
    return false
  }
}
