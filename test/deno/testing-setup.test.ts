/**
 * The README's copy-paste setup for Deno: msw's web fetch interceptor, the resource sanitizer on, a fresh
 * shared client per test and assertNoLeaks at its end, used on "application code" (test/shared/user-code.ts).
 */
import assert from 'node:assert/strict'
import { mockOrigin } from '../../mocks/handlers.ts'
import { network } from '../../mocks/web.ts'
import { client, LeakError } from '../../src/index.ts'
import { assertNoLeaks, resetSharedClient } from '../../src/testing.ts'
import { loadGreeting, sloppyHealthCheck } from '../shared/user-code.ts'

await network.enable()

/** A Deno test with the sanitizer on, a fresh shared client, and a leak check at the end. */
function test(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    sanitizeResources: true,
    async fn() {
      resetSharedClient()
      try {
        await fn()
      } finally {
        await assertNoLeaks(client)
      }
    },
  })
}

test('code that reads its bodies passes', async () => {
  assert.deepEqual(await loadGreeting(mockOrigin), { hello: 'world' })
})

test('code that forgets a body fails assertNoLeaks, naming the function that made the request', async () => {
  assert.equal(await sloppyHealthCheck(mockOrigin), true)
  const failure = await assertNoLeaks(client).catch((error: unknown) => error)
  assert.ok(failure instanceof LeakError)
  // The first frame is the application's: ky's and ky-pool's own frames are cut off.
  assert.match(failure.leaks[0]?.callSite.split('\n')[0] ?? '', /at sloppyHealthCheck /)
})
