// What the two reference-player harnesses (render.mjs, keys.mjs) share: a
// loopback HTTP server for their page, the guacamole-common-js build and the
// recording, headless Chromium opened on that page, a watchdog, and a
// clean-up that never leaves a browser or a profile directory behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';

// Chromium on a closed network: no background connections, no sandbox (root in CI).
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-extensions'];

/**
 * name: the script's name, for messages; page: the HTML; libSrc: the
 * library's source, served as /guacamole-common.js; recording, recSize: the
 * file served as /recording; chromium, timeout (s), extraArgs: how to run
 * the browser; puppeteer: the puppeteer-core module.
 */
export function playerHarness({ name, page, libSrc, recording, recSize, chromium, timeout, extraArgs = [], puppeteer }) {
  const pageErrors = [];
  let browser = null;
  let userDataDir = null;

  const server = http.createServer((req, res) => {
    const url = req.url.split('?')[0];
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
    } else if (url === '/guacamole-common.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(libSrc);
    } else if (url === '/recording') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': recSize, 'cache-control': 'no-store' });
      fs.createReadStream(recording).pipe(res);
    } else {
      res.writeHead(url === '/favicon.ico' ? 204 : 404); res.end();
    }
  });

  const removeProfile = () => {
    if (userDataDir) { try { fs.rmSync(userDataDir, { recursive: true, force: true }); } catch {} userDataDir = null; }
  };

  async function cleanup() {
    if (browser) { try { await browser.close(); } catch { try { browser.process()?.kill('SIGKILL'); } catch {} } browser = null; }
    server.close();
    removeProfile();
  }

  const errors = () => (pageErrors.length ? `\npage errors:\n  ${pageErrors.slice(-5).join('\n  ')}` : '');

  const watchdog = setTimeout(() => {
    process.stderr.write(`${name}: error: timeout after ${timeout} s${errors().replace('\n', '; ')}\n`);
    try { browser?.process()?.kill('SIGKILL'); } catch {}
    removeProfile();
    process.exit(3);
  }, timeout * 1000);
  watchdog.unref();

  /** Serves the page, opens it in Chromium and waits for `window.guacReady`. */
  async function open() {
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
    const base = `http://127.0.0.1:${server.address().port}/`;
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `guac-${name.replace(/\.mjs$/, '')}-chromium-`));
    try {
      browser = await puppeteer.launch({
        executablePath: chromium,
        headless: true,
        userDataDir,
        protocolTimeout: timeout * 1000,
        args: [...CHROMIUM_ARGS, ...extraArgs],
      });
    } catch (e) {
      throw new Error(`cannot launch chromium (${chromium}): ${e.message}`);
    }
    const tab = await browser.newPage();
    tab.on('pageerror', (e) => pageErrors.push(String(e.message || e)));
    tab.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    await tab.goto(base, { waitUntil: 'load' });
    await tab.waitForFunction('window.guacReady === true', { timeout: 30000 })
      .catch(() => { throw new Error('page did not initialise: ' + (pageErrors.join('; ') || 'unknown reason')); });
    return tab;
  }

  /** The message for a failure, with the page's last errors. */
  const failure = (e) => (e && e.message ? e.message.replace(/^Error: /, '') : String(e)) + errors();

  return { open, cleanup, failure };
}
