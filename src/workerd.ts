/**
 * The entry point for Cloudflare Workers (the `workerd` export condition). It imports
 * `cloudflare:workers` statically, so ky-pool can keep one pool per invocation even without the
 * `nodejs_compat` flag (see runtime.ts). Everything else is index.ts.
 */
import * as cloudflare from 'cloudflare:workers'
import { useCloudflareWorkers } from './invocations.ts'

useCloudflareWorkers(cloudflare as Parameters<typeof useCloudflareWorkers>[0])

export * from './index.ts'
