/**
 * What an origin says about its pace, read from response headers: `Retry-After` (RFC 9110 §10.2.3:
 * delta-seconds or an HTTP-date), the IETF `RateLimit` / `RateLimit-Policy` fields
 * (draft-ietf-httpapi-ratelimit-headers-10/-11: `RateLimit: "default";r=5;t=2`, `RateLimit-Policy:
 * "default";q=100;w=60`, Structured Field lists of items with parameters), and the common
 * `X-RateLimit-Limit` / `-Remaining` / `-Reset` trio (reset in epoch seconds, as GitHub sends it, or in
 * delta-seconds, as many others do). Pure functions of header values; times are ms since the epoch.
 */

/** What one response said. `malformed` names a header whose value was refused (absurd or unparsable). */
export interface PaceAdvice {
  /** Retry-After, as the time it points to. */
  retryAt?: number
  /** Requests left in the current budget, and when it is whole again. */
  remaining?: number
  resetAt?: number
  /** The budget's size (`X-RateLimit-Limit`, the policy's `q`) and its window in ms (the policy's `w`). */
  quota?: number
  window?: number
  malformed?: string
}

/** Delta-seconds above this are not a pause but an error (or an attack): a year. */
const absurdSeconds = 365 * 24 * 3600
/** An X-RateLimit-Reset above this is epoch seconds (2001-09-09), below it delta-seconds. */
const epochFloor = 1e9

/** Headers worth reading on a response that is not a 429/503: two lookups (see the pool's hot path). */
export function hasBudgetHeaders(headers: Headers): boolean {
  return headers.has('ratelimit') || headers.has('x-ratelimit-remaining')
}

/** Reads every pace header of a response received at `now`. */
export function readAdvice(headers: Headers, now: number): PaceAdvice {
  const advice: PaceAdvice = {}
  const retryAfter = headers.get('retry-after')
  if (retryAfter !== null) {
    const at = retryAt(retryAfter, now)
    if (at === undefined) advice.malformed = 'retry-after'
    else advice.retryAt = at
  }
  const ietf = headers.get('ratelimit')
  if (ietf !== null) readIetf(ietf, headers.get('ratelimit-policy'), now, advice)
  else readLegacy(headers, now, advice)
  return advice
}

/** `Retry-After` as an absolute time: delta-seconds or an HTTP-date; undefined when malformed or absurd. */
export function retryAt(value: string, now: number): number | undefined {
  const text = value.trim()
  if (/^\d+$/.test(text)) {
    const seconds = Number(text)
    return seconds <= absurdSeconds ? now + seconds * 1000 : undefined
  }
  // An HTTP-date names a weekday and a GMT time ("Sun, 06 Nov 1994 08:49:37 GMT"); Date.parse also takes
  // the obsolete RFC 850 and asctime forms. Digits alone never reach here (above).
  if (!/[a-z]/i.test(text)) return undefined
  const at = Date.parse(text)
  if (Number.isNaN(at) || at - now > absurdSeconds * 1000) return undefined
  return Math.max(now, at)
}

/** The IETF fields: of several policies, the one with the fewest requests left binds. */
function readIetf(field: string, policyField: string | null, now: number, advice: PaceAdvice): void {
  const items = parseList(field)
  if (items === undefined) {
    advice.malformed = 'ratelimit'
    return
  }
  let binding: Item | undefined
  for (const item of items) {
    const r = item.params.get('r')
    if (r === undefined || r < 0) continue
    if (binding === undefined || r < binding.params.get('r')!) binding = item
  }
  if (binding === undefined) return
  advice.remaining = binding.params.get('r')
  const t = binding.params.get('t')
  if (t !== undefined && t >= 0 && t <= absurdSeconds) advice.resetAt = now + t * 1000
  const policy =
    policyField === null ? undefined : parseList(policyField)?.find((p) => p.name === binding.name)
  const q = policy?.params.get('q')
  const w = policy?.params.get('w')
  if (q !== undefined && q > 0) advice.quota = q
  if (w !== undefined && w > 0 && w <= absurdSeconds) advice.window = w * 1000
}

function readLegacy(headers: Headers, now: number, advice: PaceAdvice): void {
  const remaining = headers.get('x-ratelimit-remaining')
  if (remaining === null) return
  const r = Number(remaining)
  if (!/^\s*\d+\s*$/.test(remaining)) {
    advice.malformed = 'x-ratelimit-remaining'
    return
  }
  advice.remaining = r
  const limit = Number(headers.get('x-ratelimit-limit') ?? Number.NaN)
  if (Number.isInteger(limit) && limit > 0) advice.quota = limit
  const reset = headers.get('x-ratelimit-reset')
  if (reset === null) return
  const value = Number(reset)
  if (!Number.isFinite(value) || value < 0) {
    advice.malformed = 'x-ratelimit-reset'
    return
  }
  const at = value > epochFloor ? value * 1000 : now + value * 1000
  if (at - now > absurdSeconds * 1000) advice.malformed = 'x-ratelimit-reset'
  else advice.resetAt = Math.max(now, at)
}

interface Item {
  name: string
  params: Map<string, number>
}

/**
 * A Structured Field list (RFC 9651) of string or token items with numeric parameters, as the draft's two
 * fields use it; other parameter types are skipped. Undefined when the field does not parse.
 */
function parseList(field: string): Item[] | undefined {
  const items: Item[] = []
  for (const member of field.split(',')) {
    const [head, ...params] = member.split(';').map((part) => part.trim())
    const name =
      /^"([^"\\]*)"$/.exec(head ?? '')?.[1] ?? (/^[a-z*][\w:.%*/-]*$/i.test(head ?? '') ? head : undefined)
    if (name === undefined) return undefined
    const item: Item = { name, params: new Map() }
    for (const param of params) {
      const [key, value] = param.split('=').map((part) => part.trim())
      if (key === undefined || !/^[a-z*][a-z0-9_.*-]*$/.test(key)) return undefined
      if (value !== undefined && /^-?\d{1,15}(\.\d{1,3})?$/.test(value)) item.params.set(key, Number(value))
    }
    items.push(item)
  }
  return items
}
