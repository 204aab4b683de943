/**
 * The README's copy-paste setup for Workers (@cloudflare/vitest-plugin): msw's web fetch interceptor, a
 * fresh shared client per test, and assertNoLeaks after each, used on "application code"
 * (test/shared/user-code.ts).
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { mockOrigin } from '../../mocks/handlers.ts'
import { network } from '../../mocks/web.ts'
import { client, LeakError } from '../../src/index.ts'
import { assertNoLeaks, resetSharedClient } from '../../src/testing.ts'
import { loadGreeting, sloppyHealthCheck } from '../shared/user-code.ts'

beforeAll(() => network.enable())
beforeEach(() => resetSharedClient())
afterEach(async () => {
  network.resetHandlers()
  await assertNoLeaks(client)
})
afterAll(() => network.disable())

it('code that reads its bodies passes', async () => {
  expect(await loadGreeting(mockOrigin)).toEqual({ hello: 'world' })
})

it('code that forgets a body fails assertNoLeaks, naming the function that made the request', async () => {
  expect(await sloppyHealthCheck(mockOrigin)).toBe(true)
  const failure = await assertNoLeaks(client).catch((error: unknown) => error)
  expect(failure).toBeInstanceOf(LeakError)
  // The first frame is the application's: ky's and ky-pool's own frames are cut off.
  expect((failure as LeakError).leaks[0]?.callSite.split('\n')[0]).toMatch(/at sloppyHealthCheck /)
})
