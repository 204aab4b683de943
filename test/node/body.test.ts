/**
 * The tracked body alone (src/body.ts), over a ReadableStream this test feeds by hand: no pool, no
 * fetch. It tells exactly once how the body settled; each branch (the response's, one per clone) reads
 * every chunk once, in order; a drain takes an untouched body into memory within a limit and a
 * deadline; `dispose` and `fail` end it for good.
 */
import { describe, expect, it } from 'vitest'
import { TrackedBody } from '../../src/body.ts'
import type { SettleHow } from '../../src/lifecycle.ts'

/** A source whose chunks the test pushes (`push`, `end`, `error`), and what the body told of its end. */
function tracked(declaredLength?: number) {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let cancelled: unknown = 'not cancelled'
  const source = new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c
      },
      cancel: (reason) => {
        cancelled = reason
      },
    },
    { highWaterMark: 0 },
  )
  const settled: [SettleHow, number][] = []
  const body = new TrackedBody(source, {
    onSettle: (how, bytes) => settled.push([how, bytes]),
    declaredLength: () => declaredLength,
  })
  return {
    body,
    settled,
    cancelled: () => cancelled,
    push: (...bytes: number[]) => controller.enqueue(new Uint8Array(bytes)),
    end: () => controller.close(),
    error: (reason: unknown) => controller.error(reason),
  }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  const bytes: number[] = []
  for await (const chunk of stream) bytes.push(...chunk)
  return bytes
}

describe('TrackedBody: branches', () => {
  it('the response and its clone each read every chunk once, in order; the body settles once, as read', async () => {
    const { body, settled, push, end } = tracked()
    const first = body.openStream()
    const second = body.openStream()
    push(1, 2)
    push(3)
    end()
    expect(await readAll(first.stream)).toEqual([1, 2, 3])
    expect(await readAll(second.stream)).toEqual([1, 2, 3])
    expect(settled).toEqual([['read', 3]])
    expect(body.touched).toBe(true)
  })

  it('a clone starts where its original stands: chunks its original has read are not replayed', async () => {
    const { body, push, end } = tracked()
    const original = body.openStream()
    push(1)
    const reader = original.stream.getReader()
    expect((await reader.read()).value).toEqual(new Uint8Array([1]))
    push(2)
    end()
    const clone = body.cloneStream(original.branch)
    expect(await readAll(clone.stream)).toEqual([2])
    expect((await reader.read()).value).toEqual(new Uint8Array([2]))
  })

  it('cancelling one branch while another is live does not end the body; cancelling the last does', async () => {
    const { body, settled, cancelled, push } = tracked()
    const first = body.openStream()
    const second = body.openStream()
    await first.stream.cancel('first gone')
    expect(settled).toEqual([])
    expect(first.branch.used).toBe(true)
    push(7)
    await second.stream.cancel('second gone')
    expect(settled).toEqual([['cancelled', 0]])
    expect(cancelled()).toBe('second gone')
  })

  it('a branch has no stream until one is asked for: readAll reads the source directly', async () => {
    const { body, settled, push, end } = tracked()
    const branch = body.branch()
    push(4, 5)
    push(6)
    end()
    expect([...(await body.readAll(branch, true))]).toEqual([4, 5, 6])
    expect(settled).toEqual([['read', 3]])
  })
})

describe('TrackedBody: drain', () => {
  it('an untouched body that fits the limit is taken into memory, settles as drained, and stays readable', async () => {
    const { body, settled, push, end } = tracked(3)
    const { stream } = body.openStream()
    const draining = body.drain(10, performance.now() + 1000)
    push(1, 2)
    push(3)
    end()
    expect(await draining).toBe('settled')
    expect(settled).toEqual([['drained', 3]])
    expect(body.touched).toBe(false)
    expect(await readAll(stream)).toEqual([1, 2, 3])
  })

  it('a body declared larger than the limit is declined at once, untouched and unsettled', async () => {
    const { body, settled } = tracked(100)
    body.openStream()
    expect(body.canDrain(10)).toBe(false)
    expect(await body.drain(10, performance.now() + 1000)).toBe('declined')
    expect(settled).toEqual([])
  })

  it('a body that turns out larger than the limit is declined once past it, and not drained again', async () => {
    const { body, push } = tracked()
    body.openStream()
    const draining = body.drain(2, performance.now() + 1000)
    push(1, 2)
    push(3)
    expect(await draining).toBe('declined')
    expect(body.canDrain(100)).toBe(false)
  })

  it('a drain whose deadline comes first is late; the chunks it read stay queued for the reader', async () => {
    const { body, settled, push, end } = tracked()
    const { stream } = body.openStream()
    const draining = body.drain(100, performance.now() + 20)
    push(1)
    expect(await draining).toBe('late')
    expect(settled).toEqual([])
    push(2)
    end()
    expect(await readAll(stream)).toEqual([1, 2])
    expect(settled).toEqual([['read', 2]])
  })

  it('a touched body is never drained', async () => {
    const { body, push } = tracked()
    const { stream } = body.openStream()
    push(1)
    await stream.getReader().read()
    expect(await body.drain(100, performance.now() + 1000)).toBe('declined')
  })
})

describe('TrackedBody: dispose and fail', () => {
  it('dispose of the last branch takes in a small rest, then keeps nothing: the body settles as drained', async () => {
    const { body, settled, push, end } = tracked(2)
    const { branch } = body.openStream()
    const disposing = body.dispose(branch, 10, performance.now() + 1000, new Error('disposed'))
    push(1, 2)
    end()
    await disposing
    expect(settled).toEqual([['drained', 2]])
    expect(body.touched).toBe(true)
  })

  it('dispose of a body larger than the limit cancels it with the reason', async () => {
    const { body, settled, cancelled } = tracked(1000)
    const { branch } = body.openStream()
    const reason = new Error('disposed')
    await body.dispose(branch, 10, performance.now() + 1000, reason)
    expect(settled).toEqual([['cancelled', 0]])
    expect(cancelled()).toBe(reason)
    expect(body.failure).toBe(reason)
  })

  it('dispose of one branch while a clone is live closes that branch only', async () => {
    const { body, settled, push, end } = tracked()
    const first = body.openStream()
    const second = body.openStream()
    await body.dispose(first.branch, 10, performance.now() + 1000, new Error('disposed'))
    expect(settled).toEqual([])
    push(9)
    end()
    expect(await readAll(second.stream)).toEqual([9])
    expect(settled).toEqual([['read', 1]])
  })

  it('fail cancels the source; a reader gets the chunks already queued, then the error', async () => {
    const { body, settled, cancelled, push } = tracked()
    const { stream } = body.openStream()
    const draining = body.drain(100, performance.now() + 20)
    push(1)
    await draining
    const error = new Error('reclaimed')
    body.fail(error)
    expect(settled).toEqual([['cancelled', 1]])
    expect(cancelled()).toBe(error)
    const reader = stream.getReader()
    expect((await reader.read()).value).toEqual(new Uint8Array([1]))
    await expect(reader.read()).rejects.toBe(error)
    body.fail(new Error('again')) // a settled body is left alone
    expect(settled).toHaveLength(1)
  })

  it('a source that errors settles the body as errored, and its readers get the error', async () => {
    const { body, settled, error } = tracked()
    const { stream } = body.openStream()
    const reading = readAll(stream)
    const reason = new Error('connection reset')
    error(reason)
    await expect(reading).rejects.toBe(reason)
    expect(settled).toEqual([['errored', 0]])
  })

  it('a source the runtime took itself (locked by a reader not ours) counts as touched and settles as read', () => {
    const { body, settled } = lockedBody()
    expect(body.takenNatively).toBe(true)
    expect(body.touched).toBe(true)
    expect(settled).toEqual([['read', 0]])
  })
})

/** A tracked body whose source someone else locked before the body read it. */
function lockedBody() {
  const source = new ReadableStream<Uint8Array>()
  const settled: [SettleHow, number][] = []
  const body = new TrackedBody(source, {
    onSettle: (how, bytes) => settled.push([how, bytes]),
    declaredLength: () => undefined,
  })
  source.getReader() // the runtime's reader
  return { body, settled }
}
