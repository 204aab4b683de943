/**
 * Which query (and fragment) parameter names carry secrets. A name is split into words — at `_`, `-`,
 * `.`, `[`, `]`, spaces and camelCase humps: `X-Amz-Signature` → x amz signature, `apiKey` → api key,
 * `sessionID` → session id — and is secret when one of its words, or two neighbouring words written
 * together (`session_id` → sessionid), is in `secretWords`, or when the whole name is in `secretNames`.
 * Whole words only: `author`, `keyword`, `zipcode`, `signal`, `design` and `session_count` are not
 * secret. The README ("What is redacted") lists the same words; keep the two in step.
 */

/** Words that make a name secret wherever they stand in it (a trailing `s` is ignored: `keys`, `tokens`). */
export const secretWords: ReadonlySet<string> = new Set([
  // tokens, keys and signatures
  'token',
  'secret',
  'key',
  'apikey',
  'accesskey',
  'secretkey',
  'privatekey',
  'accesstoken',
  'authtoken',
  'refreshtoken',
  'idtoken',
  'clientsecret',
  'signature',
  'sig',
  'hmac',
  'jwt',
  'bearer',
  'assertion',
  'samlresponse',
  'ticket',
  // passwords
  'password',
  'passwd',
  'pwd',
  'pw',
  'passphrase',
  'passcode',
  'otp',
  'totp',
  // authorization and credentials
  'auth',
  'authorization',
  'credential',
  'cred',
  'creds',
  // sessions and cookies
  'sid',
  'sessionid',
  'sessionkey',
  'sessiontoken',
  'sessid',
  'jsessionid',
  'phpsessid',
  'cookie',
  'csrf',
  'xsrf',
  'nonce',
])

/**
 * Names that are secret only on their own: `code` (OAuth's authorization code) but not `zip_code`,
 * `session` but not `session_count`.
 */
export const secretNames: ReadonlySet<string> = new Set(['code', 'session', 'pass', 'pin'])

/** Words of a name: lower-case, split at separators and camelCase humps (`HMACSignature` → hmac signature). */
export function wordsOf(name: string): string[] {
  return (name.match(/[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+/g) ?? []).map((word) => word.toLowerCase())
}

const isSecretWord = (word: string) =>
  secretWords.has(word) || (word.endsWith('s') && secretWords.has(word.slice(0, -1)))

/** Whether values of a parameter with this (decoded) name are redacted. */
export function isSecretName(name: string): boolean {
  const words = wordsOf(name)
  if (words.length === 1 && secretNames.has(words[0] as string)) return true
  return words.some(
    (word, index) => isSecretWord(word) || (index > 0 && isSecretWord(`${words[index - 1]}${word}`)),
  )
}
