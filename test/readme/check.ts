/**
 * The code blocks of README.md and docs/*.md cannot drift from the code: every ```ts block is written out
 * as a module of its own and type-checked against src/ (`ky-pool` and `ky-pool/testing` map to src/ through
 * the project's tsconfig paths) by the project's tsc, or by `deno check` when the line before it says
 * `<!-- checked-by: deno -->`. A block whose first line is a path comment (`// mocks/web.ts`) sits in that
 * folder, so its relative imports reach the repository's own files; other relative imports are from the
 * repository's root. A block may opt out only with `<!-- not-checked: reason -->` on the line before it,
 * for text that is not TypeScript meant to compile.
 * Prints `readme: N passed, N failed` (one per block).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')
const work = join(import.meta.dirname, '.blocks') // ignored by git, excluded from tsconfig.json

interface Block {
  /** `README.md:123`: where the block's first code line is. */
  where: string
  file: string
  checker: 'tsc' | 'deno'
  /** The line in its document of the block's first code line (1-based). */
  line: number
  code: string
}

const documents = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
]
const blocks: Block[] = []
let skipped = 0
let failed = 0
let passed = 0

for (const document of documents) {
  const lines = readFileSync(join(root, document), 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const fence = /^\s*```(\w+)?\s*$/.exec(lines[i]!)
    if (!fence) continue
    const end = lines.findIndex((line, j) => j > i && /^\s*```\s*$/.test(line))
    const language = fence[1] ?? ''
    const before =
      lines
        .slice(0, i)
        .reverse()
        .find((line) => line.trim() !== '') ?? ''
    const code = lines.slice(i + 1, end).join('\n')
    const where = `${document}:${i + 2}`
    if (['ts', 'typescript'].includes(language)) {
      const optOut = /<!--\s*not-checked:\s*(.*?)\s*-->/.exec(before)
      if (optOut) {
        if (optOut[1] === '') {
          failed++
          console.log(`  ✗ ${where}: <!-- not-checked: --> needs a reason`)
        } else skipped++
      } else {
        const checker = /<!--\s*checked-by:\s*deno\s*-->/.test(before) ? 'deno' : 'tsc'
        blocks.push({
          where,
          file: `${document.replace(/\W/g, '_')}_${i + 2}.ts`,
          checker,
          line: i + 2,
          code,
        })
      }
    }
    i = end
  }
}

rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })

/** Relative imports, from the folder the block's path comment names (or the root), to here. */
function placed(block: Block): string {
  const named = /^\/\/ ([\w./-]+\.ts)\b/.exec(block.code)?.[1]
  const from = named === undefined ? root : dirname(join(root, named))
  const code = block.code.replace(
    /(from\s+|import\s*\(\s*|import\s+)(['"])(\.{1,2}\/[^'"]+)\2/g,
    (_, head, quote, spec) => {
      let target = relative(work, resolve(from, spec)).replaceAll('\\', '/')
      if (!target.startsWith('.')) target = `./${target}`
      return `${head}${quote}${target}${quote}`
    },
  )
  return `${code}\nexport {}\n`
}

for (const block of blocks) writeFileSync(join(work, block.file), placed(block))
writeFileSync(
  join(work, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../../tsconfig.json',
    // The blocks, and the ambient `cloudflare:workers` module that src/durable-object/ imports.
    include: [
      ...blocks.filter((b) => b.checker === 'tsc').map((b) => b.file),
      '../../../src/cloudflare-workers.d.ts',
    ],
    exclude: [],
  }),
)
writeFileSync(
  join(work, 'import_map.json'),
  JSON.stringify({
    imports: { 'ky-pool': '../../../src/index.ts', 'ky-pool/testing': '../../../src/testing.ts' },
  }),
)

/** Output of a checker that may fail; errors are read from it. */
function run(command: string, args: string[]): string {
  try {
    execFileSync(command, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
      env: { ...process.env, NO_COLOR: '1' },
    })
    return ''
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer }
    return `${stdout ?? ''}${stderr ?? ''}` || (error as Error).message
  }
}

const bin = (name: string) => join(root, 'node_modules/.bin', name)
const tscOutput = run(bin('tsc'), ['-p', join(work, 'tsconfig.json'), '--noEmit', '--pretty', 'false'])
for (const block of blocks) {
  let errors: string[]
  if (block.checker === 'tsc') {
    errors = tscOutput
      .split('\n')
      .filter((line) => line.includes(block.file))
      .map((line) =>
        line.replace(
          /^.*?\.ts\((\d+),(\d+)\)/,
          (_, row, column) => `${block.where.split(':')[0]}:${block.line + Number(row) - 1}:${column}`,
        ),
      )
  } else {
    const output = run(bin('deno'), [
      'check',
      `--import-map=${join(work, 'import_map.json')}`,
      join(work, block.file),
    ])
    errors = output === '' ? [] : [output.trim()]
  }
  if (errors.length === 0) {
    passed++
    console.log(`  ✓ ${block.where} (${block.checker})`)
  } else {
    failed++
    console.log(`  ✗ ${block.where} (${block.checker})\n${errors.map((line) => `      ${line}`).join('\n')}`)
  }
}
// A tsc failure that names no block (a bad tsconfig) must not pass unseen.
if (tscOutput !== '' && !blocks.some((block) => tscOutput.includes(block.file))) {
  failed++
  console.log(`  ✗ tsc failed outside the blocks:\n${tscOutput}`)
}
rmSync(work, { recursive: true, force: true })
console.log(`readme: ${skipped} blocks opted out`)
console.log(`readme: ${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 || passed === 0 ? 1 : 0
