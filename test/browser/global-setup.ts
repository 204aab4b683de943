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
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startMockLoopback()
  project.provide('loopbackUrl', server.url)
  return () => server.close()
}
