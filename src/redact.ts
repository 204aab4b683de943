/**
 * Credentials never leave ky-pool: every URL in an event, error, stats key or leak report goes
 * through `redactUrl`. Userinfo is dropped and values of secret-looking query parameters are replaced.
 */

/** Query parameter names whose values are treated as secrets (matched anywhere in the name). */
const secretWords = 'token|key|secret|pass|pwd|sig|auth|code|session|cred|jwt|bearer|otp|nonce'
const secretName = new RegExp(secretWords, 'i')
/** A `name=value` query pair whose name looks secret, in text that is not a parsable URL. */
const secretPair = new RegExp(`([?&][^=&#\\s]*(?:${secretWords})[^=&#\\s]*=)[^&#\\s]*`, 'gi')
const REDACTED = '[redacted]'

export function redactUrl(input: string | URL): string {
  let url: URL
  try {
    url = new URL(String(input))
  } catch {
    return redactText(String(input))
  }
  url.username = ''
  url.password = ''
  url.hash = ''
  if (url.search !== '') {
    const params = new URLSearchParams(url.search)
    let changed = false
    for (const name of new Set(params.keys())) {
      if (secretName.test(name)) {
        params.set(name, REDACTED)
        changed = true
      }
    }
    if (changed) url.search = params.toString().replaceAll('%5Bredacted%5D', REDACTED)
  }
  return url.href
}

/** For strings that are not URLs (an unparsable input): drop anything that looks like userinfo or a secret value. */
export function redactText(text: string): string {
  return text
    .slice(0, 200)
    .replace(/\/\/[^/@\s]*@/g, '//')
    .replace(secretPair, `$1${REDACTED}`)
}

/** Redacts every URL inside a free-text message (ky's error messages quote the request URL). */
export function redactMessage(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>`]+/gi, (url) => redactUrl(url))
}

/**
 * Redacts, in place, the message and stack of an error and of every error in its `cause` chain: the URLs
 * in them (ky's errors quote the request URL; the runtime's TypeError for a URL with userinfo quotes the
 * whole URL) and the header value the runtime quotes when it refuses one (undici: `"Bearer …\r\n" is an
 * invalid header value`). Returns the same error.
 */
export function redactError<T>(error: T): T {
  const seen = new Set<Error>()
  for (
    let current: unknown = error;
    current instanceof Error && !seen.has(current);
    current = current.cause
  ) {
    seen.add(current)
    rewrite(current, 'message')
    rewrite(current, 'stack')
  }
  return error
}

function rewrite(error: Error, key: 'message' | 'stack'): void {
  const text = error[key]
  if (typeof text !== 'string') return
  const redacted = redactMessage(text).replace(/"[\s\S]*?"(?= is an invalid header value)/g, `"${REDACTED}"`)
  if (redacted === text) return
  try {
    error[key] = redacted
  } catch {} // a frozen error keeps its text; nothing better can be done
}
