/**
 * Fencing tokens for Web Locks permits: a number per key that grows.
 *
 * Local (the default): a counter of this realm. Tokens grow within one tab (unique there) and follow the
 * clock to the millisecond across tabs, but two tabs may hand out the same one. That is enough for Web
 * Locks, and the reason is worth stating: a fencing token guards against a holder whose lease expired
 * while it still acts (a paused process). A Web Lock has no expiry: the browser passes a name on only
 * after its holder released it or its page is gone, so two live holders of one name cannot exist. And
 * nothing in ky-pool reads the token. The price of the shared counter below is measured in
 * bench/README.md ("Shared limits"): about 2 ms per request one at a time, more under concurrency.
 *
 * Shared (`fencing: 'shared'`, for apps that send tokens somewhere that compares them): greater than
 * every token handed out before for that key by any tab or worker of the origin. One IndexedDB record per
 * key, read and written in one
 * `readwrite` transaction. IndexedDB runs `readwrite` transactions over the same object store one after
 * the other, across every connection of the origin, so the increment is atomic without a lock of its own.
 * `durability: 'relaxed'` (Chromium, Firefox, Safari) skips the disk flush: a crash may lose the last
 * increments, which the clock floor below makes harmless. Where there is no IndexedDB (Node's worker
 * threads, Deno) or it cannot be opened (storage blocked, a sandboxed frame), tokens are local.
 *
 * Both kinds start from a clock floor, `Date.now() × 1000`, so that tokens keep growing after site data
 * is cleared or a tab is reloaded (1,000 permits a millisecond per key before the floor is overtaken;
 * 1.8e15 today, under 2^53 until the year 2255).
 */

export type FencingKind = 'shared' | 'local'

/** The part of IndexedDB used here, typed here: the type libraries of Deno and Workers have none. */
export interface IdbFactory {
  open(name: string, version: number): IdbOpenRequest
}
interface IdbHandlers {
  error: unknown
  onsuccess: (() => void) | null
  onerror: (() => void) | null
}
interface IdbOpenRequest extends IdbHandlers {
  readonly result: IdbDatabase
  onupgradeneeded: (() => void) | null
  onblocked: (() => void) | null
}
interface IdbDatabase {
  createObjectStore(name: string): unknown
  transaction(store: string, mode: 'readwrite', options: { durability: 'relaxed' }): IdbTransaction
  close(): void
}
interface IdbTransaction {
  readonly error: unknown
  objectStore(name: string): {
    get(key: string): IdbHandlers & { readonly result: unknown }
    put(value: number, key: string): unknown
  }
  oncomplete: (() => void) | null
  onerror: (() => void) | null
  onabort: (() => void) | null
}

export interface Tokens {
  readonly kind: FencingKind
  next(key: string): Promise<number>
  close(): void
}

const floor = () => Date.now() * 1000

/** The realm's counter, shared by every store of this realm so that two stores on one key agree. */
let localLast = 0

/** Takes `count` tokens from the realm's counter; returns the last (they are `last - count + 1` … `last`). */
function localRange(count: number): number {
  localLast = Math.max(localLast, floor() - 1) + count
  return localLast
}

export function localTokens(): Tokens {
  return { kind: 'local', next: () => Promise.resolve(localRange(1)), close: () => {} }
}

/** Draws that share one transaction: `count` of them, numbered in the order they asked. */
interface Batch {
  count: number
  /** The counter's value after the batch's transaction: its tokens are `last - count + 1` … `last`. */
  last: Promise<number>
}

/**
 * Tokens from IndexedDB database `name`, falling back to the realm's counter for good if the database
 * cannot be opened or a transaction fails (the permit is still granted: its token is just local).
 *
 * One transaction per key at a time: permits granted while one runs wait for it and share the next,
 * which adds their count (a wave of N grants costs two transactions, not N one after the other).
 */
export function sharedTokens(factory: IdbFactory, name: string): Tokens {
  let db: Promise<IdbDatabase | undefined> | undefined
  let kind: FencingKind = 'shared'
  const open = () => (db ??= openDatabase(factory, name).catch(() => undefined))
  const draw = async (key: string, count: number): Promise<number> => {
    const database = await open()
    if (database !== undefined) {
      try {
        return await increment(database, key, count)
      } catch {}
    }
    kind = 'local'
    return localRange(count)
  }
  /** Per key: the batch still taking draws (its transaction not started), and the one in progress. */
  const waiting = new Map<string, Batch>()
  const tail = new Map<string, Promise<unknown>>()
  return {
    get kind() {
      return kind
    },
    next(key) {
      let batch = waiting.get(key)
      if (batch === undefined) {
        const starting: Batch = { count: 0, last: Promise.resolve(0) }
        starting.last = (tail.get(key) ?? Promise.resolve()).then(() => {
          waiting.delete(key) // from here on the count is fixed; later draws open the next batch
          return draw(key, starting.count)
        })
        tail.set(
          key,
          starting.last.catch(() => {}),
        )
        waiting.set(key, starting)
        batch = starting
      }
      const taken = batch
      const place = taken.count++
      return taken.last.then((last) => last - taken.count + 1 + place)
    },
    close() {
      void db?.then((database) => database?.close())
    },
  }
}

const storeName = 'tokens'

function openDatabase(factory: IdbFactory, name: string): Promise<IdbDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, 1)
    request.onupgradeneeded = () => request.result.createObjectStore(storeName)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
    // Version 1 is the only version: a blocked open means an older copy is upgrading; it cannot last.
    request.onblocked = () => reject(new Error('IndexedDB open blocked'))
  })
}

/** Adds `count` to the key's counter (at least up to the clock floor) in one transaction; the new value. */
function increment(database: IdbDatabase, key: string, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(storeName, 'readwrite', { durability: 'relaxed' })
    const store = transaction.objectStore(storeName)
    let token = 0
    const read = store.get(key)
    read.onsuccess = () => {
      const last = typeof read.result === 'number' ? read.result : 0
      token = Math.max(last, floor()) + count
      store.put(token, key)
    }
    transaction.oncomplete = () => resolve(token)
    transaction.onerror = () => reject(transaction.error)
    transaction.onabort = () => reject(transaction.error)
  })
}
