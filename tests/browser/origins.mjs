#!/usr/bin/env node
// Hostile pages against a video-worker that has no API token, in headless
// Chromium; run by tests/console.rs.
//
//   node origins.mjs --port PORT [--chromium PATH]
//
// 1. Same host: the console at http://127.0.0.1:PORT signs in (empty token,
//    as a local admin does), reads the task list and uploads a recording
//    with same-origin fetches: all must work.
// 2. DNS rebinding: Chromium resolves evil.example to 127.0.0.1
//    (--host-resolver-rules), so a page at http://evil.example:PORT reaches
//    the worker; its same-origin reads and uploads must be refused.
// 3. A cross-site page (http://localhost:OTHER, served here) posts a
//    multipart form and fires a no-cors fetch at http://127.0.0.1:PORT:
//    nothing may be created.
// Prints one JSON report on stdout; exits 1 on a setup failure.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('port'));
const chromium = opt('chromium', process.env.CHROMIUM || '/usr/bin/chromium');
if (!port) {
  process.stderr.write('usage: node origins.mjs --port PORT [--chromium PATH]\n');
  process.exit(2);
}

const { default: puppeteer } = await import('puppeteer-core');
const worker = `http://127.0.0.1:${port}`;

/** Asks the worker directly (node, no browser): how many tasks exist. */
function taskCount() {
  return new Promise((resolve, reject) => {
    http.get(`${worker}/api/v1/tasks?limit=500`, (r) => {
      let body = '';
      r.on('data', (c) => { body += c; });
      r.on('end', () => {
        try { resolve(JSON.parse(body).items.length); } catch (e) { reject(new Error(`${r.statusCode} ${body}`)); }
      });
    }).on('error', reject);
  });
}

/** The attacker's page: a form posting a recording, and a no-cors fetch. */
function attackerServer() {
  const page = `<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="${worker}/api/v1/recordings">
<input name="session_id" value="planted"><textarea name="file">4.sync,4.1000;</textarea></form>
<script>
fetch('${worker}/api/v1/tasks/x/retry', { method: 'POST', mode: 'no-cors' }).catch(() => {});
const fd = new FormData(); fd.append('file', new Blob(['4.sync,4.1000;']), 'a.guac');
fetch('${worker}/api/v1/recordings', { method: 'POST', mode: 'no-cors', body: fd })
  .finally(() => document.getElementById('f').submit());
</script></body></html>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vw-origins-chromium-'));
const root = typeof process.getuid === 'function' && process.getuid() === 0;
const launchArgs = ['--disable-gpu', '--no-first-run', '--no-default-browser-check', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-quic',
  '--host-resolver-rules=MAP evil.example 127.0.0.1'];
if (root || process.env.CHROMIUM_NO_SANDBOX === '1') launchArgs.unshift('--no-sandbox');
const browser = await puppeteer.launch({ executablePath: chromium, headless: true, userDataDir, args: launchArgs });
const report = {};
const inPage = (page, p, method) => page.evaluate(async (p, method) => {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (method === 'POST') {
    // As the console's own pages do: actions carry the session's CSRF token.
    const session = await fetch('/ui/session', { credentials: 'same-origin' });
    if (session.ok) init.headers['X-CSRF-Token'] = (await session.json()).csrf;
    const fd = new FormData();
    fd.append('session_id', 'from-page');
    fd.append('file', new Blob(['4.sync,4.1000;4.size,1.0,2.64,2.48;4.sync,4.2000;']), 'a.guac');
    init.body = fd;
  }
  const r = await fetch(p, init);
  let code = null;
  try { code = (await r.json()).code ?? null; } catch { /* not JSON */ }
  return { status: r.status, code };
}, p, method);

try {
  const before = await taskCount();
  // 1. Same host.
  const page = await browser.newPage();
  await page.goto(`${worker}/ui/login`, { waitUntil: 'load' });
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
  report.signedInAt = new URL(page.url()).pathname;
  report.sameHostList = await inPage(page, '/api/v1/tasks', 'GET');
  report.sameHostUpload = await inPage(page, '/api/v1/recordings', 'POST');
  const afterOwn = await taskCount();
  report.ownUploadCreated = afterOwn - before;
  // 2. Rebinding.
  const evil = await browser.newPage();
  const login = await evil.goto(`http://evil.example:${port}/ui/login`, { waitUntil: 'load' });
  report.rebindLoginStatus = login.status();
  report.rebindList = await inPage(evil, '/api/v1/tasks', 'GET');
  report.rebindUpload = await inPage(evil, '/api/v1/recordings', 'POST');
  // 3. Cross-site form and no-cors fetches.
  const attacker = await attackerServer();
  const cross = await browser.newPage();
  const other = `http://localhost:${attacker.address().port}/`;
  await cross.goto(other, { waitUntil: 'load' });
  await cross.waitForNavigation({ waitUntil: 'load', timeout: 10_000 }).catch(() => {});
  report.crossSiteLanding = await cross.evaluate(() => document.body ? document.body.innerText.slice(0, 300) : '');
  attacker.close();
  report.createdByOthers = (await taskCount()) - afterOwn;
} catch (e) {
  process.stderr.write(`origins.mjs: ${e.stack || e}\n`);
  await browser.close();
  process.exit(1);
}
await browser.close();
fs.rmSync(userDataDir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(report)}\n`);
