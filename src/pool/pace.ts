/**
 * Wires origin backpressure (backpressure.ts) into a pool, on first use (see src/lazy.ts): the limiter
 * re-reads an origin's limit when its pace changes, slots.ts asks the pace for it, and events go to the
 * trace. Cold, with backpressure.ts and rate-headers.ts: a client whose origins never push back loads none of it.
 */
import type { Limiter } from '../limiter.ts'
import type { ResolvedBackpressure, ResolvedPoolOptions } from '../options.ts'
import { Backpressure } from './backpressure.ts'
import type { Events } from './events.ts'
import type { Slots } from './slots.ts'
import type { Tracer } from './tracer.ts'

/** With `backpressure: false`, the app can still steer (pause, limits); nothing else is read or counted. */
const off: ResolvedBackpressure = {
  maxPause: Infinity,
  rateLimitHeaders: false,
  adaptive: false,
  retryBudget: false,
  optOut: [],
}

export function startPace(
  options: ResolvedPoolOptions,
  limiter: Limiter,
  slots: Slots,
  events: Events,
  tracer: typeof Tracer,
): Backpressure {
  const shared = options.shared
  // The app may steer before the first request: its trace sees that too.
  if (options.trace !== undefined) events.tracer ??= new tracer(options.trace)
  const pace = new Backpressure(options.backpressure || off, {
    refresh: (origin) => limiter.refreshLimit(origin),
    acquiredOn: (origin) => limiter.acquiredOn(origin),
    queuedOn: (origin) => limiter.queuedOn(origin),
    enabled: (origin) => options.backpressure !== false && !options.backpressure.optOut.includes(origin),
    emit: (event) => events.tracer?.pace(event),
    paused: (origin, until) => shared?.store.pause?.(shared.prefix + origin, until),
  })
  slots.pace = pace
  // A shared limit's store carries pauses between copies (src/limit-store.ts): what it hears, from any
  // copy, pauses here too (our own come back and change nothing: a pause never shortens another). The
  // listener lives as long as the store: its `close()` ends it.
  const prefix = shared?.prefix ?? ''
  shared?.store.onPause?.((key, until) => {
    if (key.startsWith(prefix)) pace.pause(key.slice(prefix.length), until, 'store')
  })
  return pace
}
