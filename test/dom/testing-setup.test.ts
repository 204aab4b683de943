/**
 * The README's copy-paste setup for happy-dom (and Node): msw's setupServer, a fresh shared client per
 * test, and assertNoLeaks after each, used on "application code" (test/shared/user-code.ts).
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { mockOrigin } from '../../mocks/handlers.ts'
import { server } from '../../mocks/node.ts'
import { client, LeakError } from '../../src/index.ts'
import { assertNoLeaks, resetSharedClient } from '../../src/testing.ts'
import { loadGreeting, sloppyHealthCheck } from '../shared/user-code.ts'

beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
beforeEach(() => resetSharedClient())
afterEach(async () => {
  server.resetHandlers()
  await assertNoLeaks(client)
})
afterAll(() => server.close())

it('code that reads its bodies passes', async () => {
  expect(await loadGreeting(mockOrigin)).toEqual({ hello: 'world' })
})

it('code that forgets a body fails assertNoLeaks, naming the function that made the request', async () => {
  expect(await sloppyHealthCheck(mockOrigin)).toBe(true)
  const failure = await assertNoLeaks(client).catch((error: unknown) => error)
  expect(failure).toBeInstanceOf(LeakError)
  expect((failure as LeakError).message).toMatch(/GET https:\/\/api\.ky-pool\.test\/json/)
  // The first frame is the application's: ky's and ky-pool's own frames are cut off.
  expect((failure as LeakError).leaks[0]?.callSite.split('\n')[0]).toMatch(/at sloppyHealthCheck /)
})

it('each test gets a fresh shared client: nothing carried over from the last one', () => {
  expect(client.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, totals: { requests: 0, leaks: 0 } })
})
