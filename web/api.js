// The Ticketing API from the browser. Answers that mean "not now" (429, 503, a network
// failure) are retried with backoff (Retry-After when the server gives one, else doubling with
// jitter); the page is told about each wait so it can explain it, and never sees them raw.

// The API's origin: <meta name="ticketing-api" content="ORIGIN"> (e.g. the ticket site's origin) for a page
// served from elsewhere (CORS_ORIGINS must list that page's origin); empty: this origin.
export function apiBase() {
  const meta = document.querySelector('meta[name="ticketing-api"]');
  return (meta && meta.content ? meta.content : '').replace(/\/+$/, '');
}

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const id = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(id); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
});

export class Api {
  // onWait({kind: 'busy'|'offline', seconds}) before each retry; onWait(null) once no call is
  // waiting to retry any more.
  constructor({ base = apiBase(), token = '', onWait = () => {} } = {}) {
    this.base = base;
    this.token = token;
    this.onWait = onWait;
    this.clockOffsetMs = 0;  // server time - this device's time, from Date headers
    this.waiting = new Set();  // calls now waiting to retry: the notice stays while any is
  }

  #waitOver(call) {
    if (this.waiting.delete(call) && this.waiting.size === 0) this.onWait(null);
  }

  now() { return Date.now() + this.clockOffsetMs; }

  // {status, body, headers}. Throws ApiError for 4xx/5xx answers that are not retried, and
  // AbortError when `signal` aborts. `retry`: how many retries at most (Infinity: until it works).
  async call(method, path, opts = {}) {
    const call = {};
    try {
      return await this.#call(call, method, path, opts);
    } finally {
      this.#waitOver(call);
    }
  }

  async #call(call, method, path, { body, headers = {}, retry = 8, signal, auth = true, timeoutMs = 15000 } = {}) {
    let attempt = 0;
    for (;;) {
      let res;
      let kind = null;
      let waitS = 0;
      const h = { ...headers };
      if (auth && this.token) h.Authorization = `Bearer ${this.token}`;
      if (body !== undefined) h['Content-Type'] = 'application/json';
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), timeoutMs);
      const onAbort = () => ctl.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        res = await fetch(this.base + path, {
          method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
          signal: ctl.signal, cache: 'no-store', credentials: 'omit',
        });
      } catch (e) {
        if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
        kind = 'offline';
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      if (res) {
        const date = res.headers.get('Date');
        if (date) {
          const server = Date.parse(date);
          if (!Number.isNaN(server)) this.clockOffsetMs = server + 500 - Date.now();  // whole seconds: take the middle
        }
        if (res.status === 429 || res.status === 503) {
          kind = 'busy';
          const ra = Number(res.headers.get('Retry-After'));
          if (ra > 0) waitS = ra;
        }
      }
      if (!kind) {
        this.#waitOver(call);
        const text = await res.text();
        let parsed = null;
        if (text) { try { parsed = JSON.parse(text); } catch { parsed = text; } }
        if (res.ok || res.status === 304) return { status: res.status, body: parsed, headers: res.headers };
        const err = parsed && parsed.error ? parsed.error : {};
        throw new ApiError(res.status, err.code, err.message, parsed);
      }
      if (attempt >= retry) {
        throw new ApiError(res ? res.status : 0, kind === 'busy' ? 'BUSY' : 'OFFLINE', kind);
      }
      attempt++;
      if (!waitS) waitS = Math.min(30, 2 ** Math.min(attempt - 1, 5));
      const ms = waitS * 1000 * (0.7 + Math.random() * 0.6);
      this.waiting.add(call);
      this.onWait({ kind, seconds: Math.ceil(ms / 1000) });
      await sleep(ms, signal);
    }
  }
}

// A random key for Idempotency-Key (kept with the page's state, so a retry after a reload is
// recognised as the same reserve).
export function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}
