/**
 * A Worker's entry bundled as Wrangler would bundle it, for Miniflare in tests and benches: one ES module
 * (rolldown's `codeSplitting: false`, so ky-pool's cold chunk, a dynamic import in src/lazy.ts, is
 * inlined rather than left as a chunk Miniflare cannot load), resolved with the `workerd` condition, and
 * `node:` and `cloudflare:` imports left to the runtime.
 */
import { build } from 'rolldown'

export async function bundleWorker(input: string, alias?: Record<string, string>): Promise<string> {
  const result = await build({
    input,
    write: false,
    platform: 'neutral',
    external: (id) => id.startsWith('node:') || id.startsWith('cloudflare:'),
    resolve: { alias, conditionNames: ['workerd', 'worker', 'browser', 'import', 'default'] },
    output: { format: 'esm', codeSplitting: false },
  })
  return result.output[0].code
}
