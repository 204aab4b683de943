/**
 * A minimal runner for the examples' checks, which are scripts rather than test files (each drives a
 * real runtime: workerd, Deno, Chromium). `check(name, fn)` runs one named check; `done()` prints the
 * closing line scripts/test.ts reads (`example worker: 3 passed, 0 failed`) and sets the exit code.
 */
let passed = 0
let failed = 0

export async function check(name: string, fn: () => Promise<void>): Promise<void> {
  const started = performance.now()
  try {
    await fn()
    passed++
    console.log(`  ✓ ${name} (${Math.round(performance.now() - started)} ms)`)
  } catch (error) {
    failed++
    console.log(`  ✗ ${name}\n${(error as Error).stack ?? String(error)}`)
  }
}

export function done(label: string): void {
  console.log(`${label}: ${passed} passed, ${failed} failed`)
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0
}

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
