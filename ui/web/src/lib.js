// Shared pieces: htm bound to preact, the router, formatting, dialogs.
import { h, render } from 'preact';
import { useState, useEffect, useRef, useCallback } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);
export { h, render, useState, useEffect, useRef, useCallback };

// Router: paths under /ui/, history API.
const routeSubs = new Set();
export function navigate(to, replace) {
  if (replace) history.replaceState(null, '', to); else history.pushState(null, '', to);
  for (const f of routeSubs) f();
  window.scrollTo(0, 0);
}
export function useRoute() {
  const [, set] = useState(0);
  useEffect(() => { const f = () => set((n) => n + 1); routeSubs.add(f); window.addEventListener('popstate', f); return () => { routeSubs.delete(f); window.removeEventListener('popstate', f); }; }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}
export function Link({ href, children, ...rest }) {
  const click = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault(); navigate(href);
  };
  return html`<a href=${href} onClick=${click} ...${rest}>${children}</a>`;
}

export function bytes(n) {
  if (n == null || n < 0 || Number.isNaN(n)) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}
export const ago = (t) => {
  if (!t || t.startsWith('0001')) return '';
  const s = (Date.now() - Date.parse(t)) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
};

// addresses: the global IPv4/IPv6 addresses of a state's interfaces.
export function addresses(state, family) {
  const out = [];
  for (const [dev, n] of Object.entries(state?.network || {})) {
    if (dev === 'lo') continue;
    for (const a of n.addresses || []) if (a.family === family && a.scope === 'global') out.push(a.address);
  }
  return out;
}

// useLoad runs an async loader and re-runs it when deps change.
export function useLoad(f, deps) {
  const [st, set] = useState({ loading: true });
  const reload = useCallback(() => {
    let live = true;
    f().then((data) => live && set({ data }), (error) => live && set({ error }));
    return () => { live = false; };
  }, deps);
  useEffect(reload, [reload]);
  return { ...st, reload };
}

export function Err({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message || String(error)}</p>`;
}

// Confirm is a modal dialog: the action runs only on an explicit yes.
export function Confirm({ title, children, yes, danger, onYes, onNo }) {
  const ref = useRef();
  useEffect(() => { ref.current?.focus(); }, []);
  return html`<div class="modal-back" onClick=${(e) => e.target === e.currentTarget && onNo()}>
    <div class="modal" role="dialog" aria-modal="true" aria-label=${title} data-testid="confirm">
      <h2>${title}</h2>
      ${children}
      <div class="row-actions">
        <button class=${danger ? 'danger' : 'primary'} ref=${ref} onClick=${onYes} data-testid="confirm-yes">${yes}</button>
        <button onClick=${onNo}>Cancel</button>
      </div>
    </div></div>`;
}

export function Status({ s }) {
  return html`<span class=${'status st-' + String(s || '').toLowerCase()}>${s}</span>`;
}

// Tabs keep their choice in ?tab=.
export function Tabs({ tabs, current, base }) {
  return html`<nav class="tabs" role="tablist">${tabs.map(([k, label]) => html`
    <${Link} href=${base + (k ? '?tab=' + k : '')} role="tab" aria-selected=${current === k} class=${current === k ? 'on' : ''} data-testid=${'tab-' + (k || 'overview')}>${label}<//>`)}</nav>`;
}
