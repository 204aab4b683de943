import { redactUrl } from '../redact.ts'
import { KyPoolError } from './base.ts'

/** A pool option has a value ky-pool cannot use. Thrown by `createClient`, never at request time. */
export class PoolConfigError extends KyPoolError {
  override name = 'PoolConfigError'
  /** The option path, e.g. `pool.perOrigin` or `pool.origins["https://a.example"]`. */
  readonly option: string
  readonly value: unknown

  constructor(option: string, value: unknown, expected: string) {
    super(`ky-pool: ${option} must be ${expected}; got ${describeValue(value)}.`)
    this.option = option
    this.value = value
  }
}

/** A request URL (or an `origins` key) is not an absolute http(s) URL, so it has no origin to count. */
export class InvalidUrlError extends KyPoolError {
  override name = 'InvalidUrlError'
  constructor(url: string, why: string) {
    super(`ky-pool: cannot pool a request to ${JSON.stringify(redactUrl(url).slice(0, 200))}: ${why}.`)
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value)
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 100))
  if (value === null) return 'null'
  return typeof value
}
