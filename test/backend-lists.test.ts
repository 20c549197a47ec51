// BackendLists: routes with equal backend lists are stored with one shared,
// frozen list; the caller's route is not changed; a list is forgotten when
// its last holder is released; lists whose hashes collide stay apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Route } from '../src/routes/route-model.js';
import { hashBackends } from '../src/model/maglev.js';
import { BackendLists } from '../src/state/backend-lists.js';

const routeWith = (path: string, backends: Backend[]): Route => ({
  name: path,
  method: 'GET',
  path,
  backends,
  tableSize: 4099,
  source: { file: 'r.yaml', line: 1 },
});
const pool = (): Backend[] => [
  { ip: '10.0.0.1', port: 80, weight: 1 },
  { ip: '10.0.0.2', port: 80, weight: 2 },
];

test('equal lists are stored once, frozen, and the caller keeps its own route', () => {
  const lists = new BackendLists();
  const first = routeWith('/a', pool());
  const second = routeWith('/b', pool());
  const heldFirst = lists.hold(first);
  const heldSecond = lists.hold(second);
  assert.equal(heldFirst, first, 'the first list of a content is the shared one: no copy');
  assert.equal(heldSecond.backends, heldFirst.backends, 'the second route shares the first list');
  assert.notEqual(second.backends, heldFirst.backends, "the caller's route still has its own list");
  assert.deepEqual(heldSecond, second, 'sharing changes no value');
  assert.ok(Object.isFrozen(heldFirst.backends) && heldFirst.backends.every(Object.isFrozen), 'a shared list and its backends are frozen');
  assert.equal(lists.size, 1);
  const other = lists.hold(routeWith('/c', [{ ip: '10.0.0.1', port: 80, weight: 2 }]));
  assert.notEqual(other.backends, heldFirst.backends, 'another weight is another list');
  assert.equal(lists.size, 2);
});

test('a list is forgotten when its last holder is released', () => {
  const lists = new BackendLists();
  const a = lists.hold(routeWith('/a', pool()));
  const b = lists.hold(routeWith('/b', pool()));
  lists.release(a);
  assert.equal(lists.size, 1, 'one holder left');
  const c = lists.hold(routeWith('/c', pool()));
  assert.equal(c.backends, b.backends, 'still shared while held');
  lists.release(b);
  lists.release(c);
  assert.equal(lists.size, 0, 'no holder left: forgotten');
  const fresh = routeWith('/d', pool());
  assert.equal(lists.hold(fresh).backends, fresh.backends, 'a list of that content after that is a new shared one');
});

test('lists whose hashes collide are kept apart', () => {
  const x: Backend[] = [{ ip: '10.0.36.30', port: 8080, weight: 1 }];
  const y: Backend[] = [{ ip: '10.0.204.208', port: 80, weight: 1 }];
  assert.equal(hashBackends(x), hashBackends(y), 'precondition: the two lists collide');
  const lists = new BackendLists();
  const hx = lists.hold(routeWith('/x', x));
  const hy = lists.hold(routeWith('/y', y));
  assert.notEqual(hx.backends, hy.backends, 'a collision is not equality');
  assert.equal(lists.hold(routeWith('/y2', [{ ...y[0]! }])).backends, hy.backends, 'the second of the bucket is found');
  lists.release(hx);
  assert.equal(lists.size, 1);
  assert.equal(lists.hold(routeWith('/y3', [{ ...y[0]! }])).backends, hy.backends, 'releasing one leaves the other shared');
});
