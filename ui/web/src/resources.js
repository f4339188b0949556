// Images, profiles, networks (with leases), storage pools and volumes,
// operations (with cancel).
import { html, useState, useEffect, Err, Confirm, bytes, ago, useLoad, useRoute, Link } from './lib.js';
import { get, run, call, enc } from './api.js';
import { onEvent } from './events.js';
import { fieldOf } from './errfields.js';

// useLive reloads on lifecycle events whose action starts with prefix
// (one list request per event: these lists are short).
function useLive(prefix, reload) {
  useEffect(() => onEvent((ev) => { if (ev.type === 'resync' || (ev.type === 'lifecycle' && (ev.metadata?.action || '').startsWith(prefix))) reload(); }), [reload]);
}

export function Images() {
  const l = useLoad(() => get('/1.0/images?recursion=1'), []);
  useLive('image-', l.reload);
  const [confirm, setConfirm] = useState(null);
  const [error, setError] = useState(null);
  return html`<section class="page"><header class="page-head"><h1>Images</h1></header><${Err} error=${l.error || error} />
    <table class="list wrap" data-testid="images-table"><thead><tr><th>Alias</th><th>Fingerprint</th><th>Description</th><th class="c-size">Size</th><th class="c-created">Uploaded</th><th></th></tr></thead><tbody>
    ${(l.data || []).map((i) => html`<tr><td>${(i.aliases || []).map((a) => a.name).join(', ')}</td><td><code>${i.fingerprint.slice(0, 12)}</code></td>
      <td>${i.properties?.description || ''}</td><td class="c-size">${bytes(i.size)}</td><td class="c-created">${ago(i.uploaded_at)}</td>
      <td><button class="small danger" onClick=${() => setConfirm(i)}>Delete</button></td></tr>`)}</tbody></table>
    ${confirm ? html`<${Confirm} title=${'Delete image ' + confirm.fingerprint.slice(0, 12) + '?'} yes="Delete" danger onNo=${() => setConfirm(null)}
      onYes=${async () => { const i = confirm; setConfirm(null); try { await run('DELETE', '/1.0/images/' + i.fingerprint); l.reload(); } catch (e) { setError(e); } }}><p>Instances made from it keep working.</p><//>` : null}
  </section>`;
}

// YAMLEdit edits one object (profile, network, pool) as YAML and PUTs it.
function YAMLEdit({ url, obj, fields, onDone }) {
  const [text, setText] = useState(null);
  const [err, setErr] = useState(null);
  const [y, setY] = useState(null);
  useEffect(() => { import('js-yaml').then((m) => { setY(m); setText(m.dump(Object.fromEntries(fields.map((k) => [k, obj[k] ?? (k === 'description' ? '' : {})])), { sortKeys: true, lineWidth: -1 })); }); }, [url]);
  const save = async () => {
    setErr(null);
    try { const body = y.load(text) || {}; await run('PUT', url, body); onDone(); }
    catch (e) { const f = fieldOf(e.message); setErr(f ? `${f.replace('.', ': ')} — ${e.message}` : e.message); }
  };
  if (text == null) return html`<p class="muted">Loading…</p>`;
  return html`<div class="yaml-edit"><textarea class="yaml" rows="14" spellcheck="false" value=${text} onInput=${(e) => setText(e.target.value)} data-testid="yaml-edit"></textarea>
    ${err ? html`<p class="field-error" role="alert" data-testid="yaml-edit-error">${err}</p>` : null}<div class="row-actions"><button class="primary" onClick=${save} data-testid="yaml-edit-save">Save</button><button onClick=${onDone}>Cancel</button></div></div>`;
}

export function Profiles() {
  const l = useLoad(() => get('/1.0/profiles?recursion=1'), []);
  useLive('profile-', l.reload);
  const [editing, setEditing] = useState('');
  const [newName, setNew] = useState('');
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const create = async (e) => { e.preventDefault(); setError(null); try { await run('POST', '/1.0/profiles', { name: newName, config: {}, devices: {} }); setNew(''); l.reload(); } catch (err) { setError(err); } };
  return html`<section class="page"><header class="page-head"><h1>Profiles</h1></header><${Err} error=${l.error || error} />
    <form class="inline" onSubmit=${create}><input placeholder="new profile name" value=${newName} onInput=${(e) => setNew(e.target.value)} data-testid="profile-name" /><button type="submit" data-testid="profile-create">Create</button></form>
    ${(l.data || []).map((p) => html`<div class="card wide" data-testid=${'profile-' + p.name}><h3>${p.name} <small>${p.description}</small></h3>
      ${editing === p.name ? html`<${YAMLEdit} url=${'/1.0/profiles/' + enc(p.name)} obj=${p} fields=${['description', 'config', 'devices']} onDone=${() => { setEditing(''); l.reload(); }} />` : html`
      <dl>${Object.entries(p.config || {}).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}${Object.entries(p.devices || {}).map(([d, kv]) => html`<dt>device ${d}</dt><dd>${Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' ')}</dd>`)}</dl>
      <p class="muted">Used by ${(p.used_by || []).length}</p>
      <div class="row-actions"><button class="small" onClick=${() => setEditing(p.name)} data-testid=${'profile-edit-' + p.name}>Edit</button>${p.name !== 'default' ? html`<button class="small danger" onClick=${() => setConfirm(p.name)} data-testid=${'profile-delete-' + p.name}>Delete</button>` : null}</div>`}</div>`)}
    ${confirm ? html`<${Confirm} title=${'Delete profile ' + confirm + '?'} yes="Delete" danger onNo=${() => setConfirm(null)} onYes=${async () => { const n = confirm; setConfirm(null); try { await run('DELETE', '/1.0/profiles/' + enc(n)); l.reload(); } catch (e) { setError(e); } }} />` : null}
  </section>`;
}

export function Networks() {
  const l = useLoad(() => get('/1.0/networks?recursion=1'), []);
  useLive('network-', l.reload);
  const [open, setOpen] = useState('');
  const [editing, setEditing] = useState('');
  return html`<section class="page"><header class="page-head"><h1>Networks</h1></header><${Err} error=${l.error} />
    <table class="list wrap"><thead><tr><th>Name</th><th>Type</th><th>IPv4</th><th class="c-ipv6">IPv6</th><th>Used by</th><th></th></tr></thead><tbody>
    ${(l.data || []).filter((n) => n.managed).map((n) => html`<tr data-testid=${'net-' + n.name}><td>${n.name}</td><td>${n.type}</td><td>${n.config?.['ipv4.address'] || ''}</td><td class="c-ipv6">${n.config?.['ipv6.address'] || ''}</td>
      <td>${(n.used_by || []).length}</td><td class="row-actions"><button class="small" onClick=${() => setOpen(open === n.name ? '' : n.name)} data-testid=${'leases-' + n.name}>Leases</button><button class="small" onClick=${() => setEditing(n.name)}>Edit</button></td></tr>
      ${open === n.name ? html`<tr><td colspan="6"><${Leases} name=${n.name} /></td></tr>` : null}
      ${editing === n.name ? html`<tr><td colspan="6"><${YAMLEdit} url=${'/1.0/networks/' + enc(n.name)} obj=${n} fields=${['description', 'config']} onDone=${() => { setEditing(''); l.reload(); }} /></td></tr>` : null}`)}
    </tbody></table></section>`;
}

function Leases({ name }) {
  const l = useLoad(() => get('/1.0/networks/' + enc(name) + '/leases'), [name]);
  return html`<${Err} error=${l.error} /><table class="list inner" data-testid="leases"><thead><tr><th>Host</th><th>Address</th><th>MAC</th><th>Type</th></tr></thead><tbody>
    ${(l.data || []).map((x) => html`<tr><td>${x.hostname}</td><td>${x.address}</td><td>${x.hwaddr}</td><td>${x.type}</td></tr>`)}</tbody></table>
    ${l.data && !l.data.length ? html`<p class="muted">No leases.</p>` : null}`;
}

export function Storage() {
  const l = useLoad(() => get('/1.0/storage-pools?recursion=1'), []);
  useLive('storage-', l.reload);
  const [open, setOpen] = useState('');
  return html`<section class="page"><header class="page-head"><h1>Storage</h1></header><${Err} error=${l.error} />
    <table class="list wrap"><thead><tr><th>Pool</th><th>Driver</th><th>Source</th><th>Status</th><th></th></tr></thead><tbody>
    ${(l.data || []).map((p) => html`<tr data-testid=${'pool-' + p.name}><td>${p.name}</td><td>${p.driver}</td><td><code>${p.config?.source || ''}</code></td><td>${p.status}</td>
      <td><button class="small" onClick=${() => setOpen(open === p.name ? '' : p.name)} data-testid=${'volumes-' + p.name}>Volumes</button></td></tr>
      ${open === p.name ? html`<tr><td colspan="5"><${Volumes} pool=${p.name} /></td></tr>` : null}`)}
    </tbody></table></section>`;
}

function Volumes({ pool }) {
  const l = useLoad(() => get('/1.0/storage-pools/' + enc(pool) + '/volumes?recursion=1'), [pool]);
  const res = useLoad(() => get('/1.0/storage-pools/' + enc(pool) + '/resources'), [pool]);
  const sp = res.data?.space;
  return html`${sp ? html`<p class="muted">Used ${bytes(sp.used)} of ${bytes(sp.total)}</p>` : null}<${Err} error=${l.error} />
    <table class="list inner" data-testid="volumes"><thead><tr><th>Type</th><th>Name</th><th>Used by</th></tr></thead><tbody>
    ${(l.data || []).map((v) => html`<tr><td>${v.type}</td><td title=${v.name}>${v.type === 'image' ? v.name.slice(0, 12) : v.name}</td>
      <td>${(v.used_by || []).map((u) => u.replace(/^\/1\.0\//, '').replace(/[0-9a-f]{64}/, (f) => f.slice(0, 12))).join(', ')}</td></tr>`)}</tbody></table>`;
}

export function Operations() {
  const [ops, setOps] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get('/1.0/operations?recursion=1').then((m) => {
    const all = [...(m.running || []), ...(m.success || []), ...(m.failure || [])];
    setOps(new Map(all.map((o) => [o.id, o])));
  }, setError);
  useEffect(() => { load(); }, []);
  // Operation events carry the whole operation: no request per event.
  useEffect(() => onEvent((ev) => {
    if (ev.type === 'resync') { load(); return; }
    if (ev.type === 'operation') setOps((m) => new Map(m || []).set(ev.metadata.id, ev.metadata));
  }), []);
  const cancel = async (o) => { try { await call('DELETE', '/1.0/operations/' + o.id); } catch (e) { setError(e); } };
  const list = [...(ops?.values() || [])].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  return html`<section class="page"><header class="page-head"><h1>Operations</h1></header><${Err} error=${error} />
    <table class="list wrap" data-testid="operations-table"><thead><tr><th>Description</th><th>Status</th><th>Resources</th><th class="c-created">Started</th><th></th></tr></thead><tbody>
    ${list.map((o) => html`<tr data-testid=${'op-' + o.id} data-status=${o.status}><td>${o.description}${o.metadata?.download_progress ? html`<div class="sub">${o.metadata.download_progress}</div>` : null}${o.err ? html`<div class="sub error">${o.err}</div>` : null}</td>
      <td>${o.status}</td><td>${Object.values(o.resources || {}).flat().filter((r, i, a) => a.indexOf(r) === i).map((r) => r.replace(/^\/1\.0\//, '')).join(', ')}</td>
      <td class="c-created">${ago(o.created_at)}</td><td>${o.may_cancel && o.status_code < 200 ? html`<button class="small danger" onClick=${() => cancel(o)} data-testid=${'op-cancel-' + o.id}>Cancel</button>` : null}</td></tr>`)}
    </tbody></table>${ops && !list.length ? html`<p class="muted">No recent operations.</p>` : null}</section>`;
}
