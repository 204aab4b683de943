/**
 * Fencing tokens for Web Locks permits: a number per key, greater than every token handed out before
 * for that key by any tab or worker of the origin.
 *
 * Shared (the default where `indexedDB` exists): one IndexedDB record per key, read and written in one
 * `readwrite` transaction. IndexedDB runs `readwrite` transactions over the same object store one after
 * the other, across every connection of the origin, so the increment is atomic without a lock of its own.
 * `durability: 'relaxed'` (Chromium, Firefox, Safari) skips the disk flush: a crash may lose the last
 * increments, which the clock floor below makes harmless. Measured cost: see bench/shared-limits.ts.
 *
 * Local (where there is no IndexedDB — Node's worker threads, Deno — or it cannot be opened: storage
 * blocked, a sandboxed frame): a counter of this realm. Tokens then grow within one copy but not across
 * copies. That is enough for Web Locks, and the reason is worth stating: a fencing token guards against
 * a holder whose lease expired while it still acts (a paused process). A Web Lock has no expiry: the
 * browser passes a name on only after its holder released it or its page is gone, so two live holders of
 * one name cannot exist, and the token is only a label.
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

export function localTokens(): Tokens {
  return {
    kind: 'local',
    next: () => {
      localLast = Math.max(localLast + 1, floor())
      return Promise.resolve(localLast)
    },
    close: () => {},
  }
}

/**
 * Tokens from IndexedDB database `name`, falling back to `localTokens()` for good if the database
 * cannot be opened or a transaction fails (the permit is still granted: its token is just local).
 */
export function sharedTokens(factory: IdbFactory, name: string): Tokens {
  const local = localTokens()
  let db: Promise<IdbDatabase | undefined> | undefined
  let kind: FencingKind = 'shared'
  const open = () => (db ??= openDatabase(factory, name).catch(() => undefined))
  return {
    get kind() {
      return kind
    },
    async next(key) {
      const database = await open()
      if (database !== undefined) {
        try {
          return await increment(database, key)
        } catch {}
      }
      kind = 'local'
      return local.next(key)
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

function increment(database: IdbDatabase, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(storeName, 'readwrite', { durability: 'relaxed' })
    const store = transaction.objectStore(storeName)
    let token = 0
    const read = store.get(key)
    read.onsuccess = () => {
      const last = typeof read.result === 'number' ? read.result : 0
      token = Math.max(last + 1, floor())
      store.put(token, key)
    }
    transaction.oncomplete = () => resolve(token)
    transaction.onerror = () => reject(transaction.error)
    transaction.onabort = () => reject(transaction.error)
  })
}
