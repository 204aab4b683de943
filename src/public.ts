/**
 * What every entry point exports besides its `client` and `createClient` (index.ts, browser.ts,
 * workerd.ts): types, errors, defaults and helpers.
 */
export type {
  ClientOptions,
  PooledKy,
  PooledResponse,
  PooledResponsePromise,
  PoolHandle,
  RequestOptions,
} from './client.ts'
export { KyPoolError, KyPoolRequestError } from './errors/base.ts'
export { BodyIdleTimeoutError, BodyReclaimedError } from './errors/body.ts'
export { InvalidUrlError, PoolConfigError } from './errors/config.ts'
export { LeakError } from './errors/leak.ts'
/** A type only: the class loads with the cold chunk; tell it by `error.name === 'OriginPausedError'` (it is a `QueueTimeoutError`). */
export type { OriginPausedError } from './errors/paused.ts'
export { QueueFullError, QueueTimeoutError } from './errors/queue.ts'
export { SharedLimitUnreachableError } from './errors/shared.ts'
export type { CallSiteMode, LeakMode } from './leaks.ts'
export type {
  BackpressureOptions,
  PoolOptions,
  RequestPoolOptions,
  ResolvedBackpressure,
  ResolvedPoolOptions,
} from './options.ts'
export { defaults } from './options.ts'
export { originOf } from './origin.ts'
export { redactUrl } from './redact.ts'
export type {
  LeakReport,
  LimitReason,
  OriginStats,
  PaceEvent,
  PauseCause,
  PoolStats,
  ReclaimCause,
  SettleHow,
  TraceEvent,
  TraceEventType,
} from './trace.ts'
