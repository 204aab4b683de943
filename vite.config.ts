import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { playwright } from '@vitest/browser-playwright'
import { msw } from 'msw/vite'
import { defineConfig } from 'vitest/config'

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
        test: {
          name: 'happy-dom',
          include: ['test/dom/**/*.test.ts'],
          environment: 'happy-dom',
          // happy-dom sends a CORS preflight (OPTIONS) before every cross-origin fetch; msw has no handler for it.
          environmentOptions: { happyDOM: { settings: { fetch: { disableSameOriginPolicy: true } } } },
        },
      },
      {
        plugins: [msw({ mode: 'worker-only' })], // vitest 5 no longer serves /mockServiceWorker.js
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
                executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
                args: [
                  '--no-sandbox',
                  '--disable-gpu',
                  '--disable-background-networking',
                  '--disable-component-update',
                  '--disable-sync',
                  '--no-first-run',
                  '--disable-quic',
                  // The HTTP/2 test server's certificate is made at run time (test/support/tls.ts).
                  '--ignore-certificate-errors',
                ],
              },
            }),
          },
        },
      },
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
