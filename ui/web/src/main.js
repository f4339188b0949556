// The app shell: session, server capabilities, navigation, routes.
import { html, render, useState, useEffect, Link, useRoute, Err } from './lib.js';
import { session, get, logout } from './api.js';
import { setServer, caps } from './caps.js';
import { Instances } from './instances.js';
import { Instance } from './instance.js';
import { Launch } from './launch.js';
import { Images, Profiles, Networks, Storage, Operations } from './resources.js';
import { onEvent } from './events.js';

const NAV = [['/ui/', 'Instances'], ['/ui/images', 'Images'], ['/ui/profiles', 'Profiles'], ['/ui/networks', 'Networks'], ['/ui/storage', 'Storage'], ['/ui/operations', 'Operations']];

function Page() {
  const { path } = useRoute();
  let m;
  if (path === '/ui/' || path === '/ui') return html`<${Instances} />`;
  if (path === '/ui/launch') return html`<${Launch} />`;
  if ((m = /^\/ui\/instances\/([^/]+)$/.exec(path))) return html`<${Instance} name=${decodeURIComponent(m[1])} key=${m[1]} />`;
  if (path === '/ui/images') return html`<${Images} />`;
  if (path === '/ui/profiles') return html`<${Profiles} />`;
  if (path === '/ui/networks') return html`<${Networks} />`;
  if (path === '/ui/storage') return html`<${Storage} />`;
  if (path === '/ui/operations') return html`<${Operations} />`;
  return html`<section class="page"><h1>Not found</h1><p><${Link} href="/ui/">Back to the instances<//></p></section>`;
}

function Shell({ auth }) {
  const { path } = useRoute();
  // Running operations, from the operation events alone.
  const [running, setRunning] = useState(() => new Set());
  useEffect(() => onEvent((ev) => {
    if (ev.type !== 'operation') return;
    const o = ev.metadata;
    setRunning((s) => {
      const has = s.has(o.id), live = o.status_code < 200;
      if (has === live) return s;
      const n = new Set(s);
      if (live) n.add(o.id); else n.delete(o.id);
      return n;
    });
  }), []);
  const on = (href) => (href === '/ui/' ? path === '/ui/' || path.startsWith('/ui/instances') || path === '/ui/launch' : path.startsWith(href));
  return html`<header class="top">
      <${Link} href="/ui/" class="brand">lodge<//>
      <nav class="main-nav">${NAV.map(([href, label]) => html`<${Link} href=${href} class=${on(href) ? 'on' : ''}>${label}${label === 'Operations' && running.size > 0 ? html` <span class="badge">${running.size}</span>` : null}<//>`)}</nav>
      <span class="who">${caps.server?.environment?.server_name || ''}${auth.auth === 'session' ? html` <button class="small" onClick=${logout} data-testid="logout">Log out</button>` : null}</span>
    </header>
    <main><${Page} /></main>`;
}

async function boot() {
  const root = document.getElementById('app');
  // A login link opened while already logged in: drop the token from the URL.
  if (new URLSearchParams(location.search).has('login')) history.replaceState(null, '', location.pathname);
  try {
    const [auth, server] = await Promise.all([session(), get('/1.0')]);
    setServer(server);
    root.textContent = '';
    render(html`<${Shell} auth=${auth} />`, root);
  } catch (e) {
    root.textContent = '';
    render(html`<section class="page"><${Err} error=${e} /></section>`, root);
  }
}
boot();
