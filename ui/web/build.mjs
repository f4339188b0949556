// Builds ../dist from src/: content-hashed, minified ES modules and CSS
// (esbuild), and the two HTML pages that name them. Run by `make ui`.
import * as esbuild from 'esbuild';
import { readFileSync, writeFileSync, rmSync, mkdirSync, copyFileSync, readdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, basename } from 'node:path';

// UI_OUT: build elsewhere (make ui-check compares that with ui/dist).
const out = process.env.UI_OUT || new URL('../dist/', import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const res = await esbuild.build({
  entryPoints: { app: 'src/main.js', login: 'src/login.js', style: 'src/style.css' },
  outdir: join(out, 'assets'),
  bundle: true, splitting: true, format: 'esm', minify: true,
  target: ['chrome110', 'firefox115', 'safari16'],
  entryNames: '[name]-[hash]', chunkNames: 'chunk-[hash]', assetNames: '[name]-[hash]',
  legalComments: 'linked', metafile: true, logLevel: 'warning',
});

const outputs = Object.entries(res.metafile.outputs);
const entry = (name) => {
  const o = outputs.find(([, v]) => v.entryPoint && v.entryPoint.endsWith(name));
  if (!o) throw new Error('no output for ' + name);
  return '/ui/assets/' + basename(o[0]);
};
const page = (tpl, vars) => readFileSync(tpl, 'utf8').replace(/\{\{(\w+)\}\}/g, (_, k) => vars[k]);
const vars = { APP: entry('src/main.js'), LOGIN: entry('src/login.js'), STYLE: entry('src/style.css') };
writeFileSync(join(out, 'index.html'), page('static/index.html', vars));
writeFileSync(join(out, 'login.html'), page('static/login.html', vars));
copyFileSync('static/favicon.svg', join(out, 'favicon.svg'));

// The size budget: what a browser downloads, gzipped (the Go handler
// serves the same gzip level).
let raw = 0, gz = 0;
const walk = (d) => { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else { const b = readFileSync(p); raw += b.length; gz += Math.min(b.length, gzipSync(b, { level: 9 }).length); } } };
walk(out);
console.log(`ui: dist ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
if (gz > 500 * 1024) { console.error('ui: over the 500 KB compressed budget'); process.exit(1); }
