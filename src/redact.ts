/**
 * Credentials never leave ky-pool: every URL in an event, error, stats key or leak report goes
 * through `redactUrl`. Userinfo is dropped and values of secret-looking query parameters are replaced.
 */

/** Query parameter names whose values are treated as secrets (matched anywhere in the name). */
const secretName = /token|key|secret|pass|pwd|sig|auth|code|session|cred|jwt|bearer|otp|nonce/i
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
function redactText(text: string): string {
  return text
    .slice(0, 200)
    .replace(/\/\/[^/@\s]*@/g, '//')
    .replace(
      /([?&][^=&#\s]*(?:token|key|secret|pass|pwd|sig|auth|code|session|cred|jwt)[^=&#\s]*=)[^&#\s]*/gi,
      `$1${REDACTED}`,
    )
}

/** Redacts every URL inside a free-text message (ky's error messages quote the request URL). */
export function redactMessage(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>`]+/gi, (url) => redactUrl(url))
}
