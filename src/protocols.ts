/**
 * What ky-pool knows of the protocol each origin is reached over: declared in `pool.origins`, or
 * observed where the runtime tells, or unknown.
 *
 * - Browsers: Resource Timing's `nextHopProtocol`, from the page's own navigation entry (the page's
 *   origin, known at once) and from `resource` entries of earlier fetches. Chromium fills it only once
 *   a fetch's body has been read, and a cross-origin entry only when its server sends
 *   `Timing-Allow-Origin` (without it, measured: empty on every request) — the usual frontend case, so
 *   such an origin stays unknown, and ky-pool's browser defaults are chosen to be safe for it.
 * - Node: undici's `undici:client:connected` diagnostics channel reports each new connection with its
 *   ALPN protocol (src/undici-connections.ts, a plug-in of the server entry points: src/plugins.ts).
 * - Deno, Bun, Cloudflare Workers: no API tells; declare it.
 *
 * Observation is per module instance (it is a fact about the runtime, not about one client), started
 * when the first client is made, and costs nothing per request.
 */
import type { Protocol, ProtocolSource } from './lifecycle.ts'
import { originOf } from './origin.ts'

export interface ProtocolInfo {
  protocol: Protocol
  source: ProtocolSource
}

/** Told when an origin's observed protocol changes (a pool, which re-reads that origin's limit). */
export interface ProtocolListener {
  protocolChanged(origin: string): void
}

const observed = new Map<string, Exclude<Protocol, 'unknown'>>()
/** Weakly: a pool that is gone (a finished Workers invocation's, a test's) must not be kept by this. */
const listeners = new Set<WeakRef<ProtocolListener>>()
let listenersPruneAt = 64
let observing = false

/** The protocol named by Resource Timing or ALPN, or undefined for anything else (`http/1.0`, ''). */
export function protocolFromAlpn(name: unknown): Exclude<Protocol, 'unknown'> | undefined {
  if (name === 'http/1.1') return 'h1'
  if (name === 'h2') return 'h2'
  if (typeof name === 'string' && (name === 'h3' || name.startsWith('h3-'))) return 'h3'
  return undefined
}

/** Records what was seen on the wire for `origin`, and tells the pools when it changed. */
export function observe(origin: string, protocol: Exclude<Protocol, 'unknown'>): void {
  if (observed.get(origin) === protocol) return
  // Bounded: a process that talks to many origins over its life keeps only the latest 1,024.
  if (observed.size >= 1024) observed.delete(observed.keys().next().value as string)
  observed.set(origin, protocol)
  for (const ref of listeners) {
    const listener = ref.deref()
    if (listener === undefined) listeners.delete(ref)
    else listener.protocolChanged(origin)
  }
}

/** The protocols of one client: declared ones win over observed ones. */
export class ProtocolBook {
  readonly #declared: ReadonlyMap<string, Exclude<Protocol, 'unknown'>>

  constructor(declared: ReadonlyMap<string, Exclude<Protocol, 'unknown'>>) {
    this.#declared = declared
    startObserving()
  }

  get(origin: string): ProtocolInfo {
    const declared = this.#declared.get(origin)
    if (declared !== undefined) return { protocol: declared, source: 'declared' }
    const seen = observed.get(origin)
    if (seen !== undefined) return { protocol: seen, source: 'observed' }
    return { protocol: 'unknown', source: 'default' }
  }

  /** The protocol alone, for the hot path (no object). */
  protocolOf(origin: string): Protocol {
    return this.#declared.get(origin) ?? observed.get(origin) ?? 'unknown'
  }

  /** Tells `listener` of each origin whose observed protocol changes, for as long as it is alive. */
  listen(listener: ProtocolListener): void {
    if (typeof WeakRef !== 'function') return
    // Pools come and go (one per Workers invocation, one per test) and nothing may ever be observed to
    // prune them then: the dead ones are dropped whenever the set doubles.
    if (listeners.size >= listenersPruneAt) {
      for (const ref of listeners) if (ref.deref() === undefined) listeners.delete(ref)
      listenersPruneAt = Math.max(64, listeners.size * 2)
    }
    listeners.add(new WeakRef(listener))
  }
}

function startObserving(): void {
  if (observing) return
  observing = true
  observeResourceTiming()
}

/** The part of a `PerformanceResourceTiming` entry read here (Deno's lib declares no such type). */
interface TimingEntry {
  name: string
  entryType: string
  initiatorType?: string
  nextHopProtocol?: string
}

function observeResourceTiming(): void {
  const g = globalThis as { document?: unknown; location?: { origin?: string } }
  if (typeof PerformanceObserver !== 'function' || typeof g.document !== 'object') return
  const record = (entry: TimingEntry, origin: string) => {
    const protocol = protocolFromAlpn(entry.nextHopProtocol)
    if (protocol === undefined) return
    try {
      observe(originOf(origin), protocol)
    } catch {}
  }
  // The page's own origin, known before any fetch of ours has completed.
  for (const entry of performance.getEntriesByType?.('navigation') ?? []) {
    if (g.location?.origin) record(entry as unknown as TimingEntry, g.location.origin)
  }
  if (!PerformanceObserver.supportedEntryTypes?.includes('resource')) return
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as unknown as TimingEntry[]) record(entry, entry.name)
  }).observe({ type: 'resource', buffered: true })
}
