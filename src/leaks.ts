/**
 * Finding bodies that callers forgot: the call site of each request, a once-per-call-site report,
 * a watchdog timer and a FinalizationRegistry. It knows nothing of slots; the pool tells it what leaked.
 */
import type { LeakReport } from './trace.ts'

export type LeakMode = 'warn' | 'strict' | 'silent'

/**
 * When a request's call site is captured: for every request, only once its client has leaked a body
 * (from then on: clean code never pays for a stack capture), or never.
 */
export type CallSiteMode = 'always' | 'after-leak' | 'never'

/** The stack of the call that made a request, captured synchronously when the call was made. */
export interface CallSite {
  readonly stack?: string
}

/**
 * Frames from these files are ours or ky's, never the caller's: the packages' folders, and the files
 * Vite's dev server pre-bundles them into (`/node_modules/.vite/deps/ky-pool.js?v=…`, `ky-pool_testing.js`,
 * `ky.js`; `deps_ssr/` for SSR).
 */
const ownFile =
  /[/\\](?:ky|ky-pool)[/\\](?:distribution|dist|src)[/\\]|[/\\]node_modules[/\\]ky[/\\]|[/\\]\.vite[/\\]deps(?:_\w+)?[/\\](?:ky|ky-pool)(?:_[\w-]+)?\.js\b/

/**
 * The folder of this module as it appears in stack frames, when the folder is ky-pool's alone: the module
 * is a file of its own (`leaks.js` in the package, `leaks.ts` in a checkout). Bundled, it shares its file
 * and folder with other code — Vite's dev deps folder holds every library (React's frames below the
 * caller's then counted as ours, and the report fell back to ky-pool's own frame), a production build's
 * `assets/` holds the app itself — so the folder says nothing and `ownFile` alone decides. Cut from the
 * string on purpose: bundlers rewrite `new URL('.', import.meta.url)` as an asset reference.
 */
export function ownFolderOf(moduleUrl: string): string | undefined {
  const url = moduleUrl.replace(/[?#].*$/, '')
  const slash = url.lastIndexOf('/')
  if (slash <= 0 || !/^leaks\.[cm]?[jt]s$/.test(url.slice(slash + 1))) return undefined
  return url.slice(0, slash + 1).replace(/^file:\/\//, '')
}

const ownDir = ownFolderOf(typeof import.meta.url === 'string' ? import.meta.url : '')

/** V8's `captureStackTrace` and frame limit; other engines (Safari, Firefox) have neither and get `new Error()`. */
const v8Error = Error as {
  stackTraceLimit?: number
  captureStackTrace?: (target: object, above?: Function) => void
}

/**
 * Captures the caller's stack. With `above` (the public function the caller called), V8 leaves out that
 * function and every frame inside it, so the capture is cheap: a few of the caller's frames, none of
 * ky's. It was the largest part of ky-pool's per-request cost when taken inside ky's init hook.
 */
export function captureCallSite(above?: Function): CallSite {
  const { captureStackTrace, stackTraceLimit } = v8Error
  if (captureStackTrace === undefined) return new Error('request made here')
  const site: CallSite = {}
  v8Error.stackTraceLimit = above === undefined ? 30 : 12
  captureStackTrace(site, above)
  v8Error.stackTraceLimit = stackTraceLimit
  return site
}

/**
 * The caller's part of the stack: every frame up to and including the first one in ky or ky-pool is
 * dropped. Without a stack, the first line says why there is none (`mode` decided it).
 */
export function formatCallSite(
  site: CallSite | undefined,
  mode: CallSiteMode,
  own: string | undefined = ownDir,
): string {
  const stack = site?.stack
  if (stack === undefined) {
    if (mode === 'after-leak') {
      return (
        "(call site not captured: with callSites: 'after-leak', the default, ky-pool captures call sites only " +
        'once a client has leaked a body; the next leak from this code will name its line. ' +
        "Set pool.callSites: 'always' to capture them from the start.)"
      )
    }
    return mode === 'never' ? "(call site not captured: pool.callSites is 'never')" : '(call site unknown)'
  }
  const frames = stack.split('\n').filter((line) => /^\s*at\s|@/.test(line))
  let last = -1
  frames.forEach((frame, index) => {
    if (ownFile.test(frame) || (own !== undefined && frame.includes(own))) last = index
  })
  const user = frames
    .slice(last + 1)
    .filter((frame) => !/node:internal|processTicksAndRejections/.test(frame))
  return (user.length > 0 ? user : frames).slice(0, 8).join('\n')
}

/** How many leak reports `settle()` can return at most; see `LeakReporter.#pending`. */
export const maxPendingReports = 1000

/** Reports leaks once per call site (they repeat in loops); counts every one. */
export class LeakReporter {
  readonly mode: LeakMode
  #count = 0
  readonly #seen: Set<string>
  /**
   * Reports waiting for `settle()` to return (or, in strict mode, throw) them. Bounded: a long-running
   * process that leaks in a loop and never calls `settle()` must not grow without end (every leak is
   * still counted in `stats().totals.leaks`).
   */
  #pending: LeakReport[] = []

  constructor(mode: LeakMode, seen = new Set<string>()) {
    this.mode = mode
    this.#seen = seen
  }

  get count(): number {
    return this.#count
  }

  /** Records a leak; returns whether it is the first from its call site. */
  report(leak: LeakReport): boolean {
    this.#count++
    const key = leak.callSite.split('\n', 1)[0] ?? ''
    const first = !this.#seen.has(key)
    if (first) this.#seen.add(key)
    if (this.mode !== 'silent' && this.#pending.length < maxPendingReports) this.#pending.push(leak)
    if (first && this.mode === 'warn') {
      console.warn(
        `ky-pool: the body of ${leak.method} ${leak.url} (${leak.status}) was never read or cancelled ` +
          `(found by ${leak.detectedBy}; the pool ${leak.action} it). Read it, cancel it, or use \`await using\`. ` +
          `Requested at:\n${leak.callSite}\n(reported once per call site)`,
      )
    }
    return first
  }

  /** The leaks recorded since the last call, the first `maxPendingReports` of them (none in 'silent' mode). */
  take(): LeakReport[] {
    const taken = this.#pending
    this.#pending = []
    return taken
  }
}

/**
 * A repeating timer that runs only while there is something to watch, and never keeps a Node or Deno
 * process alive by itself.
 */
export class Watchdog {
  readonly #period: number
  readonly #tick: () => boolean
  #timer: ReturnType<typeof setInterval> | undefined

  /** `tick` returns whether there is still something to watch. */
  constructor(period: number, tick: () => boolean) {
    this.#period = period
    this.#tick = tick
  }

  start(): void {
    if (this.#timer !== undefined || !Number.isFinite(this.#period) || this.#period <= 0) return
    this.#timer = setInterval(() => {
      if (!this.#tick()) this.stop()
    }, this.#period)
    ;(this.#timer as { unref?: () => void }).unref?.()
    if (typeof Deno !== 'undefined' && typeof this.#timer === 'number') Deno.unrefTimer(this.#timer)
  }

  stop(): void {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

declare const Deno: { unrefTimer(id: number): void }

/** Calls back when a watched object is garbage-collected; a no-op where FinalizationRegistry is missing. */
export class Collector<T> {
  readonly #registry: FinalizationRegistry<T> | undefined

  constructor(onCollect: (held: T) => void) {
    this.#registry =
      typeof FinalizationRegistry === 'function' ? new FinalizationRegistry(onCollect) : undefined
  }

  watch(target: object, held: T, token: object): void {
    this.#registry?.register(target, held, token)
  }

  unwatch(token: object): void {
    this.#registry?.unregister(token)
  }
}
