import type { LeakReport } from '../trace.ts'
import { KyPoolError } from './base.ts'

/** Thrown by `pool.settle()` in strict mode when bodies were left unread. */
export class LeakError extends KyPoolError {
  override name = 'LeakError'
  readonly leaks: LeakReport[]
  constructor(leaks: LeakReport[]) {
    const first = leaks[0]
    super(
      `ky-pool: ${leaks.length} response ${leaks.length === 1 ? 'body was' : 'bodies were'} never read or cancelled` +
        (first ? `; first: ${first.method} ${first.url}, requested at\n${first.callSite}` : '') +
        '\nRead every body (`.json()`, `.text()`, …), cancel it (`res.body?.cancel()`), or use `await using`.',
    )
    this.leaks = leaks
  }
}
