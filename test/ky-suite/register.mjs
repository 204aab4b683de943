// `node --import=…/register.mjs`: KY_SUITE=ky-pool (default) or ky picks the shim ky's tests get as `ky`.
import { register } from 'node:module'

const shim = process.env.KY_SUITE === 'ky' ? './ky.ts' : './ky-pool.ts'
register('./hooks.mjs', import.meta.url, { data: { target: new URL(shim, import.meta.url).href } })
