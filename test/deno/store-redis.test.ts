/**
 * redisStore() in Deno (npm:ioredis through the project's node_modules) against a real redis-server:
 * the LimitStore contract suite (test/support/store-contract.ts, runtime-neutral), one step per check.
 * Deno's op and resource sanitizers are on: a timer, socket or child process the store left behind
 * after close() fails the test (this is the suite's "close() stops every timer" check, in Deno). Ignored where redis-server is not installed (npm test says so).
 */
import { Redis } from 'ioredis'
import { redisHarness } from '../support/redis-contract.ts'
import { redisServerPath, startRedis } from '../support/redis-server.ts'
import { storeContract } from '../support/store-contract.ts'

Deno.test({
  name: 'redisStore() keeps the LimitStore contract in Deno',
  ignore: redisServerPath() === undefined,
  sanitizeOps: true,
  sanitizeResources: true,
  async fn(t) {
    const server = await startRedis()
    const clients: Redis[] = []
    const connect = (port = server.port) => {
      // ioredis destroys a socket that does not close after `disconnectTimeout` (2 s), on a timer the
      // sanitizer would see: in Deno a socket that never connected does not emit 'close' to clear it.
      const client = new Redis(port, '127.0.0.1', { disconnectTimeout: 20 })
      client.on('error', () => {})
      clients.push(client)
      return client
    }
    try {
      const checks = storeContract(redisHarness(connect))
      for (const check of checks) await t.step(check.name, check.run)
    } finally {
      const ended = clients.map((client) =>
        client.status === 'end' ? undefined : new Promise((resolve) => client.once('end', resolve)),
      )
      for (const client of clients) client.disconnect()
      // A client that never connected may never say 'end' in Deno; its 20 ms timer is done within 200.
      let bound: ReturnType<typeof setTimeout> | undefined
      await Promise.race([Promise.all(ended), new Promise((resolve) => (bound = setTimeout(resolve, 200)))])
      clearTimeout(bound)
      await server.stop()
    }
  },
})
