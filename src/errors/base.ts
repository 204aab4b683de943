/** Base class of every error ky-pool creates, so callers can tell them from ky's and the runtime's. */
export class KyPoolError extends Error {
  override name = 'KyPoolError'
}
