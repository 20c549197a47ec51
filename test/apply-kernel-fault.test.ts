// Apply's one-call map forms under a REAL kernel failure, no injection: a set
// on an absent key is a write-if-absent (its inverse a delete), a set on an
// existing key is read then overwritten, a delete takes the old value as it
// deletes. MAGLEV_TABLES is made small so that the kernel itself refuses an
// insert (E2BIG) part-way: every earlier op of each kind is undone and the
// maps read back byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants as osConstants } from 'node:os';
import { needBpf } from '../testbed/bpf-env.js';
import { applyPlan, ApplyError } from '../src/dataplane/apply.js';
import { RAUTA_MAGLEV_SIZE } from '../src/model/codecs.js';
import { routeKeyOf } from '../src/model/ids.js';
import type { MapOp } from '../src/model/map-types.js';
import { loadRauta, unpin } from '../src/dataplane/program.js';
import { readMaps } from '../src/dataplane/read-back.js';
import { planChanges, appliedStateOf } from '../src/plan/plan.js';
import { desired, dumpAll, listener, route, VIP } from './fixtures/agent-routes.js';

const TABLE_SLOTS = 8;

test('a kernel refusal part-way (full MAGLEV_TABLES) rolls back inserts, overwrites and takes byte-identically', (t) => {
  if (!needBpf(t)) return;
  const pinDir = `/sys/fs/bpf/rauta-test-apply-kfault-${process.pid}`;
  unpin(pinDir);
  t.after(() => unpin(pinDir));
  const prog = loadRauta({ pinDir, maxEntries: { maglev_tables: TABLE_SLOTS } });
  t.after(() => prog.close());

  const start = desired(
    [
      route('GET', '/a', [['10.1.0.1', 8080]]),
      route('GET', '/b', [
        ['10.1.0.2', 8080],
        ['10.1.0.3', 8080],
      ]),
      route('PUT', '/c', [['10.1.0.4', 8080]]),
    ],
    [listener(VIP, 80)],
  );
  applyPlan(prog.typed, planChanges(appliedStateOf(readMaps(prog.typed).contents), start).ops);
  const applied = appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents);
  const tables = [...applied.tables.values()];
  assert.equal(tables.length, 3, 'three routes, one table each');
  const before = dumpAll(prog.typed);

  const a = routeKeyOf('GET', '/a');
  const bRoute = [...applied.routes.values()].find((r) => r.value.backends.length === 2)!;
  const table = new Uint8Array(RAUTA_MAGLEV_SIZE); // every slot backend 0: valid
  const ops: MapOp[] = [
    { map: 'maglev_tables', op: 'delete', key: tables[0]!.key }, // take: the old table comes back for the inverse
    { map: 'maglev_tables', op: 'delete', key: { route: a, gen: 999 } }, // absent: nothing taken
    { map: 'routes', op: 'set', key: bRoute.key, value: { backends: [{ ip: '10.1.0.9', port: 9, weight: 2 }], gen: 77 } }, // exists: read, then overwritten
    { map: 'nexthops', op: 'set', key: '10.1.0.9', value: { mac: '02:00:00:00:00:09' } }, // absent: inserted
  ];
  // 2 tables left after the take; TABLE_SLOTS - 2 inserts fit, the next one the kernel refuses
  for (let g = 0; g < TABLE_SLOTS - 1; g++) ops.push({ map: 'maglev_tables', op: 'set', key: { route: a, gen: 1000 + g }, value: table });
  ops.push({ map: 'listeners', op: 'set', key: { addr: VIP, port: 8080 }, value: 0 }); // never reached

  let caught: unknown;
  try {
    applyPlan(prog.typed, ops);
  } catch (err) {
    caught = err;
  }
  const failing = 4 + TABLE_SLOTS - 1; // 1-based index of the refused insert
  assert.ok(caught instanceof ApplyError, `the plan fails at the full map, got ${String(caught)}`);
  assert.equal(caught.failedOp.index, failing, `op ${failing} of ${ops.length} is the insert that does not fit: ${caught.message}`);
  assert.equal(caught.errno, osConstants.errno.E2BIG, `the kernel's E2BIG is kept: ${caught.message}`);
  assert.equal(caught.rolledBack, true, `every inverse ran: ${caught.message}`);
  assert.equal(caught.inversesRun, failing - 1, 'every earlier op was undone');
  assert.deepEqual(dumpAll(prog.typed), before, 'after the rollback every map reads back byte-identical');

  // The same kinds of op without the overflow apply, and the result is what they say.
  const fits = ops.slice(0, 4 + TABLE_SLOTS - 2);
  const res = applyPlan(prog.typed, fits);
  assert.equal(res.absentDeletes, 1, 'the delete of an absent table is counted as such');
  assert.equal(prog.typed.maglevTables.get(tables[0]!.key), null, 'the taken table is gone');
  assert.deepEqual(prog.typed.routes.get(bRoute.key), { backends: [{ ip: '10.1.0.9', port: 9, weight: 2 }], gen: 77 }, 'the existing route was overwritten');
  assert.deepEqual(prog.typed.nexthops.get('10.1.0.9'), { mac: '02:00:00:00:00:09' }, 'the absent nexthop was inserted');
  assert.equal(readMaps(prog.typed).stats.tables, TABLE_SLOTS, 'the table map is exactly full');
});
