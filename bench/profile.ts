/**
 * `node bench/profile.ts` — where ky-pool's per-call cost goes (issue 5, part 2: "if below target,
 * profile and report"). The same sequential calls as bench/overhead.ts's in-memory table, through ky
 * and through ky-pool, each under the V8 CPU profiler (node:inspector, the data `node --cpu-prof`
 * writes); prints CPU time per call by layer and ky-pool's own functions by self time.
 *
 * Sizes (env): PROFILE_N (20000 calls per client).
 */
import { Session } from 'node:inspector/promises'
import ky from 'ky'
import { captureCallSite } from '../src/callsite.ts'
import { createClient } from '../src/index.ts'
import { envInt, machine, table } from './support/harness.ts'

const calls = envInt('PROFILE_N', 20_000)

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
  samples: number[]
  timeDeltas: number[]
}

const memoryFetch = async () =>
  new Response('{"ok":true}', { headers: { 'content-type': 'application/json', 'content-length': '11' } })
const url = 'http://127.0.0.1:9/json'

/** Which layer a frame belongs to. */
function layer(url: string, name: string): string {
  if (url.includes('/src/')) return 'ky-pool (src/)'
  if (url.includes('/node_modules/ky/')) return 'ky'
  if (url.includes('internal/deps/undici')) return 'undici (Request, Response, Headers, body)'
  if (url.includes('internal/webstreams')) return 'web streams'
  if (name === '(garbage collector)') return 'garbage collector'
  if (name === '(idle)' || name === '(program)') return '(idle, program)'
  if (url === '') return 'V8 builtins and natives'
  return 'other Node internals'
}

/** `count` calls under the profiler. */
async function profile(session: Session, call: () => Promise<unknown>, count: number): Promise<CpuProfile> {
  await session.post('Profiler.start')
  for (let index = 0; index < count; index++) await call()
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile }
  return profile
}

/**
 * Profiles both clients in ten alternating slices (ky, ky-pool, ky, …) after a warm-up, so that other
 * load on the machine falls on both alike (the profiler samples wall-clock time).
 */
async function profileBoth(
  session: Session,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[CpuProfile[], CpuProfile[]]> {
  for (let index = 0; index < calls / 4; index++) {
    await a()
    await b()
  }
  const slices: [CpuProfile[], CpuProfile[]] = [[], []]
  for (let slice = 0; slice < 10; slice++) {
    slices[0].push(await profile(session, a, calls / 10))
    slices[1].push(await profile(session, b, calls / 10))
  }
  return slices
}

/** Self time per key over all slices, in µs per call. */
function selfTime(profiles: CpuProfile[], key: (frame: CpuProfile['nodes'][number]['callFrame']) => string) {
  const totals = new Map<string, number>()
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
    profile.samples.forEach((id, index) => {
      const name = key(byId.get(id)!)
      totals.set(name, (totals.get(name) ?? 0) + profile.timeDeltas[index]!)
    })
  }
  return new Map([...totals].map(([name, micros]) => [name, micros / calls]))
}

const session = new Session()
session.connect()
await session.post('Profiler.enable')
await session.post('Profiler.setSamplingInterval', { interval: 50 })
const kyInstance = ky.create({ fetch: memoryFetch })
const pooled = createClient({ fetch: memoryFetch })
const [kyProfile, poolProfile] = await profileBoth(
  session,
  () => kyInstance.get(url).json(),
  () => pooled.get(url).json(),
)
session.disconnect()

const byLayer = (profiles: CpuProfile[]) =>
  selfTime(profiles, (frame) => layer(frame.url, frame.functionName))
const kyLayers = byLayer(kyProfile)
const poolLayers = byLayer(poolProfile)
const layers = [...new Set([...kyLayers.keys(), ...poolLayers.keys()])]
  .filter((name) => name !== '(idle, program)')
  .sort((a, b) => (poolLayers.get(b) ?? 0) - (poolLayers.get(a) ?? 0))
const sum = (values: Map<string, number>) =>
  layers.reduce((total, name) => total + (values.get(name) ?? 0), 0)

const ownFunctions = [
  ...selfTime(poolProfile, (frame) =>
    frame.url.includes('/src/')
      ? `${frame.functionName || '(anonymous)'} (${frame.url.slice(frame.url.indexOf('src/'))}:${frame.lineNumber + 1})`
      : '',
  ),
]
  .filter(([name]) => name !== '')
  .sort((a, b) => b[1] - a[1])
  .slice(0, 12)

/** Outside src/: the functions whose self time grows most from ky to ky-pool (what the pool makes others do). */
const frameName = (frame: CpuProfile['nodes'][number]['callFrame']) =>
  frame.url.includes('/src/') || frame.functionName === '(idle)' || frame.functionName === '(program)'
    ? ''
    : `${frame.functionName || '(anonymous)'} (${frame.url === '' ? 'native' : (frame.url.split('/').pop() ?? '')}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`})`
const kyFrames = selfTime(kyProfile, frameName)
const poolFrames = selfTime(poolProfile, frameName)
const grownFunctions = [...new Set([...kyFrames.keys(), ...poolFrames.keys()])]
  .filter((name) => name !== '')
  .map((name): [string, number, number] => [name, kyFrames.get(name) ?? 0, poolFrames.get(name) ?? 0])
  .sort((x, y) => y[2] - y[1] - (x[2] - x[1]))
  .slice(0, 12)

/**
 * captureCallSite() alone at a few stack depths: as the client's methods call it since 765f9b7 (with
 * `above`, limit 12), without `above` (limit 30, the fallback), and `new Error()` (V8's default, 10
 * frames) for scale. Interleaved, best of three.
 */
function nested(depth: number, fn: () => unknown): unknown {
  return depth === 0 ? fn() : nested(depth - 1, fn)
}
function send(): unknown {
  return captureCallSite(send)
}
const captures: [string, () => unknown][] = [
  ['captureCallSite(send), as the client calls it', send],
  ['captureCallSite(), no `above`', () => captureCallSite()],
  ['new Error()', () => new Error('request made here')],
]
const captureCost = new Map<string, number>()
for (let round = 0; round < 3; round++) {
  for (const depth of [5, 20, 40]) {
    for (const [name, fn] of captures) {
      const times = 20_000
      for (let index = 0; index < times / 10; index++) nested(depth, fn)
      const start = performance.now()
      for (let index = 0; index < times; index++) nested(depth, fn)
      const micros = ((performance.now() - start) * 1000) / times
      const key = `${depth}\t${name}`
      captureCost.set(key, Math.min(captureCost.get(key) ?? Number.POSITIVE_INFINITY, micros))
    }
  }
}
const callSiteCost = [5, 20, 40].map((depth) => [
  String(depth),
  ...captures.map(([name]) => captureCost.get(`${depth}\t${name}`)!.toFixed(1)),
])

console.log(
  [
    '## Where ky-pool spends its time (bench/profile.ts)',
    '',
    `${calls.toLocaleString('en-US')} sequential \`.json()\` calls per client against a \`fetch\` that answers from ` +
      'memory, under the V8 CPU profiler (50 µs sampling), in ten alternating slices per client. Self time, ' +
      'µs per call (wall-clock samples: load from other processes lands on both clients alike).',
    '',
    `Machine: ${machine()}.`,
    '',
    table(
      ['layer', 'ky', 'ky-pool', 'difference'],
      [
        ...layers.map((name) => {
          const a = kyLayers.get(name) ?? 0
          const b = poolLayers.get(name) ?? 0
          return [name, a.toFixed(1), b.toFixed(1), `${b >= a ? '+' : ''}${(b - a).toFixed(1)}`]
        }),
        [
          'total (without idle)',
          sum(kyLayers).toFixed(1),
          sum(poolLayers).toFixed(1),
          `+${(sum(poolLayers) - sum(kyLayers)).toFixed(1)}`,
        ],
      ],
    ),
    '',
    '### ky-pool functions by self time',
    '',
    table(
      ['function', 'µs per call'],
      ownFunctions.map(([name, micros]) => [name, micros.toFixed(1)]),
    ),
    '',
    '### Outside src/: the functions ky-pool makes busier (self time, µs per call)',
    '',
    table(
      ['function', 'ky', 'ky-pool', 'difference'],
      grownFunctions.map(([name, before, after]) => [
        name,
        before.toFixed(1),
        after.toFixed(1),
        `${after >= before ? '+' : ''}${(after - before).toFixed(1)}`,
      ]),
    ),
    '',
    '### Capturing a call site alone, µs per call by the depth of the stack it is called from',
    '',
    table(['stack depth (frames)', ...captures.map(([name]) => name)], callSiteCost),
  ].join('\n'),
)
