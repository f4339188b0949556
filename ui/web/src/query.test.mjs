// node --test: the filter box and the server query it becomes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuery, matches, compare, serverQuery } from './query.js';

test('parseQuery', () => {
  assert.deepEqual(parseQuery(' web  status:running profile:prod config.limits.cpu=2 '),
    { words: ['web'], exact: [['status', 'running'], ['profile', 'prod'], ['config.limits.cpu', '2']] });
});

test('matches and compare in the browser', () => {
  const a = { name: 'web1', status: 'Running', profiles: ['default', 'prod'], expanded_config: { 'limits.cpu': '2' }, created_at: '2026-01-02' };
  const b = { name: 'db1', status: 'Stopped', profiles: ['default'], expanded_config: {}, created_at: '2026-01-01', description: 'Web cache' };
  assert.ok(matches(a, parseQuery('status:running profile:prod config.limits.cpu=2')));
  assert.ok(!matches(b, parseQuery('status:running')));
  assert.ok(matches(b, parseQuery('web')), 'words search descriptions too');
  assert.deepEqual([a, b].sort(compare('name', false)).map((i) => i.name), ['db1', 'web1']);
  assert.deepEqual([b, a].sort(compare('created_at', true)).map((i) => i.name), ['web1', 'db1']);
});

test('serverQuery is the documented query', () => {
  const p = new URLSearchParams(serverQuery({ q: 'db status:running profile:web', sort: 'created_at', desc: true, size: 50, page: 1 }));
  assert.equal(p.get('recursion'), '2');
  assert.equal(p.get('filter'), 'status eq Running and profiles eq web');
  assert.equal(p.get('search'), 'db');
  assert.equal(p.get('sort'), '-created_at');
  assert.equal(p.get('limit'), '50');
  assert.equal(p.get('offset'), '50');
});
