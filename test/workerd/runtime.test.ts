/**
 * What ky-pool detects inside workerd (the vitest-plugin runner). How the shared client behaves across
 * concurrent invocations is tested with Miniflare in test/node/workerd-invocations.test.ts: this runner
 * gives its tests no per-invocation tracing span, so here every test shares one pool.
 */
import { describe, expect, it } from 'vitest'
import { createClient } from '../../src/index.ts'
import { currentRuntime, invocationKey, runtimeDefaults } from '../../src/runtime.ts'

describe('ky-pool in workerd', () => {
  it('detects workerd and allows 6 per origin and 6 in total (6 connections per invocation)', () => {
    expect(currentRuntime()).toBe('workerd')
    expect(runtimeDefaults()).toEqual({ perOrigin: 6, total: 6 })
    const { perOrigin, total } = createClient().pool.options
    expect({ perOrigin, total }).toEqual({ perOrigin: 6, total: 6 })
  })

  it('explicit options still win over the workerd defaults', () => {
    const { perOrigin, total } = createClient({ pool: { perOrigin: 2, total: 4 } }).pool.options
    expect({ perOrigin, total }).toEqual({ perOrigin: 2, total: 4 })
  })

  it('the vitest-plugin runner has no active tracing span, so tests here share one pool (see the Miniflare tests)', () => {
    expect(invocationKey()).toBeUndefined()
  })
})
