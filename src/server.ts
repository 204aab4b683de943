/**
 * The plug-ins of the server entry points (index.ts, workerd.ts): redirects hop by hop, undici's
 * connection events, Cloudflare Workers' per-invocation scope. See src/plugins.ts.
 */
import { cloudflareInvocations } from './invocations.ts'
import type { Plugins } from './plugins.ts'
import { redirectsFor } from './pool/redirects.ts'
import { observeUndiciConnections } from './undici-connections.ts'

export const serverPlugins: Plugins = {
  redirects: redirectsFor,
  observeConnections: observeUndiciConnections,
  invocations: cloudflareInvocations,
}
