/**
 * The shared behaviours (test/shared/behaviours.ts) in Bun, answered by msw's web fetch interceptor
 * (mocks/web.ts; `msw/node` does not work in Bun). behaviours-loopback.test.ts runs them over real HTTP.
 */
import { afterAll, beforeAll } from 'bun:test'
import { mockOrigin } from '../../mocks/handlers.ts'
import { network, redirectLimitation } from '../../mocks/web.ts'
import { registerBehaviours } from '../shared/behaviours.ts'
import { bunHarness } from './harness.ts'

// Bun runs every test file in one global scope: the interceptor is on only while this file runs.
beforeAll(() => network.enable())
afterAll(() => network.disable())

registerBehaviours({
  ...bunHarness('msw'),
  runtime: 'Bun with msw',
  baseUrl: mockOrigin,
  cannot: { redirect: `${redirectLimitation}; behaviours-loopback.test.ts follows a real one` },
})
