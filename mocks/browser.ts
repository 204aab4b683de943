/**
 * msw in a real browser: the service worker (`/mockServiceWorker.js`, served by `msw/vite`'s plugin in
 * `worker-only` mode, since vitest 5 no longer serves it) answers the page's fetches with the handlers,
 * which run in the page.
 *
 * ```ts
 * import { worker } from '../mocks/browser.ts'
 * beforeAll(() => worker.start({ quiet: true, onUnhandledFrame: 'error' }))
 * afterEach(() => worker.resetHandlers())
 * afterAll(() => worker.stop())
 * ```
 */
import { setupWorker } from 'msw/browser'
import { handlers } from './handlers.ts'

export const worker = setupWorker(...handlers)
