// The instance page's CPU, memory and network charts: /1.0/metrics polled
// while the overview shows them, this instance's series picked out in
// the browser, rates drawn as inline SVG over the last few minutes.
import { html, useState, useEffect, bytes } from './lib.js';
import { raw } from './api.js';
import { figures, step, keep, WINDOW_S } from './metrics.js';

export const POLL_MS = 5000;

// useMetrics polls /1.0/metrics while on is true (and the page is shown)
// and returns this instance's samples over the window.
export function useMetrics(name, on) {
  const [st, set] = useState({ samples: [], error: null, absent: false });
  useEffect(() => {
    if (!on) return;
    let prev = null, live = true;
    set({ samples: [], error: null, absent: false });
    const poll = async () => {
      if (document.hidden) return;
      try {
        const r = await raw('GET', '/1.0/metrics');
        if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `GET /1.0/metrics: HTTP ${r.status}`);
        const f = figures(await r.text(), name);
        if (!live) return;
        if (!f) { prev = null; set((s) => ({ ...s, error: null, absent: true })); return; }
        f.t = Date.now();
        const smp = prev && step(prev, f);
        prev = f;
        set((s) => ({ samples: keep(smp ? [...s.samples, smp] : s.samples, f.t), error: null, absent: false }));
      } catch (e) { if (live) set((s) => ({ ...s, error: e })); }
    };
    poll();
    const t = setInterval(poll, POLL_MS);
    return () => { live = false; clearInterval(t); };
  }, [name, on]);
  return st;
}

const pct = (v) => (v * 100 < 10 ? (v * 100).toFixed(1) : Math.round(v * 100)) + ' %';
const rate = (v) => (v < 1 ? '0 B/s' : bytes(v) + '/s');

// Chart draws lines (keys of the samples) over the window, scaled to the
// largest value shown (at least floor).
function Chart({ id, title, samples, lines, fmt, floor, now }) {
  const W = 300, H = 80;
  const max = Math.max(floor, ...samples.flatMap((s) => lines.map(([k]) => s[k])));
  const x = (t) => (W * (1 - (now - t) / (WINDOW_S * 1000))).toFixed(1);
  const y = (v) => (H - (H - 2) * (v / max)).toFixed(1);
  const last = samples[samples.length - 1];
  return html`<figure class="chart" data-testid=${'chart-' + id} data-samples=${samples.length} data-last=${last ? lines.map(([k]) => last[k]).join(' ') : ''}>
    <figcaption><b>${title}</b> ${last ? lines.map(([k, label]) => html`<span class=${'lg lg-' + k}>${label ? label + ' ' : ''}${fmt(last[k], last)}</span>`) : html`<span class="muted">waiting for a second sample…</span>`}</figcaption>
    <svg viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label=${`${title} over the last ${WINDOW_S / 60} minutes`}>
      <line class="axis" x1="0" y1=${H - 0.5} x2=${W} y2=${H - 0.5} />
      ${lines.map(([k]) => html`<polyline class=${'ln ln-' + k} points=${samples.map((s) => x(s.t) + ',' + y(s[k])).join(' ')} />`)}
      ${last ? lines.map(([k]) => html`<line class=${'dot ln-' + k} x1=${x(last.t)} y1=${y(last[k])} x2=${x(last.t)} y2=${y(last[k])} />`) : null}
    </svg>
    <div class="sub chart-scale"><span>-${WINDOW_S / 60} min</span><span>max ${fmt(max, {})}</span></div>
  </figure>`;
}

export function Charts({ name, running }) {
  const { samples, error, absent } = useMetrics(name, running);
  if (!running) return html`<div class="card charts"><h3>Metrics</h3><p class="muted">Not running</p></div>`;
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  return html`<div class="card charts" data-testid="charts"><h3>Metrics</h3>
    ${error ? html`<p class="error" role="alert">${error.message || String(error)}</p>` : null}
    ${absent ? html`<p class="muted">/1.0/metrics has no figures for ${name} yet.</p>` : null}
    <${Chart} id="cpu" title="CPU" samples=${samples} now=${now} lines=${[['cpu', '']]} fmt=${pct} floor=${0.01} />
    <${Chart} id="memory" title="Memory" samples=${samples} now=${now} lines=${[['mem', '']]} floor=${1 << 20}
      fmt=${(v, s) => bytes(v) + (s.memTotal ? ` of ${bytes(s.memTotal)}` : '')} />
    <${Chart} id="network" title="Network" samples=${samples} now=${now} lines=${[['rx', 'rx'], ['tx', 'tx']]} fmt=${rate} floor=${1024} />
  </div>`;
}
