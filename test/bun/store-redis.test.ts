/**
 * redisStore() in Bun (ioredis from the project's node_modules) against a real redis-server: the
 * LimitStore contract suite (test/support/store-contract.ts, runtime-neutral), one test per check.
 * Skipped where redis-server is not installed (npm test says so).
 */
import { afterAll, beforeAll, test } from 'bun:test'
import { Redis } from 'ioredis'
import { redisHarness } from '../support/redis-contract.ts'
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

const checks = storeContract(redisHarness(connect))
for (const check of checks) {
  if (installed) test(`redisStore() in Bun: ${check.name}`, check.run, 20_000)
  else test.skip(`redisStore() in Bun: ${check.name} (redis-server is not installed)`, check.run)
}
