// The part of `bun:test` these files use, so `tsc` checks them without @types/bun.
declare module 'bun:test' {
  interface Test {
    (name: string, fn: () => unknown, timeout?: number): void
    skip(name: string, fn: () => unknown): void
  }
  export const test: Test
  export function beforeAll(fn: () => unknown): void
  export function afterAll(fn: () => unknown): void
}

declare const Bun: {
  serve(options: { hostname: string; port: number; fetch(request: Request): Response | Promise<Response> }): {
    port: number
    stop(force?: boolean): void
  }
}
