/**
 * Options are checked when the client is created: a bad value is a PoolConfigError that names the
 * option, never a silently wrong limit later. Per-request `pool` options are checked per request.
 */
import { describe, expect, it } from 'vitest'
import { createClient, PoolConfigError, type PoolOptions } from '../../src/index.ts'
import { harness } from '../support/pool-harness.ts'

const { start, client } = harness()

/** The PoolConfigError that `createClient({ pool })` throws. */
function configError(pool: unknown): PoolConfigError {
  try {
    createClient({ pool: pool as PoolOptions })
  } catch (error) {
    expect(error).toBeInstanceOf(PoolConfigError)
    return error as PoolConfigError
  }
  throw new Error(`createClient accepted ${JSON.stringify(pool)}`)
}

describe('limits and durations', () => {
  it.each([
    ['perOrigin', '3'],
    ['perOrigin', -1],
    ['perOrigin', 0],
    ['perOrigin', Number.NaN],
    ['perOrigin', 1.5],
    ['perOrigin', Number.NEGATIVE_INFINITY],
    ['awaitingHeaders', 0],
    ['awaitingHeaders', Number.NaN],
    ['total', null],
    ['total', -4],
    ['maxQueue', 0],
    ['maxQueue', Number.NaN],
    ['queueTimeout', -1],
    ['queueTimeout', Number.NaN],
    ['queueTimeout', '100'],
    ['drainLimit', -1],
    ['drainLimit', 0.5],
    ['reclaimAfter', -5],
    ['leakAfter', Number.NaN],
    ['idleTimeout', -1],
    ['leaks', 'loud'],
    ['trace', 'console'],
    ['trace', null],
    ['leaks', null],
    ['callSites', 'sometimes'],
    ['callSites', 'Always'],
    ['callSites', null],
  ])('pool.%s = %o is refused, and the error names the option and the value', (option, value) => {
    const error = configError({ [option]: value })
    expect(error.option).toBe(`pool.${option}`)
    expect(error.message).toContain(`pool.${option} must be`)
    expect(error.message).toContain(
      `got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
    )
  })

  it('accepts the documented edge values', () => {
    const pooled = createClient({
      pool: {
        maxQueue: Number.POSITIVE_INFINITY,
        queueTimeout: Number.POSITIVE_INFINITY,
        drainLimit: 0,
        origins: { 'https://unbounded.example': Number.POSITIVE_INFINITY },
      },
    })
    expect(pooled.pool.options.origins.get('https://unbounded.example')).toBe(Number.POSITIVE_INFINITY)
    expect(
      createClient({ pool: { perOrigin: Number.POSITIVE_INFINITY, total: Number.POSITIVE_INFINITY } }).pool
        .options,
    ).toMatchObject({
      perOrigin: Number.POSITIVE_INFINITY,
      total: Number.POSITIVE_INFINITY,
    })
    expect(pooled.pool.options).toMatchObject({
      perOrigin: undefined, // the default: it follows each origin's protocol
      maxQueue: Number.POSITIVE_INFINITY,
      queueTimeout: Number.POSITIVE_INFINITY,
      drainLimit: 0,
    })
  })

  it('an unknown option is refused, with the list of known ones (a typo never passes silently)', () => {
    const error = configError({ perorigin: 2 })
    expect(error.option).toBe('pool.perorigin')
    expect(error.message).toContain('unknown option')
    expect(error.message).toContain('perOrigin')
  })

  it('pool must be an object', () => {
    expect(configError(5).option).toBe('pool')
  })
})

describe('origins', () => {
  it.each(['__proto__', 'constructor', 'prototype'])(
    'a %s key from JSON is an invalid origin, not a prototype lookup',
    (key) => {
      const origins = JSON.parse(`{"${key}": 2}`) as Record<string, number>
      const error = configError({ origins })
      expect(error.option).toBe(`pool.origins[${JSON.stringify(key)}]`)
      expect(error.message).toContain('keyed by an http(s) origin')
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    },
  )

  it('keys are canonical: case, default port and trailing dot do not make another origin', () => {
    const pooled = createClient({
      pool: {
        origins: {
          'HTTPS://API.Example.com:443/': 2,
          'https://api.example.com.': 2,
          'http://b.example:8080': 1,
        },
      },
    })
    expect([...pooled.pool.options.origins]).toEqual([
      ['https://api.example.com', 2],
      ['http://b.example:8080', 1],
    ])
  })

  it('two spellings of one origin with different limits are refused', () => {
    const error = configError({ origins: { 'https://a.example': 1, 'HTTPS://A.EXAMPLE:443': 2 } })
    expect(error.option).toBe('pool.origins["HTTPS://A.EXAMPLE:443"]')
    expect(error.message).toContain('the limit 1 already given for https://a.example')
  })

  it.each([
    [{ 'https://a.example': 0 }, 'pool.origins["https://a.example"]'],
    [{ 'https://a.example': '2' }, 'pool.origins["https://a.example"]'],
    [{ 'ftp://a.example': 2 }, 'pool.origins["ftp://a.example"]'],
    [{ '/relative': 2 }, 'pool.origins["/relative"]'],
    [['https://a.example'], 'pool.origins'],
  ])('origins %o is refused, naming %s', (origins, option) => {
    expect(configError({ origins }).option).toBe(option)
  })
})

describe('per-request pool options', () => {
  it.each([
    [{ priority: 'high' }, 'options.pool.priority'],
    [{ priority: Number.NaN }, 'options.pool.priority'],
    [{ queueTimeout: -1 }, 'options.pool.queueTimeout'],
    [{ perOrigin: 1 }, 'options.pool.perOrigin'],
  ])('%o is refused with a PoolConfigError naming %s, and nothing is sent', async (pool, option) => {
    const server = await start()
    const pooled = client()
    const error = await pooled
      .get(`${server.url}/json`, { pool: pool as Record<string, number> })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PoolConfigError)
    expect((error as PoolConfigError).option).toBe(option)
    expect(server.stats().requests).toBe(0)
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })
})
