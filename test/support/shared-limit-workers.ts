/**
 * Starts processes of test/support/shared-limit-worker.ts (a pooled client over redisStore() making
 * concurrent calls under a shared limit), for the across-process demonstrations in
 * test/node/store-redis.test.ts and bench/shared-limits.ts. `start()` resolves once the worker is
 * ready (subscribed, scripts loaded); `go()` starts its calls; `result` is its JSON line.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { resolve } from 'node:path'

export interface WorkerResult {
  done: number
  failed: number
  ms: number
  errors: string[]
}

export interface Worker {
  child: ChildProcess
  go(): void
  /** Its result line; rejects if it exits first (a killed holder's is never awaited). */
  result: Promise<WorkerResult>
}

const script = resolve(import.meta.dirname, 'shared-limit-worker.ts')

/** Env: URL, CALLS, LIMIT, TTL, REFRESH, BATCH, PREFIX, HOLD (see the worker's header). */
export async function startWorker(redisPort: number, env: Record<string, string>): Promise<Worker> {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, REDIS_PORT: String(redisPort), ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let pending = ''
  const lines: string[] = []
  let ready: () => void = () => {}
  const isReady = new Promise<void>((resolve) => {
    ready = resolve
  })
  const result = new Promise<WorkerResult>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      const parts = pending.split('\n')
      pending = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        if (line === 'ready') ready()
        else if (line.startsWith('{')) resolve(JSON.parse(line))
      }
    })
    child.once('exit', (code, signal) => {
      const error = new Error(`worker exited (${code ?? signal}): ${lines.join('\n')}`)
      reject(error)
      ready() // a worker that died before it was ready: the result says why
    })
  })
  result.catch(() => {})
  await isReady
  return { child, go: () => child.stdin!.write('go\n'), result }
}
