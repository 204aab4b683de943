/** Base class of every error ky-pool creates, so callers can tell them from ky's and the runtime's. */
export class KyPoolError extends Error {
  override name = 'KyPoolError'
}

/** What an error knows of the request it belongs to; the URL is already redacted. */
export interface RequestInfo {
  method: string
  url: string
  origin: string
}

/** An error about one request: it names the request (method, redacted URL, origin) for the caller and for logs. */
export class KyPoolRequestError extends KyPoolError {
  override name = 'KyPoolRequestError'
  readonly method: string
  /** The request URL, redacted (no userinfo, no secret-looking query values). */
  readonly url: string
  readonly origin: string

  constructor(request: RequestInfo, message: string) {
    super(message)
    this.method = request.method
    this.url = request.url
    this.origin = request.origin
  }
}
