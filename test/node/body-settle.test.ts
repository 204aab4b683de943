/**
 * A slot is held from before the request is sent until its response body settles (read to the end,
 * cancelled, or errored); null-body responses settle at headers. The Response the caller gets is
 * indistinguishable from the runtime's. Real loopback server: these are connection-level facts.
 */
import { describe, expect, it } from 'vitest'
import { harness, TraceLog } from '../support/pool-harness.ts'

const { start, client } = harness()

/** perOrigin 1 and no reclaiming: a held slot stays held until its body settles. */
const strictOne = { perOrigin: 1, drainLimit: 0, reclaimAfter: Number.POSITIVE_INFINITY }

describe('a slot is held until the body settles', () => {
  it('is still held after headers arrive and is given back when the body is read to the end', async () => {
    const server = await start()
    const log = new TraceLog()
    const pooled = client({ pool: { ...strictOne, trace: log.trace } })
    const first = await pooled.get(`${server.url}/bytes?size=1000`)
    expect(pooled.pool.stats().inFlight).toBe(1)
    const queued = log.next('queued')
    const second = pooled.get(`${server.url}/json`).json()
    await queued
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 1, queued: 1 })
    expect(server.stats().requests).toBe(1)
    expect(await first.text()).toBe('x'.repeat(1000))
    expect(pooled.pool.stats().inFlight).toBe(1) // now held by the second request
    expect(await second).toEqual({ ok: true })
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
    expect(server.stats().requests).toBe(2)
  })

  it('is held while the body is still arriving, even though headers are in', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const res = await pooled.get(`${server.url}/hold?tag=body&phase=body&size=64`)
    const reader = res.body!.getReader()
    const firstHalf = await reader.read()
    expect(firstHalf.value?.byteLength).toBe(32)
    expect(pooled.pool.stats().inFlight).toBe(1)
    server.release('body')
    let bytes = firstHalf.value!.byteLength
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      bytes += chunk.value.byteLength
    expect(bytes).toBe(64)
    expect(pooled.pool.stats().inFlight).toBe(0)
  })

  it('is given back when the caller cancels the body', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const res = await pooled.get(`${server.url}/bytes?size=3000000`)
    expect(pooled.pool.stats().inFlight).toBe(1)
    await res.body!.cancel()
    expect(pooled.pool.stats().inFlight).toBe(0)
    expect(pooled.pool.stats().totals.cancelled).toBe(0) // the caller's cancel is not a reclaim
  })

  it('is given back when the body errors (connection reset mid-body)', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const res = await pooled.get(`${server.url}/reset?phase=body`)
    expect(pooled.pool.stats().inFlight).toBe(1)
    await expect(res.arrayBuffer()).rejects.toThrow()
    expect(pooled.pool.stats().inFlight).toBe(0)
    // The origin is usable again at once.
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
  })

  it('is given back when fetch itself fails (connection closed before headers)', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    await expect(pooled.get(`${server.url}/close-before-headers`)).rejects.toThrow()
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  })

  it.each([
    ['HEAD', '/bytes?size=5000'],
    ['GET', '/status/204'],
    ['GET', '/status/304'],
  ])('a %s %s response settles at headers, with nothing to read', async (method, path) => {
    const server = await start()
    const pooled = client({ pool: strictOne, throwHttpErrors: false })
    const res = await pooled(`${server.url}${path}`, { method })
    expect(pooled.pool.stats().inFlight).toBe(0)
    expect(await res.text()).toBe('')
    // With perOrigin 1 the next request goes out at once.
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
  })
})

describe('the Response the caller gets', () => {
  it('keeps status, statusText, headers, url, redirected and type of the real response', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const url = `${server.url}/redirect?n=2`
    const plain = await fetch(url)
    const res = await pooled.get(url)
    expect(res.url).toBe(`${server.url}/redirect?n=0`)
    expect(res.redirected).toBe(true)
    expect({ status: res.status, statusText: res.statusText, type: res.type, ok: res.ok }).toEqual({
      status: plain.status,
      statusText: plain.statusText,
      type: plain.type,
      ok: true,
    })
    expect(res.headers.get('content-type')).toBe(plain.headers.get('content-type'))
    expect(res.headers.get('content-length')).toBe(plain.headers.get('content-length'))
    expect(await res.json()).toEqual(await plain.json())
    expect(res).toBeInstanceOf(Response)
  })

  it('clone() keeps url and redirected, both branches read the whole body, and the slot is freed', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const res = await pooled.get(`${server.url}/redirect?n=1`)
    const copy = res.clone()
    expect({ url: copy.url, redirected: copy.redirected, type: copy.type }).toEqual({
      url: res.url,
      redirected: true,
      type: res.type,
    })
    const [a, b] = await Promise.all([res.json(), copy.json()])
    expect(a).toEqual({ ok: true, redirected: true })
    expect(b).toEqual(a)
    expect(pooled.pool.stats().inFlight).toBe(0)
  })

  it('streams a large body chunk by chunk and frees the slot at the last chunk', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const res = await pooled.get(`${server.url}/bytes?size=3000000`)
    let bytes = 0
    let chunks = 0
    for await (const chunk of res.body!) {
      bytes += chunk.byteLength
      chunks++
      if (bytes < 3000000) expect(pooled.pool.stats().inFlight).toBe(1)
    }
    expect({ bytes, more: chunks > 1 }).toEqual({ bytes: 3000000, more: true })
    expect(pooled.pool.stats().inFlight).toBe(0)
  })

  it('works with every ky body shortcut on a real server', async () => {
    const server = await start()
    const pooled = client({ pool: strictOne })
    const url = `${server.url}/bytes?size=10&type=text`
    expect(await pooled.get(url).text()).toBe('x'.repeat(10))
    expect(new Uint8Array(await pooled.get(url).arrayBuffer())).toEqual(new Uint8Array(10).fill(120))
    expect(await (await pooled.get(url).blob()).text()).toBe('x'.repeat(10))
    expect(await pooled.get(url).bytes()).toEqual(new Uint8Array(10).fill(120))
    expect(await pooled.get(`${server.url}/json`).json()).toEqual({ ok: true })
    expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
    // undici returns a finished socket to its pool one turn after the body ends, so a request sent at
    // once may open one more connection; never one per request.
    expect(server.stats().connections).toBeLessThanOrEqual(2)
  })
})
