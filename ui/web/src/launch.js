// Launch: image (local, or a remote server's alias with download
// progress), name, profiles, limits, network, pool. The server validates;
// its errors are shown on the fields they name.
import { html, useState, useEffect, Err, navigate, Link } from './lib.js';
import { get, call, run, wait, instURL, enc } from './api.js';
import { onEvent } from './events.js';
import { launchField } from './errfields.js';

export function Launch() {
  const [opts, setOpts] = useState(null);
  const [loadErr, setLoadErr] = useState(null);
  const [f, setF] = useState({ source: 'local', image: '', server: '', protocol: 'simplestreams', alias: '', name: '', profiles: ['default'], cpu: '', memory: '', network: '', pool: '', start: true });
  const [errs, setErrs] = useState({});
  const [phase, setPhase] = useState('');
  const [progress, setProgress] = useState('');
  useEffect(() => {
    Promise.all([get('/1.0/images?recursion=1'), get('/1.0/profiles?recursion=1'), get('/1.0/networks?recursion=1'), get('/1.0/storage-pools?recursion=1')])
      .then(([images, profiles, networks, pools]) => {
        setOpts({ images, profiles, networks: networks.filter((n) => n.managed), pools });
        if (images.length) setF((x) => ({ ...x, image: x.image || images[0].fingerprint }));
      }, setLoadErr);
  }, []);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const toggleProfile = (p) => setF({ ...f, profiles: f.profiles.includes(p) ? f.profiles.filter((x) => x !== p) : [...f.profiles, p] });

  async function submit(e) {
    e.preventDefault();
    setErrs({}); setProgress('');
    const source = f.source === 'local'
      ? { type: 'image', fingerprint: f.image }
      : { type: 'image', server: f.server.trim(), protocol: f.protocol, alias: f.alias.trim(), mode: 'pull' };
    const config = {};
    if (f.cpu) config['limits.cpu'] = f.cpu;
    if (f.memory) config['limits.memory'] = f.memory;
    const devices = {};
    if (f.network) devices.eth0 = { type: 'nic', name: 'eth0', network: f.network };
    if (f.pool) devices.root = { type: 'disk', path: '/', pool: f.pool };
    if (!f.name.trim()) { setErrs({ name: 'Give the instance a name.' }); return; }
    if (f.source === 'local' && !f.image) { setErrs({ image: 'Pick an image.' }); return; }
    if (f.source === 'remote' && (!f.server || !f.alias)) { setErrs({ image: 'Give the remote server URL and the image alias.' }); return; }
    const name = f.name.trim();
    // Progress comes in the operation's events; those that arrive before
    // the POST's reply names the operation are kept (a download that
    // stalls sends no more).
    let opID = null;
    const early = new Map();
    const show = (md = {}) => {
      if (md.download_progress) setProgress(md.download_progress);
      else if (md.create_instance_from_image_unpack_progress) setProgress(md.create_instance_from_image_unpack_progress);
    };
    const off = onEvent((ev) => {
      if (ev.type !== 'operation') return;
      if (opID === null) early.set(ev.metadata?.id, ev.metadata?.metadata);
      else if (ev.metadata?.id === opID) show(ev.metadata.metadata || {});
    });
    try {
      setPhase('Creating');
      const res = await call('POST', '/1.0/instances', { name, source, profiles: f.profiles, config, devices, type: 'container' });
      if (res.type === 'async') {
        opID = res.metadata.id;
        show(early.get(opID) || res.metadata.metadata || {});
        early.clear();
        await wait(res.metadata);
      }
      if (f.start) { setPhase('Starting'); await run('PUT', instURL(name) + '/state', { action: 'start', timeout: 30 }); }
      navigate('/ui/instances/' + enc(name));
    } catch (err) {
      const field = launchField(err.message);
      setErrs({ [field]: err.message });
      setPhase('');
    } finally { off(); }
  }
  if (loadErr) return html`<section class="page"><${Err} error=${loadErr} /></section>`;
  if (!opts) return html`<section class="page"><p class="muted">Loading…</p></section>`;
  const E = (k) => (errs[k] ? html`<span class="field-error" role="alert" data-testid=${'err-' + k}>${errs[k]}</span>` : null);
  const imgLabel = (i) => `${(i.aliases || []).map((a) => a.name).join(', ') || i.fingerprint.slice(0, 12)}${i.properties?.description ? ' — ' + i.properties.description : ''}`;
  return html`<section class="page narrow">
    <header class="page-head"><h1><${Link} href="/ui/">Instances<//> / Launch</h1></header>
    <form onSubmit=${submit} data-testid="launch-form" novalidate>
      ${errs[''] ? html`<p class="error" role="alert" data-testid="err-form">${errs['']}</p>` : null}
      <fieldset><legend>Image</legend>
        <label class="inline"><input type="radio" name="src" checked=${f.source === 'local'} onChange=${() => setF({ ...f, source: 'local' })} /> Local</label>
        <label class="inline"><input type="radio" name="src" checked=${f.source === 'remote'} onChange=${() => setF({ ...f, source: 'remote' })} data-testid="src-remote" /> From a remote server</label>
        ${f.source === 'local' ? html`<label class="field">Image<select value=${f.image} onChange=${set('image')} data-testid="image" aria-invalid=${!!errs.image}>
            ${opts.images.map((i) => html`<option value=${i.fingerprint}>${imgLabel(i)}</option>`)}</select>
            ${!opts.images.length ? html`<span class="muted">No local images: build one (lodge image build busybox) or use a remote.</span>` : null}</label>`
          : html`<label class="field">Server URL<input value=${f.server} placeholder="https://images.example.org" onInput=${set('server')} data-testid="remote-server" /></label>
            <label class="field">Protocol<select value=${f.protocol} onChange=${set('protocol')}><option>simplestreams</option><option>lxd</option></select></label>
            <label class="field">Alias<input value=${f.alias} placeholder="debian/12" onInput=${set('alias')} data-testid="remote-alias" /></label>`}
        ${E('image')}
      </fieldset>
      <label class="field">Name<input value=${f.name} onInput=${set('name')} autocomplete="off" data-testid="name" aria-invalid=${!!errs.name} />${E('name')}</label>
      <fieldset><legend>Profiles</legend>${opts.profiles.map((p) => html`<label class="inline"><input type="checkbox" checked=${f.profiles.includes(p.name)} onChange=${() => toggleProfile(p.name)} /> ${p.name}</label>`)}${E('profiles')}</fieldset>
      <div class="grid2">
        <label class="field">CPUs (limits.cpu)<input value=${f.cpu} placeholder="e.g. 2" onInput=${set('cpu')} data-testid="limits-cpu" aria-invalid=${!!errs['config.limits.cpu']} />${E('config.limits.cpu')}</label>
        <label class="field">Memory (limits.memory)<input value=${f.memory} placeholder="e.g. 512MiB" onInput=${set('memory')} data-testid="limits-memory" aria-invalid=${!!errs['config.limits.memory']} />${E('config.limits.memory')}</label>
        <label class="field">Network<select value=${f.network} onChange=${set('network')} data-testid="network" aria-invalid=${!!errs.network}><option value="">from the profiles</option>${opts.networks.map((n) => html`<option>${n.name}</option>`)}</select>${E('network')}</label>
        <label class="field">Storage pool<select value=${f.pool} onChange=${set('pool')} data-testid="pool" aria-invalid=${!!errs.pool}><option value="">from the profiles</option>${opts.pools.map((p) => html`<option>${p.name}</option>`)}</select>${E('pool')}</label>
      </div>
      ${E('config')}${E('devices')}
      <label class="inline"><input type="checkbox" checked=${f.start} onChange=${set('start')} data-testid="start" /> Start it</label>
      <div class="row-actions"><button class="primary" type="submit" disabled=${!!phase} data-testid="launch-submit">${phase ? phase + '…' : 'Launch'}</button>
        ${progress ? html`<span class="muted" role="status" data-testid="launch-progress">${progress}</span>` : null}</div>
    </form></section>`;
}
