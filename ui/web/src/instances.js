// The instances list: paged, sorted and filtered on the server where it
// can (lodge_instances_query), in the browser over one recursion=1 list
// where it cannot; live from /1.0/events with one request per event for
// the row the event touches, never a refetch of the list.
import { html, useState, useEffect, useRef, Link, Status, Confirm, Err, addresses, bytes, navigate, useRoute } from './lib.js';
import { get, call, run, instURL, enc } from './api.js';
import { onEvent } from './events.js';
import { caps } from './caps.js';
import { parseQuery, matches, compare, serverQuery } from './query.js';

const SORTS = { name: 'Name', status: 'Status', type: 'Type', created_at: 'Created', last_used_at: 'Last used' };
const PAGE_SIZES = [50, 100, 250];
const STATUSES = ['Running', 'Stopped', 'Frozen', 'Error'];

export function Instances() {
  const { query } = useRoute();
  const [q, setQ] = useState(query.get('q') || '');
  const [sort, setSort] = useState(query.get('sort') || 'name');
  const [desc, setDesc] = useState(query.get('desc') === '1');
  const [size, setSize] = useState(+query.get('size') || 50);
  const [page, setPage] = useState(+query.get('page') || 0);
  const [, bump] = useState(0);
  const [gen, setGen] = useState(0);
  const [error, setError] = useState(null);
  const [selected, setSelected] = useState(new Set());
  const [bulk, setBulk] = useState(null);
  const [bulkErrors, setBulkErrors] = useState([]);
  // The store lives across renders; events patch it in place.
  const st = useRef({ all: null, page: null, total: 0, states: new Map(), busy: new Map(), loaded: false }).current;
  const serverMode = caps.instancesQuery;
  st.q = q;
  const redraw = () => bump((n) => n + 1);

  // Keep the view in the address bar (shareable, survives reload).
  useEffect(() => {
    const p = new URLSearchParams();
    if (q) p.set('q', q); if (sort !== 'name') p.set('sort', sort); if (desc) p.set('desc', '1');
    if (size !== 50) p.set('size', size); if (page) p.set('page', page);
    const s = p.toString();
    history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
  }, [q, sort, desc, size, page]);

  // Loading: the whole list once in browser mode; one page per view in server mode.
  useEffect(() => {
    let live = true;
    if (serverMode) {
      call('GET', '/1.0/instances?' + serverQuery({ q, sort, desc, size, page })).then((res) => {
        if (!live) return;
        st.page = res.metadata; st.total = +(res.headers.get('X-Lodge-Total-Count') || res.metadata.length);
        for (const i of res.metadata) if (i.state) st.states.set(i.name, i.state);
        st.loaded = true; redraw();
      }, (e) => live && setError(e));
    } else if (!st.all) {
      get('/1.0/instances?recursion=1').then((list) => {
        if (!live) return;
        st.all = new Map(list.map((i) => [i.name, i]));
        st.loaded = true; redraw();
      }, (e) => live && setError(e));
    }
    return () => { live = false; };
  }, serverMode ? [q, sort, desc, size, page, gen] : [gen]);

  // The rows shown.
  let rows = [], total = 0;
  if (serverMode && st.page) { rows = st.page; total = st.total; }
  else if (st.all) {
    const pq = parseQuery(q);
    const all = [...st.all.values()].filter((i) => matches(i, pq)).sort(compare(sort, desc));
    total = all.length;
    rows = all.slice(page * size, page * size + size);
  }
  const pages = Math.max(1, Math.ceil(total / size));

  // Usage and addresses for the visible running rows the list lacks
  // (browser mode: recursion=1 has no state), a few at a time.
  useEffect(() => {
    if (serverMode || !st.loaded) return;
    const want = rows.filter((i) => i.status === 'Running' && !st.states.has(i.name) && !st.busy.has(i.name)).map((i) => i.name);
    let n = 0;
    const next = () => {
      const name = want[n++];
      if (!name) return;
      st.busy.set(name, 'state');
      get(instURL(name) + '/state').then((s) => { st.states.set(name, s); redraw(); }, () => {}).finally(() => { st.busy.delete(name); next(); });
    };
    for (let k = 0; k < 4; k++) next();
  });

  // The first paint of real rows: the benchmark's mark.
  useEffect(() => {
    if (st.loaded && !document.body.dataset.tableReady) {
      performance.mark('table-ready');
      document.body.dataset.tableReady = '1';
    }
  });

  // Events: one GET of the row an instance event names; deletes cost none.
  useEffect(() => onEvent((ev) => {
    // Events were missed while the socket was down: load the view again, once.
    if (ev.type === 'resync') { st.all = null; st.page = null; st.states.clear(); setGen((g) => g + 1); return; }
    if (ev.type !== 'lifecycle') return;
    const src = ev.metadata?.source || '', action = ev.metadata?.action || '';
    const m = /^\/1\.0\/instances\/([^/?]+)/.exec(src);
    if (!m || action === 'instance-exec' || action.startsWith('instance-console') || action.startsWith('instance-log')) return;
    const name = decodeURIComponent(m[1]);
    const oldName = ev.metadata?.context?.old_name;
    if (oldName) forget(oldName);
    if (action === 'instance-deleted') { forget(name); redraw(); return; }
    touch(name, action === 'instance-created');
  }), []);

  function forget(name) {
    st.states.delete(name);
    if (st.all) st.all.delete(name);
    if (st.page) { const before = st.page.length; st.page = st.page.filter((i) => i.name !== name); st.total -= before - st.page.length; }
    setSelected((s) => { if (!s.has(name)) return s; const n = new Set(s); n.delete(name); return n; });
  }

  // touch refetches one row; events that arrive while it is in flight
  // fold into one more fetch after it.
  function touch(name, created) {
    const known = (st.all && st.all.has(name)) || (st.page && st.page.some((i) => i.name === name));
    // In server mode a row not on this page may now match the filter.
    if (!known && !created && !serverMode) return;
    if (st.busy.get(name) === 'row') { st.busy.set(name, 'again'); return; }
    st.busy.set(name, 'row');
    get(instURL(name) + '?recursion=1').then((full) => {
      const { state, snapshots, backups, ...inst } = full;
      inst.snapshot_count = (snapshots || []).length;
      if (state) st.states.set(name, state);
      if (st.all) st.all.set(name, inst);
      if (st.page) {
        const k = st.page.findIndex((i) => i.name === name);
        // A row on the page stays, with its new values (rows do not jump
        // away under the pointer); a new match joins the page.
        if (k >= 0) st.page[k] = inst;
        else if (matches(inst, parseQuery(st.q))) { st.page = [...st.page, inst]; st.total++; }
      }
      redraw();
    }, () => {}).finally(() => {
      const again = st.busy.get(name) === 'again';
      st.busy.delete(name);
      if (again) touch(name, false);
    });
  }

  const toggle = (name) => setSelected((s) => { const n = new Set(s); if (n.has(name)) n.delete(name); else n.add(name); return n; });
  const allOnPage = rows.length > 0 && rows.every((i) => selected.has(i.name));
  const toggleAll = () => setSelected(allOnPage ? new Set() : new Set(rows.map((i) => i.name)));
  const setSortKey = (k) => { if (k === sort) setDesc(!desc); else { setSort(k); setDesc(false); } setPage(0); };

  async function doBulk(action, names) {
    setBulk(null);
    const errs = [];
    const one = async (n) => {
      try {
        if (action === 'delete') {
          const inst = (st.all && st.all.get(n)) || st.page?.find((i) => i.name === n);
          if (inst && inst.status !== 'Stopped') await run('PUT', instURL(n) + '/state', { action: 'stop', force: true, timeout: -1 });
          await run('DELETE', instURL(n));
        } else {
          await run('PUT', instURL(n) + '/state', { action, timeout: 30, force: false });
        }
      } catch (e) { errs.push(`${n}: ${e.message}`); }
    };
    const queue = [...names];
    await Promise.all([0, 1, 2, 3].map(async () => { while (queue.length) await one(queue.shift()); }));
    setBulkErrors(errs);
    if (action === 'delete') setSelected(new Set());
  }

  const sel = [...selected];
  return html`<section class="page">
    <header class="page-head">
      <h1>Instances <small data-testid="instance-count">${st.loaded ? total : ''}</small></h1>
      <${Link} href="/ui/launch" class="button primary" data-testid="launch-link">Launch<//>
    </header>
    <div class="toolbar">
      <input type="search" placeholder="Filter: name, status:running, profile:web, config.limits.cpu=2" value=${q} aria-label="Filter instances"
        data-testid="filter" onInput=${(e) => { setQ(e.target.value); setPage(0); }} />
      <div class="chips">${STATUSES.map((s) => html`<button class=${'chip' + (q.includes('status:' + s.toLowerCase()) ? ' on' : '')}
        onClick=${() => { const t = 'status:' + s.toLowerCase(); setQ(q.includes(t) ? q.replace(t, '').trim() : (q.replace(/status:\w+/g, '').trim() + ' ' + t).trim()); setPage(0); }}>${s}</button>`)}</div>
    </div>
    <div class="toolbar bulk" data-testid="bulk-bar">
      <span>${sel.length ? `${sel.length} selected` : 'Select instances for bulk actions'}</span>
      ${['start', 'stop', 'restart', 'delete'].map((a) => html`<button disabled=${!sel.length} class=${a === 'delete' ? 'danger' : ''}
        data-testid=${'bulk-' + a} onClick=${() => setBulk(a)}>${a[0].toUpperCase() + a.slice(1)}</button>`)}
    </div>
    ${bulkErrors.length ? html`<ul class="error" role="alert">${bulkErrors.map((e) => html`<li>${e}</li>`)}</ul>` : null}
    <${Err} error=${error} />
    ${!st.loaded && !error ? html`<p class="muted">Loading instances…</p>` : null}
    ${st.loaded ? html`<table class="list instances" data-testid="instances-table">
      <thead><tr>
        <th class="sel"><input type="checkbox" aria-label="Select all on this page" checked=${allOnPage} onChange=${toggleAll} /></th>
        ${Object.entries(SORTS).filter(([k]) => k !== 'last_used_at' && k !== 'created_at').map(([k, label]) => html`<th class=${'c-' + k}>
          <button class="sort" aria-sort=${sort === k ? (desc ? 'descending' : 'ascending') : 'none'} onClick=${() => setSortKey(k)}>${label}${sort === k ? (desc ? ' ▾' : ' ▴') : ''}</button></th>`)}
        <th class="c-ipv4">IPv4</th><th class="c-mem">Memory</th><th class="c-snap">Snapshots</th>
        <th class="c-created"><button class="sort" onClick=${() => setSortKey('created_at')}>Created${sort === 'created_at' ? (desc ? ' ▾' : ' ▴') : ''}</button></th>
        <th class="c-act"></th>
      </tr></thead>
      <tbody>${rows.map((i) => html`<${Row} key=${i.name} inst=${i} state=${st.states.get(i.name)} checked=${selected.has(i.name)} onToggle=${toggle} />`)}</tbody>
    </table>
    ${rows.length === 0 ? html`<p class="muted" data-testid="empty">${total === 0 && !q ? 'No instances yet.' : 'No instance matches the filter.'}</p>` : null}
    <nav class="pager">
      <button disabled=${page === 0} onClick=${() => setPage(page - 1)}>‹ Prev</button>
      <span>Page ${page + 1} of ${pages}</span>
      <button disabled=${page + 1 >= pages} onClick=${() => setPage(page + 1)}>Next ›</button>
      <select aria-label="Rows per page" value=${size} onChange=${(e) => { setSize(+e.target.value); setPage(0); }}>${PAGE_SIZES.map((n) => html`<option value=${n}>${n} / page</option>`)}</select>
    </nav>` : null}
    ${bulk ? html`<${Confirm} title=${`${bulk[0].toUpperCase() + bulk.slice(1)} ${sel.length} instance${sel.length > 1 ? 's' : ''}?`} yes=${bulk[0].toUpperCase() + bulk.slice(1)}
        danger=${bulk === 'delete' || bulk === 'stop'} onNo=${() => setBulk(null)} onYes=${() => doBulk(bulk, sel)}>
        <p>${bulk === 'delete' ? 'Running instances are stopped first. Their snapshots and data are deleted; this cannot be undone.' : ''}</p>
        <ul class="names">${sel.map((n) => html`<li>${n}</li>`)}</ul><//>` : null}
  </section>`;
}

function Row({ inst, state, checked, onToggle }) {
  const v4 = addresses(state, 'inet');
  const mem = state?.memory?.usage;
  const act = async (action) => { try { await run('PUT', instURL(inst.name) + '/state', { action, timeout: 30 }); } catch (e) { alert(e.message); } };
  return html`<tr data-testid=${'row-' + inst.name} data-status=${inst.status}>
    <td class="sel"><input type="checkbox" aria-label=${'Select ' + inst.name} checked=${checked} onChange=${() => onToggle(inst.name)} /></td>
    <td class="c-name"><${Link} href=${'/ui/instances/' + enc(inst.name)}>${inst.name}<//><div class="sub">${inst.description || inst.config?.['image.description'] || ''}</div></td>
    <td class="c-status"><${Status} s=${inst.status} /></td>
    <td class="c-type">${inst.type}</td>
    <td class="c-ipv4">${v4.join(' ')}</td>
    <td class="c-mem">${inst.status === 'Running' && mem ? bytes(mem) : ''}</td>
    <td class="c-snap">${inst.snapshot_count ?? (inst.snapshots ? inst.snapshots.length : '')}</td>
    <td class="c-created">${(inst.created_at || '').slice(0, 10)}</td>
    <td class="c-act">${inst.status === 'Running'
      ? html`<button class="small" onClick=${() => act('stop')} data-testid=${'stop-' + inst.name}>Stop</button>`
      : html`<button class="small" onClick=${() => act('start')} data-testid=${'start-' + inst.name}>Start</button>`}</td>
  </tr>`;
}

export function gotoInstance(name) { navigate('/ui/instances/' + enc(name)); }
