/**
 * examples/worker in workerd: the Worker that wrangler.jsonc describes (its `main`, compatibility date and
 * flags, and `vars` with UPSTREAM pointed at a loopback API), bundled with rolldown as Wrangler would (the
 * `workerd` export condition: `ky-pool` is src/workerd.ts here, dist/workerd.js in the package) and run by
 * Miniflare. The upstream answers `/items` only in groups of 6 (examples/upstream.ts), so a fan-out that
 * sent fewer than 6 at once would hang (and fail here), and its peak shows how many it sent at once.
 * Prints `example worker: N passed, N failed`.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { startUpstream } from '../../examples/upstream.ts'
import type { FanoutResult } from '../../examples/worker/src/index.ts'
import { bundleWorker } from '../support/worker-bundle.ts'
import { check, done, parseJsonc, within } from './check.ts'

const root = resolve(import.meta.dirname, '../..')
const configPath = resolve(root, 'examples/worker/wrangler.jsonc')
const config = parseJsonc(readFileSync(configPath, 'utf8')) as {
  main: string
  compatibility_date: string
  compatibility_flags?: string[]
  vars?: Record<string, string>
}

const bundled = await bundleWorker(resolve(dirname(configPath), config.main), {
  'ky-pool': resolve(root, 'src/workerd.ts'),
})

const upstream = await startUpstream({ gate: 6 })
const logs: string[] = []
const mf = new Miniflare(
  convertV4MiniflareOptions({
    modules: true,
    script: bundled,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    bindings: { ...config.vars, UPSTREAM: upstream.url },
    handleStructuredLogs: (log: { level: string; message: string }) =>
      logs.push(`${log.level}: ${log.message}`),
  }),
)

async function fanout(ids: string[]): Promise<FanoutResult> {
  const res = await within(
    10_000,
    `GET /?ids=${ids.join(',')}`,
    mf.dispatchFetch(`http://worker.test/?ids=${ids}`),
  )
  assert.equal(res.status, 200, await res.clone().text())
  return (await res.json()) as FanoutResult
}

const range = (n: number, prefix = '') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`)

try {
  await mf.ready
  await check(
    'a fan-out of 12 returns every item in order, and the HEAD it never read leaves no leak',
    async () => {
      upstream.reset()
      const result = await fanout(range(12))
      assert.deepEqual(
        result.items.map((item) => item.id),
        range(12),
      )
      assert.equal(result.items[0]?.name, 'item 1')
      assert.equal(result.healthy, true)
      // awaitingHeaders: Infinity, which JSON sends as null: no wait of ky-pool's own in Workers.
      assert.deepEqual(result.pool, { requests: 13, leaks: 0, reclaimed: 0, awaitingHeaders: null })
    },
  )

  await check(
    'a fan-out of 18 completes, every item once (ky-pool adds no wait in Workers: the platform holds 6 awaiting headers itself)',
    async () => {
      upstream.reset()
      const result = await fanout(range(18))
      assert.deepEqual(
        result.items.map((item) => item.id),
        range(18),
      )
      // The gate answers each group of 6 as it fills, so the upstream never holds more than 6 at once.
      assert.deepEqual(upstream.stats(), { requests: 19, peak: 6 })
    },
  )

  await check(
    '4 concurrent invocations of one isolate each have their own pool, and all complete',
    async () => {
      upstream.reset()
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((name) => fanout(range(6, name))))
      for (const [i, result] of results.entries()) {
        assert.deepEqual(
          result.items.map((item) => item.id),
          range(6, 'abcd'[i]),
        )
        assert.equal(result.pool.requests, 7, 'each invocation counts only its own requests')
      }
      assert.equal(upstream.stats().requests, 28)
      const trouble = logs.filter((line) => /different request|hung|leak/i.test(line))
      assert.deepEqual(trouble, [], 'workerd logged cross-invocation trouble or a leak')
    },
  )
} finally {
  await mf.dispose()
  await upstream.close()
}
done('example worker')
