/** The Bun side of the shared behaviour harness: `bun:test`, `node:assert`. */

import { test } from 'bun:test'
import assert from 'node:assert/strict'
import type { BehaviourHarness } from '../shared/behaviours.ts'

export function bunHarness(label: string): Pick<BehaviourHarness, 'test' | 'skip' | 'check'> {
  return {
    test: (name, fn) => test(`${label}: ${name}`, fn),
    skip: (name) => test.skip(`${label}: ${name}`, () => {}),
    check: {
      equal: (actual, expected, message) => assert.deepEqual(actual, expected, message),
      ok: (value, message) => assert.ok(value, message),
    },
  }
}
