import { resolve } from 'node:path'
import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { playwright } from '@vitest/browser-playwright'
import { msw } from 'msw/vite'
import type { Plugin } from 'vite'
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'
import { chromiumArgs, chromiumMissing, chromiumPath } from './scripts/chromium.ts'

const indexEntry = resolve(import.meta.dirname, 'src/index.ts')
const browserEntry = resolve(import.meta.dirname, 'src/browser.ts')

/**
 * The browser projects (chromium, happy-dom) run what a bundler targeting the web resolves `ky-pool` to:
 * src/browser.ts (package.json's `browser` export condition) wherever src/index.ts is imported, by a
 * test or by src/testing.ts.
 */
function asBundledForBrowsers(): Plugin {
  return {
    name: 'ky-pool-browser-entry',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (importer === undefined || !source.endsWith('index.ts')) return null
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
      return resolved?.id === indexEntry ? browserEntry : null
    },
  }
}

/**
 * The browser comes from scripts/chromium.ts (CHROMIUM_PATH, a system Chrome/Chromium, or the npm one).
 * Without one the chromium project is left out with one line saying what to install, and the other
 * projects still run; scripts/test.ts counts the missing project as a failure.
 */
const executablePath = await chromiumPath()
// Vitest evaluates this file more than once per run; the line is printed once.
const warned = globalThis as { kyPoolNoBrowserWarned?: boolean }
if (executablePath === undefined && !warned.kyPoolNoBrowserWarned) {
  warned.kyPoolNoBrowserWarned = true
  console.warn(`${chromiumMissing()}: the chromium project is left out`)
}
const browserProjects: TestProjectInlineConfiguration[] =
  executablePath === undefined
    ? []
    : [
        {
          plugins: [msw({ mode: 'worker-only' }), asBundledForBrowsers()], // vitest 5 no longer serves /mockServiceWorker.js
          test: {
            name: 'chromium',
            include: ['test/browser/**/*.test.ts'],
            // A loopback server with the shared handlers, for tests about the browser's own connections.
            globalSetup: ['test/browser/global-setup.ts'],
            browser: {
              enabled: true,
              headless: true,
              instances: [{ browser: 'chromium' }],
              provider: playwright({
                launchOptions: {
                  executablePath,
                  args: [...chromiumArgs],
                },
              }),
            },
          },
        },
      ]

/**
 * One config, four environments. Deno runs outside vitest (`deno test -A test/deno/`), see package.json.
 * Tests about connections use real loopback servers (test/support); tests about responses use msw (mocks/).
 */
export default defineConfig({
  test: {
    passWithNoTests: false,
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts', 'test/shared/**/*.node.test.ts'],
          environment: 'node',
          testTimeout: 20_000,
          // globalThis.gc for the FinalizationRegistry test (test/node/reclaim.test.ts).
          execArgv: ['--expose-gc'],
        },
      },
      {
        plugins: [asBundledForBrowsers()],
        test: {
          name: 'happy-dom',
          include: ['test/dom/**/*.test.ts'],
          environment: 'happy-dom',
          // happy-dom sends a CORS preflight (OPTIONS) before every cross-origin fetch; msw has no handler for it.
          environmentOptions: { happyDOM: { settings: { fetch: { disableSameOriginPolicy: true } } } },
        },
      },
      ...browserProjects,
      {
        plugins: [
          cloudflareTest({
            miniflare: { compatibilityDate: '2026-04-01', compatibilityFlags: ['nodejs_compat'] },
          }),
        ],
        test: { name: 'workerd', include: ['test/workerd/**/*.test.ts'] },
      },
    ],
  },
})
