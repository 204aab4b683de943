/**
 * A self-signed certificate for `127.0.0.1` and `localhost`, made at run time with the `openssl` CLI (present
 * on Debian/Ubuntu images and macOS; `OPENSSL` names another binary). Nothing is committed, nothing is
 * trusted system-wide: clients are told to accept it — Node with `connect: { ca: cert }` on an undici Agent,
 * Deno with `--unsafely-ignore-certificate-errors=127.0.0.1` (or `Deno.createHttpClient({ caCerts: [cert] })`),
 * Chromium with `--ignore-certificate-errors`.
 *
 * Only `node:` built-ins, so it runs under Node's type stripping and in Deno.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Certificate {
  /** PEM private key (P-256). */
  key: string
  /** PEM certificate; it is its own CA, so it is also what a client passes as `ca`. */
  cert: string
}

let made: Certificate | undefined

/** One certificate per process (about 20 ms to make), valid for two days from now. */
export function loopbackCertificate(): Certificate {
  made ??= makeCertificate()
  return made
}

function makeCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'ky-pool-tls-'))
  try {
    const key = join(dir, 'key.pem')
    const cert = join(dir, 'cert.pem')
    // An EC key: RSA-2048 generation takes ~0.1–1 s; P-256 a few ms. TLS 1.3 clients all accept it.
    execFileSync(
      process.env.OPENSSL ?? 'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
        '-addext',
        'basicConstraints=critical,CA:true',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
  } catch (error) {
    throw new Error(
      `test/support/tls.ts: could not make a certificate with the openssl CLI (${String(error)}). ` +
        'Install openssl (apt-get install -y openssl) or point OPENSSL at one.',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
