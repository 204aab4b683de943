/**
 * What ky-pool detects inside workerd (the vitest-plugin runner). How the shared client behaves across
 * concurrent invocations is tested with Miniflare in test/node/workerd-invocations.test.ts: this runner
 * gives its tests no per-invocation tracing span, so here every test shares one pool.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from '../../src/index.ts'
import { invocationKey } from '../../src/invocations.ts'
import { currentRuntime } from '../../src/runtime.ts'

describe('ky-pool in workerd', () => {
  it('detects workerd and adds no wait of its own: the platform holds 6 awaiting headers itself', () => {
    expect(currentRuntime()).toBe('workerd')
    const { perOrigin, total, awaitingHeaders } = createClient().pool.options
    expect({ perOrigin, total, awaitingHeaders }).toEqual({
      perOrigin: undefined,
      total: Infinity,
      awaitingHeaders: Number.POSITIVE_INFINITY,
    })
  })

  it('explicit options still win over the workerd defaults', () => {
    const { perOrigin, total, awaitingHeaders } = createClient({
      pool: { perOrigin: 2, total: 4, awaitingHeaders: 3 },
    }).pool.options
    expect({ perOrigin, total, awaitingHeaders }).toEqual({ perOrigin: 2, total: 4, awaitingHeaders: 3 })
  })

  it('the vitest-plugin runner has no active tracing span, so tests here share one pool (see the Miniflare tests)', () => {
    expect(invocationKey()).toBeUndefined()
  })
})
