/**
 * `npm run bench:reuse:deno` (`deno run -A bench/reuse-deno.ts` from the project root) — bench/reuse.ts,
 * the connection-reuse workloads of issue 5 part 1, run by Deno: Deno's fetch (hyper) pools connections
 * differently from Node's undici. src/ is imported through relative .ts paths, the server is the same
 * test/support/loopback-server.ts in a Node child process (bench/support/server.ts; `BENCH_SERVER` to use
 * one already running), and each run gets a cold pool: a new `Deno.HttpClient` that every fetch of the
 * run goes through. The same environment variables as bench/reuse.ts.
 */
import { main } from './reuse.ts'

await main('bench/reuse-deno.ts')
