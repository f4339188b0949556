// fieldOf maps a server validation error to the form field it concerns.
// lodged's messages name what they refuse: `config key "limits.memory":
// invalid value ...`, `device "eth0": network "x" not found ...`,
// `instance name "x" is not valid ...`, `profile "p" not found ...`.
// It returns 'config.KEY', 'devices.NAME', 'name', 'profiles', 'pool',
// 'network', 'image', or '' (a form-level error).
export function fieldOf(msg) {
  let m;
  if ((m = /config key "([^"]+)"/.exec(msg))) return 'config.' + m[1];
  if ((m = /device "([^"]+)"/.exec(msg))) return 'devices.' + m[1];
  if (/instance name|already exists/.test(msg)) return 'name';
  if (/storage pool/.test(msg)) return 'pool';
  if (/profile "/.test(msg)) return 'profiles';
  if (/network "/.test(msg)) return 'network';
  if (/image|alias|fingerprint|simplestreams|remote server/i.test(msg)) return 'image';
  return '';
}

// launchField narrows fieldOf to the launch form's fields: the root disk
// is the pool field, the first NIC the network field.
export function launchField(msg, nic = 'eth0') {
  const f = fieldOf(msg);
  if (f === 'devices.root') return 'pool';
  if (f === 'devices.' + nic) return 'network';
  if (f === 'config.limits.cpu' || f === 'config.limits.memory') return f;
  if (f.startsWith('config.')) return 'config';
  if (f.startsWith('devices.')) return 'devices';
  return f;
}
