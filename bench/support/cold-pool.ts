/**
 * The connection pool every `fetch` of a benchmark run goes through, made cold for each run: a new undici
 * Agent in Node (with `allowH2` when asked), a new `Deno.HttpClient` in Deno, each trusting the test CA. It
 * replaces `globalThis.fetch` once, so ky-pool (which looks fetch up at call time), plain ky and raw fetch
 * all use the run's pool. Used by the runners of bench/protocols.ts and bench/caps.ts.
 */

interface DenoLike {
  version: { deno: string }
  createHttpClient(options: { caCerts?: string[] }): { close(): void }
  exit(code: number): never
}

/** Deno's global, or undefined in Node. */
export const deno = (globalThis as { Deno?: DenoLike }).Deno
/** The runtime's own fetch, before the replacement below (for control requests outside any run's pool). */
export const baseFetch = globalThis.fetch
// Node only: Deno has its own HttpClient and need not load undici.
const Agent = deno === undefined ? (await import('undici')).Agent : undefined

let current: { init: Record<string, unknown>; close(): Promise<void> } | undefined

globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) =>
  baseFetch(input, { ...init, ...current?.init } as RequestInit)) as typeof fetch

/** Starts a cold pool for the next run; `closePool()` ends it. */
export function coldPool(ca: string, h2 = false): void {
  if (deno !== undefined) {
    const client = deno.createHttpClient({ caCerts: [ca] })
    current = { init: { client }, close: async () => client.close() }
  } else {
    const dispatcher = new Agent!({ allowH2: h2, connect: { ca } })
    current = { init: { dispatcher }, close: () => dispatcher.destroy().catch(() => {}) }
  }
}

export async function closePool(): Promise<void> {
  await current?.close()
  current = undefined
}
