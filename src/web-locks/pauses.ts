/**
 * Origin backpressure shared between the tabs of a site: one tab's `pause(key, until)` (a 429 with
 * `Retry-After`) reaches every other tab's listeners through a `BroadcastChannel`, and this tab's own
 * listeners directly (a channel does not deliver to its sender). Where `BroadcastChannel` is missing
 * the pause stays in this tab. The channel is opened on first use and closed by `close()`.
 */

type Listener = (key: string, until: number) => void

interface PauseMessage {
  key: string
  until: number
}

export class Pauses {
  readonly #channelName: string
  readonly #listeners = new Set<Listener>()
  #channel: BroadcastChannel | undefined
  #closed = false

  constructor(channelName: string) {
    this.#channelName = channelName
  }

  pause(key: string, until: number): void {
    if (this.#closed) return
    this.#open()?.postMessage({ key, until } satisfies PauseMessage)
    this.#tell(key, until)
  }

  onPause(listener: Listener): () => void {
    this.#listeners.add(listener)
    this.#open()
    return () => {
      this.#listeners.delete(listener)
    }
  }

  close(): void {
    this.#closed = true
    this.#listeners.clear()
    this.#channel?.close()
    this.#channel = undefined
  }

  #open(): BroadcastChannel | undefined {
    if (this.#closed || this.#channel !== undefined || typeof BroadcastChannel !== 'function')
      return this.#channel
    const channel = new BroadcastChannel(this.#channelName)
    channel.onmessage = (event: MessageEvent<unknown>) => {
      const message = event.data as Partial<PauseMessage> | null
      if (typeof message?.key === 'string' && typeof message.until === 'number')
        this.#tell(message.key, message.until)
    }
    // Node's channel keeps the process alive while it listens; a store nobody closed must not.
    ;(channel as { unref?: () => void }).unref?.()
    this.#channel = channel
    return channel
  }

  #tell(key: string, until: number): void {
    for (const listener of this.#listeners) listener(key, until)
  }
}
