/**
 * The published package, as a consumer gets it: build, `npm pack`, unpack into a fresh project, then
 * import `ky-pool`, `ky-pool/testing` and the shared limit's `ky-pool/shared-limit`, `ky-pool/redis`, `ky-pool/web-locks` from it
 * and make real requests, with the newest ky we develop against and with the lowest the peer range claims
 * (the `ky-lowest` npm alias); bundle a Worker that uses `ky-pool/durable-object` from it and run it in
 * workerd (Miniflare); publint and
 * arethetypeswrong check the exports map and types. Prints "package: N passed, N failed".
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import { check, done } from '../support/checks.ts'

const root = resolve(import.meta.dirname, '../..')
const bin = (name: string) => join(root, 'node_modules/.bin', name)
const work = mkdtempSync(join(tmpdir(), 'ky-pool-package-'))
const run = (command: string, args: string[], cwd = root) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).toString()

/** Makes a GET and a QUERY (ky >= 2.1: the method that sets the peer range's floor) through the package. */
const consumerApp = `import http from 'node:http'
import { client, createClient, QueueTimeoutError } from 'ky-pool'
import { assertNoLeaks, resetSharedClient } from 'ky-pool/testing'
import { webLocksStore } from 'ky-pool/web-locks'
const server = http
  .createServer((req, res) => req.resume().on('end', () => res.end(JSON.stringify({ method: req.method }))))
  .listen(0, '127.0.0.1')
await new Promise((r) => server.once('listening', r))
resetSharedClient()
const url = 'http://127.0.0.1:' + server.address().port + '/'
const get = await client.get(url).json()
const query = await client.query(url, { json: { q: 1 } }).json()
if (get.method !== 'GET' || query.method !== 'QUERY') process.exit(1)
if (typeof createClient !== 'function' || QueueTimeoutError.name !== 'QueueTimeoutError') process.exit(1)
await assertNoLeaks(client)
// Node 24 has navigator.locks (shared by its worker threads), so the Web Locks store works here too.
const store = webLocksStore()
const permit = await store.acquire('package-check', 1)
if (!(permit.token > 0)) process.exit(1)
permit.release()
await store.close()
server.close()
console.log('consumer ok')`

/** The shared limit's entry points (issue 10): a memory-backed shared limit in use, and the Redis engine's export. */
const sharedApp = `import http from 'node:http'
import { createClient } from 'ky-pool'
import { memoryStore, sharedLimit, SharedLimitUnreachableError } from 'ky-pool/shared-limit'
import { redisStore } from 'ky-pool/redis'
const server = http.createServer((req, res) => res.end('{"ok":true}')).listen(0, '127.0.0.1')
await new Promise((r) => server.once('listening', r))
const store = memoryStore()
const client = createClient({ pool: { shared: sharedLimit({ store, limit: 1 }) } })
const url = 'http://127.0.0.1:' + server.address().port + '/'
const [a, b] = await Promise.all([client.get(url).json(), client.get(url).json()])
if (!a.ok || !b.ok || store.held !== 0) process.exit(1)
if (typeof redisStore !== 'function' || SharedLimitUnreachableError.name !== 'SharedLimitUnreachableError') process.exit(1)
await store.close()
server.close()
console.log('shared ok')`

/** A user's Worker: the class exported, the store made from the binding, one permit taken and given back. */
const durableObjectWorker = `import { KyPoolLimits, durableObjectStore } from 'ky-pool/durable-object'
export { KyPoolLimits }
export default {
  async fetch(request, env) {
    const store = durableObjectStore(env.KY_POOL_LIMITS)
    const permit = await store.acquire('https://api.example', 2)
    permit.release()
    return Response.json({ token: permit.token, engine: store.engine })
  },
}`

/** Bundles worker.js as Wrangler would (the \`workerd\` condition) and runs it in Miniflare. */
const durableObjectRunner = (root: string) => `import { createRequire } from 'node:module'
const require = createRequire(${JSON.stringify(join(root, 'package.json'))})
const { build } = await import(require.resolve('rolldown'))
const { Miniflare, convertV4MiniflareOptions } = await import(require.resolve('miniflare'))
const bundled = await build({ input: 'worker.js', write: false, platform: 'neutral',
  external: (id) => id.startsWith('cloudflare:') || id.startsWith('node:'),
  resolve: { conditionNames: ['workerd', 'worker', 'import', 'default'] },
  output: { format: 'esm', codeSplitting: false } })
const mf = new Miniflare(convertV4MiniflareOptions({ modules: true, script: bundled.output[0].code,
  compatibilityDate: '2026-04-01', durableObjects: { KY_POOL_LIMITS: { className: 'KyPoolLimits', useSQLite: true } } }))
try {
  const body = await (await mf.dispatchFetch('http://worker.test/')).json()
  if (body.token !== 1 || body.engine !== 'durable-object') throw new Error(JSON.stringify(body))
  console.log('worker ok')
} finally {
  await mf.dispose()
}`

try {
  check('npm run build emits dist/', () => run('npm', ['run', 'build', '--silent']))
  let tarball = ''
  check('npm pack', () => {
    tarball = join(
      work,
      run('npm', ['pack', '--silent', '--pack-destination', work]).trim().split('\n').pop()!,
    )
  })
  // The peer range is `^x.y.z`: its floor is the lowest ky we claim, and ky-lowest must be exactly that.
  const manifest = (path: string) => JSON.parse(readFileSync(join(root, path, 'package.json'), 'utf8'))
  const floor = /^\^(\d+\.\d+\.\d+)$/.exec(manifest('.').peerDependencies.ky)?.[1]
  const kys = [
    { dir: 'node_modules/ky', label: 'newest', version: manifest('node_modules/ky').version },
    {
      dir: 'node_modules/ky-lowest',
      label: 'lowest claimed',
      version: manifest('node_modules/ky-lowest').version,
    },
  ]
  check(`the ky-lowest devDependency is the floor of the peer range (^${floor})`, () => {
    if (kys[1]!.version !== floor)
      throw new Error(`ky-lowest is ${kys[1]!.version}, the peer range's floor ${floor}`)
  })
  for (const ky of kys) {
    check(
      `a consumer imports ky-pool, ky-pool/testing and ky-pool/web-locks from the tarball and makes requests (${ky.label} ky, ${ky.version})`,
      () => {
        const app = join(work, `app-${ky.dir.replaceAll('/', '-')}`)
        mkdirSync(join(app, 'node_modules/ky-pool'), { recursive: true })
        run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules/ky-pool'), '--strip-components=1'])
        symlinkSync(join(root, ky.dir), join(app, 'node_modules/ky'))
        writeFileSync(join(app, 'package.json'), '{ "type": "module" }')
        writeFileSync(join(app, 'app.js'), consumerApp)
        const out = run(process.execPath, ['app.js'], app)
        if (!out.includes('consumer ok')) throw new Error(out)
      },
    )
  }
  // Which file a bundler resolves `ky-pool` to, by the conditions it targets (esbuild's, as Vite and
  // wrangler set them): the browser entry carries none of the server plug-ins (src/plugins.ts).
  const app = join(work, 'app-node_modules-ky')
  const bundled = async (conditions: string[]) => {
    writeFileSync(join(app, 'bundle.js'), "import { client } from 'ky-pool'\nglobalThis.client = client\n")
    const { metafile } = await build({
      entryPoints: [join(app, 'bundle.js')],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'neutral',
      conditions,
      mainFields: ['module', 'main'],
      external: ['cloudflare:workers'],
      logLevel: 'silent',
    })
    return Object.keys(metafile.inputs).map((input) => input.replace(/^.*node_modules\//, ''))
  }
  await check('a bundler targeting browsers picks dist/browser.js, without the server plug-ins', async () => {
    const inputs = await bundled(['browser', 'import'])
    if (!inputs.includes('ky-pool/dist/browser.js')) throw new Error(`not the browser entry: ${inputs}`)
    const server = inputs.filter((input) => /redirects|undici-connections|invocations|server\.js/.test(input))
    if (server.length > 0) throw new Error(`server plug-ins in a browser bundle: ${server}`)
  })
  await check(
    'a bundler targeting Cloudflare Workers (workerd, worker, browser) picks dist/workerd.js',
    async () => {
      const inputs = await bundled(['workerd', 'worker', 'browser', 'import'])
      if (!inputs.includes('ky-pool/dist/workerd.js')) throw new Error(`not the workerd entry: ${inputs}`)
    },
  )
  check(
    'a consumer uses ky-pool/shared-limit and imports ky-pool/redis (with ioredis) from the tarball',
    () => {
      const app = join(work, 'app-shared')
      mkdirSync(join(app, 'node_modules/ky-pool'), { recursive: true })
      run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules/ky-pool'), '--strip-components=1'])
      for (const dependency of ['ky', 'ioredis']) {
        symlinkSync(join(root, 'node_modules', dependency), join(app, 'node_modules', dependency))
      }
      writeFileSync(join(app, 'package.json'), '{ "type": "module" }')
      writeFileSync(join(app, 'app.js'), sharedApp)
      const out = run(process.execPath, ['app.js'], app)
      if (!out.includes('shared ok')) throw new Error(out)
    },
  )
  check(
    'a Worker bundled from the tarball exports KyPoolLimits from ky-pool/durable-object, binds it, and takes and gives back a permit in workerd',
    () => {
      const app = join(work, 'app-worker')
      mkdirSync(join(app, 'node_modules/ky-pool'), { recursive: true })
      run('tar', ['-xzf', tarball, '-C', join(app, 'node_modules/ky-pool'), '--strip-components=1'])
      symlinkSync(join(root, 'node_modules/ky'), join(app, 'node_modules/ky'))
      writeFileSync(join(app, 'package.json'), '{ "type": "module" }')
      writeFileSync(join(app, 'worker.js'), durableObjectWorker)
      writeFileSync(join(app, 'run.js'), durableObjectRunner(root))
      const out = run(process.execPath, ['run.js'], app)
      if (!out.includes('worker ok')) throw new Error(out)
    },
  )
  check('publint finds nothing wrong', () => run(bin('publint'), ['--strict']))
  check('arethetypeswrong: types resolve for ESM and bundlers', () =>
    run(bin('attw'), ['--pack', '.', '--profile', 'esm-only']),
  )
} finally {
  rmSync(work, { recursive: true, force: true })
}
done('package')
