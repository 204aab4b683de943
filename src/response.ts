/**
 * A Response that stands in for the runtime's: same status, headers, url, redirected and type, every
 * body method, `clone()`, and `Symbol.asyncDispose` (`await using res = await client.get(url)`). It is
 * the runtime's own response object, given a prototype whose body methods read through ky-pool.
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
  /**
   * A copy (a clone, or a Response of another class than the runtime's): its own body is the branch's
   * stream, so the runtime's body methods read it, and its `bodyUsed` is the runtime's.
   */
  copied: boolean
}

const meta = Symbol('ky-pool stand-in')
type Swapped = Response & { [meta]: StandInMeta }

/**
 * The caller's Response for `original`, whose body is read through `body`: `original` itself, with a
 * prototype that reads its body through ky-pool. Nothing is copied (rebuilding a Response, its headers
 * and a stream per request was most of ky-pool's CPU cost in the overhead benchmark), and `res.body`'s
 * stream is made only if asked for. A Response of another class than the runtime's (a custom fetch's
 * subclass) is copied first, as clones are.
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
    copied: false,
  }
  const Base = globalThis.Response
  if (Object.getPrototypeOf(original) === Base.prototype) return swap(original, state)
  state.copied = true
  state.stream = body.stream(branch)
  return swap(copyOf(original, state.stream), state)
}

/**
 * Marks a response as the end of a redirect chain, as fetch does (the pool followed it hop by hop). An own
 * property: it shadows the prototype's getter, and a clone reads it from its original.
 */
export function markRedirected(response: Response): Response {
  Object.defineProperty(response, 'redirected', { value: true, configurable: true })
  return response
}

/** A response without a body (HEAD, 204, 304, …) is returned as is, disposable like the others. */
export function disposable(response: Response): Response {
  Object.defineProperty(response, asyncDispose, { value: async () => {}, writable: true, configurable: true })
  return response
}

/** A new runtime Response with `from`'s status and headers around `stream` (url, redirected and type come from the state). */
function copyOf(from: Response, stream: ReadableStream<Uint8Array>): Response {
  return new globalThis.Response(stream, {
    status: from.status,
    statusText: from.statusText,
    headers: from.headers,
  })
}

/** Makes `response` a stand-in: the prototype for its class, and its state. */
function swap(response: Response, state: StandInMeta): Response {
  const prototype = swappedPrototype(globalThis.Response)
  Object.setPrototypeOf(response, prototype)
  ;(response as Swapped)[meta] = state
  // happy-dom keeps bodyUsed, url, redirected and type in own fields, which a prototype cannot override:
  // an original's bodyUsed is ours (its body is read past the runtime), a copy's url and the rest its original's.
  if (Object.hasOwn(response, 'bodyUsed')) {
    if (state.copied) {
      Object.defineProperties(response, {
        url: { value: state.original.url },
        redirected: { value: state.original.redirected },
        type: { value: state.original.type },
      })
    } else {
      const { get } = Object.getOwnPropertyDescriptor(prototype, 'bodyUsed')!
      Object.defineProperty(response, 'bodyUsed', { get, set: () => {}, configurable: true })
    }
  }
  return response
}

const utf8 = new TextDecoder()

/** The prototype that makes a runtime's Response a stand-in, per Response class (test environments install their own). */
const swappedPrototypes = new WeakMap<typeof Response, object>()

function swappedPrototype(Base: typeof Response): object {
  let prototype = swappedPrototypes.get(Base)
  if (prototype === undefined) {
    prototype = defineSwapped(Base)
    swappedPrototypes.set(Base, prototype)
  }
  return prototype
}

/**
 * The stand-in's prototype: body methods read through the tracked body; status and headers are the
 * runtime's; url, redirected and type too, or the original's for a copy (a clone). No private fields or
 * methods: instances are made by the runtime, not by this class, so they would fail its brand check.
 */
function defineSwapped(Base: typeof Response): object {
  const state = (response: Response) => (response as Swapped)[meta]
  /** The runtime's own refusal to read a body twice (a TypeError; happy-dom's is a DOMException). */
  const refusal = (): Promise<never> => {
    const used = new Base('')
    used.text().catch(() => {})
    return used.text() as Promise<never>
  }
  /** The whole body for a whole-body method, or the runtime's refusal when it is used or locked. */
  const whole = (response: Response, copy: boolean): Promise<Uint8Array<ArrayBuffer>> => {
    const own = state(response)
    if (response.bodyUsed || own.stream?.locked) {
      // A body ky-pool took away before the caller's first whole-body read says why, not "already used"
      // (happy-dom's stream can look used once the pool cancelled it).
      const failure = own.used ? undefined : own.body.failure(own.branch)
      return failure === undefined ? refusal() : Promise.reject(failure)
    }
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
  /**
   * A body method as the runtime has it: on a copy itself (its body is the branch's stream), else on a
   * Response made around the branch's stream (the rare methods: `blob()`, `formData()`). Rejects with the
   * error ky-pool failed the body with, if it did: left to themselves, some runtimes reject with one of
   * their own and the reason is lost (Chromium `TypeError: Failed to fetch`, happy-dom `EncodingError`).
   */
  const viaRuntime = async <T>(response: Response, read: (target: Response) => Promise<T>): Promise<T> => {
    const own = state(response)
    const used = response.bodyUsed // then the runtime's "already used" error is the right one
    try {
      if (own.copied) return await read(response)
      if (used || own.stream?.locked) return await refusal()
      return await read(new Base(response.body, { headers: response.headers }))
    } catch (error) {
      throw (used ? undefined : own.body.failure(own.branch)) ?? error
    }
  }
  /** A whole-body method: straight from the tracked body, or the runtime's own on a copy. */
  const method = <T>(response: Response, fast: () => Promise<T>, native: (target: Response) => Promise<T>) =>
    state(response).copied ? viaRuntime(response, native) : fast()
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
      return own.copied ? super.bodyUsed : own.used || own.body.used(own.branch)
    }

    // A copy (a clone) cannot be given url, redirected or type by `new Response()`: they are its original's.
    override get url(): string {
      const { original } = state(this)
      return original === this ? super.url : original.url
    }

    override get redirected(): boolean {
      const { original } = state(this)
      return original === this ? super.redirected : original.redirected
    }

    override get type(): ResponseType {
      const { original } = state(this)
      return original === this ? super.type : original.type
    }

    /**
     * A branch of the tracked body rather than the runtime's tee: a tee reads a chunk the moment it is
     * made, so a clone nobody reads (ky makes one per `afterResponse` hook) made the body look read, and
     * a forgotten response could no longer be reclaimed.
     */
    override clone(): Response {
      const own = state(this)
      if (this.bodyUsed || own.stream?.locked) {
        throw new TypeError('Response.clone: the body has already been used or is locked')
      }
      const opened = own.body.clone(own.branch)
      return swap(copyOf(this, opened.stream), { ...own, ...opened, used: false, copied: true })
    }

    [asyncDispose](): Promise<void> {
      const own = state(this)
      return own.body.dispose(own.branch)
    }

    override arrayBuffer(): Promise<ArrayBuffer> {
      return method(
        this,
        () => whole(this, true).then((bytes) => bytes.buffer),
        (target) => Base.prototype.arrayBuffer.call(target),
      )
    }

    override bytes(): Promise<Uint8Array<ArrayBuffer>> {
      return method(
        this,
        () => whole(this, true),
        (target) => Base.prototype.bytes.call(target),
      )
    }

    override json(): Promise<unknown> {
      return method(
        this,
        () => whole(this, false).then((bytes) => JSON.parse(utf8.decode(bytes))),
        (target) => Base.prototype.json.call(target),
      )
    }

    override text(): Promise<string> {
      return method(
        this,
        () => whole(this, false).then((bytes) => utf8.decode(bytes)),
        (target) => Base.prototype.text.call(target),
      )
    }

    override blob(): Promise<Blob> {
      return viaRuntime(this, (target) => Base.prototype.blob.call(target))
    }

    override formData(): Promise<FormData> {
      return viaRuntime(this, (target) => Base.prototype.formData.call(target))
    }
  }
  // `bytes()` is recent: where the runtime lacks it, so does the stand-in (ky checks for it).
  if (typeof Base.prototype.bytes !== 'function') Reflect.deleteProperty(SwappedResponse.prototype, 'bytes')
  return SwappedResponse.prototype
}
