/**
 * `ky-pool/durable-object`: a limit shared by every isolate and invocation of one or more Cloudflare
 * Workers, kept by a Durable Object (issue 10). Export `KyPoolLimits` from the Worker, bind it, and give
 * the pool `durableObjectStore(env.KY_POOL_LIMITS)` (README, "Beyond one process"). Workers only: it
 * imports `cloudflare:workers` statically, which also tells ky-pool the invocations apart (invocations.ts)
 * without the `nodejs_compat` flag.
 */
import * as cloudflare from 'cloudflare:workers'
import { useCloudflareWorkers } from '../invocations.ts'

useCloudflareWorkers(cloudflare as Parameters<typeof useCloudflareWorkers>[0])

export { StoreUnreachable } from '../limit-store.ts'
export type { KeyView } from './ledger.ts'
export { KyPoolLimits, LimitSession } from './object.ts'
export type { LimitsNamespace } from './platform.ts'
export { type DurableObjectStoreOptions, durableObjectStore } from './store.ts'
