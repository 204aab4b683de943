/**
 * `npm test`: every runner, one after the other, each whatever the previous one did (a `&&` chain used to
 * stop Deno, Bun and the package check at the first failure). Output is streamed as it comes; each
 * runner's counts are read from it, and the last line is `N passed, N failed` summed over all of them,
 * the line CI reads. Exit code 1 when anything failed.
 *
 * To add a runner, add a line to `runners`. A script of our own prints `<name>: N passed, N failed` (see
 * test/package/check.ts) and `counts: ownLine`; `ifExists` skips a runner whose file is not there yet.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import { redisServerPath } from '../test/support/redis-server.ts'
import { chromiumPath } from './chromium.ts'

interface Counts {
  passed: number
  failed: number
}

interface Runner {
  name: string
  command: string[]
  /** Reads the runner's counts from its output; a check with no counts of its own is 1 by exit code. */
  counts?: (output: string) => Counts | undefined
  /** Skipped (and not counted) when this file does not exist. */
  ifExists?: string
}

const number = (text: string, pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0)
/** `N passed` and `N failed` from one summary line, when there is one. */
const countsIn = (line: string | undefined): Counts | undefined =>
  line === undefined
    ? undefined
    : { passed: number(line, /(\d+) passed/), failed: number(line, /(\d+) failed/) }

/** vitest: `Tests  1 failed | 383 passed | 1 skipped (385)`, in that order or another. */
function vitestCounts(output: string): Counts | undefined {
  return countsIn(/^\s*Tests\s+\d.*$/m.exec(output)?.[0])
}

/** deno: `ok | 34 passed (3 steps) | 0 failed | 1 ignored (1s)`, or `FAILED | …`. */
function denoCounts(output: string): Counts | undefined {
  return countsIn(/^(?:ok|FAILED) \| \d+ passed.*$/m.exec(output)?.[0])
}

/** bun: ` 31 pass` and ` 0 fail`, each on a line of its own. */
function bunCounts(output: string): Counts | undefined {
  if (!/^\s*\d+ pass$/m.test(output)) return undefined
  return { passed: number(output, /^\s*(\d+) pass$/m), failed: number(output, /^\s*(\d+) fail$/m) }
}

/** Our own scripts: `package: 5 passed, 0 failed`, the last such line. */
function ownLine(output: string): Counts | undefined {
  return countsIn(output.match(/^[\w -]+: \d+ passed, \d+ failed$/gm)?.pop())
}

const node = process.execPath // the project's Node 24 (npm test runs on it), not the system's
const runners: Runner[] = [
  { name: 'typecheck', command: ['tsc', '-p', 'tsconfig.json', '--noEmit'] },
  { name: 'lint', command: ['biome', 'check', '.'] },
  { name: 'vitest', command: ['vitest', 'run'], counts: vitestCounts },
  { name: 'deno', command: ['deno', 'test', '-A', 'test/deno/'], counts: denoCounts },
  { name: 'bun', command: ['bun', 'test', './test/bun/'], counts: bunCounts },
  { name: 'package', command: [node, 'test/package/check.ts'], counts: ownLine },
  {
    name: 'consumers',
    command: [node, 'test/consumers/check.ts'],
    counts: ownLine,
    ifExists: 'test/consumers/check.ts',
  },
  { name: 'size', command: [node, 'test/size/check.ts'], counts: ownLine, ifExists: 'test/size/check.ts' },
  // Every ```ts block of README.md and docs/*.md, type-checked against src/.
  { name: 'readme', command: [node, 'test/readme/check.ts'], counts: ownLine },
  // The examples, each in its runtime (test/examples/).
  { name: 'example worker', command: [node, 'test/examples/worker.ts'], counts: ownLine },
  { name: 'example deno', command: [node, 'test/examples/deno.ts'], counts: ownLine },
  { name: 'example browser', command: [node, 'test/examples/browser.ts'], counts: ownLine },
]

const root = resolve(import.meta.dirname, '..')
// So that `node scripts/test.ts` finds the tools as `npm test` does; NO_COLOR because Deno colours a pipe
// when FORCE_COLOR is set at all (even to 0), and colour codes split the lines the counts are read from.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: [join(root, 'node_modules/.bin'), process.env.PATH].join(delimiter),
  NO_COLOR: '1',
}
delete env.FORCE_COLOR

/** Runs one command, streaming its output; resolves with the output (colour codes removed) and exit code. */
function run(command: string[]): Promise<{ output: string; code: number }> {
  return new Promise((done) => {
    const [file, ...args] = command as [string, ...string[]]
    const child = spawn(file, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const take = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
      to.write(chunk)
      output += chunk.toString()
    }
    child.stdout.on('data', take(process.stdout))
    child.stderr.on('data', take(process.stderr))
    child.on('error', (error) => {
      output += `\n${error.message}`
      console.error(`${file}: ${error.message}`)
    })
    child.on('close', (code) => done({ output: stripVTControlCharacters(output), code: code ?? 1 }))
  })
}

/**
 * A runner that exits non-zero having reported no failure (a crash, a config error) counts one failure;
 * so does a test runner that exits 0 having run nothing, so that an empty run cannot pass unseen.
 */
function judge(runner: Runner, output: string, code: number): Counts {
  if (runner.counts === undefined) return code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 }
  const counts = runner.counts(output) ?? { passed: 0, failed: 0 }
  if (code !== 0 && counts.failed === 0) return { ...counts, failed: 1 }
  if (counts.passed + counts.failed === 0) return { passed: 0, failed: 1 }
  return counts
}

const results: (Counts & { name: string; seconds: number })[] = []
// Found once here, for every runner (vite.config.ts, benches) to reuse through CHROMIUM_PATH.
const browser = await chromiumPath()
if (browser === undefined) {
  // vite.config.ts prints the one line saying what to install; the tests that did not run count as a failure.
  results.push({ name: 'chromium (no browser)', passed: 0, failed: 1, seconds: 0 })
} else {
  env.CHROMIUM_PATH = browser
}

// The Redis tests (issue 10) need a real redis-server; without one they are reported as skipped, said here once.
if (redisServerPath() === undefined) {
  console.log(
    'redis: redis-server is not installed, so the Redis tests are skipped (apt-get install -y redis-server; README "Beyond one process")',
  )
}

for (const runner of runners) {
  if (runner.ifExists !== undefined && !existsSync(join(root, runner.ifExists))) continue
  console.log(`\n== ${runner.name}: ${runner.command.join(' ').replace(node, 'node')}`)
  const started = performance.now()
  const { output, code } = await run(runner.command)
  const seconds = (performance.now() - started) / 1000
  results.push({ name: runner.name, ...judge(runner, output, code), seconds })
}

console.log('\n== summary')
for (const { name, passed, failed, seconds } of results) {
  console.log(
    `${failed > 0 ? '✗' : '✓'} ${name.padEnd(22)} ${passed} passed, ${failed} failed  ${seconds.toFixed(1)} s`,
  )
}
const passed = results.reduce((sum, result) => sum + result.passed, 0)
const failed = results.reduce((sum, result) => sum + result.failed, 0)
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 ? 1 : 0
