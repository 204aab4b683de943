/**
 * The page bench/protocols.ts loads in Chromium (bundled with rolldown, served by the loopback TLS server):
 * `globalThis.protocolsBench.run(spec)` runs one workload of bench/support/protocols-workloads.ts and adds
 * what Resource Timing told the page about the API's protocol (`nextHopProtocol` per entry; empty for a
 * cross-origin API without `Timing-Allow-Origin`).
 */
import * as kyPool from '../../src/index.ts'
import { type RunResult, type RunSpec, runOnce } from './protocols-workloads.ts'

export type PageResult = RunResult & { seen: Record<string, number> }

declare global {
  var protocolsBench: { run(spec: RunSpec): Promise<PageResult> }
}

performance.setResourceTimingBufferSize(10_000)

globalThis.protocolsBench = {
  async run(spec) {
    performance.clearResourceTimings()
    const result = await runOnce(kyPool, spec)
    const seen: Record<string, number> = {}
    for (const entry of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
      if (!entry.name.startsWith(spec.api)) continue
      const protocol = entry.nextHopProtocol === '' ? '(empty)' : entry.nextHopProtocol
      seen[protocol] = (seen[protocol] ?? 0) + 1
    }
    return { ...result, seen }
  },
}
