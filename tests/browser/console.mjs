#!/usr/bin/env node
// Drives the web console (/ui/) in headless Chromium against a running
// video-worker, as an auditor would; run by tests/console.rs.
//
//   node console.mjs --url http://127.0.0.1:PORT --token TOKEN --sample FILE.guac
//                    --failed TASK_ID --hostile TASK_ID --search WORD --out DIR
//                    [--chromium PATH (default $CHROMIUM or /usr/bin/chromium)]
//
// Steps a-h (see README.md). Anything unexpected fails with the step, what
// was awaited and what the page showed, and exits 1 (2: bad arguments or
// setup, 3: the overall 240 s timeout). Progress goes to stderr; the only
// line on stdout is the JSON report. Screenshots and frame.png go to DIR.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const OVERALL_TIMEOUT_MS = 240_000;
const WAIT_MS = 15_000;
const DONE_WAIT_MS = 180_000;
const HOSTILE_HASH_ID = '%3Cimg%20src%3Dx%20onerror%3D%22window.__pwned%3D1%22%3E';

// ---------------------------------------------------------------- arguments
const USAGE = 'usage: node console.mjs --url URL --token TOKEN --sample FILE --failed TASK_ID --hostile TASK_ID\n' +
  '                       --search WORD --out DIR [--chromium PATH]';
const REQUIRED = ['url', 'token', 'sample', 'failed', 'hostile', 'search', 'out'];

function die(message, code = 2) {
  process.stderr.write(`console.mjs: error: ${message}\n`);
  process.exit(code);
}

const opts = { chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    const key = a.startsWith('--') ? a.slice(2) : '';
    if (![...REQUIRED, 'chromium'].includes(key)) die(`unknown argument ${a}\n${USAGE}`);
    if (i + 1 >= argv.length) die(`${a} needs a value\n${USAGE}`);
    opts[key] = argv[++i];
  }
  for (const k of REQUIRED) if (!opts[k]) die(`--${k} is required\n${USAGE}`);
  try { opts.base = new URL(opts.url); } catch { die(`--url ${opts.url} is not a URL`); }
  try {
    // Chromium's file chooser wants a real absolute path (no "..", no symlinks).
    opts.sample = fs.realpathSync(opts.sample);
    if (!fs.statSync(opts.sample).isFile()) throw new Error('not a file');
  } catch (e) { die(`cannot read --sample ${opts.sample}: ${e.message}`); }
  try { fs.accessSync(opts.chromium, fs.constants.X_OK); } catch {
    die(`chromium not found/executable at ${opts.chromium} (apt-get install -y chromium, or pass --chromium PATH)`);
  }
  try { fs.mkdirSync(opts.out, { recursive: true }); } catch (e) { die(`cannot create --out ${opts.out}: ${e.message}`); }
  opts.out = path.resolve(opts.out);
}

let puppeteer;
try {
  ({ default: puppeteer } = await import('puppeteer-core'));
} catch (e) {
  die(`puppeteer-core is not installed (run npm ci in ${path.dirname(new URL(import.meta.url).pathname)}): ${e.message}`);
}

// ------------------------------------------------------------------ state
let step = 'setup';
let browser = null;
let userDataDir = null;
const screenshots = [];
const cspViolations = [];   // from securitypolicyviolation events and Chromium's console
const pageErrors = [];      // uncaught exceptions in the page
const consoleErrors = [];   // console.error / failed loads (reported, not fatal)
const dialogs = [];         // any alert/confirm/prompt is a failure

const note = (text) => process.stderr.write(`console.mjs: ${text}\n`);
function begin(name) {
  step = name;
  note(`step ${name}`);
}

class StepFailure extends Error {}
function check(ok, message) {
  if (!ok) throw new StepFailure(message);
}

function removeProfile() {
  if (userDataDir) {
    try { fs.rmSync(userDataDir, { recursive: true, force: true }); } catch { /* best effort */ }
    userDataDir = null;
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`console.mjs: FAILED at step ${step}: overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s\n`);
  try { browser?.process()?.kill('SIGKILL'); } catch { /* gone */ }
  removeProfile();
  process.exit(3);
}, OVERALL_TIMEOUT_MS);
watchdog.unref();

// ------------------------------------------------------------------ helpers
const url = (p) => new URL(p, opts.base).href;
const pathOf = (page) => new URL(page.url()).pathname;

async function shot(page, name) {
  await page.screenshot({ path: path.join(opts.out, name) });
  screenshots.push(name);
}

/** What the page shows, for error messages. */
async function seen(page) {
  const s = await page.evaluate(() => ({
    url: location.href,
    text: (document.querySelector('main') || document.body)?.innerText.replace(/\s+/g, ' ').trim().slice(0, 600),
  })).catch((e) => ({ url: page.url(), text: `(cannot read the page: ${e.message})` }));
  return `at ${s.url} the page shows: "${s.text}"`;
}

function failFast() {
  if (cspViolations.length) throw new StepFailure(`Content-Security-Policy violations:\n  ${cspViolations.join('\n  ')}`);
  if (dialogs.length) throw new StepFailure(`a dialog opened (script ran?): ${dialogs.join('; ')}`);
  if (pageErrors.length) throw new StepFailure(`uncaught error in the page: ${pageErrors.join('; ')}`);
}

/** Waits until fn (run in the page, may be async) is truthy; names what was awaited. */
async function until(page, what, fn, arg, timeout = WAIT_MS) {
  failFast();
  try {
    const handle = await page.waitForFunction(fn, { timeout, polling: 100 }, arg);
    const value = await handle.jsonValue().catch(() => true);
    await handle.dispose();
    failFast();
    return value;
  } catch (e) {
    if (e instanceof StepFailure) throw e;
    const why = e.name === 'TimeoutError' ? `not within ${timeout / 1000} s` : e.message;
    throw new StepFailure(`waited for ${what}: ${why}; ${await seen(page)}`);
  }
}

/** Clicks and waits for the resulting document load. */
async function clickAndLoad(page, selector, what) {
  try {
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'load', timeout: WAIT_MS }),
      page.click(selector),
    ]);
  } catch (e) {
    throw new StepFailure(`${what}: clicking ${selector} did not load a page (${e.message}); ${await seen(page)}`);
  }
}

/** Opens a console route by changing the hash (no reload) and waits for sel. */
async function openHash(page, hash, sel, what) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await until(page, what, (s) => document.querySelector(s), sel);
}

async function goto(page, p, what) {
  try {
    return await page.goto(url(p), { waitUntil: 'load', timeout: WAIT_MS });
  } catch (e) {
    throw new StepFailure(`${what}: cannot open ${url(p)}: ${e.message}`);
  }
}

const isShown = (s) => {
  const e = document.querySelector(s);
  return !!e && !e.hidden && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
};

async function inPageFetch(page, p) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { credentials: 'same-origin', cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch { /* not JSON */ }
    return { status: r.status, body };
  }, p);
}

const visibleLines = (page) => page.$$eval('.keyline', (all) => all
  .filter((b) => !b.hidden && b.getClientRects().length > 0)
  .map((b) => ({ ms: Number(b.dataset.ms), text: b.textContent })));

// ------------------------------------------------------------------- steps

async function launch() {
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vw-console-chromium-'));
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const args = ['--disable-gpu', '--no-first-run', '--no-default-browser-check', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-extensions', '--force-color-profile=srgb',
    '--disable-quic', '--mute-audio', '--hide-scrollbars'];
  // Chromium refuses to run as root with its sandbox.
  if (root || process.env.CHROMIUM_NO_SANDBOX === '1') args.unshift('--no-sandbox');
  try {
    browser = await puppeteer.launch({
      executablePath: opts.chromium, headless: true, userDataDir, args,
      protocolTimeout: OVERALL_TIMEOUT_MS, defaultViewport: { width: 1280, height: 800 },
    });
  } catch (e) {
    const hint = args.includes('--no-sandbox') ? '' : ' (if it says "No usable sandbox", set CHROMIUM_NO_SANDBOX=1)';
    throw new StepFailure(`cannot launch chromium (${opts.chromium}): ${e.message}${hint}`);
  }
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.setDefaultTimeout(WAIT_MS);
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()} "${d.message()}" at step ${step}`);
    await d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => pageErrors.push(`${String(e.message || e)} (step ${step})`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(`${text} (step ${step})`);
    else consoleErrors.push(`${text} (step ${step})`);
  });
  await page.exposeFunction('__vwCsp', (v) => { cspViolations.push(`${v} (step ${step})`); });
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const v = `${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} in ${e.sourceFile || e.documentURI}:${e.lineNumber}`;
      (window.__cspViolations ||= []).push(v);
      window.__vwCsp?.(v);
    });
  });
  return page;
}

async function stepSignIn(page) {
  begin('a (sign-in)');
  const response = await goto(page, '/ui/', 'a stranger opens /ui/');
  check(pathOf(page) === '/ui/login', `opening /ui/ without signing in ended on ${page.url()}, not /ui/login`);
  const csp = response?.headers()['content-security-policy'] || '';
  check(/script-src 'self'/.test(csp) && /style-src 'self'/.test(csp), `/ui/login has no strict CSP header (got "${csp}")`);
  await until(page, 'the sign-in form (#token, button[type=submit])', () => document.querySelector('#token') && document.querySelector('button[type=submit]'));
  await shot(page, 'login.png');

  await page.type('#token', 'not-the-token');
  await clickAndLoad(page, 'button[type=submit]', 'signing in with a wrong token');
  await until(page, 'the #error message after a wrong token', isShown, '#error');
  check(pathOf(page) === '/ui/login', `a wrong token ended on ${page.url()}, not /ui/login`);

  await page.$eval('#token', (e) => { e.value = ''; });
  await page.type('#token', opts.token);
  await clickAndLoad(page, 'button[type=submit]', 'signing in with the right token');
  check(pathOf(page) === '/ui/', `the right token ended on ${page.url()}, not /ui/`);
  await until(page, 'the overview (#overview with [data-count=done])',
    () => document.querySelector('#overview') && document.querySelector('[data-count=done]'));
  const count = await page.$eval('[data-count=done]', (e) => e.textContent.trim());
  check(/^\d+$/.test(count), `[data-count=done] shows "${count}", not a number`);

  const cookies = await browser.cookies();
  const session = cookies.find((c) => c.name === 'vw_console');
  check(session, `no vw_console cookie after signing in; cookies: ${cookies.map((c) => c.name).join(', ') || 'none'}`);
  check(session.httpOnly === true, `the session cookie is not HttpOnly: ${JSON.stringify(session)}`);
  check(session.sameSite === 'Strict', `the session cookie is SameSite=${session.sameSite}, not Strict`);
  const visible = await page.evaluate(() => document.cookie);
  check(!visible.includes('vw_console') && !visible.includes(session.value),
    `the page's script can read the session cookie: document.cookie = "${visible}"`);
  await shot(page, 'overview.png');
}

async function stepUpload(page) {
  begin('b (upload)');
  await page.click('nav a[href="#/upload"]');
  await until(page, 'the upload page (#upload, #file, #session)',
    () => document.querySelector('#upload') && document.querySelector('#file') && document.querySelector('#session'));
  check(await page.$('#dropzone'), 'the upload page has no #dropzone');
  await page.type('#session', 'console-e2e');
  const input = await page.$('#file');
  await input.uploadFile(opts.sample);
  const chosen = await page.$eval('#file', (e) => e.files.length);
  check(chosen === 1, `#file holds ${chosen} files after choosing one`);
  await shot(page, 'upload.png');

  await page.evaluate(() => { window.__noReload = 1; });
  const submit = (await page.$('#upload-submit')) || (await page.$('#upload button[type=submit]'));
  check(submit, 'the upload form has no submit button (#upload-submit or #upload button[type=submit])');
  await submit.click();
  const id = await until(page, 'the upload to end on the task page (#/tasks/<id> with #task-state)',
    () => {
      const m = /^#\/tasks\/([^/?]+)$/.exec(location.hash);
      if (document.querySelector('#upload-error:not([hidden])')?.textContent) {
        return `UPLOAD ERROR: ${document.querySelector('#upload-error').textContent}`;
      }
      return m && document.querySelector('#task-state') ? decodeURIComponent(m[1]) : false;
    }, null, 60_000);
  check(!String(id).startsWith('UPLOAD ERROR'), `the upload was refused: ${id}`);
  note(`uploaded task ${id}; waiting for it to be done (at most ${DONE_WAIT_MS / 1000} s)`);

  const seenStates = new Set();
  const started = Date.now();
  while (true) {
    failFast();
    const s = await page.evaluate(() => ({
      state: document.querySelector('#task-state')?.textContent.trim(),
      error: document.querySelector('#task-error')?.textContent.trim(),
      progress: !!document.querySelector('#task progress:not([hidden])') && !document.querySelector('#task progress')?.closest('[hidden]'),
      noReload: window.__noReload,
    }));
    check(s.noReload === 1, 'the task page reloaded itself (window.__noReload is gone): it must update in place');
    seenStates.add(s.progress ? `${s.state}(progress bar)` : s.state);
    if (s.state === 'done') break;
    check(s.state !== 'failed', `the uploaded task failed: ${s.error}`);
    if (Date.now() - started > DONE_WAIT_MS) {
      throw new StepFailure(`the uploaded task was not done within ${DONE_WAIT_MS / 1000} s (states seen: ${[...seenStates].join(' → ')}); ${await seen(page)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  note(`states seen on the page: ${[...seenStates].join(' → ')}`);
  await until(page, 'the task log (#task-log) to show text', () => document.querySelector('#task-log')?.textContent.trim().length > 0);
  await until(page, 'the #play link of the done task', isShown, '#play');
  check(await page.evaluate(() => window.__noReload === 1), 'the task page was reloaded');
  await shot(page, 'task.png');
  return id;
}

async function stepPlayer(page, id) {
  begin('c (player)');
  await page.click('#play');
  await until(page, 'the player (#player, #video readyState >= 1, at least 2 .keyline)',
    () => document.querySelector('#player') && document.querySelector('#video')?.readyState >= 1 &&
      document.querySelectorAll('.keyline').length >= 2, null, 30_000);
  const src = await page.$eval('#video', (v) => v.currentSrc || v.src);
  check(src.includes(`/api/v1/tasks/${encodeURIComponent(id)}/files/`), `#video plays ${src}, not the task's file`);
  const total = (await visibleLines(page)).length;
  const all = await page.$$eval('.keyline', (l) => l.length);
  check(total === all, `${all - total} of ${all} keystroke lines are hidden before any search`);
  check(await page.$$eval('.keyline', (l) => l.every((b) => b.tagName === 'BUTTON' && b.dataset.ms !== undefined && /^\d+$/.test(b.dataset.ms))),
    'every .keyline must be a <button> with a numeric data-ms');
  await shot(page, 'player.png');

  // Search.
  const word = opts.search.toLowerCase();
  await page.click('#keysearch');
  await page.type('#keysearch', opts.search);
  await until(page, `the keystroke search for "${opts.search}" to filter the lines`,
    (n) => [...document.querySelectorAll('.keyline')].filter((b) => !b.hidden && b.getClientRects().length).length < n, total);
  const hits = await visibleLines(page);
  check(hits.length >= 1, `searching "${opts.search}" leaves no keystroke line (of ${total})`);
  check(hits.length < total, `searching "${opts.search}" hides nothing (${hits.length} of ${total})`);
  const stray = hits.find((h) => !h.text.toLowerCase().includes(word));
  check(!stray, `a visible line does not contain "${opts.search}": "${stray?.text}"`);
  const countText = await page.$eval('#keycount', (e) => e.textContent.trim());
  check(countText.includes(String(hits.length)) && countText.includes(String(total)),
    `#keycount shows "${countText}" with ${hits.length} of ${total} lines visible`);
  await page.$eval('#keysearch', (e) => { e.value = ''; e.dispatchEvent(new Event('input', { bubbles: true })); });
  await until(page, 'every keystroke line back after clearing the search',
    (n) => [...document.querySelectorAll('.keyline')].filter((b) => !b.hidden && b.getClientRects().length).length === n, total);

  // Click a line: the video seeks there.
  const line = (await visibleLines(page)).find((l) => l.ms >= 1000);
  check(line, `no keystroke line at or after 1 s (lines at ${(await visibleLines(page)).map((l) => l.ms).join(', ')} ms)`);
  await page.evaluate(() => {
    const v = document.querySelector('#video');
    window.__seeked = new Promise((resolve) => v.addEventListener('seeked', () => resolve(v.currentTime), { once: true }));
  });
  const button = await page.$(`.keyline[data-ms="${line.ms}"]`);
  await button.click();
  const seeked = await page.evaluate(() => Promise.race([window.__seeked,
    new Promise((resolve) => setTimeout(() => resolve(null), 15_000))]));
  check(seeked !== null, `the video did not seek (no "seeked" event within 15 s) after clicking the line at ${line.ms} ms`);
  const currentTime = await page.$eval('#video', (v) => v.currentTime);
  check(Math.abs(currentTime - line.ms / 1000) <= 0.05,
    `after clicking the line at ${line.ms} ms the video is at ${currentTime} s (more than 0.05 s off)`);
  await until(page, `the clicked line (data-ms=${line.ms}) to get class "current"`,
    (ms) => document.querySelector(`.keyline[data-ms="${ms}"]`)?.classList.contains('current'), line.ms);
  check(await page.$$eval('.keyline.current', (l) => l.length) === 1, 'more than one line is .current');

  // The frame the video shows now.
  const png = await page.$eval('#video', (v) => {
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    c.getContext('2d').drawImage(v, 0, 0, c.width, c.height);
    return { url: c.toDataURL('image/png'), w: c.width, h: c.height };
  });
  check(png.w > 0 && png.h > 0 && png.url.startsWith('data:image/png;base64,'), `the video has no frame to draw (${png.w}x${png.h})`);
  const frame = path.join(opts.out, 'frame.png');
  fs.writeFileSync(frame, Buffer.from(png.url.slice(png.url.indexOf(',') + 1), 'base64'));
  note(`frame at ${currentTime} s (${png.w}x${png.h}) written to ${frame}`);

  // Keyboard: Enter on another line seeks too.
  const other = (await visibleLines(page)).find((l) => l.ms !== line.ms);
  if (other) {
    await page.evaluate(() => {
      const v = document.querySelector('#video');
      window.__seeked = new Promise((resolve) => v.addEventListener('seeked', () => resolve(v.currentTime), { once: true }));
    });
    await page.focus(`.keyline[data-ms="${other.ms}"]`);
    await page.keyboard.press('Enter');
    const t = await page.evaluate(() => Promise.race([window.__seeked, new Promise((r) => setTimeout(() => r(null), 15_000))]));
    check(t !== null && Math.abs(t - other.ms / 1000) <= 0.05, `Enter on the line at ${other.ms} ms left the video at ${t} s`);
  }

  // Thumbnails on hover.
  const task = (await inPageFetch(page, `/api/v1/tasks/${encodeURIComponent(id)}`)).body;
  const hasThumbs = (task?.outputs || []).some((o) => (o.sidecars || []).some((s) => s.kind === 'thumbnails'));
  if (!hasThumbs) {
    note('NOTE: the uploaded task has no thumbnails sidecar: the thumbnail hover check is skipped');
  } else {
    const area = (await page.$('.scrub')) || (await page.$('#video'));
    const box = await area.boundingBox();
    check(box && box.width > 0, 'the scrub bar has no size');
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2, { steps: 4 });
    await until(page, 'the thumbnail preview (#thumb-preview visible with a /files/ background-image)', () => {
      const p = document.querySelector('#thumb-preview');
      return p && !p.hidden && p.getClientRects().length > 0 && /url\(.*\/files\//.test(getComputedStyle(p).backgroundImage);
    });
    await shot(page, 'player-thumbnail.png');
    await page.mouse.move(5, 5);
  }
  return { frame, currentTime, lineMs: line.ms, total, hits: hits.length };
}

async function stepRetry(page) {
  begin('d (retry)');
  const id = opts.failed;
  await openHash(page, `#/tasks/${encodeURIComponent(id)}`, '#task', 'the failed task\'s page');
  await until(page, `#task-state to say "failed" for task ${id}`, () => document.querySelector('#task-state')?.textContent.trim() === 'failed');
  const error = await page.$eval('#task-error', (e) => e.textContent.trim()).catch(() => '');
  check(error.length > 0, 'the failed task shows no #task-error text');
  await until(page, 'the #retry button', isShown, '#retry');
  const before = await inPageFetch(page, `/api/v1/tasks/${encodeURIComponent(id)}`);
  check(before.status === 200 && before.body?.state === 'failed',
    `GET /api/v1/tasks/${id} from the page answered ${before.status} ${JSON.stringify(before.body)?.slice(0, 200)}`);
  await page.click('#retry');
  await until(page, 'the retry to reach the service (updated_at larger, or state no longer failed)', async ([id, before]) => {
    const t = await (await fetch(`/api/v1/tasks/${encodeURIComponent(id)}`, { cache: 'no-store' })).json();
    return t.updated_at > before || t.state !== 'failed';
  }, [id, before.body.updated_at]);
  await until(page, '#task-state to leave "failed" after the retry', () => document.querySelector('#task-state')?.textContent.trim() !== 'failed');
  check(!(await page.evaluate(() => document.querySelector('#task-error')?.textContent || '')).startsWith('Retry refused'),
    'the page says the retry was refused');
}

async function stepHostile(page) {
  begin('e (hostile strings)');
  const id = opts.hostile;
  await openHash(page, `#/tasks/${encodeURIComponent(id)}`, '#task', 'the hostile task\'s page');
  await until(page, '#task-metadata to show the metadata', () => document.querySelector('#task-metadata')?.textContent.trim().length > 2);
  const meta = await page.$eval('#task-metadata', (e) => e.textContent);
  check(meta.includes('<script>') && meta.includes('onerror'),
    `#task-metadata does not show the markup as text (no literal "<script>" and "onerror"): ${meta.slice(0, 300)}`);
  await until(page, 'the task log to be shown', () => document.querySelector('#task-log')?.textContent.trim().length > 0).catch(() => {});
  const planted = await page.evaluate(() => ({
    pwned: window.__pwned,
    elements: document.querySelectorAll('#task img, #task script').length,
    handlers: [...document.querySelectorAll('#task *')].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).map((e) => e.tagName),
  }));
  check(planted.pwned === undefined, `window.__pwned is ${planted.pwned}: hostile metadata ran as script`);
  check(planted.elements === 0, `${planted.elements} <img>/<script> elements inside #task: markup from the task became elements`);
  check(planted.handlers.length === 0, `elements with on* attributes inside #task: ${planted.handlers.join(', ')}`);

  // Typed markup in the keystroke track, if the hostile task has one.
  const t = (await inPageFetch(page, `/api/v1/tasks/${encodeURIComponent(id)}`)).body;
  const keys = (t?.outputs || []).some((o) => (o.sidecars || []).some((s) => s.kind === 'keystrokes'));
  if (keys && t.state === 'done') {
    await openHash(page, `#/play/${encodeURIComponent(id)}`, '#player', 'the hostile task\'s player');
    await until(page, 'the hostile task\'s keystroke lines', () => document.querySelectorAll('.keyline').length >= 1);
    const lines = await page.$eval('#keylines', (e) => ({
      text: e.textContent,
      markup: e.querySelectorAll('img, script').length + [...e.querySelectorAll('*')].filter((x) => [...x.attributes].some((a) => /^on/i.test(a.name))).length,
    }));
    check(lines.markup === 0, 'typed markup became elements (<img>, <script>, on* attributes) in #keylines');
    check(/[<>]/.test(lines.text), `typed markup is not shown as text in #keylines: "${lines.text.slice(0, 200)}"`);
    check(await page.evaluate(() => window.__pwned === undefined), 'window.__pwned is set: typed text ran as script');
  } else {
    note('NOTE: the hostile task has no keystroke track: the typed-markup check is skipped');
  }

  // A hostile id in the address.
  await page.evaluate((h) => { location.hash = h; }, `#/tasks/${HOSTILE_HASH_ID}`);
  await until(page, 'an error message for a hostile task id in the hash', () => {
    const e = document.querySelector('#main [role=alert], #main .alert, #main .error');
    return e && e.textContent.trim().length > 0 && e.getClientRects().length > 0;
  });
  const r = await page.evaluate(() => ({
    pwned: window.__pwned,
    markup: document.querySelectorAll('#main img, #main script').length,
    text: document.querySelector('#main [role=alert], #main .alert, #main .error').textContent,
  }));
  check(r.pwned === undefined, 'window.__pwned is set: a hostile id in the hash ran as script');
  check(r.markup === 0, 'a hostile id in the hash became an <img>/<script> element');
  note(`hostile id shown as: ${r.text.trim().slice(0, 160)}`);
  failFast();
}

async function noSideScroll(page, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w <= 391, `${what} scrolls sideways on a 390 px wide screen (scrollWidth ${w} px)`);
}

async function stepPhone(page, id) {
  begin('f (phone and the task list)');
  await page.setViewport({ width: 390, height: 844, isMobile: false, deviceScaleFactor: 1 });
  await openHash(page, `#/play/${encodeURIComponent(id)}`, '#player', 'the player on a phone');
  await until(page, 'the player\'s video and keystroke lines on a phone',
    () => document.querySelector('#video')?.readyState >= 1 && document.querySelectorAll('.keyline').length >= 2, null, 30_000);
  await noSideScroll(page, 'the player');
  await shot(page, 'mobile-player.png');
  await openHash(page, '#/', '#overview [data-count=done]', 'the overview on a phone');
  await noSideScroll(page, 'the overview');
  await shot(page, 'mobile-overview.png');
  await openHash(page, '#/tasks', '#tasks tr[data-id]', 'the task list on a phone');
  await noSideScroll(page, 'the task list');

  await page.setViewport({ width: 1280, height: 800 });
  await page.evaluate(() => { location.hash = '#/'; });
  await until(page, 'the overview', () => document.querySelector('#overview'));
  await openHash(page, '#/tasks', '#tasks tr[data-id]', 'the task list (#tasks with tr[data-id] rows)');
  check(await page.$('#state-filter') && await page.$('#search'), 'the task list has no #state-filter or #search');
  check(await page.$eval('#state-filter', (e) => e.tagName === 'SELECT'), '#state-filter is not a <select>');
  const row = await page.$$eval('#tasks tr[data-id]', (rows) => rows.map((r) => ({
    id: r.dataset.id, state: r.querySelector('.state')?.textContent.trim(), link: r.querySelector('a[href]')?.getAttribute('href'),
  })));
  check(row.every((r) => r.state && r.link === `#/tasks/${encodeURIComponent(r.id)}`), `rows without a .state cell or a link to #/tasks/<id>: ${JSON.stringify(row.slice(0, 3))}`);

  // The state filter.
  const filtered = page.waitForResponse((r) => r.url().includes('/api/v1/tasks?') && r.url().includes('state=done'), { timeout: WAIT_MS });
  await page.select('#state-filter', 'done');
  await filtered.catch(() => { throw new StepFailure('choosing "done" in #state-filter sent no /api/v1/tasks?state=done request'); });
  await until(page, 'the list to show only done tasks', () => {
    const s = [...document.querySelectorAll('#tasks tr[data-id] .state')].map((c) => c.textContent.trim());
    return s.length > 0 && s.every((x) => x === 'done');
  });
  check((await page.evaluate(() => location.hash)).includes('state=done'), 'the state filter is not kept in the address');

  // The session search (with the filter still on).
  const searched = page.waitForResponse((r) => r.url().includes('/api/v1/tasks?') && r.url().includes('session=console-e2e'), { timeout: WAIT_MS });
  await page.type('#search', 'console-e2e');
  await searched.catch(() => { throw new StepFailure('typing in #search sent no /api/v1/tasks?session=... request'); });
  await until(page, 'the list to show the console-e2e task only', (id) => {
    const rows = [...document.querySelectorAll('#tasks tr[data-id]')];
    return rows.length >= 1 && rows.some((r) => r.dataset.id === id) && rows.every((r) => r.textContent.includes('console-e2e'));
  }, id);
  // A refresh (every 2 s) keeps the filter, the search and the keyboard focus.
  await page.focus('#tasks tr[data-id] a[href]');
  await new Promise((r) => setTimeout(r, 2500));
  const kept = await page.evaluate(() => ({ state: document.querySelector('#state-filter').value, q: document.querySelector('#search').value,
    rows: document.querySelectorAll('#tasks tr[data-id]').length, focus: !!document.activeElement?.closest('#tasks tr[data-id]') }));
  check(kept.state === 'done' && kept.q === 'console-e2e' && kept.rows >= 1, `after a refresh the list lost its filter or search: ${JSON.stringify(kept)}`);
  check(kept.focus, 'a refresh of the list took the keyboard focus away from the focused row link');

  const cleared = page.waitForResponse((r) => r.url().includes('/api/v1/tasks?') && !r.url().includes('state=') && !r.url().includes('session='), { timeout: WAIT_MS });
  await page.$eval('#search', (e) => { e.value = ''; e.dispatchEvent(new Event('input', { bubbles: true })); });
  await page.select('#state-filter', '');
  await cleared.catch(() => { throw new StepFailure('clearing the filter and the search sent no unfiltered /api/v1/tasks request'); });
  await until(page, 'the unfiltered list (at least 3 rows)', () => document.querySelectorAll('#tasks tr[data-id]').length >= 3);
  await page.focus('#state-filter');
  await shot(page, 'tasks.png');
}

function stepCsp() {
  begin('g (CSP and page errors)');
  check(cspViolations.length === 0, `Content-Security-Policy violations:\n  ${cspViolations.join('\n  ')}`);
  failFast();
  if (consoleErrors.length) note(`console errors (not fatal):\n  ${consoleErrors.join('\n  ')}`);
}

async function stepSignOut(page) {
  begin('h (sign out)');
  await page.evaluate(() => { location.hash = '#/'; });
  await until(page, 'the #signout button', isShown, '#signout');
  await clickAndLoad(page, '#signout', 'signing out');
  check(pathOf(page) === '/ui/login', `signing out ended on ${page.url()}, not /ui/login`);
  await goto(page, '/ui/', 'opening /ui/ after signing out');
  check(pathOf(page) === '/ui/login', `after signing out, /ui/ ended on ${page.url()}, not /ui/login`);
  const status = await page.evaluate(async () => (await fetch('/api/v1/tasks', { cache: 'no-store' })).status);
  check(status === 401, `after signing out, fetch('/api/v1/tasks') answered ${status}, not 401`);
}

async function run() {
  const page = await launch();
  await stepSignIn(page);
  const id = await stepUpload(page);
  const played = await stepPlayer(page, id);
  await stepRetry(page);
  await stepHostile(page);
  await stepPhone(page, id);
  stepCsp();
  await stepSignOut(page);
  // Anything during sign-out counts too.
  check(cspViolations.length === 0, `Content-Security-Policy violations:\n  ${cspViolations.join('\n  ')}`);
  failFast();
  return {
    ok: true, task: id, frame: played.frame, current_time: played.currentTime, line_ms: played.lineMs,
    keylines: played.total, search_hits: played.hits, screenshots,
  };
}

const started = Date.now();
let report = null;
let failure = null;
try {
  report = await run();
} catch (e) {
  failure = e instanceof StepFailure ? e.message : (e?.stack || String(e));
}
try { await browser?.close(); } catch { try { browser?.process()?.kill('SIGKILL'); } catch { /* gone */ } }
removeProfile();
clearTimeout(watchdog);
if (failure) {
  process.stderr.write(`console.mjs: FAILED at step ${step}: ${failure}\n`);
  if (consoleErrors.length) process.stderr.write(`console.mjs: console errors so far:\n  ${consoleErrors.slice(-8).join('\n  ')}\n`);
  process.exit(1);
}
note(`all steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${opts.out}`);
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
