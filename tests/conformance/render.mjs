#!/usr/bin/env node
// Test oracle: renders a Guacamole session recording (.guac) with the reference
// browser player (guacamole-common-js Guacamole.SessionRecording) in headless
// Chromium and writes PNG snapshots of the display.
//
//   node render.mjs --recording FILE --at MS[,MS...] --out DIR
//   node render.mjs --recording FILE --info
//
// MS are milliseconds relative to the recording's first `sync`. The snapshot
// at MS is the player state after every frame whose sync timestamp is <= MS
// (see README.md for the exact semantics).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { playerHarness } from './harness.mjs';

function die(msg, code = 1) {
  process.stderr.write(`render.mjs: error: ${msg}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------- arguments
function usage() {
  return 'usage: node render.mjs --recording FILE (--at MS[,MS...] --out DIR | --info)\n' +
         '                       [--timeout SECONDS (default 600)] [--chromium PATH (default $CHROMIUM or /usr/bin/chromium)]';
}
const opts = { timeout: 600, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value\n${usage()}`); return argv[++i]; };
    if (a === '--recording') opts.recording = val();
    else if (a === '--at') opts.at = val();
    else if (a === '--out') opts.out = val();
    else if (a === '--info') opts.info = true;
    else if (a === '--timeout') opts.timeout = Number(val());
    else if (a === '--chromium') opts.chromium = val();
    else if (a === '-h' || a === '--help') { console.log(usage()); process.exit(0); }
    else die(`unknown argument ${a}\n${usage()}`);
  }
  if (!opts.recording) die(`--recording is required\n${usage()}`);
  if (!opts.info && (!opts.at || !opts.out)) die(`need --at and --out, or --info\n${usage()}`);
  if (!(opts.timeout > 0)) die('--timeout must be a positive number of seconds');
}
let positions = [];
if (opts.at) {
  for (const s of opts.at.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!/^\d+(\.\d+)?$/.test(s)) die(`bad --at position "${s}" (non-negative milliseconds expected)`);
    positions.push({ name: s, ms: Number(s) });
  }
  if (!positions.length) die('--at lists no positions');
  // Seek forwards only: the player then replays frames incrementally and never
  // restores a keyframe snapshot (exportState/importState), which is lossy.
  positions.sort((a, b) => a.ms - b.ms);
  positions = positions.filter((p, i) => i === 0 || p.name !== positions[i - 1].name);
}

let recStat;
try { recStat = fs.statSync(opts.recording); } catch (e) { die(`cannot read recording ${opts.recording}: ${e.message}`); }
if (!recStat.isFile()) die(`recording ${opts.recording} is not a file`);
if (recStat.size === 0) die(`recording ${opts.recording} is empty`);
try { fs.accessSync(opts.chromium, fs.constants.X_OK); } catch {
  die(`chromium not found/executable at ${opts.chromium} (apt-get install -y chromium, or pass --chromium PATH)`);
}
if (opts.out) {
  try { fs.mkdirSync(opts.out, { recursive: true }); } catch (e) { die(`cannot create --out ${opts.out}: ${e.message}`); }
}

// ------------------------------------------------- guacamole-common-js source
// The npm package is the upstream modules/*.js concatenated, plus
// `export default Guacamole;` (ESM build). One bug of the 1.5.0 release must
// be fixed for the Blob code path to work at all: the Blob branch of the
// SessionRecording constructor never assigns `recordingBlob = source` and
// throws "Cannot read properties of undefined (reading 'size')" (third-party
// notes call it GUACAMOLE-1793; later upstream sources assign it exactly like
// this). Nothing else is changed.
let libPath, libSrc, puppeteer;
try {
  ({ default: puppeteer } = await import('puppeteer-core'));
  libPath = fileURLToPath(import.meta.resolve('guacamole-common-js'));   // dist/esm/guacamole-common.js
  libSrc = fs.readFileSync(libPath, 'utf8');
} catch (e) { die(`dependencies not installed (run npm ci in ${path.dirname(fileURLToPath(import.meta.url))}): ${e.message}`); }
{
  const buggy = '    if (source instanceof Blob)\n        parseBlob(recordingBlob, loadInstruction, notifyLoaded);';
  const fixed = '    if (source instanceof Blob) {\n        recordingBlob = source;\n        parseBlob(recordingBlob, loadInstruction, notifyLoaded);\n    }';
  if (libSrc.includes(buggy)) libSrc = libSrc.replace(buggy, fixed);
  else if (!libSrc.includes('recordingBlob = source')) die(`unexpected ${libPath}: cannot apply the recordingBlob fix`);
}

// ------------------------------------------------------------------- page
// Runs in Chromium. window.guacLoad() loads the recording; window.guacShot(k)
// renders frame k (index into the player's frame list) to a PNG data URL.
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>guac oracle</title></head><body>
<script type="module">
import Guacamole from '/guacamole-common.js';
window.Guacamole = Guacamole;

let failure = null;
const failed = (msg) => { if (!failure) failure = msg; };
window.addEventListener('error', (e) => failed('page error: ' + (e.message || e)));
window.addEventListener('unhandledrejection', (e) => failed('unhandled rejection (image decode failure?): ' + (e.reason && e.reason.message || e.reason)));

// Resolves with p, or rejects as soon as a page-level failure is recorded.
function guarded(p, what) {
  return new Promise((resolve, reject) => {
    const iv = setInterval(() => { if (failure) { clearInterval(iv); reject(new Error(what + ': ' + failure)); } }, 50);
    p.then((v) => { clearInterval(iv); resolve(v); }, (e) => { clearInterval(iv); reject(e); });
  });
}

// Loads a blob; collects the player's own frame list through onprogress,
// which SessionRecording calls once per sync with (duration, parsedSize).
function load(blob) {
  return guarded(new Promise((resolve, reject) => {
    const rec = new Guacamole.SessionRecording(blob);
    const rel = [], ends = [];
    rec.onprogress = (duration, parsed) => { rel.push(duration); ends.push(parsed); };
    rec.onerror = (msg) => reject(new Error('recording failed to load: ' + msg));
    rec.onload = () => resolve({ rec, rel, ends });
    rec.connect();
  }), 'loading recording');
}

// Same algorithm as SessionRecording's private findFrame() (binary search
// that returns a neighbour of the position, not necessarily the frame <= it).
function findFrame(rel, min, max, t) {
  while (min !== max) {
    const mid = Math.floor((min + max) / 2), ts = rel[mid];
    if (t < ts && mid > min) max = mid - 1;
    else if (t > ts && mid < max) min = mid + 1;
    else return mid;
  }
  return min;
}

// A seek position that makes the player land exactly on frame k, or null.
function seekPositionFor(rel, k) {
  const n = rel.length;
  const cands = k === n - 1 ? [rel[k] + 1] : [rel[k] + 0.5, rel[k]];
  for (const c of cands) if ((k === n - 1 || c < rel[k + 1]) && findFrame(rel, 0, n - 1, c) === k) return c;
  return null;
}

async function seekAndFlush(rec, pos) {
  await guarded(new Promise((resolve) => rec.seek(pos, resolve)), 'seeking to ' + pos + ' ms');
  // The seek callback fires when the last frame's instructions were handed to
  // the client; image decodes may still block display tasks. Flush.
  await guarded(new Promise((resolve) => rec.getDisplay().flush(resolve)), 'flushing display');
}

// Default layer (with its visible child layers), plus the software cursor
// drawn the way the DOM shows it: cursor layer at (cursorX - hotspotX,
// cursorY - hotspotY), clipped to the cursor layer size, source-over.
function snapshot(rec) {
  const d = rec.getDisplay();
  const canvas = d.flatten();
  const cur = d.getCursorLayer();
  const shown = !!cur.getElement().parentNode;
  const info = { width: canvas.width, height: canvas.height, cursor_visible: shown,
                 cursor_x: d.cursorX, cursor_y: d.cursorY, hotspot_x: d.cursorHotspotX, hotspot_y: d.cursorHotspotY,
                 cursor_w: cur.width, cursor_h: cur.height };
  if (shown && cur.width > 0 && cur.height > 0 && canvas.width > 0 && canvas.height > 0) {
    const ctx = canvas.getContext('2d');
    ctx.globalCompositeOperation = 'source-over';
    ctx.globalAlpha = cur.alpha / 255;
    ctx.drawImage(cur.getCanvas(), 0, 0, cur.width, cur.height,
                  d.cursorX - d.cursorHotspotX, d.cursorY - d.cursorHotspotY, cur.width, cur.height);
  }
  let opaque = true;
  if (canvas.width > 0 && canvas.height > 0) {
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 255) { opaque = false; break; }
  }
  info.opaque = opaque;
  info.png = canvas.width > 0 && canvas.height > 0 ? canvas.toDataURL('image/png') : null;
  return info;
}

let main = null;     // { rec, rel, ends, blob }

window.guacLoad = async () => {
  const resp = await fetch('/recording');
  if (!resp.ok) throw new Error('fetching recording: HTTP ' + resp.status);
  const blob = await resp.blob();
  const r = await load(blob);
  if (!r.rel.length) throw new Error('recording contains no complete sync instruction (no frames; is it a Guacamole recording?)');
  main = { ...r, blob };
  return { frames: r.rel.length, duration_ms: r.rec.getDuration(), rel: r.rel };
};

window.guacShot = async (k) => {
  const { rel } = main;
  const pos = seekPositionFor(rel, k);
  let rec = main.rec, via = 'seek';
  if (pos !== null) {
    await seekAndFlush(rec, pos);
  } else {
    // Frame k shares its timestamp with an earlier frame and the player's
    // binary search cannot land on it: load the recording truncated after
    // frame k into a fresh player and seek to its end (its last frame).
    via = 'truncated';
    const t = await load(main.blob.slice(0, main.ends[k]));
    if (t.rel.length !== k + 1) throw new Error('truncated reload has ' + t.rel.length + ' frames, expected ' + (k + 1));
    rec = t.rec;
    await seekAndFlush(rec, t.rel[k] + 1);
  }
  if (rec.getPosition() !== rel[k]) throw new Error('player is at ' + rec.getPosition() + ' ms, expected frame ' + k + ' at ' + rel[k] + ' ms');
  return { ...snapshot(rec), via, seek_pos: pos };
};

window.guacReady = true;
</script></body></html>`;

// ------------------------------------------------------------- the browser
const harness = playerHarness({
  name: 'render.mjs', page: PAGE, libSrc, recording: opts.recording, recSize: recStat.size,
  chromium: opts.chromium, timeout: opts.timeout, extraArgs: ['--force-color-profile=srgb'], puppeteer,
});

async function run() {
  const t0 = Date.now();
  const page = await harness.open();

  const loaded = await page.evaluate(() => window.guacLoad());
  const tLoad = Date.now();

  if (opts.info) {
    // Display size is only known once frame 0 (containing layer 0's `size`) is replayed.
    const shot = await page.evaluate(() => window.guacShot(0));
    console.log(JSON.stringify({
      recording: opts.recording,
      duration_ms: loaded.duration_ms,
      frames: loaded.frames,
      width: shot.width,
      height: shot.height,
      load_s: +((tLoad - t0) / 1000).toFixed(2),
    }));
  }

  for (const p of positions) {
    // Last frame whose sync (relative to the first sync) is <= p.ms.
    let k = -1;
    for (let i = 0; i < loaded.rel.length && loaded.rel[i] <= p.ms; i++) k = i;
    if (k < 0) throw new Error(`no frame at ${p.ms} ms`);
    const shot = await page.evaluate((k) => window.guacShot(k), k);
    if (!shot.png) throw new Error(`display is empty (0x0) at ${p.ms} ms`);
    const file = path.join(opts.out, `${p.name}.png`);
    fs.writeFileSync(file, Buffer.from(shot.png.slice(shot.png.indexOf(',') + 1), 'base64'));
    const cur = shot.cursor_visible
      ? `cursor=${shot.cursor_x},${shot.cursor_y} hotspot=${shot.hotspot_x},${shot.hotspot_y} size=${shot.cursor_w}x${shot.cursor_h}`
      : 'cursor=hidden';
    console.log(`${file} ${shot.width}x${shot.height} frame=${k} frame_ms=${loaded.rel[k]} via=${shot.via} ${cur}` +
      (shot.opaque ? '' : ' has-transparency'));
  }
  if (positions.length)
    process.stderr.write(`render.mjs: load ${((tLoad - t0) / 1000).toFixed(2)} s, total ${((Date.now() - t0) / 1000).toFixed(2)} s\n`);
}

try {
  await run();
  await harness.cleanup();
  process.exit(0);
} catch (e) {
  await harness.cleanup();
  die(harness.failure(e));
}
