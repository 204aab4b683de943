/**
 * The shared behaviours (behaviours.ts) in Node, msw's `setupServer` answering (mocks/node.ts).
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { mockOrigin } from '../../mocks/handlers.ts'
import { server } from '../../mocks/node.ts'
import { registerBehaviours, vitestCheck } from './behaviours.ts'

beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

registerBehaviours({
  runtime: 'Node',
  baseUrl: mockOrigin,
  test: (name, fn) => it(name, fn),
  skip: (name) => it.skip(name),
  check: vitestCheck(expect),
})
