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
 * `failure` tells the error ky-pool failed the body with (reclaimed, idle timeout, disposed), if it did:
 * body methods reject with that error. Left to themselves, some runtimes' body methods reject with an
 * error of their own instead of the stream's, and the reason is lost: Chromium with
 * `TypeError: Failed to fetch`, happy-dom with a DOMException `EncodingError`. Reading `res.body`
 * directly gives the stream's error everywhere.
 */
export function standInResponse(
  original: Response,
  body: ReadableStream<Uint8Array>,
  dispose: (response: Response) => Promise<void>,
  failure: () => unknown = () => undefined,
): Response {
  const response = new Response(body, {
    status: original.status,
    statusText: original.statusText,
    headers: original.headers,
  })
  return decorate(response, original, dispose, failure)
}

const bodyMethods = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text'] as const

/** A response without a body (HEAD, 204, 304, …) is returned as is, disposable like the others. */
export function disposable(response: Response): Response {
  Object.defineProperty(response, asyncDispose, { value: async () => {}, writable: true, configurable: true })
  return response
}

/**
 * `new Response()` cannot set url, redirected or type, and `Response.prototype.clone` would drop them
 * again, so both are own properties.
 */
function decorate(
  response: Response,
  original: Response,
  dispose: (response: Response) => Promise<void>,
  failure: () => unknown,
): Response {
  const methods: PropertyDescriptorMap = {}
  for (const name of bodyMethods) {
    const method = (Response.prototype as unknown as Record<string, () => Promise<unknown>>)[name]
    if (typeof method !== 'function') continue // `bytes()` is recent
    methods[name] = {
      value(this: Response) {
        const used = this.bodyUsed // then the runtime's "already used" error is the right one
        return method.call(this).catch((error: unknown) => {
          throw (used ? undefined : failure()) ?? error
        })
      },
      writable: true,
      configurable: true,
    }
  }
  Object.defineProperties(response, {
    ...methods,
    // Not enumerable, like the runtime's getters: `JSON.stringify` of a Response (of an HTTPError, in a
    // logger) shows `{}`, not the request URL with its tokens.
    url: { value: original.url },
    redirected: { value: original.redirected },
    type: { value: original.type },
    clone: {
      value(this: Response) {
        return decorate(Response.prototype.clone.call(this), original, dispose, failure)
      },
      writable: true,
      configurable: true,
    },
    [asyncDispose]: {
      value(this: Response) {
        return dispose(this)
      },
      writable: true,
      configurable: true,
    },
  })
  return response
}
