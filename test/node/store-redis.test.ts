/**
 * redisStore() against a real `redis-server` (started on a free loopback port per file, stopped after):
 * the LimitStore contract, leases that outlive a dead process by no more than their TTL, wake-ups by
 * pub/sub (no polling), batching, a Redis that goes away, and the demonstrations with real
 * processes: 4 × 50 calls under a shared limit of 8, and `kill -9` of a process that holds permits.
 * Skipped where redis-server is not installed (npm test says so; README "Beyond one process").
 */
import type { ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { PoolConfigError } from '../../src/index.ts'
import type { LimitStore } from '../../src/limit-store.ts'
import { type RedisStoreOptions, redisStore } from '../../src/redis.ts'
import { StoreUnreachable, sharedLimit } from '../../src/shared-limit.ts'
import { type LoopbackServer, startServer } from '../support/loopback-server.ts'
import { harness } from '../support/pool-harness.ts'
import { redisHarness } from '../support/redis-contract.ts'
import { type RedisServer, redisServerPath, startRedis } from '../support/redis-server.ts'
import { startWorker } from '../support/shared-limit-workers.ts'
import { storeContract } from '../support/store-contract.ts'

const installed = redisServerPath() !== undefined
const pooled = harness()
let server: RedisServer
const clients: Redis[] = []
const stores: LimitStore[] = []

/** A client of its own (as another process would have), closed after the test. */
function connect(port = server.port): Redis {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: false })
  client.on('error', () => {}) // a test that stops Redis would otherwise print every reconnect
  clients.push(client)
  return client
}

function store(options?: RedisStoreOptions, client = connect()): LimitStore {
  const made = redisStore(client, options)
  stores.push(made)
  return made
}

async function cleanUp(): Promise<void> {
  await Promise.all(stores.splice(0).map((made) => made.close()))
  for (const client of clients.splice(0)) client.disconnect()
}

const timeouts = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

describe.skipIf(!installed)('redisStore()', () => {
  beforeAll(async () => {
    server = await startRedis()
  })
  afterEach(cleanUp)
  afterAll(async () => {
    await server?.stop()
  })

  describe('keeps the LimitStore contract', () => {
    const checks = storeContract(redisHarness(connect, { openTimers: timeouts }))
    for (const check of checks) it(check.name, check.run, 20_000)
  })

  it('a waiter is woken by pub/sub when a permit frees, with no polling meanwhile', async () => {
    const holder = store()
    const waiterClient = connect()
    const waiter = store({}, waiterClient)
    const held = await holder.acquire('wake', 1)
    const evalsha = vi.spyOn(waiterClient, 'evalsha')
    const waiting = waiter.acquire('wake', 1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(evalsha).toHaveBeenCalledTimes(1) // one attempt, then silence: no polling
    const freed = performance.now()
    held.release()
    const permit = await waiting
    expect(performance.now() - freed).toBeLessThan(200)
    expect(evalsha).toHaveBeenCalledTimes(2)
    permit.release()
  })

  it('permits of a copy that dies come back within its ttl, not before', async () => {
    const ttl = 400
    const dyingClient = connect()
    const dying = redisStore(dyingClient, { ttl, refreshEvery: 100 })
    const waiter = store({ ttl, refreshEvery: 100 })
    await dying.acquire('dies', 2)
    await dying.acquire('dies', 2)
    const waiting = waiter.acquire('dies', 2)
    await new Promise((resolve) => setTimeout(resolve, 2 * ttl)) // refreshed meanwhile: still held
    const died = performance.now()
    dyingClient.disconnect() // no release, no more refreshes: as good as kill -9 for Redis
    const permit = await waiting
    const waited = performance.now() - died
    expect(waited).toBeGreaterThan(ttl - 100 - 50) // the lease lasted from its last refresh
    expect(waited).toBeLessThan(ttl + 100 + 200) // and not past ttl + one refresh (+ scheduling on a busy machine)
    permit.release()
    await dying.close()
  })

  it('batch takes several permits in one round trip and hands them out locally', async () => {
    const client = connect()
    const batched = store({ batch: 4 }, client)
    const evalsha = vi.spyOn(client, 'evalsha')
    const tokens: number[] = []
    for (let i = 0; i < 4; i++) {
      const permit = await batched.acquire('batch', 8)
      tokens.push(permit.token)
      permit.release()
    }
    const acquires = evalsha.mock.calls.filter((call) => call[1] === 3) // acquire is the only 3-key script
    expect(acquires).toHaveLength(1)
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b))
    expect(new Set(tokens).size).toBe(4)
  })

  it('a permit released with a waiter in the same copy and none elsewhere is handed over in one round trip', async () => {
    const client = connect()
    const made = store({}, client)
    const held = await made.acquire('handoff', 1)
    const next = made.acquire('handoff', 1)
    await new Promise((resolve) => setTimeout(resolve, 50)) // its attempt found no room
    const evalsha = vi.spyOn(client, 'evalsha')
    held.release()
    const permit = await next
    expect(evalsha).toHaveBeenCalledTimes(1) // give back and take together: no release, publish, acquire
    expect(permit.token).toBeGreaterThan(held.token)
    permit.release()
  })

  it('while another copy waits, a released permit is published for all, not handed to the same copy', async () => {
    const client = connect()
    const first = store({}, client)
    const second = store()
    const held = await first.acquire('fair', 1)
    const own = first.acquire('fair', 1)
    const theirs = second.acquire('fair', 1)
    await new Promise((resolve) => setTimeout(resolve, 50)) // both attempted, both copies are waiting
    const answers: unknown[] = []
    const evalsha = vi.spyOn(client, 'evalsha')
    evalsha.mockImplementation(async function (this: Redis, ...args: Parameters<Redis['evalsha']>) {
      evalsha.mockRestore()
      const answer = await client.evalsha(...args)
      answers.push(answer)
      return answer
    } as never)
    held.release()
    const winner = await Promise.race([own, theirs])
    expect(answers[0]).toEqual([expect.any(Number)]) // the give-back took nothing for its own waiter
    winner.release()
    for (const permit of await Promise.all([own, theirs])) permit.release() // the other one is served next
  })

  it('unused batched permits go back after linger', async () => {
    const batched = store({ batch: 4, linger: 20 })
    const other = store()
    ;(await batched.acquire('linger', 4)).release() // 3 spares kept
    const all = await Promise.all([1, 2, 3, 4].map(() => other.acquire('linger', 4)))
    expect(all).toHaveLength(4)
    for (const permit of all) permit.release()
  })

  it('a script Redis forgot (SCRIPT FLUSH, a restart) is loaded again', async () => {
    const client = connect()
    const made = store({}, client)
    ;(await made.acquire('flush', 1)).release()
    await client.script('FLUSH')
    const permit = await made.acquire('flush', 1)
    expect(permit.token).toBeGreaterThan(1)
    permit.release()
  })

  it('rejects bad options with a PoolConfigError', () => {
    const client = connect()
    expect(() => redisStore(client, { ttl: 5 })).toThrow(PoolConfigError)
    expect(() => redisStore(client, { ttl: 1000, refreshEvery: 1000 })).toThrow('less than ttl')
    expect(() => redisStore(client, { batch: 0 })).toThrow('redisStore().batch')
    expect(() => redisStore({} as Redis)).toThrow('ioredis client')
  })
})

describe.skipIf(!installed)('redisStore() when Redis goes away', () => {
  let own: RedisServer
  beforeAll(async () => {
    own = await startRedis()
  })
  afterEach(cleanUp)
  afterAll(async () => {
    await own?.stop()
  })

  it('waiters reject with StoreUnreachable at once, later acquires fail fast, and a pooled client fails open', async () => {
    const { start, client } = pooled
    const http = await start()
    const holder = store({ timeout: 500 }, connect(own.port))
    const waiterStore = store({ timeout: 500 }, connect(own.port))
    await holder.acquire('gone', 1)
    const waiting = waiterStore.acquire('gone', 1).catch((error: unknown) => error)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const killed = performance.now()
    await own.kill()
    expect(await waiting).toBeInstanceOf(StoreUnreachable)
    expect(performance.now() - killed).toBeLessThan(500)
    const started = performance.now()
    await expect(waiterStore.acquire('gone', 1)).rejects.toBeInstanceOf(StoreUnreachable)
    expect(performance.now() - started).toBeLessThan(600)
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const failingOpen = client({
      pool: { leaks: 'warn', shared: sharedLimit({ store: waiterStore, limit: 1 }) },
    })
    expect(await failingOpen.get(`${http.url}/json`).json()).toEqual({ ok: true })
    expect(warn).toHaveBeenCalledTimes(1)
    warn.mockRestore()
  })
})

describe.skipIf(!installed)('across processes (the issue 10 demonstrations)', () => {
  let origin: LoopbackServer
  const children: ChildProcess[] = []
  beforeAll(async () => {
    server = await startRedis()
    origin = await startServer()
  })
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  })
  afterAll(async () => {
    await origin?.close()
    await server?.stop()
  })

  it('4 processes × 50 concurrent calls under a shared limit of 8: the server sees a peak of exactly 8, all 200 complete', async () => {
    origin.reset()
    const workers = await Promise.all(
      [1, 2, 3, 4].map(() =>
        worker({ URL: `${origin.url}/delay?ms=20`, CALLS: '50', LIMIT: '8', PREFIX: 'demo:' }),
      ),
    )
    for (const started of workers) started.go()
    const results = await Promise.all(workers.map(({ result }) => result))
    expect(results.map((result) => result.failed)).toEqual([0, 0, 0, 0])
    expect(results.reduce((sum, result) => sum + result.done, 0)).toBe(200)
    expect(origin.stats()).toMatchObject({ requests: 200, peakInFlight: 8 })
  }, 60_000)

  it('kill -9 of a process holding permits: the others wait no more than ttl + one refresh', async () => {
    origin.reset()
    const ttl = 1000
    const refresh = 250
    const common = { TTL: String(ttl), REFRESH: String(refresh), LIMIT: '4', PREFIX: 'kill:' }
    const holder = await worker({ ...common, URL: `${origin.url}/hold?tag=k`, CALLS: '4', HOLD: '1' })
    const waiter = await worker({ ...common, URL: `${origin.url}/json`, CALLS: '4' })
    holder.go()
    await origin.waitForRequests(4) // the holder has all 4 permits, its responses held by the server
    waiter.go()
    await new Promise((resolve) => setTimeout(resolve, 2 * ttl)) // refreshed meanwhile: the waiter still waits
    expect(origin.stats().requests).toBe(4)
    const killed = performance.now()
    holder.child.kill('SIGKILL')
    const result = await waiter.result
    const waited = performance.now() - killed
    expect(result).toMatchObject({ done: 4, failed: 0 })
    expect(waited).toBeLessThan(ttl + refresh)
    expect(waited).toBeGreaterThan(ttl - refresh - 100)
  }, 60_000)

  /** Starts a worker process (killed after the test if still running); resolves once it is ready. */
  async function worker(env: Record<string, string>) {
    const started = await startWorker(server.port, env)
    children.push(started.child)
    return started
  }
})
