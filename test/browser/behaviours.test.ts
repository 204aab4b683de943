/**
 * The shared behaviours (test/shared/behaviours.ts) in a real Chromium (vitest browser mode), answered by
 * msw's service worker (mocks/browser.ts): the page's fetches go through the browser's network stack
 * to the worker, which hands them to the handlers in the page.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { worker } from '../../mocks/browser.ts'
import { mockOrigin } from '../../mocks/handlers.ts'
import { registerBehaviours, vitestCheck } from '../shared/behaviours.ts'

beforeAll(async () => {
  await worker.start({ quiet: true, onUnhandledFrame: 'error' })
})
afterEach(() => worker.resetHandlers())
afterAll(() => worker.stop())

it('runs in Chromium', () => {
  expect(navigator.userAgent).toMatch(/Chrome\//)
})

registerBehaviours({
  runtime: 'Chromium',
  baseUrl: mockOrigin,
  test: (name, fn) => it(name, fn),
  skip: (name) => it.skip(name),
  check: vitestCheck(expect),
})
