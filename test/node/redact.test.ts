/**
 * What redaction changes, and what it leaves alone: parameter names are matched word by word against the
 * documented list (src/secret-names.ts, README "What is redacted"), in both directions; free text (ky's
 * and the runtime's messages) changes only where a secret is; a string meant as a URL that does not parse
 * is still redacted.
 */
import { describe, expect, it } from 'vitest'
import { redactUrl } from '../../src/index.ts'
import { redactError, redactMessage, redactText } from '../../src/redact.ts'
import { isSecretName } from '../../src/secret-names.ts'

const secret = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'oauth_token',
  'accessToken',
  'api_key',
  'apiKey',
  'apikey',
  'API_KEY',
  'x-api-key',
  'key',
  'keys',
  'AWSAccessKeyId',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'X-Goog-Signature',
  'X-Goog-Credential',
  'Signature',
  'sig',
  'hmac',
  'HMACSignature',
  'secret',
  'client_secret',
  'clientSecret',
  'client_assertion',
  'SAMLResponse',
  'password',
  'passwd',
  'pwd',
  'pw',
  'pass',
  'passphrase',
  'otp',
  'pin',
  'auth',
  'auth_code',
  'authorization',
  'code',
  'credentials',
  'sid',
  'session',
  'session_id',
  'sessionId',
  'sessionID',
  'jsessionid',
  'PHPSESSID',
  'ticket',
  'jwt',
  'csrf_token',
  'nonce',
  'api%5Fkey',
]

const harmless = [
  'author',
  'authors',
  'authority',
  'keyword',
  'keywords',
  'monkey',
  'zipcode',
  'zip_code',
  'country_code',
  'session_count',
  'sessions_per_day',
  'signal',
  'design',
  'assign',
  'passenger',
  'bypass',
  'compass',
  'spinner',
  'tokenizer',
  'page',
  'q',
  'sort',
  'id',
  'state',
  'redirect_uri',
]

describe('secret parameter names, word by word', () => {
  it.each(secret)('%s is secret: its value is redacted', (name) => {
    expect(isSecretName(decodeURIComponent(name))).toBe(true)
    expect(redactUrl(`https://api.example/a?${name}=V&page=2`)).toBe(
      `https://api.example/a?${name}=[redacted]&page=2`,
    )
  })

  it.each(harmless)('%s is not secret: its value is kept', (name) => {
    expect(isSecretName(name)).toBe(false)
    expect(redactUrl(`https://api.example/a?${name}=V`)).toBe(`https://api.example/a?${name}=V`)
  })
})

describe('free text (error messages and stacks)', () => {
  it.each([
    // ky's own texts and their links, as ky wrote them
    'The `baseUrl` option must be a valid URL, see https://github.com/sindresorhus/ky#baseurl',
    'Request failed with status code 500 Internal Server Error: GET https://api.example.com?page=2',
    'at file:///work/app/src/main.ts:12:3',
    'at http://localhost:5173/src/main.ts?t=1712345678&v=abc:12:3',
    'requestAndForget@http://localhost:63315/test.ts:12:3',
    'see https://Api.Example.com:443/a/../b#section',
  ])('%j is left exactly as it is', (text) => {
    expect(redactMessage(text)).toBe(text)
  })

  it.each([
    [
      'Request failed: GET https://api.example.com/a?api_key=K&page=2#frag',
      'Request failed: GET https://api.example.com/a?api_key=[redacted]&page=2#frag',
    ],
    ['from https://user:hunter2@api.example.com/a?q=1', 'from https://api.example.com/a?q=1'],
    ['from http://bob:p@ss@api.example.com/', 'from http://api.example.com/'],
    [
      'https://app.example/#/cb?access_token=T&state=s',
      'https://app.example/#/cb?access_token=[redacted]&state=s',
    ],
    ['https://app.example/cart;jsessionid=ABC?x=1', 'https://app.example/cart;jsessionid=[redacted]?x=1'],
  ])('%j: only the secret goes', (text, expected) => {
    expect(redactMessage(text)).toBe(expected)
  })
})

describe('a string meant as one URL that does not parse', () => {
  it.each([
    ['https://api.example.com /v1?api_key=K', 'https://api.example.com /v1?api_key=[redacted]'],
    ['http://bob:PW@exa mple.com/', 'http://exa mple.com/'],
    ['http://bob:P W@exa mple.com/', 'http://exa mple.com/'],
    ['https://api.example.com/v1?token=K K&x=1', 'https://api.example.com/v1?token=[redacted]&x=1'],
    ['v1?api_key=K', 'v1?api_key=[redacted]'],
  ])('%j → %j', (text, expected) => {
    expect(redactText(text)).toBe(expected)
    expect(redactUrl(text)).toBe(expected)
  })
})

describe('redactError', () => {
  it('rewrites message, stack and every string property along the cause chain, from what the caller gave', () => {
    const input = 'https://api.example.com /v1?api_key=K'
    const cause = Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL', input })
    const error = new TypeError(`Failed to parse URL from ${input}`, { cause })
    redactError(error, [[input, 'https://api.example.com /v1?api_key=[redacted]']])
    expect(error.message).toBe('Failed to parse URL from https://api.example.com /v1?api_key=[redacted]')
    expect(error.stack).not.toContain('=K')
    expect(cause.input).toBe('https://api.example.com /v1?api_key=[redacted]')
    expect(cause.code).toBe('ERR_INVALID_URL')
  })

  it.each([
    ['undici', 'Headers.append: "Authorization: Bearer T0K" is an invalid header name.'],
    ['Deno', 'Invalid header name: "Authorization: Bearer T0K"'],
    ['undici', 'Headers.append: "Bearer T0K\r\nX: 1" is an invalid header value.'],
    ['Deno', 'Invalid header value: "Bearer T0K\r\nX: 1"'],
  ])('the header a runtime refused (%s) is not quoted: %j', (_runtime, message) => {
    const error = redactError(new TypeError(message))
    expect(error.message).not.toContain('T0K')
    expect(error.message).toContain('[redacted]')
  })
})
