/**
 * vitest `globalSetup` of the chromium project (runs in Node): the shared msw handlers over real HTTP on
 * loopback (mocks/loopback.ts), for the tests about the browser's own connections. Tests get its URL
 * with `inject('loopbackUrl')`.
 */
import type { TestProject } from 'vitest/node'
import { startMockLoopback } from '../../mocks/loopback.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    loopbackUrl: string
    /** The same, without `Timing-Allow-Origin`: a cross-origin API whose protocol the page cannot learn. */
    opaqueUrl: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startMockLoopback()
  const opaque = await startMockLoopback({ timingAllowOrigin: false })
  project.provide('loopbackUrl', server.url)
  project.provide('opaqueUrl', opaque.url)
  return async () => {
    await server.close()
    await opaque.close()
  }
}
