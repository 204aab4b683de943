/**
 * `ky-pool/shared-limit`: one limit across many tabs, isolates and processes (README "Beyond one
 * process"). `sharedLimit({ store, limit })` goes in `createClient({ pool: { shared } })`; the store is
 * an engine: `memoryStore()` here (one process, and tests), `redisStore()` from `ky-pool/redis`, the
 * Durable Object and Web Locks engines from their own entry points. Nothing here is in the default
 * client's bundle.
 */
export { SharedLimitUnreachableError } from './errors/shared.ts'
export type { LimitStore, SharedAcquireOptions, SharedPermit } from './limit-store.ts'
export { StoreUnreachable } from './limit-store.ts'
export { type SharedLimit, type SharedLimitOptions, sharedLimit, type Unreachable } from './store/limit.ts'
export { type MemoryStore, memoryStore } from './store/memory.ts'
