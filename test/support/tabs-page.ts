/**
 * The page that test/support/tabs.ts serves to several tabs of one Chromium context (bundled with
 * rolldown): calls to its own origin's `/work` under a shared limit on Web Locks, driven from the test
 * through `window.tabs`. Each call takes a permit, fetches, reads the body, gives the permit back.
 */
import { webLocksStore } from '../../src/web-locks.ts'

export interface TabState {
  started: number
  /** Calls that asked for a permit and do not hold one yet. */
  waiting: number
  completed: number
  failed: string[]
}

export interface TabsApi {
  state: TabState
  /** Starts `count` calls at once, each under the shared `limit` (0: no shared limit at all). */
  start(count: number, limit: number, path?: string): void
  /** `count` calls one after the other; resolves with each call's time in ms (acquire + fetch + read). */
  sequential(count: number, limit: number, fencing: 'shared' | 'local', path: string): Promise<number[]>
  /** The store alone: `count` acquire + release, one after the other; each one's time in ms. */
  cost(count: number, limit: number, fencing: 'shared' | 'local'): Promise<number[]>
  /** `count` acquire + release on a limit of 1 under `prefix`, for tabs running it at once; total ms. */
  handoff(count: number, prefix: string, fencing: 'shared' | 'local'): Promise<number>
}

const page = new URL(location.href).searchParams.get('page') ?? '?'
const store = webLocksStore()
const state: TabState = { started: 0, waiting: 0, completed: 0, failed: [] }
const key = location.origin

async function call(store: ReturnType<typeof webLocksStore> | undefined, limit: number, path: string) {
  const permit = limit > 0 ? await store!.acquire(key, limit) : undefined
  try {
    const res = await fetch(path)
    await res.text()
  } finally {
    permit?.release()
  }
}

const api: TabsApi = {
  state,
  start(count, limit, path = '/work') {
    for (let i = 0; i < count; i++) {
      state.started++
      state.waiting++
      const url = `${path}?page=${page}&i=${i}`
      const waited = limit > 0 ? store.acquire(key, limit) : Promise.resolve(undefined)
      void waited
        .then(async (permit) => {
          state.waiting--
          try {
            await (await fetch(url)).text()
            state.completed++
          } finally {
            permit?.release()
          }
        })
        .catch((error: unknown) => state.failed.push(String(error)))
    }
  },
  async sequential(count, limit, fencing, path) {
    const own = webLocksStore({ fencing, prefix: `bench-${fencing}` })
    const times: number[] = []
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      await call(own, limit, `${path}?page=${page}&i=${i}`)
      times.push(performance.now() - started)
    }
    await own.close()
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
}
;(globalThis as { tabs?: TabsApi }).tabs = api
