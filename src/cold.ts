/**
 * What the default `client` does not need on the happy path, loaded on first use (see lazy.ts): the
 * errors whose messages explain a queue timeout, a full queue, a reclaimed or stalled body and a leak;
 * leak reports and call-site formatting; trace events. Nothing but lazy.ts imports this module, so that
 * bundlers keep it out of the initial chunk. (The error classes are exported from index.ts as well: a
 * caller who imports one for `instanceof` ships it, and both imports resolve to the same class.)
 */
export { BodyIdleTimeoutError, BodyReclaimedError } from './errors/body.ts'
export { LeakError } from './errors/leak.ts'
export { OriginPausedError } from './errors/paused.ts'
export { QueueFullError, QueueTimeoutError } from './errors/queue.ts'
export { LeakReporter } from './leaks.ts'
export { startPace } from './pool/pace.ts'
export { settlePool } from './pool/settle.ts'
export { Tracer } from './pool/tracer.ts'
export { warnSharedInvocations } from './runtime-warnings.ts'
