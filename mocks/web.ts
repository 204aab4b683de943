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
