// A shell in the instance: xterm.js over LXD's interactive exec (one pty
// stream on fd 0, resizes on the control socket).
import { Terminal as XTerm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { html, useEffect, useRef, useState } from './lib.js';
import { call, instURL } from './api.js';
import { adoptStyles } from './cspstyles.js';

const SHELL = 'if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi';

export function Terminal({ name }) {
  const box = useRef();
  const [status, setStatus] = useState('connecting');
  const [gen, setGen] = useState(0);
  useEffect(() => {
    const stopStyles = adoptStyles(box.current);
    const term = new XTerm({ cursorBlink: true, fontSize: 14, convertEol: false, scrollback: 5000,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace' });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current);
    fit.fit();
    let data = null, control = null, closed = false;
    const wsURL = (op, secret) => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/1.0/operations/${op}/websocket?secret=${encodeURIComponent(secret)}`;
    const resize = () => {
      if (box.current) { box.current.dataset.cols = term.cols; box.current.dataset.rows = term.rows; }
      if (control?.readyState === WebSocket.OPEN) {
        control.send(JSON.stringify({ command: 'window-resize', args: { width: String(term.cols), height: String(term.rows) } }));
      }
    };
    (async () => {
      try {
        const r = await call('POST', instURL(name) + '/exec', {
          command: ['/bin/sh', '-c', SHELL], interactive: true, 'wait-for-websocket': true,
          width: term.cols, height: term.rows, environment: { TERM: 'xterm-256color' }, 'record-output': false,
        });
        const op = r.metadata, fds = op.metadata?.fds || {};
        // The order LXD's client uses: control first, then the pty.
        control = new WebSocket(wsURL(op.id, fds.control));
        await new Promise((ok, fail) => { control.onopen = ok; control.onerror = () => fail(new Error('control websocket failed')); });
        data = new WebSocket(wsURL(op.id, fds['0']));
        data.binaryType = 'arraybuffer';
        data.onopen = () => { if (closed) return; setStatus('connected'); document.body.dataset.terminal = 'open'; resize(); term.focus(); };
        data.onmessage = (m) => {
          if (typeof m.data === 'string') { if (m.data === '') data.close(); return; }
          term.write(new Uint8Array(m.data));
        };
        data.onclose = () => { if (!closed) { setStatus('ended'); term.write('\r\n[session ended]\r\n'); } control?.close(); };
      } catch (e) {
        setStatus('error: ' + e.message);
      }
    })();
    const enc = new TextEncoder();
    const sub = term.onData((s) => { if (data?.readyState === WebSocket.OPEN) data.send(enc.encode(s)); });
    const rsub = term.onResize(resize);
    const ro = new ResizeObserver(() => { try { fit.fit(); } catch { /* hidden */ } });
    ro.observe(box.current);
    return () => { closed = true; ro.disconnect(); sub.dispose(); rsub.dispose(); data?.close(); control?.close(); term.dispose(); stopStyles(); delete document.body.dataset.terminal; };
  }, [name, gen]);
  return html`<div class="terminal-wrap">
    <div class="row-actions"><span class="muted" data-testid="terminal-status">${status}</span>
      ${status !== 'connected' && status !== 'connecting' ? html`<button onClick=${() => { setStatus('connecting'); setGen(gen + 1); }}>Reconnect</button>` : null}</div>
    <div class="terminal" ref=${box} data-testid="terminal"></div></div>`;
}
