/**
 * The call site of a request: the stack of the call that made it, captured synchronously inside
 * `client.get(…)` when a leak report may need it (see `callSites`), formatted only if it leaks (leaks.ts).
 */

/**
 * When a request's call site is captured: for every request, only once its client has leaked a body
 * (from then on: clean code never pays for a stack capture), or never.
 */
export type CallSiteMode = 'always' | 'after-leak' | 'never'

/** The stack of the call that made a request, captured synchronously when the call was made. */
export interface CallSite {
  readonly stack?: string
}

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
