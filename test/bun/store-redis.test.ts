/**
 * redisStore() in Bun (ioredis from the project's node_modules) against a real redis-server: the
 * LimitStore contract suite (test/support/store-contract.ts, runtime-neutral), one test per check.
 * Skipped where redis-server is not installed (npm test says so).
 */
import { afterAll, beforeAll, test } from 'bun:test'
import { Redis } from 'ioredis'
import type { LimitStore } from '../../src/limit-store.ts'
import { redisStore } from '../../src/redis.ts'
import { type RedisServer, redisServerPath, startRedis } from '../support/redis-server.ts'
import { storeContract } from '../support/store-contract.ts'

const installed = redisServerPath() !== undefined
let server: RedisServer | undefined
const clients: Redis[] = []

function connect(port = server!.port): Redis {
  const client = new Redis(port, '127.0.0.1')
  client.on('error', () => {})
  clients.push(client)
  return client
}

beforeAll(async () => {
  if (installed) server = await startRedis()
})
afterAll(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
})

const checks = storeContract({
  async open(count) {
    const copies: LimitStore[] = Array.from({ length: count }, () => redisStore(connect()))
    return { copies, close: async () => void (await Promise.all(copies.map((copy) => copy.close()))) }
  },
  async unreachable() {
    const gone = await startRedis()
    await gone.stop()
    return redisStore(connect(gone.port), { timeout: 500 })
  },
  unreachableWithin: 1500,
})
for (const check of checks) {
  if (installed) test(`redisStore() in Bun: ${check.name}`, check.run, 20_000)
  else test.skip(`redisStore() in Bun: ${check.name} (redis-server is not installed)`, check.run)
}
