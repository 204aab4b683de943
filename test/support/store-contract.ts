/**
 * The `LimitStore` contract (src/limit-store.ts) as checks any engine can run: memory, Redis, the Durable
 * Object, Web Locks. Runtime-neutral on purpose (no `node:` imports, no test framework): it returns plain
 * async checks, and each runtime's test file wraps them in its own `test()`:
 *
 * ```ts
 * for (const check of storeContract(harness)) it(check.name, check.run, 20_000)
 * ```
 *
 * A harness opens a fresh engine with N copies of the store over it (N processes', tabs' or isolates'
 * worth), and may give a store whose engine cannot be reached. Checks wait on promises and explicit
 * releases; the only timers are upper bounds (a check fails when the bound passes) and the short
 * "still waiting" windows that prove a permit was not granted.
 */
import type { LimitStore, SharedPermit } from '../../src/limit-store.ts'

export interface StoreHarness {
  /** Copies of one fresh engine (or one engine and keys no other check uses); `close` closes them all. */
  open(copies: number): Promise<{ copies: LimitStore[]; close(): Promise<void> }>
  /** A store whose engine cannot be reached; without it, that check is skipped. */
  unreachable?(): Promise<LimitStore>
  /** Ms within which an unreachable store must reject. Default 5000. */
  unreachableWithin?: number
  /** How many timers (or handles) the runtime holds now, to check that close() stops the store's. */
  openTimers?(): number
  /** Ms a permit freed in one copy may take to reach a waiter of another. Default 2000. */
  wakeWithin?: number
}

export interface StoreCheck {
  name: string
  run(): Promise<void>
}

/** Every check of the contract, for `harness`'s engine. */
export function storeContract(harness: StoreHarness): StoreCheck[] {
  const wakeWithin = harness.wakeWithin ?? 2000
  /** Opens `count` copies, runs `body` with them and a key of its own, and closes them whatever happens. */
  const withCopies =
    (count: number, body: (copies: LimitStore[], key: string) => Promise<void>) => async () => {
      const engine = await harness.open(count)
      try {
        await body(engine.copies, `contract:${Math.random().toString(36).slice(2)}`)
      } finally {
        await engine.close()
      }
    }

  const checks: StoreCheck[] = [
    {
      name: 'the peak of permits held across copies never exceeds the limit, and every waiter gets one',
      run: withCopies(2, async (copies, key) => {
        const limit = 3
        let held = 0
        let peak = 0
        const holders = Array.from({ length: 16 }, async (_, index) => {
          const permit = await within(copies[index % 2]!.acquire(key, limit), wakeWithin * 4, 'a permit')
          held++
          peak = Math.max(peak, held)
          await turns(index % 3) // holds vary, so releases interleave with grants
          held--
          permit.release()
        })
        await Promise.all(holders)
        equal(peak, limit, 'peak of permits held at once')
      }),
    },
    {
      name: 'within a copy, waiters are served by priority, then first come first served',
      run: withCopies(1, async ([store], key) => {
        const holder = await store!.acquire(key, 1)
        const order: string[] = []
        const wait = (name: string, priority?: number) =>
          store!.acquire(key, 1, { priority }).then(async (permit) => {
            order.push(name)
            await turns(1)
            permit.release()
          })
        const all = [wait('a'), wait('b'), wait('high', 1), wait('c'), wait('low', -1)]
        holder.release()
        await within(Promise.all(all), wakeWithin * 5, 'every waiter')
        equal(order.join(' '), 'high a b c low', 'order of grants')
      }),
    },
    {
      name: 'an aborted waiter rejects with the signal reason and leaves nothing held',
      run: withCopies(2, async ([first, second], key) => {
        const holder = await first!.acquire(key, 1)
        const controller = new AbortController()
        const reason = new Error('the caller gave up')
        const aborted = second!.acquire(key, 1, { signal: controller.signal })
        controller.abort(reason)
        equal(await rejection(aborted, wakeWithin), reason, 'rejection of the aborted waiter')
        const early = new AbortController()
        early.abort(reason)
        equal(
          await rejection(second!.acquire(key, 1, { signal: early.signal }), wakeWithin),
          reason,
          'rejection of a waiter whose signal was aborted already',
        )
        holder.release()
        // Nothing of the aborted waiters is held: the whole limit is there to take, from either copy.
        const again = await within(second!.acquire(key, 1), wakeWithin, 'the permit after the abort')
        again.release()
        const last = await within(first!.acquire(key, 1), wakeWithin, 'the permit after that')
        last.release()
      }),
    },
    {
      name: 'release is idempotent: a permit given back twice frees one place',
      run: withCopies(2, async ([first, second], key) => {
        const one = await first!.acquire(key, 2)
        const two = await second!.acquire(key, 2)
        one.release()
        one.release()
        const three = await within(first!.acquire(key, 2), wakeWithin, 'the freed place')
        const four = second!.acquire(key, 2)
        await stillWaiting(four, 'a third permit under a limit of 2')
        two.release()
        const granted = await within(four, wakeWithin, 'the place freed by the second copy')
        three.release()
        granted.release()
      }),
    },
    {
      name: 'fencing tokens are unique per key and increase within a copy',
      run: withCopies(2, async (copies, key) => {
        const tokens: number[][] = [[], []]
        for (let round = 0; round < 6; round++) {
          const index = round % 2
          const permit = await within(copies[index]!.acquire(key, 2), wakeWithin, 'a permit')
          tokens[index]!.push(permit.token)
          permit.release()
        }
        for (const own of tokens) {
          for (let i = 1; i < own.length; i++) ok(own[i]! > own[i - 1]!, `tokens increase in a copy: ${own}`)
        }
        const all = tokens.flat()
        equal(new Set(all).size, all.length, `distinct tokens (${all})`)
        ok(all.every(Number.isFinite), `tokens are numbers (${all})`)
      }),
    },
    {
      name: 'close() rejects the waiters of that copy and gives back what it held',
      run: withCopies(2, async ([first, second], key) => {
        const held = await second!.acquire(key, 2)
        const alsoHeld = await second!.acquire(key, 2)
        const waiting = rejection(second!.acquire(key, 2), wakeWithin) // handled from now: it rejects during close()
        await second!.close()
        ok((await waiting) !== undefined, 'the waiter of the closed copy rejects')
        ok(
          (await rejection(second!.acquire(key, 2), wakeWithin)) !== undefined,
          'a closed copy refuses new acquires',
        )
        // What the closed copy held is back in the engine: the other copy takes the whole limit.
        const a = await within(first!.acquire(key, 2), wakeWithin, 'a permit freed by close()')
        const b = await within(first!.acquire(key, 2), wakeWithin, 'the other permit freed by close()')
        held.release() // after close: changes nothing, throws nothing
        alsoHeld.release()
        a.release()
        b.release()
      }),
    },
  ]

  if (harness.openTimers !== undefined) {
    const openTimers = harness.openTimers
    checks.push({
      name: 'close() stops every timer the store started',
      run: async () => {
        const before = openTimers()
        const engine = await harness.open(2)
        const key = `contract:${Math.random().toString(36).slice(2)}`
        const [first, second] = engine.copies
        const held = await first!.acquire(key, 1)
        const waiting = second!.acquire(key, 1).catch(() => undefined)
        await engine.close()
        await waiting
        held.release()
        await turns(2)
        ok(
          openTimers() <= before,
          `timers after close (${openTimers()}) no more than before open (${before})`,
        )
      },
    })
  }

  if (harness.unreachable !== undefined) {
    const unreachable = harness.unreachable
    const bound = harness.unreachableWithin ?? 5000
    checks.push({
      name: `an unreachable engine rejects with StoreUnreachable within ${bound} ms, never hangs`,
      run: async () => {
        const store = await unreachable()
        try {
          const error = await rejection(store.acquire('contract:unreachable', 1), bound)
          equal((error as Error | undefined)?.name, 'StoreUnreachable', 'the rejection')
          equal((error as { engine?: string }).engine, store.engine, "the rejection's engine")
        } finally {
          await store.close()
        }
      },
    })
  }

  checks.push({
    name: 'a pause told by one copy reaches every copy, itself included (when the engine shares pauses)',
    run: withCopies(2, async ([first, second], key) => {
      if (first!.pause === undefined || first!.onPause === undefined || second!.onPause === undefined) return
      const heard = new Set<string>()
      const until = Date.now() + 60_000
      let both: () => void
      const bothHeard = new Promise<void>((resolve) => {
        both = resolve
      })
      const listen = (name: string) => (pausedKey: string, pausedUntil: number) => {
        if (pausedKey !== key) return
        equal(pausedUntil, until, 'the pause deadline')
        heard.add(name)
        if (heard.size === 2) both()
      }
      const stopFirst = first!.onPause(listen('first'))
      const stopSecond = second!.onPause(listen('second'))
      // Subscribing is asynchronous in every engine but memory: the pause is told again (the same key
      // and deadline, so hearing it twice is harmless) until both copies heard it, within the bound.
      const tell = () => first!.pause!(key, until)
      tell()
      const again = setInterval(tell, 100)
      try {
        await within(bothHeard, wakeWithin, 'the pause in both copies')
      } finally {
        clearInterval(again)
        stopFirst()
        stopSecond()
      }
    }),
  })
  return checks
}

class ContractError extends Error {
  override name = 'ContractError'
}

function ok(condition: boolean, message: string): void {
  if (!condition) throw new ContractError(message)
}

function equal(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected)
    throw new ContractError(`${what}: expected ${String(expected)}, got ${String(actual)}`)
}

/** `promise`, or a failure naming `what` once `ms` have passed. The timer is cleared either way. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ContractError(`${what}: not granted within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** The rejection reason of `promise` (undefined if it resolved: the permit is then given back). */
async function rejection(promise: Promise<SharedPermit>, ms: number): Promise<unknown> {
  try {
    const permit = await within(promise, ms, 'the rejection')
    permit.release()
    return undefined
  } catch (error) {
    if (error instanceof ContractError) throw error
    return error
  }
}

/** Fails if `promise` settles within 100 ms: it must still be waiting for a permit. */
async function stillWaiting(promise: Promise<SharedPermit>, what: string): Promise<void> {
  let settled = false
  promise.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  await new Promise((resolve) => setTimeout(resolve, 100))
  ok(!settled, `${what} was granted`)
}

/** `count` macrotasks: lets promise chains and I/O of every engine move on. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}
