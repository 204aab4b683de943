/**
 * Response-level behaviour, with msw answering: every body method of the pooled Response works and
 * settles the slot, and the stand-in Response carries the runtime's status, headers and body.
 */
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type ClientOptions, createClient, type PooledKy } from '../../src/index.ts'

const api = 'https://api.example.test'
const form = new URLSearchParams({ a: '1', b: 'two words' })

const mocks = setupServer(
  http.get(`${api}/text`, () => HttpResponse.text('hello, pool')),
  http.get(`${api}/json`, () => HttpResponse.json({ n: 1, list: [1, 2] })),
  http.get(`${api}/form`, () => HttpResponse.formData(formData())),
  http.get(
    `${api}/urlencoded`,
    () =>
      new HttpResponse(form.toString(), {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
  ),
  http.get(
    `${api}/binary`,
    () => new HttpResponse(new Uint8Array([0, 1, 2, 253, 254, 255]), { status: 201, statusText: 'Made' }),
  ),
  http.get(`${api}/split-text`, () => new HttpResponse(chunked(splitText))),
  http.get(`${api}/stream`, () => {
    const encoder = new TextEncoder()
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of ['one ', 'two ', 'three']) controller.enqueue(encoder.encode(part))
        controller.close()
      },
    })
    return new HttpResponse(stream, { headers: { 'content-type': 'text/plain', 'x-custom': 'kept' } })
  }),
)

/** Text in chunks that split a BOM, a 2-byte and a 4-byte UTF-8 sequence, and an invalid byte. */
const splitText = (() => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('é, 🙂 and '), 0xff, 0x21])
  return [bytes.slice(0, 2), bytes.slice(2, 4), bytes.slice(4, 9), bytes.slice(9)]
})()

function chunked(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })
}

function formData(): FormData {
  const data = new FormData()
  data.append('field', 'value')
  data.append('file', new Blob(['file body'], { type: 'text/plain' }), 'notes.txt')
  return data
}

beforeAll(() => mocks.listen({ onUnhandledFrame: 'error' }))
afterEach(() => mocks.resetHandlers())
afterAll(() => mocks.close())

let pooled: PooledKy
afterEach(async () => {
  expect(pooled.pool.stats()).toMatchObject({ inFlight: 0, queued: 0 })
  await pooled.pool.settle()
})

function fresh(options: ClientOptions = {}): PooledKy {
  pooled = createClient({ retry: 0, ...options, pool: { perOrigin: 1, drainLimit: 0, leaks: 'strict' } })
  return pooled
}

describe('every body method of the pooled Response', () => {
  it.each([
    ['text', '/text', 'hello, pool'],
    ['json', '/json', { n: 1, list: [1, 2] }],
  ] as const)('%s() reads the body and frees the slot', async (method, path, expected) => {
    const res = await fresh().get(`${api}${path}`)
    expect(pooled.pool.stats().inFlight).toBe(1)
    expect(await res[method]()).toEqual(expected)
  })

  it('arrayBuffer(), bytes() and blob() return the exact bytes', async () => {
    const client = fresh()
    const expected = new Uint8Array([0, 1, 2, 253, 254, 255])
    expect(new Uint8Array(await (await client.get(`${api}/binary`)).arrayBuffer())).toEqual(expected)
    expect(await (await client.get(`${api}/binary`)).bytes()).toEqual(expected)
    const blob = await (await client.get(`${api}/binary`)).blob()
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(expected)
  })

  it('formData() parses multipart and urlencoded bodies', async () => {
    const client = fresh()
    const multipart = await (await client.get(`${api}/form`)).formData()
    expect(multipart.get('field')).toBe('value')
    const file = multipart.get('file') as File
    expect({ name: file.name, text: await file.text() }).toEqual({ name: 'notes.txt', text: 'file body' })
    const urlencoded = await (await client.get(`${api}/urlencoded`)).formData()
    expect(Object.fromEntries(urlencoded)).toEqual({ a: '1', b: 'two words' })
  })

  it('ky shortcuts (client.get(url).json() …) work the same', async () => {
    const client = fresh()
    expect(await client.get(`${api}/json`).json()).toEqual({ n: 1, list: [1, 2] })
    expect(await client.get(`${api}/text`).text()).toBe('hello, pool')
    expect(await client.get(`${api}/binary`).bytes()).toEqual(new Uint8Array([0, 1, 2, 253, 254, 255]))
    expect(Object.fromEntries(await client.get(`${api}/urlencoded`).formData())).toEqual({
      a: '1',
      b: 'two words',
    })
  })

  it('keeps status, statusText and headers', async () => {
    const client = fresh()
    const res = await client.get(`${api}/binary`)
    expect({ status: res.status, statusText: res.statusText, ok: res.ok }).toEqual({
      status: 201,
      statusText: 'Made',
      ok: true,
    })
    await res.body?.cancel()
    const streamed = await client.get(`${api}/stream`)
    expect(streamed.headers.get('x-custom')).toBe('kept')
    await streamed.body?.cancel()
  })

  it('streams the body through getReader(), holding the slot until the last chunk', async () => {
    const res = await fresh().get(`${api}/stream`)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    const parts: string[] = []
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      parts.push(decoder.decode(chunk.value))
      expect(pooled.pool.stats().inFlight).toBe(1)
    }
    expect(parts.join('')).toBe('one two three')
  })

  it('a body in several chunks reads whole the same as through the runtime: BOM dropped, split characters joined, bad bytes replaced', async () => {
    const client = fresh()
    const expected = await new Response(chunked(splitText)).text()
    expect(expected).toBe('é, 🙂 and \uFFFD!')
    expect(await client.get(`${api}/split-text`).text()).toBe(expected)
    const bytes = await (await client.get(`${api}/split-text`)).arrayBuffer()
    expect(new Uint8Array(bytes)).toEqual(new Uint8Array(splitText.flatMap((chunk) => [...chunk])))
    // An ArrayBuffer of exactly the body, not a larger buffer that a chunk was a view of.
    expect([bytes instanceof ArrayBuffer, bytes.byteLength]).toEqual([true, 3 + 13 + 2])
  })

  it("arrayBuffer() and bytes() give bytes of their own, as the runtime's do, even when the body is one chunk its producer keeps", async () => {
    // A fetch of the caller's own, whose body stream hands out the very chunk it keeps: msw copies.
    const kept = new Uint8Array([1, 2, 3])
    const client = fresh({ fetch: async () => new Response(chunked([kept])) })
    const buffer = await (await client.get(`${api}/kept`)).arrayBuffer()
    const bytes = await (await client.get(`${api}/kept`)).bytes()
    kept[0] = 9
    expect([...new Uint8Array(buffer)]).toEqual([1, 2, 3])
    expect([...bytes]).toEqual([1, 2, 3])
    expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype)
  })

  it('a clone and the original can be read independently; bodyUsed is tracked per branch', async () => {
    const res = await fresh().get(`${api}/json`)
    const copy = res.clone()
    expect(await copy.text()).toBe('{"n":1,"list":[1,2]}')
    expect([copy.bodyUsed, res.bodyUsed]).toEqual([true, false])
    expect(await res.json()).toEqual({ n: 1, list: [1, 2] })
  })

  it("is the runtime's own Response, not a copy: status, headers and url are its own", async () => {
    const res = await fresh().get(`${api}/binary`)
    expect(res).toBeInstanceOf(Response)
    expect([res.status, res.statusText, res.url]).toEqual([201, 'Made', `${api}/binary`])
    await res.body?.cancel()
  })

  it('res.body asked for, then text(): the stream ends locked and the response used, as the runtime leaves its own', async () => {
    const client = fresh({ fetch: async (input) => fetch(input as Request) })
    const res = await client.get(`${api}/text`)
    const stream = res.body!
    expect([res.bodyUsed, stream.locked]).toEqual([false, false])
    expect(await res.text()).toBe('hello, pool')
    expect([res.bodyUsed, stream.locked, res.body === stream]).toEqual([true, true, true])
    await expect(res.text()).rejects.toThrow(TypeError)
  })

  it('a body the runtime reads itself, past the stand-in (a server returning the response, cache.put), frees its slot and is no leak', async () => {
    // A fetch that gives the runtime's own Response class (msw's may be a subclass, which gets a copy).
    const client = fresh({ fetch: async (input) => fetch(input as Request) })
    const res = await client.get(`${api}/text`)
    expect(Object.getPrototypeOf(Object.getPrototypeOf(res))).toBe(Response.prototype)
    // What a runtime does with a Response handed to it: it reads its own body, not through `res.body`.
    expect(await Response.prototype.text.call(res)).toBe('hello, pool')
    // The next request to the origin (limit 1) needs the slot: the pool finds the body taken, and frees it.
    expect(await client.get(`${api}/json`).json()).toEqual({ n: 1, list: [1, 2] })
    expect(await client.pool.settle()).toEqual([])
  })
})
