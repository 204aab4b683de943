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

export { chromiumArgs } from '../../scripts/chromium.ts'
