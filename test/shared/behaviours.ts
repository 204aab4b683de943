/**
 * The behaviours users rely on, written once and run in every runtime ky-pool claims: Node, happy-dom,
 * Chromium, workerd, Deno and Bun (one small runner per runtime registers them; see the files next to
 * this one and test/browser, test/workerd, test/deno, test/bun).
 *
 * A runner gives a harness: where the shared msw handlers (mocks/handlers.ts) answer, how to register
 * a test, and two assertions from the runtime's own test library. Each behaviour gets fresh clients from
 * `createTestClient` (ky-pool/testing, strict leak mode), and after it every client is settled and must
 * report no leak it did not expect — so every test here also checks that it left nothing behind.
 *
 * Where a runtime cannot do something, its runner lists the behaviour in `cannot` with the reason, and
 * the test is registered as skipped with that reason in its name.
 */
import type { ClientOptions, PooledKy, TraceEvent } from '../../src/index.ts'
import { currentRuntime } from '../../src/runtime.ts'
import { collectLeaks, createTestClient } from '../../src/testing.ts'

export interface Check {
  /** Deep equality. */
  equal(actual: unknown, expected: unknown, message?: string): void
  ok(value: unknown, message?: string): void
}

export interface BehaviourHarness {
  /** Shown in skip reasons. */
  runtime: string
  /** The origin (no trailing slash) where the shared msw handlers answer. */
  baseUrl: string
  test(name: string, fn: () => Promise<void>): void
  /** Registers a test that does not run here; `name` already contains the reason. */
  skip(name: string): void
  check: Check
  /** Behaviour id → why this runtime cannot do it. */
  cannot?: Partial<Record<BehaviourId, string>>
  /** Options every client of this runner starts from (e.g. `timeout: false` in workerd). */
  clientOptions?: ClientOptions
}

/** What a behaviour gets: the harness, and clients that are settled and checked for leaks after it. */
export interface BehaviourContext {
  h: BehaviourHarness
  check: Check
  url(path: string): string
  /** The canonical origin of `baseUrl`, as stats key it. */
  origin: string
  client(options?: ClientOptions): PooledKy
  /** A client whose lifecycle events are recorded in `events`. */
  traced(options?: ClientOptions): { client: PooledKy; events: TraceEvent[] }
  /** Resolves with the error `promise` rejects with; fails when it fulfils or the error has another name. */
  rejects(promise: Promise<unknown>, name: string): Promise<Error & Record<string, unknown>>
}

interface Behaviour {
  id: BehaviourId
  name: string
  /** The behaviour checks its own leaks (it makes them on purpose). */
  leaks?: true
  run(context: BehaviourContext): Promise<void>
}

export type BehaviourId =
  | 'held-until-settled'
  | 'held-while-streaming'
  | 'per-origin-limit'
  | 'abort-while-queued'
  | 'reclaim-drain'
  | 'reclaim-cancel'
  | 'leak-report'
  | 'http-error'
  | 'retry-after'
  | 'await-using'
  | 'null-body'
  | 'redirect'
  | 'stalled-body'
  | 'cancel-while-taken-in'
  | 'whole-body-read'
  | 'call-sites-after-leak'
  | 'reclaim-after-response-hook'
  | 'hook-reads-clone'
  | 'reclaim-trickle'
  | 'awaiting-headers'
  | 'unparsable-input-redacted'
  | 'origin-paused'
  | 'server-pause'

/** Every behaviour must finish in this time; a hang fails the test instead of stalling the runner. */
const deadline = 10_000

const inFlight = (client: PooledKy, origin: string) => client.pool.stats().origins[origin]?.inFlight ?? 0

/** Every string an error shows when logged: message, stack and string properties, along its cause chain. */
function errorText(error: unknown): string {
  const parts: string[] = []
  for (
    let current = error, depth = 0;
    current instanceof Error && depth < 10;
    current = current.cause, depth++
  ) {
    parts.push(String(current), current.stack ?? '')
    for (const key of Object.getOwnPropertyNames(current)) {
      const value = (current as unknown as Record<string, unknown>)[key]
      if (typeof value === 'string') parts.push(value)
    }
  }
  return parts.join('\n')
}

/** What a call throws, synchronously (ky checks a request inside `client.get`) or from its promise. */
async function thrownBy(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  return undefined
}

export const behaviours: Behaviour[] = [
  {
    id: 'server-pause',
    name: 'a 429 with Retry-After pauses the whole origin: the next request to it waits for the pause',
    async run({ traced, url, origin, check, rejects }) {
      const { client } = traced({ retry: 0 })
      const key = Math.random().toString(36).slice(2)
      await rejects(client.get(url(`/flaky/429?key=${key}&after=1`)).json(), 'HTTPError')
      const stats = client.pool.stats().origins[origin]
      check.equal([stats?.paused, stats?.pauseCause], [true, 'retry-after'])
      const started = performance.now()
      check.equal(await client.get(url(`/flaky/429?key=${key}&after=1`)).json(), {
        hello: 'world',
        attempt: 2,
      })
      check.ok(performance.now() - started >= 800, `waited for the pause (${performance.now() - started} ms)`)
    },
  },
  {
    id: 'origin-paused',
    name: 'a paused origin sends nothing until it resumes, then one request first; a request that gives up meanwhile fails with OriginPausedError',
    async run({ traced, url, origin, check, rejects }) {
      const { client, events } = traced()
      const until = Date.now() + 60_000
      await client.pool.pauseOrigin(origin, until)
      check.equal(client.pool.stats().origins[origin]?.paused, true)
      const error = await rejects(
        client.get(url('/json'), { pool: { queueTimeout: 20 } }).json(),
        'OriginPausedError',
      )
      check.equal([error.pausedUntil, error.pauseCause], [until, 'app'])
      const waiting = client.get(url('/json')).json()
      await client.pool.resumeOrigin(origin)
      check.equal(await waiting, { hello: 'world' })
      check.equal(client.pool.stats().totals.requests, 1, 'only the request after the pause was sent')
      const moments = events
        .filter((event) => ['paused', 'resumed'].includes(event.type))
        .map((event) => event.type)
      check.equal(moments, ['paused', 'resumed'])
      check.ok(
        events.some((event) => event.type === 'limited' && event.limit === 1 && event.reason === 'resuming'),
        'resumed with one request first',
      )
    },
  },
  {
    id: 'reclaim-after-response-hook',
    name: 'with an afterResponse hook (ky clones the response for it), a forgotten body is still reclaimed and reported',
    leaks: true,
    async run({ traced, url, check }) {
      const hook = () => {} // a logging or auth hook that does not read the body
      const { client, events } = traced({ pool: { perOrigin: 1 }, hooks: { afterResponse: [hook, hook] } })
      const forgotten = await client.get(url('/bytes?size=1000'))
      check.equal(
        await client.get(url('/json')).json(),
        { hello: 'world' },
        'not blocked by the forgotten body',
      )
      check.equal(
        events.filter((event) => event.type === 'reclaimed').map((event) => event.action),
        ['drained'],
      )
      check.equal((await forgotten.text()).length, 1000, 'the drained body is still there for its caller')
      await client.get(url('/bytes?size=10')) // forgotten for good
      const leaks = await collectLeaks(client)
      check.equal(
        leaks.map((leak) => [leak.url, leak.detectedBy]),
        [[url('/bytes?size=10'), 'settle']],
      )
    },
  },
  {
    id: 'hook-reads-clone',
    name: 'an afterResponse hook that reads its clone frees the slot, and the caller still reads the whole body',
    async run({ client: make, url, origin, check }) {
      let seen = ''
      const client = make({
        pool: { perOrigin: 1 },
        hooks: {
          afterResponse: [
            async ({ response }) => {
              seen = await response.text()
            },
          ],
        },
      })
      const res = await client.get(url('/bytes?size=40000'))
      check.equal(seen.length, 40000, 'the hook read its clone to the end')
      check.equal(
        inFlight(client, origin),
        0,
        'the body ended: the slot is free although the caller has not read',
      )
      check.equal(await res.text(), seen, 'the caller reads every byte, in order')
    },
  },
  {
    id: 'reclaim-trickle',
    name: 'a forgotten body that trickles (one byte every 10 ms) is cancelled when its drain runs past reclaimAfter',
    async run({ traced, url, check, rejects }) {
      const { client, events } = traced({ pool: { perOrigin: 1, reclaimAfter: 50 } })
      const trickling = await client.get(url('/trickle?every=10'))
      check.equal(await client.get(url('/json')).json(), { hello: 'world' }, 'not blocked for good')
      check.equal(
        events.filter((event) => event.type === 'reclaimed').map((event) => [event.action, event.cause]),
        [['cancelled', 'pressure']],
      )
      await rejects(trickling.text(), 'BodyReclaimedError')
    },
  },
  {
    id: 'awaiting-headers',
    name: 'awaitingHeaders (the Workers rule) counts a request until its headers arrive, not until its body settles',
    async run({ traced, url, check }) {
      const { client, events } = traced({ pool: { awaitingHeaders: 1 } })
      const queuedCount = () => events.filter((event) => event.type === 'queued').length
      const streaming = await client.get(url('/stream?chunks=3&interval=20'))
      check.equal(
        await client.get(url('/json')).json(),
        { hello: 'world' },
        'sent while the first body streams',
      )
      check.equal(queuedCount(), 0, 'nothing waited: the first request had its headers')
      const slow = [client.get(url('/slow?ms=30&a')).json(), client.get(url('/slow?ms=30&b')).json()]
      check.equal(await Promise.all(slow), [{ hello: 'world' }, { hello: 'world' }])
      check.equal(queuedCount(), 1, "the second waited for the first one's headers")
      check.equal(await streaming.text(), 'chunk 0\nchunk 1\nchunk 2\n')
    },
  },
  {
    id: 'held-until-settled',
    name: 'a slot is held from before the request is sent until its body is read, not when headers arrive',
    async run({ client: make, url, origin, check }) {
      const client = make({ pool: { perOrigin: 1 } })
      const res = await client.get(url('/json'))
      check.equal(res.status, 200)
      check.equal(inFlight(client, origin), 1, 'headers are in, the body is not read: the slot is still held')
      check.equal(await res.json(), { hello: 'world' })
      check.equal(client.pool.stats().inFlight, 0, 'the body was read to the end: the slot is free')
    },
  },
  {
    id: 'held-while-streaming',
    name: 'a streamed body holds its slot until its last chunk is read',
    async run({ client: make, url, origin, check }) {
      const client = make({ pool: { perOrigin: 1 } })
      const res = await client.get(url('/stream?chunks=3&interval=10'))
      const reader = res.body!.getReader()
      const decoder = new TextDecoder()
      const first = await reader.read()
      // A busy runtime (or a service worker in between) may hand several chunks over in one read.
      let text = decoder.decode(first.value)
      check.ok(!first.done && text.startsWith('chunk 0\n'), `first read: ${JSON.stringify(text)}`)
      check.equal(inFlight(client, origin), 1, 'mid-stream: still held')
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        text += decoder.decode(chunk.value)
      }
      check.equal(text, 'chunk 0\nchunk 1\nchunk 2\n')
      check.equal(client.pool.stats().inFlight, 0, 'the stream ended: the slot is free')
    },
  },
  {
    id: 'per-origin-limit',
    name: 'the per-origin limit holds: of 6 concurrent requests at perOrigin 2, never more than 2 are in flight',
    async run({ traced, url, check }) {
      const { client, events } = traced({ pool: { perOrigin: 2 } })
      const results = await Promise.all(
        Array.from({ length: 6 }, () => client.get(url('/slow?ms=20')).json()),
      )
      check.equal(
        results,
        Array.from({ length: 6 }, () => ({ hello: 'world' })),
      )
      let held = 0
      let heldPeak = 0
      for (const event of events) {
        if (event.type === 'acquired') heldPeak = Math.max(heldPeak, ++held)
        if (event.type === 'settled') held--
      }
      check.equal(heldPeak, 2, 'slots held at once, as the pool saw them')
      check.equal(events.filter((event) => event.type === 'queued').length, 4, 'the other 4 queued')
    },
  },
  {
    id: 'abort-while-queued',
    name: 'a queued request that is aborted leaves the queue at once with the abort reason and is never sent',
    async run({ traced, url, origin, check, rejects }) {
      const { client, events } = traced({ pool: { perOrigin: 1 } })
      const holder = await client.get(url('/large')) // larger than drainLimit: the pool cannot take it in
      const controller = new AbortController()
      const queued = client.get(url('/json'), { signal: controller.signal })
      while (!events.some((event) => event.type === 'queued')) await tick()
      check.equal(client.pool.stats().origins[origin]?.queued, 1)
      const reason = new Error('the user navigated away')
      controller.abort(reason)
      const error = await rejects(queued, 'Error')
      check.ok(error === reason, 'rejected with the abort reason itself')
      const stats = client.pool.stats()
      check.equal([stats.queued, stats.totals.aborted, stats.totals.requests], [0, 1, 1])
      check.equal(
        events.filter((event) => event.type === 'rejected').map((event) => event.reason),
        ['aborted'],
      )
      await holder.body!.cancel()
      check.equal(client.pool.stats().inFlight, 0)
    },
  },
  {
    id: 'reclaim-drain',
    name: 'a small body left unread is taken into memory when the next request needs its slot, and stays readable',
    async run({ traced, url, check }) {
      const { client, events } = traced({ pool: { perOrigin: 1 } })
      const unread = await client.get(url('/bytes?size=1000'))
      check.equal(await client.get(url('/json')).json(), { hello: 'world' }, 'not blocked by the unread body')
      check.equal(
        events.filter((event) => event.type === 'reclaimed').map((event) => event.action),
        ['drained'],
      )
      check.equal((await unread.text()).length, 1000, 'the drained body is still there for its caller')
    },
  },
  {
    id: 'reclaim-cancel',
    name: 'a large body left unread past reclaimAfter is cancelled for a queued request; reading it later fails clearly',
    async run({ traced, url, check, rejects }) {
      const { client, events } = traced({ pool: { perOrigin: 1, reclaimAfter: 50 } })
      const unread = await client.get(url('/large'))
      const started = performance.now()
      check.equal(await client.get(url('/json')).json(), { hello: 'world' }, 'not blocked for good')
      check.ok(performance.now() - started >= 40, 'it waited for reclaimAfter first')
      const reclaimed = events.filter((event) => event.type === 'reclaimed')
      check.equal(
        reclaimed.map((event) => [event.action, event.cause]),
        [['cancelled', 'pressure']],
      )
      const error = await rejects(unread.arrayBuffer(), 'BodyReclaimedError')
      check.ok(/another request needed what it held/.test(error.message), error.message)
    },
  },
  {
    id: 'leak-report',
    name: 'a body nobody read is reported as a leak with the call site of the request',
    leaks: true,
    async run({ client: make, url, check }) {
      const client = make()
      await requestAndForget(client, url('/json'))
      const leaks = await collectLeaks(client)
      check.equal(leaks.length, 1)
      const [leak] = leaks
      check.equal(
        [leak!.method, leak!.url, leak!.status, leak!.detectedBy],
        ['GET', url('/json'), 200, 'settle'],
      )
      check.ok(
        /at requestAndForget /.test(leak!.callSite.split('\n')[0] ?? ''),
        `the call site starts at the function that made the request:\n${leak!.callSite}`,
      )
      check.equal(client.pool.stats().inFlight, 0, 'settle() freed its slot')
    },
  },
  {
    id: 'http-error',
    name: "an HTTPError's body is read into error.data and its slot is given back",
    async run({ client: make, url, check, rejects }) {
      const client = make({ pool: { perOrigin: 1 } })
      const error = await rejects(client.get(url('/error/500')).json(), 'HTTPError')
      check.equal(error.data, { error: 'status 500', status: 500 })
      check.equal(client.pool.stats().inFlight, 0)
      check.equal(await client.get(url('/json')).json(), { hello: 'world' }, 'the single slot is free again')
    },
  },
  {
    id: 'retry-after',
    name: 'a 503 with Retry-After is retried through the pool: the failed attempt gives its slot back first',
    async run({ traced, url, check }) {
      const { client, events } = traced({ retry: { limit: 2 }, pool: { perOrigin: 1 } })
      const key = Math.random().toString(36).slice(2)
      check.equal(await client.get(url(`/flaky/503?key=${key}`)).json(), { hello: 'world', attempt: 2 })
      check.equal(events.filter((event) => event.type === 'retry').length, 1)
      check.equal(client.pool.stats().totals.requests, 2)
    },
  },
  {
    id: 'await-using',
    name: '`await using` settles an unread body on scope exit, without a leak',
    async run({ client: make, url, check }) {
      const client = make({ pool: { perOrigin: 1 } })
      {
        await using res = await client.get(url('/large'))
        check.equal(res.status, 200)
        check.equal(client.pool.stats().inFlight, 1)
      }
      check.equal(client.pool.stats().inFlight, 0, 'disposed: the slot is free')
      {
        await using res = await client.get(url('/bytes?size=100'))
        check.equal((await res.text()).length, 100, 'reading inside the scope still works')
      }
      check.equal(client.pool.stats().inFlight, 0)
    },
  },
  {
    id: 'null-body',
    name: 'a response without a body (204, HEAD) gives its slot back at headers',
    async run({ client: make, url, check }) {
      const client = make({ pool: { perOrigin: 1 } })
      const empty = await client.get(url('/empty'))
      check.equal([empty.status, client.pool.stats().inFlight], [204, 0])
      const head = await client.head(url('/json'))
      check.equal([head.status, client.pool.stats().inFlight], [200, 0])
    },
  },
  {
    id: 'unparsable-input-redacted',
    name: "a URL that does not parse or a header line given as a name: the runtime's error does not repeat the secret",
    async run({ client: make, url, check }) {
      // Chromium's URL parser accepts a space in a host (as %20): what a runtime accepts is not sent anywhere.
      const client = make({ fetch: (async () => new Response('ok')) as typeof fetch })
      // The header goes to the runtime's fetch: happy-dom's accepts it and node:http then refuses it.
      const real = make()
      const headerLine = 'Authorization: Bearer S3CRET3' // not a literal key: V8 would name functions after it
      const calls: [string, () => Promise<unknown>][] = [
        ['a space in the URL', () => client.get('https://api.example.com /v1?api_key=S3CRET1').text()],
        ['userinfo and a bad host', () => client.get('http://bob:S3CRET2@exa mple.com/').text()],
        [
          'a prefix with a space',
          () => client.get('v1?token=S3CRET1', { prefix: 'https://api.example.com /' }).text(),
        ],
        ['a header line as a name', () => real.get(url('/json'), { headers: { [headerLine]: 'x' } }).text()],
      ]
      for (const [what, call] of calls) {
        const error = await thrownBy(call)
        if (error === undefined) continue // this runtime accepted it: no error to quote the secret
        const text = errorText(error)
        check.equal(text.match(/S3CRET\d/g) ?? [], [], `${what}: ${text.slice(0, 300)}`)
      }
    },
  },
  {
    id: 'redirect',
    name: 'a redirect is followed hop by hop, each hop in a slot (in browsers, which hide the Location, inside one); the response keeps url and redirected',
    async run({ client: make, url, check }) {
      const client = make({ pool: { perOrigin: 1 } })
      const res = await client.get(url('/redirect?to=/json'))
      check.equal([res.status, res.redirected, res.url], [200, true, url('/json')])
      check.equal(res.clone().redirected, true, 'and so does its clone')
      check.equal(await res.json(), { hello: 'world' })
      const hops = currentRuntime() === 'browser' ? 1 : 2
      check.equal(
        client.pool.stats().totals.requests,
        hops,
        'a slot per hop where the runtime shows redirects',
      )
    },
  },
  {
    id: 'stalled-body',
    name: 'a body that stalls mid-read fails with BodyIdleTimeoutError and gives its slot back',
    async run({ client: make, url, check, rejects }) {
      const client = make({ pool: { perOrigin: 1, idleTimeout: 100 } })
      const res = await client.get(url('/stall'))
      const error = await rejects(res.text(), 'BodyIdleTimeoutError')
      check.ok(/stalled/.test(error.message), error.message)
      check.equal(client.pool.stats().inFlight, 0)
      check.equal(await client.get(url('/json')).json(), { hello: 'world' }, 'the slot is free again')
    },
  },
  {
    id: 'cancel-while-taken-in',
    name: 'cancelling a body returns at once while the pool is taking it in, even when it has stalled',
    async run({ traced, url, check }) {
      const { client, events } = traced({ pool: { perOrigin: 1 } })
      const res = await client.get(url('/stall?declare=0')) // no declared length: the pool may drain it
      const queued = client.get(url('/json')).json() // needs the slot: the pool starts taking the body in
      while (!events.some((event) => event.type === 'queued')) await tick()
      await new Promise((resolve) => setTimeout(resolve, 20)) // the drain has read the one byte and waits
      const started = performance.now()
      await res.body!.cancel()
      check.ok(
        performance.now() - started < 500,
        `cancel() took ${Math.round(performance.now() - started)} ms`,
      )
      check.equal(await queued, { hello: 'world' }, 'the queued request got the slot')
    },
  },
  {
    id: 'call-sites-after-leak',
    name: "with callSites: 'after-leak' (the default outside strict mode) a client's first leak has no line; the next one from the same code names it",
    leaks: true,
    async run({ client: make, url, check }) {
      const client = make({ pool: { callSites: 'after-leak' } })
      await requestAndForget(client, url('/json'))
      const [first] = await collectLeaks(client)
      check.ok(/^\(call site not captured: /.test(first?.callSite ?? ''), `first leak: ${first?.callSite}`)
      await requestAndForget(client, url('/json'))
      const [second] = await collectLeaks(client)
      check.ok(
        /at requestAndForget /.test(second?.callSite.split('\n')[0] ?? ''),
        `second leak names the function that made the request:\n${second?.callSite}`,
      )
    },
  },
  {
    id: 'whole-body-read',
    name: "text(), json(), arrayBuffer() and bytes() leave the response as the runtime's own Response: bodyUsed, locked, a second read refused",
    async run({ client: make, url, origin, check }) {
      const client = make()
      const methods = ['text', 'json', 'arrayBuffer', 'bytes'] as const
      for (const method of methods) {
        const own = await fetch(url('/json'))
        if (typeof own[method] !== 'function') {
          await own.body?.cancel()
          continue // `bytes()` is recent; where the runtime lacks it, so does the pooled response
        }
        const pooled = await client.get(url('/json'))
        const reads = [own[method](), pooled[method]()]
        check.equal(
          [pooled.bodyUsed, pooled.body?.locked],
          [own.bodyUsed, own.body?.locked],
          `${method}() pending: bodyUsed, body.locked`,
        )
        const [ownValue, pooledValue] = await Promise.all(reads)
        check.equal(
          comparable(pooledValue),
          comparable(ownValue),
          `${method}() gives what the runtime's gives`,
        )
        check.equal(
          [pooled.bodyUsed, pooled.body?.locked],
          [own.bodyUsed, own.body?.locked],
          `${method}() done: bodyUsed, body.locked`,
        )
        const again = await Promise.allSettled([own.text(), pooled.text()])
        check.equal(
          again.map((result) => (result.status === 'rejected' ? (result.reason as Error).name : 'read')),
          again.map(() => (again[0]!.status === 'rejected' ? (again[0]!.reason as Error).name : 'read')),
          `a second read after ${method}() ends as the runtime's does`,
        )
        check.equal(inFlight(client, origin), 0, `${method}() read it all: the slot is free`)
      }
    },
  },
]

/** A body read's result as plain data, whatever its type (string, JSON, ArrayBuffer, Uint8Array). */
function comparable(value: unknown): unknown {
  if (value instanceof ArrayBuffer) return { ArrayBuffer: [...new Uint8Array(value)] }
  if (value instanceof Uint8Array) return { Uint8Array: [...value] }
  return value
}

/** Makes a request and drops the response unread: the kind of code the leak report is for. */
async function requestAndForget(client: PooledKy, url: string): Promise<void> {
  await client.get(url)
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1))

/** Registers every behaviour with the runner's `test` (or `skip`, with the reason). */
export function registerBehaviours(h: BehaviourHarness): void {
  for (const behaviour of behaviours) {
    const reason = h.cannot?.[behaviour.id]
    if (reason !== undefined) h.skip(`${behaviour.name} [cannot in ${h.runtime}: ${reason}]`)
    else h.test(behaviour.name, () => runBehaviour(behaviour, h))
  }
}

async function runBehaviour(behaviour: Behaviour, h: BehaviourHarness): Promise<void> {
  const clients: PooledKy[] = []
  const client = (options: ClientOptions = {}) => {
    const made = createTestClient({
      retry: 0,
      ...h.clientOptions,
      ...options,
      pool: { ...h.clientOptions?.pool, ...options.pool },
    })
    clients.push(made)
    return made
  }
  const context: BehaviourContext = {
    h,
    check: h.check,
    url: (path) => `${h.baseUrl}${path}`,
    origin: new URL(h.baseUrl).origin,
    client,
    traced(options = {}) {
      const events: TraceEvent[] = []
      return {
        client: client({ ...options, pool: { ...options.pool, trace: (e) => events.push(e) } }),
        events,
      }
    },
    async rejects(promise, name) {
      try {
        await promise
      } catch (error) {
        h.check.equal((error as Error).name, name, `rejected with ${name}: ${(error as Error).message}`)
        return error as Error & Record<string, unknown>
      }
      h.check.ok(false, `expected a rejection with ${name}`)
      throw new Error('unreachable')
    },
  }
  await within(deadline, behaviour.id, behaviour.run(context)).finally(async () => {
    // Always settle, so nothing (slot, body, timer) is left for the next test or the sanitizer.
    const leaks = await within(
      deadline,
      `settling after ${behaviour.id}`,
      Promise.all(clients.map(collectLeaks)),
    )
    if (!behaviour.leaks) h.check.equal(leaks.flat(), [], 'no body was left unread')
  })
}

/** `promise`, or a rejection naming `what` if it takes longer than `ms` (the timer is cleared either way). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms: something hangs`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** `Check` from vitest's `expect` (for the vitest runners). */
export function vitestCheck(
  expect: (
    value: unknown,
    message?: string,
  ) => {
    toEqual(expected: unknown): void
    toBeTruthy(): void
  },
): Check {
  return {
    equal: (actual, expected, message) => expect(actual, message).toEqual(expected),
    ok: (value, message) => expect(value, message).toBeTruthy(),
  }
}
