/** Warnings about the runtime, said once; cold (see lazy.ts). */

/** See `cloudflareWorkers` in runtime.ts. */
export function warnSharedInvocations(): void {
  console.warn(
    'ky-pool: cannot tell concurrent invocations apart (no `tracing.getActiveSpan` from `cloudflare:workers`), ' +
      'so they share one pool, and a request may wait for a slot that another invocation frees. Import ky-pool ' +
      'through the `workerd` export condition (Wrangler and @cloudflare/vitest-plugin do), or enable the ' +
      '`nodejs_compat` compatibility flag.',
  )
}
