/**
 * `npm run bench` — every benchmark, one after another, each in its own process (so none inherits
 * another's heap, JIT state or sockets).
 *
 *   node bench/run-all.ts                    the default runs (each about a minute on 2 cores; reuse also in
 *                                            Deno, `deno run -A`, and workerd, Miniflare)
 *   node bench/run-all.ts soak-100k limiter  only those runs, by name (see `runs` below)
 *   node bench/run-all.ts --all              the default runs and the long ones
 *   node bench/run-all.ts --readme …         also writes each run's output into bench/README.md, between
 *                                            its `<!-- bench:NAME -->` markers, with the command and commit
 *
 * Environment variables are passed on (BENCH_ROUNDS and each script's own; see the top of each script).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface BenchRun {
  name: string
  script: string
  env?: Record<string, string>
  /** The runtime that runs the script: Node (this one) unless 'deno' (`deno run -A`). */
  runtime?: 'deno'
  /** Part of `npm run bench` without arguments (the long runs are not). */
  byDefault: boolean
}

const runs: BenchRun[] = [
  { name: 'reuse', script: 'reuse.ts', byDefault: true },
  { name: 'reuse-deno', script: 'reuse-deno.ts', runtime: 'deno', byDefault: true },
  { name: 'reuse-workerd', script: 'reuse-workerd.ts', byDefault: true },
  {
    name: 'reuse-burst-10k',
    script: 'reuse.ts',
    env: { REUSE_ONLY: 'burst', REUSE_BURST: '10000', BENCH_ROUNDS: '2' },
    byDefault: false,
  },
  {
    name: 'reuse-large-300',
    script: 'reuse.ts',
    env: { REUSE_ONLY: 'seq', REUSE_SIZES: '', REUSE_LARGE_N: '300', BENCH_ROUNDS: '1' },
    byDefault: false,
  },
  { name: 'overhead', script: 'overhead.ts', byDefault: true },
  { name: 'profile', script: 'profile.ts', byDefault: true },
  { name: 'limiter', script: 'limiter.ts', byDefault: true },
  { name: 'soak', script: 'soak.ts', byDefault: true },
  { name: 'soak-100k', script: 'soak.ts', env: { SOAK_N: '100000' }, byDefault: false },
  // Issue 14: h1/h2 × Node/Deno/Chromium/workerd, loopback and 20/80 ms RTT (about 8 minutes; runs Deno,
  // Chromium and Miniflare itself). The -full run puts every scenario through the proxy too.
  { name: 'protocols', script: 'protocols.ts', byDefault: true },
  { name: 'protocols-full', script: 'protocols.ts', env: { PROTO_RTT: '0,20,80' }, byDefault: false },
  // Issue 14 item 5: per-origin caps 6/12/24/∞ against plain ky on cold and warm h1 bursts of 60 and 200 at 20
  // and 80 ms RTT, Node and Deno (about 4 minutes on 2 cores). Not by default: it informs a default, it guards none.
  { name: 'caps', script: 'caps.ts', byDefault: false },
  // Issue 10: what a limit shared beyond one process adds per request (p50/p99): memory and Redis, then the
  // Durable Object in Miniflare (storage on disk and in memory; about 30 s).
  { name: 'shared-limits', script: 'shared-limits.ts', byDefault: false },
  { name: 'shared-limits-durable-object', script: 'shared-limits-durable-object.ts', byDefault: false },
  // Issue 9's CPU figure in instructions (callgrind): repeats on a busy machine; needs valgrind, a few minutes.
  { name: 'instructions', script: 'instructions.ts', byDefault: false },
  { name: 'shared-limits-web-locks', script: 'shared-limits-web-locks.ts', byDefault: false },
  {
    name: 'soak-100k-silent',
    script: 'soak.ts',
    env: { SOAK_N: '100000', SOAK_LEAKS: 'silent' },
    byDefault: false,
  },
]

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const readme = args.includes('--readme')
const names = args.filter((arg) => !arg.startsWith('--'))
for (const name of names) {
  if (!runs.some((run) => run.name === name)) {
    throw new Error(`unknown run ${name}; one of ${runs.map((run) => run.name).join(', ')}`)
  }
}
const selected = runs.filter((run) =>
  names.length > 0 ? names.includes(run.name) : args.includes('--all') || run.byDefault,
)

function commandOf(run: BenchRun): string {
  const env = Object.entries(run.env ?? {})
    .map(([key, value]) => `${key}=${value === '' ? "''" : value}`)
    .join(' ')
  const runner = run.runtime === 'deno' ? 'deno run -A' : 'node'
  return `${env === '' ? '' : `${env} `}${runner} bench/${run.script}`
}

/** Deno: the project's (node_modules/.bin/deno, as `npm run` finds it), else the one on the PATH. */
function denoPath(): string {
  const local = join(here, '..', 'node_modules', '.bin', 'deno')
  return existsSync(local) ? local : 'deno'
}

/** Runs one benchmark in a child process, echoing its output; resolves with that output. */
function execute(run: BenchRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const [command, args] =
      run.runtime === 'deno'
        ? [denoPath(), ['run', '-A', join(here, run.script)]]
        : [process.execPath, [join(here, run.script)]]
    const child = spawn(command, args, {
      cwd: join(here, '..'),
      env: { ...process.env, ...run.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      process.stdout.write(chunk)
    })
    child.once('error', reject)
    child.once('close', (code) => {
      if (code === 0) resolve(output.trimEnd())
      else reject(new Error(`${commandOf(run)} exited with ${code}`))
    })
  })
}

/** The commit measured: `BENCH_COMMIT` when the tree is an export without .git (`git archive`), else git's. */
function commit(): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: here, encoding: 'utf8' })
    return dirty.trim() === '' ? head : `${head} (src/ with uncommitted changes)`
  } catch {
    return 'unknown'
  }
}

const started = performance.now()
for (const run of selected) {
  console.log(`\n$ ${commandOf(run)}\n`)
  const output = await execute(run)
  if (readme) {
    const file = join(here, 'README.md')
    const text = readFileSync(file, 'utf8')
    const open = `<!-- bench:${run.name} -->`
    const close = `<!-- /bench:${run.name} -->`
    const from = text.indexOf(open)
    const to = text.indexOf(close)
    if (from === -1 || to < from) {
      console.error(`bench/README.md has no ${open} … ${close} section; not written`)
      continue
    }
    const section =
      `${open}\n\nCommand: \`${commandOf(run)}\` — ${new Date().toISOString().slice(0, 10)}, ` +
      `commit ${commit()}.\n\n${output.replace(/^## .*\n+/, '')}\n\n`
    writeFileSync(file, text.slice(0, from) + section + text.slice(to))
  }
}
console.log(`\nAll done in ${((performance.now() - started) / 1000).toFixed(0)} s.`)
