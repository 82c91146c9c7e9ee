#!/usr/bin/env node
// Test oracle for the keystroke track: plays a Guacamole session recording
// (.guac) with guacamole-common-js 1.6.0's Guacamole.SessionRecording in
// headless Chromium and prints the key events its Guacamole.KeyEventInterpreter
// extracted.
//
//   node keys.mjs --recording FILE [--timeout SECONDS] [--chromium PATH]
//
// Prints ONE JSON array, one object per event, in the interpreter's order:
//   {"timestamp": key timestamp - first sync's timestamp (ms; negative for a
//    key stamped before it), "keysym", "name", "value" (null when the key
//    types nothing), "pressed"}
// See README.md for the exact semantics.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { playerHarness } from './harness.mjs';

function die(msg, code = 1) {
  process.stderr.write(`keys.mjs: error: ${msg}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------- arguments
function usage() {
  return 'usage: node keys.mjs --recording FILE [--timeout SECONDS (default 300)]\n' +
         '                     [--chromium PATH (default $CHROMIUM or /usr/bin/chromium)]';
}
const opts = { timeout: 300, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) die(`${a} needs a value\n${usage()}`); return argv[++i]; };
    if (a === '--recording') opts.recording = val();
    else if (a === '--timeout') opts.timeout = Number(val());
    else if (a === '--chromium') opts.chromium = val();
    else if (a === '-h' || a === '--help') { console.log(usage()); process.exit(0); }
    else die(`unknown argument ${a}\n${usage()}`);
  }
  if (!opts.recording) die(`--recording is required\n${usage()}`);
  if (!(opts.timeout > 0)) die('--timeout must be a positive number of seconds');
}
let recStat;
try { recStat = fs.statSync(opts.recording); } catch (e) { die(`cannot read recording ${opts.recording}: ${e.message}`); }
if (!recStat.isFile()) die(`recording ${opts.recording} is not a file`);
if (recStat.size === 0) die(`recording ${opts.recording} is empty`);
try { fs.accessSync(opts.chromium, fs.constants.X_OK); } catch {
  die(`chromium not found/executable at ${opts.chromium} (apt-get install -y chromium, or pass --chromium PATH)`);
}

// ------------------------------------------------- guacamole-common-js source
// npm has no official 1.6.0; @glokon/guacamole-common-js 1.6.0 is a
// repackaging (all modules concatenated, ESM named exports). Its
// KeyEventInterpreter.js, SessionRecording.js, Tunnel.js (StaticHTTPTunnel),
// Parser.js and UTF8Parser.js are upstream's 1.6.0 files (modulo whitespace);
// some modules the key path does not use (Client, Display, Version: its
// API_VERSION says "1.5.3") come from an earlier revision. Nothing is patched:
// 1.6.0 already has the `recordingBlob = source` fix render.mjs applies to
// 1.5.0, and the Blob code path is not used here anyway (see the page).
let puppeteer, libPath, libSrc;
try {
  ({ default: puppeteer } = await import('puppeteer-core'));
  libPath = fileURLToPath(import.meta.resolve('@glokon/guacamole-common-js'));   // lib/esm/guacamole.js
  libSrc = fs.readFileSync(libPath, 'utf8');
} catch (e) { die(`dependencies not installed (run npm ci in ${path.dirname(fileURLToPath(import.meta.url))}): ${e.message}`); }
for (const needle of ['Guacamole.KeyEventInterpreter = function KeyEventInterpreter(startTimestamp)',
                      'recording.onkeyevents(keyEventInterpreter.getEvents());',
                      'export {']) {
  if (!libSrc.includes(needle)) die(`unexpected ${libPath} (not the 1.6.0 ESM build?): lacks "${needle}"`);
}

// ------------------------------------------------------------------- page
// Runs in Chromium. The recording is read through a StaticHTTPTunnel, as
// Guacamole 1.6.0's own history player does: SessionRecording calls
// onkeyevents(all events) only when its tunnel closes; given a Blob it never
// calls it. Errors thrown inside the library's fetch/parse promise chain (a
// parse error, a `key` before the first `sync`, a recording without `sync`)
// surface only as unhandled rejections, so those fail the run too.
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>guac keys oracle</title></head><body>
<script type="module">
import * as Guacamole from '/guacamole-common.js';

let failure = null;
const failed = (msg) => { if (!failure) failure = msg; };
window.addEventListener('error', (e) => failed('page error: ' + (e.message || e)));
window.addEventListener('unhandledrejection', (e) => failed('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));

window.guacKeys = () => new Promise((resolve, reject) => {
  const iv = setInterval(() => { if (failure) { clearInterval(iv); reject(new Error('loading recording: ' + failure)); } }, 50);
  const done = (f, v) => { clearInterval(iv); f(v); };
  const rec = new Guacamole.SessionRecording(new Guacamole.StaticHTTPTunnel('/recording'));
  let events = null;
  rec.onkeyevents = (e) => { events = e; };
  rec.onerror = (msg) => done(reject, new Error('recording failed to load: ' + msg));
  rec.onload = () => {
    // onload follows onkeyevents synchronously; let a pending failure win.
    setTimeout(() => {
      if (failure) return done(reject, new Error('loading recording: ' + failure));
      if (!events) return done(reject, new Error('onkeyevents was never called'));
      // Serialised here: JSON.stringify escapes lone surrogates and turns
      // NaN (e.g. a non-numeric keysym) into null, deterministically.
      done(resolve, JSON.stringify(events.map((e) => ({
        timestamp: e.timestamp,
        keysym: e.definition.keysym,
        name: e.definition.name,
        value: e.definition.value === undefined ? null : e.definition.value,
        pressed: e.pressed,
      }))));
    }, 0);
  };
  rec.connect();
});

window.guacReady = true;
</script></body></html>`;

// ------------------------------------------------------------- the browser
const harness = playerHarness({
  name: 'keys.mjs', page: PAGE, libSrc, recording: opts.recording, recSize: recStat.size,
  chromium: opts.chromium, timeout: opts.timeout, extraArgs: [], puppeteer,
});

async function run() {
  const page = await harness.open();
  return await page.evaluate(() => window.guacKeys());
}

try {
  const json = await run();
  await harness.cleanup();
  await new Promise((resolve) => process.stdout.write(json + '\n', resolve));
  process.exit(0);
} catch (e) {
  await harness.cleanup();
  die(harness.failure(e));
}
