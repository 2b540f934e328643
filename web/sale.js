// The buyer's page: /sale/{productId}. Joins the product's waiting room (solving its proof of
// work in a Web Worker), follows the place in line at the pace the server suggests, reserves the
// moment the buyer is admitted, then counts the hold down to a confirm or a cancel. Everything
// needed to pick up where it was (token, ticket, reservation, idempotency key) is kept in
// sessionStorage, so a reload lands on the same step. See web/README.md.
import { t, translate, setLanguage, language, onLanguage, duration, number, money, dateTime } from './i18n.js';
import { Api, ApiError, randomKey } from './api.js';
import { el } from './dom.js';

const $ = (id) => document.getElementById(id);
const productId = Number(location.pathname.split('/').filter(Boolean).pop());
const STORE = `ticketing:sale:${productId}`;
const TOKEN = 'ticketing:token';
const currency = document.querySelector('meta[name="ticketing-currency"]')?.content || '';

let saved = {};
try { saved = JSON.parse(sessionStorage.getItem(STORE) || '{}') || {}; } catch { saved = {}; }
function save(patch) {
  Object.assign(saved, patch);
  for (const k of Object.keys(saved)) if (saved[k] === null || saved[k] === undefined) delete saved[k];
  sessionStorage.setItem(STORE, JSON.stringify(saved));
}

const api = new Api({ onWait: showWait });
let product = null;
let render = () => {};       // redraws the current view (language switch)
let timers = [];             // the current view's timers
let pollTimer = null;
let productTimer = null;
let pollAbort = null;
let lastPlace = null;
let etaShown = null;         // {seconds, at}: the ETA shown, counting down between polls
let announced = { pos: null, at: 0 };

// ---- small DOM helpers (text only: nothing from the network becomes markup)
function stat(label, value, id) {
  return el('div', { class: 'stat' }, el('div', { class: 'label', text: label }), el('div', { class: 'value', id, text: value }));
}
function clearTimers() { for (const id of timers) clearInterval(id); timers = []; }

// Shows a view; `focus`: move keyboard focus to its heading (a new step of the journey).
function show(name, build, { focus = true } = {}) {
  clearTimers();
  const view = $('view');
  if (name !== 'soldout') delete view.dataset.key;
  const changed = view.dataset.phase !== name;
  view.dataset.phase = name;
  render = () => { view.replaceChildren(...[build()].flat()); };
  render();
  if (focus && changed) view.focus({ preventScroll: false });
}

function say(text) {
  const live = $('live');
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

function showWait(w) {
  const box = $('wait');
  if (!w) { box.hidden = true; return; }
  box.hidden = false;
  box.textContent = t(w.kind === 'busy' ? 'busy' : 'offline', { s: w.seconds });
}

// ---- identity
function tokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, '', location.pathname + location.search);  // out of the history
  return decodeURIComponent(m[1]);
}
function userOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), c => c.charCodeAt(0)));
    return JSON.parse(json).sub || '';
  } catch { return ''; }
}
function setToken(token) {
  api.token = token || '';
  if (token) sessionStorage.setItem(TOKEN, token); else sessionStorage.removeItem(TOKEN);
  const user = token ? userOf(token) : '';
  $('who').textContent = user ? t('signedInAs', { name: user.replace(/^demo:/, '') }) : '';
}
// An embedding page (allowed by the CSP's frame-ancestors) may hand the token over:
//   iframe.contentWindow.postMessage({type: 'ticketing:token', token}, TICKETS_ORIGIN)
window.addEventListener('message', (e) => {
  if (window.parent === window || e.source !== window.parent) return;
  const d = e.data;
  if (!d || d.type !== 'ticketing:token' || typeof d.token !== 'string') return;
  const first = !api.token;
  setToken(d.token);
  if (first) resume();
});

// ---- the product card
function renderProduct() {
  if (!product) return;
  $('name').textContent = product.name;
  $('name').removeAttribute('data-i18n');
  $('price').textContent = `${t('price')}: ${money(product.price, currency)}`;
  $('limit').textContent = t('perUser', { n: product.perUserLimit });
  $('paused').hidden = !product.paused;
  $('paused').textContent = t('paused');
  const start = product.saleStartsAt ? Date.parse(product.saleStartsAt) : 0;
  const before = start && !saleOpen();
  $('start').hidden = !before;
  if (before) {
    $('start-at').textContent = t('startsAt', { time: dateTime(start - api.clockOffsetMs) });
    $('countdown').textContent = duration((start - api.now()) / 1000);
  }
}
// The line's own word wins over this page's clock (whole seconds from the Date header).
let lineStarted = false;
function saleOpen() {
  const start = product?.saleStartsAt ? Date.parse(product.saleStartsAt) : 0;
  return lineStarted || !start || start <= api.now();
}
async function loadProduct() {
  const r = await api.call('GET', `/products/${productId}`, { auth: false, retry: Infinity });
  product = r.body;
  renderProduct();
}
// The card's countdown, and a product refresh now and then (available units, pause).
function startProductClock() {
  let wasOpen = saleOpen();
  setInterval(() => {
    renderProduct();
    const open = saleOpen();
    if (open !== wasOpen) { wasOpen = open; render(); }
  }, 1000);
  // Every 5 s for someone who could be served soon, every 30 s for the rest of the line: a
  // crowd of 100,000 waiters reads the product at a few thousand per second, not at their poll rate.
  let lastRefresh = Date.now();
  productTimer = setInterval(async () => {
    const far = lastPlace && product && lastPlace.aheadOfYou >= product.totalStock;
    if (far && Date.now() - lastRefresh < 30000) return;
    lastRefresh = Date.now();
    try { await refreshProduct(); } catch { /* shown by the next call */ }
  }, 5000);
}
async function refreshProduct() {
  const r = await api.call('GET', `/products/${productId}`, { auth: false, retry: 2 });
  const before = product?.available;
  product = r.body;
  renderProduct();
  if (lastPlace && before !== product.available) onPlace(lastPlace, { fromPoll: false });
}

// ---- steps
function busyView(text) {
  return [el('h2', { id: 'view-title' }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', text)];
}

function showSignIn(demo) {
  show('signin', () => {
    const parts = [el('h2', { id: 'view-title', text: t('signInTitle') })];
    if (!demo) {
      parts.push(el('p', { text: t('signInHelp') }));
      return parts;
    }
    const input = el('input', { id: 'nickname', name: 'nickname', autocomplete: 'nickname', maxlength: '32', required: true });
    const form = el('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        const nickname = input.value.trim();
        if (!nickname) return input.focus();
        try {
          const r = await api.call('POST', '/demo/login', { body: { nickname }, auth: false });
          setToken(r.body.token);
          resume();
        } catch (err) { showError(err); }
      },
    }, el('label', { for: 'nickname', text: t('nickname') }), input,
    el('p'), el('button', { type: 'submit', class: 'block', text: t('demoSignIn') }));
    parts.push(form);
    return parts;
  });
  $('nickname')?.focus();
}

function showReady() {
  const queued = product.queue && product.queue.enabled;
  show('ready', () => {
    const open = saleOpen();
    const label = queued ? (open ? t('join') : t('joinEarly')) : t('buy');
    const parts = [el('h2', { id: 'view-title', text: open ? t('onSale') : t('notOpen') })];
    if (product.available === 0 && open) parts.push(el('p', { class: 'notice warn', text: t('soldOutHeld') }));
    parts.push(el('button', {
      type: 'button', class: 'block', id: 'go', text: label,
      disabled: !queued && !open,
      onclick: () => (queued ? join() : reserve(null)),
    }));
    return parts;
  });
}

// ---- the waiting room
let powRounds = 0;
async function join(proof = null) {
  stopPolling();
  show('joining', () => busyView(proof ? t('joining') : t('joining')));
  const headers = proof ? { 'X-Pow-Challenge': proof.challenge, 'X-Pow-Nonce': proof.nonce } : {};
  try {
    const r = await api.call('POST', `/queue/${productId}/join`, { headers, retry: Infinity });
    powRounds = 0;
    save({ ticket: r.body.ticket, first: r.body.preQueue ? null : r.body.position, best: null, pre: !!r.body.preQueue, keepWaiting: null });
    etaShown = null;
    onPlace(r.body);
  } catch (e) {
    if (e.status === 428 && e.body && e.body.challenge && powRounds < 4) {
      powRounds++;
      show('solving', () => busyView(t('solving')));
      try {
        const nonce = await solvePow(e.body.challenge, e.body.difficulty);
        return join({ challenge: e.body.challenge, nonce });
      } catch (err) { return showError(err); }
    }
    if (e.code === 'SALE_PAUSED') { product.paused = true; renderProduct(); return later(() => join(), 3000); }
    if (e.code === 'QUEUE_NOT_ENABLED') { product.queue = null; return showReady(); }
    showError(e);
  }
}

function solvePow(challenge, difficulty) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./pow_worker.js', import.meta.url));
    worker.onmessage = (m) => {
      worker.terminate();
      if (m.data.error) reject(new Error(m.data.error)); else resolve(m.data.nonce);
    };
    worker.onerror = (err) => { worker.terminate(); reject(new Error(err.message || 'worker failed')); };
    worker.postMessage({ challenge, difficulty });
  });
}

function later(f, ms) { const id = setTimeout(f, ms); timers.push(id); return id; }
function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
  pollAbort?.abort();
  pollAbort = null;
}
function schedulePoll(ms) {
  clearTimeout(pollTimer);
  const jitter = 0.9 + Math.random() * 0.2;  // the server jitters too; this spreads retries
  pollTimer = setTimeout(poll, Math.max(200, (ms || 1000) * jitter));
}
async function poll() {
  pollTimer = null;
  if (!saved.ticket) return;
  pollAbort = new AbortController();
  try {
    const r = await api.call('GET', `/queue/${productId}/status?ticket=${encodeURIComponent(saved.ticket)}`,
      { retry: Infinity, signal: pollAbort.signal });
    onPlace(r.body);
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (e.code === 'TICKET_NOT_FOUND') { save({ ticket: null }); return showPassed(); }
    showError(e);
  }
}

// Shown numbers never go backwards: the place and the ETA only count down (a poll that reads
// a larger number keeps the smaller one shown).
function monotonic(place) {
  if (saved.pre && !place.preQueue) save({ pre: false, best: null, first: place.position });  // drawn at the start
  const pos = saved.best ? Math.min(saved.best, place.position) : place.position;
  if (!saved.first || pos > saved.first) save({ first: pos });
  save({ best: pos });
  const now = Date.now();
  let eta = place.etaSeconds;
  if (etaShown) eta = Math.min(eta, Math.max(0, etaShown.seconds - (now - etaShown.at) / 1000));
  etaShown = { seconds: eta, at: now };
  return { pos, ahead: Math.max(0, pos - 1), eta };
}

function announcePosition(pos) {
  const now = Date.now();
  const last = announced.pos;
  const step = last === null || pos <= 10 || Math.abs(last - pos) >= Math.max(1, Math.ceil(last * 0.1)) || now - announced.at > 30000;
  if (pos !== last && step) {
    announced = { pos, at: now };
    say(t('announcePosition', { pos: number(pos) }));
  }
}

function onPlace(place, { fromPoll = true } = {}) {
  lastPlace = place;
  if (!lineStarted && ((place.state === 'waiting' && !place.preQueue) || place.state === 'admitted')) {
    lineStarted = true;
    renderProduct();
  }
  if (fromPoll) schedulePoll(place.pollAfterMs);
  switch (place.state) {
    case 'admitted':
      if (place.admissionToken && place.admissionToken === saved.soldOutToken && product && product.available === 0) {
        return showSoldOut(false, null);  // that admission met "sold out"; try again once units come back
      }
      if (place.admissionToken) {
        stopPolling();
        say(t('announceAdmitted'));
        return reserve(place.admissionToken);
      }
      // Used: a reserve with it went through (perhaps before a reload): find the hold.
      stopPolling();
      return adoptLiveHold().then((found) => { if (!found) { save({ ticket: null }); showTurnUsed(); } });
    case 'expired':
      stopPolling();
      save({ ticket: null });
      return showPassed();
    case 'soldout':
      return showSoldOut(true);
    default:
      if (product && product.available === 0 && saleOpen() && !place.preQueue) return showSoldOut(false, place);
      return showWaiting(place);
  }
}

function showWaiting(place) {
  const m = monotonic(place);
  if (!place.preQueue) announcePosition(m.pos);
  show('waiting', () => {
    const parts = [el('h2', { id: 'view-title', text: t('yourPosition') })];
    if (place.preQueue) {
      parts.push(el('p', { class: 'notice', text: t('preQueue') }));
    } else {
      parts.push(el('p', { class: 'big', id: 'position', text: number(m.pos) }));
      const done = saved.first > 1 ? (saved.first - m.pos) / (saved.first - 1) : 1;
      parts.push(el('div', { class: 'progress', role: 'progressbar', 'aria-label': t('yourPosition'), 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(done * 100)) },
        el('div', { style: null, id: 'bar' })));
      parts.push(el('div', { class: 'stats' },
        stat(t('ahead'), number(m.ahead), 'ahead'),
        stat(t('eta'), duration(m.eta), 'eta'),
        stat(t('lineLength'), number(place.lineLength), 'length')));
    }
    parts.push(el('p', { class: 'muted', text: t('keepOpen') }));
    return parts;
  }, { focus: $('view').dataset.phase !== 'waiting' });
  const bar = $('bar');
  if (bar && saved.first) {
    const done = saved.first > 1 ? (saved.first - m.pos) / (saved.first - 1) : 1;
    bar.style.width = `${Math.max(2, Math.round(done * 100))}%`;  // CSSOM, allowed by the CSP
  }
  // Between polls the ETA counts down by itself.
  timers.push(setInterval(() => {
    const eta = $('eta');
    if (eta && etaShown) eta.textContent = duration(Math.max(0, etaShown.seconds - (Date.now() - etaShown.at) / 1000));
  }, 1000));
}

// `final`: nothing available and nothing held (the server's `soldout`); otherwise every
// remaining unit is in someone's hold and may come back. The person stays in line either way
// unless they stop.
function showSoldOut(final, place = null) {
  if (place) monotonic(place);
  const view = $('view');
  const wasSoldOut = view.dataset.phase === 'soldout';
  // Redrawn only when what it says changes, so keyboard focus stays on its buttons.
  const key = `${final}/${!!saved.keepWaiting}/${saved.best || ''}/${language()}`;
  if (wasSoldOut && view.dataset.key === key) return;
  view.dataset.key = key;
  show('soldout', () => {
    const parts = [el('h2', { id: 'view-title', text: t('soldOutTitle') }),
      el('p', { class: 'notice warn', text: final ? t('soldOutFinal') : t('soldOutHeld') })];
    if (saved.keepWaiting) {
      parts.push(el('p', { class: 'notice', text: t('keepingWaiting') }));
      if (place && !place.preQueue && saved.best) parts.push(el('p', {}, `${t('yourPosition')}: `, el('strong', { text: number(saved.best) })));
    } else {
      parts.push(el('div', { class: 'row' },
        el('button', { type: 'button', id: 'keep-waiting', text: t('keepWaiting'), onclick: () => { save({ keepWaiting: true }); say(t('keepingWaiting')); showSoldOut(final, null); $('stop-waiting')?.focus(); } })));
    }
    parts.push(el('div', { class: 'row' },
      el('button', { type: 'button', class: 'secondary', id: 'stop-waiting', text: t('stopWaiting'), onclick: leave })));
    return parts;
  }, { focus: !wasSoldOut });
  if (!wasSoldOut) say(final ? t('soldOutFinal') : t('soldOutHeld'));
}

function leave() {
  stopPolling();
  save({ ticket: null, keepWaiting: null, best: null, first: null });
  lastPlace = null;
  show('left', () => [el('h2', { id: 'view-title', text: t('leftLine') }),
    el('button', { type: 'button', class: 'block', text: t('joinAgain'), onclick: () => join() })]);
}

// The line gives each buyer one admission (src/queue/README.md): once it made a hold, joining
// again returns the same, used place until the line forgets it.
function showTurnUsed() {
  stopPolling();
  show('used', () => [el('h2', { id: 'view-title', text: t('turnUsed') })]);
}

function showPassed() {
  show('passed', () => [el('h2', { id: 'view-title', text: t('turnPassed') }),
    el('button', { type: 'button', class: 'block', id: 'join-again', text: t('joinAgain'), onclick: () => join() })]);
}

// ---- the hold
async function reserve(admission) {
  if (!saved.idemKey) save({ idemKey: randomKey() });
  show('reserving', () => busyView(admission ? t('admitted') : t('reserving')));
  const headers = { 'Idempotency-Key': saved.idemKey };
  if (admission) headers['X-Admission-Token'] = admission;
  try {
    const r = await api.call('POST', '/purchase/reserve', { body: { productId, quantity: 1 }, headers, retry: Infinity });
    const b = r.body;
    if (b.state && b.state !== 'held' && b.state !== 'confirming') {
      // A repeat of a reserve whose hold already ended: start over with a new key.
      save({ idemKey: null });
      return b.state === 'confirmed' ? showDone(null) : showEnded(b.state);
    }
    save({ reservation: { id: b.reservationId, quantity: b.quantity, until: Date.now() + b.expiresIn * 1000, total: b.expiresIn }, ticket: null });
    lastPlace = null;
    showHeld();
  } catch (e) {
    switch (e.code) {
      case 'SOLD_OUT':
        save({ idemKey: null, soldOutToken: admission });
        if (saved.ticket) {
          await refreshProduct().catch(() => {});
          schedulePoll(1000);
          return showSoldOut(false, null);
        }
        await refreshProduct().catch(() => {});
        return showSoldOutNoLine();
      case 'NOT_ADMITTED':
        save({ idemKey: null, ticket: null });
        return showPassed();
      case 'SALE_NOT_OPEN':
        save({ idemKey: null });
        return showReady();
      case 'SALE_PAUSED':
        product.paused = true;
        renderProduct();
        return later(() => reserve(admission), 3000);
      case 'IDEMPOTENCY_CONFLICT':
        save({ idemKey: null });
        return reserve(admission);
      case 'LIMIT_REACHED':
        save({ idemKey: null, ticket: null });
        stopPolling();
        return show('limit', () => [el('h2', { id: 'view-title', text: t('limitReached') })]);
      default:
        return showError(e);
    }
  }
}

// A product without a waiting room that sold out: try again from the button.
function showSoldOutNoLine() {
  show('soldout', () => [el('h2', { id: 'view-title', text: t('soldOutTitle') }),
    el('p', { class: 'notice warn', text: product && product.available === 0 ? t('soldOutHeld') : t('soldOutFinal') }),
    el('button', { type: 'button', class: 'block', id: 'go', text: t('buy'), onclick: () => reserve(null) })]);
}

// The buyer's live hold of this product, if any (after a reload, or a lost reserve answer).
async function adoptLiveHold() {
  try {
    const r = await api.call('GET', `/purchase/reservations?productId=${productId}`, { retry: Infinity });
    const live = (r.body.reservations || []).find((x) => x.state === 'held' || x.state === 'confirming');
    if (!live) return false;
    const until = Date.parse(live.expiresAt) - api.clockOffsetMs;
    save({ reservation: { id: live.reservationId, quantity: live.quantity, until, total: product.holdSeconds || Math.round((until - Date.now()) / 1000) }, ticket: null });
    showHeld();
    return true;
  } catch (e) { showError(e); return true; }
}

function showHeld() {
  const res = saved.reservation;
  show('held', () => [
    el('h2', { id: 'view-title', text: t('heldTitle') }),
    el('p', { text: t('heldHelp') }),
    el('p', {}, el('span', { text: `${t('holdLeft')}: ` })),
    el('p', { class: 'big', id: 'hold-left', role: 'timer', 'aria-live': 'off' }),
    el('div', { class: 'progress hold', 'aria-hidden': 'true' }, el('div', { id: 'hold-bar' })),
    el('div', { class: 'row' },
      el('button', { type: 'button', id: 'confirm', text: t('confirm'), onclick: confirm }),
      el('button', { type: 'button', class: 'danger', id: 'cancel', text: t('cancel'), onclick: cancel })),
  ]);
  const tick = () => {
    const left = Math.max(0, (res.until - Date.now()) / 1000);
    const node = $('hold-left');
    if (node) node.textContent = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(Math.floor(left % 60)).padStart(2, '0')}`;
    const bar = $('hold-bar');
    if (bar && res.total) bar.style.width = `${Math.round((left / res.total) * 100)}%`;
    if (Math.ceil(left) === 30 && !res.warned) { res.warned = true; say(`${t('holdLeft')}: ${duration(30)}`); }
    if (left <= 0) { clearTimers(); checkReservation(); }
  };
  tick();
  timers.push(setInterval(tick, 1000));
}

async function checkReservation() {
  const res = saved.reservation;
  if (!res) return showReady();
  try {
    const r = await api.call('GET', `/purchase/reservations/${encodeURIComponent(res.id)}`, { retry: Infinity });
    const s = r.body.state;
    if (s === 'held' || s === 'confirming') {
      if (r.body.expiresAt) res.until = Date.parse(r.body.expiresAt) - api.clockOffsetMs;
      save({ reservation: res });
      return showHeld();
    }
    if (s === 'confirmed') return showDone(null);
    return showEnded(s);
  } catch (e) {
    if (e.code === 'RESERVATION_NOT_FOUND') { save({ reservation: null }); return showReady(); }
    showError(e);
  }
}

async function confirm() {
  const res = saved.reservation;
  show('confirming', () => busyView(t('confirming')));
  for (;;) {
    try {
      const r = await api.call('POST', '/purchase/confirm', { body: { reservationId: res.id }, retry: Infinity });
      return showDone(r.body);
    } catch (e) {
      if (e.code === 'CONFIRM_IN_PROGRESS') { await new Promise((ok) => setTimeout(ok, 1000)); continue; }
      if (e.code === 'RESERVATION_EXPIRED') return showEnded('expired');
      if (e.code === 'RESERVATION_CANCELLED') return showEnded('cancelled');
      if (e.code === 'LIMIT_REACHED') { save({ reservation: null, idemKey: null }); return show('limit', () => [el('h2', { id: 'view-title', text: t('limitReached') })]); }
      if (e.code === 'SOLD_OUT') { save({ reservation: null, idemKey: null }); return showSoldOutNoLine(); }
      return showError(e);
    }
  }
}

async function cancel() {
  const res = saved.reservation;
  try {
    await api.call('POST', '/purchase/cancel', { body: { reservationId: res.id }, retry: Infinity });
    showEnded('cancelled');
  } catch (e) {
    if (e.code === 'ALREADY_CONFIRMED') return showDone(null);
    if (e.code === 'RESERVATION_EXPIRED') return showEnded('expired');
    showError(e);
  }
}

function showDone(order) {
  stopPolling();
  save({ order: order || saved.order || { confirmed: true }, reservation: null, ticket: null, idemKey: null });
  const o = saved.order;
  show('done', () => [
    el('h2', { id: 'view-title', text: t('doneTitle') }),
    el('p', { class: 'notice ok', text: o.orderId ? t('doneOrder', { id: `#${o.orderId}`, qty: o.quantity, total: money(o.totalPrice, currency) }) : t('doneConfirmed') }),
  ]);
  say(t('doneTitle'));
}

function showEnded(state) {
  stopPolling();
  save({ reservation: null, ticket: null, idemKey: null });
  const cancelled = state === 'cancelled';
  const queued = product?.queue?.enabled;
  show('ended', () => [
    el('h2', { id: 'view-title', text: cancelled ? t('cancelledTitle') : t('expiredTitle') }),
    el('p', { text: cancelled ? t('cancelledHelp') : t('expiredHelp') }),
    queued ? el('p', { class: 'muted', text: t('turnUsed') })
      : el('button', { type: 'button', class: 'block', id: 'buy-again', text: t('buy'), onclick: () => reserve(null) }),
  ]);
}

function showError(e) {
  if (e && e.code === 'UNAUTHORIZED') {
    setToken('');
    return resume();
  }
  if (e && e.status === 404 && e.code === 'PRODUCT_NOT_FOUND') {
    return show('error', () => [el('h2', { id: 'view-title', text: t('noProduct') })]);
  }
  const msg = e && e.message ? e.message : String(e);
  show('error', () => [el('h2', { id: 'view-title', text: t('failed', { msg }) }),
    el('button', { type: 'button', class: 'block', text: t('retry'), onclick: resume })]);
}

// Where the person was: the order, the hold, the place in line, or the start.
async function resume() {
  try {
    if (!product) await loadProduct();
  } catch (e) { return showError(e); }
  if (!api.token) {
    let demo = false;
    try { await api.call('POST', '/demo/login', { body: {}, auth: false, retry: 1 }); } catch (e) { demo = e.status === 400; }
    return showSignIn(demo);
  }
  if (saved.order) return showDone(saved.order);
  if (saved.reservation) return checkReservation();
  if (saved.ticket) { show('joining', () => busyView(t('joining'))); return poll(); }
  if (await adoptLiveHold()) return;
  showReady();
}

// ---- start
$('lang').addEventListener('click', () => setLanguage(language() === 'ko' ? 'en' : 'ko'));
onLanguage(() => {
  translate();
  $('lang').textContent = t('switchTo');
  setToken(api.token);
  renderProduct();
  render();
});
translate();
$('lang').textContent = t('switchTo');
setToken(tokenFromFragment() || sessionStorage.getItem(TOKEN) || '');
if (!Number.isInteger(productId) || productId <= 0) {
  showError(new ApiError(404, 'PRODUCT_NOT_FOUND', 'no such product'));
} else {
  resume().then(startProductClock);
}
