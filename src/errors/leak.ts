import type { LeakReport } from '../trace.ts'
import { KyPoolError } from './base.ts'

/** Thrown by `pool.settle()` in strict mode when bodies were left unread. */
export class LeakError extends KyPoolError {
  override name = 'LeakError'
  readonly leaks: LeakReport[]
  constructor(leaks: LeakReport[]) {
    // Every leak with its call site (a test that leaked twice must see both lines), the first 20 in full.
    const shown = leaks.slice(0, 20).map(
      (leak, i) =>
        `${i + 1}. ${leak.method} ${leak.url} (${leak.status}), found by ${leak.detectedBy}, requested at\n` +
        leak.callSite
          .split('\n')
          .map((line) => `   ${line.trim()}`)
          .join('\n'),
    )
    if (leaks.length > shown.length)
      shown.push(`… and ${leaks.length - shown.length} more (error.leaks has them all)`)
    super(
      `ky-pool: ${leaks.length} response ${leaks.length === 1 ? 'body was' : 'bodies were'} never read or cancelled:\n` +
        shown.join('\n') +
        '\nRead every body (`.json()`, `.text()`, …), cancel it (`res.body?.cancel()`), or use `await using`.',
    )
    this.leaks = leaks
  }
}
