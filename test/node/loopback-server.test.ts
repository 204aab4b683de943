import { once } from 'node:events'
import http from 'node:http'
import type { Socket } from 'node:net'
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { type LoopbackServer, spawnServer, startServer } from '../support/loopback-server.ts'

async function withServer(fn: (server: LoopbackServer) => Promise<void>): Promise<void> {
  const server = await startServer()
  try {
    await fn(server)
  } finally {
    await server.close()
  }
}

/** Counts of each active resource type, e.g. { TCPSocketWrap: 2, Timeout: 1 }. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1
  return counts
}

describe('loopback server', () => {
  it('listens on 127.0.0.1 with an ephemeral port', async () => {
    await withServer(async (server) => {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
      expect(server.origin).toBe(server.url)
      expect(server.port).toBeGreaterThan(0)
    })
  })

  it('refuses non-loopback hosts', async () => {
    await expect(startServer({ host: '0.0.0.0' })).rejects.toThrow(/loopback/)
  })

  it('counts one connection for sequential requests whose bodies are read (keep-alive reuse)', async () => {
    await withServer(async (server) => {
      const first = await fetch(`${server.url}/bytes?size=1000`)
      expect(await first.text()).toBe('x'.repeat(1000))
      // undici hands a finished keep-alive socket back to its pool one event-loop turn (setImmediate) after
      // the response completes; a request dispatched before that opens a second connection.
      await nextMacrotask()
      const second = await fetch(`${server.url}/json`)
      expect(await second.json()).toEqual({ ok: true })
      expect(second.headers.get('x-connection-id')).toBe(first.headers.get('x-connection-id'))
      expect(server.stats()).toMatchObject({ connections: 1, requests: 2, inFlight: 0, openSockets: 1 })
    })
  })

  it('counts a second connection when an unread 64 KiB body keeps the first one busy', async () => {
    await withServer(async (server) => {
      const unread = await fetch(`${server.url}/bytes?size=65536`)
      const second = await fetch(`${server.url}/json`)
      await second.text()
      expect(server.stats()).toMatchObject({ connections: 2, requests: 2, openSockets: 2 })
      await unread.body?.cancel()
    })
  })

  it('tracks in-flight and peak in-flight with held responses', async () => {
    await withServer(async (server) => {
      const responses = [1, 2, 3].map(() => fetch(`${server.url}/hold?tag=a`).then((res) => res.text()))
      const other = fetch(`${server.url}/hold?tag=b&size=5`).then((res) => res.text())
      await server.waitForRequests(4)
      expect(server.held('a')).toBe(3)
      expect(server.held()).toBe(4)
      expect(server.stats()).toMatchObject({ requests: 4, inFlight: 4, peakInFlight: 4, connections: 4 })

      expect(server.release('a')).toBe(3)
      expect(await Promise.all(responses)).toEqual(['xx', 'xx', 'xx'])
      expect(server.held()).toBe(1)
      expect(server.release()).toBe(1)
      expect(await other).toBe('xxxxx')
      await server.waitForIdle()
      expect(server.stats()).toMatchObject({ inFlight: 0, peakInFlight: 4 })
      expect(server.release()).toBe(0)
    })
  })

  it('holds the rest of the body with phase=body', async () => {
    await withServer(async (server) => {
      const res = await fetch(`${server.url}/hold?tag=t&phase=body&size=4000`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-length')).toBe('4000')
      const reader = res.body!.getReader()
      const first = await reader.read()
      expect(first.value?.byteLength).toBe(2000)
      expect(server.held('t')).toBe(1)
      server.release('t')
      let received = first.value!.byteLength
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        received += chunk.value.byteLength
      }
      expect(received).toBe(4000)
    })
  })

  it('waitForRequests resolves once enough requests arrived, counting from the last reset', async () => {
    await withServer(async (server) => {
      await server.waitForRequests(0)
      const first = fetch(`${server.url}/hold?tag=w`).then((res) => res.text())
      await server.waitForRequests(1)
      expect(server.stats().requests).toBe(1)

      server.reset()
      expect(server.stats()).toMatchObject({ requests: 0, connections: 0, inFlight: 1, peakInFlight: 1 })
      let resolved = false
      const waiting = server.waitForRequests(1).then(() => {
        resolved = true
      })
      server.release('w')
      await first
      expect(resolved).toBe(false)
      await nextMacrotask()
      await (await fetch(`${server.url}/json`)).text()
      await waiting
      expect(resolved).toBe(true)
      expect(server.stats()).toMatchObject({ requests: 1, connections: 0 })
    })
  })

  it('serves the flaky route: F failures per key, then 200, counters cleared by reset()', async () => {
    await withServer(async (server) => {
      const url = `${server.url}/flaky?key=k&fail=2&status=503&retryAfter=1`
      const statuses: Array<[number, string | null]> = []
      for (let i = 0; i < 3; i++) {
        const res = await fetch(url)
        await res.text()
        statuses.push([res.status, res.headers.get('retry-after')])
      }
      expect(statuses).toEqual([
        [503, '1'],
        [503, '1'],
        [200, null],
      ])
      const other = await fetch(`${server.url}/flaky?key=other&fail=1&status=429`)
      expect(await other.json()).toEqual({ error: 429, attempt: 1 })

      server.reset()
      const again = await fetch(url)
      expect(again.status).toBe(503)
      expect(await again.json()).toEqual({ error: 503, attempt: 1 })
    })
  })

  it('errors the client fetch on /reset', async () => {
    await withServer(async (server) => {
      await expect(fetch(`${server.url}/reset?phase=headers`)).rejects.toThrow(TypeError)
      await expect(fetch(`${server.url}/close-before-headers`)).rejects.toThrow(TypeError)

      const res = await fetch(`${server.url}/reset?phase=body`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-length')).toBe('100000')
      await expect(res.arrayBuffer()).rejects.toThrow()
      await server.waitForIdle()
      expect(server.stats()).toMatchObject({ requests: 3, inFlight: 0 })
    })
  })

  it('serves bytes, json, status, redirect, echo and 404 routes', async () => {
    await withServer(async (server) => {
      const plain = await fetch(`${server.url}/bytes?size=70000`)
      expect(plain.headers.get('content-length')).toBe('70000')
      expect((await plain.arrayBuffer()).byteLength).toBe(70000)

      const chunked = await fetch(`${server.url}/bytes?size=40000&chunked=1&type=text`)
      expect(chunked.headers.get('transfer-encoding')).toBe('chunked')
      expect(chunked.headers.get('content-type')).toMatch(/^text\/plain/)
      expect(await chunked.text()).toBe('x'.repeat(40000))

      const json = await fetch(`${server.url}/bytes?size=5000&type=json`)
      const jsonText = await json.text()
      expect(jsonText.length).toBe(5000)
      expect(Object.keys(JSON.parse(jsonText))).toEqual(['pad'])

      const padded = await fetch(`${server.url}/json?size=300`)
      expect(padded.headers.get('content-type')).toMatch(/^application\/json/)
      const paddedText = await padded.text()
      expect(paddedText.length).toBe(300)
      expect(JSON.parse(paddedText)).toMatchObject({ ok: true })

      const noContent = await fetch(`${server.url}/status/204`)
      expect(noContent.status).toBe(204)
      expect(await noContent.text()).toBe('')

      const unavailable = await fetch(`${server.url}/status/503?retryAfter=7`)
      expect(unavailable.status).toBe(503)
      expect(unavailable.headers.get('retry-after')).toBe('7')
      expect(await unavailable.json()).toEqual({ error: 503 })

      const sized = await fetch(`${server.url}/status/500?size=2048`)
      expect((await sized.arrayBuffer()).byteLength).toBe(2048)

      const head = await fetch(`${server.url}/bytes?size=10`, { method: 'HEAD' })
      expect(head.headers.get('content-length')).toBe('10')
      expect(await head.text()).toBe('')

      const redirected = await fetch(`${server.url}/redirect?n=3`)
      expect(redirected.redirected).toBe(true)
      expect(redirected.url).toBe(`${server.url}/redirect?n=0`)
      expect(await redirected.json()).toEqual({ ok: true, redirected: true })

      const manual = await fetch(`${server.url}/redirect-loop`, { redirect: 'manual' })
      expect(manual.status).toBe(302)
      expect(manual.headers.get('location')).toBe('/redirect-loop')
      await manual.text()
      await expect(fetch(`${server.url}/redirect-loop`)).rejects.toThrow(TypeError)

      const echo = await fetch(`${server.url}/echo?a=1`, {
        method: 'POST',
        headers: { 'x-test': 'yes' },
        body: 'hello',
      })
      expect(await echo.json()).toMatchObject({
        method: 'POST',
        url: '/echo?a=1',
        headers: { 'x-test': 'yes' },
        body: 'hello',
      })

      const missing = await fetch(`${server.url}/nope`)
      expect(missing.status).toBe(404)
      expect(await missing.json()).toMatchObject({ error: 404 })

      const delayed = await fetch(`${server.url}/delay?ms=1&size=3`)
      expect(await delayed.text()).toBe('xxx')
    })
  })

  it('streams /endless until the client goes away', async () => {
    await withServer(async (server) => {
      const res = await fetch(`${server.url}/endless`)
      const reader = res.body!.getReader()
      let received = 0
      while (received < 1024 * 1024) {
        const chunk = await reader.read()
        if (chunk.done) throw new Error('endless ended')
        received += chunk.value.byteLength
      }
      await reader.cancel()
      await server.waitForIdle()
      expect(server.stats().inFlight).toBe(0)
    })
  })

  it('stalls /stall until the server closes', async () => {
    const server = await startServer()
    const res = await fetch(`${server.url}/stall`)
    expect(res.headers.get('content-length')).toBe(String(1024 * 1024))
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(first.value?.byteLength).toBe(1024)
    const rest = reader.read()
    await server.close()
    await expect(rest).rejects.toThrow()
  })

  it('listens on ::1 when asked', async () => {
    const server = await startServer({ host: '::1' })
    try {
      expect(server.url).toBe(`http://[::1]:${server.port}`)
      expect(await (await fetch(`${server.url}/json`)).json()).toEqual({ ok: true })
    } finally {
      await server.close()
    }
  })

  it('close() releases everything and leaves no active handles', async () => {
    const before = activeResources()
    const server = await startServer()
    const agent = new http.Agent({ keepAlive: true })
    const clientSockets = new Set<Socket>()

    const get = (path: string) =>
      new Promise<http.IncomingMessage | Error>((resolve) => {
        const req = http.get(`${server.url}${path}`, { agent }, resolve)
        req.on('socket', (socket) => clientSockets.add(socket))
        req.on('error', resolve)
      })

    // A held request, a stalled body, an endless body and an idle keep-alive connection.
    const held = get('/hold?tag=x')
    const stalled = await get('/stall')
    const endless = await get('/endless')
    if (stalled instanceof Error || endless instanceof Error) throw new Error('unexpected error')
    for (const res of [stalled, endless]) {
      res.on('error', () => {})
      res.resume()
    }
    const idle = await get('/json')
    if (idle instanceof Error) throw idle
    idle.resume()
    await once(idle, 'end')
    await server.waitForRequests(4)
    expect(server.held('x')).toBe(1)
    expect(server.stats().openSockets).toBe(4)

    await server.close()
    await server.close() // idempotent
    expect(server.stats()).toMatchObject({ openSockets: 0, inFlight: 0 })
    expect(server.held()).toBe(0)
    await Promise.all([...clientSockets].map((socket) => (socket.closed ? undefined : once(socket, 'close'))))
    await held
    agent.destroy()

    const after = activeResources()
    for (const [name, count] of Object.entries(after)) {
      expect({ name, count }).toEqual({ name, count: Math.min(count, before[name] ?? 0) })
    }
    await expect(server.waitForRequests(100)).rejects.toThrow(/closed/)
  })

  it('spawnServer runs the CLI in a child process and reports stats over the control port', async () => {
    const spawned = await spawnServer()
    try {
      expect(spawned.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      for (let i = 0; i < 2; i++) {
        await (await fetch(`${spawned.url}/json`)).text()
        await nextMacrotask()
      }
      expect(await spawned.stats()).toMatchObject({ connections: 1, requests: 2, inFlight: 0 })

      const held = fetch(`${spawned.url}/hold?tag=c`).then((res) => res.text())
      expect(await spawned.release('nothing')).toBe(0)
      await spawned.waitForRequests(3)
      expect(await spawned.stats()).toMatchObject({ requests: 3, inFlight: 1 })
      expect(await spawned.release('c')).toBe(1)
      expect(await held).toBe('xx')

      await spawned.reset()
      expect(await spawned.stats()).toMatchObject({ connections: 0, requests: 0, peakInFlight: 0 })
    } finally {
      await spawned.close()
    }
    await spawned.close()
  })
})
