/**
 * The live pool page: `npx vite --config examples/browser/vite.config.ts`, then open the URL it prints.
 * The plugin starts three local APIs on 127.0.0.1 (examples/upstream.ts), one per origin the page calls,
 * and tells the page where they are (`/upstreams.json`). test/examples/browser.ts drives the same page in
 * Chromium.
 *
 * In an app of your own, `import { createClient } from 'ky-pool'` resolves to the package (its `browser`
 * export condition: dist/browser.js); the alias below points it at the same entry in this repository's
 * src/ instead, and is the only line to drop.
 */
import { resolve } from 'node:path'
import { defineConfig, type Plugin } from 'vite'
import { startUpstream, type Upstream } from '../upstream.ts'

const root = resolve(import.meta.dirname, '../..')

/** Three APIs: `a` and `c` send Timing-Allow-Origin (the page can see their protocol), `b` does not. */
function upstreams(): Plugin {
  let started: Promise<Record<string, Upstream>> | undefined
  return {
    name: 'ky-pool-example-upstreams',
    configureServer(server) {
      started ??= Promise.all([
        startUpstream(),
        startUpstream({ timingAllowOrigin: false }),
        startUpstream(),
      ]).then(([a, b, c]) => ({ a, b, c }))
      server.httpServer?.once('close', async () => {
        for (const upstream of Object.values(await started!)) await upstream.close()
      })
      server.middlewares.use('/upstreams.json', async (_req, res) => {
        const all = await started!
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(Object.fromEntries(Object.entries(all).map(([name, up]) => [name, up.url]))))
      })
      // What each API saw (requests, most at once): the page shows it next to the pool's own view.
      server.middlewares.use('/upstream-stats.json', async (_req, res) => {
        const all = await started!
        res.setHeader('content-type', 'application/json')
        res.end(
          JSON.stringify(Object.fromEntries(Object.entries(all).map(([name, up]) => [name, up.stats()]))),
        )
      })
    },
  }
}

export default defineConfig({
  root: import.meta.dirname,
  cacheDir: resolve(root, 'node_modules/.vite/example-browser'),
  logLevel: 'warn',
  plugins: [upstreams()],
  resolve: { alias: { 'ky-pool': resolve(root, 'src/browser.ts') } },
  // Pre-bundled at start, so the first page load is not reloaded when Vite discovers ky.
  optimizeDeps: { include: ['ky'] },
  server: { host: '127.0.0.1', fs: { allow: [root] } },
})
