/**
 * msw handlers shared by every test suite of ky-pool, in every runtime: the same routes are served by
 * `setupServer` (mocks/node.ts), the service worker (mocks/browser.ts), the web fetch interceptor
 * (mocks/web.ts), and over real HTTP on loopback (mocks/loopback.ts), so one behaviour suite can run
 * against each of them.
 *
 * Routes (under `base`, by default `mockOrigin`):
 *
 * | route | response |
 * |---|---|
 * | `GET /json` | `{ "hello": "world" }` with Content-Length |
 * | `GET /bytes?size=N` | N bytes (default 16), Content-Length set, sent in 16 KiB chunks |
 * | `GET /large` | 2 MiB, Content-Length set: more than the default `drainLimit`, so it is cancelled, not drained |
 * | `GET /slow?ms=N` | JSON after N ms (default 50) |
 * | `GET /stream?chunks=N&interval=MS` | N chunks (default 5) of `chunk i\n`, one every MS ms (default 10), no Content-Length |
 * | `GET /stall` | headers (declaring 1 MiB; `?declare=0`: no length) and one byte, then nothing until it is cancelled |
 * | `GET /trickle?every=MS` | no length, one byte every MS ms (default 10) until it is cancelled: an SSE heartbeat, a long poll |
 * | `GET /error/:status` | that status with a JSON body `{ "error": … }` |
 * | `GET /flaky/:status?key=K&times=N&after=S` | that status with `Retry-After: S` (default 0) and a JSON body the first N times (default 1) per key, then JSON |
 * | `GET /redirect?to=PATH` | 302 to PATH (default `/json`) |
 * | `GET /empty` | 204 |
 * | `HEAD /json` | 200, no body |
 */
import { delay, HttpResponse, http, type RequestHandler } from 'msw'

/** The origin the interceptors answer for. `.test` is reserved (RFC 2606): it never reaches a network. */
export const mockOrigin = 'https://api.ky-pool.test'

/** Size of `/large`: twice the default `drainLimit` (1 MiB). */
export const largeSize = 2 * 1024 * 1024

const chunkSize = 16 * 1024

/** The length `/stall` declares; it sends one byte of it. */
const stallDeclared = 1024 * 1024

/** Attempts per `/flaky` key, so a retried request sees the failure first and then success. */
const flakyAttempts = new Map<string, number>()

/** Forgets the `/flaky` counters. */
export function resetMockState(): void {
  flakyAttempts.clear()
}

const json = { hello: 'world' }
const jsonText = JSON.stringify(json)

/** `size` bytes of `x`, in chunks, with an exact Content-Length. */
function bytes(size: number, init: ResponseInit = {}): Response {
  let sent = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(chunkSize, size - sent)
      if (n <= 0) return controller.close()
      controller.enqueue(new Uint8Array(n).fill(120))
      sent += n
    },
  })
  return new HttpResponse(stream, {
    ...init,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), ...init.headers },
  })
}

const number = (value: string | null, fallback: number) => {
  const parsed = Number(value ?? Number.NaN)
  return Number.isFinite(parsed) ? parsed : fallback
}

/** The shared routes under `base` (an origin, or `*` to answer for any origin). */
export function createHandlers(base: string = mockOrigin): RequestHandler[] {
  return [
    http.get(`${base}/json`, () =>
      HttpResponse.text(jsonText, {
        headers: { 'content-type': 'application/json', 'content-length': String(jsonText.length) },
      }),
    ),
    http.head(
      `${base}/json`,
      () => new HttpResponse(null, { headers: { 'content-type': 'application/json' } }),
    ),
    http.get(`${base}/bytes`, ({ request }) =>
      bytes(number(new URL(request.url).searchParams.get('size'), 16)),
    ),
    http.get(`${base}/large`, () => bytes(largeSize)),
    http.get(`${base}/slow`, async ({ request }) => {
      await delay(number(new URL(request.url).searchParams.get('ms'), 50))
      return HttpResponse.json(json)
    }),
    http.get(`${base}/stream`, ({ request }) => {
      const params = new URL(request.url).searchParams
      const chunks = number(params.get('chunks'), 5)
      const interval = number(params.get('interval'), 10)
      const encoder = new TextEncoder()
      let i = 0
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i >= chunks) return controller.close()
          if (i > 0) await delay(interval)
          controller.enqueue(encoder.encode(`chunk ${i++}\n`))
        },
      })
      return new HttpResponse(stream, { headers: { 'content-type': 'text/plain' } })
    }),
    http.get(`${base}/stall`, ({ request }) => {
      const declared = new URL(request.url).searchParams.get('declare') !== '0'
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('x'))
        },
        // No pull: the body never ends, like a server that stopped sending. Cancelling it is the way out.
      })
      // The length is declared (and larger than `drainLimit`): undici under msw/node trips an internal
      // assertion (`assert(!this.aborted)`, an uncaught exception) when a close-delimited mocked body is
      // cancelled while a read waits on it; a framed body is cancelled cleanly.
      // `?declare=0`: no length, so the pool may try to take the body in; chunked keeps it framed.
      const length: Record<string, string> = declared
        ? { 'content-length': String(stallDeclared) }
        : { 'transfer-encoding': 'chunked' }
      return new HttpResponse(stream, { headers: { 'content-type': 'text/plain', ...length } })
    }),
    http.get(`${base}/trickle`, ({ request }) => {
      const every = number(new URL(request.url).searchParams.get('every'), 10)
      let timer: ReturnType<typeof setTimeout> | undefined
      const stream = new ReadableStream<Uint8Array>({
        pull: (controller) =>
          new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              controller.enqueue(new TextEncoder().encode('.'))
              resolve()
            }, every)
          }),
        // Its timer goes with it (Deno's sanitizer fails a test that leaves one running).
        cancel: () => clearTimeout(timer),
      })
      // Chunked, not close-delimited: see /stall.
      return new HttpResponse(stream, {
        headers: { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' },
      })
    }),
    http.get(`${base}/error/:status`, ({ params }) => {
      const status = Number(params.status)
      return HttpResponse.json({ error: `status ${status}`, status }, { status })
    }),
    http.get(`${base}/flaky/:status`, ({ request, params }) => {
      const query = new URL(request.url).searchParams
      const key = query.get('key') ?? 'default'
      const attempt = (flakyAttempts.get(key) ?? 0) + 1
      flakyAttempts.set(key, attempt)
      const status = Number(params.status)
      if (attempt <= number(query.get('times'), 1)) {
        // Exposed, or a browser hides Retry-After from a cross-origin caller (it is not CORS-safelisted).
        const headers = {
          'retry-after': query.get('after') ?? '0',
          'access-control-expose-headers': 'retry-after',
        }
        return HttpResponse.json({ error: `status ${status}`, attempt }, { status, headers })
      }
      return HttpResponse.json({ ...json, attempt })
    }),
    http.get(`${base}/redirect`, ({ request }) => {
      const to = new URL(request.url).searchParams.get('to') ?? '/json'
      return new HttpResponse(null, { status: 302, headers: { location: new URL(to, request.url).href } })
    }),
    http.get(`${base}/empty`, () => new HttpResponse(null, { status: 204 })),
  ]
}

/** The routes under `mockOrigin`. */
export const handlers: RequestHandler[] = createHandlers()
