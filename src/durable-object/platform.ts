/**
 * The part of the Durable Objects API that ky-pool uses, typed here so that neither the package nor its
 * users need `@cloudflare/workers-types` to build (a user's own `DurableObjectNamespace` from
 * `wrangler types` is assignable to `LimitsNamespace`).
 */

/** `ctx.storage` of a Durable Object (the async key-value API: both the SQLite and the legacy KV backend). */
export interface LimitsStorage {
  put(entries: Record<string, unknown>, options?: { allowUnconfirmed?: boolean }): Promise<void>
  delete(key: string, options?: { allowUnconfirmed?: boolean }): Promise<boolean>
  list<T = unknown>(options: { prefix: string }): Promise<Map<string, T>>
  getAlarm(): Promise<number | null>
  setAlarm(scheduledTime: number): Promise<void>
}

/** `ctx` of a Durable Object. */
export interface LimitsObjectState {
  readonly storage: LimitsStorage
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>
}

/** What a Worker holds of an open session (a stub of the object's `LimitSession`). */
export interface LimitSessionStub {
  acquire(key: string, limit: number, want: number): Promise<number[]>
  release(key: string, tokens: number[]): Promise<void>
  refresh(): Promise<number>
  cancel(key: string): Promise<void>
  pause(key: string, until: number): Promise<void>
  /** Notices `[key, until, seq]` told after `seq` and still in force; waits for the next when none. */
  watchPauses(seq: number): Promise<[key: string, until: number, seq: number][]>
  unwatchPauses(): Promise<void>
  [Symbol.dispose](): void
}

/** A stub of the `KyPoolLimits` object. */
export interface LimitsObjectStub {
  open(ttl: number): Promise<LimitSessionStub>
}

/** The binding of the `KyPoolLimits` class (`env.KY_POOL_LIMITS`). */
export interface LimitsNamespace {
  idFromName(name: string): unknown
  get(id: never): unknown
}
