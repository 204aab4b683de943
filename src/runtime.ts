/**
 * Which runtime we are in, the defaults that follow from it, and what the runtime can tell us about
 * its connections (the protocol an origin was reached over, from Resource Timing in browsers).
 */
import type { ResolvedPoolOptions } from './options.ts'
import { originOf } from './origin.ts'

export type Runtime = 'workerd' | 'deno' | 'bun' | 'node' | 'browser' | 'unknown'

export function detectRuntime(): Runtime {
  const g = globalThis as Record<string, unknown> & { navigator?: { userAgent?: string } }
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd'
  if (typeof g.Deno === 'object') return 'deno'
  if (typeof g.Bun === 'object') return 'bun'
  if (typeof g.window === 'object' && typeof g.document === 'object') return 'browser'
  if (typeof (g.process as { versions?: { node?: string } } | undefined)?.versions?.node === 'string')
    return 'node'
  return 'unknown'
}

/**
 * Defaults that differ by runtime. Cloudflare Workers allow 6 connections per invocation waiting for
 * headers, and ky-pool holds a slot until the body settles, so 6 in total per invocation keeps a Worker
 * from ever hitting the platform's own (invisible) queue. Elsewhere: 6 per origin (what browsers do
 * for HTTP/1.1), 64 in total (OkHttp's `maxRequests`).
 */
export function runtimeDefaults(runtime: Runtime = detectRuntime()): Partial<ResolvedPoolOptions> {
  if (runtime === 'workerd') return { perOrigin: 6, total: 6 }
  return {}
}

/** The last protocol (`http/1.1`, `h2`, `h3`) each origin was reached over, as Resource Timing reports it. */
export interface ProtocolLog {
  get(origin: string): string | undefined
  disconnect(): void
}

/**
 * Watches `resource` entries of fetches in browsers. Cross-origin entries carry `nextHopProtocol` only
 * when the server sends `Timing-Allow-Origin`; otherwise the protocol stays unknown.
 */
export function observeProtocols(): ProtocolLog | undefined {
  if (typeof PerformanceObserver !== 'function' || detectRuntime() !== 'browser') return undefined
  if (!PerformanceObserver.supportedEntryTypes?.includes('resource')) return undefined
  const protocols = new Map<string, string>()
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as PerformanceResourceTiming[]) {
      if (entry.initiatorType !== 'fetch' || !entry.nextHopProtocol) continue
      try {
        protocols.set(originOf(entry.name), entry.nextHopProtocol)
      } catch {}
    }
  })
  observer.observe({ type: 'resource', buffered: true })
  return { get: (origin) => protocols.get(origin), disconnect: () => observer.disconnect() }
}
