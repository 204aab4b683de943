/**
 * examples/browser in real Chromium: the Vite dev server with the example's own config (which starts its
 * three local APIs), the page opened with `?auto` (warm-up, burst, forget, settle), and what it shows
 * checked: per origin the limit and protocol ky-pool used, the peaks it drew, what the server saw, and
 * the leaks with the line of main.ts that made them. Screenshots, one mid-burst and one at the end, go
 * to examples/browser/screenshots/ (ignored by git) for a person to look at.
 * Prints `example browser: N passed, N failed`.
 */
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { chromium } from 'playwright-core'
import { createServer } from 'vite'
import { chromiumMissing, chromiumPath } from '../../scripts/chromium.ts'
import { check, done } from './check.ts'

const root = resolve(import.meta.dirname, '../..')
const screenshots = resolve(root, 'examples/browser/screenshots')

const executablePath = await chromiumPath()
if (executablePath === undefined) {
  console.log(`example browser: ${chromiumMissing()}`)
  done('example browser')
} else {
  const vite = await createServer({
    configFile: resolve(root, 'examples/browser/vite.config.ts'),
    server: { port: 0, strictPort: false },
  })
  await vite.listen()
  const url = vite.resolvedUrls?.local[0]
  const browser = await chromium.launch({
    executablePath,
    // As vite.config.ts: no --disable-web-security, which would empty Resource Timing's nextHopProtocol.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  })
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 820 }, deviceScaleFactor: 1 })
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    mkdirSync(screenshots, { recursive: true })

    await check(
      'the page runs its bursts, draws the pool live, and ends with every body settled',
      async () => {
        assert.ok(url, 'vite printed no URL')
        await page.goto(`${url}?auto`)
        // Mid-burst: origin c (limit 2) still has requests queued.
        await page.waitForSelector('tr[data-origin="c"][data-queued]:not([data-queued="0"])', {
          timeout: 10_000,
        })
        await page.screenshot({ path: resolve(screenshots, 'burst.png'), fullPage: true })
        await page.waitForSelector('body[data-state="done"]', { timeout: 20_000 })
        await page.waitForTimeout(50) // one more frame drawn after the last step (the frame loop, not the page's state)
        await page.screenshot({ path: resolve(screenshots, 'done.png'), fullPage: true })
        assert.deepEqual(errors, [])
      },
    )

    const cell = async (origin: string, column: string) =>
      ((await page.locator(`tr[data-origin="${origin}"] .${column}`).textContent()) ?? '').trim()

    await check('a (protocol visible) is observed as h1 and held at 6 by ky-pool', async () => {
      assert.match(await cell('a', 'protocol'), /^h1\s+observed$/)
      assert.equal(await cell('a', 'limit'), '6')
      assert.equal(await cell('a', 'peak-in-flight'), '6')
      assert.equal(await cell('a', 'peak-queued'), '18')
      assert.equal(await cell('a', 'server-peak'), '6')
    })

    await check(
      'b (no Timing-Allow-Origin) stays unknown: no cap of ky-pool, the browser holds it at 6',
      async () => {
        assert.match(await cell('b', 'protocol'), /^unknown\s+default$/)
        assert.match(await cell('b', 'limit'), /^∞/)
        assert.equal(await cell('b', 'peak-in-flight'), '24')
        assert.equal(await cell('b', 'peak-queued'), '0')
        assert.equal(await cell('b', 'server-peak'), '6')
      },
    )

    await check('c (pool.origins: 2) never has more than 2 at the server', async () => {
      assert.equal(await cell('c', 'limit'), '2')
      assert.equal(await cell('c', 'peak-in-flight'), '2')
      assert.equal(await cell('c', 'peak-queued'), '22')
      assert.equal(await cell('c', 'server-peak'), '2')
    })

    await check('the leaks are listed by the function and line of main.ts that made them', async () => {
      const leaks = await page.locator('#leaks li').allTextContents()
      assert.equal(leaks.length, 2, leaks.join('\n---\n'))
      const report = leaks.find((text) => text.includes('/report'))
      const prefetch = leaks.find((text) => text.includes('/items/'))
      assert.match(report ?? '', /^8 × GET /)
      assert.match(report ?? '', /at checkReport \(main\.ts:\d+:\d+\)/)
      assert.match(prefetch ?? '', /^2 × GET /)
      assert.match(prefetch ?? '', /at prefetchItem \(main\.ts:\d+:\d+\)/)
      assert.match((await page.locator('#totals').textContent()) ?? '', / 10 leaks /)
    })
  } finally {
    await browser.close()
    await vite.close()
  }
  done('example browser')
}
