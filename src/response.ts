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
  /** The stream that reads `branch`, made the first time a caller asks for `res.body`. */
  stream: (branch: B) => ReadableStream<Uint8Array>
  /** Whether the consumer of `branch`'s stream has read from it or cancelled it (the stream is disturbed). */
  used: (branch: B) => boolean
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
  failure: (branch: B) => unknown
  /** The whole body, read straight from its source (see `TrackedBody.readAll`). */
  readAll: (branch: B, copy: boolean) => Promise<Uint8Array<ArrayBuffer>>
}

/** What a stand-in knows beyond what the runtime's Response knows. */
interface StandInMeta {
  /** The runtime's response, for url, redirected and type: read when asked (undici serializes the URL on each read). */
  original: Response
  body: StandInBody
  branch: object
  /** The stream that reads the branch; made on first use where the stand-in is the runtime's response itself. */
  stream: ReadableStream<Uint8Array> | undefined
  /** A whole-body method (`text()`, `json()`, …) has begun. */
  used: boolean
}

const meta = Symbol('ky-pool stand-in')
type Swapped = Response & { [meta]: StandInMeta }

/**
 * The caller's Response for `original`, whose body is read through `body`. Where the runtime allows it,
 * the stand-in is `original` itself with a prototype that reads its body through ky-pool: nothing is
 * copied (rebuilding a Response, its headers and a stream cost some 11 µs of a request's ~30 µs in the
 * overhead benchmark), and `res.body`'s stream is made only if asked for. Elsewhere (happy-dom, whose
 * Response keeps its state in own fields; a custom fetch's Response subclass) it is a new Response.
 */
export function standInResponse<B extends object>(
  original: Response,
  branch: B,
  body: StandInBody<B>,
): Response {
  const state: StandInMeta = {
    original,
    body: body as unknown as StandInBody,
    branch,
    stream: undefined,
    used: false,
  }
  const Base = globalThis.Response
  const swapped = Object.getPrototypeOf(original) === Base.prototype ? swappedPrototype(Base) : undefined
  if (swapped !== undefined) {
    Object.setPrototypeOf(original, swapped)
    ;(original as Swapped)[meta] = state
    return original
  }
  state.stream = body.stream(branch)
  return new (standInClass())(state.stream, original, state)
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
          url: { value: meta.original.url },
          redirected: { value: meta.original.redirected },
          type: { value: meta.original.type },
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
      return new StandInResponse(opened.stream, this, { ...meta, ...opened, used: false })
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
      if (stream === undefined || this.body !== stream || stream.locked) return undefined
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
        throw (used ? undefined : this.#meta.body.failure(this.#meta.branch)) ?? error
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

/** The prototype that makes a runtime's Response a stand-in, per Response class; undefined where it cannot. */
const swappedPrototypes = new WeakMap<typeof Response, object | undefined>()

function swappedPrototype(Base: typeof Response): object | undefined {
  if (!swappedPrototypes.has(Base)) swappedPrototypes.set(Base, defineSwapped(Base))
  return swappedPrototypes.get(Base)
}

const unusable = () => new TypeError('Response body is already used or locked')

/**
 * A stand-in that is the runtime's own response (see `standInResponse`). Its body methods read through
 * the tracked body; status, headers, url and the rest are the runtime's. No private fields or methods:
 * instances are made by the runtime, not by this class, so they would fail its brand check.
 */
function defineSwapped(Base: typeof Response): object | undefined {
  try {
    // happy-dom keeps body, url and the like in own fields, which a prototype cannot override.
    const probe = new Base(null)
    if (['body', 'bodyUsed', 'url', 'headers', 'text'].some((key) => Object.hasOwn(probe, key)))
      return undefined
  } catch {
    return undefined
  }
  const state = (response: Response) => (response as Swapped)[meta]
  /** The whole body for a whole-body method, or the runtime's refusal when it is used or locked. */
  const whole = (response: Response, copy: boolean): Promise<Uint8Array<ArrayBuffer>> => {
    const own = state(response)
    if (response.bodyUsed || own.stream?.locked) return Promise.reject(unusable())
    own.used = true
    const read = own.body.readAll(own.branch, copy) // first: from now on the branch's stream's cancel is ignored
    // A stream asked for before is now locked and disturbed, as the runtime's is after a whole-body read.
    if (own.stream !== undefined)
      void own.stream
        .getReader()
        .cancel()
        .catch(() => {})
    return read
  }
  /** The rare methods (`blob()`, `formData()`) as the runtime has them, over the branch's stream. */
  const viaRuntime = async <T>(response: Response, read: (copy: Response) => Promise<T>): Promise<T> => {
    const own = state(response)
    if (response.bodyUsed || own.stream?.locked) throw unusable()
    try {
      return await read(new Base(response.body, { headers: response.headers }))
    } catch (error) {
      throw own.body.failure(own.branch) ?? error
    }
  }
  class SwappedResponse extends Base {
    override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
      const own = state(this)
      if (own.stream === undefined) {
        own.stream = own.body.stream(own.branch)
        // After a whole-body read the runtime's own stream is locked and disturbed: so is this one.
        if (own.used)
          void own.stream
            .getReader()
            .cancel()
            .catch(() => {})
      }
      return own.stream as ReadableStream<Uint8Array<ArrayBuffer>>
    }

    override get bodyUsed(): boolean {
      const own = state(this)
      return own.used || own.body.used(own.branch)
    }

    override clone(): Response {
      const own = state(this)
      if (this.bodyUsed || own.stream?.locked) {
        throw new TypeError('Response.clone: the body has already been used or is locked')
      }
      const opened = own.body.clone(own.branch)
      return new (standInClass())(opened.stream, this, { ...own, ...opened, original: this, used: false })
    }

    [asyncDispose](): Promise<void> {
      const own = state(this)
      return own.body.dispose(own.branch)
    }

    override arrayBuffer(): Promise<ArrayBuffer> {
      return whole(this, true).then((bytes) => bytes.buffer)
    }

    override bytes(): Promise<Uint8Array<ArrayBuffer>> {
      return whole(this, true)
    }

    override json(): Promise<unknown> {
      return whole(this, false).then((bytes) => JSON.parse(utf8.decode(bytes)))
    }

    override text(): Promise<string> {
      return whole(this, false).then((bytes) => utf8.decode(bytes))
    }

    override blob(): Promise<Blob> {
      return viaRuntime(this, (copy) => copy.blob())
    }

    override formData(): Promise<FormData> {
      return viaRuntime(this, (copy) => copy.formData())
    }
  }
  if (typeof Base.prototype.bytes !== 'function') Reflect.deleteProperty(SwappedResponse.prototype, 'bytes')
  return SwappedResponse.prototype
}

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
