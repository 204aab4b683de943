/**
 * `npm run bench:limiter` — the Limiter (src/limiter.ts) alone, against what people build by hand
 * (issue 5, part 3): a Map of p-limit or p-queue instances, one per key, and a single p-queue.
 *
 * - contended: W waiters over K keys fired at once, limit 1 per key (so W − K of them queue), each
 *   releasing its slot as soon as it gets it; waiters through per second. A sample repeats its run on
 *   fresh instances until 100,000 waiters went through.
 * - steady state (O(1)): ns per op at a queue depth of W (over K keys) and 10× that (over 10× the keys,
 *   and over the same keys: 10× deeper queues); every waiter queues again after its turn, so the depth
 *   holds while the ops are timed. Bare, and with a 30 s timeout (the deadline heap).
 * - uncontended: acquire + release one at a time on a key with room (the pool's fast path is the sync
 *   `tryAcquire`; the async `acquire` and the p-* libraries await a promise).
 * - memory: heap after GC with W waiters queued, minus before, divided by W — in a child process
 *   started with `--expose-gc` (this file with `--memory`).
 *
 * Sizes (env): BENCH_ROUNDS (5), LIMITER_WAITERS (10000), LIMITER_KEYS (1000), LIMITER_FAST (200000).
 */
import { spawn } from 'node:child_process'
import { PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import pLimit from 'p-limit'
import PQueue from 'p-queue'
import { Limiter } from '../src/limiter.ts'
import {
  cell,
  envInt,
  header,
  interleave,
  num,
  roundsOr,
  since,
  summarize,
  table,
} from './support/harness.ts'

const rounds = roundsOr(5)
const waiters = envInt('LIMITER_WAITERS', 10_000)
const keys = envInt('LIMITER_KEYS', 1000)
const fastOps = envInt('LIMITER_FAST', 200_000)

/** One way to bound concurrency per key. `run` resolves once the task got its slot and gave it back. */
interface Subject {
  name: string
  /**
   * A fresh instance for one run of up to `waiters` waiters, with `perKey` slots per key and `total` in
   * all. Whatever the caller would own anyway (the pool's per-request AbortSignals) is made here, before
   * any timing or heap baseline.
   */
  create(
    perKey: number,
    total: number,
    waiters: number,
  ): {
    run(key: string, index: number): Promise<unknown>
    /** Queues a waiter that is never let through (memory test: slots are all taken). */
    hold(key: string, index: number): Promise<unknown>
  }
}

const nothing = () => undefined
/** A task that keeps its slot forever: fills every slot before the memory test queues its waiters. */
const forever = () => new Promise<never>(() => {})

const limiterSubject = (name: string, extras: { timeout?: boolean; signal?: boolean } = {}): Subject => ({
  name,
  create(perKey, total, count) {
    const limiter = new Limiter({ total, maxQueue: Number.POSITIVE_INFINITY, limitOf: () => perKey })
    // As the pool calls it: a 30 s queue timeout (the default `queueTimeout`) and the request's own
    // AbortSignal. (One signal shared by all waiters would measure Node's EventTarget instead: its
    // addEventListener scans the listener list, O(n) per add.)
    const signals = extras.signal ? Array.from({ length: count }, () => new AbortController().signal) : []
    const options = (index: number) => ({
      ...(extras.timeout ? { timeout: 30_000 } : {}),
      ...(extras.signal ? { signal: signals[index] } : {}),
    })
    return {
      run: (key, index) => limiter.acquire(key, options(index)).then((lease) => lease.release()),
      hold: (key, index) => limiter.acquire(key, options(index)),
    }
  },
})

const subjects: Subject[] = [
  limiterSubject('Limiter'),
  {
    name: 'Map of p-limit',
    create(perKey) {
      const limits = new Map<string, ReturnType<typeof pLimit>>()
      const limitOf = (key: string) => {
        let limit = limits.get(key)
        if (limit === undefined) {
          limit = pLimit(perKey)
          limits.set(key, limit)
        }
        return limit
      }
      return { run: (key) => limitOf(key)(nothing), hold: (key) => limitOf(key)(forever) }
    },
  },
  {
    name: 'Map of p-queue',
    create(perKey) {
      const queues = new Map<string, PQueue>()
      const queueOf = (key: string) => {
        let queue = queues.get(key)
        if (queue === undefined) {
          queue = new PQueue({ concurrency: perKey })
          queues.set(key, queue)
        }
        return queue
      }
      return { run: (key) => queueOf(key).add(nothing), hold: (key) => queueOf(key).add(forever) }
    },
  },
  {
    name: 'single p-queue (no per-key limit)',
    create(perKey, total) {
      const queue = new PQueue({ concurrency: Math.min(total, perKey * keys) })
      return { run: () => queue.add(nothing), hold: () => queue.add(forever) }
    },
  },
]
const limiterAsPool = limiterSubject('Limiter, as the pool calls it (timeout 30 s + signal)', {
  timeout: true,
  signal: true,
})
/** The two parts of the pool's cost per waiter, apart (memory table only). */
const limiterParts = [
  limiterSubject('Limiter + timeout 30 s only', { timeout: true }),
  limiterSubject('Limiter + AbortSignal only', { signal: true }),
]

const keyNames = (count: number) =>
  Array.from({ length: count }, (_, index) => `https://host-${index}.example`)

/**
 * `count` waiters over `keyCount` keys, fired at once, on a fresh instance; repeated until at least
 * 100,000 waiters went through (a sample of a few ms would measure the scheduler, not the code).
 * Returns waiters per second.
 */
async function contended(subject: Subject, count: number, keyCount: number, total: number): Promise<number> {
  const names = keyNames(keyCount)
  const repeat = Math.max(1, Math.ceil(100_000 / count))
  const instances = Array.from({ length: repeat }, () => subject.create(1, total, count))
  const all = new Array<Promise<unknown>>(count)
  const start = performance.now()
  for (const instance of instances) {
    for (let index = 0; index < count; index++) all[index] = instance.run(names[index % keyCount]!, index)
    await Promise.all(all)
  }
  return (count * repeat) / (since(start) / 1000)
}

/**
 * ns per op with `depth` waiters queued over `keyCount` keys, in steady state: each waiter queues again
 * on its key after its turn. Times the ops after the first 2 × depth (the initial burst and the first
 * turn of every chain).
 */
async function steady(subject: Subject, depth: number, keyCount: number): Promise<Steady> {
  const names = keyNames(keyCount)
  const ops = Math.max(200_000, 4 * depth)
  const instance = subject.create(1, Number.POSITIVE_INFINITY, 0)
  let gcMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration
  })
  observer.observe({ entryTypes: ['gc'] })
  let started = 0
  let markedAt = 0
  let gcAtMark = 0
  const chain = async (key: string) => {
    while (started < ops) {
      if (++started === 2 * depth) {
        markedAt = performance.now()
        gcAtMark = gcMs
      }
      await instance.run(key, 0)
    }
  }
  await Promise.all(Array.from({ length: depth }, (_, index) => chain(names[index % keyCount]!)))
  const ms = since(markedAt)
  await new Promise((resolve) => setTimeout(resolve, 0)) // let the observer see the last GC entries
  observer.disconnect()
  const gc = Math.min(ms, gcMs - gcAtMark)
  const timed = ops - 2 * depth
  return { ns: (ms * 1e6) / timed, nsWithoutGc: ((ms - gc) * 1e6) / timed, gcShare: gc / ms }
}

interface Steady {
  ns: number
  /** The same, minus the time GC spent during the timed ops (from PerformanceObserver 'gc' entries). */
  nsWithoutGc: number
  gcShare: number
}

interface Fast {
  name: string
  run(ops: number): Promise<number>
}

const fastPaths: Fast[] = [
  {
    name: 'Limiter, tryAcquire + release (sync, what the pool does)',
    async run(ops) {
      const limiter = new Limiter({ total: 64, maxQueue: 1000, limitOf: () => 6 })
      const start = performance.now()
      for (let index = 0; index < ops; index++) limiter.tryAcquire('https://api.example')!.release()
      return ops / (since(start) / 1000)
    },
  },
  {
    name: 'Limiter, await acquire + release',
    async run(ops) {
      const limiter = new Limiter({ total: 64, maxQueue: 1000, limitOf: () => 6 })
      const start = performance.now()
      for (let index = 0; index < ops; index++) (await limiter.acquire('https://api.example')).release()
      return ops / (since(start) / 1000)
    },
  },
  {
    name: 'p-limit, await limit(fn)',
    async run(ops) {
      const limit = pLimit(6)
      const start = performance.now()
      for (let index = 0; index < ops; index++) await limit(nothing)
      return ops / (since(start) / 1000)
    },
  },
  {
    name: 'p-queue, await add(fn)',
    async run(ops) {
      const queue = new PQueue({ concurrency: 6 })
      const start = performance.now()
      for (let index = 0; index < ops; index++) await queue.add(nothing)
      return ops / (since(start) / 1000)
    },
  },
]

// ---------------------------------------------------------------------------------------------------
// Memory, in a child process with --expose-gc.

interface MemoryResult {
  name: string
  bytesPerWaiter: number
}

async function memoryChild(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  const collect = () => {
    for (let index = 0; index < 4; index++) gc()
  }
  const names = keyNames(keys)
  const results: MemoryResult[] = []
  for (const subject of [...subjects, limiterAsPool, ...limiterParts]) {
    const samples: number[] = []
    for (let round = 0; round < 3; round++) {
      const instance = subject.create(1, Number.POSITIVE_INFINITY, waiters + keys)
      names.forEach((name, index) => void instance.hold(name, waiters + index)) // every slot taken: what follows queues
      const held = new Array<Promise<unknown>>(waiters).fill(Promise.resolve())
      await new Promise((resolve) => setTimeout(resolve, 10)) // p-limit starts its tasks a microtask later
      collect()
      const before = process.memoryUsage().heapUsed
      for (let index = 0; index < waiters; index++) held[index] = instance.hold(names[index % keys]!, index)
      collect()
      const after = process.memoryUsage().heapUsed
      samples.push((after - before) / waiters)
      held.length = 0
    }
    results.push({ name: subject.name, bytesPerWaiter: summarize(samples).median })
  }
  process.stdout.write(`${JSON.stringify(results)}\n`)
  process.exit(0) // the held waiters (and their 30 s timers) are never let through
}

async function measureMemory(): Promise<MemoryResult[]> {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8')
  })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  if (code !== 0) throw new Error(`the memory child exited with ${code}`)
  return JSON.parse(output) as MemoryResult[]
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const out = [
    header(
      'Limiter alone (bench/limiter.ts)',
      'Acquire/release throughput and memory of src/limiter.ts against hand-built alternatives. ' +
        'Cells: median (min–max) of the rounds.',
      rounds,
    ),
  ]
  const verdicts: string[][] = []
  const rows: string[][] = []
  const contenders = [...subjects, limiterAsPool]
  const burst = await interleave(
    contenders,
    { rounds, warmup: (subject) => contended(subject, waiters / 10, keys / 10, Infinity) },
    (subject) => contended(subject, waiters, keys, Number.POSITIVE_INFINITY),
  )
  const burstMedian = (subject: Subject) => summarize(burst.get(subject)!).median
  for (const subject of contenders) {
    rows.push([subject.name, cell(burst.get(subject)!), num(1e9 / burstMedian(subject))])
  }
  // The total cap binding (64): keys take turns (round-robin), the Limiter's other path.
  const ringSubject = limiterSubject('Limiter, total 64 (keys take turns)')
  const ring = await interleave(
    [ringSubject],
    { rounds, warmup: (subject) => contended(subject, waiters / 10, keys / 10, 64) },
    (subject) => contended(subject, waiters, keys, 64),
  )
  rows.push([
    ringSubject.name,
    cell(ring.get(ringSubject)!),
    num(1e9 / summarize(ring.get(ringSubject)!).median),
  ])
  out.push(
    `\n### Contended: ${num(waiters)} waiters over ${num(keys)} keys fired at once, limit 1 per key, each releasing at once\n`,
  )
  out.push(table(['implementation', 'waiters/s', 'ns per waiter'], rows))

  // O(1): the cost of one op at a queue depth, in steady state (every waiter queues again after its turn).
  const depths = [
    { label: `${num(waiters)} queued over ${num(keys)} keys`, depth: waiters, keyCount: keys },
    {
      label: `${num(waiters * 10)} queued over ${num(keys * 10)} keys`,
      depth: waiters * 10,
      keyCount: keys * 10,
    },
    {
      label: `${num(waiters * 10)} queued over ${num(keys)} keys (10× deeper)`,
      depth: waiters * 10,
      keyCount: keys,
    },
  ]
  const reference = subjects.find((subject) => subject.name === 'Map of p-limit')!
  // With a timeout every waiter is also in the deadline heap (O(log n)): measured apart.
  const timed = limiterParts[0]!
  const steadySubjects = [subjects[0]!, timed, reference]
  const steadyRows: string[][] = []
  const perOp = new Map<string, { ns: number; nsWithoutGc: number }>()
  for (const { label, depth, keyCount } of depths) {
    const results = await interleave(
      steadySubjects,
      { rounds, warmup: (subject) => steady(subject, depth / 10, keyCount / 10) },
      (subject) => steady(subject, depth, keyCount),
    )
    for (const subject of steadySubjects) {
      const runs = results.get(subject)!
      const ns = runs.map((run) => run.ns)
      const nsWithoutGc = runs.map((run) => run.nsWithoutGc)
      perOp.set(`${depth}|${keyCount}|${subject.name}`, {
        ns: summarize(ns).median,
        nsWithoutGc: summarize(nsWithoutGc).median,
      })
      steadyRows.push([
        label,
        subject.name,
        cell(ns),
        cell(nsWithoutGc),
        cell(
          runs.map((run) => run.gcShare * 100),
          0,
          '%',
        ),
      ])
    }
  }
  out.push('\n### Steady state: ns per op (acquire, queue, grant, release) at a given queue depth\n')
  out.push(
    'Every waiter queues again on its key after its turn, so the depth stays put while ' +
      'max(200,000, 4 × depth) ops run; the first 2 × depth ops (the initial burst) are not timed. GC time ' +
      "comes from PerformanceObserver 'gc' entries. p-limit (a linked-list queue, O(1) by construction) is " +
      'the reference for what a bigger heap alone costs. With a timeout, each waiter is also in the ' +
      "limiter's deadline heap (O(log n) per enqueue and grant).\n",
  )
  out.push(table(['queue', 'implementation', 'ns per op', 'without GC time', 'GC share'], steadyRows))

  const fast = await interleave(fastPaths, { rounds, warmup: (path) => path.run(fastOps / 10) }, (path) =>
    path.run(fastOps),
  )
  out.push('\n### Uncontended fast path: acquire + release, one at a time\n')
  out.push(
    table(
      ['implementation', 'ops/s', 'ns per op'],
      fastPaths.map((path) => [
        path.name,
        cell(fast.get(path)!),
        num(1e9 / summarize(fast.get(path)!).median),
      ]),
    ),
  )

  const memory = await measureMemory()
  out.push(`\n### Memory per queued waiter (${num(waiters)} waiters over ${num(keys)} keys, heap after GC)\n`)
  out.push(
    table(
      ['implementation', 'bytes per waiter'],
      memory.map((row) => [row.name, num(row.bytesPerWaiter)]),
    ),
  )

  const speedup =
    burstMedian(subjects[0]!) / burstMedian(subjects.find((subject) => subject.name === 'Map of p-queue')!)
  verdicts.push([
    `≥ 2× the Map of p-queue (${num(waiters)} waiters, ${num(keys)} keys)`,
    `${speedup.toFixed(2)}×`,
    speedup >= 2 ? 'met' : 'missed',
  ])
  for (const row of memory.filter((result) => result.name.startsWith('Limiter'))) {
    verdicts.push([
      `≤ 400 bytes per waiter: ${row.name}`,
      `${num(row.bytesPerWaiter)} B`,
      row.bytesPerWaiter <= 400 ? 'met' : 'missed',
    ])
  }
  const at = (depth: number, keyCount: number, name: string) => perOp.get(`${depth}|${keyCount}|${name}`)!
  const referenceBase = at(depths[0]!.depth, depths[0]!.keyCount, reference.name)
  for (const [name, { label, depth, keyCount }] of [subjects[0]!.name, timed.name].flatMap((name) =>
    depths.slice(1).map((depth) => [name, depth] as const),
  )) {
    const base = at(depths[0]!.depth, depths[0]!.keyCount, name)
    const limiter = at(depth, keyCount, name)
    const growth = limiter.nsWithoutGc / base.nsWithoutGc
    const growthWithGc = limiter.ns / base.ns
    const referenceGrowth = at(depth, keyCount, reference.name).ns / referenceBase.ns
    verdicts.push([
      `O(1), ${name}: an op with ${label} not slower than with ${depths[0]!.label}`,
      `without GC time ${num(limiter.nsWithoutGc)} vs ${num(base.nsWithoutGc)} ns (${growth.toFixed(2)}×); ` +
        `with it ${growthWithGc.toFixed(2)}× (p-limit ${referenceGrowth.toFixed(2)}×)`,
      // Medians of noisy rounds on a shared machine: within 25% counts as "not slower".
      growth <= 1.25 ? 'met (without GC time)' : 'missed',
    ])
  }
  out.push('\n### Targets (issue 5, part 3)\n')
  out.push(table(['target', 'measured', 'verdict'], verdicts))
  console.log(out.join('\n'))
}

if (process.argv.includes('--memory')) await memoryChild()
else await main()
