/**
 * vitest `globalSetup` of the chromium project (runs in Node): the shared msw handlers over real HTTP on
 * loopback (mocks/loopback.ts), for the tests about the browser's own connections. Tests get its URL
 * with `inject('loopbackUrl')`.
 */
import type { TestProject } from 'vitest/node'
import { startMockLoopback } from '../../mocks/loopback.ts'
import { startH2Server } from '../support/h2-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    loopbackUrl: string
    /** The same, without `Timing-Allow-Origin`: a cross-origin API whose protocol the page cannot learn. */
    opaqueUrl: string
    /** A TLS server on loopback that speaks HTTP/2 (and HTTP/1.1), with `Timing-Allow-Origin: *`. */
    h2Url: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startMockLoopback()
  const opaque = await startMockLoopback({ timingAllowOrigin: false })
  const h2 = await startH2Server({ protocol: 'h1+h2', timingAllowOrigin: true })
  project.provide('loopbackUrl', server.url)
  project.provide('opaqueUrl', opaque.url)
  project.provide('h2Url', h2.url)
  return async () => {
    await server.close()
    await opaque.close()
    await h2.close()
  }
}
