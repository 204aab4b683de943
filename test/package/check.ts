/**
 * The published package, as a consumer gets it: build, `npm pack`, unpack into a fresh project, then
 * import `ky-pool` and `ky-pool/testing` from it and make a real request; publint and
 * arethetypeswrong check the exports map and types. Prints "package: N passed, N failed".
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')
const bin = (name: string) => join(root, 'node_modules/.bin', name)
const work = mkdtempSync(join(tmpdir(), 'ky-pool-package-'))
let passed = 0
let failed = 0

function check(name: string, run: () => void): void {
  try {
    run()
    passed++
    console.log(`  ✓ ${name}`)
  } catch (error) {
    failed++
    const output = (error as { stdout?: Buffer }).stdout?.toString() ?? ''
    console.log(`  ✗ ${name}\n${output}${(error as Error).message}`)
  }
}

const run = (command: string, args: string[], cwd = root) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).toString()

try {
  check('npm run build emits dist/', () => run('npm', ['run', 'build', '--silent']))
  let tarball = ''
  check('npm pack', () => {
    tarball = join(
      work,
      run('npm', ['pack', '--silent', '--pack-destination', work]).trim().split('\n').pop()!,
    )
  })
  check('a consumer imports ky-pool and ky-pool/testing from the tarball and makes a request', () => {
    const app = join(work, 'app')
    mkdirSync(join(app, 'node_modules/ky-pool'), { recursive: true })
    run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules/ky-pool'), '--strip-components=1'])
    symlinkSync(join(root, 'node_modules/ky'), join(app, 'node_modules/ky'))
    writeFileSync(join(app, 'package.json'), '{ "type": "module" }')
    writeFileSync(
      join(app, 'app.js'),
      `import http from 'node:http'
import { client, createClient, QueueTimeoutError } from 'ky-pool'
import { assertNoLeaks, resetSharedClient } from 'ky-pool/testing'
const server = http.createServer((req, res) => res.end(JSON.stringify({ ok: true }))).listen(0, '127.0.0.1')
await new Promise((r) => server.once('listening', r))
resetSharedClient()
const data = await client.get('http://127.0.0.1:' + server.address().port + '/').json()
if (!data.ok || typeof createClient !== 'function' || QueueTimeoutError.name !== 'QueueTimeoutError') process.exit(1)
await assertNoLeaks(client)
server.close()
console.log('consumer ok')`,
    )
    const out = run(process.execPath, ['app.js'], app)
    if (!out.includes('consumer ok')) throw new Error(out)
  })
  check('publint finds nothing wrong', () => run(bin('publint'), ['--strict']))
  check('arethetypeswrong: types resolve for ESM and bundlers', () =>
    run(bin('attw'), ['--pack', '.', '--profile', 'esm-only']),
  )
} finally {
  rmSync(work, { recursive: true, force: true })
}
console.log(`package: ${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 ? 1 : 0
