/**
 * Leak reports: once per call site, with the stack of the line that made the request; `warn` writes
 * one console warning per call site, `strict` makes `settle()` throw a LeakError, and every leak is
 * counted in stats().totals.leaks.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LeakError, type PooledKy } from '../../src/index.ts'
import { formatCallSite, ownFolderOf } from '../../src/leaks.ts'
import { harness } from '../support/pool-harness.ts'

const { start, client } = harness()

afterEach(() => {
  vi.restoreAllMocks()
})

/** `leaks.test.ts:LINE` of the line in this file that carries `marker` (so the test survives edits). */
function siteOf(marker: string): string {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  const index = lines.findIndex((line) => line.includes(marker) && !line.includes('siteOf('))
  return `leaks.test.ts:${index + 1}`
}

// Each request is made on a line of its own, tagged with a comment naming its call site.
const leakHere = (pooled: PooledKy, url: string) => pooled.get(url) // site:first
const leakThere = (pooled: PooledKy, url: string) => pooled.get(url) // site:second

describe('leak reports', () => {
  it('are made once per call site, with the stack of the line that made the request', async () => {
    const server = await start()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const pooled = client({ pool: { leaks: 'warn', callSites: 'always' } })
    for (let i = 0; i < 3; i++) await leakHere(pooled, `${server.url}/bytes?size=100`)
    await leakThere(pooled, `${server.url}/bytes?size=3000000`)
    const reports = await pooled.pool.settle()
    expect(reports).toHaveLength(4)
    const small = reports.filter((report) => report.url.endsWith('size=100'))
    const large = reports.filter((report) => report.url.endsWith('size=3000000'))
    expect(small.map((report) => report.callSite.split('\n')[0])).toEqual(
      Array(3).fill(expect.stringContaining(siteOf('// site:first'))),
    )
    expect(large[0]!.callSite.split('\n')[0]).toContain(siteOf('// site:second'))
    expect(small.map((report) => report.action)).toEqual(['drained', 'drained', 'drained'])
    expect(large[0]!.action).toBe('cancelled')
    expect(small[0]).toMatchObject({
      method: 'GET',
      url: `${server.url}/bytes?size=100`,
      origin: server.origin,
      status: 200,
      detectedBy: 'settle',
    })
    // One warning per call site, not per leak.
    expect(warn).toHaveBeenCalledTimes(2)
    const first = warn.mock.calls.map(([message]) => String(message)).find((m) => m.includes('size=100 '))!
    expect(first).toContain(`GET ${server.url}/bytes?size=100 (200) was never read or cancelled`)
    expect(first).toContain(siteOf('// site:first'))
    expect(first).toContain('reported once per call site')
    expect(pooled.pool.stats().totals.leaks).toBe(4)
  })

  it('name the caller, not ky or ky-pool, when the request goes through the ky shortcut chain', async () => {
    const server = await start()
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const pooled = client({ pool: { leaks: 'warn', callSites: 'always' } })
    const res = await pooled(`${server.url}/bytes?size=10`, { method: 'get' }) // site:call
    expect(res.status).toBe(200)
    const [report] = await pooled.pool.settle()
    expect(report!.callSite.split('\n')[0]).toContain(siteOf('// site:call'))
    expect(report!.callSite).not.toMatch(/node_modules[/\\]ky[/\\]|[/\\]src[/\\]client\.ts/)
  })

  it("by default (callSites: 'after-leak') capture call sites from the client's first leak on: the next leak from the same code names its line", async () => {
    const server = await start()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const pooled = client({ pool: { leaks: 'warn' } })
    expect(pooled.pool.options.callSites).toBe('after-leak')
    await leakHere(pooled, `${server.url}/bytes?size=100`)
    const [first] = await pooled.pool.settle()
    expect(first!.callSite).toMatch(/^\(call site not captured: .*callSites: 'always' to capture them/)
    await leakHere(pooled, `${server.url}/bytes?size=100`)
    const [second] = await pooled.pool.settle()
    expect(second!.callSite.split('\n')[0]).toContain(siteOf('// site:first'))
    expect(warn.mock.calls.map(([message]) => String(message).split('\n')[1])).toEqual([
      expect.stringMatching(/^\(call site not captured/),
      expect.stringContaining(siteOf('// site:first')),
    ])
  })

  it("callSites: 'never' captures none, even after leaks; strict mode captures every one by default", async () => {
    const server = await start()
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const never = client({ pool: { leaks: 'warn', callSites: 'never' } })
    for (let i = 0; i < 2; i++) {
      await leakHere(never, `${server.url}/bytes?size=100`)
      expect((await never.pool.settle()).map((report) => report.callSite)).toEqual([
        "(call site not captured: pool.callSites is 'never')",
      ])
    }
    const strict = client({ pool: { leaks: 'strict' } })
    expect(strict.pool.options.callSites).toBe('always')
    await leakHere(strict, `${server.url}/bytes?size=100`)
    const error = (await strict.pool.settle().catch((e: unknown) => e)) as LeakError
    expect(error.leaks[0]!.callSite.split('\n')[0]).toContain(siteOf('// site:first'))
  })

  it('strict mode: settle() throws a LeakError listing the leaks', async () => {
    const server = await start()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const pooled = client({ pool: { leaks: 'strict' } })
    await leakHere(pooled, `${server.url}/bytes?size=100&token=abc`)
    const error = await pooled.pool.settle().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LeakError)
    const { leaks, message } = error as LeakError
    expect(leaks).toHaveLength(1)
    expect(message).toContain('1 response body was never read or cancelled')
    expect(message).toContain(`GET ${server.url}/bytes?size=100&token=[redacted]`)
    expect(message).toContain(siteOf('// site:first'))
    expect(warn).not.toHaveBeenCalled()
    expect(pooled.pool.stats().totals.leaks).toBe(1)
    // The reports were handed over: the next settle() has nothing to throw.
    await expect(pooled.pool.settle()).resolves.toEqual([])
  })

  it('strict mode: a test that reads every body settles cleanly', async () => {
    const server = await start()
    const pooled = client({ pool: { leaks: 'strict' } })
    await pooled.get(`${server.url}/json`).json()
    await (await pooled.get(`${server.url}/bytes?size=3000000`)).body?.cancel()
    await expect(pooled.pool.settle()).resolves.toEqual([])
    expect(pooled.pool.stats().totals.leaks).toBe(0)
  })

  it('silent mode: nothing is written or returned, but leaks are still counted', async () => {
    const server = await start()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const pooled = client({ pool: { leaks: 'silent' } })
    await leakHere(pooled, `${server.url}/bytes?size=100`)
    await expect(pooled.pool.settle()).resolves.toEqual([])
    expect(warn).not.toHaveBeenCalled()
    expect(pooled.pool.stats().totals.leaks).toBe(1)
  })

  it('a body the pool drained to free a slot, and that is never read afterwards, is still a leak', async () => {
    const server = await start()
    const pooled = client({ pool: { perOrigin: 1, leaks: 'strict' } })
    await leakHere(pooled, `${server.url}/bytes?size=100`)
    await pooled.get(`${server.url}/json`).json() // drains the first body to get its slot
    expect(pooled.pool.stats().totals.drained).toBe(1)
    await expect(pooled.pool.settle()).rejects.toMatchObject({ leaks: [{ action: 'drained' }] })
  })
})

describe('the call site under bundlers', () => {
  // A leak through the shared `client` under Vite's dev server (Chromium): ky-pool's shared wrapper is
  // pre-bundled into .vite/deps/ky-pool.js, next to React's chunk, which sits below the caller.
  const viteDev = [
    'Error',
    '    at call.<computed> [as get] (http://localhost:5173/node_modules/.vite/deps/ky-pool.js?v=3f9c2a1b:1290:36)',
    '    at loadUser (http://localhost:5173/src/api.ts:12:22)',
    '    at onClick (http://localhost:5173/src/App.tsx:30:5)',
    '    at callCallback2 (http://localhost:5173/node_modules/.vite/deps/chunk-RPCDYKBN.js?v=3f9c2a1b:3674:22)',
    '    at invokeGuardedCallbackDev (http://localhost:5173/node_modules/.vite/deps/chunk-RPCDYKBN.js?v=3f9c2a1b:3699:24)',
  ].join('\n')

  it("Vite dev: the first line is the caller's, not ky-pool's pre-bundled frame", () => {
    const own = ownFolderOf('http://localhost:5173/node_modules/.vite/deps/ky-pool.js?v=3f9c2a1b')
    const formatted = formatCallSite({ stack: viteDev }, 'always', own)
    expect(formatted.split('\n')[0]).toBe('    at loadUser (http://localhost:5173/src/api.ts:12:22)')
    expect(formatted).toContain('chunk-RPCDYKBN.js') // React's frames are not ours: they stay
  })

  it.each([
    ['/node_modules/.vite/deps/ky-pool_testing.js?v=1', true],
    ['/node_modules/.vite/deps_ssr/ky-pool.js', true],
    ['/node_modules/.vite/deps/ky.js?v=1', true],
    ['/node_modules/.vite/deps/ky-universal.js?v=1', false],
    ['/node_modules/.vite/deps/chunk-RPCDYKBN.js?v=1', false],
  ])('Vite dev file %s is ours or ky’s: %s', (file, ours) => {
    const stack = `Error\n    at x (http://localhost:5173${file}:1:1)\n    at caller (http://localhost:5173/src/a.ts:1:1)`
    const first = formatCallSite({ stack }, 'always', undefined).split('\n')[0]
    expect(first).toBe(
      ours
        ? '    at caller (http://localhost:5173/src/a.ts:1:1)'
        : `    at x (http://localhost:5173${file}:1:1)`,
    )
  })

  it.each([
    ['file:///app/node_modules/ky-pool/dist/leaks.js', '/app/node_modules/ky-pool/dist/'],
    ['file:///work/ky-pool/src/leaks.ts', '/work/ky-pool/src/'],
    ['http://localhost:63315/src/leaks.ts?v=12', 'http://localhost:63315/src/'],
    ['http://localhost:5173/node_modules/.vite/deps/ky-pool.js?v=3f9c2a1b', undefined],
    ['https://app.example/assets/index-4f2a.js', undefined],
  ])(
    'the module folder %s counts as ky-pool’s only when the module is a file of its own: %s',
    (url, folder) => {
      expect(ownFolderOf(url)).toBe(folder)
    },
  )
})

describe('LeakError', () => {
  it('names every leak with its own call site', async () => {
    const server = await start()
    const pooled = client({ pool: { leaks: 'strict', callSites: 'always' } })
    await leakHere(pooled, `${server.url}/bytes?size=101`)
    await leakThere(pooled, `${server.url}/bytes?size=102`)
    const error = (await pooled.pool.settle().catch((e: unknown) => e)) as Error
    expect(error.name).toBe('LeakError')
    expect(error.message).toMatch(/^ky-pool: 2 response bodies were never read or cancelled:/)
    // One numbered entry per leak, each followed by its own call site.
    const entries = error.message.split(/\n(?=\d+\. GET )/).slice(1)
    expect(entries).toHaveLength(2)
    const entryOf = (size: number) => entries.find((entry) => entry.includes(`/bytes?size=${size} (200)`))
    expect(entryOf(101)).toContain(siteOf('// site:first'))
    expect(entryOf(102)).toContain(siteOf('// site:second'))
  })
})
