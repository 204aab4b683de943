/**
 * `ky-pool/web-locks` in Deno, which has `navigator.locks` (and no IndexedDB: tokens are local). Two
 * stores share a limit of 1; Deno's op and resource sanitizers (on for every test) fail a store that
 * leaves a lock request, a timer or a channel behind once closed.
 */
import assert from 'node:assert/strict'
import { webLocksStore } from '../../src/web-locks.ts'

const sanitized = { sanitizeOps: true, sanitizeResources: true }

interface LockInfo {
  name?: string
}
/** Deno's type library has no Web Locks types, though the runtime has them. */
const locks = (
  navigator as unknown as { locks: { query(): Promise<{ held?: LockInfo[]; pending?: LockInfo[] }> } }
).locks

Deno.test('two stores share a limit of 1: the second waits until the first releases', sanitized, async () => {
  const prefix = `deno-${crypto.randomUUID()}`
  const [a, b] = [webLocksStore({ prefix }), webLocksStore({ prefix })]
  const first = await a.acquire('k', 1)
  let granted = false
  const second = b.acquire('k', 1).then((permit) => {
    granted = true
    return permit
  })
  const snapshot = await locks.query()
  assert.equal(granted, false)
  assert.equal(snapshot.held?.filter((lock) => lock.name?.startsWith(prefix)).length, 1)
  first.release()
  const next = await second
  assert.ok(next.token > first.token)
  assert.equal(a.fencing, 'local')
  next.release()
  await Promise.all([a.close(), b.close()])
})

Deno.test('an abort withdraws the waiter; close leaves nothing held or queued', sanitized, async () => {
  const prefix = `deno-${crypto.randomUUID()}`
  const [a, b] = [webLocksStore({ prefix }), webLocksStore({ prefix })]
  const held = await a.acquire('k', 1)
  const controller = new AbortController()
  const waiting = b.acquire('k', 1, { signal: controller.signal })
  controller.abort(new Error('gave up'))
  await assert.rejects(waiting, /gave up/)
  held.release()
  await Promise.all([a.close(), b.close()])
  const snapshot = await locks.query()
  const ours = (list: LockInfo[] | undefined) => list?.filter((lock) => lock.name?.startsWith(prefix)) ?? []
  assert.deepEqual([ours(snapshot.held), ours(snapshot.pending)], [[], []])
})
