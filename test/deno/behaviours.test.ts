/**
 * The shared behaviours (test/shared/behaviours.ts) in Deno, answered by msw's web fetch interceptor
 * (mocks/web.ts). ky-pool is imported from src/ as a Deno user imports a TypeScript package; ky and msw
 * come from the project's node_modules. behaviours-loopback.test.ts runs them again over real HTTP.
 */
import { mockOrigin } from '../../mocks/handlers.ts'
import { network, redirectLimitation } from '../../mocks/web.ts'
import { registerBehaviours } from '../shared/behaviours.ts'
import { denoHarness } from './harness.ts'

await network.enable()

registerBehaviours({
  ...denoHarness('msw'),
  runtime: 'Deno with msw',
  baseUrl: mockOrigin,
  cannot: {
    redirect: `${redirectLimitation}; behaviours-loopback.test.ts follows a real one`,
  },
})
