/**
 * The parent side of a benchmark runner (bench/support/*-runner.ts): runs it in Node or Deno with one job
 * (JSON in an environment variable), bounds the whole process by `deadlineMs` (a hung runtime is
 * killed), and returns the runner's last stdout line, parsed. Each run inside is bounded by the runner.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')

/** The project's Deno (a devDependency), else one on PATH. */
export function denoPath(): string {
  const local = join(root, 'node_modules', '.bin', 'deno')
  return existsSync(local) ? local : 'deno'
}

export async function runJob<T>(
  runtime: 'node' | 'deno',
  script: string,
  env: Record<string, string>,
  deadlineMs: number,
): Promise<T> {
  // No --unsafely-ignore-certificate-errors in Deno: each run's HttpClient trusts the test CA (caCerts), so
  // certificates are checked as in production.
  const [command, args] =
    runtime === 'deno' ? [denoPath(), ['run', '-A', script]] : [process.execPath, [script]]
  const output = await new Promise<string>((done, fail) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let text = ''
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
    child.once('error', fail)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) done(text)
      else fail(new Error(`${runtime} runner exited with ${code ?? signal}`))
    })
  })
  return JSON.parse(output.trim().split('\n').pop()!) as T
}
