/**
 * `node bench/shared-limits-web-locks.ts` — what a limit shared across browser tabs adds to each request (issue 10):
 * p50/p99 per request with the shared limit against the same requests with none, when the limit is never
 * reached (so the figure is the engine's round trips, not queueing).
 *
 * Web Locks (`ky-pool/web-locks`), in Chromium: a page of one context on a loopback origin whose `/work`
 * answers at once (test/support/tabs.ts) makes `SHARED_N` GETs through a ky-pool client, without a
 * shared limit or with `pool.shared = sharedLimit({ store: webLocksStore({ fencing }), limit: 64 })`,
 * one at a time, then 20 at a time (the browser's own cap of 6 per HTTP/1.1 host, and ky-pool's, apply
 * to both). Fencing tokens local, or drawn from the IndexedDB counter (the default). Then the store alone:
 * acquire + release one after the other on a free limit of 4, and three tabs looping acquire + release
 * on one limit of 1 at once (every grant a wake-up, across tabs or within one).
 * Timed in the page (`performance.now()`, 0.1 ms steps in Chromium without cross-origin isolation).
 * Plain and shared runs are interleaved over rounds after a warm-up; percentiles pool every round's samples.
 *
 * Env: BENCH_ROUNDS (3), SHARED_N (200).
 */
import { chromiumMissing } from '../scripts/chromium.ts'
import { bundleTabsPage, openTabs, startTabsServer, type Tabs } from '../test/support/tabs.ts'
import type { TabsApi } from '../test/support/tabs-page.ts'
import { envInt, header, interleave, num, rounds, table } from './support/harness.ts'

const n = envInt('SHARED_N', 200)

type Fencing = 'shared' | 'local'

/** The nearest-rank percentile of `values` (q in 0–1). */
function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN
}

/** Calls `window.tabs[method](...args)` in `page` (test/support/tabs-page.ts). */
function call<M extends 'calls' | 'cost' | 'handoff'>(
  page: Tabs['pages'][number],
  method: M,
  ...args: Parameters<TabsApi[M]>
): ReturnType<TabsApi[M]> {
  return page.evaluate(
    ([method, args]) =>
      (globalThis as unknown as { tabs: Record<string, (...args: unknown[]) => unknown> }).tabs[method]!(
        ...args,
      ),
    [method, args] as const,
  ) as ReturnType<TabsApi[M]>
}

/** One row per workload: plain and shared p50/p99 and what the shared limit added, in ms. */
function row(engine: string, workload: string, plain: number[], shared: number[]): string[] {
  const p = (values: number[], q: number) => percentile(values, q)
  return [
    engine,
    workload,
    num(p(plain, 0.5), 2),
    num(p(plain, 0.99), 2),
    num(p(shared, 0.5), 2),
    num(p(shared, 0.99), 2),
    num(p(shared, 0.5) - p(plain, 0.5), 2),
    num(p(shared, 0.99) - p(plain, 0.99), 2),
  ]
}

interface WebLocksRun {
  rows: string[][]
  /** The store alone and the hand-off between tabs, as a table of its own. */
  alone: string
}

async function webLocks(): Promise<WebLocksRun | string> {
  const server = await startTabsServer(await bundleTabsPage())
  server.hold = false
  const tabs = await openTabs(server.url, 3)
  if (tabs === undefined) {
    await server.close()
    return chromiumMissing()
  }
  try {
    const page = tabs.pages[0]!
    const engine = `Web Locks (Chromium ${tabs.browser.version().split('.')[0]})`
    const workloads = [
      { name: `${num(n)} requests one at a time, local fencing`, width: 1, fencing: 'local' as Fencing },
      { name: `${num(n)} requests one at a time, IndexedDB fencing`, width: 1, fencing: 'shared' as Fencing },
      { name: `${num(n)} requests 20 at a time, local fencing`, width: 20, fencing: 'local' as Fencing },
      { name: `${num(n)} requests 20 at a time, IndexedDB fencing`, width: 20, fencing: 'shared' as Fencing },
    ]
    const rows: string[][] = []
    for (const workload of workloads) {
      const contenders = [
        { name: 'plain', limit: 0 },
        { name: 'shared', limit: 64 },
      ]
      const samples = await interleave(contenders, { rounds }, (contender) =>
        call(page, 'calls', n, workload.width, contender.limit, workload.fencing, '/work'),
      )
      const [plain, shared] = contenders.map((contender) => samples.get(contender)!.flat())
      rows.push(row(engine, workload.name, plain!, shared!))
    }

    const fencings = [{ name: 'local' as Fencing }, { name: 'shared' as Fencing }]
    const alone = await interleave(fencings, { rounds }, (fencing) => call(page, 'cost', n, 4, fencing.name))
    const perTab = Math.ceil(n / 3)
    const handoffs = await interleave(fencings, { rounds }, async (fencing) => {
      const totals = await Promise.all(
        tabs.pages.map((tab) => call(tab, 'handoff', perTab, `handoff-${fencing.name}`, fencing.name)),
      )
      return Math.max(...totals) / (perTab * tabs.pages.length)
    })
    const aloneRows = fencings.map((fencing) => {
      const times = alone.get(fencing)!.flat()
      const handoff = handoffs.get(fencing)!
      return [
        fencing.name === 'local' ? 'local' : 'IndexedDB',
        num(percentile(times, 0.5), 2),
        num(percentile(times, 0.99), 2),
        num(percentile(handoff, 0.5), 2),
      ]
    })
    return {
      rows,
      alone: table(
        [
          'Web Locks store alone: fencing',
          'acquire + release p50',
          'p99',
          'hand-off, 3 tabs on a limit of 1, per permit',
        ],
        aloneRows,
      ),
    }
  } finally {
    await tabs.close()
    await server.close()
  }
}

console.log(
  header(
    'Shared limits: added latency per request (issue 10)',
    'ms per request through a ky-pool client with `pool.shared` (limit never reached) against the same client without; p50/p99 pool every round.',
  ),
)
console.log()
const webLocksRun = await webLocks()
if (typeof webLocksRun === 'string') console.log(`Web Locks: ${webLocksRun}`)
console.log(
  table(
    ['engine', 'workload', 'plain p50', 'plain p99', 'shared p50', 'shared p99', 'added p50', 'added p99'],
    typeof webLocksRun === 'string' ? [] : webLocksRun.rows,
  ),
)
if (typeof webLocksRun !== 'string') console.log(`\n${webLocksRun.alone}`)
