/**
 * One request holding (or about to hold) a slot, from acquired until its body settles; a `HeldFlight`
 * once headers are in and its body is tracked.
 */
import type { Branch, TrackedBody } from '../body.ts'
import type { CallSite } from '../leaks.ts'
import type { ReclaimAction } from '../lifecycle.ts'
import type { Lease } from '../limiter.ts'
import { redactUrl } from '../redact.ts'

/** What a flight holds until its body settles: a `Lease`, or one joined with a store permit. */
export type Held = Pick<Lease, 'released' | 'release'>

export class Flight {
  readonly id: number
  readonly method: string
  readonly rawUrl: string
  readonly origin: string
  readonly callSite: CallSite | undefined
  /** The slot (with the shared limit's permit, when `pool.shared` is set: see `SharedGate`), until the body settles. */
  lease: Held | undefined
  /** The slot among those awaiting headers (`awaitingHeaders`), given back when headers arrive. */
  headersLease: Lease | undefined
  acquiredAt = 0
  headersAt = 0
  status: number | undefined
  body: TrackedBody | undefined
  leaked = false
  /** Garbage-collected unread where finalizers run outside requests; the watchdog releases it. */
  collected = false
  /** What the pool did when it reclaimed the body before its caller touched it; undefined if it never did. */
  reclaimed: ReclaimAction | undefined
  #url: string | undefined

  constructor(id: number, method: string, url: string, origin: string, callSite: CallSite | undefined) {
    this.id = id
    this.method = method
    this.rawUrl = url
    this.origin = origin
    this.callSite = callSite
  }

  /** The redacted URL, computed on first use (only events, errors and reports need it). */
  get url(): string {
    this.#url ??= redactUrl(this.rawUrl)
    return this.#url
  }
}

/** A flight whose response body the pool tracks. */
export interface HeldFlight extends Flight {
  readonly body: TrackedBody
}

/** Gives `flight` its body: the one place a Flight becomes a HeldFlight. */
export function hold(flight: Flight, body: TrackedBody): HeldFlight {
  flight.body = body
  return flight as HeldFlight
}

/** What the garbage collector hands back for a stream of a held body: its flight and branch. */
export interface Watched {
  flight: HeldFlight
  branch: Branch
  /**
   * Objects of the branch still watched: its response and, once asked for, its stream (a caller may keep
   * only `res.body`). The branch is dropped when the last is collected.
   */
  live: number
}
