/**
 * Finds a Chromium for the browser tests and the benches, so that `npm install && npm test` works on a
 * fresh machine with no browser: `CHROMIUM_PATH`, then a system Chrome/Chromium, then the headless
 * Chromium that ships inside the `@sparticuz/chromium` devDependency (Linux x64 only: its npm package
 * holds no other build). That package is chosen over Playwright's own browsers because it downloads
 * nothing at install (the browser is in the tarball, so the npm registry is the only network needed).
 *
 * Only its binary is used. Its default `args` include `--disable-web-security`, which empties Resource
 * Timing's `nextHopProtocol`; callers pass their own list (vite.config.ts).
 */
import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'

/** Where Debian, Ubuntu, Fedora, Arch, snap and the macOS installers put Chrome or Chromium. */
const systemBrowsers = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
]

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * The path of a Chromium to launch, or undefined when none can be had (`chromiumMissing()` says what to
 * install). `CHROMIUM_PATH`, when set, is the only place looked at: a wrong path is an error to report,
 * not a reason to quietly test another browser.
 */
export async function chromiumPath(): Promise<string | undefined> {
  const chosen = process.env.CHROMIUM_PATH
  if (chosen) return executable(chosen) ? chosen : undefined
  const system = systemBrowsers.find(executable)
  if (system !== undefined) return system
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined
  try {
    // Unpacks the brotli'd binary into the temp folder once (about 1.5 s); later calls find it there.
    const { default: chromium } = await import('@sparticuz/chromium')
    const path = await chromium.executablePath()
    return executable(path) ? path : undefined
  } catch {
    return undefined // not installed (--omit=dev, or a platform npm skipped): chromiumMissing() says so
  }
}

/** One line that says why no browser was found and what to install. */
export function chromiumMissing(): string {
  const chosen = process.env.CHROMIUM_PATH
  if (chosen) return `no browser: CHROMIUM_PATH=${chosen} is not an executable file`
  const npmBuild = process.platform === 'linux' && process.arch === 'x64'
  return npmBuild
    ? 'no browser: @sparticuz/chromium did not unpack (run `npm install`), and no system Chrome/Chromium; or set CHROMIUM_PATH'
    : `no browser: install Chrome or Chromium (e.g. \`apt-get install chromium\`), or set CHROMIUM_PATH (the npm Chromium is Linux x64 only; this is ${process.platform} ${process.arch})`
}

/**
 * `node scripts/chromium.ts`: prints the browser's path and version, or the line saying what to install
 * and exits 1. .ci/run uses it to decide whether to fall back to Debian's chromium; it launches the
 * browser once, because a binary that is there may still miss a shared library on a slim image.
 */
if (import.meta.main) {
  const path = await chromiumPath()
  try {
    if (path === undefined) throw new Error(chromiumMissing())
    const version = execFileSync(path, ['--version'], { timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] })
    console.log(`${path}: ${version.toString().trim()}`)
  } catch (error) {
    console.log(path === undefined ? (error as Error).message : `no browser: ${path} does not start`)
    process.exitCode = 1
  }
}

/**
 * How the tests and benchmarks launch it (never the npm package's own defaults: they include
 * `--disable-web-security`, which empties Resource Timing's `nextHopProtocol`). Without the
 * background-networking flags Chromium keeps trying hosts this closed network refuses;
 * `--ignore-certificate-errors` for the HTTP/2 test server's certificate, made at run time.
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
