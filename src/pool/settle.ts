/**
 * `pool.settle()`, cold (see src/lazy.ts): shutdown and tests call it, a request never does. Resolves when
 * nothing is in flight or queued, after reclaiming every body nobody touched (see `Pool.settle`).
 */
import { LeakError } from '../errors/leak.ts'
import type { Limiter } from '../limiter.ts'
import type { LeakReport } from '../trace.ts'
import type { Backpressure } from './backpressure.ts'
import type { HeldFlights } from './held.ts'
import type { Reclaimer } from './reclaim.ts'
import type { LeakWatch } from './watch.ts'

export interface SettleParts {
  held: HeldFlights
  watch: LeakWatch
  reclaimer: Reclaimer
  limiter: Limiter
  pace: Backpressure | undefined
  strict: boolean
  /** Resolves at the next slot given back or body held. */
  changed(): Promise<void>
  nextMacrotask(): Promise<void>
}

export async function settlePool(parts: SettleParts): Promise<LeakReport[]> {
  const { held, watch, reclaimer, limiter } = parts
  for (;;) {
    // An untouched body gets one macrotask from when settle() first sees it: a caller that reads at once
    // (`await client.get(url).json()`, or `const res = await …` then a read) has touched it by then, even
    // when its response arrived while settle() was waiting (a graceful shutdown with requests in flight).
    const untouched = [...held].filter((flight) => !flight.body.touched && !flight.leaked)
    if (untouched.length > 0) {
      await parts.nextMacrotask()
      for (const flight of untouched) {
        if (flight.body.touched || flight.body.settled) continue
        watch.leak(flight, 'settle', watch.action(flight))
        void reclaimer.reclaim(flight, 'settle')
      }
      continue
    }
    if (limiter.acquired === 0 && limiter.queued === 0) break
    await parts.changed()
  }
  watch.reportReclaimedUntouched()
  watch.stop()
  parts.pace?.close() // no pause or pace timer outlives a settled pool
  reclaimer.schedule(Infinity)
  await watch.reported()
  const leaks = watch.takeReports()
  if (parts.strict && leaks.length > 0) throw new LeakError(leaks)
  return leaks
}
