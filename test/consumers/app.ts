/**
 * A consumer's file, compiled by check.ts against the packed package under each stock tsconfig. Every
 * `@ts-expect-error` below errors only while ky-pool's types are real: if they degrade to `any` (a lib
 * the consumer's tsconfig lacks, a broken exports map), the directive is unused, and that is an error.
 */
import { client, createClient, type PooledResponse, QueueTimeoutError } from 'ky-pool'
import { memoryStore, sharedLimit } from 'ky-pool/shared-limit'
import { assertNoLeaks, createTestClient } from 'ky-pool/testing'

export async function consume(url: string): Promise<number> {
  const res = await client.get(url)
  // @ts-expect-error -- a response has no such method (with `res: any` this line would compile)
  res.notAMethod()
  // @ts-expect-error -- `status` is a number
  const status: string = res.status
  const same: PooledResponse = res

  // `await using` (TypeScript 5.2+): disposal settles the body. Needs AsyncDisposable from ky-pool's types.
  await using disposed = await client.post(url, { json: { a: 1 }, pool: { priority: 1 } })
  // @ts-expect-error -- the disposer takes no argument
  await disposed[Symbol.asyncDispose](1)

  const data = await client.query(url, { json: { q: 1 } }).json<{ n: number }>()
  // @ts-expect-error -- `n` is a number
  data.n.toUpperCase()

  // @ts-expect-error -- a URL is a string, URL or Request
  client.get(42)
  // @ts-expect-error -- perOrigin is a number
  createClient({ pool: { perOrigin: 'six' } })
  // @ts-expect-error -- not a pool option
  createClient({ pool: { perOrign: 6 } })

  const store = memoryStore()
  const shared = createClient({ pool: { shared: sharedLimit({ store, limit: 2 }) } })
  // @ts-expect-error -- pool.shared is made by sharedLimit(), not a plain object
  createClient({ pool: { shared: { store, limit: 2 } } })
  // @ts-expect-error -- the shared limit is a number
  sharedLimit({ store, limit: 'two' })
  await shared.pool.settle()
  await store.close()

  const test = createTestClient({ pool: { perOrigin: 2 } })
  await assertNoLeaks(test)
  // @ts-expect-error -- assertNoLeaks wants a client
  await assertNoLeaks('client')
  const inFlight: number = client.pool.stats().inFlight
  return [status, same].length + inFlight
}

export function waitedFor(error: unknown): string {
  if (!(error instanceof QueueTimeoutError)) return ''
  // @ts-expect-error -- `waited` is a number of ms
  return error.waited.toUpperCase()
}
