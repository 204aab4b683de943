/**
 * The limiter alone (no HTTP): slots per key and in total, the queue's order, fairness between keys,
 * and the ways a waiter leaves the queue without a slot.
 */
import { getEventListeners } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type AcquireOptions, Limiter, LimiterRejection } from '../../src/limiter.ts'
import { flush, watch } from '../support/pool-harness.ts'

function limiter(options: { perKey?: number; total?: number; maxQueue?: number } = {}) {
  const limits = new Map<string, number>()
  const instance = new Limiter({
    total: options.total ?? 100,
    maxQueue: options.maxQueue ?? 1000,
    limitOf: (key) => limits.get(key) ?? options.perKey ?? 100,
  })
  /** Queues `count` waiters on `key`, each pushing its label to `order` when it gets a slot. */
  const queue = (key: string, count: number, order: string[], acquire: AcquireOptions = {}) =>
    Array.from({ length: count }, (_, i) =>
      instance.acquire(key, acquire).then((lease) => {
        order.push(`${key}${i}`)
        return lease
      }),
    )
  return { instance, limits, queue }
}

describe('limits', () => {
  it('never grants more than the per-key limit', async () => {
    const { instance } = limiter({ perKey: 2 })
    const waiters = [1, 2, 3, 4, 5].map(() => watch(instance.acquire('a')))
    await flush()
    expect(waiters.map((w) => w.state)).toEqual(['fulfilled', 'fulfilled', 'pending', 'pending', 'pending'])
    expect(instance.keyStats('a')).toEqual({ acquired: 2, queued: 3, limit: 2 })
  })

  it('never grants more than the total limit over all keys', async () => {
    const { instance } = limiter({ perKey: 2, total: 3 })
    const granted = ['a', 'a', 'b', 'b', 'c'].map((key) => instance.tryAcquire(key))
    expect(granted.map((lease) => lease !== undefined)).toEqual([true, true, true, false, false])
    expect([instance.acquiredOn('a'), instance.acquiredOn('b'), instance.acquiredOn('c')]).toEqual([2, 1, 0])
    expect(instance.acquired).toBe(3)
  })

  it('tryAcquire does not jump a queue that already has waiters', async () => {
    const { instance } = limiter({ perKey: 1 })
    const first = instance.tryAcquire('a')!
    void instance.acquire('a')
    first.release() // the queued waiter takes the slot at once
    expect(instance.tryAcquire('a')).toBeUndefined()
  })
})

describe('order', () => {
  it('serves higher priority first, then first come first served', async () => {
    const { instance } = limiter({ perKey: 1 })
    const order: string[] = []
    const labelled = (label: string, priority: number) =>
      instance.acquire('a', { priority }).then((lease) => {
        order.push(label)
        return lease
      })
    let lease = instance.tryAcquire('a')!
    const waiters = [labelled('A', 0), labelled('B', 2), labelled('C', 1), labelled('D', 0), labelled('E', 2)]
    for (let i = 0; i < waiters.length; i++) {
      lease.release()
      await flush()
      // Each release lets exactly one waiter in.
      expect(order).toHaveLength(i + 1)
      expect(instance.keyStats('a')?.acquired).toBe(1)
      lease = await waiters['ABCDE'.indexOf(order[i]!)]!
    }
    lease.release()
    expect(order).toEqual(['B', 'E', 'C', 'A', 'D'])
  })

  it('shares the total fairly: a key with 100 waiters cannot starve another key', async () => {
    const { instance, queue } = limiter({ total: 2 })
    const running = [instance.tryAcquire('busy')!, instance.tryAcquire('busy')!]
    const order: string[] = []
    const busy = queue('busy', 100, order)
    const [quiet] = queue('quiet', 1, order)
    // Two slots come free: the quiet key gets one of them, not the 99th busy waiter.
    running[0]!.release()
    running[1]!.release()
    await quiet
    expect(order).toEqual(['busy0', 'quiet0'])
    for (const lease of await Promise.all([quiet!, busy[0]!])) lease.release()
    expect(instance.acquired).toBe(2)
  })

  it('alternates between keys that both wait for the total cap', async () => {
    const { instance, queue } = limiter({ total: 1 })
    let lease = instance.tryAcquire('x')!
    const order: string[] = []
    const waiters = [...queue('a', 3, order), ...queue('b', 3, order)]
    const byLabel = new Map(waiters.map((p, i) => [i < 3 ? `a${i}` : `b${i - 3}`, p]))
    for (let i = 0; i < 6; i++) {
      lease.release()
      await flush()
      lease = await byLabel.get(order.at(-1)!)!
    }
    lease.release()
    expect(order).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2'])
  })
})

describe('leaving the queue', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('an aborted waiter is removed at once and rejected with the signal reason', async () => {
    const { instance } = limiter({ perKey: 1 })
    const holder = instance.tryAcquire('a')!
    const controller = new AbortController()
    const aborted = instance.acquire('a', { signal: controller.signal })
    const next = instance.acquire('a')
    const reason = new Error('caller gave up')
    controller.abort(reason)
    expect(instance.keyStats('a')?.queued).toBe(1)
    await expect(aborted).rejects.toBe(reason)
    holder.release()
    await expect(next).resolves.toMatchObject({ released: false })
  })

  it('an already-aborted signal is refused without queueing', async () => {
    const { instance } = limiter({ perKey: 1 })
    instance.tryAcquire('a')
    const reason = new Error('too late')
    await expect(instance.acquire('a', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(instance.queued).toBe(0)
  })

  it('a waiter queued past its timeout is rejected with a timeout LimiterRejection', async () => {
    const { instance } = limiter({ perKey: 2 })
    instance.tryAcquire('a')
    instance.tryAcquire('a')
    const waiter = instance.acquire('a', { timeout: 100 }).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(99)
    expect(instance.queued).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    const rejection = await waiter
    expect(rejection).toBeInstanceOf(LimiterRejection)
    expect(rejection).toMatchObject({ kind: 'timeout', key: 'a', limit: 2, waited: 100 })
    expect(instance.queued).toBe(0)
  })

  it('a rejection names the limit that blocked: the total, when the key itself had room', async () => {
    const { instance } = limiter({ perKey: 5, total: 1 })
    instance.tryAcquire('a')
    const waiter = instance.acquire('b', { timeout: 10 }).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(10)
    expect(await waiter).toMatchObject({ kind: 'timeout', key: 'b', limit: 1 })
  })

  it('a waiter beyond maxQueue is refused at once with a full LimiterRejection', async () => {
    const { instance } = limiter({ perKey: 1, maxQueue: 2 })
    instance.tryAcquire('a')
    void instance.acquire('a')
    void instance.acquire('a')
    await expect(instance.acquire('a')).rejects.toMatchObject({ kind: 'full', key: 'a', queued: 2, limit: 1 })
    expect(instance.queued).toBe(2)
  })

  it('a waiter is settled once: abort after it got its slot, or a timeout after an abort, change nothing', async () => {
    const { instance } = limiter({ perKey: 1 })
    const holder = instance.tryAcquire('a')!
    const controller = new AbortController()
    const granted = instance.acquire('a', { signal: controller.signal, timeout: 50 })
    holder.release()
    const lease = await granted
    controller.abort()
    await vi.advanceTimersByTimeAsync(100)
    expect(lease.released).toBe(false)
    expect(instance.keyStats('a')).toEqual({ acquired: 1, queued: 0, limit: 1 })

    const second = new AbortController()
    const cancelled = watch(instance.acquire('a', { signal: second.signal, timeout: 50 }))
    second.abort(new Error('first reason'))
    await vi.advanceTimersByTimeAsync(100)
    await expect(cancelled.promise).rejects.toThrow('first reason')
    expect(instance.queued).toBe(0)
    lease.release()
    expect(instance.acquired).toBe(0)
  })
})

describe('release and limits that change', () => {
  it('release is idempotent: a second call gives nothing back twice', async () => {
    const { instance } = limiter({ perKey: 1 })
    const lease = instance.tryAcquire('a')!
    const a = watch(instance.acquire('a'))
    const b = watch(instance.acquire('a'))
    lease.release()
    lease.release()
    await flush()
    expect([a.state, b.state]).toEqual(['fulfilled', 'pending'])
    expect(instance.keyStats('a')).toEqual({ acquired: 1, queued: 1, limit: 1 })
    expect(lease.released).toBe(true)
  })

  it('refreshLimit: a raised limit lets waiters in at once, a lowered one applies as slots free', async () => {
    const { instance, limits } = limiter({ perKey: 1 })
    const first = instance.tryAcquire('a')!
    const waiters = [1, 2, 3].map(() => watch(instance.acquire('a')))
    limits.set('a', 3)
    instance.refreshLimit('a')
    await flush()
    expect(waiters.map((w) => w.state)).toEqual(['fulfilled', 'fulfilled', 'pending'])
    limits.set('a', 1)
    instance.refreshLimit('a')
    first.release()
    ;(await waiters[0]!.promise).release()
    await flush()
    expect(waiters[2]!.state).toBe('pending') // one still holds a slot and the limit is now 1
    ;(await waiters[1]!.promise).release()
    await expect(waiters[2]!.promise).resolves.toMatchObject({ released: false })
  })

  it('forgets a key once nothing is acquired or queued on it', async () => {
    const { instance } = limiter({ perKey: 1, total: 1 })
    const lease = instance.tryAcquire('a')!
    const controller = new AbortController()
    const waiter = instance.acquire('b', { signal: controller.signal }).catch(() => undefined)
    controller.abort()
    await waiter
    expect([...instance.keys()]).toEqual(['a'])
    expect(instance.keyStats('b')).toBeUndefined()
    lease.release()
    expect([...instance.keys()]).toEqual([])
  })

  it('a key refused by tryAcquire (the total is full) is not listed', () => {
    const { instance } = limiter({ perKey: 1, total: 1 })
    const lease = instance.tryAcquire('a')!
    expect(instance.tryAcquire('b')).toBeUndefined()
    expect([...instance.keys()]).toEqual(['a'])
    expect(instance.keyStats('b')).toBeUndefined()
    lease.release()
  })

  it('thousands of keys used once each and left idle are not listed, and each works as new when used again', async () => {
    const { instance, limits } = limiter({ perKey: 2 })
    for (let i = 0; i < 5000; i++) instance.tryAcquire(`k${i}`)!.release()
    expect([...instance.keys()]).toEqual([])
    limits.set('k1', 1)
    instance.refreshLimit('k1')
    const lease = instance.tryAcquire('k1')!
    expect(instance.tryAcquire('k1')).toBeUndefined()
    expect(instance.keyStats('k1')).toEqual({ acquired: 1, queued: 0, limit: 1 })
    const waiter = instance.acquire('k4999')
    expect([...instance.keys()].sort()).toEqual(['k1', 'k4999'])
    lease.release()
    ;(await waiter).release()
    expect([...instance.keys()]).toEqual([])
  })

  it('a key whose last waiter was aborted queues again normally, in turn with other keys', async () => {
    const { instance } = limiter({ perKey: 1, total: 1 })
    const lease = instance.tryAcquire('a')!
    const controller = new AbortController()
    void instance.acquire('b', { signal: controller.signal }).catch(() => undefined)
    controller.abort()
    const again = watch(instance.acquire('b'))
    const other = watch(instance.acquire('c'))
    lease.release()
    await flush()
    expect([again.state, other.state]).toEqual(['fulfilled', 'pending'])
    ;(await again.promise).release()
    await flush()
    expect(other.state).toBe('fulfilled')
    expect(instance.keyStats('c')).toEqual({ acquired: 1, queued: 0, limit: 1 })
  })
})

describe('timeouts: one timer per limiter, for the earliest deadline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  /** Queues a waiter on a full key that records `label` and the time its timeout rejected it. */
  function timed(instance: Limiter, label: string, timeout: number, expired: [string, number][]) {
    return instance.acquire('a', { timeout }).then(
      (lease) => lease,
      (error: unknown) => {
        expect(error).toMatchObject({ kind: 'timeout', waited: timeout })
        expired.push([label, performance.now()])
      },
    )
  }

  it('waiters with different timeouts expire in deadline order, each exactly at enqueuedAt + timeout', async () => {
    const { instance } = limiter({ perKey: 1 })
    instance.tryAcquire('a')
    const expired: [string, number][] = []
    const waiters = [timed(instance, 'A', 50, expired), timed(instance, 'B', 10, expired)]
    waiters.push(timed(instance, 'C', 30, expired), timed(instance, 'D', 10, expired))
    await vi.advanceTimersByTimeAsync(5)
    waiters.push(timed(instance, 'E', 10, expired), timed(instance, 'F', 100, expired))
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(200)
    await Promise.all(waiters)
    // B and D share a deadline (10): they expire in the order they queued.
    expect(expired).toEqual([
      ['B', 10],
      ['D', 10],
      ['E', 15],
      ['C', 30],
      ['A', 50],
      ['F', 105],
    ])
    expect(instance.queued).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("a granted waiter's deadline never fires, and the timer goes once no queued waiter has a deadline", async () => {
    const { instance } = limiter({ perKey: 1 })
    const holder = instance.tryAcquire('a')!
    const granted = watch(instance.acquire('a', { timeout: 50 }))
    const untimed = watch(instance.acquire('a'))
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(20)
    holder.release()
    await flush()
    expect(granted.state).toBe('fulfilled')
    expect(vi.getTimerCount()).toBe(0) // the one left queued has no timeout
    await vi.advanceTimersByTimeAsync(100)
    expect((await granted.promise).released).toBe(false)
    expect(untimed.state).toBe('pending')
    expect(instance.keyStats('a')).toEqual({ acquired: 1, queued: 1, limit: 1 })
  })

  it('the single timer is re-armed for an earlier deadline and cleared when the last timed waiter leaves', async () => {
    const { instance } = limiter({ perKey: 1 })
    instance.tryAcquire('a')
    const expired: [string, number][] = []
    const late = timed(instance, 'late', 1000, expired)
    const controller = new AbortController()
    const aborted = instance.acquire('a', { timeout: 2000, signal: controller.signal }).catch(() => 'aborted')
    const early = timed(instance, 'early', 10, expired)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(10)
    expect(expired).toEqual([['early', 10]])
    expect(vi.getTimerCount()).toBe(1) // re-armed for 'late'
    controller.abort()
    expect(await aborted).toBe('aborted')
    await vi.advanceTimersByTimeAsync(990)
    expect(expired).toEqual([
      ['early', 10],
      ['late', 1000],
    ])
    expect(vi.getTimerCount()).toBe(0)
    await Promise.all([late, early])
  })

  it('a thousand queued waiters with timeouts share one timer', async () => {
    const { instance } = limiter({ perKey: 1, total: 10 })
    for (const key of 'abcde') instance.tryAcquire(key)
    const expired: number[] = []
    const waiters = Array.from({ length: 1000 }, (_, i) =>
      instance.acquire('abcde'[i % 5]!, { timeout: 1 + ((i * 7919) % 500), priority: i % 3 }).catch(() => {
        expired.push(performance.now())
      }),
    )
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(250)
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(250)
    await Promise.all(waiters)
    expect(expired).toHaveLength(1000)
    expect(expired).toEqual([...expired].sort((a, b) => a - b))
    expect(instance.queued).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a timeout longer than setTimeout allows (2^31 − 1 ms) does not fire early', async () => {
    const { instance } = limiter({ perKey: 1 })
    instance.tryAcquire('a')
    const waiter = watch(instance.acquire('a', { timeout: 2 ** 31 + 10_000 }))
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1)
    expect(waiter.state).toBe('pending')
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(10_001)
    await expect(waiter.promise).rejects.toMatchObject({ kind: 'timeout' })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('waiters sharing one AbortSignal are all removed by its abort; the listener goes with the last of them', async () => {
    const { instance } = limiter({ perKey: 1 })
    const holder = instance.tryAcquire('a')!
    const controller = new AbortController()
    const { signal } = controller
    const first = watch(instance.acquire('a', { signal }))
    const others = [1, 2, 3].map(() => watch(instance.acquire('a', { signal, timeout: 100 })))
    expect(getEventListeners(signal, 'abort')).toHaveLength(1)
    holder.release() // the first gets the slot; the listener stays for the other three
    await flush()
    expect(first.state).toBe('fulfilled')
    expect(getEventListeners(signal, 'abort')).toHaveLength(1)
    const reason = new Error('all of them')
    controller.abort(reason)
    expect(instance.queued).toBe(0)
    for (const other of others) await expect(other.promise).rejects.toBe(reason)
    expect(getEventListeners(signal, 'abort')).toHaveLength(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('an AbortSignal outlives its waiters without keeping a listener', async () => {
    const { instance } = limiter({ perKey: 1 })
    const holder = instance.tryAcquire('a')!
    const { signal } = new AbortController()
    const waiter = instance.acquire('a', { signal, timeout: 10 }).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(10)
    expect(await waiter).toMatchObject({ kind: 'timeout' })
    expect(getEventListeners(signal, 'abort')).toHaveLength(0)
    const granted = instance.acquire('a', { signal })
    holder.release()
    await granted
    expect(getEventListeners(signal, 'abort')).toHaveLength(0)
  })
})

describe('timerPerWaiter (the default in workerd only)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('gives each timed waiter its own timer, cleared when the waiter leaves, with the same rejections', async () => {
    const instance = new Limiter({ total: 10, maxQueue: 10, limitOf: () => 1, timerPerWaiter: true })
    const holder = instance.tryAcquire('a')!
    const granted = instance.acquire('a', { timeout: 50 })
    const expiring = instance.acquire('a', { timeout: 20 }).catch((error: unknown) => error)
    void instance.acquire('a')
    expect(vi.getTimerCount()).toBe(2)
    holder.release()
    await granted
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(20)
    expect(await expiring).toMatchObject({ kind: 'timeout', key: 'a', limit: 1, waited: 20, queued: 1 })
    expect(vi.getTimerCount()).toBe(0)
    expect(instance.queued).toBe(1)
  })

  it('a timeout longer than setTimeout allows does not fire early here either', async () => {
    const instance = new Limiter({ total: 10, maxQueue: 10, limitOf: () => 1, timerPerWaiter: true })
    instance.tryAcquire('a')
    const waiter = watch(instance.acquire('a', { timeout: 2 ** 31 + 10_000 }))
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1)
    expect(waiter.state).toBe('pending')
    await vi.advanceTimersByTimeAsync(10_001)
    await expect(waiter.promise).rejects.toMatchObject({ kind: 'timeout' })
    expect(vi.getTimerCount()).toBe(0)
  })
})
