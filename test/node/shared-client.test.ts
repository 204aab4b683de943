/**
 * Clients derived from the shared `client` (`client.extend(…)` at module scope, as apps write them) follow
 * `resetSharedClient()` like `client` itself, so a test that forgets a body through one is caught (issue 13).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { client } from '../../src/index.ts'
import { collectLeaks, resetSharedClient } from '../../src/testing.ts'
import { type LoopbackServer, startServer } from '../support/loopback-server.ts'

// Module scope, before any test ran and before any reset: what an app's `api.ts` does.
const api = client.extend({ retry: 0 })
const nested = api.extend({ headers: { 'x-nested': '1' } })

let server: LoopbackServer
beforeEach(async () => {
  server = await startServer()
  resetSharedClient()
})
afterEach(async () => {
  await collectLeaks(client)
  await server.close()
})

describe('clients derived from the shared client', () => {
  it('use the pool of the shared client as it is now, reset or not', async () => {
    expect(await api.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(api.pool).toBe(client.pool)
    expect(nested.pool).toBe(client.pool)
    expect(client.pool.stats().totals.requests).toBe(1)
  })

  it('a body forgotten through one is a leak of the reset shared client (strict in tests)', async () => {
    await nested.get(`${server.url}/json?forgotten`)
    const leaks = await collectLeaks(client)
    expect(leaks.map((leak) => leak.url)).toEqual([`${server.url}/json?forgotten`])
  })

  it('bad options still fail where they are given', () => {
    expect(() => client.extend(null as never)).toThrow(TypeError)
  })
})
