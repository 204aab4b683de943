/**
 * Pool options: what each knob means, its default, and the checks that turn a bad value into a
 * `PoolConfigError` at `createClient` time instead of a silently wrong limit later.
 */
import { PoolConfigError } from './errors/config.ts'
import type { CallSite, CallSiteMode, LeakMode } from './leaks.ts'
import type { Protocol } from './lifecycle.ts'
import { originOf } from './origin.ts'
import { redactText } from './redact.ts'
import type { SharedLimit } from './store/limit.ts'
import type { TraceEvent } from './trace.ts'

/** What `pool.origins` may say of one origin: its limit, its protocol, or both. */
export interface OriginOptions {
  /** Max requests in flight to this origin; replaces `perOrigin`. `Infinity` for no cap of ky-pool's own. */
  limit?: number
  /**
   * The protocol the origin is reached over, where ky-pool cannot see it (Deno; a cross-origin API
   * without `Timing-Allow-Origin` in browsers). It sets the origin's default limit (see `perOrigin`) and
   * how forgotten bodies are reclaimed. An observed protocol never overrides a declared one.
   */
  protocol?: 'h1' | 'h2' | 'h3'
}

/**
 * Origin backpressure (README "Origin backpressure"): a 429 or 503 with `Retry-After`, or a rate-limit
 * budget at 0, pauses the whole origin; it then resumes one request at a time and paces itself.
 */
export interface BackpressureOptions {
  /**
   * Longest pause honoured, in ms: a longer `Retry-After` or reset is cut to it, so a hostile header cannot
   * freeze the client. Values of a year or more, or that do not parse, are ignored (an `ignored` event).
   * @default 60000
   */
  maxPause?: number
  /**
   * Read the IETF `RateLimit`/`RateLimit-Policy` fields and `X-RateLimit-Remaining`/`-Reset`: pace the origin
   * to its budget, and pause it when the budget is at 0, before the server has to answer 429.
   * @default true
   */
  rateLimitHeaders?: boolean
  /**
   * Adapt each origin's in-flight limit: halve it on 429/503/timeouts, grow it back by one per limit's worth
   * of successes, up to the configured limit (AIMD; docs/design.md says why not a gradient).
   * @default false
   */
  adaptive?: boolean
  /**
   * Retries allowed per origin, like Envoy's and gRPC's retry budgets: `ratio` of the requests sent in the last
   * `window` ms, and at least `min`. Over it, a call fails at once with ky's error for its last response.
   * `false`: no budget. Default `{ ratio: 0.2, min: 10, window: 10000 }`.
   */
  retryBudget?: false | { ratio?: number; min?: number; window?: number }
  /** Origins whose 429s, 503s and rate-limit headers never pause, pace or budget them (the app can still steer them). */
  optOut?: string[]
}

/** The pool's limits and policies, given as `createClient({ pool: { … } })`; every one is optional. */
export interface PoolOptions {
  /**
   * Max requests in flight per origin, from before the request is sent until its body settles;
   * `Infinity` for no cap of ky-pool's own. Default: it follows the origin's protocol and the runtime
   * (src/pool/slots.ts, README "Protocols and platforms"): 6 for HTTP/1.1 and unknown origins, 100 for
   * HTTP/2 and HTTP/3 (about one connection's streams); in browsers no cap for an origin whose protocol
   * is unknown (the browser queues on its own), in Cloudflare Workers none (see `awaitingHeaders`).
   * Set, it applies to every origin whatever its protocol.
   */
  perOrigin?: number
  /**
   * Max requests in flight over all origins. Default 256 (Chromium's socket limit); in Workers `Infinity`.
   * @default 256
   */
  total?: number
  /**
   * Per origin: a limit that replaces `perOrigin` (`'https://api.example.com': 2`), or `{ limit, protocol }`.
   * Keys are origins only (no path, query or credentials), canonicalized like request URLs (case, default
   * port, trailing dot, IDN), so two spellings of one origin with different settings are a configuration
   * error. A Map works too (`pool.options.origins` is one, of limits).
   */
  origins?: Record<string, number | OriginOptions> | ReadonlyMap<string, number | OriginOptions>
  /**
   * Max requests waiting for response headers at once (held from before the request is sent until its
   * headers arrive, whatever its body does). Cloudflare Workers apply 6 per invocation themselves (since
   * 2026-04-09); set 6 there to have that queue in ky-pool instead, where a waiting request can be
   * aborted, prioritised, timed out and seen in stats (per invocation).
   * @default Infinity
   */
  awaitingHeaders?: number
  /**
   * Max requests queued per origin; the next one fails at once with `QueueFullError`.
   * @default 1000
   */
  maxQueue?: number
  /**
   * Ms a request may wait for a slot before failing with `QueueTimeoutError`; `Infinity` for none.
   * Default a little under the client's ky `timeout` (which counts the time queued): 9900 with ky's
   * default 10 s, 30000 at most or with `timeout: false`.
   * @default 9900
   */
  queueTimeout?: number
  /**
   * Bytes an unread body may be read into memory to free its connection (it stays readable by its
   * caller); 0 never drains. Default 1 MiB. Memory: no more than this per body, and a drained
   * body takes the memory it would take once read; it is freed when read or garbage-collected.
   * @default 1048576
   */
  drainLimit?: number
  /**
   * Ms an untouched body larger than `drainLimit` is left alone before a queued request may cancel it to
   * take its slot: the grace for code that reads a body soon but not at once. Also how long a drain may
   * take before the pool stops waiting for it (a trickling body is cancelled under pressure). Default 250. Longer protects
   * such code more, and costs sloppy code that forgets large bodies this long per full set of slots
   * (bench/README.md: 300 forgotten 200 KB bodies at 6 per origin).
   * @default 250
   */
  reclaimAfter?: number
  /**
   * Ms after which the watchdog reclaims a body nobody touched and reports it as a leak; `Infinity` for never.
   * @default 10000
   */
  leakAfter?: number
  /**
   * Ms a body read may wait for the next chunk before failing with `BodyIdleTimeoutError`; `Infinity` for never (0 is refused).
   * @default 60000
   */
  idleTimeout?: number
  /**
   * What to do about leaked bodies: `'warn'` (console, once per call site), `'strict'` (`settle()` throws), `'silent'`.
   * @default 'warn'
   */
  leaks?: LeakMode
  /**
   * When the stack of each request is captured, to name the line that leaked its body: `'always'` (some
   * 5–20 µs of CPU per request), `'after-leak'` (from the client's first leak on: the
   * first report says so, and the next leak from the same code names its line), `'never'`. Default
   * `'always'` with `leaks: 'strict'` (tests), `'after-leak'` otherwise.
   */
  callSites?: CallSiteMode
  /** Called for each lifecycle event (see `TraceEvent`). Must not throw; errors are caught and logged once. */
  trace?: (event: TraceEvent) => void
  /** Origin backpressure (see `BackpressureOptions`); `false` turns it off. Default: on. */
  backpressure?: false | BackpressureOptions
  /**
   * A limit shared with every other copy of the pool (tabs, isolates, processes) that uses the same
   * store: `sharedLimit({ store, limit })` from `ky-pool/shared-limit` (README "Beyond one process").
   * Each request takes a permit from the store after its local slot and holds it as long.
   */
  shared?: SharedLimit
}

/** Per-request options, passed as `client.get(url, { pool: { … } })`. */
export interface RequestPoolOptions {
  /** Higher is sent first among queued requests of the same origin. Default 0 (or ±1 from fetch's `priority`). */
  priority?: number
  /** Overrides `queueTimeout` for this request. */
  queueTimeout?: number
}

/** The options in force (`client.pool.options`): the caller's, with the runtime's and ky-pool's defaults filled in. */
export interface ResolvedPoolOptions {
  /** Undefined: the default, which follows each origin's protocol (src/pool/slots.ts). */
  perOrigin: number | undefined
  total: number
  /** Per origin, canonical keys: a limit, or what `{ limit, protocol }` gave. */
  origins: ReadonlyMap<string, number | OriginOptions>
  awaitingHeaders: number
  maxQueue: number
  queueTimeout: number
  drainLimit: number
  reclaimAfter: number
  leakAfter: number
  idleTimeout: number
  leaks: LeakMode
  callSites: CallSiteMode
  trace: ((event: TraceEvent) => void) | undefined
  backpressure: false | ResolvedBackpressure
  shared: SharedLimit | undefined
}

export interface ResolvedBackpressure {
  maxPause: number
  rateLimitHeaders: boolean
  adaptive: boolean
  retryBudget: false | { ratio: number; min: number; window: number }
  /** Canonical origins. */
  optOut: string[]
}

/** The defaults that do not depend on the runtime or the protocol (those are in src/pool/slots.ts). */
export const defaults = {
  total: 256,
  awaitingHeaders: Infinity,
  maxQueue: 1000,
  queueTimeout: 30_000,
  drainLimit: 1024 * 1024,
  reclaimAfter: 250,
  leakAfter: 10_000,
  idleTimeout: 60_000,
  leaks: 'warn',
} as const satisfies Partial<ResolvedPoolOptions>

/**
 * Every pool option, once: typed as a record of `PoolOptions`' keys, so that an option added to the
 * interface and forgotten here fails to compile (ky's `KyOptionsRegistry` does the same).
 */
const optionKeys: Record<keyof PoolOptions, true> = {
  perOrigin: true,
  total: true,
  origins: true,
  awaitingHeaders: true,
  maxQueue: true,
  queueTimeout: true,
  drainLimit: true,
  reclaimAfter: true,
  leakAfter: true,
  idleTimeout: true,
  leaks: true,
  callSites: true,
  trace: true,
  backpressure: true,
  shared: true,
}
const known = new Set(Object.keys(optionKeys))

export function resolvePoolOptions(
  options: PoolOptions = {},
  base: Partial<ResolvedPoolOptions> = {},
): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null) throw new PoolConfigError('pool', options, 'an object')
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new PoolConfigError(
        `pool.${key}`,
        (options as Record<string, unknown>)[key],
        `one of ${[...known].join(', ')} (unknown option)`,
      )
    }
  }
  // Only `undefined` means "not set": a `null` (e.g. from JSON) is a value, and is refused below.
  const pick = <K extends keyof typeof defaults>(key: K) =>
    options[key] !== undefined ? options[key] : (base[key] ?? defaults[key])
  const perOrigin = options.perOrigin !== undefined ? options.perOrigin : base.perOrigin
  const origins =
    options.origins === undefined ? (base.origins ?? new Map()) : originSettings(options.origins)
  const resolved: ResolvedPoolOptions = {
    perOrigin: perOrigin === undefined ? undefined : count('pool.perOrigin', perOrigin, true),
    total: count('pool.total', pick('total'), true),
    origins,
    awaitingHeaders: count('pool.awaitingHeaders', pick('awaitingHeaders'), true),
    maxQueue: count('pool.maxQueue', pick('maxQueue'), true),
    queueTimeout: duration('pool.queueTimeout', pick('queueTimeout')),
    drainLimit: bytes('pool.drainLimit', pick('drainLimit')),
    reclaimAfter: duration('pool.reclaimAfter', pick('reclaimAfter')),
    leakAfter: duration('pool.leakAfter', pick('leakAfter')),
    idleTimeout: duration('pool.idleTimeout', pick('idleTimeout')),
    leaks: pick('leaks'),
    callSites:
      options.callSites !== undefined
        ? options.callSites
        : (base.callSites ?? (pick('leaks') === 'strict' ? 'always' : 'after-leak')),
    trace: options.trace !== undefined ? options.trace : base.trace,
    backpressure: backpressureOf(options.backpressure),
    shared: options.shared,
  }
  // 0 would fail every read that has to wait at all. (undici's bodyTimeout uses 0 for "off"; here that is Infinity.)
  if (resolved.idleTimeout === 0) {
    throw new PoolConfigError(
      'pool.idleTimeout',
      0,
      'a number of milliseconds > 0, or Infinity to turn it off',
    )
  }
  if (!['warn', 'strict', 'silent'].includes(resolved.leaks)) {
    throw new PoolConfigError('pool.leaks', resolved.leaks, "'warn', 'strict' or 'silent'")
  }
  if (!['always', 'after-leak', 'never'].includes(resolved.callSites)) {
    throw new PoolConfigError('pool.callSites', resolved.callSites, "'always', 'after-leak' or 'never'")
  }
  if (resolved.trace !== undefined && typeof resolved.trace !== 'function') {
    throw new PoolConfigError('pool.trace', resolved.trace, 'a function')
  }
  // Made by sharedLimit(), which checks the rest: a plain { store, limit } would need that code here, in every bundle.
  if (resolved.shared !== undefined && !resolved.shared?.acquire) {
    throw new PoolConfigError('pool.shared', resolved.shared, 'sharedLimit()')
  }
  return resolved
}

/** The per-request options, and the call site client.ts adds (see `optionKeys`). */
const requestKeyRecord: Record<keyof RequestPoolOptions | 'callSite', true> = {
  priority: true,
  queueTimeout: true,
  callSite: true,
}
const requestKeys = new Set(Object.keys(requestKeyRecord))
const noRequestOptions: RequestPoolOptions = Object.freeze({})

/** Per-request options as the pool receives them: the caller's plus the call site client.ts captured. */
export function resolveRequestOptions(value: unknown): RequestPoolOptions & { callSite?: CallSite } {
  if (value === undefined) return noRequestOptions
  if (typeof value !== 'object' || value === null)
    throw new PoolConfigError('options.pool', value, 'an object')
  for (const key of Object.keys(value)) {
    if (!requestKeys.has(key)) {
      throw new PoolConfigError(
        `options.pool.${key}`,
        (value as Record<string, unknown>)[key],
        'priority or queueTimeout (pool limits are set per client, in createClient)',
      )
    }
  }
  const { priority, queueTimeout, callSite } = value as RequestPoolOptions & { callSite?: CallSite }
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw new PoolConfigError('options.pool.priority', priority, 'a finite number')
  }
  if (queueTimeout !== undefined) duration('options.pool.queueTimeout', queueTimeout)
  return { priority, queueTimeout, callSite }
}

/** `pool.backpressure`, defaults filled in (README "Origin backpressure"). */
function backpressureOf(value: unknown): false | ResolvedBackpressure {
  if (value === false) return false
  const name = 'pool.backpressure'
  const given = shape(name, value ?? {})
  const budget = given.retryBudget !== false && shape(`${name}.retryBudget`, given.retryBudget ?? {})
  const flags = { rateLimitHeaders: given.rateLimitHeaders ?? true, adaptive: given.adaptive ?? false }
  for (const [key, flag] of Object.entries(flags)) {
    if (typeof flag !== 'boolean') throw new PoolConfigError(`${name}.${key}`, flag, 'true or false')
  }
  const ratio = budget && (budget.ratio ?? 0.2)
  if (ratio > 1) throw new PoolConfigError(`${name}.retryBudget.ratio`, ratio, 'a fraction from 0 to 1')
  const optOut: unknown[] = given.optOut ?? []
  return {
    ...flags,
    maxPause: duration(`${name}.maxPause`, given.maxPause ?? 60_000),
    optOut: optOut.map((origin) => originKey(`${name}.optOut`, String(origin), redactText(String(origin)))),
    retryBudget: budget && {
      ratio: duration(`${name}.retryBudget.ratio`, ratio),
      min: bytes(`${name}.retryBudget.min`, budget.min ?? 10),
      window: count(`${name}.retryBudget.window`, budget.window ?? 10_000),
    },
  }
}

/** An options object (`false` turns the feature off). */
// biome-ignore lint/suspicious/noExplicitAny: checked field by field by the caller
function shape(option: string, value: unknown): Record<string, any> {
  if (isPlainObject(value)) return value
  throw new PoolConfigError(option, value, 'false or an object')
}

/** A positive integer (or `Infinity` where `infinite` is allowed). */
/** A limit: a whole number >= 1 (or `Infinity` where allowed), else a `PoolConfigError` naming `option`. */
export function count(option: string, value: unknown, infinite = false): number {
  if (
    typeof value === 'number' &&
    ((Number.isInteger(value) && value >= 1) || (infinite && value === Infinity))
  ) {
    return value
  }
  throw new PoolConfigError(option, value, `a whole number >= 1${infinite ? ' or Infinity' : ''}`)
}

/** Milliseconds: a number >= 0, or `Infinity`. */
function duration(option: string, value: unknown): number {
  if (typeof value === 'number' && value >= 0 && !Number.isNaN(value)) return value
  throw new PoolConfigError(option, value, 'a number of milliseconds >= 0 (or Infinity)')
}

function bytes(option: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value
  throw new PoolConfigError(option, value, 'a whole number of bytes >= 0')
}

const protocols = ['h1', 'h2', 'h3'] as const

function originSettings(origins: unknown): Map<string, number | OriginOptions> {
  // A plain object, or a Map (what `pool.options.origins` is, so resolved options can be passed on). Any
  // other object (an array, a Set, a class instance) has no own keys to read: it would mean "no limits".
  if (!isPlainObject(origins) && !(origins instanceof Map)) {
    throw new PoolConfigError(
      'pool.origins',
      origins,
      "an object like { 'https://api.example.com': 2 } or { 'https://api.example.com': { protocol: 'h2' } }, or a Map of the same",
    )
  }
  const settings = new Map<string, OriginOptions>()
  // Own enumerable keys only: `__proto__` or `constructor` from JSON are just (invalid) origins, never prototype lookups.
  const entries: [unknown, unknown][] =
    origins instanceof Map ? [...origins] : Object.entries(origins as object)
  for (const [entry, value] of entries) {
    const key = String(entry)
    // A key may carry credentials (`https://user:pass@api.example.com`): the error never repeats them.
    const shown = redactText(key)
    const option = `pool.origins[${JSON.stringify(shown)}]`
    const origin = originKey(option, key, shown)
    const given: OriginOptions = typeof value === 'number' ? { limit: value } : originOptions(option, value)
    const set = settings.get(origin) ?? {}
    if (given.limit !== undefined) {
      const limit = count(option + (typeof value === 'number' ? '' : '.limit'), given.limit, true)
      if (set.limit !== undefined && set.limit !== limit) {
        throw new PoolConfigError(
          option,
          value,
          `the same as the limit ${set.limit} already given for ${origin}`,
        )
      }
      set.limit = limit
    }
    if (given.protocol !== undefined) {
      if (set.protocol !== undefined && set.protocol !== given.protocol) {
        throw new PoolConfigError(
          `${option}.protocol`,
          given.protocol,
          `the same as the protocol '${set.protocol}' already given for ${origin}`,
        )
      }
      set.protocol = given.protocol
    }
    settings.set(origin, set)
  }
  // A limit alone stays a number, as it was given.
  return new Map(
    [...settings].map(([origin, set]) => [origin, set.protocol === undefined ? set.limit! : set]),
  )
}

/** An `origins` key: an http(s) origin and nothing more (a path or query would be silently ignored). */
function originKey(option: string, key: string, shown: string): string {
  let origin: string
  try {
    origin = originOf(key)
  } catch (error) {
    throw new PoolConfigError(option, shown, `keyed by an http(s) origin (${(error as Error).message})`)
  }
  let url: URL
  try {
    url = new URL(key)
  } catch {
    return origin
  }
  if (
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.pathname !== '/'
  ) {
    throw new PoolConfigError(
      option,
      shown,
      `keyed by an origin only (scheme, host and port, like ${JSON.stringify(origin)}): limits apply to a whole origin, so a path, query, fragment or credentials would be ignored`,
    )
  }
  return origin
}

/** The keys of `OriginOptions`, typed from it (see `optionKeys`). */
const originOptionKeys: Record<keyof OriginOptions, true> = { limit: true, protocol: true }

function originOptions(option: string, value: unknown): OriginOptions {
  if (!isPlainObject(value)) {
    throw new PoolConfigError(
      option,
      value,
      'a limit (a whole number >= 1 or Infinity) or { limit?, protocol? }',
    )
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(originOptionKeys, key)) {
      throw new PoolConfigError(
        `${option}.${key}`,
        (value as Record<string, unknown>)[key],
        'limit or protocol (unknown option)',
      )
    }
  }
  const { limit, protocol } = value as OriginOptions
  if (protocol !== undefined && !protocols.includes(protocol)) {
    throw new PoolConfigError(`${option}.protocol`, protocol, "'h1', 'h2' or 'h3'")
  }
  return { limit, protocol }
}

function isPlainObject(value: unknown): value is object {
  return (
    typeof value === 'object' &&
    value !== null &&
    [Object.prototype, null].includes(Object.getPrototypeOf(value))
  )
}

export type { Protocol }
