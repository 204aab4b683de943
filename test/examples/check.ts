/**
 * What the examples' checks share: the runner (test/support/checks.ts: `check`, `done`), a bound on a
 * hanging promise, and a JSONC reader for wrangler.jsonc.
 */
export { check, done } from '../support/checks.ts'

/** `promise`, or a rejection naming `what` once `ms` have passed: a hang fails instead of stalling the run. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** The JSON in a JSONC file (wrangler.jsonc): `//` and `/* *\/` comments and trailing commas removed. */
export function parseJsonc(text: string): unknown {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      const end = /"(?:[^"\\]|\\.)*"/y
      end.lastIndex = i
      const string = end.exec(text)?.[0] ?? c
      out += string
      i += string.length - 1
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
      out += '\n'
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2) + 1
    } else out += c
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'))
}
