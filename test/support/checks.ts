/**
 * A minimal runner for the checks that are scripts rather than test files (the package, consumer types,
 * the examples): `check(name, fn)` runs one named check, sync or async; `done(label)` prints the closing
 * line scripts/test.ts reads (`package: 7 passed, 0 failed`) and sets the exit code (a run that checked
 * nothing fails too).
 */
let passed = 0
let failed = 0

export function check(name: string, fn: () => unknown): void | Promise<void> {
  const started = performance.now()
  const ok = () => {
    passed++
    console.log(`  ✓ ${name} (${Math.round(performance.now() - started)} ms)`)
  }
  const notOk = (error: unknown) => {
    failed++
    // A command run with execFileSync carries what it printed.
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer }
    console.log(`  ✗ ${name}\n${stdout ?? ''}${stderr ?? ''}${(error as Error).stack ?? String(error)}`)
  }
  try {
    const result = fn()
    if (result instanceof Promise) return result.then(ok, notOk)
    ok()
  } catch (error) {
    notOk(error)
  }
}

export function done(label: string): void {
  console.log(`${label}: ${passed} passed, ${failed} failed`)
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0
}
