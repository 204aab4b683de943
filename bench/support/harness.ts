/**
 * What every benchmark shares: the machine line, env-configurable sizes, interleaved rounds, the
 * median/min–max summary and the markdown table. Measurements only — nothing here asserts a timing.
 */
import os from 'node:os'

/** "Linux x64, 2 cores (model), Node v24.x, load average …" — printed above every table. */
export function machine(): string {
  const cpus = os.cpus()
  const model = cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU'
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno
  const runtime = deno === undefined ? `Node ${process.version}` : `Deno ${deno.version.deno}`
  const load = os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')
  return `${os.type()} ${os.arch()}, ${os.availableParallelism()} cores (${model}), ${runtime}, load average at start ${load}`
}

/** A whole number from the environment (`BENCH_ROUNDS=7`), or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number >= 0, got ${raw}`)
  return value
}

/** A comma-separated list of whole numbers from the environment (empty: none), or `fallback` when unset. */
export function envInts(name: string, fallback: number[]): number[] {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  if (raw.trim() === '') return []
  return raw.split(',').map((part) => {
    const value = Number(part.trim())
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must list whole numbers, got ${raw}`)
    return value
  })
}

/** Measured rounds (after the warm-up): `BENCH_ROUNDS`, else the script's default (3 unless it says). */
export function roundsOr(fallback: number): number {
  return envInt('BENCH_ROUNDS', fallback)
}

export const rounds = roundsOr(3)

export interface Summary {
  median: number
  min: number
  max: number
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN }
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

/** A number with thousands separators and at most `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? '—' : String(value)
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

/** "median (min–max)", or just the value when every round gave the same one. */
export function cell(values: readonly number[], digits = 0, unit = ''): string {
  if (values.length === 0) return '—'
  const { median, min, max } = summarize(values)
  if (num(min, digits) === num(max, digits)) return `${num(median, digits)}${unit}`
  return `${num(median, digits)}${unit} (${num(min, digits)}–${num(max, digits)})`
}

/** A markdown table whose columns line up in a terminal too. Numeric-looking columns are right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, 3, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const numeric = headers.map(
    (_, column) =>
      rows.length > 0 && rows.every((row) => /^[\d,.—–()×%\s]+[a-zµ%×]*( \(.*\))?$/i.test(row[column] ?? '')),
  )
  const pad = (text: string, column: number) =>
    numeric[column] ? text.padStart(widths[column]!) : text.padEnd(widths[column]!)
  const line = (cells: readonly string[]) =>
    `| ${cells.map((text, column) => pad(text, column)).join(' | ')} |`
  // Biome's markdown style: `| --- | ---: |`, a space inside each pipe.
  const rule = `| ${widths.map((width, column) => (numeric[column] ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width))).join(' | ')} |`
  return [line(headers), rule, ...rows.map(line)].join('\n')
}

/**
 * Runs `run` for every contender, interleaved: one warm-up round (results dropped), then `rounds`
 * rounds, each starting one contender later (A B C, B C A, C A B, …) so no one always goes first
 * after a pause. Returns each contender's measured samples in round order.
 */
export async function interleave<C extends { name: string }, S>(
  contenders: readonly C[],
  options: { rounds: number; warmup?: (contender: C) => Promise<unknown> },
  run: (contender: C, round: number) => Promise<S>,
): Promise<Map<C, S[]>> {
  const samples = new Map<C, S[]>(contenders.map((contender) => [contender, []]))
  for (const contender of contenders) await (options.warmup ?? run)(contender, -1)
  for (let round = 0; round < options.rounds; round++) {
    for (let offset = 0; offset < contenders.length; offset++) {
      const contender = contenders[(round + offset) % contenders.length]!
      samples.get(contender)!.push(await run(contender, round))
    }
  }
  return samples
}

/** Milliseconds since `start` (a `performance.now()` value). */
export function since(start: number): number {
  return performance.now() - start
}

/** The heading each script prints: title, what is measured, the machine and the number of rounds. */
export function header(title: string, description: string, measured = rounds): string {
  return `## ${title}\n\n${description}\n\nMachine: ${machine()}. Rounds: ${measured} after a warm-up, interleaved.`
}
