import { chromiumMissing, chromiumPath as findChromium } from '../../scripts/chromium.ts'

/**
 * Where Chromium is, as the tests find it (scripts/chromium.ts: `CHROMIUM_PATH`, a system Chrome/Chromium,
 * then the one from npm); a benchmark without a browser stops with the line that says what to install.
 */
export async function chromiumPath(): Promise<string> {
  const path = await findChromium()
  if (path === undefined) throw new Error(chromiumMissing())
  return path
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
