/**
 * Cold paths load on first use. What the default `client` never needs while code is clean — error
 * messages, leak reports and call-site formatting, trace events — lives in cold.ts, which only this
 * module imports, with `import()`: bundlers split it into a chunk of its own that a page loads the
 * first time a request queues past its timeout, a body is reclaimed or leaks, or a trace is set
 * (test/size/check.ts prints both figures). Node, Deno, Bun and workerd load it from disk or from the
 * Worker's bundle in well under a millisecond; a browser fetches it once.
 *
 * Every cold path is asynchronous already (a rejection after an await, a timer, a finalizer), so waiting
 * for the chunk changes when, never whether or in what order, it runs: callbacks queued on the load run
 * in the order they were queued, and once loaded `withCold` runs them synchronously.
 */
export type Cold = typeof import('./cold.ts')

let loaded: Cold | undefined
let loading: Promise<Cold> | undefined

/** The cold module, loading it on the first call. */
export function loadCold(): Promise<Cold> {
  if (loaded !== undefined) return Promise.resolve(loaded)
  loading ??= import('./cold.ts').then(
    (module) => {
      loaded = module
      return module
    },
    (error: unknown) => {
      loading = undefined // a chunk that failed to load (a network error in a browser) is tried again next time
      throw error
    },
  )
  return loading
}

/** The cold module if it is loaded already. */
export function coldNow(): Cold | undefined {
  return loaded
}

/** Runs `use` with the cold module: now if it is loaded, else once it is. */
export function withCold(use: (cold: Cold) => void): void {
  if (loaded !== undefined) use(loaded)
  else
    loadCold().then(use, (error: unknown) =>
      console.error('ky-pool: could not load its cold paths (a leak report or a warning is lost)', error),
    )
}
