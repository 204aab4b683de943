/**
 * Several tabs of one site, for the Web Locks store's test and bench: a loopback server that serves a
 * page (test/support/tabs-page.ts, bundled with rolldown) and counts the `/work` calls it gets in flight,
 * holding each one until the test lets it go, and a Chromium context with N pages on it. 127.0.0.1 is a
 * secure context, so the pages have `navigator.locks`.
 *
 * Everything is driven by explicit signals: `waitFor` resolves on the server's own state changes, never
 * on a timer.
 */
import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { build } from 'rolldown'
import { chromiumArgs, chromiumPath } from '../../scripts/chromium.ts'

export interface TabsServer {
  url: string
  /** `/work` calls whose response has not ended (or been dropped by the browser). */
  inFlight: number
  peak: number
  /** In flight per page (`?page=`). */
  byPage: Map<string, number>
  completed: number
  /**
   * Resolves once `predicate()` holds, re-checked on every change of the counts above; rejects as soon
   * as `broken()` holds (with what it returns as the message), so that a test fails at the first wrong
   * count instead of at its timeout.
   */
  waitFor(predicate: () => boolean, broken?: () => string | false): Promise<void>
  /** Answers the oldest held call; returns false when none is held. */
  releaseOne(): boolean
  releaseAll(): void
  /** `hold: false` answers `/work` at once (the bench); true (default) holds each until released. */
  hold: boolean
  close(): Promise<void>
}

const root = resolve(import.meta.dirname, '../..')

export async function bundleTabsPage(): Promise<string> {
  const bundled = await build({
    input: resolve(root, 'test/support/tabs-page.ts'),
    write: false,
    platform: 'browser',
    resolve: { conditionNames: ['browser', 'import', 'default'] },
    output: { format: 'esm', codeSplitting: false },
  })
  return bundled.output[0].code
}

export async function startTabsServer(script: string): Promise<TabsServer> {
  const changed = new EventEmitter()
  const held: http.ServerResponse[] = []
  const html =
    '<!doctype html><meta charset="utf-8"><title>tab</title><script type="module" src="/tabs.js"></script>'
  const state = {
    inFlight: 0,
    peak: 0,
    completed: 0,
    byPage: new Map<string, number>(),
    hold: true,
  }
  const count = (page: string, delta: number) => {
    state.inFlight += delta
    state.peak = Math.max(state.peak, state.inFlight)
    state.byPage.set(page, (state.byPage.get(page) ?? 0) + delta)
    changed.emit('change')
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(html)
    if (url.pathname === '/tabs.js')
      return res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
    if (url.pathname !== '/work') return res.writeHead(404).end()
    const page = url.searchParams.get('page') ?? '?'
    count(page, 1)
    // 'close' fires once per response: when it ended, or when the browser dropped it (a closed page).
    res.once('close', () => {
      if (res.writableFinished) state.completed++
      count(page, -1)
    })
    if (state.hold) held.push(res)
    else res.end('ok')
  })
  server.keepAliveTimeout = 1000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const live = () => held.filter((res) => !res.destroyed && !res.writableEnded)
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    waitFor(predicate: () => boolean, broken?: () => string | false) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          const wrong = broken?.()
          if (wrong) {
            changed.off('change', check)
            reject(new Error(wrong))
            return
          }
          if (!predicate()) return
          changed.off('change', check)
          resolve()
        }
        changed.on('change', check)
        check()
      })
    },
    releaseOne() {
      const next = live()[0]
      held.splice(0, held.indexOf(next!) + 1)
      next?.end('ok')
      return next !== undefined
    },
    releaseAll() {
      for (const res of held.splice(0)) res.end('ok')
    },
    async close() {
      for (const res of held.splice(0)) res.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  })
}

export interface Tabs {
  browser: Browser
  context: BrowserContext
  pages: Page[]
  close(): Promise<void>
}

/** `count` pages of one Chromium context on `url`, each with `window.tabs` ready; undefined without a browser. */
export async function openTabs(url: string, count: number): Promise<Tabs | undefined> {
  const executablePath = await chromiumPath()
  if (executablePath === undefined) return undefined
  const browser = await chromium.launch({ executablePath, args: [...chromiumArgs] })
  const context = await browser.newContext()
  const pages: Page[] = []
  for (let i = 1; i <= count; i++) {
    const page = await context.newPage()
    await page.goto(`${url}/?page=${i}`)
    await page.waitForFunction(() => 'tabs' in globalThis)
    pages.push(page)
  }
  return {
    browser,
    context,
    pages,
    async close() {
      await browser.close()
    },
  }
}
