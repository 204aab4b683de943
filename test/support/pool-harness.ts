/**
 * Shared plumbing for the Node tests of ky-pool: loopback servers and clients that are cleaned up after
 * each test, and a trace recorder whose `next()` lets a test wait for a lifecycle moment instead of
 * sleeping.
 */
import { afterEach } from 'vitest'
import { type ClientOptions, createClient, type PooledKy, type TraceEvent } from '../../src/index.ts'
import { type LoopbackServer, startServer } from './loopback-server.ts'

/** Records trace events; `next(type)` resolves on the first matching event not yet handed out. */
export class TraceLog {
  readonly events: TraceEvent[] = []
  #waiters: { match: (event: TraceEvent) => boolean; resolve: (event: TraceEvent) => void }[] = []

  readonly trace = (event: TraceEvent): void => {
    this.events.push(event)
    const waiter = this.#waiters.find((candidate) => candidate.match(event))
    if (waiter === undefined) return
    this.#waiters.splice(this.#waiters.indexOf(waiter), 1)
    waiter.resolve(event)
  }

  /** The next event of `type` (optionally matching `where`) that happens after this call. */
  next<T extends TraceEvent['type']>(
    type: T,
    where: (event: Extract<TraceEvent, { type: T }>) => boolean = () => true,
  ): Promise<Extract<TraceEvent, { type: T }>> {
    return new Promise((resolve) => {
      this.#waiters.push({
        match: (event) => event.type === type && where(event as Extract<TraceEvent, { type: T }>),
        resolve: (event) => resolve(event as Extract<TraceEvent, { type: T }>),
      })
    })
  }

  /** Resolves once `count` events of `type` have been recorded in all (past ones included). */
  async until(type: TraceEvent['type'], count: number): Promise<void> {
    while (this.of(type).length < count) await this.next(type)
  }

  of<T extends TraceEvent['type']>(type: T): Extract<TraceEvent, { type: T }>[] {
    return this.events.filter((event): event is Extract<TraceEvent, { type: T }> => event.type === type)
  }
}

/**
 * Call once at the top of a test file: `start()` gives a loopback server, `client()` a pooled client
 * (leaks 'silent' unless told otherwise). After each test every server is closed (which releases held
 * responses and destroys sockets) and every client settled, so no socket, timer or watchdog is left.
 */
export function harness() {
  const servers: LoopbackServer[] = []
  const clients: PooledKy[] = []
  afterEach(async () => {
    const closing = servers.splice(0).map((server) => server.close())
    await Promise.all(closing)
    const settling = clients.splice(0).map((client) => client.pool.settle().catch(() => []))
    await Promise.all(settling)
  })
  return {
    async start(): Promise<LoopbackServer> {
      const server = await startServer()
      servers.push(server)
      return server
    },
    client(options: ClientOptions = {}): PooledKy {
      const client = createClient({ retry: 0, ...options, pool: { leaks: 'silent', ...options.pool } })
      clients.push(client)
      return client
    },
  }
}

/** A promise whose state can be inspected synchronously (after awaiting `flush()`). */
export function watch<T>(promise: Promise<T>): { promise: Promise<T>; readonly state: string } {
  let state = 'pending'
  promise.then(
    () => {
      state = 'fulfilled'
    },
    () => {
      state = 'rejected'
    },
  )
  return {
    promise,
    get state() {
      return state
    },
  }
}

/** Lets queued microtasks and already-due I/O callbacks run (one macrotask turn). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
