/**
 * `node bench/instructions.ts [base-checkout]` — issue 9's CPU figure counted in instructions instead of
 * time, so that it repeats on a machine shared with other work: the workload (in memory, 16 calls at a
 * time, a 64 B body read with `.arrayBuffer()`, `leaks: 'silent'`) runs under `valgrind --tool=callgrind`
 * with `node --single-threaded` (no concurrent compiler or GC threads), once with `INSTR_FEW` calls and
 * once with `INSTR_MANY`; instructions per call are the difference over the extra calls, so start-up and
 * warm-up cancel out. Rows: plain ky, ky-pool with its defaults (Node's 6 per origin: 10 of the 16 queue),
 * ky-pool with `perOrigin: 16` (nothing queues), and the same two rows for a second checkout when given
 * (`git worktree add /tmp/base <commit>` with a `node_modules` link).
 *
 * Less noisy than time on a shared machine, not exact: GC still runs at different moments. Two runs
 * (2026-12-01, load average 3–9) agreed within about 2 % on most rows, and one row moved by 11 %: compare
 * rows from several runs before calling a change of a few percent. Instructions are not µs (they leave out
 * cache misses and stalls), but a change that adds work adds instructions. Needs valgrind (Debian's
 * package); takes about ten minutes with a base checkout.
 *
 * Env: INSTR_FEW (3000), INSTR_MANY (9000).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { envInt, table } from './support/harness.ts'

const here = resolve(import.meta.dirname, '..')
const base = process.argv[2] === undefined ? undefined : resolve(process.argv[2])
const few = envInt('INSTR_FEW', 3000)
const many = envInt('INSTR_MANY', 9000)

if (process.argv[3] === '--run') {
  // The workload itself, under valgrind: argv = [checkout, '--run', client, calls, poolOptions].
  const [checkout, , which, count, poolOptions] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string,
  ]
  const { default: ky } = (await import(
    `${checkout}/node_modules/ky/distribution/index.js`
  )) as typeof import('ky')
  const { createClient } = (await import(`${checkout}/src/index.ts`)) as typeof import('../src/index.ts')
  const bytes = new Uint8Array(64)
  const fetch = async () =>
    new Response(bytes, { headers: { 'content-type': 'application/octet-stream', 'content-length': '64' } })
  const client =
    which === 'ky'
      ? ky.create({ fetch })
      : createClient({ fetch, pool: { leaks: 'silent', ...JSON.parse(poolOptions) } })
  let next = 0
  const calls = Number(count)
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < calls) await client.get('http://127.0.0.1:9/bytes').arrayBuffer()
    }),
  )
} else {
  await main()
}

/** Instructions callgrind counted for `calls` calls of `which` in `checkout` (its "Collected : N" line). */
function count(checkout: string, which: string, calls: number, poolOptions = '{}'): number {
  const run = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--single-threaded',
      import.meta.filename,
      checkout,
      '--run',
      which,
      String(calls),
      poolOptions,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  )
  const collected = /Collected : (\d+)/.exec(run.stderr)?.[1]
  if (run.status !== 0 || collected === undefined) {
    throw new Error(`valgrind failed for ${which} in ${checkout}:\n${run.stderr.slice(-2000)}`)
  }
  return Number(collected)
}

async function main(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
  } catch {
    console.log('valgrind is not installed (apt-get install -y valgrind): nothing to count')
    return
  }
  const perCall = (checkout: string, which: string, poolOptions?: string) =>
    (count(checkout, which, many, poolOptions) - count(checkout, which, few, poolOptions)) / (many - few)
  const rows: string[][] = []
  const ky = perCall(here, 'ky')
  rows.push(['ky', 'this checkout', fmt(ky), ''])
  for (const checkout of base === undefined ? [here] : [base, here]) {
    const name = checkout === here ? 'this checkout' : checkout
    for (const [label, options] of [
      ['ky-pool, defaults (10 of 16 queue)', '{}'],
      ['ky-pool, perOrigin 16 (none queue)', '{"perOrigin":16}'],
    ] as const) {
      const pool = perCall(checkout, 'pool', options)
      rows.push([label, name, fmt(pool), `+${fmt(pool - ky)} (${((pool / ky - 1) * 100).toFixed(0)} %)`])
    }
  }
  console.log(
    `## Instructions per call, issue 9's workload (bench/instructions.ts)\n\n` +
      `callgrind, \`node --single-threaded\`, ${few} and ${many} calls (per call: the difference over the ` +
      `extra ${many - few}). Node ${process.version}.\n\n` +
      table(['client', 'checkout', 'instructions per call', 'more than ky'], rows),
  )
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}
