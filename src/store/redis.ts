/**
 * The Redis engine of a shared limit (`ky-pool/redis`), for Node, Deno and Bun processes: a
 * `LimitStore` on an `ioredis` client the caller owns. Leases, not counters: each permit is a member of
 * a sorted set scored by its expiry on Redis's clock (redis-scripts.ts), refreshed every `refreshEvery`
 * while held, so a process that dies (even `kill -9`) loses its permits within `ttl` and nothing stays
 * stuck. Acquire and release are Lua scripts, atomic in Redis; each permit carries the key's fencing
 * token (`INCR`).
 *
 * Wake-ups, not polling: a copy that gives permits back publishes on the key's channel, and each copy
 * with waiters tries again when it hears it (one subscriber connection per store, `client.duplicate()`).
 * The one timer a waiting copy sets is the expiry of the earliest lease, which the acquire script
 * returns: that is how permits of a dead process come back. Waiters of one copy are served by priority,
 * then in order; all the waiters of a key go to Redis in one round trip, and `batch` takes more than
 * are waiting, keeping the rest for `linger` ms to hand out with no round trip at all. A permit given
 * back while the copy has waiters goes to them in the same round trip, unless another copy waits too
 * (redis-scripts.ts: then it is published for all).
 *
 * Never a hang: every call to Redis has `timeout`; a connection known to be down fails at once; a
 * connection that closes rejects every waiter. Each of these is a `StoreUnreachable`, which the pool
 * turns into fail-open or fail-closed.
 *
 * Why ioredis and not node-redis: `status` tells at once whether the connection is down (fail fast
 * instead of waiting out the offline queue), `duplicate()` makes the subscriber with the caller's
 * options, and it runs unchanged in Node, Deno (`npm:ioredis`) and Bun. node-redis 5 would do too;
 * the store only needs `script`, `evalsha`, `publish`, `duplicate` and pub/sub.
 */
import type { Redis } from 'ioredis'
import { PoolConfigError } from '../errors/config.ts'
import {
  type LimitStore,
  type SharedAcquireOptions,
  type SharedPermit,
  StoreUnreachable,
} from '../limit-store.ts'
import { acquireScript, refreshScript, releaseScript } from './redis-scripts.ts'

export interface RedisStoreOptions {
  /**
   * Ms a permit lives on Redis's clock unless refreshed: how long the permits of a process that died
   * stay taken. Shorter frees them sooner and costs more refreshes.
   * @default 10000
   */
  ttl?: number
  /** Ms between refreshes of the permits this store holds (one round trip per key). Default `ttl / 3`. */
  refreshEvery?: number
  /**
   * Ms a call to Redis may take before the store gives up with `StoreUnreachable` (the pool then fails
   * open or closed). A connection known to be down fails at once.
   * @default 2000
   */
  timeout?: number
  /**
   * Permits taken per round trip when any is wanted, the extra ones kept and handed out locally with no
   * round trip. 1 (the default) takes only what waiters want. More cuts latency under load, at the cost
   * of permits that sit unused for up to `linger` ms while other processes wait.
   * @default 1
   */
  batch?: number
  /** Ms an unused batched permit is kept before it is given back. @default 50 */
  linger?: number
  /** The channel pauses are told on (`pause`/`onPause`). @default 'ky-pool:pause' */
  pauseChannel?: string
}

const defaults = { ttl: 10_000, timeout: 2000, batch: 1, linger: 50, pauseChannel: 'ky-pool:pause' }

/** A `LimitStore` on Redis, through `client` (an ioredis `Redis`, which the caller keeps and closes). */
export function redisStore(client: Redis, options: RedisStoreOptions = {}): LimitStore {
  if (typeof client?.evalsha !== 'function' || typeof client.duplicate !== 'function') {
    throw new PoolConfigError('redisStore(client)', client, 'an ioredis client (new Redis(…))')
  }
  const ttl = whole('redisStore().ttl', options.ttl ?? defaults.ttl, 10)
  const resolved: Resolved = {
    ttl,
    refreshEvery: whole('redisStore().refreshEvery', options.refreshEvery ?? Math.floor(ttl / 3), 1),
    timeout: whole('redisStore().timeout', options.timeout ?? defaults.timeout, 1),
    batch: whole('redisStore().batch', options.batch ?? defaults.batch, 1),
    linger: whole('redisStore().linger', options.linger ?? defaults.linger, 0),
    pauseChannel: options.pauseChannel ?? defaults.pauseChannel,
  }
  if (resolved.refreshEvery >= ttl) {
    throw new PoolConfigError(
      'redisStore().refreshEvery',
      resolved.refreshEvery,
      `less than ttl (${ttl} ms), or permits expire while held`,
    )
  }
  if (typeof resolved.pauseChannel !== 'string' || resolved.pauseChannel === '') {
    throw new PoolConfigError('redisStore().pauseChannel', resolved.pauseChannel, 'a channel name')
  }
  return new RedisStore(client, resolved)
}

type Resolved = Required<RedisStoreOptions>

function whole(option: string, value: unknown, min: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min) return value
  throw new PoolConfigError(option, value, `a whole number >= ${min}`)
}

interface Waiter {
  readonly priority: number
  readonly resolve: (permit: SharedPermit) => void
  readonly reject: (reason: unknown) => void
  readonly signal: AbortSignal | undefined
  readonly onAbort: () => void
}

/** One key's permits and waiters in this copy. */
class Key {
  readonly name: string
  readonly held: string
  readonly counter: string
  /** The copies with waiters on this key (see acquireScript). */
  readonly waiting: string
  readonly channel: string
  limit = 1
  /** By priority, highest first, then in order of arrival. */
  readonly waiters: Waiter[] = []
  /** Tokens held in Redis by this copy: handed out, or spare (batching). */
  readonly tokens = new Set<string>()
  /** Batched permits not handed out yet, oldest first. */
  readonly spares: string[] = []
  /** Tokens released since the last flush: given back in one round trip. */
  releasing: string[] = []
  attempting = false
  /** A wake-up arrived while an attempt was on its way: try again when it returns. */
  again = false
  expiry: ReturnType<typeof setTimeout> | undefined
  lingering: ReturnType<typeof setTimeout> | undefined
  subscribed: Promise<void> | undefined

  constructor(name: string) {
    // A hash tag keeps a key's three names in one Redis Cluster slot, as a multi-key script needs.
    this.name = name
    this.held = `{${name}}:held`
    this.counter = `{${name}}:token`
    this.waiting = `{${name}}:waiting`
    this.channel = `{${name}}:freed`
  }

  enqueue(waiter: Waiter): void {
    let index = this.waiters.length
    while (index > 0 && this.waiters[index - 1]!.priority < waiter.priority) index--
    this.waiters.splice(index, 0, waiter)
  }
}

class RedisStore implements LimitStore {
  readonly engine = 'redis'
  readonly #client: Redis
  readonly #options: Resolved
  readonly #keys = new Map<string, Key>()
  /** Channel → key, for the subscriber's messages. */
  readonly #channels = new Map<string, Key>()
  readonly #shas = new Map<string, string>()
  readonly #pauseListeners = new Set<(key: string, until: number) => void>()
  #pauseSubscribed: Promise<void> | undefined
  #subscriber: Redis | undefined
  #refreshing: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #warnedLost = false
  /** A random id, so that a copy ignores its own pauses coming back from Redis (it told itself already). */
  readonly #id = Math.random().toString(36).slice(2)

  constructor(client: Redis, options: Resolved) {
    this.#client = client
    this.#options = options
    client.on('close', this.#onConnectionLost)
  }

  async acquire(name: string, limit: number, options: SharedAcquireOptions = {}): Promise<SharedPermit> {
    const { signal, priority = 0 } = options
    signal?.throwIfAborted()
    this.#reachable()
    const key = this.#key(name)
    key.limit = limit
    const spare = key.waiters.length === 0 ? key.spares.shift() : undefined
    if (spare !== undefined) return this.#permit(key, spare)
    key.subscribed ??= this.#subscribe(key)
    try {
      await key.subscribed
    } catch (error) {
      key.subscribed = undefined // the next acquire tries again
      throw error
    }
    signal?.throwIfAborted()
    this.#reachable() // closed meanwhile
    return new Promise<SharedPermit>((resolve, reject) => {
      const onAbort = () => {
        const index = key.waiters.indexOf(waiter)
        if (index !== -1) key.waiters.splice(index, 1)
        reject(signal!.reason)
      }
      const waiter: Waiter = { priority, resolve, reject, signal, onAbort }
      signal?.addEventListener('abort', onAbort, { once: true })
      key.enqueue(waiter)
      void this.#attempt(key)
    })
  }

  pause(name: string, until: number): void {
    if (this.#closed) return
    // Told here at once (this copy included, as the contract says), and to the others through Redis.
    this.#heardPause(name, until)
    const message = JSON.stringify({ key: name, until, from: this.#id })
    this.#call(() => this.#client.publish(this.#options.pauseChannel, message)).catch(() => {})
  }

  onPause(listener: (key: string, until: number) => void): () => void {
    const own = (key: string, until: number) => listener(key, until)
    this.#pauseListeners.add(own)
    this.#pauseSubscribed ??= this.#subscriberFor(this.#options.pauseChannel).catch(() => {
      this.#pauseSubscribed = undefined
    })
    return () => void this.#pauseListeners.delete(own)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#client.off('close', this.#onConnectionLost)
    clearTimeout(this.#refreshing)
    const closed = new StoreUnreachable('redis', 'the store was closed')
    const releases: Promise<unknown>[] = []
    for (const key of this.#keys.values()) {
      clearTimeout(key.expiry)
      clearTimeout(key.lingering)
      for (const waiter of key.waiters.splice(0)) this.#reject(waiter, closed)
      const tokens = [...key.tokens, ...key.releasing]
      key.tokens.clear()
      key.spares.length = 0
      key.releasing = []
      if (tokens.length > 0) releases.push(this.#release(key, tokens).catch(() => {}))
      // No longer a waiting copy: others may hand permits to their own waiters again at once (else in ttl).
      const leave = async () => {
        this.#connected() // down: nothing to wait for, the entry expires
        await this.#call(() => this.#client.zrem(key.waiting, this.#id))
      }
      releases.push(leave().catch(() => {}))
    }
    await Promise.all(releases)
    this.#pauseListeners.clear()
    const subscriber = this.#subscriber
    this.#subscriber = undefined
    if (subscriber !== undefined) {
      subscriber.off('close', this.#onConnectionLost)
      subscriber.disconnect()
    }
  }

  #key(name: string): Key {
    let key = this.#keys.get(name)
    if (key === undefined) {
      key = new Key(name)
      this.#keys.set(name, key)
      this.#channels.set(key.channel, key)
    }
    return key
  }

  /** Throws at once when the store is closed or a connection is known to be down (no wait for a timeout). */
  #reachable(): void {
    if (this.#closed) throw new StoreUnreachable('redis', 'the store was closed')
    this.#connected()
  }

  #connected(): void {
    for (const connection of [this.#client, this.#subscriber]) {
      const status = connection?.status
      if (status === 'end' || status === 'close' || status === 'reconnecting') {
        throw new StoreUnreachable('redis', `the connection is down (${status})`)
      }
    }
  }

  /**
   * Asks Redis for permits for `key`'s waiters (all of them, or `batch`, in one round trip), hands them
   * out in order, and keeps going while wake-ups arrive meanwhile. One attempt per key at a time.
   */
  async #attempt(key: Key): Promise<void> {
    if (key.attempting) {
      key.again = true
      return
    }
    key.attempting = true
    clearTimeout(key.expiry)
    key.expiry = undefined
    try {
      while (!this.#closed && key.waiters.length > 0) {
        key.again = false
        const needed = key.waiters.length
        const wanted = Math.max(needed, this.#options.batch)
        // Permits released meanwhile go back in the same round trip (a hand-off, if no other copy waits).
        const giveBack = key.releasing
        key.releasing = []
        const args = [key.limit, this.#options.ttl, wanted, key.channel, this.#id, needed, ...giveBack]
        let result: unknown
        try {
          result = await this.#run(acquireScript, [key.held, key.counter, key.waiting], args)
        } catch (error) {
          this.#failWaiters(key, error)
          return
        }
        const [wait, ...tokens] = (result as (number | string)[]).map(String)
        for (const token of tokens) this.#granted(key, token)
        if (key.again || key.waiters.length === 0) continue
        // Full: wait for a wake-up, or for the earliest lease to expire (a process that died holding it).
        const ms = Number(wait)
        if (ms >= 0) key.expiry = unref(setTimeout(() => void this.#attempt(key), ms + 1))
        break
      }
    } finally {
      key.attempting = false
      if (key.releasing.length > 0 && !this.#closed) this.#flush(key) // released while the last call was out
    }
  }

  /** A token Redis granted: to the first waiter still waiting, else kept as a spare (batching) or given back. */
  #granted(key: Key, token: string): void {
    if (this.#closed) {
      void this.#release(key, [token]).catch(() => {})
      return
    }
    key.tokens.add(token)
    this.#refreshSoon()
    const waiter = key.waiters.shift()
    if (waiter !== undefined) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort)
      waiter.resolve(this.#permit(key, token))
      return
    }
    if (this.#options.batch === 1) {
      this.#giveBack(key, token) // its waiter left (aborted) while Redis answered
      return
    }
    key.spares.push(token)
    key.lingering ??= unref(
      setTimeout(() => {
        key.lingering = undefined
        for (const spare of key.spares.splice(0)) this.#giveBack(key, spare)
      }, this.#options.linger),
    )
  }

  #permit(key: Key, token: string): SharedPermit {
    let released = false
    return {
      token: Number(token),
      release: () => {
        if (released) return
        released = true
        this.#giveBack(key, token)
      },
    }
  }

  /** Gives `token` back with the others released in the same tick: one round trip per key. */
  #giveBack(key: Key, token: string): void {
    if (!key.tokens.delete(token)) return // closed, or lost (expired) already
    key.releasing.push(token)
    if (key.releasing.length === 1) queueMicrotask(() => this.#flush(key))
  }

  /**
   * Sends what `key` released: with this copy's waiters, as part of their next attempt (give back and take
   * in one round trip); else on its own. A release Redis never hears of ends with the lease's TTL.
   */
  #flush(key: Key): void {
    if (key.releasing.length === 0 || key.attempting) return // an attempt on its way sends them after
    if (key.waiters.length > 0) {
      void this.#attempt(key)
      return
    }
    const tokens = key.releasing
    key.releasing = []
    void this.#release(key, tokens).catch(() => {})
  }

  #release(key: Key, tokens: string[]): Promise<unknown> {
    return this.#run(releaseScript, [key.held], [key.channel, ...tokens])
  }

  #failWaiters(key: Key, error: unknown): void {
    const reason =
      error instanceof StoreUnreachable
        ? error
        : new StoreUnreachable('redis', String(error), { cause: error })
    for (const waiter of key.waiters.splice(0)) this.#reject(waiter, reason)
  }

  #reject(waiter: Waiter, reason: unknown): void {
    waiter.signal?.removeEventListener('abort', waiter.onAbort)
    waiter.reject(reason)
  }

  /** A connection closed: waiters would wait for wake-ups that cannot come, so they fail now. */
  readonly #onConnectionLost = (): void => {
    const lost = new StoreUnreachable('redis', 'the connection closed')
    for (const key of this.#keys.values()) {
      clearTimeout(key.expiry)
      key.expiry = undefined
      for (const waiter of key.waiters.splice(0)) this.#reject(waiter, lost)
    }
  }

  /** Refreshes every held lease every `refreshEvery` ms while any is held; one round trip per key. */
  #refreshSoon(): void {
    this.#refreshing ??= unref(setTimeout(() => void this.#refresh(), this.#options.refreshEvery))
  }

  async #refresh(): Promise<void> {
    this.#refreshing = undefined
    if (this.#closed) return
    const rounds: Promise<void>[] = []
    for (const key of this.#keys.values()) {
      if (key.tokens.size === 0) continue
      const tokens = [...key.tokens]
      rounds.push(
        this.#run(refreshScript, [key.held], [this.#options.ttl, ...tokens]).then(
          (lost) => this.#lost(key, (lost as unknown[]).map(String)),
          () => {}, // unreachable: tried again next round, and the TTL bounds the harm
        ),
      )
    }
    await Promise.all(rounds)
    if (!this.#closed && [...this.#keys.values()].some((key) => key.tokens.size > 0)) this.#refreshSoon()
  }

  /** Leases that expired while held (the process stalled, or Redis was out of reach, past `ttl`). */
  #lost(key: Key, missing: string[]): void {
    // A permit released while its refresh was on the way (waiting for SCRIPT LOAD, say) is missing too,
    // and no loss: only those this copy still holds count.
    const tokens = missing.filter((token) => key.tokens.has(token))
    if (tokens.length === 0) return
    for (const token of tokens) {
      key.tokens.delete(token)
      const spare = key.spares.indexOf(token)
      if (spare !== -1) key.spares.splice(spare, 1)
    }
    if (this.#warnedLost) return
    this.#warnedLost = true
    console.warn(
      `ky-pool: ${tokens.length} shared-limit permit(s) on ${key.name} expired in Redis before they could be ` +
        `refreshed (this process stalled, or Redis was out of reach, for longer than ttl ${this.#options.ttl} ms), ` +
        'so the shared limit may have been exceeded meanwhile. Raise ttl if this recurs. (Printed once.)',
    )
  }

  /** Subscribes to `key`'s wake-ups before its first attempt, so that none is missed. */
  #subscribe(key: Key): Promise<void> {
    return this.#subscriberFor(key.channel)
  }

  async #subscriberFor(channel: string): Promise<void> {
    if (this.#subscriber === undefined) {
      const subscriber = this.#client.duplicate()
      subscriber.on('message', this.#onMessage)
      subscriber.on('close', this.#onConnectionLost)
      subscriber.on('error', () => {}) // reported through status and timeouts; an unhandled 'error' would crash
      this.#subscriber = subscriber
    }
    const subscriber = this.#subscriber
    await this.#call(() => subscriber.subscribe(channel))
  }

  readonly #onMessage = (channel: string, message: string): void => {
    if (channel === this.#options.pauseChannel) {
      const told = parsePause(message)
      if (told !== undefined && told.from !== this.#id) this.#heardPause(told.key, told.until)
      return
    }
    const key = this.#channels.get(channel)
    if (key !== undefined && key.waiters.length > 0) void this.#attempt(key)
  }

  #heardPause(key: string, until: number): void {
    for (const listener of this.#pauseListeners) {
      try {
        listener(key, until)
      } catch (error) {
        console.error('ky-pool: a pause listener threw', error)
      }
    }
  }

  /** Runs a script by its SHA, loading it on first use and again if Redis forgot it (a restart, SCRIPT FLUSH). */
  async #run(script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    this.#connected()
    for (let attempt = 0; ; attempt++) {
      let sha = this.#shas.get(script)
      if (sha === undefined) {
        sha = String(await this.#call(() => this.#client.script('LOAD', script)))
        this.#shas.set(script, sha)
      }
      try {
        const loaded = sha
        return await this.#call(() => this.#client.evalsha(loaded, keys.length, ...keys, ...args))
      } catch (error) {
        const noScript =
          (error as StoreUnreachable).cause instanceof Error &&
          /NOSCRIPT/.test(((error as StoreUnreachable).cause as Error).message)
        if (!noScript || attempt > 0) throw error
        this.#shas.delete(script)
      }
    }
  }

  /** One call to Redis, bounded by `timeout`; every failure is a `StoreUnreachable`. */
  async #call<T>(call: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const { timeout } = this.#options
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnreachable('redis', `no answer within ${timeout} ms (redisStore timeout)`)),
        timeout,
      )
    })
    try {
      return await Promise.race([call(), late])
    } catch (error) {
      if (error instanceof StoreUnreachable) throw error
      throw new StoreUnreachable('redis', (error as Error)?.message ?? String(error), { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }
}

function parsePause(message: string): { key: string; until: number; from: string } | undefined {
  try {
    const told = JSON.parse(message) as { key?: unknown; until?: unknown; from?: unknown }
    if (typeof told.key === 'string' && typeof told.until === 'number' && typeof told.from === 'string') {
      return { key: told.key, until: told.until, from: told.from }
    }
  } catch {}
  return undefined
}

/** Node keeps a process alive for a timer; the store's never should (Deno, Bun and browsers have no unref). */
function unref<T>(timer: T): T {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}
