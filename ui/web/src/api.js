// The REST client: LXD's envelope, the session's CSRF header, operations.
let csrf = '';

export class APIError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// session asks how this browser is authenticated; without a session or a
// trusted certificate it goes back to the login page.
export async function session() {
  const r = await fetch('/ui/session', { credentials: 'same-origin' });
  if (r.status === 401) { location.reload(); throw new APIError('not logged in', 401); }
  const j = await r.json();
  csrf = j.csrf || '';
  return j;
}

export async function logout() {
  await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-Lodge-CSRF': csrf } });
  location.reload();
}

// raw sends a request and returns the Response (files, downloads).
export function raw(method, path, body, headers = {}) {
  const h = { ...headers };
  if (method !== 'GET' && method !== 'HEAD' && csrf) h['X-Lodge-CSRF'] = csrf;
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer) && typeof body !== 'string') {
    h['Content-Type'] = 'application/json';
    body = JSON.stringify(body);
  }
  return fetch(path, { method, headers: h, body, credentials: 'same-origin' });
}

// call returns {type, metadata, etag, headers} or throws the server's error.
export async function call(method, path, body, headers) {
  const r = await raw(method, path, body, headers);
  const j = await r.json().catch(() => null);
  if (!j) throw new APIError(`${method} ${path}: HTTP ${r.status} without a JSON reply`, r.status);
  if (j.type === 'error') throw new APIError(j.error || `HTTP ${r.status}`, j.error_code || r.status);
  return { type: j.type, metadata: j.metadata, etag: r.headers.get('ETag'), headers: r.headers };
}

export const get = async (path) => (await call('GET', path)).metadata;

// wait blocks until an operation ends; a failure throws its error.
export async function wait(op) {
  const o = await get(`/1.0/operations/${op.id}/wait?timeout=-1`);
  if (o.status_code !== 200) throw new APIError(o.err || `operation ${o.description} ${o.status}`, 400);
  return o;
}

// run sends a change and, for an async reply, waits for its operation.
export async function run(method, path, body, headers, onOp) {
  const res = await call(method, path, body, headers);
  if (res.type !== 'async') return res.metadata;
  if (onOp) onOp(res.metadata);
  return wait(res.metadata);
}

export const enc = encodeURIComponent;
export const instURL = (n) => `/1.0/instances/${enc(n)}`;
