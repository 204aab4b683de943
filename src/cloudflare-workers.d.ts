// The part of `cloudflare:workers` that ky-pool uses (the full types live in @cloudflare/workers-types).
declare module 'cloudflare:workers' {
  export const tracing: { getActiveSpan?: () => object | undefined } | undefined
  export function waitUntil(promise: Promise<unknown>): void
  /** The base class of Durable Objects whose public methods are called over RPC (ky-pool/durable-object). */
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown
    protected env: Env
    constructor(ctx: unknown, env: Env)
  }
  /** The base class of objects passed by reference over RPC. */
  export abstract class RpcTarget {}
}
