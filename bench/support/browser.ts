/**
 * Where Chromium is and how it is launched for benchmarks. One function for the path, so it can later be
 * pointed at a finder script without touching the benchmarks: `CHROMIUM_PATH`, else Debian's /usr/bin/chromium.
 */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
}

/**
 * The project's launch args (the same list as vite.config.ts) plus `--ignore-certificate-errors` for the
 * loopback certificate. Never `--disable-web-security` (as in @sparticuz/chromium's defaults): it empties
 * Resource Timing's `nextHopProtocol`.
 */
export const chromiumArgs: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--ignore-certificate-errors',
]
