// The baseline: the ky that ky-pool runs on (its node_modules/ky), exactly as ky's tests import it.
export * from 'ky'
export { default } from 'ky'
