/// <reference lib="esnext.disposable" preserve="true" />
/**
 * ky-pool: one shared ky instance that settles every response body and bounds in-flight requests
 * per origin and in total, with a real queue. See README.md.
 *
 * The entry point for Node, Deno and Bun (the `default` export condition), with the server plug-ins
 * (src/plugins.ts); browser.ts is the browser's, workerd.ts Cloudflare Workers'.
 */
import { type ClientOptions, createPooledClient, type PooledKy } from './client.ts'
import { serverPlugins } from './server.ts'
import { sharedClient } from './shared.ts'

export * from './public.ts'

/** Creates a ky instance with its own pool, shared by every instance `extend` and `create` make from it. */
export function createClient(options?: ClientOptions): PooledKy {
  return createPooledClient(options, serverPlugins)
}

/**
 * The shared client, created on first use. It *is* a ky instance (`client.get(url).json()`,
 * `client(url)`, `client.extend(…)`) plus `client.pool`.
 */
export const client: PooledKy = sharedClient(createClient)
