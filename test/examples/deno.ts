/**
 * examples/deno run by `deno run` (type-checked with `--check`, network limited to 127.0.0.1) against a
 * loopback API that answers `/items` only in groups of 6 (examples/upstream.ts): the script must print
 * every item, the pool's view (6 in flight at most, the rest queued), the HEAD's status and no leak, and
 * the server must have seen no more than 6 requests at once.
 * Prints `example deno: N passed, N failed`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { startUpstream } from '../../examples/upstream.ts'
import { check, done } from './check.ts'

const root = resolve(import.meta.dirname, '../..')
const upstream = await startUpstream({ gate: 6 })

try {
  await check('the Deno script fetches 18 items 6 at a time and reports the pool as it saw it', async () => {
    const { stdout } = await promisify(execFile)(
      'deno',
      [
        'run',
        '--check',
        '--allow-net=127.0.0.1',
        '--import-map=examples/deno/import_map.json',
        'examples/deno/main.ts',
        upstream.url,
        '18',
      ],
      { cwd: root, timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } },
    )
    assert.deepEqual(stdout.trim().split('\n'), [
      `18 items from ${upstream.url}, first: item 1`,
      'in flight at most 6 (limit 6, protocol unknown from default), up to 12 queued',
      'health: 200',
      'totals: 19 requests, 0 leaks, 0 reclaimed',
    ])
    assert.deepEqual(upstream.stats(), { requests: 19, peak: 6 })
  })
} finally {
  await upstream.close()
}
done('example deno')
