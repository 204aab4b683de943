/**
 * The Web Locks store alone, on Node's own `navigator.locks` (Node 24 implements the Web Locks API; its
 * lock manager is shared by the worker threads of a process as a browser's is by the tabs of a site).
 * Two stores stand for two tabs: they share the lock manager and nothing else. The real tabs are in
 * web-locks-tabs.test.ts (three pages of one Chromium context).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { PoolConfigError } from '../../src/errors/config.ts'
import { QueueTimeoutError } from '../../src/index.ts'
import { StoreUnreachable } from '../../src/limit-store.ts'
import { sharedLimit } from '../../src/shared-limit.ts'
import { type WebLocksStore, webLocksStore } from '../../src/web-locks.ts'
import { harness, TraceLog } from '../support/pool-harness.ts'
import { storeContract } from '../support/store-contract.ts'

let serial = 0
const stores: WebLocksStore[] = []
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()))
})

/** Two or more "tabs" on one prefix, unique to the test. */
function tabs(count: number, fencing: 'shared' | 'local' = 'local') {
  const prefix = `test-${process.pid}-${serial++}`
  const made = Array.from({ length: count }, () => webLocksStore({ prefix, fencing }))
  stores.push(...made)
  return { prefix, stores: made }
}

/** The lock manager's view of one prefix's names, once the requests withdrawn have left it. */
async function locksOf(prefix: string) {
  let snapshot = await navigator.locks.query()
  // A withdrawn request, or a released lock, leaves the lock manager a turn of the event loop later.
  const ours = (list: LockInfo[] | undefined) => list!.some((lock) => lock.name!.startsWith(prefix))
  for (let turn = 0; turn < 20 && (ours(snapshot.pending) || ours(snapshot.held)); turn++) {
    await new Promise((resolve) => setImmediate(resolve))
    snapshot = await navigator.locks.query()
  }
  const names = (list: LockInfo[] | undefined) =>
    list!.map((lock) => lock.name!).filter((name) => name.startsWith(prefix))
  return { held: names(snapshot.held), pending: names(snapshot.pending) }
}

/** Resolves with the label of each acquire in the order they were granted. */
function recorder() {
  const order: string[] = []
  const take = (promise: Promise<{ release(): void; token: number }>, label: string) =>
    promise.then((permit) => {
      order.push(label)
      return permit
    })
  return { order, take }
}

const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('webLocksStore: the limit across copies', () => {
  it('grants at most the limit across two tabs, and the next waiter when a permit is released', async () => {
    const {
      stores: [a, b],
    } = tabs(2)
    const { order, take } = recorder()
    const first = await take(a!.acquire('k', 2), 'a1')
    await take(b!.acquire('k', 2), 'b1')
    const third = take(b!.acquire('k', 2), 'b2')
    const fourth = take(a!.acquire('k', 2), 'a2')
    for (let i = 0; i < 5; i++) await turn()
    expect(order).toEqual(['a1', 'b1'])
    first.release()
    await third
    expect(order).toEqual(['a1', 'b1', 'b2']) // b queued first on the freed name
    const last = await Promise.race([fourth, turn().then(() => 'still waiting')])
    expect(last).toBe('still waiting')
  })

  it('serves 30 acquires from three tabs with never more than the limit held', async () => {
    const { prefix, stores: three } = tabs(3)
    let held = 0
    let peak = 0
    const work = three.flatMap((store) =>
      Array.from({ length: 10 }, async () => {
        const permit = await store.acquire('k', 4)
        peak = Math.max(peak, ++held)
        await turn()
        held--
        permit.release()
      }),
    )
    await Promise.all(work)
    expect(peak).toBe(4)
    expect(await locksOf(prefix)).toEqual({ held: [], pending: [] })
  })

  it('frees the permits of a tab that goes away (close) for the others', async () => {
    const {
      stores: [a, b],
    } = tabs(2)
    await a!.acquire('k', 1)
    const waiting = b!.acquire('k', 1)
    await a!.close()
    const permit = await waiting
    expect(permit.token).toBeGreaterThan(0)
  })

  it('with limits that differ between tabs, holds at most the largest (each tab stays within its own)', async () => {
    const {
      stores: [small, large],
    } = tabs(2)
    const held = [await small!.acquire('k', 2), await small!.acquire('k', 2)]
    const third = large!.acquire('k', 3)
    expect(await third).toBeDefined() // name #2, which the tab with limit 2 never asks for
    const fourth = large!.acquire('k', 3)
    const fromSmall = small!.acquire('k', 2)
    for (let i = 0; i < 5; i++) await turn()
    held[0]!.release()
    const next = await Promise.race([fourth.then(() => 'large'), fromSmall.then(() => 'small')])
    expect(next).toBe('large') // queued first on the freed name
  })
})

describe('webLocksStore: waiting', () => {
  it('serves higher priority first within a tab, then first come first served', async () => {
    const {
      stores: [a],
    } = tabs(1)
    const holder = await a!.acquire('k', 1)
    const order: string[] = []
    const waiter = (priority: number, label: string) =>
      a!.acquire('k', 1, { priority }).then((permit) => {
        order.push(label)
        permit.release() // the next one in line gets the name
      })
    const waiters = [waiter(0, 'low-1'), waiter(5, 'high'), waiter(0, 'low-2')]
    holder.release()
    await Promise.all(waiters)
    expect(order).toEqual(['high', 'low-1', 'low-2'])
  })

  it('an abort rejects with the reason at once and leaves nothing held or queued', async () => {
    const {
      prefix,
      stores: [a, b],
    } = tabs(2)
    const holder = await a!.acquire('k', 2)
    const other = await a!.acquire('k', 2)
    const controller = new AbortController()
    const waiting = b!.acquire('k', 2, { signal: controller.signal })
    for (let i = 0; i < 5; i++) await turn()
    expect((await locksOf(prefix)).pending).toHaveLength(2) // b queued on both names
    const reason = new Error('gave up')
    controller.abort(reason)
    await expect(waiting).rejects.toBe(reason)
    holder.release()
    other.release()
    expect(await locksOf(prefix)).toEqual({ held: [], pending: [] })
  })

  it('an already aborted signal rejects before anything is asked of the lock manager', async () => {
    const {
      prefix,
      stores: [a],
    } = tabs(1)
    await expect(a!.acquire('k', 1, { signal: AbortSignal.abort('no') })).rejects.toBe('no')
    expect(await locksOf(prefix)).toEqual({ held: [], pending: [] })
  })

  it('release is idempotent: a second call does not free a name someone else now holds', async () => {
    const {
      stores: [a, b],
    } = tabs(2)
    const permit = await a!.acquire('k', 1)
    const waiting = b!.acquire('k', 1)
    permit.release()
    const next = await waiting
    permit.release()
    const third = a!.acquire('k', 1)
    const state = await Promise.race([
      third.then(() => 'granted'),
      turn()
        .then(turn)
        .then(() => 'waiting'),
    ])
    expect(state).toBe('waiting')
    next.release()
    await third
  })

  it('close rejects waiting acquires with StoreUnreachable and leaves nothing held or queued', async () => {
    const {
      prefix,
      stores: [a, b],
    } = tabs(2)
    const holder = await a!.acquire('k', 1)
    const waiting = b!.acquire('k', 1)
    await b!.close()
    await expect(waiting).rejects.toBeInstanceOf(StoreUnreachable)
    holder.release()
    expect(await locksOf(prefix)).toEqual({ held: [], pending: [] })
  })
})

describe('webLocksStore: tokens, pauses, errors', () => {
  it('hands out tokens greater than every earlier one for the key (local fencing within one realm)', async () => {
    const {
      stores: [a, b],
    } = tabs(2)
    const tokens: number[] = []
    for (let i = 0; i < 6; i++) {
      const permit = await (i % 2 ? a! : b!).acquire('k', 1)
      tokens.push(permit.token)
      permit.release()
    }
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y))
    expect(new Set(tokens).size).toBe(6)
    expect(a!.fencing).toBe('local')
  })

  it("one tab's pause reaches the others (BroadcastChannel) and its own listeners", async () => {
    const {
      stores: [a, b],
    } = tabs(2)
    const heard: string[] = []
    const offA = a!.onPause!((key, until) => heard.push(`a ${key} ${until}`))
    const told = new Promise<void>((resolve) =>
      b!.onPause!((key, until) => {
        heard.push(`b ${key} ${until}`)
        resolve()
      }),
    )
    a!.pause!('k', 1234)
    await told
    expect(heard).toEqual(['a k 1234', 'b k 1234'])
    offA()
  })

  it('without navigator.locks, acquire rejects at once with StoreUnreachable (so the pool can fail open)', async () => {
    const store = webLocksStore({ locks: {} as never })
    stores.push(store)
    const error = await store.acquire('k', 1).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StoreUnreachable)
    expect((error as StoreUnreachable).engine).toBe('web-locks')
    expect((error as Error).message).toMatch(/navigator\.locks is missing/)
  })

  it('bad options and limits are PoolConfigErrors naming what to do', async () => {
    expect(() => webLocksStore({ prefix: '-x' })).toThrow(PoolConfigError)
    expect(() => webLocksStore({ fencing: 'global' as never })).toThrow(/'shared' or 'local'/)
    const {
      stores: [a],
    } = tabs(1)
    await expect(a!.acquire('k', 0)).rejects.toThrow(/integer from 1 to 256/)
    await expect(a!.acquire('k', 1000)).rejects.toBeInstanceOf(PoolConfigError)
  })
})

describe("webLocksStore keeps the LimitStore contract (on Node's navigator.locks)", () => {
  const checks = storeContract({
    async open(count) {
      const { stores: copies } = tabs(count)
      return { copies, close: async () => void (await Promise.all(copies.map((copy) => copy.close()))) }
    },
    async unreachable() {
      return webLocksStore({ locks: {} as never }) // as in an insecure context: no navigator.locks
    },
    unreachableWithin: 50,
    openTimers: () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length,
  })
  for (const check of checks) it(check.name, check.run, 20_000)
})

describe('webLocksStore under a ky-pool client (pool.shared)', () => {
  const { start, client } = harness()

  it('a request whose queueTimeout passes while another tab holds the permit fails with QueueTimeoutError, leaving no lock held or queued', async () => {
    const server = await start()
    const {
      prefix,
      stores: [other, mine],
    } = tabs(2)
    const holder = await other!.acquire(`ky-pool:${server.origin}`, 1)
    const pooled = client({ pool: { queueTimeout: 30, shared: sharedLimit({ store: mine!, limit: 1 }) } })
    const error = await pooled
      .get(`${server.url}/json`)
      .text()
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(QueueTimeoutError)
    expect(server.stats().requests).toBe(0)
    holder.release()
    expect(await locksOf(prefix)).toEqual({ held: [], pending: [] })
  })

  it('two clients on two stores share one limit: the server never sees more than it', async () => {
    const server = await start()
    const {
      prefix,
      stores: [a, b],
    } = tabs(2)
    const calls = [a!, b!].flatMap((store) => {
      const pooled = client({ pool: { perOrigin: 10, shared: sharedLimit({ store, limit: 3 }) } })
      return Array.from({ length: 8 }, () => pooled.get(`${server.url}/hold?tag=t`).text())
    })
    for (let answered = 0; answered < 16; ) {
      await server.waitForRequests(Math.min(16, answered + 3))
      expect(server.stats().inFlight).toBeLessThanOrEqual(3)
      answered += server.release('t')
    }
    expect(await Promise.all(calls)).toHaveLength(16)
    expect(server.stats().peakInFlight).toBe(3)
    expect(await locksOf(prefix)).toEqual({ held: [], pending: [] })
  })

  it('without navigator.locks the client fails open to its local limit, with a store-unreachable trace event', async () => {
    const server = await start()
    const log = new TraceLog()
    const store = webLocksStore({ locks: {} as never })
    stores.push(store)
    const pooled = client({ pool: { trace: log.trace, shared: sharedLimit({ store, limit: 1 }) } })
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(log.of('store-unreachable')).toHaveLength(1)
  })
})
