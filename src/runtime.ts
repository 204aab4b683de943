/**
 * Which runtime we are in. (The defaults that follow from the runtime are in src/pool/slots.ts; what it
 * tells of protocols, in src/protocols.ts; Cloudflare Workers' per-invocation scope, in src/invocations.ts.)
 */

export type Runtime = 'workerd' | 'deno' | 'bun' | 'node' | 'browser' | 'unknown'

let runtime: Runtime | undefined

/** The runtime, detected once. */
export function currentRuntime(): Runtime {
  runtime ??= detectRuntime()
  return runtime
}

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
