/**
 * The shared behaviours (test/shared/behaviours.ts) in happy-dom: the globals a frontend test sees
 * (`window`, happy-dom's `fetch`, `Response`, `ReadableStream`), msw's `setupServer` answering.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { mockOrigin } from '../../mocks/handlers.ts'
import { server } from '../../mocks/node.ts'
import { registerBehaviours, vitestCheck } from '../shared/behaviours.ts'

beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

it('runs in happy-dom', () => {
  expect(typeof window).toBe('object')
  expect(typeof document).toBe('object')
})

registerBehaviours({
  runtime: 'happy-dom',
  baseUrl: mockOrigin,
  test: (name, fn) => it(name, fn),
  skip: (name) => it.skip(name),
  check: vitestCheck(expect),
})
