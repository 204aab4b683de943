/**
 * Property-based: random schedules over 2–3 origins with random limits. Each schedule makes requests
 * whose server behaves at random (fast, held until released, error status, reset mid-body, stalled
 * mid-body, connection failure), aborts some of them at random moments, handles each body at random
 * (read, cancel, forget, partial read then cancel, `await using`), with random priorities and queue
 * timeouts, and calls `settle()` at random moments while requests are in flight. Invariants, checked at every step and at the end:
 *
 * - in flight per origin never exceeds its limit, and over all origins never exceeds `total`, as the
 *   server (the fetch boundary) sees it — not only as the pool counts it;
 * - every call settles exactly once, and the pool reports exactly one end (settled or rejected) per request;
 * - within an origin, requests of equal priority get their slot in the order they asked for it (and reach
 *   the server in that order when the origin has a single slot);
 * - after `settle()`, 0 in flight and 0 queued;
 * - the requests reported as leaked are exactly the ones whose body the caller forgot.
 *
 * Two transports. The bulk (FC_RUNS, default 1000) runs against an in-process fake `fetch` that returns
 * real `Response` objects over real `ReadableStream`s the test controls, with fake timers, so a run takes
 * about a millisecond and a seed replays exactly. The fetch is the boundary, so this tests the whole pool
 * (and ky around it), not a mock of it. A smaller number (FC_REAL_RUNS, default 200) runs the same
 * schedules against real loopback servers, one per origin, with real timers. fast-check prints the seed
 * and the shrunk counterexample of a failure; replay with FC_SEED=<seed> (and FC_PATH=<path>).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  type ClientOptions,
  createClient,
  type PooledKy,
  type PooledResponse,
  type TraceEvent,
} from '../../src/index.ts'
import { loadCold } from '../../src/lazy.ts'
import { type LoopbackServer, startServer } from '../support/loopback-server.ts'

// ---------------------------------------------------------------------------------------------------------
// The model

const behaviours = ['fast', 'held', 'error', 'reset', 'stall', 'refused'] as const
const handlings = ['read', 'cancel', 'forget', 'partial', 'dispose'] as const
type Behaviour = (typeof behaviours)[number]
type Handling = (typeof handlings)[number]

interface Call {
  origin: number
  behaviour: Behaviour
  /** Larger than drainLimit (the pool cannot take it into memory). */
  big: boolean
  /** Content-Length given (else chunked, size unknown). */
  sized: boolean
  handling: Handling
  priority: number
  queueTimeout: number | undefined
}

type Step =
  | { kind: 'call'; call: Call }
  | { kind: 'release'; target: number }
  | { kind: 'abort'; target: number }
  | { kind: 'tick'; ms: number }
  /** `pool.settle()` in the middle of things, not awaited (a graceful shutdown while requests are in flight). */
  | { kind: 'settle' }

interface Scenario {
  limits: number[]
  total: number
  reclaimAfter: number
  leakAfter: number
  steps: Step[]
}

const DRAIN_LIMIT = 100
const SMALL = 10
const CHUNK = 60
const BIG_CHUNKS = 3 // 180 bytes > DRAIN_LIMIT

const callArb = (origins: number) =>
  fc.record({
    origin: fc.nat(origins - 1),
    behaviour: fc.constantFrom(...behaviours),
    big: fc.boolean(),
    sized: fc.boolean(),
    handling: fc.constantFrom(...handlings),
    priority: fc.integer({ min: 0, max: 2 }),
    queueTimeout: fc.option(fc.integer({ min: 1, max: 40 }), { freq: 3, nil: undefined }),
  })

const scenarioArb = (reclaimAfters: number[], leakAfters: number[]) =>
  fc.integer({ min: 2, max: 3 }).chain((origins) =>
    fc.record({
      limits: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: origins, maxLength: origins }),
      total: fc.integer({ min: 1, max: 6 }),
      reclaimAfter: fc.constantFrom(...reclaimAfters),
      leakAfter: fc.constantFrom(...leakAfters),
      steps: fc.array(
        fc.oneof(
          { weight: 6, arbitrary: callArb(origins).map((call): Step => ({ kind: 'call', call })) },
          { weight: 2, arbitrary: fc.nat(15).map((target): Step => ({ kind: 'release', target })) },
          { weight: 1, arbitrary: fc.nat(15).map((target): Step => ({ kind: 'abort', target })) },
          { weight: 2, arbitrary: fc.integer({ min: 0, max: 30 }).map((ms): Step => ({ kind: 'tick', ms })) },
          { weight: 1, arbitrary: fc.constant<Step>({ kind: 'settle' }) },
        ),
        { minLength: 1, maxLength: 14 },
      ),
    }),
  )

// ---------------------------------------------------------------------------------------------------------
// Transports: where requests go, and what the server side saw

interface Transport {
  /** The URL of call `id`; it carries everything the server needs to behave. */
  url(id: number, call: Call): string
  origin(index: number): string
  /** Lets the held response of call `id` go (if it is held). */
  release(id: number): void
  releaseAll(): void
  /** Lets time pass (fake) or the event loop turn (real). */
  tick(ms: number): Promise<void>
  /** Extra client options (the fake fetch, or a fetch that records arrival order). */
  client: ClientOptions
  /** Call ids in the order the server (the fetch boundary) received them, per origin. */
  arrivals: number[][]
  /**
   * Broken "in flight ≤ limit" / "≤ total" as the server saw it. `gentle`: every connection of the run
   * ended on the server's terms (see the real transport).
   */
  violations(gentle: boolean): string[]
}

const idOf = (url: string) => Number(new URL(url).searchParams.get('i'))

/**
 * The fake network: a fetch that answers from the URL, counts what is in flight from the moment fetch is
 * called until the response body is closed, errored or cancelled (or fetch rejects), and checks the limits
 * at every request.
 */
function fakeTransport(scenario: Scenario): Transport {
  const inFlight = scenario.limits.map(() => 0)
  let total = 0
  const broken: string[] = []
  const held = new Map<number, () => void>()
  const arrivals: number[][] = scenario.limits.map(() => [])

  const fetch = (request: Request): Promise<Response> => {
    const url = new URL(request.url)
    const origin = Number(url.hostname.slice(1, url.hostname.indexOf('.')))
    const id = Number(url.searchParams.get('i'))
    const behaviour = url.searchParams.get('b') as Behaviour
    const big = url.searchParams.get('big') === '1'
    const sized = url.searchParams.get('sized') === '1'
    arrivals[origin]!.push(id)
    inFlight[origin]!++
    total++
    if (inFlight[origin]! > scenario.limits[origin]!)
      broken.push(`origin ${origin}: ${inFlight[origin]} in flight, limit ${scenario.limits[origin]}`)
    if (total > scenario.total) broken.push(`${total} in flight in total, limit ${scenario.total}`)
    let left = false
    const leave = () => {
      if (left) return
      left = true
      inFlight[origin]!--
      total--
    }
    const { signal } = request
    return new Promise<Response>((resolve, reject) => {
      let controller: ReadableStreamDefaultController<Uint8Array> | undefined
      let responded = false
      const onAbort = () => {
        if (left) return
        leave()
        if (!responded) reject(signal.reason)
        else controller?.error(signal.reason)
      }
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      const respond = () => {
        if (left) return
        responded = true
        const chunks = behaviour === 'error' ? 1 : big ? BIG_CHUNKS : 1
        const size = behaviour === 'error' ? SMALL : big ? CHUNK : SMALL
        let sent = 0
        const body = new ReadableStream<Uint8Array>(
          {
            start(c) {
              controller = c
            },
            pull(c) {
              if (left) return
              if (sent === 1 && behaviour === 'stall') return new Promise<void>(() => {}) // until cancelled
              if (sent === 1 && behaviour === 'reset') {
                leave()
                return c.error(new TypeError('terminated'))
              }
              c.enqueue(new Uint8Array(size).fill(120))
              sent++
              if (sent === chunks && behaviour !== 'stall' && behaviour !== 'reset') {
                leave()
                c.close()
              }
            },
            cancel() {
              leave()
            },
          },
          { highWaterMark: 0 },
        )
        const headers = new Headers({ 'content-type': 'application/octet-stream' })
        if (sized) headers.set('content-length', String(chunks * size))
        resolve(new Response(body, { status: behaviour === 'error' ? 500 : 200, headers }))
      }
      if (behaviour === 'refused') {
        leave()
        reject(new TypeError('fetch failed'))
      } else if (behaviour === 'held') held.set(id, respond)
      else queueMicrotask(respond)
    })
  }

  return {
    url: (id, call) =>
      `http://o${call.origin}.test/r?i=${id}&b=${call.behaviour}&big=${Number(call.big)}&sized=${Number(call.sized)}`,
    origin: (index) => `http://o${index}.test`,
    release(id) {
      held.get(id)?.()
      held.delete(id)
    },
    releaseAll() {
      for (const respond of held.values()) respond()
      held.clear()
    },
    async tick(ms) {
      await vi.advanceTimersByTimeAsync(ms)
      await realMacrotask()
    },
    client: { fetch: fetch as typeof globalThis.fetch },
    arrivals,
    violations: () => broken,
  }
}

/**
 * Real loopback servers, one per origin. In flight "as the server sees it" is each server's peakInFlight.
 * A server learns that the client closed a connection (a cancelled body, an abort, an idle timeout) only
 * when it processes the close, which can come after the next request on a fresh connection: the client
 * had given the slot back, and the connection up, before it sent that request. So the server's peak is
 * checked in runs where every connection ended on the server's terms (bodies read or drained to the end,
 * error statuses, resets and closes by the server); the fake transport checks every run at the fetch
 * boundary, exactly.
 */
function realTransport(scenario: Scenario, servers: LoopbackServer[]): Transport {
  const arrivals: number[][] = scenario.limits.map(() => [])
  const originOfUrl = new Map(servers.map((server, index) => [server.origin, index]))
  const path = (id: number, call: Call) => {
    const size = call.big ? BIG_CHUNKS * CHUNK : SMALL
    const chunked = call.sized ? '' : '&chunked=1'
    switch (call.behaviour) {
      case 'fast':
        return `/bytes?size=${size}${chunked}`
      case 'held':
        return `/hold?tag=${id}&size=${size}`
      case 'error':
        return '/status/500'
      case 'reset':
        return '/reset?phase=body'
      case 'stall':
        return `/stall?size=${call.big ? 20_000 : DRAIN_LIMIT}` // small: 99 of 100 bytes, so it is drainable
      case 'refused':
        return '/close-before-headers'
    }
  }
  return {
    url: (id, call) => {
      const route = path(id, call)
      return `${servers[call.origin]!.url}${route}${route.includes('?') ? '&' : '?'}i=${id}`
    },
    origin: (index) => servers[index]!.origin,
    release: (id) => {
      for (const server of servers) server.release(String(id))
    },
    releaseAll: () => {
      for (const server of servers) server.release()
    },
    async tick() {
      await realMacrotask()
    },
    client: {
      fetch: ((request: Request, init?: RequestInit) => {
        arrivals[originOfUrl.get(new URL(request.url).origin)!]!.push(idOf(request.url))
        return globalThis.fetch(request, init)
      }) as typeof globalThis.fetch,
    },
    arrivals,
    violations: (gentle) =>
      servers.flatMap((server, index) => {
        if (!gentle) return []
        const { peakInFlight } = server.stats()
        return index < scenario.limits.length && peakInFlight > scenario.limits[index]!
          ? [`server ${index}: peak ${peakInFlight} in flight, limit ${scenario.limits[index]}`]
          : []
      }),
  }
}

const realMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve))

// ---------------------------------------------------------------------------------------------------------
// Running a schedule

async function handle(res: PooledResponse, handling: Handling): Promise<void> {
  switch (handling) {
    case 'read':
      await res.arrayBuffer()
      return
    case 'cancel':
      await res.body?.cancel()
      return
    case 'partial': {
      const reader = res.body!.getReader()
      await reader.read()
      await reader.cancel()
      return
    }
    case 'dispose': {
      await using _disposed = res
      return
    }
    case 'forget':
      return
  }
}

interface CallState {
  call: Call
  controller: AbortController
  /** Times the call (request and body handling) finished; must end at exactly 1. */
  ends: number
  /** The call resolved with a Response whose body the caller then forgot. */
  forgotten: boolean
  /** An abort ended the body before anything else did (not a leak: aborting is a way to end a request). */
  abortedBody: boolean
}

async function runScenario(
  scenario: Scenario,
  transport: Transport,
  options: {
    idleTimeout: number
    drive: (done: () => boolean) => Promise<void>
    /** Fake timers: the end must come within a bound of (fake) time, not only eventually. */
    deadline?: boolean
  },
): Promise<{ gentle: boolean }> {
  const events: TraceEvent[] = []
  const client: PooledKy = createClient({
    retry: 0,
    timeout: false,
    throwHttpErrors: true,
    ...transport.client,
    pool: {
      perOrigin: 1,
      origins: Object.fromEntries(scenario.limits.map((limit, index) => [transport.origin(index), limit])),
      total: scenario.total,
      drainLimit: DRAIN_LIMIT,
      reclaimAfter: scenario.reclaimAfter,
      leakAfter: scenario.leakAfter,
      idleTimeout: options.idleTimeout,
      leaks: 'silent',
      trace: (event) => events.push(event),
    },
  })
  const calls: CallState[] = []
  const stepProblems: string[] = []
  const midRunSettles: Promise<boolean>[] = []
  const callOf = (event: TraceEvent) => idOf(event.url)
  /** Whether the body of call `id` has settled, or been reported as leaked (by the watchdog), as of now. */
  const settledOrLeaked = (id: number) =>
    events.some((event) => (event.type === 'settled' || event.type === 'leaked') && callOf(event) === id)

  const checkStats = (where: string) => {
    const stats = client.pool.stats()
    if (stats.inFlight > scenario.total) stepProblems.push(`${where}: stats inFlight ${stats.inFlight}`)
    scenario.limits.forEach((limit, index) => {
      const origin = stats.origins[transport.origin(index)]
      if (origin && origin.inFlight > limit)
        stepProblems.push(`${where}: origin ${index} inFlight ${origin.inFlight}`)
    })
  }

  for (const [index, step] of scenario.steps.entries()) {
    if (step.kind === 'call') {
      const id = calls.length
      const state: CallState = {
        call: step.call,
        controller: new AbortController(),
        ends: 0,
        forgotten: false,
        abortedBody: false,
      }
      calls.push(state)
      const { priority, queueTimeout } = step.call
      client
        .get(transport.url(id, step.call), {
          signal: state.controller.signal,
          pool: { priority, ...(queueTimeout !== undefined && { queueTimeout }) },
        })
        .then(async (res) => {
          if (step.call.handling === 'forget') state.forgotten = true
          await handle(res, step.call.handling)
        })
        .catch(() => {}) // any error is a fine end here; the invariants are what is checked
        .finally(() => state.ends++)
    } else if (step.kind === 'release' && calls.length > 0) {
      transport.release(step.target % calls.length)
    } else if (step.kind === 'abort' && calls.length > 0) {
      const id = step.target % calls.length
      const state = calls[id]!
      if (!state.controller.signal.aborted && !settledOrLeaked(id)) state.abortedBody = true
      state.controller.abort(new Error(`abort ${id}`))
    } else if (step.kind === 'tick') {
      await transport.tick(step.ms)
    } else if (step.kind === 'settle') {
      midRunSettles.push(client.pool.settle().then(() => true))
    }
    checkStats(`step ${index}`)
  }

  // The end: let every held response go, and let time pass until every call has ended by itself.
  const allEnded = () => calls.every((state) => state.ends > 0)
  const endStarted = performance.now()
  await options.drive(() => {
    transport.releaseAll()
    return allEnded()
  })
  expect(
    calls.map((state) => state.ends),
    'calls ended (exactly once each)',
  ).toEqual(calls.map(() => 1))
  if (options.deadline) {
    // Without leakAfter or queueTimeout: each waiter is unblocked by a read, an idle timeout, a drain or a
    // reclaim after reclaimAfter; a chain of forgotten bodies can take one reclaimAfter each.
    const bound = (calls.length + 1) * (scenario.reclaimAfter + 300) + 1000
    expect(performance.now() - endStarted, 'fake ms until every call ended').toBeLessThanOrEqual(bound)
  }
  let settled = false
  const settling = client.pool.settle().finally(() => {
    settled = true
  })
  await options.drive(() => settled)
  expect(settled, `settle() still waiting: ${JSON.stringify(client.pool.stats())}`).toBe(true)
  await settling
  expect(await Promise.all(midRunSettles), 'settle() calls made mid-run resolved').toEqual(
    midRunSettles.map(() => true),
  )
  checkStats('end')

  // Limits, as the server saw them and as the pool counted them.
  const serverEnded = (id: number) => ['reset', 'refused'].includes(calls[id]!.call.behaviour)
  const gentle =
    calls.every((state) => !state.controller.signal.aborted) &&
    events.every(
      (event) =>
        event.type !== 'settled' ||
        event.how === 'read' ||
        event.how === 'drained' ||
        serverEnded(callOf(event)),
    )
  expect(transport.violations(gentle), 'in flight beyond a limit, at the server').toEqual([])
  expect(stepProblems, 'in flight beyond a limit, in stats()').toEqual([])
  expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, origins: {} })

  // One end per request in the pool: 'settled' (after acquiring) or 'rejected' (left the queue).
  const ends = new Map<number, number>()
  const starts = new Map<number, number>() // flight id → call id
  for (const event of events) {
    if (event.type === 'queued' || (event.type === 'acquired' && !starts.has(event.id)))
      starts.set(event.id, callOf(event))
    if (event.type === 'settled' || event.type === 'rejected')
      ends.set(event.id, (ends.get(event.id) ?? 0) + 1)
  }
  expect(
    [...starts.keys()]
      .filter((flight) => ends.get(flight) !== 1)
      .map((flight) => [flight, ends.get(flight) ?? 0]),
    'requests without exactly one end',
  ).toEqual([])

  // FIFO within equal priority, per origin: the order slots were granted, and the order the server saw.
  const entered: number[] = [...starts.values()] // pool entry order (a Map keeps insertion order)
  const rank = new Map(entered.map((id, position) => [id, position]))
  const granted = events.filter((event) => event.type === 'acquired').map(callOf)
  const outOfOrder = (sequence: number[]) => {
    const last = new Map<string, number>()
    const problems: string[] = []
    for (const id of sequence) {
      const { origin, priority } = calls[id]!.call
      const key = `${origin}/${priority}`
      const position = rank.get(id)!
      if ((last.get(key) ?? -1) > position)
        problems.push(`call ${id} (origin ${origin}, priority ${priority})`)
      last.set(key, Math.max(last.get(key) ?? -1, position))
    }
    return problems
  }
  expect(outOfOrder(granted), 'slots granted out of order').toEqual([])
  for (const [origin, arrived] of transport.arrivals.entries()) {
    if (scenario.limits[origin] === 1) expect(outOfOrder(arrived), `arrivals at origin ${origin}`).toEqual([])
  }

  // Leaks: exactly the forgotten bodies (an abort that ended an unread body is no leak).
  const leaked = [...new Set(events.filter((event) => event.type === 'leaked').map(callOf))].sort(
    (a, b) => a - b,
  )
  const forgotten = calls
    .map((state, id) => (state.forgotten && !state.abortedBody ? id : -1))
    .filter((id) => id >= 0)
  const mismatched = [...leaked, ...forgotten].filter((id) => leaked.includes(id) !== forgotten.includes(id))
  const story = mismatched.flatMap((id) =>
    events
      .filter((event) => callOf(event) === id)
      .map(
        (event) => `call ${id}: ${event.type} ${JSON.stringify({ ...event, url: undefined, at: undefined })}`,
      ),
  )
  expect(leaked, `leaked calls vs forgotten bodies\n${story.join('\n')}`).toEqual(forgotten)
  expect(client.pool.stats().totals.leaks).toBe(forgotten.length)
  return { gentle }
}

// ---------------------------------------------------------------------------------------------------------

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled)
  // The cold paths (src/lazy.ts) load in real time, which `drive` would count as many fake ms: load them first.
  await loadCold()
})
afterAll(() => process.off('unhandledRejection', onUnhandled))

const runs = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}
const replay = {
  ...(process.env.FC_SEED !== undefined && { seed: Number(process.env.FC_SEED) }),
  ...(process.env.FC_PATH !== undefined && { path: process.env.FC_PATH }),
}

describe('random schedules', () => {
  it(`in-process fetch with fake timers (${runs('FC_RUNS', 1000)} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb([0, 15, 10_000], [30, 10_000]), async (scenario) => {
        vi.useFakeTimers({
          toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
        })
        try {
          await runScenario(scenario, fakeTransport(scenario), {
            idleTimeout: 20,
            deadline: true,
            async drive(done) {
              for (let round = 0; round < 400 && !done(); round++) {
                await vi.advanceTimersByTimeAsync(100)
                await realMacrotask()
              }
            },
          })
        } finally {
          vi.useRealTimers()
        }
      }),
      { numRuns: runs('FC_RUNS', 1000), ...replay },
    )
    await realMacrotask()
    expect(unhandled, 'unhandled rejections').toEqual([])
  }, 120_000)

  describe('real loopback servers, one per origin', () => {
    const servers: LoopbackServer[] = []
    beforeAll(async () => {
      for (let index = 0; index < 3; index++) servers.push(await startServer())
    })
    afterAll(async () => {
      await Promise.all(servers.map((server) => server.close()))
    })

    it(`real sockets and timers (${runs('FC_REAL_RUNS', 200)} runs)`, async () => {
      let gentleRuns = 0
      await fc.assert(
        fc.asyncProperty(scenarioArb([0, 20], [10_000]), async (scenario) => {
          for (const server of servers) server.reset()
          const { gentle } = await runScenario(scenario, realTransport(scenario, servers), {
            idleTimeout: 50,
            async drive(done) {
              // Real time: the idle timeout, reclaimAfter and queue timeouts end every call within ~300 ms.
              for (let round = 0; round < 5_000 && !done(); round++)
                await new Promise((r) => setTimeout(r, 1))
            },
          })
          for (let round = 0; round < 5_000 && servers.some((server) => server.stats().inFlight > 0); round++)
            await new Promise((resolve) => setTimeout(resolve, 1))
          expect(
            servers.map((server) => server.stats().inFlight),
            'responses the servers still send',
          ).toEqual([0, 0, 0])
          if (gentle) gentleRuns++
        }),
        { numRuns: runs('FC_REAL_RUNS', 200), ...replay },
      )
      // The server-side check must not be vacuous: a fair share of runs end every connection gracefully.
      expect(gentleRuns).toBeGreaterThan(runs('FC_REAL_RUNS', 200) / 10)
      await realMacrotask()
      expect(unhandled, 'unhandled rejections').toEqual([])
    }, 120_000)
  })
})
