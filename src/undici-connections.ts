/**
 * Node: undici's `undici:client:connected` diagnostics channel reports each new connection with its
 * socket, whose ALPN protocol says `h2` or `http/1.1` (see src/protocols.ts for what is done with it).
 * Node's own fetch never speaks h2 (undici 7); a dispatcher with `allowH2` does. The channel is global:
 * every undici in the process publishes to it, so the origin's last connection, from any dispatcher,
 * wins. Server-only: the server entry point plugs it in (src/plugins.ts), a browser bundle has none of it.
 */
import { originOf } from './origin.ts'
import { observe, protocolFromAlpn } from './protocols.ts'

let subscribed = false

/** What undici publishes on `undici:client:connected` (the fields read here). */
interface UndiciConnected {
  connectParams?: { protocol?: string; hostname?: string; host?: string; port?: string | number }
  socket?: { alpnProtocol?: string | false }
}

/** Subscribes once per module instance; costs nothing per request. */
export function observeUndiciConnections(): void {
  if (subscribed) return
  subscribed = true
  const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  // `getBuiltinModule` (Node 22.3+, Deno, Bun) keeps `node:` imports out of browser bundles.
  let channel: { subscribe?: (name: string, listener: (message: unknown) => void) => void } | undefined
  try {
    channel = process?.getBuiltinModule?.('node:diagnostics_channel') as typeof channel
  } catch {}
  channel?.subscribe?.('undici:client:connected', (message) => {
    const { connectParams, socket } = message as UndiciConnected
    if (connectParams?.protocol !== 'https:' && connectParams?.protocol !== 'http:') return
    // Plain http: undici speaks HTTP/1.1 (h2c needs prior knowledge); no ALPN to read.
    const protocol = connectParams.protocol === 'http:' ? 'h1' : protocolFromAlpn(socket?.alpnProtocol)
    if (protocol === undefined) return
    const hostname = connectParams.hostname ?? ''
    const host = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname
    const port = connectParams.port === undefined || connectParams.port === '' ? '' : `:${connectParams.port}`
    try {
      observe(originOf(`${connectParams.protocol}//${host}${port}`), protocol)
    } catch {}
  })
}
