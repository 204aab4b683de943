/**
 * The page that test/support/tabs.ts serves to several tabs of one Chromium context (bundled with
 * rolldown): calls to its own origin's `/work` through a ky-pool client whose `pool.shared` is a limit
 * on Web Locks, driven from the test through `window.tabs`.
 */
import { createClient } from '../../src/index.ts'
import { sharedLimit } from '../../src/shared-limit.ts'
import { webLocksStore } from '../../src/web-locks.ts'
import { storeContract } from './store-contract.ts'

export interface TabState {
  started: number
  completed: number
  failed: string[]
}

export interface TabsApi {
  state: TabState
  /** Starts `count` calls at once through a client with a shared `limit` (one client per tab and limit). */
  start(count: number, limit: number, path?: string): void
  /**
   * `count` calls through a ky-pool client, `width` at a time, with a shared limit on Web Locks (or none
   * when `limit` is 0); resolves with each call's time in ms.
   */
  calls(
    count: number,
    width: number,
    limit: number,
    fencing: 'shared' | 'local',
    path: string,
  ): Promise<number[]>
  /** The store alone: `count` acquire + release, one after the other; each one's time in ms. */
  cost(count: number, limit: number, fencing: 'shared' | 'local'): Promise<number[]>
  /** `count` acquire + release on a limit of 1 under `prefix`, for tabs running it at once; total ms. */
  handoff(count: number, prefix: string, fencing: 'shared' | 'local'): Promise<number>
  /** Runs the LimitStore contract (test/support/store-contract.ts) here; the failures, by check name. */
  contract(fencing: 'shared' | 'local'): Promise<{ name: string; error?: string }[]>
  /** One permit under `prefix` (limit 1), given back at once: its token, and where tokens came from. */
  token(prefix: string): Promise<{ token: number; fencing: string }>
}

const page = new URL(location.href).searchParams.get('page') ?? '?'
const state: TabState = { started: 0, completed: 0, failed: [] }

/**
 * A ky-pool client with a shared limit of `limit` on Web Locks (none when 0). `unreachable: 'closed'`,
 * so that a store that fails shows as failed calls instead of quietly falling back to the local limit;
 * `retry: 0`, so that a call is one request.
 */
function pooled(limit: number, fencing?: 'shared' | 'local', prefix = 'ky-pool') {
  const store = limit > 0 ? webLocksStore({ fencing, prefix }) : undefined
  const shared = store === undefined ? undefined : sharedLimit({ store, limit, unreachable: 'closed' })
  return { client: createClient({ retry: 0, pool: { shared } }), store }
}
const key = location.origin
const clients = new Map<number, ReturnType<typeof pooled>['client']>()

const api: TabsApi = {
  state,
  start(count, limit, path = '/work') {
    const client = clients.get(limit) ?? pooled(limit).client
    clients.set(limit, client)
    for (let i = 0; i < count; i++) {
      state.started++
      void client
        .get(`${location.origin}${path}?page=${page}&i=${i}`)
        .text()
        .then(() => state.completed++)
        .catch((error: unknown) => state.failed.push(String(error)))
    }
  },
  async calls(count, width, limit, fencing, path) {
    const { client, store } = pooled(limit, fencing, `bench-${fencing}`)
    const times: number[] = []
    let next = 0
    const lane = async () => {
      while (next < count) {
        const i = next++
        const started = performance.now()
        await client.get(`${location.origin}${path}?page=${page}&i=${i}`).text()
        times.push(performance.now() - started)
      }
    }
    await Promise.all(Array.from({ length: width }, lane))
    await store?.close()
    return times
  },
  async cost(count, limit, fencing) {
    const own = webLocksStore({ fencing, prefix: `cost-${fencing}` })
    const times: number[] = []
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      ;(await own.acquire(key, limit)).release()
      times.push(performance.now() - started)
    }
    await own.close()
    return times
  },
  async handoff(count, prefix, fencing) {
    const own = webLocksStore({ fencing, prefix })
    const started = performance.now()
    for (let i = 0; i < count; i++) (await own.acquire(key, 1)).release()
    const total = performance.now() - started
    await own.close()
    return total
  },
  async contract(fencing) {
    const checks = storeContract({
      async open(count) {
        const prefix = `contract-${Math.random().toString(36).slice(2)}`
        const copies = Array.from({ length: count }, () => webLocksStore({ prefix, fencing }))
        return { copies, close: async () => void (await Promise.all(copies.map((copy) => copy.close()))) }
      },
      async unreachable() {
        return webLocksStore({ locks: {} as never })
      },
      unreachableWithin: 50,
    })
    const results: { name: string; error?: string }[] = []
    for (const check of checks) {
      try {
        await check.run()
        results.push({ name: check.name })
      } catch (error) {
        results.push({ name: check.name, error: String(error) })
      }
    }
    return results
  },
  async token(prefix) {
    const own = webLocksStore({ prefix, fencing: 'shared' })
    const permit = await own.acquire(key, 1)
    permit.release()
    const fencing = own.fencing
    await own.close()
    return { token: permit.token, fencing }
  },
}
;(globalThis as { tabs?: TabsApi }).tabs = api
