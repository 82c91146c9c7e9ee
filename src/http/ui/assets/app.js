// The video-worker console: a small hash-routed page over the public API
// (docs/api.md, docs/console.md). No framework, no build step.
//
// Every string that comes from the server (session ids, file names,
// metadata, logs, typed keys) is inserted as text (textContent, text
// nodes, attribute values), never as markup. The page's CSP forbids inline
// script and style, so there is none here either.

const STATES = ['receiving', 'queued', 'converting', 'uploading', 'done', 'failed'];
const SETTLED = ['done', 'failed'];
const REFRESH_MS = 2000;
const PAGE_SIZE = 25;

const main = document.getElementById('main');
const session = { csrf: '', name: '' };

// =================================================================== helpers

/**
 * Makes an element. `attrs`: `class`, `text`, `data-*`, `aria-*`, any other
 * attribute (true = present, false/null/undefined = absent). Children are
 * nodes or strings (strings become text nodes).
 */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A state (or health status) badge; the class is only ever a known word. */
function badge(state, id) {
  const known = [...STATES, 'ok', 'degraded', 'unavailable'].includes(state);
  return el('span', { class: known ? `badge ${state}` : 'badge', id }, String(state ?? 'unknown'));
}

function setBadge(node, state) {
  node.textContent = state;
  node.className = STATES.includes(state) ? `badge ${state}` : 'badge';
}

/**
 * Replaces a container's children (a refresh) without losing the keyboard
 * focus: a focused link or button is found again by its href or id.
 */
function redraw(container, ...nodes) {
  const active = document.activeElement;
  const key = active && active !== container && container.contains(active)
    ? [active.tagName, active.getAttribute('href') || active.id || active.textContent] : null;
  container.replaceChildren(...nodes);
  if (!key) return;
  const again = [...container.querySelectorAll(key[0])]
    .find((e) => (e.getAttribute('href') || e.id || e.textContent) === key[1]);
  again?.focus({ preventScroll: true });
}

function errorBox(message, id) {
  return el('p', { class: 'alert', role: 'alert', id }, message);
}

function card(title, ...children) {
  return el('section', { class: 'card' }, title ? el('h2', {}, title) : null, children);
}

/** A definition list from [label, value] pairs; values are text or nodes. */
function facts(pairs, attrs = {}) {
  return el('dl', { class: 'facts', ...attrs },
    pairs.filter(Boolean).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function taskUrl(id, rest = '') {
  return `/api/v1/tasks/${encodeURIComponent(id)}${rest}`;
}

function taskHash(id) {
  return `#/tasks/${encodeURIComponent(id)}`;
}

function fileUrl(id, name) {
  return taskUrl(id, `/files/${encodeURIComponent(name)}`);
}

// ---------------------------------------------------------------- formatting

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '—';
}

function shortWhen(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

function bytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** m:ss, or h:mm:ss from an hour on. */
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** "3 d 4 h", "12 min", "40 s": for waits and uptimes. */
function span(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor(s / 60) % 60} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

function percent(p) {
  return `${Math.round((p || 0) * 100)} %`;
}

/** Values of an object shown as text (objects as JSON). */
function plain(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// ======================================================================= API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function toLogin() {
  location.assign('/ui/login');
}

/**
 * fetch() with the session cookie. Requests that change something carry
 * the CSRF token; a 401 means the session is over: back to sign-in.
 */
async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const h = new Headers(headers);
  if (method !== 'GET' && method !== 'HEAD') h.set('X-CSRF-Token', session.csrf);
  const response = await fetch(path, { method, body, headers: h, credentials: 'same-origin', cache: 'no-store' });
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, 'unauthorized', 'signed out');
  }
  return response;
}

/** The JSON answer, or an ApiError with the server's message. */
async function apiJson(path, options) {
  const response = await api(path, options);
  let value = null;
  try { value = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    throw new ApiError(response.status, value?.code, value?.message || `${path}: HTTP ${response.status}`);
  }
  return value;
}

async function apiText(path) {
  const response = await api(path);
  if (!response.ok) throw new ApiError(response.status, null, `${path}: HTTP ${response.status}`);
  return response.text();
}

// ==================================================================== router

// Each route change starts a new "view". Work of an older view (a slow
// answer, a poll) checks `alive()` and stops, so it never draws over the
// page the user went to.
let currentView = 0;

function newView() {
  const id = ++currentView;
  return {
    alive: () => id === currentView,
    /** Replaces the page's content, if this view is still the current one. */
    show(...nodes) {
      if (id === currentView) main.replaceChildren(...nodes);
    },
    /**
     * Calls fn now (resolves when that first call is over), then every
     * REFRESH_MS, never overlapping, while the view lives. fn's errors are
     * fn's to show; a 401 (signed out) stops the polling.
     */
    async poll(fn) {
      let stop = false;
      const once = async () => {
        try { await fn(); } catch (e) { if (e.status === 401) stop = true; }
      };
      await once();
      (async () => {
        while (!stop && id === currentView) {
          await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
          if (id === currentView) await once();
        }
      })();
    },
  };
}

// Hash routes: #/ · #/tasks?state=&q=&cursor= · #/tasks/<id> · #/play/<id> · #/upload
const ROUTES = [
  [/^\/?$/, overviewPage],
  [/^\/tasks$/, taskListPage],
  [/^\/tasks\/([^/]+)$/, taskPage],
  [/^\/play\/([^/]+)$/, playerPage],
  [/^\/upload$/, uploadPage],
];

function decode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

function markNav(path) {
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    const here = target === '/' ? path === '/' || path === '' : path === target || path.startsWith(`${target}/`);
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const view = newView();
  const [path, query = ''] = (location.hash.slice(1) || '/').split('?');
  markNav(path.startsWith('/play/') ? '/tasks' : path);
  window.scrollTo(0, 0);
  for (const [pattern, page] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      await page(view, { arg: m[1] === undefined ? undefined : decode(m[1]), params: new URLSearchParams(query) });
      main.focus({ preventScroll: true });
      return;
    }
  }
  document.title = 'Not found · video-worker';
  view.show(el('section', { id: 'notfound' }, el('h1', {}, 'Not found'),
    errorBox(`There is no page “${decode(path)}”.`), el('p', {}, el('a', { href: '#/' }, 'Go to the overview'))));
}

function title(text) {
  document.title = `${text} · video-worker`;
}

// ================================================================== overview

async function overviewPage(view) {
  title('Overview');
  const status = el('p', { class: 'muted small' });
  const body = el('div', { class: 'stack' }, el('p', { class: 'muted' }, 'Loading…'));
  view.show(el('section', { id: 'overview' },
    el('div', { class: 'page-head' }, el('h1', {}, 'Overview'), status), body));
  await view.poll(async () => {
    try {
      const o = await apiJson('/api/v1/overview');
      if (!view.alive()) return;
      redraw(body, countCards(o.counts || {}), serviceCards(o));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      status.textContent = '';
      if (view.alive()) body.replaceChildren(errorBox(`Cannot load the overview: ${e.message}`));
      throw e;
    }
  });
}

function countCards(counts) {
  return el('div', { class: 'counts' }, STATES.map((s) =>
    el('a', { class: `count ${s}`, href: `#/tasks?state=${s}` },
      el('span', { class: 'n', 'data-count': s }, String(counts[s] ?? 0)),
      el('span', { class: 'label' }, s))));
}

function serviceCards(o) {
  const h = o.health || {};
  const reasons = [...(h.unavailable || []).map((r) => ['unavailable', r]), ...(h.degraded || []).map((r) => ['degraded', r])];
  const oldest = o.oldest_queued
    ? [el('a', { href: taskHash(o.oldest_queued.id) }, o.oldest_queued.session_id || o.oldest_queued.id),
      ` waiting ${span(Date.now() - o.oldest_queued.created_at)}`]
    : 'none';
  const cards = [
    card('Health',
      el('p', { class: 'health' }, badge(h.status || 'unknown', 'health-status'),
        ' ', el('span', { class: 'muted' }, `${h.name || session.name || ''} ${h.version ? `v${h.version}` : ''}`)),
      reasons.length
        ? el('ul', { class: 'reasons' }, reasons.map(([kind, r]) => el('li', { class: kind }, r)))
        : el('p', { class: 'muted' }, 'Nothing to report.'),
      facts([['Up', h.uptime_seconds !== undefined ? span(h.uptime_seconds * 1000) : '—'],
        ['Queue depth', plain(h.queue_depth)], ['Receiving', plain(h.receiving)]])),
    card('Work',
      facts([
        ['Workers busy', el('span', {}, `${o.busy_workers ?? 0} of ${o.workers ?? 0} `,
          el('meter', { min: 0, max: Math.max(1, o.workers || 0), value: o.busy_workers || 0, 'aria-label': 'Busy workers' }))],
        ['Last hour', `${o.done_last_hour ?? 0} done, ${o.failed_last_hour ?? 0} failed`],
        ['Oldest queued', oldest],
      ])),
  ];
  if (h.core) cards.push(card('Core', objectFacts(h.core)));
  if (h.cluster) cards.push(card('Cluster', objectFacts(h.cluster)));
  return el('div', { class: 'cards' }, cards);
}

function objectFacts(obj) {
  if (typeof obj !== 'object') return el('p', {}, plain(obj));
  return facts(Object.entries(obj).map(([k, v]) => [k, typeof v === 'boolean' ? (v ? 'yes' : 'no') : plain(v)]));
}

// ================================================================= task list

async function taskListPage(view, { params }) {
  title('Tasks');
  const query = {
    state: STATES.includes(params.get('state')) ? params.get('state') : '',
    session: params.get('q') || '',
    cursor: params.get('cursor') || '',
  };
  const filter = el('select', { id: 'state-filter' },
    el('option', { value: '' }, 'Any state'),
    STATES.map((s) => el('option', { value: s, selected: s === query.state }, s)));
  const search = el('input', {
    id: 'search', type: 'search', placeholder: 'Session id starts with…', value: query.session,
    autocomplete: 'off', spellcheck: 'false',
  });
  const tbody = el('tbody');
  const pager = el('nav', { class: 'pager', 'aria-label': 'Pages' });
  const status = el('p', { class: 'muted small' });
  const problem = el('div');
  view.show(el('section', { id: 'tasks-page' },
    el('div', { class: 'page-head' }, el('h1', {}, 'Tasks'), status),
    el('div', { class: 'toolbar' },
      el('div', { class: 'field' }, el('label', { for: 'state-filter' }, 'State'), filter),
      el('div', { class: 'field grow' }, el('label', { for: 'search' }, 'Session id'), search)),
    problem,
    el('div', { class: 'table-wrap' }, taskTable(tbody)),
    pager));

  let shown = '';
  const draw = async () => {
    try {
      const asked = listParams(query).toString();
      const page = await apiJson(`/api/v1/tasks?${asked}`);
      if (!view.alive() || asked !== listParams(query).toString()) return;   // the filter changed meanwhile
      problem.replaceChildren();
      status.textContent = `${page.items.length} shown · updated ${new Date().toLocaleTimeString()}`;
      const signature = JSON.stringify(page);
      if (signature === shown) return;
      shown = signature;
      redraw(tbody, ...(page.items.length ? page.items.map(taskRow)
        : [el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No tasks match.'))]));
      redraw(pager,
        query.cursor ? el('a', { href: listHash({ ...query, cursor: '' }), class: 'button secondary' }, 'Newest') : '',
        page.next ? el('a', { href: listHash({ ...query, cursor: page.next }), id: 'older', class: 'button secondary' }, 'Older') : '');
    } catch (e) {
      if (view.alive()) problem.replaceChildren(errorBox(`Cannot list the tasks: ${e.message}`));
      throw e;
    }
  };
  const requery = () => {
    query.state = filter.value;
    query.session = search.value.trim();
    query.cursor = '';
    history.replaceState(null, '', listHash(query));
    draw().catch(() => {});
  };
  filter.addEventListener('change', requery);
  let debounce = null;
  search.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(requery, 250); });
  await view.poll(draw);
}

function listParams(query) {
  const p = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (query.state) p.set('state', query.state);
  if (query.session) p.set('session', query.session);
  if (query.cursor) p.set('cursor', query.cursor);
  return p;
}

function listHash(query) {
  const p = new URLSearchParams();
  if (query.state) p.set('state', query.state);
  if (query.session) p.set('q', query.session);
  if (query.cursor) p.set('cursor', query.cursor);
  const s = p.toString();
  return `#/tasks${s ? `?${s}` : ''}`;
}

function taskTable(tbody) {
  const heads = [['Session'], ['State'], ['Progress', 'narrow-hide'], ['Created'], ['Size', 'num narrow-hide'], ['Attempts', 'num narrow-hide']];
  return el('table', { id: 'tasks' },
    el('thead', {}, el('tr', {}, heads.map(([h, cls]) => el('th', { scope: 'col', class: cls }, h)))),
    tbody);
}

function taskRow(t) {
  const size = (t.outputs || []).reduce((n, o) => n + (o.size || 0), 0);
  const progress = t.state === 'converting'
    ? [el('progress', { max: 1, value: t.progress || 0, 'aria-label': 'Progress' }), ` ${percent(t.progress)}`]
    : '';
  return el('tr', { 'data-id': t.id },
    el('td', { class: 'sid' }, el('a', { href: taskHash(t.id) }, t.session_id || t.id)),
    el('td', { class: 'state' }, badge(t.state)),
    el('td', { class: 'progress narrow-hide' }, progress),
    el('td', { class: 'time' }, el('time', { datetime: new Date(t.created_at).toISOString(), title: when(t.created_at) }, shortWhen(t.created_at))),
    el('td', { class: 'num narrow-hide' }, size ? bytes(size) : '—'),
    el('td', { class: 'num narrow-hide' }, String(t.attempts ?? 0)));
}

// ================================================================= task page

async function taskPage(view, { arg: id }) {
  title('Task');
  let t;
  try {
    t = await apiJson(taskUrl(id));
  } catch (e) {
    view.show(el('section', { id: 'task' }, el('h1', {}, 'Task'),
      errorBox(`Cannot show the task “${id}”: ${e.message}`),
      el('p', {}, el('a', { href: '#/tasks' }, 'Back to the tasks'))));
    return;
  }
  title(t.session_id || 'Task');
  const parts = taskParts(id);
  view.show(parts.root);
  let lastState = null;
  let lastLog = 0;
  const refresh = async () => {
    const fresh = await apiJson(taskUrl(id));
    if (!view.alive()) return;
    updateTask(parts, fresh);
    // The log is polled while the task runs, and read once more when its state changes.
    if (!SETTLED.includes(fresh.state) || fresh.state !== lastState || Date.now() - lastLog > 30_000) {
      lastState = fresh.state;
      lastLog = Date.now();
      showLog(parts.log, await apiText(taskUrl(id, '/log')).catch((e) => `(cannot read the log: ${e.message})`));
    }
  };
  parts.retry.addEventListener('click', () => retryTask(id, parts));
  updateTask(parts, t);
  await view.poll(refresh);
}

/** The task page's elements; updateTask() fills them. */
function taskParts(id) {
  const p = {
    samples: [],
    state: badge('…', 'task-state'),
    heading: el('h1', {}),
    error: el('div', { id: 'task-error', class: 'alert', role: 'alert', hidden: true }),
    progressBox: el('div', { class: 'progress-box', hidden: true }),
    progress: el('progress', { max: 1, value: 0, 'aria-label': 'Conversion progress' }),
    eta: el('span', { class: 'muted' }),
    facts: el('div'),
    files: el('div'),
    metadata: el('pre', { id: 'task-metadata', class: 'code' }),
    log: el('pre', { id: 'task-log', class: 'log', tabindex: 0, 'aria-label': 'Task log' }),
    retry: el('button', { id: 'retry', type: 'button', hidden: true }, 'Retry'),
    play: el('a', { id: 'play', class: 'button', href: `#/play/${encodeURIComponent(id)}`, hidden: true }, 'Play'),
  };
  append(p.progressBox, [p.progress, ' ', p.eta]);
  p.root = el('section', { id: 'task' },
    el('p', { class: 'crumbs' }, el('a', { href: '#/tasks' }, 'Tasks'), ' / ', el('span', { class: 'mono' }, id)),
    el('div', { class: 'page-head' }, p.heading, p.state, el('div', { class: 'actions' }, p.play, p.retry)),
    p.progressBox,
    p.error,
    el('div', { class: 'cards two' }, card('Details', p.facts), card('Files', p.files)),
    card('Metadata', p.metadata),
    card('Log', p.log));
  return p;
}

function updateTask(p, t) {
  p.heading.textContent = t.session_id || t.id;
  setBadge(p.state, t.state);
  const converting = t.state === 'converting';
  p.progressBox.hidden = !converting;
  p.progress.value = t.progress || 0;
  if (converting) p.samples.push([Date.now(), t.progress || 0]);
  else p.samples.length = 0;
  p.eta.textContent = converting ? eta(p.samples) : '';
  p.error.hidden = !t.last_error;
  p.error.textContent = t.last_error ? `Last error: ${t.last_error}` : '';
  p.retry.hidden = t.state !== 'failed';
  p.play.hidden = t.state !== 'done';
  p.facts.replaceChildren(facts([
    ['Task id', el('span', { class: 'mono' }, t.id)],
    ['Attempts', String(t.attempts ?? 0)],
    ['Created', when(t.created_at)],
    ['Updated', when(t.updated_at)],
    ['Finished', when(t.finished_at)],
    t.next_attempt_at ? ['Next attempt', when(t.next_attempt_at)] : null,
    ['Worker', t.worker || '—'],
    ['Input', `${t.input_parts ?? '?'} part(s), ${bytes(t.input_bytes)}`],
    ['Source', t.source || '—'],
    ['Session date', t.session_date || '—'],
  ]));
  const files = JSON.stringify([t.state, t.outputs]);
  if (p.shownFiles !== files) {
    p.shownFiles = files;
    redraw(p.files, fileList(t));
  }
  const metadata = JSON.stringify(t.metadata ?? {}, null, 2);
  if (p.metadata.textContent !== metadata) p.metadata.textContent = metadata;
}

function fileList(t) {
  const files = (t.outputs || []).flatMap((o) => [o, ...(o.sidecars || [])]);
  if (!files.length) return el('p', { class: 'muted' }, t.state === 'done' ? 'No stored files.' : 'Nothing stored yet.');
  return el('ul', { class: 'files' }, files.map((f) => el('li', {},
    el('a', { href: fileUrl(t.id, f.name), download: f.name }, f.name),
    el('span', { class: 'muted' }, ` ${bytes(f.size)}`,
      f.kind ? ` · ${f.kind}` : '',
      f.duration_ms ? ` · ${clock(f.duration_ms)}` : '',
      f.width ? ` · ${f.width}×${f.height}` : ''))));
}

function showLog(pre, text) {
  if (pre.textContent === text) return;
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = text || '(empty)';
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

/** Time left, from how fast progress moved over the recent samples. */
function eta(samples) {
  const recent = samples.filter(([t]) => t >= Date.now() - 30_000);
  const [t0, p0] = recent[0] || [];
  const [t1, p1] = recent[recent.length - 1] || [];
  if (recent.length < 2 || !(p1 > p0)) return `${percent(p1)}, estimating the time left…`;
  return `${percent(p1)}, about ${span(((1 - p1) * (t1 - t0)) / (p1 - p0))} left`;
}

async function retryTask(id, p) {
  p.retry.disabled = true;
  try {
    updateTask(p, await apiJson(taskUrl(id, '/retry'), { method: 'POST' }));
  } catch (e) {
    p.error.hidden = false;
    p.error.textContent = `Retry refused: ${e.message}`;
  } finally {
    p.retry.disabled = false;
  }
}

// ==================================================================== player

/** Cues of a WebVTT text: [{start, end, text}] with times in ms and entities decoded. */
function parseVtt(text) {
  const cues = [];
  for (const block of text.replace(/\r\n?/g, '\n').split(/\n{2,}/)) {
    const lines = block.split('\n');
    const at = lines.findIndex((l) => l.includes('-->'));
    if (at < 0) continue;
    const [a, b = ''] = lines[at].split('-->');
    const start = vttTime(a);
    const end = vttTime(b.trim().split(/\s+/)[0]);
    if (Number.isNaN(start)) continue;
    cues.push({ start, end: Number.isNaN(end) ? start : end, text: decodeEntities(lines.slice(at + 1).join('\n')) });
  }
  return cues.sort((x, y) => x.start - y.start);
}

/** "HH:MM:SS.mmm" or "MM:SS.mmm" to ms. */
function vttTime(s) {
  const parts = s.trim().split(':').map(Number);
  if (parts.length < 2 || parts.some(Number.isNaN)) return NaN;
  return Math.round(parts.reduce((acc, x) => acc * 60 + x, 0) * 1000);
}

/** WebVTT's character references, decoded in one pass (so "&amp;lt;" stays "&lt;"). */
function decodeEntities(s) {
  const named = { lt: '<', gt: '>', amp: '&', nbsp: '\u00a0', lrm: '\u200e', rlm: '\u200f', quot: '"', apos: "'" };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return named[name.toLowerCase()] ?? all;
  });
}

async function playerPage(view, { arg: id }) {
  title('Player');
  let t;
  try {
    t = await apiJson(taskUrl(id));
  } catch (e) {
    view.show(el('section', { id: 'player' }, el('h1', {}, 'Player'), errorBox(`Cannot show the task “${id}”: ${e.message}`)));
    return;
  }
  title(`Play ${t.session_id || t.id}`);
  const head = el('p', { class: 'crumbs' }, el('a', { href: '#/tasks' }, 'Tasks'), ' / ',
    el('a', { href: taskHash(id) }, t.session_id || t.id), ' / play');
  const video = t.state === 'done' && (t.outputs || []).find((o) => /\.mp4$/i.test(o.name));
  if (!video) {
    view.show(el('section', { id: 'player' }, head, el('h1', {}, t.session_id || t.id),
      el('p', {}, `There is no video to play: the task is ${t.state}.`)));
    return;
  }
  const sidecar = (kind) => (video.sidecars || []).find((s) => s.kind === kind);
  const stage = videoStage(id, video);
  const keys = keyPanel();
  view.show(el('section', { id: 'player' }, head,
    el('div', { class: 'page-head' }, el('h1', {}, t.session_id || t.id),
      el('span', { class: 'muted' }, `${clock(video.duration_ms || 0)} · ${video.width}×${video.height}`)),
    el('div', { class: 'player' }, stage.root, keys.root)));
  const thumbs = sidecar('thumbnails');
  if (thumbs) loadThumbnails(stage, fileUrl(id, thumbs.name)).catch((e) => stage.note(`Thumbnails: ${e.message}`));
  const track = sidecar('keystrokes');
  if (!track) {
    keys.none('No keystroke track (KEYSTROKE_TRACK=off).');
    return;
  }
  try {
    keys.fill(parseVtt(await apiText(fileUrl(id, track.name))), stage);
  } catch (e) {
    keys.none(`Cannot read the keystroke track: ${e.message}`);
  }
}

/** The video, a scrub bar under it and the thumbnail preview. */
function videoStage(id, output) {
  const video = el('video', { id: 'video', controls: true, preload: 'auto', src: fileUrl(id, output.name) });
  const played = el('div', { class: 'played' });
  const bar = el('div', { class: 'scrub', title: 'Hover for a preview, click to seek' }, played);
  const previewTime = el('span', { class: 't' });
  const preview = el('div', { id: 'thumb-preview', hidden: true, 'aria-hidden': 'true' }, previewTime);
  const notes = el('p', { class: 'muted small' });
  const root = el('div', { class: 'stage' }, el('div', { class: 'frame' }, video), el('div', { class: 'scrub-wrap' }, bar, preview), notes);
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : (output.duration_ms || 0) / 1000);
  const at = (e) => {
    const r = bar.getBoundingClientRect();
    return Math.max(0, Math.min(1, (e.clientX - r.left) / r.width));
  };
  const stage = {
    root, video, bar, preview, previewTime, duration, at,
    seek(seconds) { video.currentTime = Math.max(0, Math.min(seconds, duration())); },
    note(text) { notes.textContent = text; },
  };
  bar.addEventListener('click', (e) => stage.seek(at(e) * duration()));
  video.addEventListener('timeupdate', () => {
    played.style.width = `${(100 * video.currentTime) / (duration() || 1)}%`;
  });
  return stage;
}

/** Fetches the thumbnail track; hovering the scrub bar then shows the sprite region. */
async function loadThumbnails(stage, vttUrl) {
  const base = new URL(vttUrl, location.href);
  const cues = parseVtt(await apiText(vttUrl)).map((c) => {
    const [file, frag = ''] = c.text.trim().split('#xywh=');
    const [x = 0, y = 0, w = 160, h = 90] = frag.split(',').map(Number);
    const u = new URL(file, base);
    return { ...c, url: u.origin === location.origin ? u.pathname + u.search : '', x, y, w, h };
  }).filter((c) => c.url);
  if (!cues.length) return;
  const { bar, preview, previewTime } = stage;
  bar.addEventListener('mousemove', (e) => {
    const ms = stage.at(e) * stage.duration() * 1000;
    const cue = cues.find((c) => ms >= c.start && ms < c.end) || cues[cues.length - 1];
    const width = bar.getBoundingClientRect().width;
    preview.hidden = false;
    preview.style.width = `${cue.w}px`;
    preview.style.height = `${cue.h}px`;
    // cue.url is a same-origin path from URL(): quotes and spaces are percent-encoded.
    preview.style.backgroundImage = `url("${cue.url}")`;
    preview.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    preview.style.left = `${Math.max(0, Math.min(stage.at(e) * width - cue.w / 2, width - cue.w))}px`;
    previewTime.textContent = clock(ms);
  });
  bar.addEventListener('mouseleave', () => { preview.hidden = true; });
}

/** The keystroke log: a search box and one button per cue. */
function keyPanel() {
  const search = el('input', {
    id: 'keysearch', type: 'search', placeholder: 'Search what was typed', autocomplete: 'off', spellcheck: 'false',
  });
  const count = el('span', { id: 'keycount', class: 'muted', 'aria-live': 'polite' });
  const lines = el('div', { id: 'keylines' });
  const root = el('aside', { class: 'keys', 'aria-labelledby': 'keys-title' },
    el('div', { class: 'keys-head' }, el('h2', { id: 'keys-title' }, 'Keystrokes'), count),
    el('label', { for: 'keysearch', class: 'sr-only' }, 'Search keystrokes'), search, lines);
  return {
    root,
    none(message) {
      search.disabled = true;
      count.textContent = '';
      lines.replaceChildren(el('p', { class: 'empty' }, message));
    },
    fill(cues, stage) { fillKeys({ cues, stage, search, count, lines }); },
  };
}

function fillKeys({ cues, stage, search, count, lines }) {
  if (!cues.length) {
    lines.replaceChildren(el('p', { class: 'empty' }, 'Nothing was typed.'));
    search.disabled = true;
    return;
  }
  const buttons = cues.map((c) => el('button', { type: 'button', class: 'keyline', 'data-ms': c.start },
    el('span', { class: 'at' }, clock(c.start)), el('span', { class: 'text' }, c.text)));
  lines.replaceChildren(...buttons);
  const mark = (current) => {
    for (const b of buttons) b.classList.toggle('current', b === current);
    if (current && !lines.matches(':hover')) keepInView(lines, current);
  };
  lines.addEventListener('click', (e) => {
    const b = e.target.closest('.keyline');
    if (!b) return;
    stage.seek(Number(b.dataset.ms) / 1000);
    mark(b);
  });
  stage.video.addEventListener('timeupdate', () => {
    const ms = stage.video.currentTime * 1000 + 1;
    let current = null;
    for (const b of buttons) if (Number(b.dataset.ms) <= ms) current = b;
    if (current && !current.classList.contains('current')) mark(current);
  });
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const b of buttons) {
      b.hidden = q !== '' && !b.querySelector('.text').textContent.toLowerCase().includes(q);
      if (!b.hidden) shown++;
    }
    count.textContent = q ? `${shown} of ${buttons.length}` : `${buttons.length} ${buttons.length === 1 ? 'line' : 'lines'}`;
  };
  search.addEventListener('input', filter);
  filter();
}

/** Scrolls the list (not the page) so that the line is visible. */
function keepInView(list, line) {
  const top = line.offsetTop - list.offsetTop;
  if (top < list.scrollTop || top + line.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = top - list.clientHeight / 3;
  }
}

// ==================================================================== upload

function uploadPage(view) {
  title('Upload');
  const u = uploadParts();
  let files = [];
  const choose = (list) => {
    files = [...list];
    u.chosen.replaceChildren(...(files.length
      ? files.map((f, i) => el('li', {}, `${i + 1}. ${f.name} `, el('span', { class: 'muted' }, bytes(f.size))))
      : [el('li', { class: 'muted' }, 'No file chosen.')]));
  };
  u.file.addEventListener('change', () => choose(u.file.files));
  u.zone.addEventListener('dragover', (e) => { e.preventDefault(); u.zone.classList.add('over'); });
  u.zone.addEventListener('dragleave', () => u.zone.classList.remove('over'));
  u.zone.addEventListener('drop', (e) => {
    e.preventDefault();
    u.zone.classList.remove('over');
    choose(e.dataTransfer.files);
  });
  u.form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!files.length) return uploadError(u, 'Choose at least one recording.');
    const sid = u.session.value.trim();
    if (sid && !/^[A-Za-z0-9._-]{1,128}$/.test(sid)) {
      return uploadError(u, 'A session id is 1 to 128 letters, digits, “-”, “_” or “.”.');
    }
    sendUpload(u, sid, files, view);
  });
  choose([]);
  view.show(el('section', { id: 'upload-page' }, el('div', { class: 'page-head' }, el('h1', {}, 'Upload a recording')), u.form));
}

function uploadParts() {
  const u = {
    file: el('input', { id: 'file', type: 'file', multiple: true }),
    session: el('input', { id: 'session', type: 'text', maxlength: 128, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. s-42' }),
    chosen: el('ul', { class: 'chosen', 'aria-live': 'polite' }),
    bar: el('progress', { id: 'upload-progress', max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' }),
    barText: el('span', { class: 'muted small' }),
    error: el('p', { id: 'upload-error', class: 'alert', role: 'alert', hidden: true }),
    submit: el('button', { id: 'upload-submit', type: 'submit' }, 'Upload'),
  };
  u.zone = el('div', { id: 'dropzone' },
    el('p', { class: 'drop-title' }, 'Drop recording files here'),
    el('p', { class: 'muted small' }, 'Guacamole or terminal recordings, raw or gzip. Several files are the parts of one session, in order.'),
    el('label', { for: 'file', class: 'sr-only' }, 'Recording files'), u.file, u.chosen);
  u.form = el('form', { id: 'upload', class: 'form card', novalidate: true },
    u.zone,
    el('div', { class: 'field' }, el('label', { for: 'session' }, 'Session id ', el('span', { class: 'muted' }, '(optional)')), u.session,
      el('p', { class: 'muted small' }, 'Letters, digits, “-”, “_” and “.”; without one the task id is used.')),
    el('div', { class: 'actions' }, u.submit, u.bar, u.barText),
    u.error);
  return u;
}

function uploadError(u, message) {
  u.error.hidden = false;
  u.error.textContent = message;
}

/** Multipart POST through XMLHttpRequest, for its upload progress events. */
function sendUpload(u, sid, files, view) {
  const body = new FormData();
  if (sid) body.append('session_id', sid);
  for (const f of files) body.append('file', f, f.name);
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/v1/recordings');
  xhr.setRequestHeader('X-CSRF-Token', session.csrf);
  u.error.hidden = true;
  u.bar.hidden = false;
  u.bar.value = 0;
  u.submit.disabled = true;
  xhr.upload.onprogress = (p) => {
    if (!p.lengthComputable) return;
    u.bar.value = p.loaded / p.total;
    u.barText.textContent = `${percent(p.loaded / p.total)} of ${bytes(p.total)}`;
  };
  xhr.onload = () => {
    u.submit.disabled = false;
    let answer = {};
    try { answer = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 401) return toLogin();
    if (xhr.status === 202 && answer.id) {
      if (view.alive()) location.hash = taskHash(answer.id);
      return;
    }
    u.bar.hidden = true;
    u.barText.textContent = '';
    uploadError(u, `Upload refused (HTTP ${xhr.status}): ${answer.message || xhr.statusText || 'no answer'}`);
  };
  xhr.onerror = () => {
    u.submit.disabled = false;
    u.bar.hidden = true;
    uploadError(u, 'The upload was cut off (network error).');
  };
  xhr.send(body);
}

// ===================================================================== start

async function signOut() {
  try {
    await fetch('/ui/logout', { method: 'POST', headers: { 'X-CSRF-Token': session.csrf }, credentials: 'same-origin' });
  } finally {
    toLogin();
  }
}

async function start() {
  let response;
  try {
    response = await fetch('/ui/session', { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    main.replaceChildren(errorBox(`The service does not answer: ${e.message}`));
    return;
  }
  if (!response.ok) return toLogin();
  Object.assign(session, await response.json());
  document.getElementById('node').textContent = session.name || '';
  document.getElementById('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  await route();
}

start();
