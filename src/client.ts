/**
 * ky + pool. The only module that knows ky: it makes a ky instance whose `fetch` is the pool's, and
 * keeps it that way — a `fetch` a caller passes (per call, to `extend` or `create`) is wrapped in the
 * pooled one on its way to ky, and when the caller brings `init` hooks (which may set `fetch`), one of
 * ours runs after them and does the same, so nothing bypasses the limits. The real `fetch` is looked
 * up at call time (`globalThis.fetch`), so msw and other interceptors installed after import still see
 * every request.
 */
import ky, {
  type Input,
  KyError,
  type KyInstance,
  type KyResponse,
  type Options,
  type ResponsePromise,
} from 'ky'
import { type CallSite, captureCallSite } from './callsite.ts'
import {
  defaults,
  type PoolOptions,
  type RequestPoolOptions,
  type ResolvedPoolOptions,
  resolvePoolOptions,
} from './options.ts'
import type { Plugins } from './plugins.ts'
import { type FetchLike, Pool, type PoolEnvironment } from './pool/pool.ts'
import { runtimeDefaults } from './pool/slots.ts'
import { type Quoted, quotedHeader, quotedUrl, redactError } from './redact.ts'
import { currentRuntime } from './runtime.ts'
import type { LeakReport, PoolStats } from './trace.ts'

/** ky's options plus `pool` (limits for the client). */
export interface ClientOptions extends Options {
  pool?: PoolOptions
}

/** ky's per-call options plus `pool` (priority and queue timeout of this request). */
export interface RequestOptions extends Options {
  pool?: RequestPoolOptions
}

/**
 * A response from ky-pool: ky's, plus `await using` support (disposal settles the body). Its clones are
 * disposable too (disposing one cancels that branch only); `clone` is listed first so that it wins
 * over `Response['clone']` in the intersection.
 */
export type PooledResponse<T = unknown> = { clone(): PooledResponse<T> } & KyResponse<T> & AsyncDisposable

/** What `client.get(url)` and the other methods return: ky's `ResponsePromise` (`.json()`, `.text()`, …), resolving to a `PooledResponse`. */
export type PooledResponsePromise<T = unknown> = Omit<ResponsePromise<T>, keyof Promise<unknown>> &
  Promise<PooledResponse<T>>

/** `client.pool`: the pool behind a client (and behind every instance `extend` and `create` make from it). */
export interface PoolHandle {
  /** The options in force, defaults filled in. */
  readonly options: ResolvedPoolOptions
  /** A cheap snapshot: in flight and queued, in total and per origin, and running totals. */
  stats(): PoolStats
  /**
   * Resolves when nothing is in flight or queued, after reclaiming every body nobody touched; returns
   * the leak reports gathered since the last call (strict mode: throws a `LeakError` with them).
   */
  settle(): Promise<LeakReport[]>
  /**
   * Pauses an origin until `until` (a Date, or ms since the epoch; at most `backpressure.maxPause` from now):
   * nothing new is sent to it meanwhile, queued and new requests wait (their abort, `queueTimeout` and ky's
   * timeouts still apply), then it resumes one request at a time. In Workers: the current invocation's pool.
   */
  pauseOrigin(origin: string, until: number | Date): Promise<void>
  /** Ends an origin's pause now (gently: one request first). */
  resumeOrigin(origin: string): Promise<void>
  /**
   * An origin's limit from now on (`undefined`: back to the configured one). Queued requests go at once
   * when it grows; none is cancelled when it shrinks (in-flight ones finish).
   */
  setLimit(origin: string, limit: number | undefined): Promise<void>
  /** The total limit from now on, with the same rules as `setLimit`. */
  setTotal(total: number): void
}

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch' | 'query' | 'head'

/**
 * ky's request methods, answering pooled responses. A homomorphic mapped type over `KyInstance`'s keys,
 * so each method keeps ky's own documentation in editors.
 */
type PooledMethods = {
  [K in keyof Pick<KyInstance, Method>]: K extends 'head'
    ? (url: Input, options?: RequestOptions) => PooledResponsePromise
    : <T>(url: Input, options?: RequestOptions) => PooledResponsePromise<T>
}

/** A ky instance whose requests go through a pool: ky's methods, `stop` and `retry`, plus `pool`. */
export interface PooledKy extends PooledMethods, Pick<KyInstance, 'stop' | 'retry'> {
  /**
   * Fetch the given `url` (ky's call), through the pool.
   * @param url - `Request` object, `URL` object, or URL string.
   * @returns A promise with `Body` methods added; the response settles its slot when its body is read,
   * cancelled or disposed (`await using`).
   */
  <T>(url: Input, options?: RequestOptions): PooledResponsePromise<T>
  /**
   * Like ky's `extend`: a new instance with some defaults overridden (hooks appended, headers merged,
   * or a function of the parent's defaults), and the same pool.
   */
  extend: (defaults: RequestOptions | ((parent: RequestOptions) => RequestOptions)) => PooledKy
  /** Like ky's `create`: a new instance with complete new defaults, inheriting none, but still the same pool. */
  create: (defaults?: RequestOptions) => PooledKy
  /** The pool behind this instance. */
  readonly pool: PoolHandle
}

/** ky's request methods, as the pooled instance and the shared `client` expose them. */
export const methods: readonly Method[] = ['get', 'post', 'put', 'delete', 'patch', 'query', 'head']

/** The real fetch, looked up on every call so that interceptors installed later are seen. */
const runtimeFetch: FetchLike = (request, init) => globalThis.fetch(request, init)

/** ky's default per-attempt `timeout`, in ms. */
const kyDefaultTimeout = 10_000

/**
 * ky's `timeout` counts the time a request waits in ky-pool's queue. Left at 30 s, `queueTimeout` could
 * never fire under ky's default 10 s, and a request that only ever waited in the queue failed as a bare
 * `TimeoutError` counted as aborted (issue 11). A little under ky's, the queue's own timer fires first, so
 * such a request fails with a `QueueTimeoutError` that says it waited for a slot. The margin is not 1 ms:
 * ky starts its timer before calling fetch, and 1 ms lost the race in 1 run of 4 on a busy machine. An
 * explicit `pool.queueTimeout` still wins.
 */
function queueTimeoutUnder(kyTimeout: unknown): { queueTimeout?: number } {
  if (typeof kyTimeout !== 'number' || !Number.isFinite(kyTimeout) || kyTimeout <= 20) return {}
  const margin = Math.min(100, Math.max(10, kyTimeout / 20))
  return { queueTimeout: Math.min(defaults.queueTimeout, kyTimeout - margin) }
}

/**
 * The outermost ky-pool function of the call being made, set by a wrapper (the shared `client`) just
 * before it calls a method. The call site is captured above it: in a bundle no file path tells the
 * wrapper's frame from the caller's, and it would become the first line, the report key, of every
 * call site. Read and cleared at once by the method, so it never outlives the synchronous call.
 */
let outermost: Function | undefined

/** Calls `call` with the call site to be captured above `wrapper` (see `outermost`). */
export function calledFrom<T>(wrapper: Function, call: () => T): T {
  outermost = wrapper
  try {
    return call()
  } finally {
    outermost = undefined
  }
}

/** The function above which to capture the call site, `own` unless a wrapper said otherwise. */
function above(own: Function): Function {
  const wrapper = outermost ?? own
  outermost = undefined
  return wrapper
}

/**
 * Creates a ky instance with its own pool, with what the entry point plugs in (see src/plugins.ts);
 * index.ts and browser.ts export it as `createClient`.
 */
export function createPooledClient(options: ClientOptions = {}, plugins: Plugins = {}): PooledKy {
  const { pool: poolOptions, ...kyOptions } = options
  const runtime = currentRuntime()
  const invocations = plugins.invocations
  // Leaks are reported once per call site for the client, not once per Workers invocation.
  const leakSites = new Set<string>()
  const environment: PoolEnvironment = {
    runtime,
    defaults: { ...runtimeDefaults(runtime), ...queueTimeoutUnder(kyOptions.timeout ?? kyDefaultTimeout) },
    keepAlive: invocations?.keepAliveUntil,
    leakSites,
    perRequestContexts: runtime === 'workerd',
    redirects: plugins.redirects?.(runtime),
  }
  const resolved = resolvePoolOptions(poolOptions, environment.defaults) // bad options fail here, not at the first request
  plugins.observeConnections?.()
  const makePool = () => new Pool(poolOptions, environment)
  const poolOf = invocations?.perInvocation(makePool) ?? once(makePool)
  return pooledKy(poolOf, resolved, kyOptions, callSitesWanted(resolved, leakSites))
}

/** A getter that makes its value on first use. */
function once<T>(create: () => T): () => T {
  let value: T | undefined
  return () => {
    value ??= create()
    return value
  }
}

/**
 * Whether the next request's call site is to be captured, as `callSites` says: 'after-leak' turns on
 * with the client's first leak report (`leakSites`, shared by its pools, is empty until then). Call
 * sites are for leak reports and trace events: a silent client without a trace needs none.
 */
function callSitesWanted(options: ResolvedPoolOptions, leakSites: ReadonlySet<string>): () => boolean {
  if (options.callSites === 'never' || (options.leaks === 'silent' && options.trace === undefined)) {
    return () => false
  }
  return options.callSites === 'always' ? () => true : () => leakSites.size > 0
}

/** `poolOf` gives the pool of the current Workers invocation, or the one pool elsewhere (see runtime.ts). */
function pooledKy(
  poolOf: () => Pool,
  options: ResolvedPoolOptions,
  kyOptions: Options,
  wantsCallSite: () => boolean,
): PooledKy {
  const handle: PoolHandle = {
    options,
    stats: () => poolOf().stats(),
    settle: () => poolOf().settle(),
    // Steering is cold (backpressure.ts), like everything about paused origins.
    pauseOrigin: (origin, until) => poolOf().steer('pause', origin, +until),
    resumeOrigin: (origin) => poolOf().steer('resume', origin),
    setLimit: (origin, limit) => poolOf().steer('setLimit', origin, limit),
    setTotal: (total) => poolOf().setTotal(total),
  }
  const pooledFetch: FetchLike = (request, init) => poolOf().fetch(request, init ?? {}, runtimeFetch)
  const wrapped = new WeakMap<FetchLike, FetchLike>()
  /**
   * Every fetch that already goes through the pool: wrapping must be idempotent, since a caller's fetch
   * wrapped twice would take two slots per request, and deadlock at a limit of 1.
   */
  const pooled = new WeakSet<FetchLike>([pooledFetch])
  const pooledFetchOf = (inner: FetchLike | undefined): FetchLike => {
    if (inner === undefined) return pooledFetch
    if (pooled.has(inner)) return inner
    let fetch = wrapped.get(inner)
    if (fetch === undefined) {
      fetch = (request, init) => poolOf().fetch(request, init ?? {}, inner)
      wrapped.set(inner, fetch)
      pooled.add(fetch)
    }
    return fetch
  }
  /** An init hook may set `fetch`; this one, placed after the caller's, puts the pool back around it. */
  const keepPooled = (options: Options) => {
    options.fetch = pooledFetchOf(options.fetch as FetchLike | undefined) as Options['fetch']
  }
  /**
   * Options on their way to ky (per call, `extend`, `create`): a caller's `fetch` goes inside the pooled
   * one, and when the caller brings init hooks, `keepPooled` runs after them. Options without either
   * pass untouched: an init hook makes ky clone the options of every request, which plain ky never pays.
   */
  const pooledOptions = <T extends Options | undefined>(options: T): T => {
    // Not an object (`null`, `true`): ky refuses it with its own TypeError; pass it on as it is.
    if (typeof options !== 'object' || options === null) return options
    let result: Options = options
    if (options.fetch !== undefined && !pooled.has(options.fetch as FetchLike)) {
      result = { ...result, fetch: pooledFetchOf(options.fetch as FetchLike) as Options['fetch'] }
    }
    const init = options.hooks?.init
    if (init !== undefined) result = { ...result, hooks: { ...result.hooks, init: [...init, keepPooled] } }
    // A `retry` that would replace the instance's, rather than merge with it (see `budgeted`).
    const { retry } = options
    if (typeof retry === 'number' || (typeof retry === 'object' && retry?.shouldRetry !== undefined)) {
      result = { ...result, retry: budgeted(retry) }
    }
    // A `timeout` given per call or to `extend`/`create` (the client's own is the pool's default already):
    // ky does not pass it on to fetch, so its queue timeout rides along in the per-request `pool` options.
    const { queueTimeout } = queueTimeoutUnder(options.timeout)
    const pool = (options as RequestOptions).pool
    if (queueTimeout !== undefined && pool?.queueTimeout === undefined && options !== kyOptions) {
      result = { ...result, pool: { ...pool, queueTimeout } } as Options
    }
    return result as T
  }
  /**
   * The retry budget (README "Origin backpressure") is asked before ky's backoff, in `shouldRetry`, so
   * that a call over it fails at once with ky's error rather than after the delay (`Retry-After` may be
   * a minute); the `beforeRetry` hook counts the retry when it goes. A caller's own `shouldRetry` runs
   * after the budget's; a number becomes `{ limit }` (what ky makes of it), so that it merges with this.
   */
  const overBudget = async ({ error }: { error: Error }): Promise<false | undefined> => {
    const url = (error as { request?: Request }).request?.url
    return url !== undefined && !(await poolOf().paced()).allowRetry(url, false) ? false : undefined
  }
  const budgeted = (retry: Options['retry']): Options['retry'] => {
    if (typeof retry === 'number') return { limit: retry, shouldRetry: overBudget }
    if (retry === undefined) return { shouldRetry: overBudget }
    if (typeof retry !== 'object' || retry === null) return retry // ky refuses it with its own TypeError
    const theirs = retry.shouldRetry
    if (theirs === undefined) return { ...retry, shouldRetry: overBudget }
    if (budgetedChecks.has(theirs)) return retry
    const shouldRetry: typeof theirs = async (state) => (await overBudget(state)) ?? theirs(state)
    budgetedChecks.add(shouldRetry)
    return { ...retry, shouldRetry }
  }
  const budgetedChecks = new WeakSet<object>([overBudget])
  /** The call site rides along in the per-request `pool` options, which ky hands to the pooled fetch. */
  const withCallSite = (options: RequestOptions | undefined, callSite: CallSite | undefined) =>
    callSite === undefined ? options : { ...options, pool: { ...options?.pool, callSite } }
  /**
   * The pool's own hooks, on every instance it makes (ky's `create` starts from no defaults): ky's
   * errors, whose messages quote the request URL, and the runtime's TypeErrors (a fetch that refuses a
   * header quotes it) are redacted before any other `beforeError` hook (an error reporter, say) sees
   * them; errors of the caller's own making are theirs. With a trace, retries are traced.
   */
  const withPoolHooks = (options: Options): Options => ({
    ...options,
    retry: budgeted(options.retry),
    hooks: {
      ...options.hooks,
      // The retry budget (README "Origin backpressure"): over it, the call fails with ky's error for the
      // response it got, and is not sent again. Runs only when ky is about to retry.
      beforeRetry: [
        ...(options.hooks?.beforeRetry ?? []),
        async ({ request, retryCount, error }) => {
          const pool = poolOf()
          if (!(await pool.paced()).allowRetry(request.url)) throw error
          pool.noteRetry(request, retryCount, error)
        },
      ],
      beforeError: [
        ({ error }) =>
          error instanceof KyError || error.constructor === TypeError ? redactError(error) : error,
        ...(options.hooks?.beforeError ?? []),
      ],
    },
  })
  /** An instance of ours: ky's options with the pooled fetch and the pool's hooks. */
  const created = (defaults: Options | undefined): Options =>
    withPoolHooks({
      ...pooledOptions(defaults),
      fetch: pooledFetchOf(defaults?.fetch as FetchLike | undefined) as Options['fetch'],
    })
  return wrap(ky.create(created(kyOptions)), [kyOptions])

  /**
   * `chain`: the defaults the caller gave this instance and its parents, kept to redact the synchronous
   * errors it throws (see `quotedBy`).
   */
  function wrap(instance: KyInstance, chain: readonly unknown[]): PooledKy {
    // ky checks a request synchronously, inside `client.get(…)`: the runtime's TypeError for a URL with
    // userinfo, an unparsable URL, or a bad header name or value quotes what it refused (the password, the
    // token). The call site is captured above `send` itself, the function the caller called, so the stack
    // read has few frames.
    const sending = (invoke: (input: Input, options?: Options) => ResponsePromise) => {
      const send = (input: Input, options?: RequestOptions) => {
        const callSite = wantsCallSite() ? captureCallSite(above(send)) : undefined
        try {
          return invoke(input, withCallSite(pooledOptions(options), callSite))
        } catch (error) {
          throw redactError(error, quotedBy(input, [options, ...chain]))
        }
      }
      return send
    }
    const client = sending(instance) as unknown as PooledKy & Record<string, unknown>
    for (const method of methods) {
      client[method] = sending((input, options) => instance[method](input, options)) as PooledKy[Method]
    }
    client.extend = (defaults) => {
      let given: unknown = defaults
      try {
        const child = instance.extend(
          typeof defaults === 'function'
            ? (parent) => {
                given = defaults(parent)
                return pooledOptions(given as RequestOptions)
              }
            : pooledOptions(defaults),
        )
        return wrap(child, [given, ...chain])
      } catch (error) {
        throw redactError(error, quotedBy(undefined, [given, ...chain]))
      }
    }
    client.create = (defaults) => {
      try {
        // ky's check and words: its create never sees these options (ours are built from them).
        if (
          defaults !== undefined &&
          (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults))
        ) {
          throw new TypeError('The `options` argument must be an object')
        }
        return wrap(instance.create(created(defaults)), [defaults])
      } catch (error) {
        throw redactError(error, quotedBy(undefined, [defaults]))
      }
    }
    Object.defineProperties(client, {
      stop: { value: instance.stop, enumerable: true },
      retry: { value: instance.retry, enumerable: true },
      pool: { value: handle, enumerable: true },
    })
    return client
  }
}

/**
 * What a synchronous error of a call may quote verbatim: the URL, `prefix` and `baseUrl` (which may not
 * parse: a space in them) and refused header names and values, of the call and of the instance's
 * defaults. Only walked when a call throws.
 */
function quotedBy(input: unknown, sources: readonly unknown[]): Quoted[] {
  const quoted: Quoted[] = []
  if (typeof input === 'string' || input instanceof URL) quoted.push(...quotedUrl(String(input)))
  for (const source of sources) {
    if (typeof source !== 'object' || source === null) continue
    const { prefix, baseUrl, headers } = source as Options
    for (const url of [prefix, baseUrl]) {
      if (typeof url === 'string' || url instanceof URL) quoted.push(...quotedUrl(String(url)))
    }
    for (const [name, value] of headerEntries(headers)) quoted.push(...quotedHeader(name, value))
  }
  return quoted
}

/** The headers of ky's `headers` option as the caller wrote them (a `Headers` object was checked already). */
function headerEntries(headers: Options['headers']): [string, string][] {
  if (typeof headers !== 'object' || headers === null || headers instanceof Headers) return []
  const entries: unknown[] = Array.isArray(headers) ? headers : Object.entries(headers)
  return entries.flatMap((entry) =>
    Array.isArray(entry) && entry.length === 2 && entry[1] !== undefined
      ? [[String(entry[0]), String(entry[1])] as [string, string]]
      : [],
  )
}
