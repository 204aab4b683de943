/**
 * Deno's resource sanitizer and ky-pool: a test that forgets a real response body fails it, and the same
 * test passes once `await client.pool.settle()` has run (ky-pool drained or cancelled the body). The two
 * tests live in fixtures/forgotten-body.ts and run in a `deno test` of their own, since one of them must fail.
 */
import assert from 'node:assert/strict'

Deno.test({
  name: 'a forgotten body fails the resource sanitizer, unless `await client.pool.settle()` ran',
  sanitizeResources: true,
  async fn() {
    const fixture = new URL('./fixtures/forgotten-body.ts', import.meta.url).pathname
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ['test', '-A', '--no-check', fixture],
      env: { NO_COLOR: '1' },
      stdout: 'piped',
      stderr: 'piped',
    }).output()
    // Without colours, whatever the environment asks for (FORCE_COLOR makes Deno colour even a pipe).
    const output = (new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr)).replace(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC
      /\x1b\[[0-9;]*m/g,
      '',
    )
    assert.notEqual(code, 0, output)
    assert.match(output, /forgets a body and does not settle \.\.\. FAILED/)
    assert.match(
      output,
      /A fetch response body was created during the test, but not consumed during the test/,
    )
    assert.match(output, /forgets a body, then settles the pool \.\.\. ok/)
    assert.match(output, /FAILED \| 1 passed \| 1 failed/)
  },
})
