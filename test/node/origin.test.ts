import { describe, expect, it } from 'vitest'
import { InvalidUrlError } from '../../src/errors/config.ts'
import { originOf } from '../../src/origin.ts'

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

  it('refuses what has no http(s) origin, with a typed error that names the URL without credentials', () => {
    expect(() => originOf('/relative')).toThrow(InvalidUrlError)
    expect(() => originOf('ftp://files.example/')).toThrow(/scheme ftp:/)
    expect(() => originOf('ftp://user:secret@files.example/')).not.toThrow(/secret/)
  })
})
