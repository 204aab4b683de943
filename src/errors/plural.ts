/** `1 request`, `2 requests`, `0 bytes`: a count with its noun in the right number. */
export function plural(count: number, noun: string): string {
  return `${count} ${count === 1 ? noun : `${noun}s`}`
}
