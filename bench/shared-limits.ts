/**
 * `node bench/shared-limits.ts` — what a limit shared beyond one process costs (issue 10), per engine.
 *
 * Web Locks (`ky-pool/web-locks`), in Chromium: pages of one context on a loopback origin
 * (test/support/tabs.ts) whose `/work` answers at once.
 * - per request: N sequential calls through a ky-pool client (`client.get(url).text()`), with no shared
 *   limit, then with `pool.shared = sharedLimit({ store: webLocksStore({ fencing }), limit: 4 })`,
 *   fencing tokens local and shared (IndexedDB); p50/p99 per call and what the store added at the median;
 * - the store alone: acquire + release, one after the other, uncontended (limit 4);
 * - hand-off between tabs: three tabs loop acquire + release on one limit of 1 at once, so every grant
 *   wakes another tab's waiter (or this tab's); ms per permit.
 *
 * Sizes (env): BENCH_ROUNDS (3), SHARED_N (200 calls per round and contender).
 */
import { chromiumMissing } from '../scripts/chromium.ts'
import { bundleTabsPage, openTabs, startTabsServer } from '../test/support/tabs.ts'
import type { TabsApi } from '../test/support/tabs-page.ts'
import { cell, envInt, header, interleave, num, roundsOr, table } from './support/harness.ts'

const rounds = roundsOr(3)
const n = envInt('SHARED_N', 200)

/** The value below which `fraction` of `values` lie. */
function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN
}

type Fencing = 'shared' | 'local'

async function webLocks(): Promise<string> {
  const server = await startTabsServer(await bundleTabsPage())
  server.hold = false
  const tabs = await openTabs(server.url, 3)
  if (tabs === undefined) {
    await server.close()
    return `## Web Locks\n\n${chromiumMissing()}`
  }
  try {
    const [page] = tabs.pages
    /** Calls `window.tabs[method](...args)` in `target` (test/support/tabs-page.ts). */
    const call = <M extends 'sequential' | 'cost' | 'handoff'>(
      target: (typeof tabs.pages)[number],
      method: M,
      ...args: Parameters<TabsApi[M]>
    ) =>
      target.evaluate(
        ([method, args]) =>
          (globalThis as unknown as { tabs: Record<string, (...args: unknown[]) => unknown> }).tabs[method]!(
            ...args,
          ),
        [method, args] as const,
      ) as ReturnType<TabsApi[M]>

    const contenders = [
      { name: 'no shared limit', limit: 0, fencing: 'local' as Fencing },
      { name: 'Web Locks, local fencing', limit: 4, fencing: 'local' as Fencing },
      { name: 'Web Locks, shared fencing (IndexedDB)', limit: 4, fencing: 'shared' as Fencing },
    ]
    const perCall = await interleave(contenders, { rounds }, (contender) =>
      call(page!, 'sequential', n, contender.limit, contender.fencing, '/work'),
    )
    const baseline = perCall.get(contenders[0]!)!.map((times) => percentile(times, 0.5))
    const requestRows = contenders.map((contender) => {
      const samples = perCall.get(contender)!
      const p50 = samples.map((times) => percentile(times, 0.5))
      const p99 = samples.map((times) => percentile(times, 0.99))
      const added = p50.map((value, round) => value - baseline[round]!)
      return [
        contender.name,
        cell(p50, 2, ' ms'),
        cell(p99, 2, ' ms'),
        contender.limit ? cell(added, 2, ' ms') : '—',
      ]
    })

    const fencings = [{ name: 'local' as Fencing }, { name: 'shared' as Fencing }]
    const alone = await interleave(fencings, { rounds }, (fencing) => call(page!, 'cost', n, 4, fencing.name))
    const handoffs = await interleave(fencings, { rounds }, async (fencing) => {
      const totals = await Promise.all(
        tabs.pages.map((tab) =>
          call(tab, 'handoff', Math.ceil(n / 3), `handoff-${fencing.name}`, fencing.name),
        ),
      )
      return Math.max(...totals) / (Math.ceil(n / 3) * 3)
    })
    const storeRows = fencings.map((fencing) => {
      const samples = alone.get(fencing)!
      return [
        `${fencing.name} fencing`,
        cell(
          samples.map((times) => percentile(times, 0.5)),
          3,
          ' ms',
        ),
        cell(
          samples.map((times) => percentile(times, 0.99)),
          3,
          ' ms',
        ),
        cell(handoffs.get(fencing)!, 3, ' ms'),
      ]
    })
    const version = tabs.browser.version()
    return [
      header(
        'Web Locks (`ky-pool/web-locks`), Chromium',
        `Chromium ${version}, one context, pages on a loopback origin. ${num(n)} sequential calls per round and contender through a ky-pool client (\`client.get(url).text()\` of a 2-byte body; the shared limit as \`pool.shared\`); p50/p99 per call, each cell the median (min–max) of the rounds; "added" is the contender's p50 minus the p50 with no shared limit in the same round.`,
        rounds,
      ),
      '',
      table(['per request', 'p50', 'p99', 'added at p50'], requestRows),
      '',
      'The store alone: acquire + release one after the other on a free limit of 4 (p50/p99 per permit), and three tabs looping acquire + release on one limit of 1 at once (ms per permit, every grant a wake-up across tabs or within one).',
      '',
      table(['store alone', 'acquire + release p50', 'p99', 'hand-off, 3 tabs, limit 1'], storeRows),
    ].join('\n')
  } finally {
    await tabs.close()
    await server.close()
  }
}

const sections = [webLocks]
for (const section of sections) console.log(`${await section()}\n`)
