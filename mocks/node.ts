/**
 * msw in Node (and happy-dom, which runs on Node): `setupServer` intercepts at the socket level.
 *
 * ```ts
 * import { server } from '../mocks/node.ts'
 * beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
 * afterEach(() => server.resetHandlers())
 * afterAll(() => server.close())
 * ```
 *
 * `msw/node` does not work inside workerd, Deno or Bun: use mocks/web.ts there.
 */
import { setupServer } from 'msw/node'
import { handlers } from './handlers.ts'

export const server = setupServer(...handlers)
