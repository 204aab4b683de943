/**
 * A test server run as a child process (test/support/loopback-server.ts, test/support/h2-server.ts): the
 * child prints one JSON line when it listens (its URL and control port), keeps running until its stdin
 * closes or it gets SIGTERM, and is driven over its control port. Only `node:` built-ins, so it runs
 * under Node's type stripping and in Deno.
 */
import { spawn } from 'node:child_process'

export interface ChildServer<Info> {
  /** What the child printed when it was ready. */
  info: Info
  /** Ends the child (idempotent); resolves once it has exited. */
  close(): Promise<void>
}

export async function spawnChildServer<Info>(
  command: string,
  args: string[],
  name: string,
): Promise<ChildServer<Info>> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const info = await new Promise<Info>((resolve, reject) => {
    let buffered = ''
    const onData = (chunk: Uint8Array) => {
      buffered += new TextDecoder().decode(chunk)
      const newline = buffered.indexOf('\n')
      if (newline === -1) return
      cleanup()
      // Keep draining stdout so the child can never block on it.
      child.stdout.resume()
      try {
        resolve(JSON.parse(buffered.slice(0, newline)))
      } catch (error) {
        reject(error)
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      cleanup()
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`))
    }
    const onError = (error: Error) => {
      cleanup()
      reject(error)
    }
    const cleanup = () => {
      child.stdout.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
    }
    child.stdout.on('data', onData)
    child.once('exit', onExit)
    child.once('error', onError)
  })
  let closing: Promise<void> | undefined
  return {
    info,
    close() {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.stdin.end()
          child.kill('SIGTERM')
        }
        await exited
      })()
      return closing
    },
  }
}
