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
  const [running, setRunning] = useState(0);
  useEffect(() => onEvent((ev) => {
    if (ev.type === 'operation') setRunning((n) => Math.max(0, n + (ev.metadata.status_code === 103 && ev.metadata.created_at === ev.metadata.updated_at ? 1 : ev.metadata.status_code >= 200 ? -1 : 0)));
  }), []);
  const on = (href) => (href === '/ui/' ? path === '/ui/' || path.startsWith('/ui/instances') || path === '/ui/launch' : path.startsWith(href));
  return html`<header class="top">
      <${Link} href="/ui/" class="brand">lodge<//>
      <nav class="main-nav">${NAV.map(([href, label]) => html`<${Link} href=${href} class=${on(href) ? 'on' : ''}>${label}${label === 'Operations' && running > 0 ? html` <span class="badge">${running}</span>` : null}<//>`)}</nav>
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
    render(html`<${Shell} auth=${auth} />`, root);
  } catch (e) {
    render(html`<section class="page"><${Err} error=${e} /></section>`, root);
  }
}
boot();
