// The operator dashboard: /admin. Live figures come from one server-sent-events stream
// (GET /admin/events, read with fetch so the admin token travels in a header, not the URL);
// actions and lists use the admin API. See web/README.md.
import { t, translate, setLanguage, language, onLanguage, number, money, time } from './i18n.js';
import { Api, ApiError, randomKey } from './api.js';
import { el } from './dom.js';
import { drawChart } from './chart.js';

const $ = (id) => document.getElementById(id);
const TOKEN = 'ticketing:admin-token';
const api = new Api({ onWait: (w) => { if (w) toast(t(w.kind === 'busy' ? 'dBusy' : 'dOffline', { s: w.seconds })); } });

let history = [];       // samples, oldest first
let latest = null;
let selected = null;    // product id shown in the chart and the lists
const rows = new Map(); // product id -> {tr, cells}
let streamAbort = null;
let live = false;        // the event stream is open


let toastTimer = null;
function toast(text) {
  const box = $('toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
}
// A hold's or order's state as the API names it, in the page's language (unknown: as is).
function stateText(state) {
  const key = `state_${state}`;
  const text = t(key);
  return text === key ? state : text;
}
function fail(e) { toast(e instanceof ApiError ? `${e.code || e.status}: ${e.message}` : String(e)); }

// ---- sign-in
function tokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history_replace();
  return decodeURIComponent(m[1]);
}
function history_replace() { window.history.replaceState(null, '', location.pathname + location.search); }
function signIn(token) {
  api.token = token;
  sessionStorage.setItem(TOKEN, token);
  $('signin').hidden = true;
  $('app').hidden = false;
  connect();
}
function signOut(message) {
  streamAbort?.abort();
  sessionStorage.removeItem(TOKEN);
  api.token = '';
  $('app').hidden = true;
  $('signin').hidden = false;
  if (message) toast(message);
  $('token').focus();
}
$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const v = $('token').value.trim();
  if (v) signIn(v);
});

// ---- the event stream
function setStatus(ok) {
  live = ok;
  $('status').textContent = t(ok ? 'live' : 'reconnecting');
  $('status').className = `who badge ${ok ? 'ok' : 'warn'}`;
}

async function connect() {
  streamAbort?.abort();
  const ctl = new AbortController();
  streamAbort = ctl;
  for (let attempt = 0; !ctl.signal.aborted; attempt++) {
    let watchdog = null;
    try {
      const res = await fetch(`${api.base}/admin/events`, {
        headers: { Authorization: `Bearer ${api.token}` }, cache: 'no-store', signal: ctl.signal,
      });
      if (res.status === 401 || res.status === 403) return signOut(t('notAdmin'));
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      setStatus(true);
      attempt = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      // The server sends a heartbeat every 15 s: silence for 40 s means the stream is dead.
      const reset = () => { clearTimeout(watchdog); watchdog = setTimeout(() => reader.cancel(), 40000); };
      reset();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        reset();
        buf += value;
        for (let i; (i = buf.indexOf('\n\n')) >= 0;) {
          onBlock(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    } finally {
      clearTimeout(watchdog);
    }
    setStatus(false);
    await new Promise((ok) => setTimeout(ok, Math.min(10000, 1000 * 2 ** Math.min(attempt, 4)) * (0.7 + Math.random() * 0.6)));
  }
}

function onBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let payload;
  try { payload = JSON.parse(data.join('\n')); } catch { return; }
  if (event === 'history') {
    history = payload;
    if (history.length) onSample(history[history.length - 1], false);
  } else if (event === 'snapshot') {
    if (!history.length || history[history.length - 1].at !== payload.at) history.push(payload);
    if (history.length > 900) history.shift();
    onSample(payload, true);
  }
}

// ---- the figures
function onSample(s) {
  latest = s;
  $('rps').textContent = number(s.requestsPerSecond ?? 0);
  $('e5xx').textContent = number(s.errors5xxPerSecond ?? 0);
  $('e5xx-total').textContent = number(s.requests5xx ?? 0);
  $('sampled').textContent = time(Date.parse(s.at));
  $('sample-error').hidden = !s.error;
  $('sample-error').textContent = s.error ? t('samplingFailed', { msg: s.error }) : '';
  const ids = new Set();
  for (const p of s.products || []) {
    ids.add(p.id);
    updateRow(p);
  }
  for (const [id, row] of rows) if (!ids.has(id)) { row.tr.remove(); rows.delete(id); }
  if (selected === null && s.products && s.products.length) select(s.products[s.products.length - 1].id);
  renderChart();
}

function updateRow(p) {
  let row = rows.get(p.id);
  if (!row) row = makeRow(p);
  const line = p.line || {};
  const set = (k, v) => { if (row.cells[k].textContent !== v) row.cells[k].textContent = v; };
  set('name', p.name);
  set('available', number(p.available));
  set('held', number(p.held + (p.confirming || 0)));
  set('sold', number(p.sold));
  set('total', number(p.totalStock));
  set('queue', p.line ? number(line.length) : '–');
  set('admitted', p.line ? number(line.admitted) : '–');
  set('active', p.line ? number(line.active) : '–');
  const state = p.paused ? 'statePaused' : (p.available === 0 && p.held === 0 && (p.confirming || 0) === 0 ? 'stateSoldOut' : 'stateSelling');
  set('state', t(state));
  row.cells.state.className = `badge ${p.paused ? 'warn' : state === 'stateSoldOut' ? 'bad' : 'ok'}`;
  labelRow(row, p.id);
  row.pause.textContent = t(p.paused ? 'resume' : 'pause');
  row.pause.dataset.paused = p.paused ? '1' : '';
  row.tr.classList.toggle('selected', p.id === selected);
}

function makeRow(p) {
  const cells = {};
  const td = (k, cls) => { const c = el('td', { class: cls }); cells[k] = c; return c; };
  const units = el('input', { type: 'number', min: '1', value: '10', id: `units-${p.id}` });
  const pause = el('button', { type: 'button', class: 'secondary small', id: `pause-${p.id}` });
  const actions = el('div', { class: 'actions' },
    units,
    el('button', { type: 'button', class: 'small', id: `add-${p.id}`, 'data-label': 'add', onclick: () => changeStock(p.id, { add: Number(units.value) }) }),
    el('button', { type: 'button', class: 'secondary small', id: `remove-${p.id}`, 'data-label': 'remove', onclick: () => changeStock(p.id, { remove: Number(units.value) }) }),
    pause,
    el('button', { type: 'button', class: 'secondary small', 'data-label': 'sync', onclick: () => act(`/admin/products/${p.id}/sync-stock`, () => t('stockSynced')) }),
    el('button', { type: 'button', class: 'secondary small', 'data-label': 'details', onclick: () => select(p.id) }),
    el('a', { href: `/sale/${p.id}`, target: '_blank', rel: 'noopener', class: 'small', 'data-label': 'salePage' }));
  pause.addEventListener('click', () => act(`/admin/products/${p.id}/${pause.dataset.paused ? 'resume' : 'pause'}`, () => t(pause.dataset.paused ? 'resumedDone' : 'pausedDone')));
  const stateBadge = el('span');
  cells.state = stateBadge;
  const tr = el('tr', { 'data-id': String(p.id) },
    el('td', { text: String(p.id) }), td('name'), el('td', {}, stateBadge),
    td('available', 'n'), td('held', 'n'), td('sold', 'n'), td('total', 'n'),
    td('queue', 'n'), td('admitted', 'n'), td('active', 'n'), el('td', {}, actions));
  $('products').tBodies[0].append(tr);
  const row = { tr, cells, pause, units, details: actions.querySelector('[data-label=details]'), lang: null };
  rows.set(p.id, row);
  return row;
}

// The row's fixed labels, in the page's language (again only after a switch).
function labelRow(row, id) {
  if (row.lang === language()) return;
  row.lang = language();
  for (const b of row.tr.querySelectorAll('[data-label]')) b.textContent = t(b.dataset.label);
  row.units.setAttribute('aria-label', t('unitsLabel', { id }));
  row.details.setAttribute('aria-label', t('detailsLabel', { id }));
}

function renderChart() {
  const points = [];
  for (const s of history) {
    const p = (s.products || []).find((x) => x.id === selected);
    if (!p) continue;
    points.push({ t: Date.parse(s.at), sold: p.sold, held: p.held + (p.confirming || 0), available: p.available, queue: p.line ? p.line.length : 0 });
  }
  drawChart($('chart'), points, t('chartWaiting'));
  const last = points[points.length - 1];
  $('chart-summary').textContent = last
    ? t('chartSummary', { sold: number(last.sold), held: number(last.held), available: number(last.available), queue: number(last.queue), n: number(points.length) })
    : '';
}

// ---- actions
// done: the toast's text, made when the call has answered (in the language shown then).
async function act(path, done, body) {
  try {
    await api.call('POST', path, { body, retry: 2 });
    toast(done());
  } catch (e) { fail(e); }
}
async function changeStock(id, change) {
  const n = change.add ?? change.remove;
  if (!Number.isInteger(n) || n < 1) return toast(t('wholeUnits'));
  try {
    // The key makes a retried change (its answer lost) happen once.
    const r = await api.call('POST', `/admin/products/${id}/stock`, { body: change, headers: { 'Idempotency-Key': randomKey() }, retry: 2 });
    toast(t('stockChanged', { id, total: number(r.body.totalStock), available: number(r.body.available) }));
  } catch (e) {
    if (e.code === 'STOCK_IN_USE') return toast(t('onlyFree', { n: number(e.body.removable) }));
    fail(e);
  }
}

$('create').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const body = {
    name: f.name.value.trim(), price: Number(f.price.value), stock: Number(f.stock.value),
    perUserLimit: Number(f.perUserLimit.value || 1), holdSeconds: Number(f.holdSeconds.value || 300),
  };
  if (f.saleStartsAt.value) body.saleStartsAt = new Date(f.saleStartsAt.value).toISOString();
  if (f.queue.checked) {
    body.queue = { enabled: true, admitPerSecond: Number(f.admitPerSecond.value), maxActive: Number(f.maxActive.value), powDifficulty: Number(f.powDifficulty.value || 0) };
  }
  try {
    const r = await api.call('POST', '/admin/products', { body, headers: { 'Idempotency-Key': randomKey() }, retry: 2 });
    toast(t('created', { id: r.body.id }));
    select(r.body.id);
  } catch (err) { fail(err); }
});

// ---- lists (paged)
const pages = { holds: { cursor: '', next: null }, orders: { cursor: '', next: null } };
function titleLists() {
  const p = latest && (latest.products || []).find((x) => x.id === selected);
  const name = selected === null ? '–' : p ? `${p.name} (#${selected})` : `#${selected}`;
  $('lists-title').textContent = t('listsTitle', { name });
}
function select(id) {
  selected = id;
  for (const [rid, row] of rows) row.tr.classList.toggle('selected', rid === id);
  titleLists();
  pages.holds.cursor = '';
  pages.orders.cursor = '';
  // Another product's rows (and their refund buttons) never stay on show under this title.
  $('holds').tBodies[0].replaceChildren();
  $('orders').tBodies[0].replaceChildren();
  loadLists();
  renderChart();
}
async function loadLists() {
  if (selected === null) return;
  const id = selected;
  try {
    const q = (c) => `?limit=10${c ? `&cursor=${encodeURIComponent(c)}` : ''}`;
    const [h, o] = await Promise.all([
      api.call('GET', `/admin/products/${id}/reservations${q(pages.holds.cursor)}`, { retry: 1 }),
      api.call('GET', `/admin/products/${id}/orders${q(pages.orders.cursor)}`, { retry: 1 }),
    ]);
    if (id !== selected) return;
    pages.holds.next = h.body.nextCursor;
    pages.orders.next = o.body.nextCursor;
    $('holds-next').disabled = !h.body.nextCursor;
    $('orders-next').disabled = !o.body.nextCursor;
    $('holds').tBodies[0].replaceChildren(...h.body.items.map((x) => el('tr', {},
      el('td', { text: x.reservationId.slice(0, 14) + '…', title: x.reservationId }), el('td', { text: x.user }),
      el('td', { class: 'n', text: String(x.quantity) }), el('td', { text: stateText(x.state) }),
      el('td', { text: time(Date.parse(x.expiresAt)) }))));
    $('orders').tBodies[0].replaceChildren(...o.body.items.map((x) => el('tr', {},
      el('td', { text: String(x.orderId) }), el('td', { text: x.user }), el('td', { class: 'n', text: String(x.quantity) }),
      el('td', { class: 'n', text: money(x.totalPrice) }),
      el('td', {}, el('span', { class: `badge ${x.state === 'paid' ? 'ok' : 'warn'}`, text: stateText(x.state) })),
      el('td', {}, x.state === 'paid'
        ? el('button', { type: 'button', class: 'danger small', id: `refund-${x.orderId}`, text: t('refund'),
          onclick: async () => {
            if (!window.confirm(t('refundConfirm', { id: x.orderId, user: x.user }))) return;
            await act(`/admin/orders/${x.orderId}/refund`, () => t('refunded', { id: x.orderId }));
            loadLists();
          } })
        : ''))));
  } catch (e) { fail(e); }
}
$('holds-first').addEventListener('click', () => { pages.holds.cursor = ''; loadLists(); });
$('holds-next').addEventListener('click', () => { if (pages.holds.next) { pages.holds.cursor = pages.holds.next; loadLists(); } });
$('orders-first').addEventListener('click', () => { pages.orders.cursor = ''; loadLists(); });
$('orders-next').addEventListener('click', () => { if (pages.orders.next) { pages.orders.cursor = pages.orders.next; loadLists(); } });
setInterval(() => { if (!$('app').hidden && !pages.holds.cursor && !pages.orders.cursor) loadLists(); }, 5000);
window.addEventListener('resize', renderChart);

// ---- start
$('lang').addEventListener('click', () => setLanguage(language() === 'ko' ? 'en' : 'ko'));
// Static text by its data-i18n key; what the script wrote is written again from the last sample.
function retranslate() {
  translate();
  document.title = t('dashTitle');
  $('lang').textContent = t('switchTo');
  if ($('status').textContent) setStatus(live);
  titleLists();
  if (latest) onSample(latest);
  loadLists();
}
onLanguage(retranslate);
retranslate();
const token = tokenFromFragment() || sessionStorage.getItem(TOKEN);
if (token) signIn(token); else signOut();
