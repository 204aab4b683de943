/**
 * A Cloudflare Worker that fans out: `GET /?ids=1,2,3` fetches each item from the upstream API at once
 * through ky-pool's shared `client`, checks the upstream's health with a HEAD it does not need to read,
 * and answers with the items and what the pool saw.
 *
 * Nothing is wrapped and no `ctx` is passed: `client` is imported at module scope, and ky-pool keeps one
 * pool per invocation behind it, so concurrent invocations of this isolate never wait on each other. Every
 * item is requested at once: the platform itself lets 6 per invocation wait for headers and queues the
 * rest (a `createClient({ pool: { awaitingHeaders: 6 } })` at module scope would queue them in ky-pool
 * instead, where they can be aborted, prioritised and counted).
 */
import { client } from 'ky-pool'

export interface Env {
  /** The upstream API's origin, from `vars` in wrangler.jsonc. */
  UPSTREAM: string
}

export interface Item {
  id: string
  name: string
}

export interface FanoutResult {
  items: Item[]
  healthy: boolean
  /** What this invocation's pool did (`stats().totals`), and its limit on requests awaiting headers (`null`: none of its own). */
  pool: { requests: number; leaks: number; reclaimed: number; awaitingHeaders: number }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const ids = (new URL(request.url).searchParams.get('ids') ?? '1,2,3').split(',').filter(Boolean)
    if (ids.length > 50) return Response.json({ error: 'at most 50 ids' }, { status: 400 })

    // `extend` per invocation: new defaults on the same shared pool.
    const api = client.extend({ prefix: env.UPSTREAM })
    const items = await Promise.all(ids.map((id) => api.get(`items/${id}`).json<Item>()))

    // A response we need only the status of: `await using` settles its body on scope exit.
    let healthy: boolean
    {
      await using health = await api.head('health', { throwHttpErrors: false })
      healthy = health.ok
    }

    const { totals } = client.pool.stats() // this invocation's pool
    const result: FanoutResult = {
      items,
      healthy,
      pool: {
        requests: totals.requests,
        leaks: totals.leaks,
        reclaimed: totals.reclaimed,
        awaitingHeaders: client.pool.options.awaitingHeaders,
      },
    }
    return Response.json(result)
  },
}
