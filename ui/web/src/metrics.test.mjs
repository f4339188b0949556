// node --test: one instance's figures out of /1.0/metrics, and the rates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLabels, figures, step, keep, WINDOW_S } from './metrics.js';

// As lodged renders it (metrics.Render): another instance whose name has
// c1 as a prefix, lo, a label value with escapes, an idle mode.
const text = `# HELP lxd_cpu_seconds_total The total number of CPU time used in seconds.
# TYPE lxd_cpu_seconds_total counter
lxd_cpu_seconds_total{cpu="0",mode="system",name="c1",project="default",type="container"} 0.5
lxd_cpu_seconds_total{cpu="0",mode="user",name="c1",project="default",type="container"} 1.5
lxd_cpu_seconds_total{cpu="1",mode="user",name="c1",project="default",type="container"} 1
lxd_cpu_seconds_total{cpu="0",mode="idle",name="c1",project="default",type="container"} 900
lxd_cpu_seconds_total{cpu="0",mode="user",name="c10",project="default",type="container"} 77
lxd_cpu_seconds_total{cpu="0",mode="user",name="c1",project="other",type="container"} 55
# HELP lxd_memory_MemFree_bytes The amount of free memory.
# TYPE lxd_memory_MemFree_bytes gauge
lxd_memory_MemFree_bytes{name="c1",project="default",type="container"} 3.2e+07
lxd_memory_MemFree_bytes{name="c10",project="default",type="container"} 1
lxd_memory_MemTotal_bytes{name="c1",project="default",type="container"} 6.7108864e+07
lxd_network_receive_bytes_total{device="eth0",name="c1",project="default",type="container"} 1000
lxd_network_receive_bytes_total{device="eth1",name="c1",project="default",type="container"} 24
lxd_network_receive_bytes_total{device="lo",name="c1",project="default",type="container"} 99999
lxd_network_transmit_bytes_total{device="eth0",name="c1",project="default",type="container"} 500
lxd_network_transmit_bytes_total{device="lo",name="c1",project="default",type="container"} 99999
lxd_procs_total{name="c1",project="default",type="container"} 3
lxd_instances{project="default",type="container"} 2
# EOF
`;

test('parseLabels reads escapes', () => {
  assert.deepEqual(parseLabels('a="x",b="q\\"u\\\\o\\nte",c=""'), { a: 'x', b: 'q"u\\o\nte', c: '' });
});

test('figures picks one instance', () => {
  assert.deepEqual(figures(text, 'c1'), { cpu: 3, memTotal: 67108864, memFree: 32000000, rx: 1024, tx: 500 });
  assert.equal(figures(text, 'c10').cpu, 77);
  assert.equal(figures(text, 'c1', 'other').cpu, 55);
  assert.equal(figures(text, 'c2'), null);
  assert.equal(figures('', 'c1'), null);
});

test('a label value that looks like another instance does not count', () => {
  const t = 'lxd_cpu_seconds_total{cpu="0",mode="user",name="x\\",name=\\"c1",project="default"} 5\n';
  assert.equal(figures(t, 'c1'), null);
  assert.equal(figures(t, 'x",name="c1').cpu, 5);
});

test('step gives rates; a counter going back gives none', () => {
  const a = { t: 10000, cpu: 3, memTotal: 1000, memFree: 400, rx: 1000, tx: 0 };
  const b = { t: 15000, cpu: 5.5, memTotal: 1000, memFree: 300, rx: 6000, tx: 2500 };
  assert.deepEqual(step(a, b), { t: 15000, cpu: 0.5, mem: 700, memTotal: 1000, rx: 1000, tx: 500 });
  assert.equal(step(b, { ...a, t: 20000 }), null, 'restarted');
  assert.equal(step(a, { ...b, t: a.t }), null, 'no time passed');
});

test('keep holds the window', () => {
  const now = 1e6;
  const s = [{ t: now - WINDOW_S * 1000 - 1 }, { t: now - WINDOW_S * 1000 }, { t: now }];
  assert.deepEqual(keep(s, now), s.slice(1));
});
