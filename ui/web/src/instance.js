// One instance: overview, configuration (form and YAML), snapshots,
// console log, terminal and files.
import { html, useState, useEffect, useRef, Link, Status, Confirm, Err, Tabs, addresses, bytes, ago, navigate, useRoute, useLoad } from './lib.js';
import { get, call, run, raw, instURL, enc } from './api.js';
import { onEvent } from './events.js';
import { fieldOf } from './errfields.js';
import { Files } from './files.js';
import { Charts } from './charts.js';

const TABS = [['', 'Overview'], ['config', 'Configuration'], ['snapshots', 'Snapshots'], ['console', 'Console'], ['terminal', 'Terminal'], ['files', 'Files']];

export function Instance({ name }) {
  const { query } = useRoute();
  const tab = query.get('tab') || '';
  const [inst, setInst] = useState(null);
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [busy, setBusy] = useState('');
  const load = () => call('GET', instURL(name) + '?recursion=1').then((r) => { setInst({ ...r.metadata, etag: r.etag }); setError(null); }, setError);
  useEffect(() => { load(); }, [name]);
  // The instance's own events: one GET each. Usage is polled while the
  // overview shows it (no event carries CPU or memory), and so are the
  // charts' /1.0/metrics (charts.js).
  useEffect(() => onEvent((ev) => {
    if (ev.type === 'resync') { load(); return; }
    if (ev.type !== 'lifecycle') return;
    const m = /^\/1\.0\/instances\/([^/?]+)/.exec(ev.metadata?.source || '');
    if (!m || decodeURIComponent(m[1]) !== name || ev.metadata.action === 'instance-exec') return;
    if (ev.metadata.action === 'instance-deleted') { navigate('/ui/'); return; }
    load();
  }), [name]);
  useEffect(() => {
    if (tab !== '' || inst?.status !== 'Running') return;
    const t = setInterval(() => { if (!document.hidden) get(instURL(name) + '/state').then((s) => setInst((i) => i && { ...i, state: s }), () => {}); }, 5000);
    return () => clearInterval(t);
  }, [tab, inst?.status, name]);

  const act = async (action, body) => {
    setBusy(action); setError(null);
    try {
      if (action === 'delete') {
        if (inst.status !== 'Stopped') await run('PUT', instURL(name) + '/state', { action: 'stop', force: true, timeout: -1 });
        await run('DELETE', instURL(name));
        navigate('/ui/');
        return;
      }
      await run('PUT', instURL(name) + '/state', body || { action, timeout: 30 });
    } catch (e) { setError(e); } finally { setBusy(''); }
  };

  if (!inst) return html`<section class="page"><${Err} error=${error} />${!error ? html`<p class="muted">Loading…</p>` : null}</section>`;
  const running = inst.status === 'Running', frozen = inst.status === 'Frozen';
  return html`<section class="page">
    <header class="page-head">
      <h1><${Link} href="/ui/">Instances<//> / <span data-testid="instance-name">${name}</span> <${Status} s=${inst.status} /></h1>
      <div class="row-actions">
        ${!running && !frozen ? html`<button class="primary" disabled=${busy} onClick=${() => act('start')} data-testid="action-start">Start</button>` : null}
        ${running ? html`<button disabled=${busy} onClick=${() => act('restart')}>Restart</button>` : null}
        ${running ? html`<button disabled=${busy} onClick=${() => act('freeze')}>Freeze</button>` : null}
        ${frozen ? html`<button disabled=${busy} onClick=${() => act('unfreeze')}>Unfreeze</button>` : null}
        ${running || frozen ? html`<button disabled=${busy} onClick=${() => setConfirm('stop')} data-testid="action-stop">Stop</button>` : null}
        <button class="danger" disabled=${busy} onClick=${() => setConfirm('delete')} data-testid="action-delete">Delete</button>
      </div>
    </header>
    ${busy ? html`<p class="muted" role="status">${busy}…</p>` : null}
    <${Err} error=${error} />
    <${Tabs} tabs=${TABS} current=${tab} base=${'/ui/instances/' + enc(name)} />
    ${tab === '' ? html`<${Overview} inst=${inst} />` : null}
    ${tab === 'config' ? html`<${Config} inst=${inst} reload=${load} />` : null}
    ${tab === 'snapshots' ? html`<${Snapshots} inst=${inst} reload=${load} />` : null}
    ${tab === 'console' ? html`<${ConsoleLog} name=${name} />` : null}
    ${tab === 'terminal' ? html`<${TerminalTab} name=${name} running=${running} />` : null}
    ${tab === 'files' ? html`<${Files} name=${name} running=${running} />` : null}
    ${confirm ? html`<${Confirm} title=${confirm === 'delete' ? `Delete ${name}?` : `Stop ${name}?`} yes=${confirm === 'delete' ? 'Delete' : 'Stop'} danger
      onNo=${() => setConfirm(null)} onYes=${() => { const c = confirm; setConfirm(null); act(c); }}>
      <p>${confirm === 'delete' ? 'The instance, its snapshots and its data are deleted. This cannot be undone.' : 'The instance is asked to shut down (30 s, then forced).'}</p><//>` : null}
  </section>`;
}

function Overview({ inst }) {
  const s = inst.state || {};
  const cfg = inst.expanded_config || inst.config || {};
  const nets = Object.entries(s.network || {}).filter(([n]) => n !== 'lo');
  const disk = Object.entries(s.disk || {});
  return html`<div class="cards">
    <div class="card"><h3>State</h3><dl>
      <dt>Status</dt><dd data-testid="ov-status">${inst.status}</dd>
      <dt>PID</dt><dd>${s.pid || ''}</dd><dt>Processes</dt><dd>${s.processes > 0 ? s.processes : ''}</dd>
      <dt>Image</dt><dd>${cfg['image.description'] || ''}</dd>
      <dt>Profiles</dt><dd>${(inst.profiles || []).join(', ')}</dd>
      <dt>Created</dt><dd>${ago(inst.created_at)}</dd><dt>Last used</dt><dd>${ago(inst.last_used_at)}</dd>
    </dl></div>
    <div class="card"><h3>Usage</h3><dl>
      <dt>Memory</dt><dd>${bytes(s.memory?.usage)}${s.memory?.usage_peak ? ` (peak ${bytes(s.memory.usage_peak)})` : ''}${cfg['limits.memory'] ? ` of ${cfg['limits.memory']}` : ''}</dd>
      <dt>CPU time</dt><dd>${s.cpu?.usage ? (s.cpu.usage / 1e9).toFixed(1) + ' s' : ''}${cfg['limits.cpu'] ? ` (limit ${cfg['limits.cpu']} CPUs)` : ''}</dd>
      ${disk.map(([d, u]) => html`<dt>Disk ${d}</dt><dd>${bytes(u.usage)}</dd>`)}
    </dl></div>
    <div class="card"><h3>Network</h3>${nets.length ? html`<dl>${nets.map(([n, v]) => html`<dt>${n}</dt><dd>${(v.addresses || []).filter((a) => a.scope === 'global').map((a) => html`<div>${a.address}/${a.netmask}</div>`)}
      <div class="sub">${v.hwaddr} · rx ${bytes(v.counters?.bytes_received)} · tx ${bytes(v.counters?.bytes_sent)}</div></dd>`)}</dl>` : html`<p class="muted">${inst.status === 'Running' ? 'No interfaces' : 'Not running'}</p>`}
      <p class="muted">IPv4: <span data-testid="ov-ipv4">${addresses(s, 'inet').join(', ')}</span></p></div>
    <${Charts} name=${inst.name} running=${inst.status === 'Running'} />
  </div>`;
}

// Config edits the instance's own config, devices and profiles as a form
// or as YAML; a refused value shows its error on the key it names.
function Config({ inst, reload }) {
  const [mode, setMode] = useState('form');
  const own = () => Object.entries(inst.config || {}).filter(([k]) => !k.startsWith('volatile.') && !k.startsWith('image.'));
  const [rows, setRows] = useState(own);
  const [profiles, setProfiles] = useState((inst.profiles || []).join(', '));
  const [yamlText, setYaml] = useState('');
  const [errs, setErrs] = useState({});
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const yamlLib = useRef(null);
  useEffect(() => { setRows(own()); setProfiles((inst.profiles || []).join(', ')); }, [inst.etag]);
  useEffect(() => {
    if (mode !== 'yaml') return;
    import('js-yaml').then((y) => {
      yamlLib.current = y;
      setYaml(y.dump({ description: inst.description || '', profiles: inst.profiles || [], config: Object.fromEntries(own()), devices: inst.devices || {} }, { sortKeys: true, lineWidth: -1 }));
    });
  }, [mode, inst.etag]);

  async function save(e) {
    e.preventDefault();
    setErrs({}); setSaved(false); setBusy(true);
    let body;
    try {
      const keep = Object.fromEntries(Object.entries(inst.config || {}).filter(([k]) => k.startsWith('volatile.') || k.startsWith('image.')));
      if (mode === 'yaml') {
        const y = yamlLib.current.load(yamlText) || {};
        body = { description: y.description || '', profiles: y.profiles || [], config: { ...keep, ...Object.fromEntries(Object.entries(y.config || {}).map(([k, v]) => [k, String(v)])) }, devices: y.devices || {} };
      } else {
        body = { description: inst.description || '', profiles: profiles.split(',').map((p) => p.trim()).filter(Boolean), config: { ...keep, ...Object.fromEntries(rows.filter(([k]) => k.trim()).map(([k, v]) => [k.trim(), v])) }, devices: inst.devices || {} };
      }
      body = { architecture: inst.architecture, ephemeral: inst.ephemeral, ...body };
    } catch (err) { setErrs({ '': 'YAML: ' + err.message }); setBusy(false); return; }
    try {
      await run('PUT', instURL(inst.name), body, inst.etag ? { 'If-Match': inst.etag } : {});
      setSaved(true);
      reload();
    } catch (err) {
      const f = fieldOf(err.message);
      setErrs({ [f.startsWith('config.') || f.startsWith('devices.') || f === 'profiles' ? f : '']: err.message });
    } finally { setBusy(false); }
  }
  const set = (i, j, v) => setRows(rows.map((r, k) => (k === i ? (j === 0 ? [v, r[1]] : [r[0], v]) : r)));
  const errKeys = Object.keys(errs).filter((k) => k.startsWith('config.') && !rows.some(([rk]) => 'config.' + rk === k));
  return html`<form class="config" onSubmit=${save} data-testid="config-form">
    <div class="row-actions">
      <button type="button" class=${mode === 'form' ? 'on' : ''} onClick=${() => setMode('form')} data-testid="mode-form">Form</button>
      <button type="button" class=${mode === 'yaml' ? 'on' : ''} onClick=${() => setMode('yaml')} data-testid="mode-yaml">YAML</button>
    </div>
    ${errs[''] ? html`<p class="error" role="alert" data-testid="form-error">${errs['']}</p>` : null}
    ${mode === 'form' ? html`
      <label class="field">Profiles <input value=${profiles} onInput=${(e) => setProfiles(e.target.value)} data-testid="cfg-profiles" aria-invalid=${!!errs.profiles} />
        ${errs.profiles ? html`<span class="field-error" role="alert">${errs.profiles}</span>` : null}</label>
      <table class="list kv"><thead><tr><th>Key</th><th>Value</th><th></th></tr></thead><tbody>
      ${rows.map(([k, v], i) => html`<tr data-testid=${'cfg-row-' + k}>
        <td><input value=${k} aria-label="Key" onInput=${(e) => set(i, 0, e.target.value)} data-testid=${'cfg-key-' + i} /></td>
        <td><input value=${v} aria-label=${'Value of ' + k} aria-invalid=${!!errs['config.' + k]} onInput=${(e) => set(i, 1, e.target.value)} data-testid=${'cfg-val-' + k} />
          ${errs['config.' + k] ? html`<span class="field-error" role="alert" data-testid=${'cfg-err-' + k}>${errs['config.' + k]}</span>` : null}</td>
        <td><button type="button" class="small" onClick=${() => setRows(rows.filter((_, j) => j !== i))} aria-label=${'Remove ' + k}>✕</button></td></tr>`)}
      </tbody></table>
      ${errKeys.map((k) => html`<p class="field-error" role="alert">${errs[k]}</p>`)}
      <button type="button" onClick=${() => setRows([...rows, ['', '']])} data-testid="cfg-add">Add key</button>
      <h3>Devices</h3>
      <table class="list kv"><tbody>${Object.entries(inst.devices || {}).map(([d, kv]) => html`<tr><td>${d}</td><td>${Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' ')}
        ${errs['devices.' + d] ? html`<span class="field-error" role="alert">${errs['devices.' + d]}</span>` : null}</td></tr>`)}</tbody></table>
      <p class="muted">Edit devices in YAML. Profiles add: ${Object.keys(inst.expanded_devices || {}).filter((d) => !(inst.devices || {})[d]).join(', ')}</p>` : html`
      <textarea class="yaml" spellcheck="false" rows="20" value=${yamlText} onInput=${(e) => setYaml(e.target.value)} data-testid="cfg-yaml" aria-label="Configuration as YAML"></textarea>
      ${Object.entries(errs).filter(([k]) => k).map(([k, m]) => html`<p class="field-error" role="alert" data-testid="yaml-error"><b>${k.replace(/^config\./, 'config: ').replace(/^devices\./, 'devices: ')}</b> ${m}</p>`)}`}
    <div class="row-actions"><button class="primary" type="submit" disabled=${busy} data-testid="cfg-save">Save</button>${saved ? html`<span class="ok" role="status">Saved</span>` : null}</div>
  </form>`;
}

const SCHEDULE_KEYS = [['snapshots.schedule', 'Schedule (cron or @hourly, @daily)'], ['snapshots.schedule.stopped', 'Also when stopped (true/false)'], ['snapshots.expiry', 'Expiry (e.g. 2w)'], ['snapshots.pattern', 'Name pattern (snap%d)']];

function Snapshots({ inst, reload }) {
  const name = inst.name;
  const list = useLoad(() => get(instURL(name) + '/snapshots?recursion=1'), [name, inst.etag, (inst.snapshots || []).length]);
  const [newName, setNew] = useState('');
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [sched, setSched] = useState(() => Object.fromEntries(SCHEDULE_KEYS.map(([k]) => [k, (inst.config || {})[k] || ''])));
  const [schedErr, setSchedErr] = useState({});
  const [schedSaved, setSchedSaved] = useState(false);
  const go = async (f) => { setError(null); try { await f(); list.reload(); reload(); } catch (e) { setError(e); } };
  const create = (e) => { e.preventDefault(); go(() => run('POST', instURL(name) + '/snapshots', { name: newName, stateful: false })).then(() => setNew('')); };
  const saveSched = async (e) => {
    e.preventDefault(); setSchedErr({}); setSchedSaved(false);
    const config = { ...inst.config };
    for (const [k, v] of Object.entries(sched)) { if (v) config[k] = v; else delete config[k]; }
    try { await run('PUT', instURL(name), { architecture: inst.architecture, ephemeral: inst.ephemeral, description: inst.description, profiles: inst.profiles, devices: inst.devices, config }, inst.etag ? { 'If-Match': inst.etag } : {}); setSchedSaved(true); reload(); }
    catch (err) { setSchedErr({ [fieldOf(err.message)]: err.message }); }
  };
  const snaps = list.data || [];
  return html`<div>
    <form class="inline" onSubmit=${create}><input placeholder="snapshot name (optional)" value=${newName} onInput=${(e) => setNew(e.target.value)} data-testid="snap-name" />
      <button class="primary" type="submit" data-testid="snap-create">Create snapshot</button></form>
    <${Err} error=${error || list.error} />
    <table class="list"><thead><tr><th>Name</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>
    ${snaps.map((s) => html`<tr data-testid=${'snap-' + s.name}><td>${s.name}</td><td>${ago(s.created_at)}</td><td>${s.expires_at && !s.expires_at.startsWith('0001') ? new Date(s.expires_at).toLocaleString() : ''}</td>
      <td class="row-actions"><button class="small" onClick=${() => setConfirm(['restore', s.name])} data-testid=${'snap-restore-' + s.name}>Restore</button><button class="small danger" onClick=${() => setConfirm(['delete', s.name])} data-testid=${'snap-delete-' + s.name}>Delete</button></td></tr>`)}
    </tbody></table>
    ${!list.loading && !snaps.length ? html`<p class="muted">No snapshots.</p>` : null}
    <h3>Schedule</h3>
    <form onSubmit=${saveSched}>${SCHEDULE_KEYS.map(([k, label]) => html`<label class="field">${label}<input value=${sched[k]} onInput=${(e) => setSched({ ...sched, [k]: e.target.value })} aria-invalid=${!!schedErr['config.' + k]} data-testid=${'sched-' + k} />
      ${schedErr['config.' + k] ? html`<span class="field-error" role="alert" data-testid=${'sched-err-' + k}>${schedErr['config.' + k]}</span>` : null}</label>`)}
      ${schedErr[''] ? html`<p class="error" role="alert" data-testid="sched-err">${schedErr['']}</p>` : null}
      <button type="submit" data-testid="sched-save">Save schedule</button>${schedSaved ? html`<span class="ok" role="status" data-testid="sched-saved">Saved</span>` : null}</form>
    ${confirm ? html`<${Confirm} title=${`${confirm[0] === 'restore' ? 'Restore' : 'Delete'} snapshot ${confirm[1]}?`} yes=${confirm[0] === 'restore' ? 'Restore' : 'Delete'} danger
      onNo=${() => setConfirm(null)} onYes=${() => { const [a, s] = confirm; setConfirm(null); go(() => (a === 'restore' ? run('PUT', instURL(name), { restore: s }) : run('DELETE', instURL(name) + '/snapshots/' + enc(s)))); }}>
      <p>${confirm[0] === 'restore' ? `${name}'s files and config go back to ${confirm[1]}; changes since are lost.` : 'This cannot be undone.'}</p><//>` : null}
  </div>`;
}

function ConsoleLog({ name }) {
  const [text, setText] = useState(null);
  const [error, setError] = useState(null);
  const load = () => raw('GET', instURL(name) + '/logs/console.log').then(async (r) => { if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`); setText(await r.text()); }).catch(setError);
  useEffect(() => { load(); }, [name]);
  return html`<div><div class="row-actions"><button onClick=${load} data-testid="console-refresh">Refresh</button></div><${Err} error=${error} />
    <pre class="log" data-testid="console-log">${text ?? ''}</pre>${text === '' ? html`<p class="muted">The console log is empty.</p>` : null}</div>`;
}

function TerminalTab({ name, running }) {
  const [Term, setTerm] = useState(null);
  useEffect(() => { import('./terminal.js').then((m) => setTerm(() => m.Terminal)); }, []);
  if (!running) return html`<p class="muted">Start the instance to open a terminal.</p>`;
  return Term ? html`<${Term} name=${name} />` : html`<p class="muted">Loading terminal…</p>`;
}
