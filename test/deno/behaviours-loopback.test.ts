/**
 * The shared behaviours (test/shared/behaviours.ts) in Deno over real HTTP: the same msw handlers,
 * served by `Deno.serve` on loopback. Every body here is a real fetch resource, so the resource sanitizer
 * (on in every test) fails a behaviour that leaves one unread.
 */
import { createHandlers } from '../../mocks/handlers.ts'
import { registerBehaviours } from '../shared/behaviours.ts'
import { denoHarness } from './harness.ts'
import { serveHandlers } from './serve.ts'

// Started outside the tests, so the listener is not a resource any test opened.
const server = serveHandlers(createHandlers('*'))

registerBehaviours({ ...denoHarness('loopback'), runtime: 'Deno over loopback HTTP', baseUrl: server.url })
