/**
 * Cloudflare Workers: state per invocation. Plugged in by the server entry points (src/plugins.ts); a
 * browser bundle has none of it.
 *
 * Concurrent invocations of one isolate share module scope, but not I/O: a body fetched by one
 * invocation cannot be read or cancelled by another ("Cannot perform I/O on behalf of a different
 * request"), and an invocation waiting on a promise that only another invocation would resolve is
 * cancelled by workerd's hang detector. The platform's connection limit is per invocation too. So in
 * workerd each invocation gets its own pool, found by the invocation's active tracing span (the one
 * per-invocation identity `cloudflare:workers` offers without wrapping the handler), and
 * `waitUntil` keeps an invocation alive while its pool still holds bodies, so that its own timers can
 * reclaim them after the response was returned.
 */
import { withCold } from './lazy.ts'
import type { Invocations } from './plugins.ts'
import { currentRuntime } from './runtime.ts'

interface CloudflareWorkersModule {
  tracing?: { getActiveSpan?: () => object | undefined }
  waitUntil?: (promise: Promise<unknown>) => void
}

let cloudflare: CloudflareWorkersModule | undefined
let cloudflareLooked = false

/** Called by the `workerd` entry point, which can import `cloudflare:workers` statically. */
export function useCloudflareWorkers(module: CloudflareWorkersModule): void {
  cloudflare = module
  cloudflareLooked = true
}

let scopeChecked = false

/** Called in workerd only. */
function cloudflareWorkers(): CloudflareWorkersModule | undefined {
  if (!cloudflareLooked) {
    cloudflareLooked = true
    const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    try {
      cloudflare = process?.getBuiltinModule?.('cloudflare:workers') as CloudflareWorkersModule | undefined
    } catch {}
  }
  if (!scopeChecked) {
    scopeChecked = true
    // Without it every invocation of the isolate shares one pool, which workerd does not allow (see above):
    // say so once, instead of letting requests hang or fail later for no visible reason.
    if (typeof cloudflare?.tracing?.getActiveSpan !== 'function') {
      withCold((cold) => cold.warnSharedInvocations())
    }
  }
  return cloudflare
}

/** The current Workers invocation, as an object to key state by; undefined outside workerd or outside a request. */
export function invocationKey(): object | undefined {
  if (currentRuntime() !== 'workerd') return undefined
  return cloudflareWorkers()?.tracing?.getActiveSpan?.() ?? undefined
}

/** Keeps the current Workers invocation alive until `promise` settles; a no-op elsewhere. */
export function keepAliveUntil(promise: Promise<unknown>): void {
  if (currentRuntime() === 'workerd') cloudflareWorkers()?.waitUntil?.(promise)
}

/**
 * A getter for a value that is one per Workers invocation, and one in total elsewhere (or when the
 * invocation cannot be told; see above). Values of finished invocations are garbage with them.
 */
export function perInvocation<T>(create: () => T): () => T {
  let single: T | undefined
  const byInvocation = new WeakMap<object, T>()
  return () => {
    const key = invocationKey()
    if (key === undefined) {
      single ??= create()
      return single
    }
    let value = byInvocation.get(key)
    if (value === undefined) {
      value = create()
      byInvocation.set(key, value)
    }
    return value
  }
}

/** The per-invocation scope as the server entry points plug it in (see src/plugins.ts). */
export const cloudflareInvocations: Invocations = { perInvocation, keepAliveUntil }
