/** The Deno side of the shared behaviour harness: `Deno.test` with the resource sanitizer on, `node:assert`. */
import assert from 'node:assert/strict'
import type { BehaviourHarness } from '../shared/behaviours.ts'

export function denoHarness(label: string): Pick<BehaviourHarness, 'test' | 'skip' | 'check'> {
  return {
    test: (name, fn) => Deno.test({ name: `${label}: ${name}`, sanitizeResources: true, fn }),
    skip: (name) => Deno.test({ name: `${label}: ${name}`, ignore: true, fn: () => {} }),
    check: {
      equal: (actual, expected, message) => assert.deepEqual(actual, expected, message),
      ok: (value, message) => assert.ok(value, message),
    },
  }
}
