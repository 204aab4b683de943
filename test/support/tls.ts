/**
 * A certificate for `127.0.0.1`, `::1` and `localhost` and the throwaway CA that issued it, made at run time with
 * the `openssl` CLI (present on Debian/Ubuntu images and macOS; `OPENSSL` names another binary). Nothing is
 * committed, nothing is trusted system-wide: clients are told to trust `ca` — Node with `connect: { ca }` on an
 * undici Agent, Deno with `Deno.createHttpClient({ caCerts: [ca] })` or `--cert` (or skip checks with
 * `--unsafely-ignore-certificate-errors=127.0.0.1`), Chromium with `--ignore-certificate-errors`.
 *
 * Only `node:` built-ins, so it runs under Node's type stripping and in Deno.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Certificate {
  /** PEM private key of the server's certificate (P-256). */
  key: string
  /** PEM server certificate for 127.0.0.1, ::1 and localhost, issued by `ca`. */
  cert: string
  /** PEM certificate of the throwaway CA that issued `cert`: what a client trusts (`ca`, `caCerts`, `--cert`). */
  ca: string
}

let made: Certificate | undefined

/** One CA and server certificate per process (a few ms to make), valid for two days from now. */
export function loopbackCertificate(): Certificate {
  made ??= makeCertificate()
  return made
}

/**
 * A CA and a leaf it signs, not one self-signed certificate: rustls (Deno's and workerd's TLS) refuses a server
 * certificate that is its own CA ("CaUsedAsEndEntity") and webpki wants a chain; OpenSSL (Node) and Chromium take
 * either. EC keys: RSA-2048 generation takes 0.1–1 s, P-256 a few ms.
 */
function makeCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'ky-pool-tls-'))
  const file = (name: string) => join(dir, name)
  const openssl = (args: string[]) =>
    execFileSync(process.env.OPENSSL ?? 'openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  try {
    openssl([
      'req',
      '-x509',
      ...ec,
      '-days',
      '2',
      '-subj',
      '/CN=ky-pool loopback test CA',
      '-addext',
      'basicConstraints=critical,CA:true',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ])
    openssl(['req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', file('key.pem'), '-out', file('leaf.csr')])
    writeFileSync(
      file('leaf.ext'),
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=critical,CA:false\n' +
        'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    )
    openssl([
      'x509',
      '-req',
      '-in',
      file('leaf.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      file('leaf.ext'),
      '-out',
      file('cert.pem'),
    ])
    const read = (name: string) => readFileSync(file(name), 'utf8')
    return { key: read('key.pem'), cert: read('cert.pem'), ca: read('ca.pem') }
  } catch (error) {
    throw new Error(
      `test/support/tls.ts: could not make a certificate with the openssl CLI (${String(error)}). ` +
        'Install openssl (apt-get install -y openssl) or point OPENSSL at one.',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
