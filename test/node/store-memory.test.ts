/** memoryStore() against the LimitStore contract (test/support/store-contract.ts): the reference engine. */
import { describe, it } from 'vitest'
import { type MemoryStore, memoryStore } from '../../src/shared-limit.ts'
import { storeContract } from '../support/store-contract.ts'

const checks = storeContract({
  async open(count) {
    const first = memoryStore()
    const copies: MemoryStore[] = [first]
    while (copies.length < count) copies.push(first.copy())
    return { copies, close: async () => void (await Promise.all(copies.map((copy) => copy.close()))) }
  },
  async unreachable() {
    const store = memoryStore()
    await store.close() // a closed store is one whose engine is gone
    return store
  },
  unreachableWithin: 50,
  openTimers: () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length,
})

describe('memoryStore() keeps the LimitStore contract', () => {
  for (const check of checks) it(check.name, check.run, 20_000)
})
