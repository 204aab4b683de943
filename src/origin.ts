import { InvalidUrlError } from './errors/config.ts'

/**
 * The canonical origin key of a URL: scheme + host + port, the unit that slots are counted in.
 *
 * The WHATWG URL parser already lower-cases the host, drops the default port, turns IDN into punycode
 * and brackets IPv6; we also drop a trailing dot (`example.com.` is the same host to DNS and to every
 * connection pool), so that `HTTP://Api.Example.com.:443` cannot dodge a limit set for
 * `https://api.example.com`.
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
  const host = url.hostname.endsWith('.') ? url.hostname.replace(/\.+$/, '') : url.hostname
  if (host === '') throw new InvalidUrlError(url.href, 'it has no host')
  return url.port === '' ? `${url.protocol}//${host}` : `${url.protocol}//${host}:${url.port}`
}
