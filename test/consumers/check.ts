/**
 * ky-pool's types as consumers get them: the packed package, unpacked into a fresh project, and app.ts
 * compiled under the stock tsconfigs people start from (tsconfigs/), by the newest TypeScript we use and
 * by the oldest we claim (5.2, the first with `await using`; test/consumers/package.json holds it).
 * app.ts has `@ts-expect-error` lines that compile only while the types are real, so types that degrade
 * to `any` fail here. A control strips the `/// <reference lib="esnext.disposable" />` from the package
 * and expects the failure: stock configs lack that lib, and without it the types were `any` (issue 13).
 * Prints "consumers: N passed, N failed".
 */
import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { check, done } from '../support/checks.ts'

const here = import.meta.dirname
const root = resolve(here, '../..')
const work = mkdtempSync(join(tmpdir(), 'ky-pool-consumers-'))
const compilers = {
  newest: join(root, 'node_modules/typescript/bin/tsc'),
  oldest: join(here, 'node_modules/typescript/bin/tsc'),
}
/**
 * Which compilers each stock config is compiled by. The create-vite configs name options of TypeScript
 * 5.8 (`erasableSyntaxOnly`) and come with a TypeScript that new; the others must work from 5.2 on.
 */
const configs: { file: string; title: string; compilers: (keyof typeof compilers)[] }[] = [
  { file: 'vite-vanilla-ts', title: 'create-vite vanilla-ts', compilers: ['newest'] },
  { file: 'vite-react-ts', title: 'create-vite react-ts', compilers: ['newest'] },
  { file: 'workers', title: 'the Cloudflare Workers template', compilers: ['newest', 'oldest'] },
  { file: 'node16', title: 'moduleResolution node16', compilers: ['newest', 'oldest'] },
  { file: 'bundler', title: 'moduleResolution bundler', compilers: ['newest', 'oldest'] },
]
const run = (command: string, args: string[], cwd = root) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).toString()

/** A fresh project with the unpacked package (and ky) in node_modules and app.ts in src/. */
function project(name: string, tarball: string): string {
  const dir = join(work, name)
  mkdirSync(join(dir, 'node_modules/ky-pool'), { recursive: true })
  mkdirSync(join(dir, 'src'))
  run('tar', ['-xzf', tarball, '-C', join(dir, 'node_modules/ky-pool'), '--strip-components=1'])
  symlinkSync(join(root, 'node_modules/ky'), join(dir, 'node_modules/ky'))
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }') // as a node16 ESM project has it
  copyFileSync(join(here, 'app.ts'), join(dir, 'src/app.ts'))
  return dir
}

/**
 * The runtime types `wrangler types` writes into a Workers project (the template's tsconfig includes
 * them). Made once per wrangler version (about 9 s, offline) and kept in node_modules/.cache.
 */
function workerTypes(): string {
  const { version } = JSON.parse(readFileSync(join(root, 'node_modules/wrangler/package.json'), 'utf8'))
  const cached = join(root, `node_modules/.cache/ky-pool-consumers/worker-configuration-${version}.d.ts`)
  if (existsSync(cached)) return cached
  const dir = join(work, 'wrangler-types')
  mkdirSync(join(dir, 'src'), { recursive: true })
  writeFileSync(join(dir, 'src/index.ts'), 'export default { fetch: () => new Response("ok") }\n')
  writeFileSync(
    join(dir, 'wrangler.jsonc'),
    '{ "name": "consumer", "main": "src/index.ts", "compatibility_date": "2026-04-01" }',
  )
  execFileSync(process.execPath, [join(root, 'node_modules/wrangler/bin/wrangler.js'), 'types'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  })
  mkdirSync(resolve(cached, '..'), { recursive: true })
  copyFileSync(join(dir, 'worker-configuration.d.ts'), cached)
  return cached
}

/** Compiles the project under a stock config; throws with the compiler's output when anything errors. */
function compile(dir: string, config: string, compiler: keyof typeof compilers): void {
  copyFileSync(join(here, 'tsconfigs', `${config}.json`), join(dir, 'tsconfig.json'))
  if (config === 'workers') copyFileSync(workerTypes(), join(dir, 'worker-configuration.d.ts'))
  run(process.execPath, [compilers[compiler], '-p', 'tsconfig.json'], dir)
}

try {
  let tarball = ''
  check('build and pack', () => {
    run('npm', ['run', 'build', '--silent'])
    tarball = join(
      work,
      run('npm', ['pack', '--silent', '--pack-destination', work]).trim().split('\n').pop()!,
    )
  })
  const version = (compiler: keyof typeof compilers) =>
    JSON.parse(readFileSync(resolve(compilers[compiler], '../../package.json'), 'utf8')).version
  for (const { file, title, compilers: wanted } of configs) {
    for (const compiler of wanted) {
      check(`types are real under ${title} (tsconfigs/${file}.json), TypeScript ${version(compiler)}`, () => {
        compile(project(`${file}-${compiler}`, tarball), file, compiler)
      })
    }
  }
  check('types are real in Deno (deno check, its default libs)', () => {
    const dir = project('deno', tarball)
    run(join(root, 'node_modules/.bin/deno'), ['check', '--quiet', 'src/app.ts'], dir)
  })
  check('control: without the reference to esnext.disposable the types degrade and app.ts fails', () => {
    const dir = project('control', tarball)
    const types = join(dir, 'node_modules/ky-pool/dist/index.d.ts')
    const reference = /^\/\/\/ <reference lib="esnext\.disposable" preserve="true" \/>\n/
    const original = readFileSync(types, 'utf8')
    if (!reference.test(original)) throw new Error('dist/index.d.ts does not start with the reference')
    writeFileSync(types, original.replace(reference, ''))
    let output = ''
    try {
      compile(dir, 'vite-vanilla-ts', 'newest')
    } catch (error) {
      output = String((error as { stdout?: Buffer }).stdout)
    }
    if (!/Unused '@ts-expect-error' directive/.test(output))
      throw new Error(`compiled as if typed:\n${output}`)
  })
} finally {
  rmSync(work, { recursive: true, force: true })
}
done('consumers')
