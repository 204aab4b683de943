import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidUrlError } from '../../src/errors/config.ts'
import { originOf, originOfRequestUrl } from '../../src/origin.ts'

describe('originOf', () => {
  it('gives one key for every spelling of an origin', () => {
    const spellings = [
      'https://api.example.com/a',
      'HTTPS://API.EXAMPLE.COM/b',
      'https://api.example.com:443/c',
      'https://Api.Example.Com./d',
      'https://api.example.com.:443/e?x=1',
      'https://user:pass@api.example.com/f',
    ]
    expect(new Set(spellings.map((url) => originOf(url)))).toEqual(new Set(['https://api.example.com']))
  })

  it('keeps scheme and non-default port apart', () => {
    expect(originOf('http://a.example/')).toBe('http://a.example')
    expect(originOf('http://a.example:443/')).toBe('http://a.example:443')
    expect(originOf('https://a.example:8443/')).toBe('https://a.example:8443')
  })

  it('turns IDN into punycode and brackets IPv6', () => {
    expect(originOf('https://bücher.example/')).toBe('https://xn--bcher-kva.example')
    expect(originOf('https://xn--bcher-kva.example/')).toBe('https://xn--bcher-kva.example')
    expect(originOf('http://[::1]:80/')).toBe('http://[::1]')
    expect(originOf('http://[0:0:0:0:0:0:0:1]/')).toBe('http://[::1]')
  })

  it.each([
    ['http://[::ffff:127.0.0.1]:8080/', 'http://127.0.0.1:8080'],
    ['http://[::FFFF:7F00:1]:8080/', 'http://127.0.0.1:8080'],
    ['http://[0:0:0:0:0:ffff:127.0.0.1]:8080/x', 'http://127.0.0.1:8080'],
    ['https://[::ffff:10.0.0.255]:443/', 'https://10.0.0.255'],
    ['http://[::ffff:0.0.0.1]/', 'http://0.0.0.1'],
  ])('an IPv4-mapped IPv6 address is its IPv4 address: %s → %s', (url, origin) => {
    expect(originOf(url)).toBe(origin)
    expect(originOfRequestUrl(new Request(url).url)).toBe(origin)
  })

  it.each([
    ['http://[::ffff:0:127.0.0.1]/', 'http://[::ffff:0:7f00:1]'], // IPv4-translated (SIIT): another address
    ['http://[::127.0.0.1]/', 'http://[::7f00:1]'], // IPv4-compatible (deprecated): not the IPv4 socket
    ['http://[1::ffff:127.0.0.1]/', 'http://[1::ffff:7f00:1]'],
    ['http://localhost:8080/', 'http://localhost:8080'], // a name, not resolved: its own key
  ])('other hosts keep their key: %s → %s', (url, origin) => {
    expect(originOf(url)).toBe(origin)
    expect(originOfRequestUrl(new Request(url).url)).toBe(origin)
  })

  it('refuses what has no http(s) origin, with a typed error that names the URL without credentials', () => {
    expect(() => originOf('/relative')).toThrow(InvalidUrlError)
    expect(() => originOf('ftp://files.example/')).toThrow(/scheme ftp:/)
    expect(() => originOf('ftp://user:secret@files.example/')).not.toThrow(/secret/)
  })
})

describe('originOfRequestUrl (the pool reads the origin of request.url without a parse)', () => {
  /** Hosts in the spellings that matter: case, IDN, IPv4, IPv6, trailing dots. */
  const host = fc.oneof(
    fc.domain(),
    fc.domain().map((domain) => domain.toUpperCase()),
    fc.domain().map((domain) => `${domain}.`),
    fc.domain().map((domain) => `${domain}..`),
    fc.constantFrom(
      'bücher.example',
      'BÜCHER.example.',
      'xn--bcher-kva.example',
      '127.0.0.1',
      '[::1]',
      '[0:0::1]',
      'localhost',
    ),
    fc.ipV4(),
    // IPv4-mapped IPv6, in its spellings: one key with the IPv4 address
    fc.ipV4().map((ip) => `[::ffff:${ip}]`),
    fc.ipV4().map((ip) => `[0:0:0:0:0:FFFF:${ip}]`),
    fc.ipV4().map((ip) => `[::ffff:${new URL(`http://[::ffff:${ip}]`).hostname.slice(8, -1)}]`),
  )
  const url = fc
    .record({
      scheme: fc.constantFrom('http', 'https', 'HTTP', 'Https'),
      host,
      port: fc.option(fc.constantFrom(80, 443, 8080, 8443, 1), { nil: undefined }),
      path: fc.constantFrom('', '/', '/a/b', '/a?b=c', '?q=1', '#f', '/@x', '/.:y'),
    })
    .map(
      ({ scheme, host, port, path }) => `${scheme}://${host}${port === undefined ? '' : `:${port}`}${path}`,
    )

  it('gives what originOf gives, for every URL a Request accepts', () => {
    fc.assert(
      fc.property(url, (raw) => {
        let serialized: string
        try {
          serialized = new Request(raw).url
        } catch {
          return // not a URL a Request takes: the pool never sees it
        }
        expect(originOfRequestUrl(serialized)).toBe(originOf(raw))
        if (raw.includes('ffff:')) expect(originOf(raw)).not.toContain('[')
      }),
      { numRuns: 2000 },
    )
  })

  it('takes the full parse for what a serialized request URL never looks like', () => {
    expect(originOfRequestUrl('https://user:secret@api.example.com/x')).toBe('https://api.example.com')
    expect(originOfRequestUrl('https://api.example.com.:8443/x')).toBe('https://api.example.com:8443')
    expect(() => originOfRequestUrl('ftp://files.example/')).toThrow(InvalidUrlError)
  })
})
