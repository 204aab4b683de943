import { InvalidUrlError } from './errors/config.ts'

/**
 * The canonical origin key of a URL: scheme + host + port, the unit that slots are counted in.
 *
 * The WHATWG URL parser already lower-cases the host, drops the default port, turns IDN into punycode
 * and brackets IPv6; we also drop a trailing dot (`example.com.` is the same host to DNS and to every
 * connection pool), so that `HTTP://Api.Example.com.:443` cannot dodge a limit set for
 * `https://api.example.com`, and write an IPv4-mapped IPv6 address as the IPv4 address it is
 * (`[::ffff:127.0.0.1]`, which the parser serializes as `[::ffff:7f00:1]`, is `127.0.0.1`: the same
 * server socket). Names are not resolved: `localhost` is a key of its own, apart from `127.0.0.1` and
 * `[::1]` (it may resolve to either, or to both in turn).
 */
export function originOf(input: string | URL): string {
  let url: URL
  try {
    url = typeof input === 'string' ? new URL(input) : input
  } catch {
    throw new InvalidUrlError(String(input), 'it is not an absolute URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidUrlError(url.href, `its scheme ${url.protocol} is not http: or https:`)
  }
  const host = url.hostname.endsWith('.')
    ? url.hostname.replace(/\.+$/, '')
    : url.hostname.startsWith('[::ffff:')
      ? mappedIpv4(url.hostname)
      : url.hostname
  if (host === '') throw new InvalidUrlError(url.href, 'it has no host')
  return url.port === '' ? `${url.protocol}//${host}` : `${url.protocol}//${host}:${url.port}`
}

/** `[::ffff:7f00:1]` → `127.0.0.1`; any other host as it is (the parser's serialization: lower case, no leading zeros). */
function mappedIpv4(host: string): string {
  const groups = /^\[::ffff:([\da-f]{1,4}):([\da-f]{1,4})\]$/.exec(host)
  if (groups === null) return host
  const high = Number.parseInt(groups[1] as string, 16)
  const low = Number.parseInt(groups[2] as string, 16)
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
}

/**
 * `originOf` for a URL that a Request has serialized (`request.url`): its scheme and host are already
 * canonical and it has no userinfo (the Request constructor refuses credentials), so the origin is the
 * text before the path: no parse. A host with a trailing dot, an IPv4-mapped IPv6 host, or anything
 * unexpected, takes `originOf`.
 */
export function originOfRequestUrl(url: string): string {
  const start = url.startsWith('https://') ? 8 : url.startsWith('http://') ? 7 : -1
  const end = start === -1 ? -1 : url.indexOf('/', start)
  if (end > start) {
    const origin = url.slice(0, end)
    if (
      !origin.endsWith('.') &&
      !origin.includes('.:') &&
      !origin.includes('@', start) &&
      !origin.includes('[::ffff:', start)
    ) {
      return origin
    }
  }
  return originOf(url)
}
