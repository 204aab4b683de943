/**
 * Credentials never leave ky-pool. What is redacted, everywhere: userinfo (`user:pass@`) and the values
 * of parameters with a secret name (see secret-names.ts) in a URL's query, fragment and `;` path
 * parameters; in errors, also header values and names the runtime refused. Nothing else of a text is
 * changed (ky's own messages and their links stay as ky wrote them), except that URLs ky-pool writes
 * itself (events, stats, its own errors) are canonical and have no fragment.
 */
import { isSecretName } from './secret-names.ts'

const REDACTED = '[redacted]'

/** `?name=value`, `&name=value` or `#name=value`; in one URL (`lenient`) a value may hold spaces. */
const queryPair = /([?&#])([^=&#?;/\s]+)=([^&#\s]*)/g
const lenientQueryPair = /([?&#])([^=&#?;/]+)=([^&#]*)/g
/** `;name=value` path parameters (`;jsessionid=…`). */
const pathPair = /(;)([^=&#?;/\s]+)=([^;?#/&\s]*)/g
/** `scheme://userinfo@`, up to the last `@` before the host ends, as the URL parser reads it. */
const userinfo = /\b([a-z][a-z\d+.-]*:\/\/)[^/?#\\\s"'<>`]*@/gi
const lenientUserinfo = /^(\s*(?:[a-z][a-z\d+.-]*:)?\/\/)[^/?#\\]*@/i

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '))
  } catch {
    return name
  }
}

const redactPair = (_: string, separator: string, name: string, value: string) =>
  value === '' || !isSecretName(decodeName(name))
    ? `${separator}${name}=${value}`
    : `${separator}${name}=${REDACTED}`

/**
 * A URL for ky-pool's own output (events, stats, leak reports, its errors): canonical (as the URL parser
 * writes it), without userinfo or fragment (never sent), values of secret parameters replaced.
 */
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
  // Text, not URLSearchParams: its toString() would re-encode every other parameter (`%20` → `+`).
  const href = url.href
  return href.includes('=') ? href.replace(queryPair, redactPair).replace(pathPair, redactPair) : href
}

/**
 * A string meant as one URL that may not parse (a space in it, a bad host): everything between `//`
 * and the last `@` of the authority is userinfo, and a parameter's value runs to the next `&` or `#`,
 * spaces and all. Cut to 200 characters.
 */
export function redactText(text: string): string {
  return redactUrlText(text).slice(0, 200)
}

function redactUrlText(text: string): string {
  return text
    .replace(lenientUserinfo, '$1')
    .replace(lenientQueryPair, redactPair)
    .replace(pathPair, redactPair)
}

/**
 * Free text (ky's and the runtime's error messages and stacks): the userinfo of every `scheme://` URL
 * and the values of secret parameters anywhere; nothing else changes. URLs are not parsed or rewritten.
 */
export function redactMessage(text: string): string {
  return text.replace(userinfo, '$1').replace(queryPair, redactPair).replace(pathPair, redactPair)
}

/**
 * A string the caller gave (a URL, a prefix, a header) as the runtime may quote it verbatim in an error,
 * and what to show instead. This is what holds for input that is no valid URL: the runtime quotes it
 * whole (`Failed to parse URL from https://api.example.com /v1?api_key=K`, `cause.input`), and only the
 * caller's own text says where that URL ends.
 */
export type Quoted = readonly [raw: string, shown: string]

/** A URL-like string the caller gave, when redaction would change it. */
export function quotedUrl(raw: string): Quoted[] {
  const shown = redactUrlText(raw)
  return shown === raw ? [] : [[raw, shown]]
}

/** A token, as the Fetch standard wants a header name (RFC 9110). */
const headerName = /^[!#$%&'*+\-.^_`|~\dA-Za-z]+$/

/**
 * A header the caller gave, as far as a runtime may quote it when refusing it: a name that is not a
 * token (often a whole line pasted as a name, `Authorization: Bearer …`: what follows the colon goes),
 * and a value with CR, LF or NUL (runtimes quote it trimmed).
 */
export function quotedHeader(name: string, value: string): Quoted[] {
  const quoted: Quoted[] = []
  if (!headerName.test(name)) quoted.push([name, shownHeaderName(name)])
  if (/[\r\n\0]/.test(value)) {
    quoted.push([value, REDACTED])
    if (value.trim() !== value && value.trim() !== '') quoted.push([value.trim(), REDACTED])
  }
  return quoted
}

function shownHeaderName(name: string): string {
  const colon = name.indexOf(':')
  return colon > 0 ? `${name.slice(0, colon + 1)} ${REDACTED}` : REDACTED
}

/**
 * A refused header as runtimes quote it: undici and Firefox `"…" is an invalid header value|name`, Deno
 * `Invalid header value|name: "…"`, node:http (happy-dom's fetch) `Header name must be a valid HTTP token ["…"]`.
 */
const refusedHeaderValue = /"[\s\S]*?"(?= is an invalid header value)|(?<=Invalid header value: )"[\s\S]*?"/g
const refusedHeaderName =
  /"([^"]*)"(?= is an invalid header name)|(?<=Invalid header name: )"([^"]*)"|(?<=must be a valid HTTP token \[)"([^"]*)"(?=\])/g

/**
 * Redacts, in place, every string property (message, stack, `input`, …) of an error and of every error
 * in its `cause` chain: first what the caller gave (`quoted`), then URLs in the text (`redactMessage`)
 * and the header names and values the runtime quotes when it refuses them. Returns the same error.
 */
export function redactError<T>(error: T, quoted: readonly Quoted[] = []): T {
  // Longest first: a prefix is often part of the full URL that a runtime quotes.
  const known = quoted.length > 1 ? [...quoted].sort((a, b) => b[0].length - a[0].length) : quoted
  const seen = new Set<Error>()
  for (
    let current: unknown = error;
    current instanceof Error && !seen.has(current);
    current = current.cause
  ) {
    seen.add(current)
    for (const key of Object.getOwnPropertyNames(current)) rewrite(current, key, known)
    // `message` and `stack` may be inherited or accessors; rewrite them whether or not they are own.
    rewrite(current, 'message', known)
    rewrite(current, 'stack', known)
  }
  return error
}

function rewrite(error: Error, key: string, known: readonly Quoted[]): void {
  let text: unknown
  try {
    text = (error as unknown as Record<string, unknown>)[key]
  } catch {
    return
  }
  if (typeof text !== 'string') return
  let redacted = text
  for (const [raw, shown] of known) if (raw !== '') redacted = redacted.replaceAll(raw, shown)
  redacted = redactMessage(redacted)
    .replace(refusedHeaderValue, `"${REDACTED}"`)
    .replace(
      refusedHeaderName,
      (_, ...names: unknown[]) => `"${shownHeaderName(names.find((n) => typeof n === 'string') ?? '')}"`,
    )
  if (redacted === text) return
  try {
    ;(error as unknown as Record<string, unknown>)[key] = redacted
  } catch {} // a frozen error keeps its text; nothing better can be done
}
