/**
 * The LimitStore contract's harness (store-contract.ts) for `redisStore()`, shared by the Node, Deno and
 * Bun tests: each brings `connect(port)`, a client made and later closed its own way (Deno's sanitizer
 * needs a short `disconnectTimeout`, Node's test silences reconnect errors), and anything else its
 * runtime can check (`openTimers` in Node).
 */
import type { Redis } from 'ioredis'
import type { LimitStore } from '../../src/limit-store.ts'
import { redisStore } from '../../src/redis.ts'
import { startRedis } from './redis-server.ts'
import type { StoreHarness } from './store-contract.ts'

export function redisHarness(
  connect: (port?: number) => Redis,
  extra: Partial<StoreHarness> = {},
): StoreHarness {
  return {
    async open(count) {
      const copies: LimitStore[] = Array.from({ length: count }, () => redisStore(connect()))
      return { copies, close: async () => void (await Promise.all(copies.map((copy) => copy.close()))) }
    },
    async unreachable() {
      // A port nothing listens on: ioredis keeps reconnecting; the store must not wait for it.
      const gone = await startRedis()
      await gone.stop()
      return redisStore(connect(gone.port), { timeout: 500 })
    },
    unreachableWithin: 1500,
    ...extra,
  }
}
