/**
 * The three HTTP clients the benchmarks compare, each used the way everyday code uses it, plus the
 * helpers that give every run a cold connection pool and a zeroed server.
 */
import ky, { HTTPError, type Options } from 'ky'
import { createClient, LeakError, type PooledKy, type PoolOptions } from '../../src/index.ts'
import type { BenchServer } from './server.ts'

/** What the caller does with the body: parse it, read it as bytes, or forget it. */
export type Read = 'json' | 'bytes' | false

export interface Contender {
  name: string
  /** Called before each run: ky-pool gets a new pool (fresh stats, no leftover state). */
  start(): void
  /**
   * One GET written the way sloppy-but-ordinary code writes it with this client: 4xx/5xx are caught
   * and ignored (raw fetch: `if (!res.ok) return`, the error body left unread; ky: `catch (HTTPError)`),
   * and a 503 is retried once (raw fetch by hand; ky and ky-pool by ky's own `retry`).
   */
  call(url: string, read: Read): Promise<void>
  /** Leak reports after the run; undefined for clients that cannot tell. */
  finish(): Promise<number | undefined>
}

async function consume(response: Response, read: Read): Promise<void> {
  if (read === 'json') await response.json()
  else if (read === 'bytes') await response.arrayBuffer()
}

export const rawFetch: Contender = {
  name: 'fetch',
  start() {},
  async call(url, read) {
    let response = await fetch(url)
    if (response.status === 503) response = await fetch(url) // the 503 body is never read
    if (!response.ok) return
    await consume(response, read)
  },
  async finish() {
    return undefined
  },
}

/** Plain ky (the default export), optionally with options such as `retry`. */
export function plainKy(name = 'ky', options: Options = {}): Contender {
  const instance = Object.keys(options).length === 0 ? ky : ky.create(options)
  return {
    name,
    start() {},
    async call(url, read) {
      try {
        await consume(await instance.get(url), read)
      } catch (error) {
        if (!(error instanceof HTTPError)) throw error
      }
    },
    async finish() {
      return undefined
    },
  }
}

/**
 * ky-pool with `pool` options (defaults when none). Leaks are collected with `leaks: 'strict'`: it prints
 * nothing during the run and `settle()` throws a `LeakError` carrying every report. (`'silent'` would
 * print nothing too, but its `settle()` returns no reports at all.)
 */
export function kyPool(name = 'ky-pool', pool: PoolOptions = {}, kyOptions: Options = {}) {
  let client: PooledKy | undefined
  const contender: Contender & { readonly client: PooledKy } = {
    name,
    get client() {
      if (client === undefined) throw new Error(`${name}: start() first`)
      return client
    },
    start() {
      client = createClient({ ...kyOptions, pool: { leaks: 'strict', ...pool } })
    },
    async call(url, read) {
      try {
        await consume(await contender.client.get(url), read)
      } catch (error) {
        if (!(error instanceof HTTPError)) throw error
      }
    },
    async finish() {
      try {
        return (await contender.client.pool.settle()).length
      } catch (error) {
        if (error instanceof LeakError) return error.leaks.length
        throw error
      }
    },
  }
  return contender
}

export const readingSuffix = ', bodies read'

/** The same client, reading every body (as bytes) even where the workload forgets it: the clean baseline. */
export function reading(contender: Contender): Contender {
  return {
    name: `${contender.name}${readingSuffix}`,
    start: () => contender.start(),
    call: (url, read) => contender.call(url, read === false ? 'bytes' : read),
    finish: () => contender.finish(),
  }
}

interface UndiciAgent {
  constructor: new () => UndiciAgent
  destroy(): Promise<void>
}

const globalDispatcher = Symbol.for('undici.globalDispatcher.1')

interface DenoHttpClient {
  close(): void
}
interface DenoNamespace {
  createHttpClient(options: Record<string, never>): DenoHttpClient
}

const deno = (globalThis as { Deno?: DenoNamespace }).Deno
let denoClient: DenoHttpClient | undefined

/**
 * Deno: every fetch (raw, ky's, ky-pool's — all look `globalThis.fetch` up per call) goes through the
 * current `Deno.HttpClient`, which `freshConnections()` replaces.
 */
function routeDenoFetch(runtime: DenoNamespace): void {
  if (denoClient !== undefined) return
  denoClient = runtime.createHttpClient({})
  const base = globalThis.fetch
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
    base(input, { ...init, client: denoClient } as RequestInit)) as typeof fetch
}

/**
 * Gives the runtime's fetch a new, empty connection pool, so each run starts cold and "connections
 * opened" counts every connection the run needed. Node keeps its undici Agent under a global symbol; the
 * old one is destroyed (unread bodies of the previous run would otherwise keep its sockets open). Deno:
 * a new `Deno.HttpClient` (the old one closed).
 */
export async function freshConnections(): Promise<void> {
  if (deno !== undefined) {
    if (denoClient === undefined) return routeDenoFetch(deno)
    const old = denoClient
    denoClient = deno.createHttpClient({})
    old.close()
    return
  }
  const slot = globalThis as unknown as Record<symbol, UndiciAgent | undefined>
  const old = slot[globalDispatcher]
  if (old === undefined) return
  slot[globalDispatcher] = new old.constructor()
  await old.destroy().catch(() => {})
}

/** Waits until the server has no response in flight (e.g. unread bodies of the last run torn down), then zeroes it. */
export async function resetServer(server: BenchServer): Promise<void> {
  const deadline = performance.now() + 5000
  while ((await server.stats()).inFlight > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await server.reset()
}
