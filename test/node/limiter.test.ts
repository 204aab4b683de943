/**
 * The limiter alone (no HTTP): slots per key and in total, the queue's order, fairness between keys,
 * and the ways a waiter leaves the queue without a slot.
 */
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
    expect(granted.map((lease) => lease?.key)).toEqual(['a', 'a', 'b', undefined, undefined])
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
    await expect(next).resolves.toMatchObject({ key: 'a' })
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
    await expect(waiters[2]!.promise).resolves.toMatchObject({ key: 'a' })
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
