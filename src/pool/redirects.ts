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
 */

import { markRedirected } from '../response.ts'
import type { Runtime } from '../runtime.ts'

/** Sends one hop: the pool's own send, a slot of the hop's origin and all. */
export type SendHop = (request: Request, init: RequestInit) => Promise<Response>

/** Follows `request`'s redirects, sending each hop with `send`. */
export type FollowRedirects = (request: Request, init: RequestInit, send: SendHop) => Promise<Response>

/** The redirect follower for `runtime`: where `redirect: 'manual'` shows the `Location`, else none (the runtime follows). */
export function redirectsFor(runtime: Runtime): FollowRedirects | undefined {
  return runtime === 'node' || runtime === 'deno' || runtime === 'bun' || runtime === 'workerd'
    ? followRedirects
    : undefined
}

/** Sends `request` hop by hop with `send`, as fetch's `redirect: 'follow'` would. */
async function followRedirects(request: Request, init: RequestInit, send: SendHop): Promise<Response> {
  const hopInit: RequestInit = { ...init, redirect: 'manual' }
  let current = request
  // A 307 or 308 sends the body again: a copy (a tee) is kept while the hop goes.
  let spare = request.body === null ? undefined : request.clone()
  try {
    for (let hops = 0; ; hops++) {
      const response = await send(current, hopInit)
      const location = locationOf(response)
      if (location === undefined) return hops === 0 ? response : markRedirected(response)
      // The redirect's own body is nobody's: cancelling it gives its slot back before the next hop queues.
      await response.body?.cancel().catch(() => {})
      const next = nextHop(current, response.status, location, hops, spare?.body ?? null)
      if (next.body === null) void spare?.body?.cancel().catch(() => {}) // a 303: the body is not sent on
      spare = next.body === null ? undefined : next.clone()
      current = next
    }
  } finally {
    // The copy nobody needed: cancelled, or a caller's cancel of the body (ky's, when fetch fails) would
    // never reach its source (a tee cancels it once both branches are), and the upload stayed in memory.
    void spare?.body?.cancel().catch(() => {})
  }
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])
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

/** The `Location` to follow, or undefined when `response` is not a redirect the pool follows. */
function locationOf(response: Response): string | undefined {
  if (!redirectStatuses.has(response.status)) return undefined
  return response.headers.get('location') ?? undefined
}

/**
 * The request for the next hop: `current` redirected by a `status` response to `location`. `body` is a
 * spare copy of the first request's body (a 307/308 sends it again), or null. Throws fetch's TypeError
 * where fetch would fail.
 */
function nextHop(
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
