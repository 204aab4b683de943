/**
 * `node bench/shared-limits.ts` — what a limit shared beyond one process costs per request (issue 10).
 *
 * Small GETs (`/json`, body read with `.text()`) to the loopback server in a child process, under a
 * per-origin limit of 8: with the pool's local limiter alone, and with the same limit shared through a
 * store — in memory (`memoryStore()`, the floor: the pool's wiring with no I/O), and Redis (a real
 * `redis-server` on loopback, started here) without and with batching. One at a time (every request
 * pays the store's acquire) and 8 at a time (the limit: nobody queues for long; requests pay the
 * store's round trips, which go out together per tick). Cells: per-request latency p50 and p99 in
 * ms, median (min–max) over the rounds; "added" is each round's p50 (p99) minus the local limiter's in
 * the same round. "Redis calls" counts EVALSHA per request (INFO commandstats): acquire + release +
 * refresh.
 *
 * Then the issue's demonstrations with real processes (each its own pooled client over redisStore()):
 * 4 processes × 50 concurrent calls (`/delay?ms=20`) under a shared limit of 8, with the peak the server
 * saw; and `kill -9` of a process holding all 4 permits of a limit of 4 (ttl 1000 ms, refresh 250 ms),
 * with how long another process's calls then waited.
 *
 * The Durable Object and Web Locks engines add their rows from their own scripts (see bench/README.md).
 *
 * Env: BENCH_ROUNDS (5), SHARED_N (400 requests per run).
 */
import { Redis } from 'ioredis'
import { createClient, type PooledKy } from '../src/index.ts'
import { redisStore } from '../src/redis.ts'
import { memoryStore, sharedLimit } from '../src/shared-limit.ts'
import { type SpawnedServer, spawnServer } from '../test/support/loopback-server.ts'
import { type RedisServer, redisServerPath, startRedis } from '../test/support/redis-server.ts'
import { startWorker } from '../test/support/shared-limit-workers.ts'
import { cell, envInt, header, interleave, roundsOr, table } from './support/harness.ts'

const rounds = roundsOr(5)
const requests = envInt('SHARED_N', 400)
const limit = 8

interface Contender {
  name: string
  client: PooledKy
  /** The Redis client whose EVALSHA calls are counted, for Redis rows. */
  redis?: Redis
}

interface Sample {
  p50: number
  p99: number
  /** EVALSHA calls per request (Redis rows). */
  calls: number | undefined
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!
}

/** "+1.2 (…)" for a difference that is not negative; a negative one keeps its own sign. */
function signed(text: string): string {
  return text.startsWith('-') ? text : `+${text}`
}

async function evalshaCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats')
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

/** `total` requests by `concurrency` workers; per-request latencies in ms. */
async function run(contender: Contender, url: string, total: number, concurrency: number): Promise<Sample> {
  const latencies: number[] = []
  const before = contender.redis === undefined ? 0 : await evalshaCalls(contender.redis)
  let next = 0
  const worker = async () => {
    while (next < total) {
      next++
      const started = performance.now()
      await contender.client.get(url).text()
      latencies.push(performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  // Releases go out after the body settles: wait for them before counting.
  await new Promise((resolve) => setTimeout(resolve, 20))
  const after = contender.redis === undefined ? 0 : await evalshaCalls(contender.redis)
  latencies.sort((a, b) => a - b)
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    calls: contender.redis === undefined ? undefined : (after - before) / total,
  }
}

async function main(): Promise<void> {
  const server = await spawnServer()
  const url = `${server.url}/json`
  const pool = { perOrigin: limit, leaks: 'silent' as const }
  const contenders: Contender[] = [
    { name: 'local limiter only', client: createClient({ pool }) },
    {
      name: 'memoryStore()',
      client: createClient({ pool: { ...pool, shared: sharedLimit({ store: memoryStore(), limit }) } }),
    },
  ]
  let redisServer: RedisServer | undefined
  const redisClients: Redis[] = []
  const closing: (() => Promise<void>)[] = []
  if (redisServerPath() === undefined) {
    console.log(
      'redis-server is not installed: the Redis rows are left out (apt-get install -y redis-server)',
    )
  } else {
    redisServer = await startRedis()
    for (const batch of [1, limit]) {
      const redis = new Redis(redisServer.port, '127.0.0.1')
      redisClients.push(redis)
      const store = redisStore(redis, { batch })
      closing.push(() => store.close())
      contenders.push({
        name: batch === 1 ? 'redisStore()' : `redisStore({ batch: ${batch} })`,
        client: createClient({ pool: { ...pool, shared: sharedLimit({ store, limit }) } }),
        redis,
      })
    }
  }
  const rows: string[][] = []
  let processes: string[][] = []
  try {
    for (const concurrency of [1, limit]) {
      const results = await interleave(
        contenders,
        { rounds, warmup: (contender) => run(contender, url, Math.ceil(requests / 4), concurrency) },
        (contender) => run(contender, url, requests, concurrency),
      )
      const local = results.get(contenders[0]!)!
      for (const contender of contenders) {
        const samples = results.get(contender)!
        const added = (key: 'p50' | 'p99') => samples.map((sample, round) => sample[key] - local[round]![key])
        const calls = samples.map((sample) => sample.calls).filter((value) => value !== undefined)
        rows.push([
          concurrency === 1 ? 'one at a time' : `${concurrency} at a time`,
          contender.name,
          cell(
            samples.map((sample) => sample.p50),
            2,
          ),
          cell(
            samples.map((sample) => sample.p99),
            2,
          ),
          contender === contenders[0] ? '' : signed(cell(added('p50'), 2)),
          contender === contenders[0] ? '' : signed(cell(added('p99'), 2)),
          calls.length === 0 ? '' : cell(calls, 2),
        ])
      }
    }
    if (redisServer !== undefined) processes = await acrossProcesses(server, redisServer)
  } finally {
    for (const close of closing) await close()
    for (const redis of redisClients) redis.disconnect()
    await redisServer?.stop()
    await server.close()
  }
  console.log(
    header(
      'Shared limits (bench/shared-limits.ts)',
      `${requests} GETs of \`/json\` per run to a loopback server, per-origin limit ${limit}, shared or not. ` +
        'Cells: per-request ms, median (min–max) of the rounds; "added" is the per-round difference to the ' +
        'local limiter; "Redis calls" is EVALSHA per request.',
      rounds,
    ),
  )
  console.log(
    `\n${table(['workload', 'limit', 'p50 ms', 'p99 ms', 'added p50', 'added p99', 'Redis calls'], rows)}`,
  )
  if (processes.length > 0) {
    console.log('\n### Across processes (Node + Redis), one run each\n')
    console.log(table(['demonstration', 'result'], processes))
  }
}

/** The issue's two demonstrations with real processes; rows of the second table. */
async function acrossProcesses(server: SpawnedServer, redis: RedisServer): Promise<string[][]> {
  const rows: string[][] = []
  for (const batch of ['1', '8']) {
    await server.reset()
    const env = {
      URL: `${server.url}/delay?ms=20`,
      CALLS: '50',
      LIMIT: '8',
      BATCH: batch,
      PREFIX: `demo${batch}:`,
    }
    const workers = await Promise.all([1, 2, 3, 4].map(() => startWorker(redis.port, env)))
    const started = performance.now()
    for (const worker of workers) worker.go()
    const results = await Promise.all(workers.map((worker) => worker.result))
    const ms = performance.now() - started
    const stats = await server.stats()
    const done = results.reduce((sum, result) => sum + result.done, 0)
    rows.push([
      `4 processes × 50 calls, shared limit 8${batch === '1' ? '' : `, batch ${batch}`}`,
      `server peak ${stats.peakInFlight}, ${done} of 200 done, ${stats.requests} requests seen, ${Math.round(ms)} ms`,
    ])
  }
  await server.reset()
  const ttl = 1000
  const refresh = 250
  const common = { TTL: String(ttl), REFRESH: String(refresh), LIMIT: '4', PREFIX: 'kill:', CALLS: '4' }
  const holder = await startWorker(redis.port, { ...common, URL: `${server.url}/hold?tag=k`, HOLD: '1' })
  const waiter = await startWorker(redis.port, { ...common, URL: `${server.url}/json` })
  holder.go()
  await server.waitForRequests(4)
  waiter.go()
  await new Promise((resolve) => setTimeout(resolve, 2 * ttl)) // refreshed meanwhile: the waiter waits
  const killed = performance.now()
  holder.child.kill('SIGKILL')
  const result = await waiter.result
  rows.push([
    `kill -9 of a process holding all 4 permits (ttl ${ttl} ms, refresh ${refresh} ms)`,
    `the other's ${result.done} calls done ${Math.round(performance.now() - killed)} ms after the kill (bound: ttl + one refresh = ${ttl + refresh} ms)`,
  ])
  return rows
}

await main()
