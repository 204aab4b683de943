/**
 * What an entry point plugs into the clients and pools it makes: parts that some runtimes need and a
 * browser never runs. The server entry points (index.ts for Node, Deno and Bun; workerd.ts) plug in all
 * of them (src/server.ts); the browser one (browser.ts, the `browser` export condition that bundlers
 * targeting the web pick) none, so a page's bundle does not carry them. Each part still checks the
 * runtime it is for, so a server entry point loaded in a browser (a bundler without the condition)
 * behaves as the browser one does, only larger.
 */
import type { FollowRedirects } from './pool/redirects.ts'
import type { Runtime } from './runtime.ts'

export interface Plugins {
  /**
   * The redirect follower for a runtime (src/pool/redirects.ts), or undefined where the runtime follows
   * redirects itself. Without the plug-in, every runtime does.
   */
  redirects?: (runtime: Runtime) => FollowRedirects | undefined
  /** Starts watching new connections for their protocol where the runtime tells (undici's diagnostics channel). */
  observeConnections?: () => void
  /** Cloudflare Workers' per-invocation scope (src/invocations.ts). Without it, a client has one pool. */
  invocations?: Invocations
}

/** State kept per Workers invocation, and keeping an invocation alive while its pool holds bodies. */
export interface Invocations {
  /** A getter for a value that is one per invocation (one in total outside workerd). */
  perInvocation<T>(create: () => T): () => T
  /** Keeps the current invocation alive until `promise` settles; a no-op outside workerd. */
  keepAliveUntil(promise: Promise<unknown>): void
}
