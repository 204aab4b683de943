/**
 * The fault matrix, shared by test/node/faults.test.ts (plain requests) and test/node/credentials.test.ts
 * (the same cells with secrets in every request). Each cell makes one thing go wrong through ky-pool with
 * a low limit, on a real loopback server, and says what the caller must get. `runCell` then checks what
 * every cell owes: the pool is back to 0 in flight and 0 queued, the next request to the origin succeeds,
 * no timer or socket is left behind and nothing was rejected unhandled.
 */
import { createHook } from 'node:async_hooks'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { HTTPError, NetworkError, TimeoutError } from 'ky'
import { expect } from 'vitest'
import {
  BodyIdleTimeoutError,
  BodyReclaimedError,
  type ClientOptions,
  createClient,
  LeakError,
  type LeakReport,
  type PooledKy,
  type PoolStats,
  QueueTimeoutError,
} from '../../src/index.ts'
import { type LoopbackServer, startServer } from './loopback-server.ts'
import { TraceLog } from './pool-harness.ts'

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

export interface CellContext {
  server: LoopbackServer
  client: PooledKy
  log: TraceLog
  /** `server.url + path`, plus the secrets of the credentials run (see `Secrets`). */
  url(path: string, base?: string): string
  /** Starts a server again on the same port (after a cell closed it). */
  restart(): Promise<void>
  /** Runs the garbage collector until `done()` or 50 rounds, one macrotask between rounds. */
  collectUntil(done: () => boolean): Promise<void>
}

export interface FaultCell {
  name: string
  /** Pool options on top of the matrix defaults (perOrigin 1, idleTimeout 200 ms). */
  pool?: ClientOptions['pool']
  /** ky options on top of the matrix defaults (retry 0). */
  ky?: Omit<ClientOptions, 'pool'>
  /** Makes the fault happen; what it resolves or rejects with is what the caller got. */
  run(ctx: CellContext): Promise<unknown>
  /** What the caller must get. */
  check(outcome: Outcome, ctx: CellContext): void | Promise<void>
  /** The next request to the same origin; by default GET /json, which must give `{ ok: true }`. */
  next?(ctx: CellContext): Promise<unknown>
}

// ---------------------------------------------------------------------------------------------------------
// What the caller gets

const rejected = (outcome: Outcome): unknown => {
  expect(
    outcome.ok,
    `expected a rejection, got ${JSON.stringify((outcome as { value?: unknown }).value)}`,
  ).toBe(false)
  return (outcome as { error: unknown }).error
}

/** The `cause` chain of an error, the error itself first. */
export function causes(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let current = error; current !== undefined && chain.length < 10; ) {
    chain.push(current)
    current = current instanceof Error ? current.cause : undefined
  }
  return chain
}

const causeCodes = (error: unknown) =>
  causes(error)
    .map((cause) => (cause as { code?: unknown } | undefined)?.code)
    .filter(Boolean)

const causeMessages = (error: unknown) => causes(error).map((cause) => (cause as Error | undefined)?.message)

/** A 100 MB body: read one chunk, then let go of everything (the stream is unreachable once this returns). */
async function firstChunkThenDrop(ctx: CellContext): Promise<number> {
  const res = await ctx.client.get(ctx.url('/bytes?size=104857600'))
  const chunk = await res.body!.getReader().read()
  return chunk.value!.byteLength
}

/** A queued request's `queued` event, so a cell can act while it waits (no sleeping). */
const nextQueued = (ctx: CellContext) => ctx.log.next('queued')

export const cells: FaultCell[] = [
  {
    name: 'connection refused (nothing listens on the port)',
    async run(ctx) {
      await ctx.server.close()
      return ctx.client.get(ctx.url('/json')).json()
    },
    check(outcome) {
      const error = rejected(outcome)
      expect(error).toBeInstanceOf(NetworkError)
      expect(causeCodes(error)).toContain('ECONNREFUSED')
    },
    async next(ctx) {
      await ctx.restart()
      return ctx.client.get(ctx.url('/json')).json()
    },
  },
  {
    name: 'DNS failure (a .invalid host)',
    run: (ctx) => ctx.client.get(ctx.url('/json', 'http://nonexistent.invalid')).json(),
    check(outcome) {
      const error = rejected(outcome)
      expect(error).toBeInstanceOf(NetworkError)
      expect(causeCodes(error).join()).toMatch(/ENOTFOUND|EAI_AGAIN|EAI_NONAME/)
    },
    // No server can answer for .invalid: the same origin through a fetch that answers, still pooled (perOrigin 1),
    // so a slot left held by the failure would make this request wait, and time out.
    next: (ctx) =>
      ctx.client
        .get(ctx.url('/json', 'http://nonexistent.invalid'), {
          fetch: async () => Response.json({ ok: true }),
        })
        .json(),
  },
  {
    name: 'the server closes the connection before headers',
    run: (ctx) => ctx.client.get(ctx.url('/close-before-headers')).json(),
    check(outcome) {
      const error = rejected(outcome)
      expect(error).toBeInstanceOf(NetworkError)
      expect(causeMessages(error)).toContain('fetch failed')
    },
  },
  {
    name: 'headers slower than ky `timeout` (held by the server)',
    ky: { timeout: 100 },
    run: (ctx) => ctx.client.get(ctx.url('/hold?tag=slow')).json(),
    check(outcome) {
      expect(rejected(outcome)).toBeInstanceOf(TimeoutError)
    },
  },
  {
    name: 'HTTP 500 with retry off (ky reads the error body itself)',
    run: (ctx) => ctx.client.get(ctx.url('/status/500')).json(),
    check(outcome) {
      const error = rejected(outcome) as HTTPError
      expect(error).toBeInstanceOf(HTTPError)
      expect(error.response.status).toBe(500)
      expect(error.data).toEqual({ error: 500 })
    },
  },
  {
    name: 'reset mid-body, read with .text()',
    run: (ctx) => ctx.client.get(ctx.url('/reset?phase=body')).text(),
    check(outcome) {
      const error = rejected(outcome)
      expect(error).toBeInstanceOf(TypeError)
      expect((error as Error).message).toBe('terminated')
    },
  },
  {
    name: 'reset mid-body of a body nobody reads while another request waits for its slot',
    // Nobody reads it, so nobody knows it was reset: after reclaimAfter the pool cancels it for the waiter.
    pool: { reclaimAfter: 50 },
    async run(ctx) {
      const unread = await ctx.client.get(ctx.url('/reset?phase=body&size=2000000')) // more than drainLimit
      const waiting = await ctx.client.get(ctx.url('/json')).json()
      return { waiting, unread: await unread.text().catch((error: unknown) => error) }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { waiting, unread } = (outcome as { value: { waiting: unknown; unread: unknown } }).value
      expect(waiting).toEqual({ ok: true })
      expect(unread).toBeInstanceOf(BodyReclaimedError)
      expect(unread).toMatchObject({ reason: 'pressure', limit: 1 })
    },
  },
  {
    name: 'body stalls forever, read with .text()',
    run: (ctx) => ctx.client.get(ctx.url('/stall')).text(),
    check(outcome) {
      const error = rejected(outcome) as BodyIdleTimeoutError
      expect(error).toBeInstanceOf(BodyIdleTimeoutError)
      expect(error).toMatchObject({ idleTimeout: 200, bytes: 1024, method: 'GET' })
    },
  },
  {
    name: 'body stalls forever, read by hand from `body`',
    async run(ctx) {
      const res = await ctx.client.get(ctx.url('/stall'))
      const reader = res.body!.getReader()
      expect((await reader.read()).value?.byteLength).toBe(1024)
      return reader.read()
    },
    check(outcome) {
      expect(rejected(outcome)).toBeInstanceOf(BodyIdleTimeoutError)
    },
  },
  {
    name: 'a small body stalls while the pool drains it for a queued request: the drain gives up after reclaimAfter and cancels it',
    pool: { reclaimAfter: 50 }, // shorter than the cells' idleTimeout, which would end it first
    async run(ctx) {
      // 99 of 100 bytes arrive, so the body fits in drainLimit and the pool takes it in for the waiter.
      const stalled = await ctx.client.get(ctx.url('/stall?size=100'))
      const queued = nextQueued(ctx)
      const waiting = ctx.client.get(ctx.url('/json')).json()
      await queued
      await ctx.log.next('acquired') // the waiter got the slot: the drain gave up on the stalled body
      return { waiting: await waiting, stalled: await stalled.text().catch((error: unknown) => error) }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { waiting, stalled } = (outcome as { value: { waiting: unknown; stalled: unknown } }).value
      expect(waiting).toEqual({ ok: true })
      // Not idleTimeout (a heartbeat every idleTimeout would hold the slot for ever): the drain's own deadline.
      expect(stalled).toBeInstanceOf(BodyReclaimedError)
      expect(stalled).toMatchObject({ reason: 'pressure' })
    },
  },
  {
    name: 'a small body arrives unread while another request already waits for its slot',
    pool: { leakAfter: 60_000 },
    async run(ctx) {
      const first = ctx.client.get(ctx.url('/hold?tag=first&size=10'))
      await ctx.server.waitForRequests(1)
      const queued = nextQueued(ctx)
      const waiting = ctx.client.get(ctx.url('/json')).json()
      await queued // before the first one's headers: the relief run at queue time saw no body to take in
      ctx.server.release('first')
      const forgotten = await first
      return { waiting: await waiting, later: await forgotten.text() }
    },
    check(outcome) {
      expect(outcome).toEqual({ ok: true, value: { waiting: { ok: true }, later: 'x'.repeat(10) } })
    },
  },
  {
    name: 'a large body arrives unread while another request already waits for its slot',
    pool: { leakAfter: 60_000, reclaimAfter: 50 },
    async run(ctx) {
      const first = ctx.client.get(ctx.url('/hold?tag=first&size=2000000')) // more than drainLimit
      await ctx.server.waitForRequests(1)
      const queued = nextQueued(ctx)
      const waiting = ctx.client.get(ctx.url('/json')).json()
      await queued
      ctx.server.release('first')
      const forgotten = await first
      return { waiting: await waiting, later: await forgotten.text().catch((error: unknown) => error) }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { waiting, later } = (outcome as { value: { waiting: unknown; later: unknown } }).value
      expect(waiting).toEqual({ ok: true })
      expect(later).toBeInstanceOf(BodyReclaimedError)
    },
  },
  {
    name: '429 with Retry-After: 0, ky retries once',
    ky: { retry: { limit: 1, afterStatusCodes: [429] } },
    run: (ctx) => ctx.client.get(ctx.url('/flaky?key=429&fail=1&status=429&retryAfter=0')).json(),
    check(outcome, ctx) {
      expect(outcome).toEqual({ ok: true, value: { ok: true, attempt: 2 } })
      expect(ctx.log.of('retry')).toHaveLength(1)
    },
  },
  {
    name: '429 with Retry-After: 1: the slot is free during the backoff',
    ky: { retry: { limit: 1, afterStatusCodes: [429] } },
    async run(ctx) {
      const retried = ctx.client.get(ctx.url('/flaky?key=429s&fail=1&status=429&retryAfter=1')).json()
      await ctx.log.next('settled') // the 429's body was read by ky: the backoff starts now
      const during = ctx.client.pool.stats()
      const other = await ctx.client.get(ctx.url('/json')).json() // served during the backoff, perOrigin 1
      return { during, other, retried: await retried }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { during, other, retried } = (
        outcome as { value: { during: PoolStats; other: unknown; retried: unknown } }
      ).value
      expect(during).toMatchObject({ inFlight: 0, queued: 0 })
      expect(other).toEqual({ ok: true })
      expect(retried).toEqual({ ok: true, attempt: 2 })
    },
  },
  {
    name: '503 then success, ky retries once',
    ky: { retry: { limit: 1, delay: () => 0 } },
    run: (ctx) => ctx.client.get(ctx.url('/flaky?key=503&fail=1&status=503')).json(),
    check(outcome, ctx) {
      expect(outcome).toEqual({ ok: true, value: { ok: true, attempt: 2 } })
      expect(ctx.server.stats().requests).toBe(2)
    },
  },
  {
    name: 'settle() while requests are in flight (graceful shutdown): bodies that arrive meanwhile and are read at once are left to their callers',
    pool: { leaks: 'strict', perOrigin: 2 },
    async run(ctx) {
      const shortcut = ctx.client.get(ctx.url('/hold?tag=a&size=200000')).arrayBuffer()
      const awaited = ctx.client.get(ctx.url('/hold?tag=b&size=200000'))
      await ctx.server.waitForRequests(2)
      const settling = ctx.client.pool.settle().catch((error: unknown) => error)
      ctx.server.release()
      const res = await awaited
      const read = (body: Promise<ArrayBuffer>) =>
        body.then(
          (buffer) => buffer.byteLength,
          (error: unknown) => error,
        )
      const bytes = [await read(shortcut), await read(res.arrayBuffer())]
      return { bytes, leaks: await settling }
    },
    check(outcome) {
      expect(outcome).toEqual({ ok: true, value: { bytes: [200_000, 200_000], leaks: [] } })
    },
  },
  {
    name: 'settle() while a request is in flight: a body that arrives meanwhile and is never read is reclaimed and reported',
    pool: { leaks: 'strict' },
    async run(ctx) {
      const forgotten = ctx.client.get(ctx.url('/hold?tag=a&size=2000000')) // more than drainLimit
      await ctx.server.waitForRequests(1)
      const settling = ctx.client.pool.settle()
      ctx.server.release()
      await forgotten
      return settling
    },
    check(outcome) {
      const error = rejected(outcome) as LeakError
      expect(error).toBeInstanceOf(LeakError)
      expect(error.leaks).toMatchObject([{ detectedBy: 'settle', action: 'cancelled' }])
    },
  },
  {
    name: '`await using` on a small body that stalls while settle() runs: no leak, the idle timeout frees it',
    pool: { leaks: 'strict' },
    async run(ctx) {
      const res = await ctx.client.get(ctx.url('/stall?size=100'))
      const settling = ctx.client.pool.settle().catch((error: unknown) => error)
      {
        await using _disposed = res // drains what fits in drainLimit; this one never ends
      }
      return settling
    },
    check(outcome) {
      expect(outcome).toEqual({ ok: true, value: [] })
    },
  },
  {
    name: '100 MB body: first chunk read, then reader.cancel()',
    async run(ctx) {
      const res = await ctx.client.get(ctx.url('/bytes?size=104857600'))
      const reader = res.body!.getReader()
      const chunk = await reader.read()
      await reader.cancel()
      // The slot comes back at the cancel, not at settle().
      return { bytes: chunk.value!.byteLength, after: ctx.client.pool.stats() }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { bytes, after } = (outcome as { value: { bytes: number; after: PoolStats } }).value
      expect(bytes).toBeGreaterThan(0)
      expect(after).toMatchObject({ inFlight: 0, queued: 0 })
    },
  },
  {
    name: '100 MB body: dropped unread, then settle()',
    pool: { leaks: 'strict' },
    async run(ctx) {
      await ctx.client.get(ctx.url('/bytes?size=104857600'))
      return ctx.client.pool.settle()
    },
    check(outcome) {
      const error = rejected(outcome) as LeakError
      expect(error).toBeInstanceOf(LeakError)
      expect(error.leaks).toHaveLength(1)
      expect(error.leaks[0]).toMatchObject({ detectedBy: 'settle', action: 'cancelled', status: 200 })
    },
  },
  {
    name: 'a large body cancelled for a waiter and never read is still reported as a leak',
    pool: { reclaimAfter: 0 },
    async run(ctx) {
      await ctx.client.get(ctx.url('/bytes?size=2000000')) // forgotten, more than drainLimit
      const waiting = await ctx.client.get(ctx.url('/json')).json() // takes its slot: the pool cancels it
      await ctx.client.pool.settle()
      return { waiting, leaks: ctx.log.of('leaked'), reclaimed: ctx.log.of('reclaimed') }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { waiting, leaks, reclaimed } = (
        outcome as { value: { waiting: unknown; leaks: unknown[]; reclaimed: unknown[] } }
      ).value
      expect(waiting).toEqual({ ok: true })
      expect(reclaimed).toMatchObject([{ action: 'cancelled', cause: 'pressure' }])
      expect(leaks).toMatchObject([{ detectedBy: 'settle' }])
    },
  },
  {
    name: '100 MB body: first chunk read, then dropped (garbage-collected)',
    async run(ctx) {
      const bytes = await firstChunkThenDrop(ctx)
      await ctx.collectUntil(() => ctx.client.pool.stats().inFlight === 0)
      return { bytes, after: ctx.client.pool.stats(), leaks: ctx.log.of('leaked') }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { after, leaks } = (outcome as { value: { after: PoolStats; leaks: { detectedBy: string }[] } })
        .value
      expect(after).toMatchObject({ inFlight: 0, queued: 0 })
      expect(leaks.map((leak) => leak.detectedBy)).toEqual(['gc'])
    },
  },
  {
    name: 'endless chunked body: a chunk read, then cancelled',
    async run(ctx) {
      const res = await ctx.client.get(ctx.url('/endless'))
      const reader = res.body!.getReader()
      const chunk = await reader.read()
      await reader.cancel()
      return chunk.value!.byteLength
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      expect((outcome as { value: number }).value).toBeGreaterThan(0)
    },
  },
  {
    name: "redirect loop (fetch's own redirect limit)",
    run: (ctx) => ctx.client.get(ctx.url('/redirect-loop')).json(),
    check(outcome) {
      const error = rejected(outcome)
      expect(error).toBeInstanceOf(NetworkError)
      const [, fetchError, limit] = causes(error)
      expect(fetchError).toBeInstanceOf(TypeError)
      expect((limit as Error).message).toMatch(/redirect count exceeded/)
    },
  },
  {
    name: 'caller aborts while queued',
    async run(ctx) {
      const holder = ctx.client.get(ctx.url('/hold?tag=holder')).text()
      await ctx.server.waitForRequests(1)
      const controller = new AbortController()
      const queued = nextQueued(ctx)
      const waiting = ctx.client.get(ctx.url('/json'), { signal: controller.signal }).json()
      await queued
      const reason = new Error('the user went away')
      controller.abort(reason)
      const error = await waiting.catch((error: unknown) => error)
      expect(ctx.client.pool.stats()).toMatchObject({ inFlight: 1, queued: 0 }) // left the queue at once
      ctx.server.release('holder')
      return { same: error === reason, holder: await holder, sent: ctx.server.stats().requests }
    },
    check(outcome, ctx) {
      expect(outcome).toEqual({ ok: true, value: { same: true, holder: 'xx', sent: 1 } })
      expect(ctx.client.pool.stats().totals.aborted).toBe(1)
    },
  },
  {
    name: 'caller aborts while waiting for headers',
    async run(ctx) {
      const controller = new AbortController()
      const waiting = ctx.client.get(ctx.url('/hold?tag=headers'), { signal: controller.signal }).json()
      await ctx.server.waitForRequests(1)
      const reason = new Error('the user went away')
      controller.abort(reason)
      return waiting.catch((error: unknown) => ({ same: error === reason }))
    },
    check(outcome) {
      expect(outcome).toEqual({ ok: true, value: { same: true } })
    },
  },
  {
    name: 'caller aborts while reading the body',
    async run(ctx) {
      const controller = new AbortController()
      const res = await ctx.client.get(ctx.url('/hold?tag=body&phase=body&size=64'), {
        signal: controller.signal,
      })
      const reader = res.body!.getReader()
      expect((await reader.read()).value?.byteLength).toBe(32)
      const reason = new Error('the user went away')
      controller.abort(reason)
      return reader.read().catch((error: unknown) => ({ same: error === reason }))
    },
    check(outcome) {
      expect(outcome).toEqual({ ok: true, value: { same: true } })
    },
  },
  {
    name: 'caller aborts just as headers arrive (after fetch resolved, before the pool tracked the body)',
    async run(ctx) {
      const controller = new AbortController()
      const reason = new Error('the user went away')
      const res = await ctx.client.get(ctx.url('/json'), {
        signal: controller.signal,
        fetch: async () => {
          controller.abort(reason)
          return new Response('x'.repeat(10))
        },
      })
      const after = ctx.client.pool.stats() // the slot is back at once, not at settle()
      return {
        after,
        read: await res.text().catch((error: unknown) => error === reason),
        leaks: ctx.log.of('leaked'),
      }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { after, read, leaks } = (
        outcome as { value: { after: PoolStats; read: unknown; leaks: unknown[] } }
      ).value
      expect(after).toMatchObject({ inFlight: 0, queued: 0 })
      expect(read).toBe(true)
      expect(leaks).toEqual([])
    },
  },
  {
    name: 'signal already aborted when the request is made',
    run: (ctx) =>
      ctx.client.get(ctx.url('/json'), { signal: AbortSignal.abort(new Error('too late')) }).json(),
    check(outcome, ctx) {
      expect((rejected(outcome) as Error).message).toBe('too late')
      expect(ctx.server.stats().requests).toBe(0)
    },
  },
  {
    name: 'queueTimeout while the only slot is held',
    async run(ctx) {
      const holder = ctx.client.get(ctx.url('/hold?tag=holder')).text()
      await ctx.server.waitForRequests(1)
      const error = await ctx.client
        .get(ctx.url('/json'), { pool: { queueTimeout: 50 } })
        .json()
        .catch((error: unknown) => error)
      ctx.server.release('holder')
      await holder
      throw error
    },
    check(outcome, ctx) {
      const error = rejected(outcome) as QueueTimeoutError
      expect(error).toBeInstanceOf(QueueTimeoutError)
      expect(error).toMatchObject({ limit: 1, queueTimeout: 50, origin: ctx.server.origin })
      expect(error.waited).toBeGreaterThanOrEqual(45)
      expect(ctx.server.stats().requests).toBe(1) // the timed-out request was never sent
    },
  },
  {
    name: 'ky totalTimeout while waiting for headers',
    ky: { totalTimeout: 100 },
    run: (ctx) => ctx.client.get(ctx.url('/hold?tag=total')).json(),
    check(outcome) {
      expect(rejected(outcome)).toBeInstanceOf(TimeoutError)
    },
  },
  {
    name: 'ky totalTimeout while queued behind a held slot',
    async run(ctx) {
      const holder = ctx.client.get(ctx.url('/hold?tag=holder')).text()
      await ctx.server.waitForRequests(1)
      const error = await ctx.client
        .get(ctx.url('/json'), { totalTimeout: 100 })
        .json()
        .catch((error: unknown) => error)
      const during = ctx.client.pool.stats()
      ctx.server.release('holder')
      await holder
      return { error, during, sent: ctx.server.stats().requests }
    },
    check(outcome) {
      expect(outcome.ok).toBe(true)
      const { error, during, sent } = (
        outcome as { value: { error: unknown; during: PoolStats; sent: number } }
      ).value
      expect(error).toBeInstanceOf(TimeoutError)
      expect(during).toMatchObject({ inFlight: 1, queued: 0 }) // ky's abort took it out of the queue
      expect(sent).toBe(1)
    },
  },
  {
    name: 'caller aborts during the retry backoff (Retry-After: 1)',
    ky: { retry: { limit: 1, afterStatusCodes: [429] } },
    async run(ctx) {
      const controller = new AbortController()
      const retried = ctx.client
        .get(ctx.url('/flaky?key=backoff&fail=1&status=429&retryAfter=1'), { signal: controller.signal })
        .json()
      await ctx.log.next('settled')
      const reason = new Error('the user went away')
      controller.abort(reason)
      return retried.catch((error: unknown) => ({
        same: error === reason,
        sent: ctx.server.stats().requests,
      }))
    },
    check(outcome) {
      expect(outcome).toEqual({ ok: true, value: { same: true, sent: 1 } })
    },
  },
  {
    name: 'a custom fetch resolves a Response whose body is already locked',
    async run(ctx) {
      const locked = new Response('used')
      locked.body!.getReader()
      return ctx.client.get(ctx.url('/json'), { fetch: async () => locked }).json()
    },
    check(outcome) {
      expect(rejected(outcome)).toBeInstanceOf(TypeError)
    },
  },
  {
    name: 'a custom fetch resolves something that is not a Response',
    run: (ctx) =>
      ctx.client.get(ctx.url('/json'), { fetch: (async () => undefined) as unknown as typeof fetch }).json(),
    check(outcome) {
      expect(rejected(outcome)).toBeInstanceOf(TypeError)
    },
  },
  {
    name: 'a custom fetch throws synchronously',
    run: (ctx) =>
      ctx.client
        .get(ctx.url('/json'), {
          fetch: () => {
            throw new RangeError('boom')
          },
        })
        .json(),
    check(outcome) {
      expect(rejected(outcome)).toBeInstanceOf(RangeError)
    },
  },
]

// ---------------------------------------------------------------------------------------------------------
// Running a cell and checking what every cell owes

/** Secrets the credentials run adds to every request. */
export interface Secrets {
  /** Appended to every URL's query. */
  query: Record<string, string>
  /** Sent with every request (ky's `headers` option on the client). */
  headers: Record<string, string>
}

export interface CellRecord {
  outcome: Outcome
  /** Every trace event of the cell. */
  events: TraceLog['events']
  /** Leak reports returned by every settle(). */
  leaks: LeakReport[]
  /** stats() at several moments. */
  stats: PoolStats[]
  /** What the next request got. */
  next: unknown
}

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url))
const kyDir = `${fileURLToPath(new URL('../../node_modules/ky/', import.meta.url))}`

/**
 * Timers (including unref'd ones, which `getActiveResourcesInfo()` does not list) created by ky-pool or
 * ky and not yet cleared or fired, with the stack that created them.
 */
export function timerTracker() {
  const live = new Map<number, string>()
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') return
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = 30
      const stack = new Error('timer created').stack ?? ''
      Error.stackTraceLimit = limit
      if (stack.includes(srcDir) || stack.includes(kyDir)) live.set(asyncId, stack)
    },
    destroy(asyncId) {
      live.delete(asyncId)
    },
  })
  return {
    enable: () => hook.enable(),
    disable: () => hook.disable(),
    /** Waits (a macrotask at a time, at most 50) until every tracked timer is gone; returns the stacks of those left. */
    async leftOver(): Promise<string[]> {
      for (let round = 0; round < 50 && live.size > 0; round++) await macrotask()
      return [...live.values()]
    },
    clear: () => live.clear(),
  }
}

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve))

let gc = (globalThis as { gc?: () => void }).gc
function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
}

const count = (type: string) =>
  process.getActiveResourcesInfo().filter((resource) => resource === type).length

/** Resolves with `promise`, or fails the test naming `what` if it takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Runs one cell and asserts everything a cell owes; returns what it captured. */
export async function runCell(
  cell: FaultCell,
  options: { secrets?: Secrets; pool?: ClientOptions['pool']; timers: ReturnType<typeof timerTracker> },
): Promise<CellRecord> {
  const { secrets, timers } = options
  const timeoutsBefore = count('Timeout')
  const socketsBefore = count('TCPSocketWrap')
  timers.clear()
  let server = await startServer()
  const port = server.port
  const log = new TraceLog()
  const client = createClient({
    retry: 0,
    ...(secrets && { headers: secrets.headers }),
    ...cell.ky,
    pool: {
      perOrigin: 1,
      idleTimeout: 200,
      leaks: 'silent',
      trace: log.trace,
      ...options.pool,
      ...cell.pool,
    },
  })
  const ctx: CellContext = {
    get server() {
      return server
    },
    client,
    log,
    url(path, base = server.url) {
      const url = new URL(path, base)
      for (const [name, value] of Object.entries(secrets?.query ?? {})) url.searchParams.set(name, value)
      return url.href
    },
    async restart() {
      server = await startServer({ port })
    },
    async collectUntil(done) {
      for (let round = 0; round < 50 && !done(); round++) {
        collectGarbage()
        await macrotask()
      }
    },
  }
  const record: CellRecord = {
    outcome: { ok: true, value: undefined },
    events: log.events,
    leaks: [],
    stats: [],
    next: undefined,
  }
  try {
    record.outcome = await within(
      cell.run(ctx).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      10_000,
      'the fault',
    )
    record.stats.push(client.pool.stats())
    await cell.check(record.outcome, ctx)

    // Every slot comes back.
    record.leaks.push(...(await within(client.pool.settle(), 5_000, 'pool.settle() after the fault')))
    record.stats.push(client.pool.stats())
    expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, origins: {} })

    // The origin still works.
    record.next = await within(
      cell.next ? cell.next(ctx) : client.get(ctx.url('/json')).json(),
      5_000,
      'the next request',
    )
    expect(record.next).toEqual({ ok: true })
    record.leaks.push(...(await within(client.pool.settle(), 5_000, 'pool.settle() after the next request')))
    record.stats.push(client.pool.stats())
    expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, origins: {} })
  } finally {
    await server.close()
  }

  // Nothing left behind: no ky-pool or ky timer (ref'd or not), no extra active timer or socket.
  expect(await timers.leftOver(), 'timers created by ky-pool or ky still pending').toEqual([])
  for (let round = 0; round < 50 && count('TCPSocketWrap') > socketsBefore; round++) await macrotask()
  expect(count('TCPSocketWrap'), 'client sockets left open').toBeLessThanOrEqual(socketsBefore)
  expect(count('Timeout'), 'active timers').toBeLessThanOrEqual(timeoutsBefore)
  return record
}
