// node --test: the error-to-field mapping against lodged's real messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldOf, launchField } from './errfields.js';

test('config keys', () => {
  assert.equal(fieldOf('config key "limits.memory": invalid value "lots": expected a size such as 512MiB or 2GB'), 'config.limits.memory');
  assert.equal(launchField('config key "limits.cpu": invalid value "x": expected a CPU count (2) or set (0-1,3)'), 'config.limits.cpu');
  assert.equal(launchField('config key "boot.autostart": invalid value "maybe": expected true or false'), 'config');
});
test('devices', () => {
  assert.equal(launchField('device "eth0": network "nope" not found (lodge network list shows the managed networks)'), 'network');
  assert.equal(launchField('device "root": key "size": invalid value "x": expected a size'), 'pool');
  assert.equal(fieldOf('device "data": missing type='), 'devices.data');
});
test('names, profiles, pools, images', () => {
  assert.equal(fieldOf('instance name "1x" is not valid: use letters, digits and hyphens'), 'name');
  assert.equal(fieldOf('instance "c1" already exists; pick another name or delete it first'), 'name');
  assert.equal(fieldOf('profile "nope" not found (see lodge profile list)'), 'profiles');
  assert.equal(fieldOf('instance "c1": storage pool "x" not found or not available (see `lodge storage list`)'), 'pool');
  assert.equal(fieldOf('image alias "nope" not found'), 'image');
  assert.equal(fieldOf('something else broke'), '');
});
