/** Error messages count in the right number: "1 request", never "1 requests". */
import { describe, expect, it } from 'vitest'
import {
  BodyIdleTimeoutError,
  BodyReclaimedError,
  LeakError,
  type LeakReport,
  QueueFullError,
} from '../../src/index.ts'

const request = { method: 'GET', url: 'https://a.example/x', origin: 'https://a.example' }
const messages = (count: number) => [
  new QueueFullError(request, 1, count).message,
  new BodyIdleTimeoutError(request, 100, count).message,
  new BodyReclaimedError(request, 'pressure', 10, 1, count).message,
  new LeakError(
    Array.from(
      { length: count },
      () => ({ method: 'GET', url: request.url, callSite: '' }) as unknown as LeakReport,
    ),
  ).message,
]

describe('counts in error messages', () => {
  it('one: singular nouns ("1 request", "1 byte", "1 response body")', () => {
    const [queueFull, idle, reclaimed, leak] = messages(1)
    expect(queueFull).toContain('already has 1 request queued')
    expect(idle).toContain('after 1 byte,')
    expect(reclaimed).toContain('(1 byte)')
    expect(leak).toContain('1 response body was')
    for (const message of messages(1)) expect(message).not.toMatch(/\b1 (requests|bytes|bodies)\b/)
  })

  it('two and zero: plural nouns', () => {
    const [queueFull, idle, reclaimed, leak] = messages(2)
    expect(queueFull).toContain('already has 2 requests queued')
    expect(idle).toContain('after 2 bytes,')
    expect(reclaimed).toContain('(2 bytes)')
    expect(leak).toContain('2 response bodies were')
    expect(messages(0)[1]).toContain('after 0 bytes,')
  })
})
