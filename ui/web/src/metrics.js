// One instance's figures out of /1.0/metrics (LXD's lxd_* series in the
// Prometheus text format) and the rates the charts draw. No DOM: node's
// test runner loads it (metrics.test.mjs).

// WINDOW_S is how far back the charts reach.
export const WINDOW_S = 300;

// parseLabels reads `a="x",b="y"` (the part between the braces) with the
// text format's escapes (\\, \", \n).
export function parseLabels(s) {
  const out = {};
  let i = 0;
  while (i < s.length) {
    while (s[i] === ',' || s[i] === ' ') i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const key = s.slice(i, eq).trim();
    i = eq + 1;
    if (s[i] !== '"') break;
    i++;
    let v = '';
    for (; i < s.length && s[i] !== '"'; i++) {
      if (s[i] === '\\' && i + 1 < s.length) { i++; v += s[i] === 'n' ? '\n' : s[i]; } else v += s[i];
    }
    i++;
    out[key] = v;
  }
  return out;
}

const FAMILIES = new Set(['lxd_cpu_seconds_total', 'lxd_memory_MemTotal_bytes', 'lxd_memory_MemFree_bytes', 'lxd_network_receive_bytes_total', 'lxd_network_transmit_bytes_total']);
// Modes that are not the instance's own work (LXD reports only user and
// system for containers; a VM's would add these).
const IDLE = new Set(['idle', 'iowait', 'steal']);

// figures picks one instance's counters out of a /1.0/metrics text: CPU
// seconds (all CPUs and modes), memory in use and its limit, bytes
// received and sent (every interface but lo). null when the text has no
// series for the instance (not running).
export function figures(text, name, project = 'default') {
  const f = { cpu: 0, memTotal: 0, memFree: 0, rx: 0, tx: 0 };
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('lxd_')) continue;
    const b = line.indexOf('{');
    if (b < 0) continue;
    const fam = line.slice(0, b);
    if (!FAMILIES.has(fam)) continue;
    const e = line.lastIndexOf('}');
    if (e < b) continue;
    const l = parseLabels(line.slice(b + 1, e));
    if (l.name !== name || (l.project || 'default') !== project) continue;
    const v = parseFloat(line.slice(e + 1).trim().split(/\s+/)[0]);
    if (!Number.isFinite(v)) continue;
    found = true;
    switch (fam) {
      case 'lxd_cpu_seconds_total': if (!IDLE.has(l.mode)) f.cpu += v; break;
      case 'lxd_memory_MemTotal_bytes': f.memTotal = v; break;
      case 'lxd_memory_MemFree_bytes': f.memFree = v; break;
      case 'lxd_network_receive_bytes_total': if (l.device !== 'lo') f.rx += v; break;
      case 'lxd_network_transmit_bytes_total': if (l.device !== 'lo') f.tx += v; break;
    }
  }
  return found ? f : null;
}

// step turns two scrapes (figures with their time t in ms) into one
// sample: CPU in CPUs used, memory in bytes, network in bytes per second.
// A counter that went back (the instance restarted) gives no sample.
export function step(prev, cur) {
  const dt = (cur.t - prev.t) / 1000;
  if (!(dt > 0)) return null;
  const d = (k) => cur[k] - prev[k];
  if (d('cpu') < 0 || d('rx') < 0 || d('tx') < 0) return null;
  return { t: cur.t, cpu: d('cpu') / dt, mem: cur.memTotal - cur.memFree, memTotal: cur.memTotal, rx: d('rx') / dt, tx: d('tx') / dt };
}

// keep drops samples older than the window.
export const keep = (samples, now) => samples.filter((s) => s.t >= now - WINDOW_S * 1000);
