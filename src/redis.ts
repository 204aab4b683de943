/**
 * `ky-pool/redis`: the Redis engine of a shared limit, for processes (Node, Deno, Bun). Needs the
 * optional peer dependency `ioredis`:
 *
 * ```ts
 * import { Redis } from 'ioredis'
 * import { createClient } from 'ky-pool'
 * import { redisStore } from 'ky-pool/redis'
 * import { sharedLimit } from 'ky-pool/shared-limit'
 *
 * const store = redisStore(new Redis(process.env.REDIS_URL))
 * export const api = createClient({ pool: { shared: sharedLimit({ store, limit: 8 }) } })
 * ```
 */
export { type RedisStoreOptions, redisStore } from './store/redis.ts'
