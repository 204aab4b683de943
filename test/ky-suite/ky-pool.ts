// ky-pool's client in ky's place, with ky's named exports (the same classes ky-pool's client throws).
// Leaks are not reported (ky's tests leave bodies unread on purpose). KY_SUITE_LIMITS=default keeps the
// runtime's default limits, otherwise they are set high enough that no test of ky's waits for a slot;
// KY_SUITE_POOL='{"reclaimAfter":1}' adds pool options (JSON) for experiments.
import { createClient, type PoolOptions } from '../../src/index.ts'

export * from 'ky'

const limits = process.env.KY_SUITE_LIMITS === 'default' ? {} : { perOrigin: 1000, total: 10_000 }
const extra = JSON.parse(process.env.KY_SUITE_POOL ?? '{}') as PoolOptions
export default createClient({ pool: { leaks: 'silent', ...limits, ...extra } })
