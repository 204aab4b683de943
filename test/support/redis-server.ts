/**
 * A real `redis-server` for tests and benchmarks: started on a free 127.0.0.1 port with a temp dir and no
 * persistence, stopped (and its dir removed) by `stop()`. `redisServerPath()` is undefined where the
 * Debian package `redis-server` is not installed: the Redis tests are then skipped, and `npm test` says
 * so in one line (scripts/test.ts). Install: `apt-get install -y redis-server`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

export interface RedisServer {
  port: number
  /** `redis://127.0.0.1:PORT` */
  url: string
  /** Stops the server (SIGTERM, then SIGKILL after 2 s) and removes its dir. */
  stop(): Promise<void>
  /** Stops it hard (SIGKILL) without removing its dir, to test a store that loses Redis; `stop()` still cleans up. */
  kill(): Promise<void>
}

/**
 * Where `redis-server` is, or undefined when it is not installed. `REDIS_SERVER` names the binary; set
 * empty (`REDIS_SERVER= npm test`), it acts as if none were installed, to see the skipped path.
 */
export function redisServerPath(): string | undefined {
  const named = process.env.REDIS_SERVER
  if (named !== undefined) return named !== '' && existsSync(named) ? named : undefined
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin']
  return dirs.map((dir) => join(dir, 'redis-server')).find((path) => existsSync(path))
}

/** A port free on 127.0.0.1 now (the OS picks it; a race with another process is possible but rare). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

export async function startRedis(): Promise<RedisServer> {
  const binary = redisServerPath()
  if (binary === undefined) throw new Error('redis-server is not installed (apt-get install -y redis-server)')
  const dir = mkdtempSync(join(tmpdir(), 'ky-pool-redis-'))
  const port = await freePort()
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  await ready(child, port)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    const hard = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(hard)
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      await end('SIGTERM')
      rmSync(dir, { recursive: true, force: true })
    },
    kill: () => end('SIGKILL'),
  }
}

/** Resolves once the server accepts connections (it says so on stdout), rejects if it exits first. */
function ready(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(
      () => fail(new Error(`redis-server on ${port} not ready after 10 s: ${output}`)),
      10_000,
    )
    const fail = (error: Error) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(error)
    }
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        child.stdout!.resume()
        child.stderr!.resume()
        resolve()
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('exit', (code) => fail(new Error(`redis-server exited (${code}): ${output}`)))
  })
}
