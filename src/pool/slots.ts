/**
 * What a slot is worth, per origin: the one place that turns the runtime, the origin's protocol and
 * the caller's options into numbers. A slot models what the runtime spends on a request, and that
 * differs (design.md, bench/README.md "Protocols and platforms"):
 *
 * | runtime            | HTTP/1.1                         | unknown                         | HTTP/2, HTTP/3                      |
 * |--------------------|----------------------------------|---------------------------------|-------------------------------------|
 * | Node, Deno, Bun    | 6: ky-pool's cap is the only one | 6 (until the protocol is known) | 100 streams; unread bytes budgeted  |
 * | browsers           | 6, as the browser                | no cap: the browser queues      | 100; unread bodies hold nothing     |
 * | Cloudflare Workers | no cap of ky-pool's own: the platform holds 6 per invocation awaiting headers itself |||
 *
 * - `limit`: ky-pool's own cap on requests in flight (acquired, until the body settles).
 * - `busyAt`: how many requests in flight make the runtime's own connections to the origin all busy,
 *   where ky-pool's cap is not the one that binds (a browser's 6 per host on HTTP/1.1): past it, a
 *   new request waits inside the runtime, so untouched bodies are reclaimed as if it waited in ours.
 * - `windowBytes`: unread bytes that fill an HTTP/2 connection's shared flow-control window (Deno's
 *   and undici's: about 78 × 64 KiB measured in Deno; then plain fetch stalls). Past it, untouched
 *   bodies are reclaimed. Browsers read h2 bodies into their own buffers: no budget there.
 * - `reclaimBeforeSend`: an unread body holds its HTTP/1.1 connection, so the runtime opens a new one
 *   for the next request; draining it first lets the next request reuse it. Pointless on h2/h3.
 *
 * The caller's explicit limits (`perOrigin`, `pool.origins[…].limit`) always win.
 */
import type { Protocol } from '../lifecycle.ts'
import type { ResolvedPoolOptions } from '../options.ts'
import type { ProtocolBook } from '../protocols.ts'
import type { Runtime } from '../runtime.ts'

/** A few streams under the usual `SETTINGS_MAX_CONCURRENT_STREAMS` (100–256): about one connection's worth. */
const streamsPerConnection = 100
/** Connections per host a browser opens over HTTP/1.1 (Chromium, Firefox), and OkHttp's per-host default. */
const connectionsPerHost = 6
/** Below the ~5 MiB a Deno h2 connection's window held in our measurement. */
const sharedWindowBytes = 4 * 1024 * 1024

type Platform = 'server' | 'browser' | 'workerd'

/** Default per-origin limits, by platform and protocol. */
export const defaultLimits: Readonly<Record<Platform, Readonly<Record<Protocol, number>>>> = {
  server: {
    h1: connectionsPerHost,
    unknown: connectionsPerHost,
    h2: streamsPerConnection,
    h3: streamsPerConnection,
  },
  browser: { h1: connectionsPerHost, unknown: Infinity, h2: streamsPerConnection, h3: streamsPerConnection },
  workerd: { h1: Infinity, unknown: Infinity, h2: Infinity, h3: Infinity },
}

/** Defaults of the options that differ by runtime (the rest are in options.ts). */
export function runtimeDefaults(runtime: Runtime): Partial<ResolvedPoolOptions> {
  // Workers: the platform itself lets 6 subrequests per invocation wait for headers (a body that streams
  // does not count, since 2026-04-09) and queues the rest. Holding a slot until the body settles throttled
  // fan-outs it allows, and a gate of ky-pool's own at 6 only added waves that local workerd, which does
  // not enforce the rule, measured at 1.6-2.8x raw fetch: `awaitingHeaders: 6` makes that queue
  // ky-pool's (visible, abortable, prioritised) for those who want it.
  if (runtime === 'workerd') return { total: Infinity }
  return {}
}

function platformOf(runtime: Runtime): Platform {
  return runtime === 'browser' ? 'browser' : runtime === 'workerd' ? 'workerd' : 'server'
}

export class Slots {
  readonly #platform: Platform
  readonly #runtime: Runtime
  readonly #options: ResolvedPoolOptions
  readonly #protocols: ProtocolBook
  /** Origin backpressure, once loaded (pool.ts): a paused or paced origin's limit is lower than configured. */
  pace: { limit(origin: string, base: number): number } | undefined

  constructor(runtime: Runtime, options: ResolvedPoolOptions, protocols: ProtocolBook) {
    this.#platform = platformOf(runtime)
    this.#runtime = runtime
    this.#options = options
    this.#protocols = protocols
  }

  get protocols(): ProtocolBook {
    return this.#protocols
  }

  /** ky-pool's cap on requests in flight to `origin`. */
  limit(origin: string): number {
    const set = this.#options.origins.get(origin)
    const base =
      (typeof set === 'number' ? set : set?.limit) ??
      this.#options.perOrigin ??
      defaultLimits[this.#platform][this.#protocols.protocolOf(origin)]
    return this.pace === undefined ? base : this.pace.limit(origin, base)
  }

  /** Requests in flight at which the runtime's own connections to `origin` are all busy (Infinity: never, or ky-pool's cap binds first). */
  busyAt(origin: string): number {
    if (this.#platform !== 'browser') return Infinity
    const protocol = this.#protocols.protocolOf(origin)
    return protocol === 'h1' || protocol === 'unknown' ? connectionsPerHost : Infinity
  }

  /**
   * Untouched bytes on `origin` past which its bodies are reclaimed (a shared h2/h3 flow-control window).
   * In Deno an unknown origin counts too: Deno speaks h2 wherever the server offers it and no API says so,
   * and 6 unread 2 MiB bodies stalled every client there until the watchdog (bench/README.md).
   */
  windowBytes(origin: string): number {
    if (this.#platform !== 'server') return Infinity
    const protocol = this.#protocols.protocolOf(origin)
    const shared =
      protocol === 'h2' || protocol === 'h3' || (protocol === 'unknown' && this.#runtime === 'deno')
    return shared ? sharedWindowBytes : Infinity
  }

  /** Whether an unread body holds a connection of its own, so draining it before the next send saves one. */
  reclaimBeforeSend(origin: string): boolean {
    const protocol = this.#protocols.protocolOf(origin)
    return protocol === 'h1' || protocol === 'unknown'
  }
}
