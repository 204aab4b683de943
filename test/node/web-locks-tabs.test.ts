/**
 * The shared limit across real browser tabs (issue 10): three pages of one Chromium context, each on a
 * page served from 127.0.0.1 (test/support/tabs.ts) with a ky-pool client whose `pool.shared` is
 * `sharedLimit({ store: webLocksStore(), limit: 4 })`, call that origin, whose server counts what it has
 * in flight and holds every call until the test answers it. Driven by the server's own counts (no sleeps); the browser comes from scripts/chromium.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumPath } from '../../scripts/chromium.ts'
import { bundleTabsPage, openTabs, startTabsServer, type Tabs, type TabsServer } from '../support/tabs.ts'
import type { TabsApi } from '../support/tabs-page.ts'

const browserFound = (await chromiumPath()) !== undefined
const limit = 4

let server: TabsServer
let tabs: Tabs
beforeAll(async () => {
  if (!browserFound) return
  server = await startTabsServer(await bundleTabsPage())
}, 30_000)
afterAll(async () => {
  await tabs?.close()
  await server?.close()
})

/** Fails a wait at the first moment the server has more calls in flight than the shared limit. */
const overLimit = () =>
  server.inFlight > limit &&
  `${server.inFlight} calls in flight at the server, over the shared limit of ${limit}`

/** A fresh context with three pages on the server (a page closed by one test is not reused). */
async function threeTabs(): Promise<Tabs> {
  await tabs?.close()
  tabs = (await openTabs(server.url, 3))!
  return tabs
}

const start = (page: Tabs['pages'][number], count: number) =>
  page.evaluate(([count, limit]) => (globalThis as unknown as { tabs: TabsApi }).tabs.start(count, limit), [
    count,
    limit,
  ] as const)
/** Resolves once `clients` distinct tabs have lock requests queued at the browser's lock manager. */
const queuedFrom = (page: Tabs['pages'][number], clients: number) =>
  page.waitForFunction(async (clients) => {
    const { pending = [] } = await navigator.locks.query()
    return new Set(pending.map((lock) => lock.clientId)).size === clients
  }, clients)
const stateOf = (page: Tabs['pages'][number]) =>
  page.evaluate(() => (globalThis as unknown as { tabs: TabsApi }).tabs.state)

describe.skipIf(!browserFound)(
  'a shared limit of 4 across three tabs of one Chromium context (Web Locks)',
  () => {
    it('the server sees a peak of exactly 4 and all 18 calls complete', async () => {
      const { pages } = await threeTabs()
      server.peak = server.inFlight
      const completedBefore = server.completed
      for (const page of pages) await start(page, 6)
      // One call answered at a time, each time the server has all the calls it may have (4, then fewer at
      // the end): a fifth let through would raise the peak, and the test would see it.
      for (let answered = 0; answered < 18; answered++) {
        await server.waitFor(
          () =>
            server.completed - completedBefore === answered &&
            server.inFlight === Math.min(limit, 18 - answered),
          overLimit,
        )
        server.releaseOne()
      }
      await server.waitFor(() => server.completed - completedBefore === 18, overLimit)
      expect(server.peak).toBe(4)
      for (const page of pages) {
        await page.waitForFunction(
          () => (globalThis as unknown as { tabs: TabsApi }).tabs.state.completed === 6,
        )
        expect(await stateOf(page)).toMatchObject({ started: 6, completed: 6, failed: [] })
      }
    })

    it('closing a tab that holds permits frees them for the other tabs', async () => {
      const { pages } = await threeTabs()
      const [first, second, third] = pages as [
        Tabs['pages'][number],
        Tabs['pages'][number],
        Tabs['pages'][number],
      ]
      server.peak = server.inFlight
      const completedBefore = server.completed
      await start(first, 4)
      await server.waitFor(() => server.byPage.get('1') === 4, overLimit)
      await start(second, 3)
      await start(third, 3)
      await queuedFrom(second, 2) // the second and third tabs wait at the browser's lock manager
      expect(server.inFlight).toBe(4) // every permit is the first tab's, held at the server

      await first.close() // its held calls are dropped, its locks freed by the browser
      await server.waitFor(() => server.byPage.get('1') === 0 && server.inFlight === 4, overLimit)
      expect((server.byPage.get('2') ?? 0) + (server.byPage.get('3') ?? 0)).toBe(4)

      server.releaseAll()
      await server.waitFor(() => server.completed - completedBefore === 4 && server.inFlight === 2, overLimit)
      server.releaseAll()
      for (const page of [second, third]) {
        await page.waitForFunction(
          () => (globalThis as unknown as { tabs: TabsApi }).tabs.state.completed === 3,
        )
        expect(await stateOf(page)).toMatchObject({ started: 3, completed: 3, failed: [] })
      }
      expect(server.peak).toBe(4)
    })

    it('a tab that navigates away frees its permits for the other tabs', async () => {
      const { pages } = await threeTabs()
      const [first, second] = pages as [Tabs['pages'][number], Tabs['pages'][number]]
      await start(first, 4)
      await server.waitFor(() => server.byPage.get('1') === 4, overLimit)
      await start(second, 2)
      await queuedFrom(second, 1)
      await first.goto(`${server.url}/?page=gone`) // the document holding the locks is unloaded
      await server.waitFor(() => server.byPage.get('1') === 0 && server.byPage.get('2') === 2, overLimit)
      server.releaseAll()
      await second.waitForFunction(
        () => (globalThis as unknown as { tabs: TabsApi }).tabs.state.completed === 2,
      )
    })

    it('keeps the LimitStore contract in Chromium, with fencing tokens from IndexedDB (all but the timed peak)', async () => {
      const { pages } = await threeTabs()
      const results = await pages[0]!.evaluate(() =>
        (globalThis as unknown as { tabs: TabsApi }).tabs.contract('shared'),
      )
      // The contract's peak check holds each permit for 0–2 macrotasks and expects the whole limit (3)
      // held at once at some moment. Chromium's lock manager lives in the browser process: each grant is
      // an IPC round trip (and here an IndexedDB transaction, ~1 ms), longer than those holds, so the first
      // holder is often gone before the third grant lands and the check sees 2. That is the check's
      // timing, not the limit: the first test of this file shows the peak with holds the server controls
      // (exactly 4 of 4), and web-locks.test.ts runs every check on Node's in-process lock manager.
      const timed = /^the peak of permits held across copies/
      const failed = results.filter((result) => result.error !== undefined && !timed.test(result.name))
      expect(failed).toEqual([])
      expect(results.length).toBeGreaterThanOrEqual(8)
    })

    it('fencing tokens drawn in turn by three tabs are each greater than every one before (IndexedDB counter)', async () => {
      const { pages } = await threeTabs()
      const prefix = `tokens-${Date.now()}`
      const drawn: { token: number; fencing: string }[] = []
      for (let turn = 0; turn < 9; turn++) {
        drawn.push(
          await pages[turn % 3]!.evaluate(
            (prefix) => (globalThis as unknown as { tabs: TabsApi }).tabs.token(prefix),
            prefix,
          ),
        )
      }
      expect(drawn.every((one) => one.fencing === 'shared')).toBe(true)
      const tokens = drawn.map((one) => one.token)
      expect(tokens.every((token, i) => i === 0 || token > tokens[i - 1]!)).toBe(true)
    })
  },
)
