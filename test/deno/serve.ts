/**
 * The shared msw handlers served over real HTTP with `Deno.serve` on loopback, so that every response
 * body is a real fetch resource that Deno's resource sanitizer tracks (a mocked body from the
 * interceptor is a plain JS stream it cannot see).
 */
import { getResponse, type RequestHandler } from 'msw'

export function serveHandlers(handlers: RequestHandler[]): { url: string; shutdown(): Promise<void> } {
  const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, async (request) => {
    // A copy without the server's request.signal: reading that one makes Deno warn about its legacy abort.
    const copy = new Request(request.url, { method: request.method, headers: request.headers })
    return (await getResponse(handlers, copy)) ?? new Response('no msw handler', { status: 404 })
  })
  return { url: `http://127.0.0.1:${server.addr.port}`, shutdown: () => server.shutdown() }
}
