/**
 * The Durable Object's book (src/durable-object/ledger.ts) alone, on an explicit clock: the object in
 * real workerd is tested by test/node/durable-object.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { type Holder, Ledger, TOKEN_BLOCK } from '../../src/durable-object/ledger.ts'

function book() {
  const stored = new Map<string, number>()
  const highWater = new Map<string, number>()
  const ledger = new Ledger({
    granted: (key, token, ttl, reserve) => {
      stored.set(`${key}#${token}`, ttl)
      if (reserve !== undefined) highWater.set(key, reserve)
    },
    freed: (key, token) => stored.delete(`${key}#${token}`),
  })
  return { ledger, stored, highWater }
}

const holder = (ttl = 1_000): Holder => ({ ttl })

describe('the Durable Object ledger', () => {
  it('grants up to the limit at once, then keeps waiters FIFO and answers one when a permit frees', () => {
    const { ledger, stored } = book()
    const a = holder()
    const b = holder()
    expect(ledger.acquire(a, 'k', 2, 1, 0, () => {})).toEqual([1])
    expect(ledger.acquire(a, 'k', 2, 1, 0, () => {})).toEqual([2])
    const answers: number[][] = []
    expect(ledger.acquire(b, 'k', 2, 1, 0, (tokens) => answers.push(tokens))).toBeUndefined()
    expect(ledger.acquire(a, 'k', 2, 1, 0, (tokens) => answers.push(tokens))).toBeUndefined()
    expect(ledger.view('k')).toEqual({ held: 2, queued: 2, token: 2 })
    ledger.release('k', [1], 5)
    expect(answers).toEqual([[3]])
    expect([...stored.keys()]).toEqual(['k#2', 'k#3'])
  })

  it('a batch is answered with the permits that are free, as soon as one is', () => {
    const { ledger } = book()
    const a = holder()
    expect(ledger.acquire(a, 'k', 3, 5, 0, () => {})).toEqual([1, 2, 3])
    let answer: number[] | undefined
    ledger.acquire(holder(), 'k', 3, 5, 0, (tokens) => {
      answer = tokens
    })
    ledger.release('k', [2, 3], 1)
    expect(answer).toEqual([4, 5])
  })

  it('a lease whose holder stops refreshing expires at its TTL on the ledger clock; a refreshed one does not', () => {
    const { ledger } = book()
    const stale = holder(100)
    const live = holder(100)
    ledger.acquire(stale, 'k', 2, 1, 0, () => {})
    ledger.acquire(live, 'k', 2, 1, 0, () => {})
    let answer: number[] | undefined
    ledger.acquire(holder(), 'k', 2, 1, 0, (tokens) => {
      answer = tokens
    })
    expect(ledger.nextExpiry()).toBe(100)
    expect(ledger.refresh(live, 60)).toBe(1)
    expect(ledger.expire(99)).toBe(0)
    expect(ledger.expire(100)).toBe(1)
    expect(answer).toEqual([3])
    expect(ledger.view('k').held).toBe(2)
    expect(ledger.nextExpiry()).toBe(160)
  })

  it('a holder that goes away gives back what it held and its waits are answered with nothing', () => {
    const { ledger, stored } = book()
    const gone = holder()
    ledger.acquire(gone, 'k', 1, 1, 0, () => {})
    let cancelled: number[] | undefined
    ledger.acquire(gone, 'k', 1, 1, 0, (tokens) => {
      cancelled = tokens
    })
    let other: number[] | undefined
    ledger.acquire(holder(), 'k', 1, 1, 0, (tokens) => {
      other = tokens
    })
    ledger.drop(gone, 10)
    expect(cancelled).toEqual([])
    expect(other).toEqual([2])
    expect(stored.size).toBe(1)
  })

  it('cancel answers only that holder’s waits for that key, with nothing', () => {
    const { ledger } = book()
    const a = holder()
    ledger.acquire(a, 'k', 1, 1, 0, () => {})
    const answers: string[] = []
    ledger.acquire(a, 'k', 1, 1, 0, (tokens) => answers.push(`a:${tokens}`))
    ledger.acquire(holder(), 'k', 1, 1, 0, (tokens) => answers.push(`b:${tokens}`))
    ledger.cancel(a, 'k', 0)
    expect(answers).toEqual(['a:'])
    expect(ledger.view('k')).toMatchObject({ held: 1, queued: 1 })
  })

  it('after a restart, tokens keep growing past every token handed out before, and stored leases live one TTL from the restart', () => {
    const first = book()
    for (let i = 0; i < 3; i++) first.ledger.acquire(holder(), 'k', 5, 1, 0, () => {})
    expect(first.highWater.get('k')).toBe(1 + TOKEN_BLOCK)
    const second = book()
    second.ledger.restoreTokens('k', first.highWater.get('k')!)
    second.ledger.restoreLease('k', 3, 500, 10_000)
    expect(second.ledger.view('k')).toMatchObject({ held: 1 })
    expect(second.ledger.nextExpiry()).toBe(10_500)
    const [token] = second.ledger.acquire(holder(), 'k', 5, 1, 10_000, () => {})!
    expect(token).toBeGreaterThan(3)
    expect(token).toBe(1 + TOKEN_BLOCK)
  })
})
