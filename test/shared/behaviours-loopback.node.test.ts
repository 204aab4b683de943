/**
 * The shared behaviours (behaviours.ts) in Node over real HTTP: the same msw handlers served on loopback
 * (mocks/loopback.ts), so every body is a real undici body on a real socket.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type MockLoopback, startMockLoopback } from '../../mocks/loopback.ts'
import { registerBehaviours, vitestCheck } from './behaviours.ts'

let server: MockLoopback
beforeAll(async () => {
  server = await startMockLoopback()
})
afterAll(() => server.close())

registerBehaviours({
  runtime: 'Node over loopback HTTP',
  get baseUrl() {
    return server.url
  },
  test: (name, fn) => it(name, fn),
  skip: (name) => it.skip(name),
  check: vitestCheck(expect),
})
