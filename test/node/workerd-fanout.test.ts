/**
 * Cloudflare Workers (issue 14): since 2026-04-09 only subrequests waiting for headers count against the
 * platform's 6 per invocation, and the platform enforces it itself, so by default ky-pool adds no wait of
 * its own; `awaitingHeaders: 6` puts that queue in ky-pool, holding a slot until headers, not until the
 * body settles. In real workerd (Miniflare), a Worker fans out 12 GETs (test/workerd/fixtures/fanout-worker.ts)
 * to the shared msw handlers on loopback, which count what is in flight at the server.
 */
import { resolve } from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type MockLoopback, startMockLoopback } from '../../mocks/loopback.ts'
import { bundleWorker } from '../support/worker-bundle.ts'
import type { FanoutReport } from '../workerd/fixtures/fanout-worker.ts'

const root = resolve(import.meta.dirname, '../..')

let server: MockLoopback
let mf: Miniflare
beforeAll(async () => {
  server = await startMockLoopback()
  const bundled = await bundleWorker(resolve(root, 'test/workerd/fixtures/fanout-worker.ts'))
  mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: bundled,
      compatibilityDate: '2026-04-01',
      compatibilityFlags: ['nodejs_compat'],
    }),
  )
  await mf.ready
}, 20_000)
afterAll(async () => {
  await mf?.dispose()
  await server?.close()
})

async function fanout(path: string, awaiting?: number): Promise<FanoutReport> {
  server.reset()
  const query = `up=${encodeURIComponent(server.url)}&path=${encodeURIComponent(path)}`
  const url = `http://worker.test/?${query}${awaiting === undefined ? '' : `&awaiting=${awaiting}`}`
  const res = await mf.dispatchFetch(url)
  expect(res.status).toBe(200)
  return (await res.json()) as FanoutReport
}

describe('a Worker fanning out 12 GETs', () => {
  it('with the defaults ky-pool adds no wait of its own: all 12 go at once and stream together (the platform holds its 6 awaiting headers itself)', async () => {
    // Headers at once, then 3 chunks 50 ms apart: each body streams for about 100 ms.
    const report = await fanout('/stream?chunks=3&interval=50')
    expect(report).toMatchObject({ bodies: 12, queued: 0, acquired: 12, defaults: { awaitingHeaders: null } })
    expect(server.stats().peakInFlight, 'bodies streaming at the server at once').toBe(12)
  })

  it('with awaitingHeaders 6, the platform rule in ky-pool: a body that streams no longer counts, all 12 stream together', async () => {
    const report = await fanout('/stream?chunks=3&interval=50', 6)
    // The second 6 wait only for the first 6's headers.
    expect(report).toMatchObject({ bodies: 12, queued: 6, acquired: 12, defaults: { awaitingHeaders: 6 } })
    expect(report.peakAwaitingHeaders).toBeLessThanOrEqual(6)
    expect(server.stats().peakInFlight).toBe(12)
  })

  it('with awaitingHeaders 6, requests still waiting for headers are held at 6', async () => {
    const report = await fanout('/slow?ms=100', 6)
    expect(report).toMatchObject({ bodies: 12, queued: 6, acquired: 12, peakAwaitingHeaders: 6 })
    expect(server.stats().peakInFlight).toBe(6)
  })
})
