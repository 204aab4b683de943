/**
 * The shared behaviours (test/shared/behaviours.ts) inside a real workerd (@cloudflare/vitest-plugin,
 * `nodejs_compat`), answered by msw's web fetch interceptor (mocks/web.ts).
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { mockOrigin } from '../../mocks/handlers.ts'
import { network, redirectLimitation } from '../../mocks/web.ts'
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
    redirect: `${redirectLimitation}; test/node/workerd-invocations.test.ts follows a real one in workerd`,
  },
})
