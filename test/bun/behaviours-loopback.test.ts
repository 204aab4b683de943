/**
 * The shared behaviours (test/shared/behaviours.ts) in Bun over real HTTP: the same msw handlers served
 * by `Bun.serve` on loopback.
 */
import { getResponse } from 'msw'
import { createHandlers } from '../../mocks/handlers.ts'
import { registerBehaviours } from '../shared/behaviours.ts'
import { bunHarness } from './harness.ts'

const handlers = createHandlers('*')
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch: async (request) =>
    (await getResponse(handlers, request)) ?? new Response('no msw handler', { status: 404 }),
})

registerBehaviours({
  ...bunHarness('loopback'),
  runtime: 'Bun over loopback HTTP',
  baseUrl: `http://127.0.0.1:${server.port}`,
})
