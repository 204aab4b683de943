// The part of `cloudflare:workers` that ky-pool uses (the full types live in @cloudflare/workers-types).
declare module 'cloudflare:workers' {
  export const tracing: { getActiveSpan?: () => object | undefined } | undefined
  export function waitUntil(promise: Promise<unknown>): void
}
