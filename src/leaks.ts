/**
 * Reporting bodies that callers forgot: the caller's part of a captured call site, and a report once
 * per call site. Cold (see lazy.ts): loaded at the first leak. It knows nothing of slots; the pool
 * (src/pool/watch.ts) tells it what leaked. Capturing call sites is callsite.ts's.
 */
import type { CallSite, CallSiteMode } from './callsite.ts'
import type { LeakDetector, ReclaimAction } from './lifecycle.ts'
import type { LeakReport } from './trace.ts'

export type { CallSite, CallSiteMode }

/** What a client does about a leaked body: warn once per call site, collect for `settle()` to throw (tests), or count only. */
export type LeakMode = 'warn' | 'strict' | 'silent'

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

/** What a leak report says of the request whose body leaked (a flight of the pool's). */
export interface LeakedRequest {
  method: string
  /** Redacted. */
  url: string
  origin: string
  status: number | undefined
  callSite: CallSite | undefined
}

/** Reports leaks once per call site (they repeat in loops); counts every one. */
export class LeakReporter {
  readonly mode: LeakMode
  readonly #callSites: CallSiteMode
  #count = 0
  readonly #seen: Set<string>
  /**
   * Reports waiting for `settle()` to return (or, in strict mode, throw) them. Bounded: a long-running
   * process that leaks in a loop and never calls `settle()` must not grow without end (every leak is
   * still counted in `stats().totals.leaks`).
   */
  #pending: LeakReport[] = []

  /** `callSites` says why a call site may be missing; `seen` holds the call sites already reported. */
  constructor(mode: LeakMode, callSites: CallSiteMode, seen = new Set<string>()) {
    this.mode = mode
    this.#callSites = callSites
    this.#seen = seen
  }

  get count(): number {
    return this.#count
  }

  /** Reports the leak of `request`'s body; returns the report and whether it is the first from its call site. */
  leaked(
    request: LeakedRequest,
    detectedBy: LeakDetector,
    action: ReclaimAction,
  ): { report: LeakReport; first: boolean } {
    const report: LeakReport = {
      method: request.method,
      url: request.url,
      origin: request.origin,
      status: request.status ?? 0,
      callSite: formatCallSite(request.callSite, this.#callSites),
      detectedBy,
      action,
    }
    return { report, first: this.#record(report) }
  }

  /** Records a leak; returns whether it is the first from its call site. */
  #record(leak: LeakReport): boolean {
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
