/**
 * The benchmarks' HTTP server from any runtime: test/support/loopback-server.ts, always run by Node in
 * a child process, so every runtime is measured against the same server and the same counters.
 *
 * - `BENCH_SERVER='{"url":…,"control":…}'`: use a server someone else started (not closed here).
 * - Node: `spawnServer()` (the server runs under this same Node).
 * - Deno (and others): spawns `BENCH_NODE` (default: node_modules/.bin/node, else `node` on the PATH)
 *   with the server's CLI and reads its `{url, control}` line.
 *
 * Control requests (`/stats`, `/reset`) go to a separate port the server never counts, through the fetch
 * this module saw when it was loaded (the benchmarks may wrap `globalThis.fetch` later).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ServerStats, type SpawnedServer, spawnServer } from '../../test/support/loopback-server.ts'

export type BenchServer = Pick<SpawnedServer, 'url' | 'control' | 'stats' | 'reset' | 'close'>

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const serverScript = join(root, 'test', 'support', 'loopback-server.ts')
const baseFetch = globalThis.fetch

async function control(method: string, url: string): Promise<unknown> {
  const response = await baseFetch(url, { method })
  const text = await response.text()
  if (!response.ok) throw new Error(`loopback-server control ${method} ${url}: ${response.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

function attach(info: { url: string; control: string }, close: () => Promise<void>): BenchServer {
  return {
    url: info.url,
    control: info.control,
    stats: async () => (await control('GET', `${info.control}/stats`)) as ServerStats,
    async reset() {
      await control('POST', `${info.control}/reset`)
    },
    close,
  }
}

const isNode =
  typeof (globalThis as { Deno?: unknown }).Deno === 'undefined' &&
  typeof (globalThis as { Bun?: unknown }).Bun === 'undefined' &&
  typeof process?.versions?.node === 'string'

/** Node's path for the server: `BENCH_NODE`, else the project's node (Node 24), else `node`. */
function nodePath(): string {
  if (process.env.BENCH_NODE) return process.env.BENCH_NODE
  const local = join(root, 'node_modules', '.bin', 'node')
  return existsSync(local) ? local : 'node'
}

export async function startBenchServer(): Promise<BenchServer> {
  const given = process.env.BENCH_SERVER
  if (given !== undefined && given !== '') {
    return attach(JSON.parse(given) as { url: string; control: string }, async () => {})
  }
  if (isNode) return spawnServer()
  const child = spawn(nodePath(), [serverScript], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const info = await new Promise<{ url: string; control: string }>((resolve, reject) => {
    let buffered = ''
    child.stdout.on('data', (chunk: Uint8Array) => {
      buffered += new TextDecoder().decode(chunk)
      const newline = buffered.indexOf('\n')
      if (newline === -1) return
      try {
        resolve(JSON.parse(buffered.slice(0, newline)))
      } catch (error) {
        reject(error)
      }
    })
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`loopback-server exited before it was ready (${code})`)))
  })
  return attach(info, async () => {
    child.stdin.end()
    child.kill('SIGTERM')
    await exited
  })
}
