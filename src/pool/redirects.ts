/**
 * Redirects followed hop by hop, each hop in a slot of its own origin. Left to fetch, a redirect is
 * followed inside the one slot counted on the first origin: 10 calls to A that answer 302 → B, plus 10
 * to B at `perOrigin: 2`, put 4 at once on B while stats showed A busy (issue 11).
 *
 * Where `redirect: 'manual'` shows the `Location` (Node, Deno, Bun, workerd), the pool asks for it and
 * follows fetch's own rules (WHATWG Fetch, "HTTP-redirect fetch"): 301/302/303/307/308 only; at most 20
 * redirects; a location that is not http(s) is a network error; 303 (and 301/302 after a POST) turn into
 * a GET without a body; 307/308 send the same method and body again; crossing origins drops
 * `Authorization` (and, as undici does, `Cookie` and `Proxy-Authorization`); the final response has
 * `redirected` true and the final `url`. In browsers `manual` gives an opaque response with no
 * `Location`, so the browser follows redirects itself, inside the first origin's slot.
 *
 * Cold (see src/lazy.ts): loaded at the first redirect; the pool itself only checks the status (`locationOf`).
 */

const maxRedirects = 20
/** Headers that describe a request body; dropped with it (Fetch: "request-body-header name"). */
const bodyHeaders = [
  'content-encoding',
  'content-language',
  'content-location',
  'content-type',
  'content-length',
]
/** Headers that carry credentials for one origin. */
const credentialHeaders = ['authorization', 'proxy-authorization', 'cookie']

/**
 * The request for the next hop: `current` redirected by a `status` response to `location`. `body` is a
 * spare copy of the first request's body (a 307/308 sends it again), or null. Throws fetch's TypeError
 * where fetch would fail.
 */
export function nextHop(
  current: Request,
  status: number,
  location: string,
  hops: number,
  body: ReadableStream<Uint8Array> | null,
): Request {
  if (hops >= maxRedirects) throw networkError(`redirect count exceeded (more than ${maxRedirects})`)
  let url: URL
  try {
    url = new URL(location, current.url)
  } catch {
    throw networkError('a redirect to a URL that does not parse')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw networkError(`a redirect to a ${url.protocol} URL cannot be followed`)
  }
  const headers = new Headers(current.headers)
  let method = current.method
  let keepBody = body !== null
  if (
    status === 303
      ? method !== 'GET' && method !== 'HEAD'
      : (status === 301 || status === 302) && method === 'POST'
  ) {
    method = 'GET'
    keepBody = false
    for (const name of bodyHeaders) headers.delete(name)
  }
  if (url.origin !== new URL(current.url).origin) for (const name of credentialHeaders) headers.delete(name)
  const init: RequestInit & { duplex?: 'half' } = {
    method,
    headers,
    signal: current.signal,
    credentials: current.credentials,
    cache: current.cache,
    integrity: current.integrity,
    keepalive: current.keepalive,
    referrerPolicy: current.referrerPolicy,
    redirect: 'follow',
  }
  if (keepBody) {
    init.body = body
    init.duplex = 'half'
  }
  return new Request(url, init)
}

/**
 * The error fetch fails with where it would have failed following the redirect itself: undici's shape
 * (`TypeError: fetch failed`, the reason as its cause), which ky recognizes as a network error in every
 * runtime.
 */
function networkError(reason: string): TypeError {
  return new TypeError('fetch failed', { cause: new TypeError(`ky-pool: ${reason}`) })
}
