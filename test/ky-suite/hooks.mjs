// Node module hook: inside ky's test folder, `../source/index.js` (ky itself) resolves to one of the
// shims next to this file. ky's other imports (`../source/utils/…`, helpers) are left alone.
let target

export function initialize(data) {
  target = data.target
}

export async function resolve(specifier, context, next) {
  if (/\/source\/index\.[jt]s$/.test(specifier) && /\/test\/[^/]*$/.test(context.parentURL ?? '')) {
    return { url: target, shortCircuit: true }
  }
  return next(specifier, context)
}
