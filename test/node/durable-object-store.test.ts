/**
 * `durableObjectStore()`'s client side (src/durable-object/store.ts) against a scripted namespace, on
 * fake timers: what it asks of the object and when, and that an object that stops answering is a
 * `StoreUnreachable` in bounded time, never a hang. The real object in workerd: durable-object.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LimitSessionStub, LimitsNamespace } from '../../src/durable-object/platform.ts'
import { durableObjectStore } from '../../src/durable-object/store.ts'
import { PoolConfigError } from '../../src/errors/config.ts'
import { StoreUnreachable } from '../../src/limit-store.ts'

/** A namespace whose one object records the calls and answers as the test says. */
function scripted(
  answer: {
    open?: 'never'
    refresh?: 'never'
    free?: number
    fail?: { retryable?: boolean; overloaded?: boolean }[]
  } = {},
) {
  const calls: string[] = []
  let free = answer.free ?? Number.POSITIVE_INFINITY
  let token = 0
  const pending: ((tokens: number[]) => void)[] = []
  const session: LimitSessionStub = {
    acquire: (key, _limit, want) => {
      calls.push(`acquire ${key} ${want}`)
      const failure = answer.fail?.shift()
      if (failure !== undefined)
        return Promise.reject(Object.assign(new Error('Durable Object reset'), failure))
      if (free === 0) return new Promise((resolve) => pending.push(resolve))
      const n = Math.min(want, free)
      free -= n
      return Promise.resolve(Array.from({ length: n }, () => ++token))
    },
    release: async (key, tokens) => {
      calls.push(`release ${key} ${tokens.join(',')}`)
    },
    refresh: () => {
      calls.push('refresh')
      return answer.refresh === 'never' ? new Promise(() => {}) : Promise.resolve(1)
    },
    cancel: async (key) => {
      calls.push(`cancel ${key}`)
      for (const resolve of pending.splice(0)) resolve([])
    },
    pause: async (key, until) => {
      calls.push(`pause ${key} ${until}`)
    },
    watchPauses: () => new Promise(() => {}),
    unwatchPauses: async () => {},
    [Symbol.dispose]: () => calls.push('dispose'),
  }
  const namespace: LimitsNamespace = {
    idFromName: (name) => name,
    get: () => ({
      open: () => {
        calls.push('open')
        return answer.open === 'never' ? new Promise(() => {}) : Promise.resolve(session)
      },
    }),
  }
  /** Answers the oldest pending acquire with a fresh token. */
  const grant = () => pending.shift()?.([++token])
  return { namespace, calls, grant }
}

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('durableObjectStore, the client side', () => {
  it('an object that never answers is a StoreUnreachable after `timeout`, not a hang', async () => {
    const { namespace } = scripted({ open: 'never' })
    const store = durableObjectStore(namespace, { timeout: 200 })
    const outcome = store.acquire('k', 1).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(200)
    const error = await outcome
    expect(error).toBeInstanceOf(StoreUnreachable)
    expect(error).toMatchObject({ engine: 'durable-object' })
    expect((error as Error).message).toMatch(/no answer within 200 ms to open a session/)
    await store.close()
  })

  it('a waiter whose object stops answering refreshes gets a StoreUnreachable within refreshEvery + timeout', async () => {
    const { namespace } = scripted({ refresh: 'never', free: 0 })
    const store = durableObjectStore(namespace, { ttl: 3_000, refreshEvery: 1_000, timeout: 500 })
    const outcome = store.acquire('k', 1).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(1_499)
    expect(vi.getTimerCount()).toBeGreaterThan(0) // still waiting: the refresh has 1 ms left
    await vi.advanceTimersByTimeAsync(1)
    expect(await outcome).toBeInstanceOf(StoreUnreachable)
    await store.close()
  })

  it('refreshes its leases every refreshEvery while it holds a permit, and stops once it holds none', async () => {
    const { namespace, calls } = scripted()
    const store = durableObjectStore(namespace, { ttl: 3_000, refreshEvery: 1_000 })
    const permit = await store.acquire('k', 1)
    await vi.advanceTimersByTimeAsync(3_500)
    expect(calls.filter((call) => call === 'refresh')).toHaveLength(3)
    permit.release()
    permit.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(calls.filter((call) => call.startsWith('release'))).toEqual(['release k 1'])
    expect(vi.getTimerCount()).toBe(0)
    await store.close()
  })

  it('with batch, the waiters of one tick are asked for in one call, and releases of one tick go in one', async () => {
    const { namespace, calls } = scripted()
    const store = durableObjectStore(namespace, { batch: 8 })
    const permits = await Promise.all(Array.from({ length: 10 }, () => store.acquire('k', 10)))
    expect(calls).toEqual(['open', 'acquire k 8', 'acquire k 2'])
    expect(permits.map((permit) => permit.token)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    for (const permit of permits) permit.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(calls.at(-1)).toBe('release k 1,2,3,4,5,6,7,8,9,10')
    await store.close()
  })

  it('higher priority is served first among one invocation’s waiters', async () => {
    const { namespace, grant } = scripted({ free: 0 })
    const store = durableObjectStore(namespace)
    const order: string[] = []
    const low = store.acquire('k', 1).then(() => order.push('low'))
    const high = store.acquire('k', 1, { priority: 5 }).then(() => order.push('high'))
    await vi.advanceTimersByTimeAsync(0)
    grant()
    grant()
    await Promise.all([low, high])
    expect(order).toEqual(['high', 'low'])
    await store.close()
  })

  it('abort rejects with the signal’s reason, cancels the wait at the object, and a permit granted late goes back', async () => {
    const { namespace, calls } = scripted({ free: 0 })
    const store = durableObjectStore(namespace)
    const controller = new AbortController()
    const outcome = store.acquire('k', 1, { signal: controller.signal }).catch((error: unknown) => error)
    await vi.advanceTimersByTimeAsync(0)
    controller.abort(new Error('gone'))
    expect(await outcome).toMatchObject({ message: 'gone' })
    await vi.advanceTimersByTimeAsync(0)
    expect(calls).toContain('cancel k')
    await store.close()
  })

  it('a call Cloudflare marks retryable is made once more on a new session; a second failure, or an overloaded object, is a StoreUnreachable', async () => {
    const once = scripted({ fail: [{ retryable: true }] })
    const store = durableObjectStore(once.namespace)
    expect((await store.acquire('k', 1)).token).toBe(1)
    // The failed session is disposed (asynchronously) and a new one opened for the second call.
    expect(once.calls.filter((call) => call !== 'dispose')).toEqual([
      'open',
      'acquire k 1',
      'open',
      'acquire k 1',
    ])
    expect(once.calls).toContain('dispose')
    await store.close()

    const twice = scripted({ fail: [{ retryable: true }, { retryable: true }] })
    const again = durableObjectStore(twice.namespace)
    await expect(again.acquire('k', 1)).rejects.toBeInstanceOf(StoreUnreachable)
    await again.close()

    const overloaded = scripted({ fail: [{ retryable: true, overloaded: true }] })
    const busy = durableObjectStore(overloaded.namespace)
    await expect(busy.acquire('k', 1)).rejects.toThrow(/acquire failed: Durable Object reset/)
    expect(overloaded.calls.filter((call) => call.startsWith('acquire'))).toHaveLength(1)
    await busy.close()
  })

  it('bad options are a PoolConfigError naming the option', () => {
    const { namespace } = scripted()
    expect(() => durableObjectStore(namespace, { ttl: 10 })).toThrow(PoolConfigError)
    expect(() => durableObjectStore(namespace, { ttl: 1_000, refreshEvery: 1_000 })).toThrow(
      /options\.refreshEvery must be below ttl/,
    )
    expect(() => durableObjectStore(namespace, { batch: 0 })).toThrow(/options\.batch/)
    expect(() => durableObjectStore({} as LimitsNamespace)).toThrow(/durableObjectStore\(namespace\)/)
  })
})
