/**
 * The Worker bench/protocols.ts runs in Miniflare (bundled with rolldown from src/workerd.ts, the package's
 * `workerd` entry): each invocation is one measured run — it reads a RunSpec (JSON body), runs that workload
 * of bench/support/protocols-workloads.ts inside the invocation and answers with the result. Times are
 * workerd's `performance.now()`, which advances with I/O.
 */
import * as kyPool from '../../src/workerd.ts'
import { type RunSpec, runOnce } from './protocols-workloads.ts'

export default {
  async fetch(request: Request): Promise<Response> {
    const spec = (await request.json()) as RunSpec
    return Response.json(await runOnce(kyPool, spec))
  },
}
