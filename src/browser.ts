/// <reference lib="esnext.disposable" preserve="true" />
/**
 * The entry point for browsers (the `browser` export condition, which bundlers targeting the web pick:
 * Vite, esbuild `--platform=browser`, webpack). The same API as index.ts, without the server plug-ins
 * (src/plugins.ts): a browser follows redirects itself, publishes no undici connection events and has
 * no Workers invocations, so a page's bundle does not carry the code for them.
 */
import { type ClientOptions, createPooledClient, type PooledKy } from './client.ts'
import { sharedClient } from './shared.ts'

export * from './public.ts'

/** Creates a ky instance with its own pool, shared by every instance `extend` and `create` make from it. */
export function createClient(options?: ClientOptions): PooledKy {
  return createPooledClient(options)
}

/**
 * The shared client, created on first use. It *is* a ky instance (`client.get(url).json()`,
 * `client(url)`, `client.extend(…)`) plus `client.pool`.
 */
export const client: PooledKy = sharedClient(createClient)
