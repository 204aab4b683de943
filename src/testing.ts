/**
 * Helpers for testing code that uses ky-pool (exported as `ky-pool/testing`), framework-agnostic:
 *
 * ```ts
 * import { client } from 'ky-pool'
 * import { assertNoLeaks, resetSharedClient } from 'ky-pool/testing'
 * beforeEach(() => resetSharedClient())   // a fresh shared client per test, leaks: 'strict'
 * afterEach(() => assertNoLeaks(client))  // fails the test that left a body unread, with the call site
 * ```
 */
import type { ClientOptions, PooledKy } from './client.ts'
import { LeakError } from './errors/leak.ts'
// The server entry's createClient, in browser test bundles too: its plug-ins check their runtime (src/plugins.ts).
import { createClient } from './index.ts'
import { resetShared } from './shared.ts'
import type { LeakReport } from './trace.ts'

/** Options for a test client: strict leaks, and short timers so a forgotten body fails fast. */
function testOptions(options: ClientOptions = {}): ClientOptions {
  return { ...options, pool: { leaks: 'strict', ...options.pool } }
}

/** A fresh, independent client for one test, in strict leak mode unless `options.pool.leaks` says otherwise. */
export function createTestClient(options?: ClientOptions): PooledKy {
  return createClient(testOptions(options))
}

/**
 * Replaces the shared `client` of `ky-pool` with a fresh one (strict leak mode unless overridden), so
 * no state carries over between tests. Requests made before keep their old pool.
 */
export function resetSharedClient(options?: ClientOptions): void {
  resetShared(testOptions(options))
}

/**
 * Settles the client's pool (reclaiming every unread body, so nothing leaks into the next test or
 * trips Deno's resource sanitizer) and throws a `LeakError` naming each call site that left a body
 * unread. Call it in `afterEach`.
 */
export async function assertNoLeaks(client: PooledKy): Promise<void> {
  const leaks = await client.pool.settle()
  if (leaks.length > 0) throw new LeakError(leaks)
}

/** Settles the pool and returns the leaks instead of throwing (for tests that expect some). */
export async function collectLeaks(client: PooledKy): Promise<LeakReport[]> {
  try {
    return await client.pool.settle()
  } catch (error) {
    if (error instanceof LeakError) return error.leaks
    throw error
  }
}

export type { LeakReport }
export { LeakError }
