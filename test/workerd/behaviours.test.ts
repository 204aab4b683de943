/**
 * The shared behaviours (test/shared/behaviours.ts) inside a real workerd (@cloudflare/vitest-plugin,
 * `nodejs_compat`), answered by msw's web fetch interceptor (mocks/web.ts).
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { mockOrigin } from '../../mocks/handlers.ts'
import { network } from '../../mocks/web.ts'
import { registerBehaviours, vitestCheck } from '../shared/behaviours.ts'

beforeAll(() => network.enable())
afterEach(() => network.resetHandlers())
afterAll(() => network.disable())

it('runs in workerd', () => {
  expect(navigator.userAgent).toBe('Cloudflare-Workers')
})

registerBehaviours({
  runtime: 'workerd',
  baseUrl: mockOrigin,
  test: (name, fn) => it(name, fn),
  skip: (name) => it.skip(name),
  check: vitestCheck(expect),
  cannot: {
    redirect:
      "msw's web FetchInterceptor cannot follow a mocked redirect in workerd (its followFetchRedirect redefines " +
      "Response#redirected: 'TypeError: Cannot redefine property: redirected', with plain fetch too); " +
      'invocations.test.ts follows a real one through Miniflare',
  },
})
