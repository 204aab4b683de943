/**
 * "Application code" for the testing-setup tests: what a ky-pool user writes and then tests with msw and
 * ky-pool/testing, the way the README's "Testing with msw" section shows.
 */
import { client } from '../../src/index.ts'

/** Reads its body: nothing to report. */
export function loadGreeting(base: string): Promise<{ hello: string }> {
  return client.get(`${base}/json`).json()
}

/** Looks at the status only and forgets the body: the leak assertNoLeaks is there to catch. */
export async function sloppyHealthCheck(base: string): Promise<boolean> {
  const res = await client.get(`${base}/json`)
  return res.ok
}
