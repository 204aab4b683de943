/**
 * The pool, live: bursts of requests through one ky-pool client to three local APIs (three origins),
 * drawn every frame from `client.pool.stats()`, with the leaks the pool reported and the line of code
 * that made each leaking request.
 *
 * - `a` sends Timing-Allow-Origin, so the page learns it speaks HTTP/1.1 and ky-pool holds it at 6 (the
 *   browser's own number: the queue costs nothing and gives priority and abort-while-queued).
 * - `b` does not, like most cross-origin APIs: its protocol stays unknown, ky-pool adds no cap of its own
 *   and the browser queues beyond its 6 connections, out of sight.
 * - `c` is limited to 2 in `pool.origins`: a fragile backend.
 *
 * `?auto` runs warm-up, burst, forget and settle once, then sets `data-state="done"` on <body>
 * (test/examples/browser.ts waits for it).
 */
import { createClient, type OriginStats, type TraceEvent } from 'ky-pool'

type Name = 'a' | 'b' | 'c'
const upstreams = (await (await fetch('/upstreams.json')).json()) as Record<Name, string>
const notes: Record<Name, string> = {
  a: 'Timing-Allow-Origin: protocol visible',
  b: 'no Timing-Allow-Origin: protocol hidden',
  c: 'pool.origins: { [c]: 2 }',
}

interface Row {
  name: Name
  origin: string
  now: OriginStats | undefined
  /** The limit and protocol last seen (stats() lists an origin only while it has work). */
  seen: Pick<OriginStats, 'limit' | 'protocol' | 'protocolSource'> | undefined
  peakInFlight: number
  peakQueued: number
  /** The most requests the API answered at once, fetched after each step. */
  serverPeak: number | undefined
  settled: number
}

const rows = new Map<string, Row>(
  (Object.keys(upstreams) as Name[]).map((name) => [
    upstreams[name],
    {
      name,
      origin: upstreams[name],
      now: undefined,
      seen: undefined,
      peakInFlight: 0,
      peakQueued: 0,
      serverPeak: undefined,
      settled: 0,
    },
  ]),
)

interface LeakGroup {
  callSite: string
  method: string
  url: string
  detectedBy: string
  count: number
}
const leaks = new Map<string, LeakGroup>()

/** Every trace event: peaks are taken here, at the moments they can change, not once per frame. */
function trace(event: TraceEvent): void {
  const row = rows.get(event.origin)
  if (row === undefined) return
  if (event.type === 'queued') row.peakQueued = Math.max(row.peakQueued, event.queued)
  if (event.type === 'acquired') {
    knownProtocol.set(event.origin, event.protocol)
    row.peakInFlight = Math.max(row.peakInFlight, api.pool.stats().origins[event.origin]?.inFlight ?? 0)
  }
  if (event.type === 'settled') row.settled++
  if (event.type === 'leaked') {
    // The call site is the stack of the call that made the request; its first line is the caller's.
    const key = event.callSite.split('\n')[0] ?? ''
    const group = leaks.get(key)
    if (group) group.count++
    else
      leaks.set(key, {
        callSite: event.callSite,
        method: event.method,
        url: event.url,
        detectedBy: event.detectedBy,
        count: 1,
      })
  }
}

const api = createClient({
  retry: 0,
  pool: {
    origins: { [upstreams.c]: 2 },
    // A dev page: name the line of every leak from the first one on (a few µs per request).
    callSites: 'always',
    trace,
  },
})

let nextId = 0
/** Distinct URLs: Chromium's HTTP cache lets only one request per URL reach the network at a time. */
const itemUrl = (origin: string, ms: number) => `${origin}/items/${++nextId}?ms=${ms}`

/** The protocol each origin's latest request was sent under, as ky-pool knew it (`acquired` events). */
const knownProtocol = new Map<string, string>()

let warm = false
/**
 * Reads one item per origin, then more from `a` and `c` until ky-pool has learned their protocol.
 * Chromium fills Resource Timing's `nextHopProtocol` only once a body was read, and tells observers a
 * little later, so the request right after the first one may still go out unknown (uncapped, in a
 * browser). Bounded: an origin that never tells (like `b`) is not waited for.
 */
async function warmUp(): Promise<void> {
  if (warm) return
  warm = true
  await Promise.all(Object.values(upstreams).map((origin) => api.get(itemUrl(origin, 0)).json()))
  for (const origin of [upstreams.a, upstreams.c]) {
    for (let i = 0; i < 50 && knownProtocol.get(origin) === 'unknown'; i++) {
      await api.get(itemUrl(origin, 0)).json()
    }
  }
}

/** 24 GETs to each origin at once, each answered after 100 ms, every body read. */
async function burst(): Promise<void> {
  await warmUp()
  const calls = Object.values(upstreams).flatMap((origin) =>
    Array.from({ length: 24 }, () => api.get(itemUrl(origin, 100)).json()),
  )
  await Promise.all(calls)
}

/** Sloppy code: checks that a report exists and never reads (or cancels) its 256 KiB body. */
async function checkReport(n: number): Promise<boolean> {
  const res = await api.get(`${upstreams.a}/report?kb=256&n=${n}`)
  return res.ok
}

/** Sloppy code: a prefetch whose response is dropped. */
async function prefetchItem(): Promise<void> {
  await api.get(itemUrl(upstreams.b, 0))
}

async function forget(): Promise<void> {
  await Promise.all([...Array.from({ length: 8 }, (_, n) => checkReport(n)), prefetchItem(), prefetchItem()])
}

/** Reclaims what nobody read and reports the leaks (leaks: 'warn' also logs one line per call site). */
async function settle(): Promise<void> {
  await api.pool.settle()
}

async function serverPeaks(): Promise<void> {
  const stats = (await (await fetch('/upstream-stats.json')).json()) as Record<Name, { peak: number }>
  for (const row of rows.values()) row.serverPeak = stats[row.name].peak
}

// Drawing: one frame = one read of stats().
const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T
const tbody = $<HTMLTableSectionElement>('#origins tbody')
const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
const shortUrl = (text: string) => text.replaceAll(`${location.origin}/`, '')

function draw(): void {
  const stats = api.pool.stats()
  const scale = 24
  tbody.innerHTML = [...rows.values()]
    .map((row) => {
      row.now = stats.origins[row.origin]
      if (row.now) row.seen = row.now
      const inFlight = row.now?.inFlight ?? 0
      const queued = row.now?.queued ?? 0
      const limit =
        row.seen === undefined
          ? '–'
          : row.seen.limit === Infinity
            ? '∞ <span class="source">(browser: 6 per host)</span>'
            : String(row.seen.limit)
      const protocol =
        row.seen === undefined
          ? '–'
          : `${row.seen.protocol} <span class="source">${row.seen.protocolSource}</span>`
      const width = (n: number) => `${Math.min(100, (n / scale) * 100)}%`
      return `<tr data-origin="${row.name}" data-in-flight="${inFlight}" data-queued="${queued}">
        <td class="origin"><b>${row.name} · ${escapeHtml(row.origin)}</b><code>${escapeHtml(notes[row.name])}</code></td>
        <td><div class="bars"><span class="inflight" style="width:${width(inFlight)}"></span><span class="queued" style="width:${width(queued)}"></span></div>
          <div class="counts">${inFlight} in flight · ${queued} queued</div></td>
        <td class="limit">${limit}</td>
        <td class="protocol">${protocol}</td>
        <td class="num peak-in-flight">${row.peakInFlight}</td>
        <td class="num peak-queued">${row.peakQueued}</td>
        <td class="num server-peak">${row.serverPeak ?? '–'}</td>
        <td class="num">${row.settled}</td>
      </tr>`
    })
    .join('')
  $('#leaks').innerHTML =
    leaks.size === 0
      ? '<li class="empty">none yet</li>'
      : [...leaks.values()]
          .map(
            (
              leak,
            ) => `<li><b>${leak.count} × ${leak.method} ${escapeHtml(leak.url)}</b> <span class="source">found by ${leak.detectedBy}</span>
              <pre>${escapeHtml(shortUrl(leak.callSite.split('\n').slice(0, 2).join('\n')))}</pre></li>`,
          )
          .join('')
  const t = stats.totals
  $('#totals').textContent =
    `${t.requests} requests · ${t.reclaimed} bodies reclaimed (${t.drained} drained, ${t.cancelled} cancelled) · ` +
    `${t.leaks} leaks · ${t.queueTimeouts} queue timeouts · ${t.aborted} aborted`
  requestAnimationFrame(draw)
}
requestAnimationFrame(draw)

/** Runs one step, showing it in the header; the buttons are off meanwhile. */
async function step(name: string, fn: () => Promise<void>): Promise<void> {
  const buttons = document.querySelectorAll('button')
  for (const button of buttons) button.disabled = true
  $('#state').textContent = `${name}…`
  document.body.dataset.state = name
  try {
    await fn()
    await serverPeaks()
  } finally {
    for (const button of buttons) button.disabled = false
    $('#state').textContent = 'idle'
    document.body.dataset.state = 'idle'
  }
}

$('#burst').addEventListener('click', () => step('burst', burst))
$('#forget').addEventListener('click', () => step('forget', forget))
$('#settle').addEventListener('click', () => step('settle', settle))

if (new URLSearchParams(location.search).has('auto')) {
  await step('burst', burst)
  await step('forget', forget)
  await step('settle', settle)
  document.body.dataset.state = 'done'
  $('#state').textContent = 'done'
}
