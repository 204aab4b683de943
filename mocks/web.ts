/**
 * msw where there is neither a Node socket layer nor a service worker — Cloudflare workerd, Deno, Bun:
 * the web fetch interceptor patches `globalThis.fetch`. ky-pool looks `fetch` up at call time, so the
 * network can be enabled after ky-pool was imported.
 *
 * ```ts
 * import { network } from '../mocks/web.ts'
 * await network.enable()        // beforeAll
 * network.resetHandlers()       // afterEach
 * await network.disable()       // afterAll
 * ```
 */
import { FetchInterceptor } from '@mswjs/interceptors/fetch/web'
import { defineNetwork, InterceptorSource } from 'msw/experimental'
import { handlers } from './handlers.ts'

/** Built by a function so a test can make one per file (each with its own interceptor). */
export function createNetwork(initialHandlers = handlers) {
  return defineNetwork({
    context: { quiet: true },
    onUnhandledFrame: 'error',
    handlers: initialHandlers,
    // The interceptor's generic type (its event map) is wider than InterceptorSource declares.
    sources: [new InterceptorSource({ interceptors: [new FetchInterceptor() as never] })],
  })
}

export const network = createNetwork()

/**
 * Why a mocked redirect cannot be followed through this interceptor (workerd, Deno, Bun): in
 * @mswjs/interceptors 0.45 the web FetchInterceptor wraps every mocked response with a non-configurable
 * `redirected`, and its own `followFetchRedirect` then redefines that property on the final response, which
 * throws ("Cannot redefine property: redirected"). Plain `fetch` fails the same way, without ky-pool.
 */
export const redirectLimitation =
  "@mswjs/interceptors' web FetchInterceptor throws 'Cannot redefine property: redirected' when it follows a " +
  'mocked redirect (it defines the property non-configurable on each response, then redefines it); plain ' +
  'fetch fails the same way'
