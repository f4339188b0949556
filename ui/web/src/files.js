// A file browser over /1.0/instances/NAME/files: list directories, download,
// upload, edit small text files, delete, make directories.
import { html, useState, useEffect, Err, Confirm, bytes } from './lib.js';
import { raw, instURL } from './api.js';

const EDIT_MAX = 256 * 1024;

export function Files({ name }) {
  const [dir, setDir] = useState('/');
  const [entries, setEntries] = useState(null);
  const [error, setError] = useState(null);
  const [edit, setEdit] = useState(null); // {path, text}
  const [confirm, setConfirm] = useState(null);
  const url = (p) => `${instURL(name)}/files?path=${encodeURIComponent(p)}`;
  const join = (d, f) => (d.endsWith('/') ? d : d + '/') + f;
  const list = async (d) => {
    setError(null);
    try {
      const r = await raw('GET', url(d));
      const j = await r.json();
      if (j.type === 'error') throw new Error(j.error);
      setEntries((j.metadata || []).sort()); setDir(d);
    } catch (e) { setError(e); }
  };
  useEffect(() => { list('/'); }, [name]);
  const open = async (f) => {
    const p = join(dir, f);
    setError(null);
    try {
      const r = await raw('GET', url(p));
      const type = r.headers.get('X-Lxd-Type');
      if (type === 'directory') { const j = await r.json(); setEntries((j.metadata || []).sort()); setDir(p); return; }
      if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`);
      const b = await r.arrayBuffer();
      const text = b.byteLength <= EDIT_MAX ? new TextDecoder('utf-8', { fatal: true }).decode(b) : null;
      setEdit({ path: p, text, size: b.byteLength, mode: r.headers.get('X-Lxd-Mode'), uid: r.headers.get('X-Lxd-Uid'), gid: r.headers.get('X-Lxd-Gid') });
    } catch (e) {
      if (e instanceof TypeError) setEdit({ path: p, text: null }); else setError(e);
    }
  };
  const push = async (p, body, headers = {}) => {
    const r = await raw('POST', url(p), body, { 'X-Lxd-Type': 'file', 'Content-Type': 'application/octet-stream', ...headers });
    const j = await r.json().catch(() => ({}));
    if (!r.ok || j.type === 'error') throw new Error(j.error || `HTTP ${r.status}`);
  };
  const upload = async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try { await push(join(dir, f.name), f, { 'X-Lxd-Mode': '0644' }); list(dir); } catch (err) { setError(err); }
    e.target.value = '';
  };
  const mkdir = async () => {
    const n = prompt('New directory name');
    if (!n) return;
    try { await push(join(dir, n), new Blob([]), { 'X-Lxd-Type': 'directory', 'X-Lxd-Mode': '0755' }); list(dir); } catch (err) { setError(err); }
  };
  const del = async (p) => {
    setConfirm(null);
    const r = await raw('DELETE', url(p));
    const j = await r.json().catch(() => ({}));
    if (j.type === 'error') setError(new Error(j.error)); else list(dir);
  };
  const save = async () => {
    try {
      const h = { 'X-Lxd-Mode': edit.mode || '0644' };
      if (edit.uid) h['X-Lxd-Uid'] = edit.uid; if (edit.gid) h['X-Lxd-Gid'] = edit.gid;
      await push(edit.path, new Blob([edit.text]), h); setEdit(null); list(dir);
    } catch (e) { setError(e); }
  };
  const up = dir === '/' ? null : dir.replace(/\/[^/]+\/?$/, '') || '/';
  if (edit) {
    return html`<div class="files"><h3>${edit.path}</h3><${Err} error=${error} />
      ${edit.text != null ? html`<textarea class="yaml" rows="20" spellcheck="false" value=${edit.text} onInput=${(e) => setEdit({ ...edit, text: e.target.value })} data-testid="file-editor"></textarea>`
        : html`<p class="muted">Not shown: a binary file or over ${bytes(EDIT_MAX)}.</p>`}
      <div class="row-actions">${edit.text != null ? html`<button class="primary" onClick=${save} data-testid="file-save">Save</button>` : null}
        <a class="button" href=${url(edit.path)} download=${edit.path.split('/').pop()} data-testid="file-download">Download</a><button onClick=${() => setEdit(null)}>Close</button></div></div>`;
  }
  return html`<div class="files">
    <div class="toolbar"><code data-testid="files-path">${dir}</code>
      <label class="button">Upload<input type="file" class="hidden" onChange=${upload} data-testid="file-upload" /></label><button onClick=${mkdir}>New directory</button></div>
    <${Err} error=${error} />
    <ul class="file-list" data-testid="file-list">
      ${up ? html`<li><button class="link" onClick=${() => list(up)}>..</button></li>` : null}
      ${(entries || []).map((f) => html`<li><button class="link" onClick=${() => open(f)}>${f}</button>
        <span class="row-actions"><a class="small" href=${url(join(dir, f))} download=${f}>download</a><button class="small danger" onClick=${() => setConfirm(join(dir, f))}>delete</button></span></li>`)}
    </ul>
    ${confirm ? html`<${Confirm} title=${'Delete ' + confirm + '?'} yes="Delete" danger onNo=${() => setConfirm(null)} onYes=${() => del(confirm)}><p>This cannot be undone.</p><//>` : null}
  </div>`;
}
