// The instance list's query: the filter box's syntax, its evaluation in
// the browser, and the query string lodged answers with one page
// (lodge_instances_query; see ../../README.md).

// parseQuery splits the filter box: status:running and key=value pairs
// are exact filters, other words search names and descriptions.
export function parseQuery(q) {
  const words = [], exact = [];
  for (const w of q.trim().split(/\s+/).filter(Boolean)) {
    const m = /^([a-z_][\w.-]*)[:=](.+)$/i.exec(w);
    if (m) exact.push([m[1].toLowerCase() === 'status' ? 'status' : m[1], m[2]]);
    else words.push(w.toLowerCase());
  }
  return { words, exact };
}

const fieldValue = (inst, key) => {
  if (key.startsWith('config.')) return (inst.expanded_config || inst.config || {})[key.slice(7)] ?? '';
  if (key === 'profile' || key === 'profiles') return (inst.profiles || []).join(',');
  return inst[key] ?? '';
};

export function matches(inst, { words, exact }) {
  for (const w of words) if (!inst.name.toLowerCase().includes(w) && !(inst.description || '').toLowerCase().includes(w)) return false;
  for (const [k, v] of exact) {
    const have = String(fieldValue(inst, k));
    if (k === 'profile' || k === 'profiles' ? !have.split(',').includes(v) : have.toLowerCase() !== v.toLowerCase()) return false;
  }
  return true;
}

export function compare(key, desc) {
  return (a, b) => {
    const x = String(a[key] ?? ''), y = String(b[key] ?? '');
    const c = x < y ? -1 : x > y ? 1 : (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return desc ? -c : c;
  };
}

// serverQuery is the query string lodged answers with one page (see
// ui/README.md: filter=, search=, sort=, limit=, offset=).
export function serverQuery({ q, sort, desc, size, page }) {
  const { words, exact } = parseQuery(q);
  const p = new URLSearchParams({ recursion: '2' });
  const f = exact.map(([k, v]) => `${k === 'profile' ? 'profiles' : k} eq ${k === 'status' ? v[0].toUpperCase() + v.slice(1).toLowerCase() : v}`);
  if (f.length) p.set('filter', f.join(' and '));
  if (words.length) p.set('search', words.join(' '));
  p.set('sort', (desc ? '-' : '') + sort);
  p.set('limit', String(size));
  p.set('offset', String(page * size));
  return p.toString();
}

